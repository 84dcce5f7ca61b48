"""Rewrites of the log/exp family (the ``exp``, ``log``, ``log1p``, ``sigmoid`` and
``softplus`` rows): inverses cancel, and the compositions with a stable named form become it.

* ``log(exp u) -> u`` (real ``u``; for complex ``u`` where ``|Im u| < π``);
* ``exp(log u) -> u`` where ``u > 0`` (for ``u ≤ 0``, ``log u`` is nan or ``-∞`` and the
  rewrite gives ``u``: use it for quantities positive by construction);
* ``log(1 + exp u) -> softplus(u)`` and ``log1p(exp u) -> softplus(u)`` (everywhere; no
  overflow for large ``u``);
* ``log σ(u) -> -softplus(-u)`` and ``log(1 - σ(u)) -> -softplus(u)`` (everywhere; the
  binary cross-entropy written with logs);
* ``exp(-softplus(u)) -> σ(-u)`` (everywhere);
* ``(1 + exp u)^p -> σ(-u)^(-p)`` (everywhere: ``1 / (1 + e^u) = σ(-u)``);
* ``exp(u) ⊙ σ(-u) -> σ(u)`` in a product, same labels (everywhere: ``e^u / (1 + e^u)``);
  with the previous rule ``exp(-u) / (1 + exp(-u)) -> σ(-u)``, the logistic loss's gradient.

Not rewritten: ``(exp u)^p`` and ``exp(a) ⊙ exp(b)`` (``exp(u)⁻¹`` stays a power of
``exp(u)``, so ``exp(u) exp(u)⁻¹ -> 1`` by the powers family; a product of exponentials stays a
product, its factors shared).
"""

from __future__ import annotations

from ...ir import Einsum, Expr
from ...ops import Func
from ...ops.functions import power, sigmoid, softplus
from ..rewrite import rewrite_rule
from .patterns import is_func, is_negation, one_plus, partners, replace_operands


@rewrite_rule(Func, "log", rule="log(exp u) -> u", condition="u real (|Im u| < π)")
def log_of_exp(e: Func) -> Expr | None:
    x = e.children[0]
    return x.children[0] if is_func(x, "exp") else None


@rewrite_rule(Func, "exp", rule="exp(log u) -> u", condition="u > 0")
def exp_of_log(e: Func) -> Expr | None:
    x = e.children[0]
    return x.children[0] if is_func(x, "log") else None


@rewrite_rule(Func, "log", rule="log(1 + exp u) -> softplus(u)")
def log_one_plus_exp(e: Func) -> Expr | None:
    u = one_plus(e.children[0], "exp")
    return None if u is None else softplus(u)


@rewrite_rule(Func, "log1p", rule="log1p(exp u) -> softplus(u)")
def log1p_of_exp(e: Func) -> Expr | None:
    x = e.children[0]
    return softplus(x.children[0]) if is_func(x, "exp") else None


@rewrite_rule(Func, "log", rule="log σ(u) -> -softplus(-u)")
def log_of_sigmoid(e: Func) -> Expr | None:
    x = e.children[0]
    return -softplus(-x.children[0]) if is_func(x, "sigmoid") else None


@rewrite_rule(Func, "log", rule="log(1 - σ(u)) -> -softplus(u)")
def log_one_minus_sigmoid(e: Func) -> Expr | None:
    u = one_plus(e.children[0], "sigmoid", sign=-1.0)
    return None if u is None else -softplus(u)


@rewrite_rule(Func, "exp", rule="exp(-softplus(u)) -> σ(-u)")
def exp_of_minus_softplus(e: Func) -> Expr | None:
    x = e.children[0]
    if isinstance(x, Einsum) and len(x.children) == 1 and is_func(x.children[0], "softplus") \
            and is_negation(x, x.children[0]):
        return sigmoid(-x.children[0].children[0])
    return None


@rewrite_rule(Func, "pow", rule="(1 + exp u)^p -> σ(-u)^(-p)")
def power_of_one_plus_exp(e: Func) -> Expr | None:
    u = one_plus(e.children[0], "exp")
    return None if u is None else power(sigmoid(-u), -e.param)


@rewrite_rule(Einsum, rule="exp(u) ⊙ σ(-u) -> σ(u)")
def exp_times_sigmoid(e: Einsum) -> Expr | None:
    for labels, ks in partners(e).items():
        exps = [k for k in ks if is_func(e.children[k], "exp")]
        sigmoids = [k for k in ks if is_func(e.children[k], "sigmoid")]
        for i in exps:
            u = e.children[i].children[0]
            for j in sigmoids:
                if is_negation(e.children[j].children[0], u):
                    return replace_operands(e, [i, j], [(Func("sigmoid", u), labels)])
    return None
