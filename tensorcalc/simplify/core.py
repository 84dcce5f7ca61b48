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
  to the rest through the same labels, which never costs more.
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
from typing import Any, Sequence

import numpy as np

from ..ir import Const, Einsum, Expr, Var, WithDims, topological
from ..labels import LETTERS

def simplify(expr: Expr) -> Expr:
    """Simplify ``expr`` (see the module docstring); the result evaluates to the same array."""
    return simplify_all([expr])[0]


def simplify_all(exprs: Sequence[Expr]) -> list[Expr]:
    """Simplify several expressions with one memo, so shared subtrees are shared in the results.

    A variable that simplification removes (``N - N`` is zero) may be the only one binding
    a named dimension of the result; it stays attached (:func:`bind_dims`), so the result
    evaluates with the same arrays as the input.
    """
    memo: dict[int, Expr] = {}
    return [bind_dims(simplify_memo(e, memo), [e]) for e in exprs]


def simplify_only(expr: Expr) -> Expr:
    """:func:`simplify` without re-attaching dimension bindings (the caller binds them)."""
    return simplify_memo(expr, {})


def simplify_memo(root: Expr, memo: dict[int, Expr]) -> Expr:
    """Simplify every node under ``root``, children first, in a loop (no recursion depth limit)."""
    done = memo.get(root.uid)
    if done is not None:
        return done
    for e in topological([root]):
        if e.uid not in memo:
            out = _simp_node(e, [memo[c.uid] for c in e.children])
            memo[e.uid] = out
            memo[out.uid] = out
    return memo[root.uid]


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
