"""Rewrites of the norm (the ``norm2`` and ``normalize`` rows, and ``sqrt`` of a sum of
squares).

* ``sqrt(Σ x²) -> ‖x‖`` and ``sqrt(Σ x ⊙ x) -> ‖x‖`` over every entry of ``x`` (everywhere);
* ``‖x‖^(2k) -> (Σ x ⊙ x)^k`` for an integer ``k`` (everywhere): ``‖x‖²`` is the sum of
  squares, whose derivative ``2x`` is finite at 0 (the chain through ``‖x‖`` is ``2‖x‖ ·
  x/‖x‖``);
* ``‖x‖ x/‖x‖ -> x`` in a product (everywhere, with the convention ``0/‖0‖ = 0``).
"""

from __future__ import annotations

from ...ir import Einsum, Expr
from ...labels import LETTERS
from ...ops import AxisFunc, Func
from ...ops.functions import norm2, power
from ..rewrite import rewrite_rule
from .patterns import power_of, replace_operands


def sum_of_squares(x: Expr) -> Expr:
    """``Σ x ⊙ x`` over every entry of ``x``, one einsum (printed ``‖x‖²``)."""
    labels = LETTERS[: x.ndim]
    return Einsum([labels, labels], "", [x, x], dict(zip(labels, x.shape)))


def _squared(e: Expr) -> Expr | None:
    """``x`` when ``e`` is the sum of every entry of ``x²`` or ``x ⊙ x``, else None."""
    if not isinstance(e, Einsum) or e.output or e.scale != 1 or e.factor_dims:
        return None
    labels = e.inputs[0]
    if len(set(labels)) != len(labels) or any(lab != labels for lab in e.inputs):
        return None
    if len(e.children) == 1:
        base, p = power_of(e.children[0])
        return base if p == 2 else None
    if len(e.children) == 2 and e.children[0].uid == e.children[1].uid:
        return e.children[0]
    return None


@rewrite_rule(Func, "sqrt", rule="sqrt(Σ x²) -> ‖x‖")
def sqrt_of_sum_of_squares(e: Func) -> Expr | None:
    x = _squared(e.children[0])
    return None if x is None else norm2(x)


@rewrite_rule(Func, "pow", rule="‖x‖^(2k) -> (Σ x ⊙ x)^k", condition="k an integer")
def power_of_norm(e: Func) -> Expr | None:
    x = e.children[0]
    if isinstance(x, AxisFunc) and x.name == "norm2" and x.all_axes and float(e.param / 2).is_integer():
        return power(sum_of_squares(x.children[0]), e.param / 2)
    return None


@rewrite_rule(Einsum, rule="‖x‖ x/‖x‖ -> x")
def norm_times_normalized(e: Einsum) -> Expr | None:
    norms = {op.children[0].uid: k for k, (op, labels) in enumerate(zip(e.children, e.inputs))
             if isinstance(op, AxisFunc) and op.name == "norm2" and op.all_axes and not labels}
    if not norms:
        return None
    for k, (op, labels) in enumerate(zip(e.children, e.inputs)):
        if isinstance(op, AxisFunc) and op.name == "normalize" and op.children[0].uid in norms:
            x = op.children[0]
            return replace_operands(e, [k, norms[x.uid]], [(x, labels)])
    return None
