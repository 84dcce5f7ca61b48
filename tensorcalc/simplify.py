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

>>> from tensorcalc.expr import var, einsum
>>> A = var("A", (3, 3)); x = var("x", (3,))
>>> y = simplify(einsum("ij,j->i", A, x) + einsum("ij,j->i", A, x))
>>> y.scale, sorted(c.name for c in y.children)
(2.0, ['A', 'x'])
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .expr import LETTERS, Add, Const, Einsum, Expr, Var, WithDims, topological
from .functions import Func, Index, IndexAdjoint, Stack, power

_MAX_LABELS = len(LETTERS)
# Flattening stops at this many operands: a long chain (an unrolled loop, a deep composition)
# would otherwise become one product of thousands of factors, built in quadratic time and
# costly to plan.  Correctness does not depend on it: an einsum left nested evaluates the same.
_MAX_OPERANDS = 24


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
    return [bind_dims(_simp(e, memo), [e]) for e in exprs]


def simplify_only(expr: Expr) -> Expr:
    """:func:`simplify` without re-attaching dimension bindings (the caller binds them)."""
    return _simp(expr, {})


def _simp(root: Expr, memo: dict[int, Expr]) -> Expr:
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
    if isinstance(e, Einsum):
        out = _einsum(e, kids)
    elif isinstance(e, Add):
        out = _add(e, kids)
    elif isinstance(e, Func):
        out = _func(e, kids[0])
    elif isinstance(e, Index):
        out = _index(e, kids[0])
    elif any(k is not c for k, c in zip(kids, e.children)):
        out = rebuild(e, kids)
    else:
        out = e
    return _rebind(out, carried) if carried else out


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


# ---------------------------------------------------------------------------------------
# Elementwise


def _func(e: Func, x: Expr) -> Expr:
    if isinstance(x, Const):
        return Const(e.eval_node(x.value, sizes={}))
    if e.name == "pow":
        return power(x, e.param)
    return e if x is e.children[0] else Func(e.name, x, e.param)


def _index(e: Index, x: Expr) -> Expr:
    """``stack(items)[k] -> items[k]``; ``adjoint(g, idx)[idx] -> g``; constants folded."""
    full = slice(None)
    if isinstance(x, Stack):
        picks = [k for k, it in enumerate(e.index) if not (isinstance(it, slice) and it == full)]
        if picks == [x.axis] and isinstance(e.index[x.axis], int) and None not in e.index:
            return x.children[e.index[x.axis]]
    if isinstance(x, IndexAdjoint) and _same_index(x.index, e.index):
        return x.children[0]
    if isinstance(x, Const):
        return Const(x.value[e.index])
    return e if x is e.children[0] else Index(x, e.index)


def _same_index(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(
        (isinstance(p, slice) and isinstance(q, slice) and p == q)
        or (not isinstance(p, slice) and not isinstance(q, slice) and p == q and type(p) is type(q))
        for p, q in zip(a, b))


# ---------------------------------------------------------------------------------------
# Einsum: flatten, fold, canonicalise


class _Term:
    """A mutable einsum with integer labels, used while inlining."""

    def __init__(self, e: Einsum, kids: Sequence[Expr]) -> None:
        ids = {lab: k for k, lab in enumerate(e.sizes)}
        self.ins = [[ids[c] for c in s] for s in e.inputs]
        self.out = [ids[c] for c in e.output]
        self.ops = list(kids)
        self.sizes = {ids[lab]: d for lab, d in e.sizes.items()}
        self.scale = e.scale
        self.factors = list(e.factor_dims)
        self.next = len(ids)

    def fresh(self, dim: Any) -> int:
        self.next += 1
        self.sizes[self.next] = dim
        return self.next

    def labels(self) -> set[int]:
        return set(self.out).union(*map(set, self.ins))

    def inline(self, k: int) -> bool:
        """Replace operand ``k`` (an Einsum) by its operands; False if labels would overflow."""
        child: Einsum = self.ops[k]
        if len(self.ops) - 1 + len(child.children) > _MAX_OPERANDS:
            return False
        outer = self.ins[k]
        mapping: dict[str, int] = {}
        parent: dict[int, int] = {}

        def find(a: int) -> int:
            while parent.get(a, a) != a:
                a = parent[a]
            return a

        for c, o in zip(child.output, outer):
            if c in mapping:
                a, b = find(mapping[c]), find(o)
                if a != b:
                    parent[b] = a
                    if isinstance(self.sizes[a], str) and not isinstance(self.sizes[b], str):
                        self.sizes[a] = self.sizes[b]
            else:
                mapping[c] = o
        saved_next = self.next
        for c, dim in child.sizes.items():
            if c not in mapping:
                mapping[c] = self.fresh(dim)
        new_ins = [[mapping[c] for c in s] for s in child.inputs]
        ins = self.ins[:k] + new_ins + self.ins[k + 1:]
        ins = [[find(l) for l in s] for s in ins]
        out = [find(l) for l in self.out]
        present = set(out).union(*map(set, ins))
        if len(present) > _MAX_LABELS:
            self.next = saved_next
            return False
        for lab in {find(l) for l in outer} - present:  # delta(a, a): a summed, carried by nobody
            self._factor(self.sizes[lab])
        self.ins, self.out = ins, out
        self.ops = self.ops[:k] + list(child.children) + self.ops[k + 1:]
        self.scale *= child.scale
        self.factors += list(child.factor_dims)
        return True

    def _factor(self, dim: Any) -> None:
        if isinstance(dim, str):
            self.factors.append((dim, 1))
        else:
            self.scale *= dim


def _einsum(e: Einsum, kids: Sequence[Expr]) -> Expr:
    t = _Term(e, kids)
    k = 0
    while k < len(t.ops):
        op = t.ops[k]
        if isinstance(op, Einsum) and t.inline(k):
            continue  # the inlined operands start at k
        if isinstance(op, Const) and op.ndim == 0:
            t.scale *= op.value.item()
            del t.ops[k], t.ins[k]
            continue
        if is_zero(op):
            return zeros(e.shape)
        k += 1
    if t.scale == 0:
        return zeros(e.shape)
    carried = set().union(*map(set, t.ins))
    extended = len(set(t.out)) != len(t.out) or not set(t.out) <= carried
    # Broadcasts and diagonal embeddings of constants stay symbolic: folding them would
    # build big arrays of ones or identity matrices that later flattening removes for free.
    if all(isinstance(op, Const) for op in t.ops) and not t.factors and not extended and all(
            isinstance(d, int) for d in t.sizes.values()):
        folded = _build(t)
        return Const(folded.eval_node(*(op.value for op in folded.children), sizes={}))
    out = _build(t)
    if out.scale == 1.0 and _is_identity(out):
        return out.children[0]
    return out


def _is_identity(e: Einsum) -> bool:
    """True when ``e`` (ignoring its scale) returns its only operand unchanged.

    An identity that gives a named dimension its int size (``x + c`` with ``x: (n,)``,
    ``c: (3,)`` broadcasts ``x`` to ``(3,)``) is kept: dropping it would change the shape
    the rest of the expression was built for.
    """
    return (len(e.children) == 1 and e.inputs[0] == e.output and not e.factor_dims
            and len(set(e.output)) == len(e.output) and e.children[0].shape == e.shape)


def _build(t: _Term) -> Einsum:
    """Canonical Einsum from a term: operands sorted, labels renamed by first appearance."""
    ins, ops, out, sizes = [list(s) for s in t.ins], list(t.ops), list(t.out), dict(t.sizes)
    if not ops:
        ops, ins = [Const(1.0)], [[]]
    for _ in range(2):
        order = _first_appearance(out, ins)
        ins = [[order[l] for l in s] for s in ins]
        out = [order[l] for l in out]
        sizes = {order[l]: sizes[l] for l in order}
        ins = [sorted(s) if _is_symmetric(op) else s for s, op in zip(ins, ops)]
        pairs = sorted(zip(ops, ins), key=lambda p: (p[0].uid, p[1]))
        ops, ins = [p[0] for p in pairs], [p[1] for p in pairs]
    order = _first_appearance(out, ins)
    letter = {l: LETTERS[k] for l, k in order.items()}
    return Einsum(["".join(letter[l] for l in s) for s in ins], "".join(letter[l] for l in out),
                  ops, {letter[l]: sizes[l] for l in order}, t.scale, t.factors)


def _first_appearance(out: list[int], ins: list[list[int]]) -> dict[int, int]:
    order: dict[int, int] = {}
    for l in out:
        order.setdefault(l, len(order))
    for s in ins:
        for l in s:
            order.setdefault(l, len(order))
    return order


def _is_symmetric(op: Expr) -> bool:
    return isinstance(op, Var) and op.symmetric


# ---------------------------------------------------------------------------------------
# Sums: collect like terms, fold constants, factor


def split_scale(e: Expr) -> tuple[float, Expr]:
    """``(c, core)`` with ``e == c * core`` and ``core`` free of a leading scale."""
    if isinstance(e, Einsum) and e.scale != 1.0:
        core = Einsum(e.inputs, e.output, e.children, e.sizes, 1.0, e.factor_dims)
        if _is_identity(core):
            return e.scale, core.children[0]
        return e.scale, core
    return 1.0, e


def _add(e: Add, kids: Sequence[Expr]) -> Expr:
    coeffs: dict[int, float] = {}
    cores: dict[int, Expr] = {}
    const = None

    def visit(term: Expr, c: float) -> None:
        nonlocal const
        if isinstance(term, Add):
            for sub, sc in zip(term.children, term.coeffs):
                visit(sub, c * sc)
            return
        if is_zero(term):
            return
        if isinstance(term, Const):
            const = term.value * c if const is None else const + term.value * c
            return
        s, core = split_scale(term)
        if core.uid not in cores:
            cores[core.uid] = core
            coeffs[core.uid] = 0.0
        coeffs[core.uid] += c * s

    for term, c in zip(kids, e.coeffs):
        visit(term, c)
    terms = [(coeffs[u], cores[u]) for u in cores if coeffs[u] != 0]
    if const is not None and np.any(const):
        terms.append((1.0, Const(const)))
    terms = _factor(terms)
    if not terms:
        return zeros(e.shape)
    if len(terms) == 1:
        c, core = terms[0]
        if c == 1.0:
            return core
        labels = LETTERS[: core.ndim]
        return _einsum(Einsum([labels], labels, [core], dict(zip(labels, core.shape)), c), [core])
    return Add([t for _, t in terms], [c for c, _ in terms])


def _items(e: Einsum) -> list[tuple[int, str]]:
    return [(op.uid, labels) for op, labels in zip(e.children, e.inputs) if op.ndim]


def _common(a: list, b: list) -> list:
    rest, out = list(b), []
    for item in a:
        if item in rest:
            rest.remove(item)
            out.append(item)
    return out


def _factor(terms: list[tuple[float, Expr]]) -> list[tuple[float, Expr]]:
    """Pull operands shared, through the same labels, by several einsum terms out of the sum.

    ``A^T r1 + A^T r2 -> A^T (r1 + r2)``.  Applied only when no resulting product has more
    labels than the largest original term (a cost bound that holds whatever the sizes).
    """
    k = 0
    while k < len(terms):
        c0, t0 = terms[k]
        if not isinstance(t0, Einsum) or t0.factor_dims:
            k += 1
            continue
        group, common = [k], _items(t0)
        for j in range(k + 1, len(terms)):
            tj = terms[j][1]
            if isinstance(tj, Einsum) and not tj.factor_dims and tj.output == t0.output:
                both = _common(common, _items(tj))
                if both:
                    group.append(j)
                    common = both
        merged = _pull_out(common, [terms[j] for j in group]) if len(group) > 1 else None
        if merged is None:
            k += 1
            continue
        terms = [t for j, t in enumerate(terms) if j not in group[1:]]
        terms[k] = (1.0, merged)
        k += 1
    return terms


def _pull_out(common: list, group: list[tuple[float, Einsum]]) -> Expr | None:
    first = group[0][1]
    shared_labels = set("".join(lab for _, lab in common)) | set(first.output)
    inners, interface = [], None
    for c, term in group:
        rest = list(zip(term.children, term.inputs))
        for uid, labels in common:
            idx = next(i for i, (op, lab) in enumerate(rest) if op.uid == uid and lab == labels)
            del rest[idx]
        rest_labels = "".join(lab for _, lab in rest)
        face = "".join(sorted(set(rest_labels) & shared_labels))
        if interface is None:
            interface = face
        if face != interface or not rest or len(set(rest_labels)) > _max_labels(group):
            return None
        ops = [op for op, _ in rest]
        inners.append(Einsum([lab for _, lab in rest], face, ops, term.sizes, c * term.scale))
    ops = [next(op for op, lab in zip(first.children, first.inputs) if op.uid == uid and lab == labels)
           for uid, labels in common]
    if len(shared_labels | set(interface)) > _max_labels(group):
        return None
    inner = _simp(Add(inners), {})
    labels = [lab for _, lab in common] + [interface]
    return _einsum(Einsum(labels, first.output, ops + [inner], first.sizes), ops + [inner])


def _max_labels(group: list[tuple[float, Einsum]]) -> int:
    return max(len(set("".join(t.inputs) + t.output)) for _, t in group)
