"""Rewrites of powers, signs and absolute values (the ``pow``, ``sign`` and ``abs`` rows).

* ``x^a ⊙ x^b -> x^(a+b)`` in a product, for operands with the same labels (elementwise), at
  least one of them a power: ``x ⊙ x⁻¹ -> 1``, ``t t t⁻¹ -> t``. Where ``x ≠ 0`` (at 0 the
  product is ``0 · ∞``, nan; the rewrite gives its limit) and ``x^a`` is real (``x > 0`` or
  integer exponents: a negative base to a fractional power is nan either way).
* ``x^p ⊙ (a + x^-q b) -> x^p a + x^(p-q) b``: a product distributes over a sum (same
  labels) when a term of the sum holds a reciprocal power of one of its factors, so the powers
  meet and cancel (``σ(1-σ) ((1-t)/(1-σ) - t/σ) -> σ(1-t) - (1-σ) t``, the binary
  cross-entropy through its logs); the condition of the first rule.
* ``(x^a)^p -> x^(a p)`` for an integer ``p`` (any ``x``).
* ``sign(t) ⊙ t -> |t|`` in a product (real ``t``, as the derivative rules of ``abs`` and
  ``sign`` are the real ones); with the first rule, ``|t|⁻¹ sign(t) t -> 1`` where ``t ≠ 0``
  (the gradient of ``log |det X|``).

Not rewritten: ``|f(u)| -> f(u)`` for ``f ≥ 0`` (exp, σ, softmax): it holds for real ``u``
only, and the type of ``u`` is not known when simplifying (``|exp(iθ)| = 1``).
"""

from __future__ import annotations

from ...ir import Add, Einsum, Expr
from ...ops import Func
from ...ops.functions import power
from ..rewrite import rewrite_rule
from .patterns import is_func, partners, power_of, replace_operands


@rewrite_rule(Einsum, rule="x^a ⊙ x^b -> x^(a+b); x ⊙ x⁻¹ -> 1",
              condition="x ≠ 0, and x > 0 unless the exponents are integers")
def merge_powers(e: Einsum) -> Expr | None:
    for labels, ks in partners(e).items():
        bases: dict[int, list[int]] = {}
        for k in ks:
            base, _ = power_of(e.children[k])
            bases.setdefault(base.uid, []).append(k)
        for group in bases.values():
            if len(group) < 2 or not any(is_func(e.children[k], "pow") for k in group):
                continue
            base = power_of(e.children[group[0]])[0]
            total = sum(power_of(e.children[k])[1] for k in group)
            add = [] if total == 0 else [(power(base, total), labels)]
            return replace_operands(e, group, add)
    return None


@rewrite_rule(Einsum, rule="x^p ⊙ (a + x^-q b) -> x^p a + x^(p-q) b",
              condition="x ≠ 0, and x > 0 unless the exponents are integers")
def distribute_to_cancel(e: Einsum) -> Expr | None:
    for labels, ks in partners(e).items():
        for k in ks:
            total = e.children[k]
            if not isinstance(total, Add):
                continue
            bases = {power_of(e.children[j])[0].uid for j in ks
                     if j != k and power_of(e.children[j])[1] > 0}
            if any(_holds_reciprocal(t, bases) for t in total.children):
                return Add([replace_operands(e, [k], [(t, labels)]) for t in total.children],
                           total.coeffs)
    return None


def _holds_reciprocal(t: Expr, bases: set[int]) -> bool:
    """True when ``t`` is, or multiplies elementwise, a negative power of one of ``bases``."""
    factors = [t]
    if isinstance(t, Einsum):
        factors = [c for c, labels in zip(t.children, t.inputs) if labels == t.output]
    return any(is_func(f, "pow") and f.param < 0 and f.children[0].uid in bases for f in factors)


@rewrite_rule(Func, "pow", rule="(x^a)^p -> x^(a p)", condition="p an integer")
def power_of_power(e: Func) -> Expr | None:
    inner = e.children[0]
    if is_func(inner, "pow") and float(e.param).is_integer():
        return power(inner.children[0], inner.param * e.param)
    return None


@rewrite_rule(Einsum, rule="sign(t) ⊙ t -> |t|", condition="t real")
def sign_times_self(e: Einsum) -> Expr | None:
    for labels, ks in partners(e).items():
        signs = {e.children[k].children[0].uid: k for k in ks if is_func(e.children[k], "sign")}
        for k in ks:
            j = signs.get(e.children[k].uid)
            if j is not None and j != k:
                return replace_operands(e, [j, k], [(Func("abs", e.children[k]), labels)])
    return None
