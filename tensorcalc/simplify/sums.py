"""Sums: flatten, collect like terms, fold constants, factor shared operands out."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..ir import Add, Const, Einsum, Expr
from ..labels import LETTERS
from .core import simplify_memo, is_zero, simplify_rule, zeros
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
        return simplify_einsum(Einsum([labels], labels, [core], dict(zip(labels, core.shape)), c), [core])
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
    inner = simplify_memo(Add(inners), {})
    labels = [lab for _, lab in common] + [interface]
    return simplify_einsum(Einsum(labels, first.output, ops + [inner], first.sizes), ops + [inner])


def _max_labels(group: list[tuple[float, Einsum]]) -> int:
    return max(len(set("".join(t.inputs) + t.output)) for _, t in group)
