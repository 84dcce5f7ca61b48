"""Rewrites of the softmax family (the ``softmax``, ``log_softmax`` and ``logsumexp`` rows):
the compositions that have a stable named form become it.

* ``log(softmax z) -> log_softmax(z)`` (everywhere; ``log_softmax`` is ``z - logsumexp z``
  with the max shifted out, finite where ``softmax`` underflows to 0 and ``log`` of it is
  ``-∞``);
* ``exp(log_softmax z) -> softmax(z)`` (everywhere);
* ``z - logsumexp(z) -> log_softmax(z)`` along the same axes (everywhere), so ``exp(z -
  logsumexp z)`` is ``softmax(z)``.
"""

from __future__ import annotations

from ...ir import Add, Einsum, Expr
from ...ops import AxisFunc, Func, LogSumExp
from ..rewrite import rewrite_rule


@rewrite_rule(Func, "log", rule="log(softmax z) -> log_softmax(z)")
def log_of_softmax(e: Func) -> Expr | None:
    x = e.children[0]
    if isinstance(x, AxisFunc) and x.name == "softmax":
        return AxisFunc("log_softmax", x.children[0], x.axes)
    return None


@rewrite_rule(Func, "exp", rule="exp(log_softmax z) -> softmax(z)")
def exp_of_log_softmax(e: Func) -> Expr | None:
    x = e.children[0]
    if isinstance(x, AxisFunc) and x.name == "log_softmax":
        return AxisFunc("softmax", x.children[0], x.axes)
    return None


@rewrite_rule(Add, rule="z - logsumexp(z) -> log_softmax(z)")
def minus_logsumexp(e: Add) -> Expr | None:
    if len(e.children) != 2:
        return None
    for k in (0, 1):
        z, lse = e.children[k], e.children[1 - k]
        if e.coeffs[k] == 1 and e.coeffs[1 - k] == -1 and _broadcasts_logsumexp_of(lse, z):
            return AxisFunc("log_softmax", z, lse.children[0].axes)
    return None


def _broadcasts_logsumexp_of(e: Expr, z: Expr) -> bool:
    """True when ``e`` is ``logsumexp(z, axes)`` broadcast back along ``axes`` to ``z``."""
    if not (isinstance(e, Einsum) and len(e.children) == 1 and e.scale == 1 and not e.factor_dims):
        return False
    lse = e.children[0]
    if not (isinstance(lse, LogSumExp) and lse.children[0].uid == z.uid and e.shape == z.shape):
        return False
    kept = [e.output[ax] for ax in range(z.ndim) if ax not in lse.axes]
    return len(set(e.output)) == len(e.output) and list(e.inputs[0]) == kept
