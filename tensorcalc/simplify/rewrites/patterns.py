"""What the rewrite families match on: constants, negation, sums ``c + exp(u)``, and the
operands of one product that meet elementwise (the same labels), with the edit that
replaces some of them.

>>> from tensorcalc.ir import var, einsum
>>> x = var("x", (3,))
>>> is_negation(-x, x), is_negation(x, x)
(True, False)
"""

from __future__ import annotations

from typing import Any, Sequence

from ...ir import Add, Const, Einsum, Expr
from ...ops import Func
from ..sums import split_scale


def scalar_value(e: Expr) -> Any:
    """The number ``e`` is everywhere (a 0-d constant, maybe broadcast and scaled), or None."""
    if isinstance(e, Const) and e.ndim == 0:
        return e.value.item()
    if isinstance(e, Einsum) and len(e.children) == 1 and e.inputs == ("",) and not e.factor_dims \
            and isinstance(e.children[0], Const) and len(set(e.output)) == len(e.output):
        return e.scale * e.children[0].value.item()
    return None


def is_negation(a: Expr, b: Expr) -> bool:
    """True when ``a`` is ``-b`` structurally (``-1`` scale, or a sum with every coefficient
    negated)."""
    ca, core_a = split_scale(a)
    cb, core_b = split_scale(b)
    if core_a.uid == core_b.uid:
        return ca == -cb
    if ca == cb and isinstance(core_a, Add) and isinstance(core_b, Add) \
            and len(core_a.children) == len(core_b.children):
        return all(x.uid == y.uid and p == -q for x, y, p, q in zip(
            core_a.children, core_b.children, core_a.coeffs, core_b.coeffs))
    return False


def one_plus(e: Expr, name: str, sign: float = 1.0) -> Expr | None:
    """``u`` when ``e`` is ``1 + f(u)`` (``1 - f(u)`` with ``sign=-1``) for the elementwise
    function ``name``, else None."""
    if not isinstance(e, Add) or len(e.children) != 2:
        return None
    for k in (0, 1):
        const, func = e.children[k], e.children[1 - k]
        value = scalar_value(const)
        if value is not None and value * e.coeffs[k] == 1 and e.coeffs[1 - k] == sign \
                and is_func(func, name) and func.shape == e.shape:
            return func.children[0]
    return None


def is_func(e: Expr, name: str) -> bool:
    """True when ``e`` is the elementwise function ``name`` (a :class:`Func` node)."""
    return isinstance(e, Func) and e.name == name


def power_of(e: Expr) -> tuple[Expr, float]:
    """``(base, p)`` with ``e = base ** p`` (``p = 1`` for anything not a power)."""
    if isinstance(e, Func) and e.name == "pow":
        return e.children[0], e.param
    return e, 1.0


def replace_operands(e: Einsum, remove: Sequence[int], add: Sequence[tuple[Expr, str]] = ()) -> Expr:
    """``e`` without the operands at positions ``remove`` and with the operands ``add``
    (``(operand, labels)``) multiplied in; unsimplified.

    A summed label no operand carries any more is a sum of ones: its size joins the scale (a
    named one the dimension factors); an output label no operand carries broadcasts.
    """
    keep = [k for k in range(len(e.children)) if k not in set(remove)]
    ops = [e.children[k] for k in keep] + [op for op, _ in add]
    inputs = [e.inputs[k] for k in keep] + [labels for _, labels in add]
    carried = set("".join(inputs))
    scale, factors = e.scale, list(e.factor_dims)
    for lab in set("".join(e.inputs)) - carried - set(e.output):
        dim = e.sizes[lab]
        if isinstance(dim, str):
            factors.append((dim, 1))
        else:
            scale *= dim
    if not ops:
        ops, inputs = [Const(1.0)], [""]
    return Einsum(inputs, e.output, ops, e.sizes, scale, factors)


def partners(e: Einsum) -> dict[str, list[int]]:
    """The operand positions of ``e`` by their labels (operands with the same labels multiply
    elementwise), for label strings held by two operands or more."""
    groups: dict[str, list[int]] = {}
    for k, labels in enumerate(e.inputs):
        groups.setdefault(labels, []).append(k)
    return {labels: ks for labels, ks in groups.items() if len(ks) > 1}
