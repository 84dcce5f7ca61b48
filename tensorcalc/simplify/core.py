"""Algebraic simplification of expressions.

* **Flattening**: an einsum operand that is itself an einsum is inlined, so one product holds
  every factor and the planner orders the whole product.  Inlining is where Kronecker deltas
  disappear: a repeated label in the inner output (a diagonal embedding) *unifies* the two
  outer labels it meets, an inner broadcast label simply stops being carried, and a summed
  label no operand carries any more becomes the factor ``n_a`` (``delta(a, a) = n_a``).
* **Constant folding**: scalar constants go into the einsum scale; all-constant subtrees are
  computed.
* **Collecting like terms**: sums are flattened and terms equal up to a scale are merged
  (``A x + A x -> 2 A x``).  Einsums are put in a canonical form first (operands sorted,
  labels renamed in order of appearance, the two labels of a symmetric variable sorted), so
  ``S x + S^T x -> 2 S x`` when ``S`` is symmetric.
* **Factoring**: ``A^T r1 + A^T r2 -> A^T (r1 + r2)`` when the terms share an operand joined
  to the rest through the same labels, kept only when it lowers the planned cost.
* **Cost**: no rewrite may raise the planned cost (:mod:`.cost`: the planner's FLOPs and
  largest intermediate, named dimensions sized by the ``sizes=`` hint or 64).  Factoring and
  flattening compare both forms; a product used by several parents is not inlined into them
  (it would be computed again in each).
* **Driver**: one memo per call, children first; the walk stops at nodes the memo holds, so
  a replacement simplified in turn costs its new nodes only.
* **CSE**: structurally equal nodes share one ``uid`` (hash-consing in ``expr``), so the
  evaluator computes them once.

>>> from tensorcalc.ir import var, einsum
>>> A = var("A", (3, 3)); x = var("x", (3,))
>>> import tensorcalc  # every layer's rules registered
>>> y = simplify(einsum("ij,j->i", A, x) + einsum("ij,j->i", A, x))
>>> y.scale, sorted(c.name for c in y.children)
(2.0, ['A', 'x'])
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Mapping, Sequence

import numpy as np

from ..ir import Add, Const, Einsum, Expr, Var, WithDims, topological
from ..labels import LETTERS
from .cost import planning_sizes
from .rewrite import rewrite

def simplify(expr: Expr, *, sizes: Mapping[str, int] | None = None) -> Expr:
    """Simplify ``expr`` (see the module docstring); the result evaluates to the same array.

    ``sizes`` (name -> int) are the sizes of named dimensions the cost-aware rewrites plan
    for; a name not given stands for 64.
    """
    return simplify_all([expr], sizes=sizes)[0]


def simplify_all(exprs: Sequence[Expr], *, sizes: Mapping[str, int] | None = None) -> list[Expr]:
    """Simplify several expressions with one memo, so shared subtrees are shared in the results.

    A variable that simplification removes (``N - N`` is zero) may be the only one binding
    a named dimension of the result; it stays attached (:func:`bind_dims`), so the result
    evaluates with the same arrays as the input.
    """
    with planning_sizes(sizes):
        memo: dict[int, Expr] = {}
        return [bind_dims(simplify_memo(e, memo), [e]) for e in exprs]


def simplify_only(expr: Expr, *, sizes: Mapping[str, int] | None = None) -> Expr:
    """:func:`simplify` without re-attaching dimension bindings (the caller binds them)."""
    with planning_sizes(sizes):
        return simplify_memo(expr, {})


_STATE = threading.local()


def is_shared(e: Expr) -> bool:
    """True when the running simplification found ``e`` (a simplified node) used by more than
    one parent: a rewrite that inlines it recomputes it rather than moving the work."""
    shared = getattr(_STATE, "shared", None)
    return shared is not None and e.uid in shared


def simplify_memo(root: Expr, memo: dict[int, Expr]) -> Expr:
    """Simplify every node under ``root``, children first, in a loop (no recursion depth limit)."""
    done = memo.get(root.uid)
    if done is not None:
        return done
    # Only the nodes the memo does not hold yet: a rewrite's replacement, simplified in turn,
    # costs its new nodes, not a walk over everything under it.
    order = topological([root], memo)
    uses: dict[int, int] = {}  # a sum uses a term once (A x + A x is 2 A x)
    for node in order:
        for uid in {c.uid for c in node.children} if isinstance(node, Add) else (
                c.uid for c in node.children):
            uses[uid] = uses.get(uid, 0) + 1
    saved = getattr(_STATE, "shared", None)
    shared = _STATE.shared = set() if saved is None else saved
    try:
        for uid, n in uses.items():
            if n > 1 and uid in memo:
                shared.add(memo[uid].uid)
        for e in order:
            if e.uid not in memo:
                out = _rewritten(_simp_node(e, [memo[c.uid] for c in e.children]), memo)
                memo[e.uid] = out
                memo[out.uid] = out
            if uses.get(e.uid, 0) > 1:
                shared.add(memo[e.uid].uid)
    finally:
        _STATE.shared = saved
    return memo[root.uid]


_MAX_REWRITE_DEPTH = 64


def _rewritten(out: Expr, memo: dict[int, Expr]) -> Expr:
    """``out`` replaced by the first rule of the rewrite table (:mod:`.rewrite`) that applies,
    simplified in turn (its new nodes meet the rules too), the variables ``out`` held for its
    named dimensions kept attached; ``out`` itself when no rule applies."""
    target = out.children[0] if isinstance(out, WithDims) else out
    depth = getattr(_STATE, "rewrites", 0)
    new = rewrite(target) if depth < _MAX_REWRITE_DEPTH else None
    if new is None or new.uid == target.uid:
        return out
    _STATE.rewrites = depth + 1
    try:
        return simplify_memo(bind_dims(new, [out]), memo)
    finally:
        _STATE.rewrites = depth


def _simp_node(e: Expr, kids: list[Expr]) -> Expr:
    """``e`` simplified, given its children already simplified."""
    carried: list[Expr] = []
    if not isinstance(e, WithDims) and any(isinstance(k, WithDims) for k in kids):
        # Hoist dimension bindings to the top so they do not block flattening.
        for k in kids:
            if isinstance(k, WithDims):
                carried.extend(k.children[1:])
        kids = [k.children[0] if isinstance(k, WithDims) else k for k in kids]
    out = simplify_rule(e, kids)
    return _rebind(out, carried) if carried else out


@functools.singledispatch
def simplify_rule(e: Expr, kids: list[Expr]) -> Expr:
    """The simplification of node ``e`` given its simplified children ``kids``.

    A registry: a node type joins it with ``@simplify_rule.register(NodeType)``. The default
    only rebuilds the node on its new children.
    """
    if any(k is not c for k, c in zip(kids, e.children)):
        return rebuild(e, kids)
    return e


def named_dims(e: Expr, order: Sequence[Expr] | None = None) -> set[str]:
    """Every dimension name the evaluation of ``e`` needs (``order``: its nodes, if known)."""
    names: set[str] = set()
    for node in topological([e]) if order is None else order:
        names.update(d for d in node.shape if isinstance(d, str))
        if isinstance(node, Einsum):
            names.update(d for d in node.sizes.values() if isinstance(d, str))
            names.update(d for d, _ in node.factor_dims)
        names.update(d for d in getattr(node, "full_shape", ()) if isinstance(d, str))
    return names


def bind_dims(result: Expr, sources: Sequence[Expr]) -> Expr:
    """Attach variables of ``sources`` for named dims no variable of ``result`` binds."""
    order = topological([result])
    bound = {d for n in order if isinstance(n, Var) for d in n.shape if isinstance(d, str)}
    missing = named_dims(result, order) - bound
    if not missing:
        return result
    extra = []
    for node in topological(list(sources)):
        if isinstance(node, Var) and missing & set(node.shape):
            extra.append(node)
            missing -= set(node.shape)
    return WithDims(result, extra) if extra else result


def _rebind(out: Expr, variables: list[Expr]) -> Expr:
    """``out`` with the variables it does not already contain attached (for named dims)."""
    present = {n.uid for n in topological([out])}
    extra = list({v.uid: v for v in variables if v.uid not in present}.values())
    return WithDims(out, extra) if extra else out


def rebuild(e: Expr, kids: Sequence[Expr]) -> Expr:
    """A copy of ``e`` with new children (same attributes)."""
    new = object.__new__(type(e))
    for cls in type(e).__mro__:
        for slot in getattr(cls, "__slots__", ()):
            if slot not in ("children", "uid", "_uid_token", "_pins", "__weakref__", "__dict__") and hasattr(e, slot):
                object.__setattr__(new, slot, getattr(e, slot))
    if hasattr(e, "__dict__"):
        new.__dict__.update(e.__dict__)
    Expr.__init__(new, kids, e.shape, e.dtype)
    return new


# ---------------------------------------------------------------------------------------
# Zero


def zeros(shape: Sequence[Any]) -> Expr:
    """The zero tensor of ``shape`` (a broadcast scalar, so named dims are fine)."""
    labels = LETTERS[: len(shape)]
    return Einsum([""], labels, [Const(0.0)], dict(zip(labels, shape)))


def is_zero(e: Expr) -> bool:
    if isinstance(e, Const):
        return not np.any(e.value)
    if isinstance(e, Einsum):
        return e.scale == 0 or any(isinstance(c, Const) and not np.any(c.value) for c in e.children)
    return False
