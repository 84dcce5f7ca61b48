"""Sums: flatten, collect like terms, fold constants, factor shared operands out.

A nested sum other nodes use too is spread into this one only when its terms cancel or merge
with ours; factoring is kept only when it lowers the planned cost (:mod:`.cost`)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..ir import Add, Const, Einsum, Expr, Var
from ..labels import LETTERS
from .core import is_shared, is_zero, simplify_rule, zeros
from .cost import Cost, better, einsum_cost, largest, node_cost, numel
from .einsum import is_identity, simplify_einsum



def split_scale(e: Expr) -> tuple[float, Expr]:
    """``(c, core)`` with ``e == c * core`` and ``core`` free of a leading scale."""
    if isinstance(e, Einsum) and e.scale != 1.0:
        core = Einsum(e.inputs, e.output, e.children, e.sizes, 1.0, e.factor_dims)
        if is_identity(core):
            return e.scale, core.children[0]
        return e.scale, core
    return 1.0, e


@simplify_rule.register(Add)
def simplify_add(e: Add, kids: Sequence[Expr]) -> Expr:
    terms, nested = _collect(e, kids, True)
    if nested:
        # A sum used elsewhere too is computed anyway: spreading its terms into this one adds
        # work unless they cancel or merge with ours (then the flat sum is no longer).
        kept, _ = _collect(e, kids, False)
        if len(kept) < len(terms):
            terms = kept
    terms = _factor(terms)
    if not terms:
        return zeros(e.shape)
    if len(terms) == 1:
        c, core = terms[0]
        if c == 1.0:
            return core
        labels = LETTERS[: core.ndim]
        return simplify_einsum(Einsum([labels], labels, [core], dict(zip(labels, core.shape)), c), [core])
    return Add([t for _, t in terms], [c for c, _ in terms])


def _collect(e: Add, kids: Sequence[Expr], flatten_shared: bool) -> tuple[list, bool]:
    """The terms ``(coeff, core)`` of the sum, nested sums spread out (those used elsewhere
    only if ``flatten_shared``), like terms merged; and whether a shared sum was met."""
    coeffs: dict[int, float] = {}
    cores: dict[int, Expr] = {}
    # A scaled product used elsewhere too stays whole when it is its core's only source:
    # replacing it by its unscaled core would compute the product twice.
    whole: dict[int, tuple[Expr, float] | None] = {}
    const = None
    met_shared = False

    def visit(term: Expr, c: float) -> None:
        nonlocal const, met_shared
        if isinstance(term, Add):
            shared = is_shared(term)
            met_shared = met_shared or shared
            if flatten_shared or not shared:
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
            # (a scaled variable or constant has no product to recompute: it spreads)
            whole[core.uid] = (term, c) if core is not term and is_shared(term) \
                and not isinstance(core, (Var, Const)) else None
        else:  # the same shared node again stays whole; another source of the core does not
            kept = whole[core.uid]
            whole[core.uid] = (term, kept[1] + c) if kept and kept[0].uid == term.uid else None
        coeffs[core.uid] += c * s

    for term, c in zip(kids, e.coeffs):
        visit(term, c)
    terms = [whole[u][::-1] if whole[u] is not None else (coeffs[u], cores[u])
             for u in cores if coeffs[u] != 0]
    if const is not None and np.any(const):
        terms.append((1.0, Const(const)))
    return terms, met_shared


def _items(e: Einsum) -> list[tuple[int, str]]:
    return [(op.uid, labels) for op, labels in zip(e.children, e.inputs) if op.ndim]


def _common(a: list, b: list) -> list:
    rest, out = list(b), []
    for item in a:
        if item in rest:
            rest.remove(item)
            out.append(item)
    return out


def _factorable(t: Expr) -> bool:
    return isinstance(t, Einsum) and not t.factor_dims


def _factor(terms: list[tuple[float, Expr]]) -> list[tuple[float, Expr]]:
    """Pull operands shared, through the same labels, by several einsum terms out of the sum.

    ``A^T r1 + A^T r2 -> A^T (r1 + r2)``, kept only when the planned cost (:mod:`.cost`) of the
    factored product is lower than that of the sum of products and its largest intermediate
    no larger: ``x_l (A_ik B_jl + A_il B_jk)`` would build an ``n^4`` sum where the two
    products, planned apart, never exceed ``n^3``.  Terms join a group one at a time, each
    kept only if the group stays worth factoring.
    """
    k = 0
    while k < len(terms):
        t0 = terms[k][1]
        if not _factorable(t0):
            k += 1
            continue
        group, common, best = [k], _items(t0), None
        for j in range(k + 1, len(terms)):
            tj = terms[j][1]
            if not (_factorable(tj) and tj.output == t0.output):
                continue
            both = _common(common, _items(tj))
            if not both:
                continue
            trial = group + [j]
            candidate = _pull_out(both, [terms[i] for i in trial])
            if candidate is not None:
                group, common, best = trial, both, candidate
        if best is None:
            k += 1
            continue
        terms = [t for j, t in enumerate(terms) if j not in group[1:]]
        terms[k] = (1.0, _finish(*best))
        k += 1
    return terms


def _pull_out(common: list, group: list[tuple[float, Einsum]]) -> tuple | None:
    """The factored form of ``group`` as ``(inner sum, product)``, both in canonical form,
    or None when it cannot be written or would not lower the planned cost."""
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
        if face != interface or not rest:
            return None
        ops = [op for op, _ in rest]
        inner = Einsum([lab for _, lab in rest], face, ops, term.sizes, c * term.scale)
        inners.append(simplify_einsum(inner, inner.children))
    ops = [next(op for op, lab in zip(first.children, first.inputs) if op.uid == uid and lab == labels)
           for uid, labels in common]
    labels = [lab for _, lab in common] + [interface]
    total = Add(inners)
    sizes = {**first.sizes, **{lab: total.shape[k] for k, lab in enumerate(interface)}}
    out_size = numel(first.shape)
    before = Cost(out_size * (len(group) - 1), out_size)
    for _, term in group:
        if not is_shared(term):  # a product other nodes use is computed anyway
            before = before + einsum_cost(term)
    outer = simplify_einsum(Einsum(labels, first.output, ops + [total], sizes), ops + [total])
    after = node_cost(total) + node_cost(outer)
    for inner in inners:
        after = after + node_cost(inner)
    if not better(after, before, largest(op for _, t in group for op in t.children)):
        return None
    return total, outer


def _finish(total: Add, outer: Expr) -> Expr:
    """The factored product, its inner sum simplified in turn (it may factor again): only the
    new nodes are simplified, their operands already are."""
    inner = simplify_add(total, list(total.children))
    if inner.uid == total.uid:
        return outer
    assert isinstance(outer, Einsum)
    kids = [inner if k.uid == total.uid else k for k in outer.children]
    return simplify_einsum(Einsum(outer.inputs, outer.output, kids, outer.sizes, outer.scale,
                                  outer.factor_dims), kids)
