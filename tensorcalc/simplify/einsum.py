"""Einsum simplification: inline nested einsums (where Kronecker deltas disappear), fold
constants into the scale, and put every product in a canonical form.

Inlining a product into another is kept only when the flat product's planned cost (FLOPs and
largest intermediate, :mod:`.cost`) is no more than the nested one's; a product other nodes
use too is computed anyway, so its own cost is not saved by inlining it."""

from __future__ import annotations

from typing import Any, Sequence

from ..ir import Const, Einsum, Expr, Var
from ..ops import Func, MatFunc
from ..labels import LETTERS
from .core import is_shared, is_zero, simplify_rule, zeros
from .cost import Cost, einsum_cost, largest, not_worse, spec_cost
from .order import order_key

_MAX_LABELS = len(LETTERS)
# Flattening stops at this many operands: a long chain (an unrolled loop, a deep composition)
# would otherwise become one product of thousands of factors, built in quadratic time and
# costly to plan.  Correctness does not depend on it: an einsum left nested evaluates the same.
_MAX_OPERANDS = 24



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
        """Replace operand ``k`` (an Einsum) by its operands; False if labels would overflow
        or if the flat product would cost more than the nested one (:func:`_worth_inlining`)."""
        child: Einsum = self.ops[k]
        if len(self.ops) - 1 + len(child.children) > _MAX_OPERANDS:
            return False
        saved = (self.ins, self.out, self.ops, self.scale, self.factors, dict(self.sizes), self.next)
        if not self._inline(k):
            return False
        if not _worth_inlining(self, saved, child):
            self.ins, self.out, self.ops, self.scale, self.factors, self.sizes, self.next = saved
            return False
        return True

    def _inline(self, k: int) -> bool:
        child: Einsum = self.ops[k]
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
        self.factors = self.factors + list(child.factor_dims)
        return True

    def _factor(self, dim: Any) -> None:
        if isinstance(dim, str):
            self.factors = self.factors + [(dim, 1)]
        else:
            self.scale *= dim

    def cost(self) -> Cost:
        """The planned cost of the product as it stands (its operands computed), in the
        canonical form it would be built in: the planner's choice can depend on the order
        of the operands."""
        ins, out, _, sizes = _canonical(self)
        return spec_cost(tuple(ins), out, sizes, None, self.scale != 1.0 or bool(self.factors))


def _worth_inlining(t: _Term, saved: tuple, child: Einsum) -> bool:
    """Whether the flat product just made in ``t`` costs no more than the nested one it
    replaces (``saved``: the term before inlining ``child``).

    An embedding or broadcast (a Kronecker delta: inlining removes it) always is.  Otherwise
    the flat product must not raise the planned FLOPs or largest intermediate of the nested
    form, counting the child's own cost only when nothing else uses it: a child used
    elsewhere is computed anyway, and inlining it would compute it again inside every user
    (a chain ``u = t @ M; t = u * cos(u)`` would flatten into products of every earlier
    step).
    """
    out = child.output
    carried = set("".join(child.inputs))
    if len(set(out)) != len(out) or not set(out) <= carried:
        return True
    if len(child.inputs) == 1 and sorted(child.inputs[0]) == sorted(out):
        # A transpose or a scale: a relabelling, free but for its factor, which the flat
        # product applies to its smallest operand; inlined, equal products are one node.
        return True
    flat = t.cost()
    ins, out_, ops, scale, factors, sizes, next_ = saved
    nested = _Term.__new__(_Term)
    nested.ins, nested.out, nested.ops, nested.sizes = ins, out_, ops, sizes
    nested.scale, nested.factors = scale, factors
    before = nested.cost()
    if not is_shared(child):
        before = before + einsum_cost(child)
    return not_worse(flat, before, largest(t.ops))


@simplify_rule.register(Einsum)
def simplify_einsum(e: Einsum, kids: Sequence[Expr]) -> Expr:
    t = _Term(e, kids)
    k = 0
    while k < len(t.ops):
        op = t.ops[k]
        if isinstance(op, Einsum) and t.inline(k):
            continue  # the inlined operands start at k
        if isinstance(op, Einsum) and op.scale != 1.0 and not is_shared(op):
            # Kept nested (inlining would cost more): its scale moves out if that is free.
            before, scale = t.cost() + einsum_cost(op), t.scale
            core = _unscaled(op)
            t.scale *= op.scale
            t.ops[k] = core
            after = t.cost() + (einsum_cost(core) if isinstance(core, Einsum) else Cost(0, 0))
            if not_worse(after, before):
                continue
            t.scale, t.ops[k] = scale, op
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
    if out.scale == 1.0 and is_identity(out):
        return out.children[0]
    return out


def _unscaled(e: Einsum) -> Expr:
    """``e`` without its scale (its only operand when that leaves an identity)."""
    core = Einsum(e.inputs, e.output, e.children, e.sizes, 1.0, e.factor_dims)
    if is_identity(core):
        core = core.children[0]
    return core


def is_identity(e: Einsum) -> bool:
    """True when ``e`` (ignoring its scale) returns its only operand unchanged.

    An identity that gives a named dimension its int size (``x + c`` with ``x: (n,)``,
    ``c: (3,)`` broadcasts ``x`` to ``(3,)``) is kept: dropping it would change the shape
    the rest of the expression was built for.
    """
    return (len(e.children) == 1 and e.inputs[0] == e.output and not e.factor_dims
            and len(set(e.output)) == len(e.output) and e.children[0].shape == e.shape)


def _build(t: _Term) -> Einsum:
    """Canonical Einsum from a term: operands sorted, labels renamed by first appearance."""
    ins, out, ops, sizes = _canonical(t)
    return Einsum(ins, out, ops, sizes, t.scale, t.factors)


def _canonical(t: _Term) -> tuple[list[str], str, list[Expr], dict[str, Any]]:
    """The canonical ``(inputs, output, operands, sizes)`` of a term (see :func:`_build`)."""
    ins, ops, out, sizes = [list(s) for s in t.ins], list(t.ops), list(t.out), dict(t.sizes)
    if not ops:
        ops, ins = [Const(1.0)], [[]]
    for _ in range(2):
        order = _first_appearance(out, ins)
        ins = [[order[l] for l in s] for s in ins]
        out = [order[l] for l in out]
        sizes = {order[l]: sizes[l] for l in order}
        ins = [sorted(s) if _is_symmetric(op) else s for s, op in zip(ins, ops)]
        # a structural order (not the uid, a counter): the form does not depend on history
        pairs = sorted(zip(ops, ins), key=lambda p: (order_key(p[0]), p[1]))
        ops, ins = [p[0] for p in pairs], [p[1] for p in pairs]
    order = _first_appearance(out, ins)
    letter = {l: LETTERS[k] for l, k in order.items()}
    return (["".join(letter[l] for l in s) for s in ins], "".join(letter[l] for l in out),
            ops, {letter[l]: sizes[l] for l in order})


def _first_appearance(out: list[int], ins: list[list[int]]) -> dict[int, int]:
    order: dict[int, int] = {}
    for l in out:
        order.setdefault(l, len(order))
    for s in ins:
        for l in s:
            order.setdefault(l, len(order))
    return order


def _is_symmetric(op: Expr) -> bool:
    """Whether ``op`` is a matrix equal to its transpose: a variable declared symmetric, and
    the inverse or an elementwise function of one (``S⁻ᵀ = S⁻¹``, so ``d log|det S|/dS``, the
    symmetric part of ``S⁻ᵀ``, is ``S⁻¹``)."""
    while isinstance(op, Func) or isinstance(op, MatFunc) and op.name == "inv":
        op = op.children[0]
    return isinstance(op, Var) and op.symmetric
