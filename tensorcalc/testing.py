"""The gradient oracle: finite differences against the symbolic derivatives.

:func:`check_grad` projects both sides on random vectors (autograd's ``check_grads`` idea)
and returns the largest difference; :func:`check_grads` asserts agreement to any order;
:func:`check_jvp` does the same for forward mode (the symbolic JVP along random directions).
The test suite checks every derivative with these.

>>> import numpy as np
>>> from tensorcalc.ir import var
>>> x = var("x", (3,))
>>> check_grads(x * x * x, x, order=2, x=np.array([1.0, 2.0, 3.0]))
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .differentiation import find_var, grad, jvp
from .errors import TensorcalcError
from .evaluation import evaluate
from .ir import Expr, Var, as_expr, topological
from .ops.functions import sum as tsum


def _point(f: Any, wrt: Any, arrays: dict, who: str) -> tuple[Expr, Var, np.ndarray, dict]:
    """The expression, its variable ``wrt`` and the point ``x0`` a derivative is checked at."""
    f = as_expr(f)
    x = find_var(f, wrt, topological([f]), allow_unused=True)  # a zero derivative is checkable
    if x.name not in arrays:
        raise TensorcalcError(f"{who}: no array given for {x.name!r}")
    return f, x, np.asarray(arrays[x.name], dtype=float), arrays


def check_grad(f: Expr, wrt: Any, arrays: Mapping[str, Any] | None = None, /, **named: Any) -> float:
    """Largest difference between the analytic VJP and a central-difference JVP.

    Both are projected on random vectors (autograd's ``check_grads`` idea): for direction
    ``v`` and cotangent ``u``, compare ``<u, J v>`` by finite differences with
    ``<J^T u, v>`` from the symbolic gradient.  Non-scalar ``f`` is fine, so second
    derivatives are checked with ``check_grad(grad(f, x), x, ...)``.

    >>> import numpy as np
    >>> from tensorcalc.ir import var
    >>> x = var("x", (3,))
    >>> check_grad((x * x).__getitem__(1), x, x=np.array([1.0, 2.0, 3.0])) < 1e-6
    True
    """
    f, x, x0, arrays = _point(f, wrt, {**(arrays or {}), **named}, "check_grad")
    rng = np.random.default_rng(0)
    u_name = "__check_grad_cotangent__"
    fval = np.asarray(evaluate(f, arrays))
    u_var = Var(u_name, f.shape)
    vjp = grad(tsum(f * u_var), x, allow_unused=True)
    worst = 0.0
    for _ in range(3):
        u = rng.standard_normal(fval.shape)
        v = rng.standard_normal(x0.shape)
        if x.symmetric:
            v = (v + v.T) / 2
        eps = 1e-6 * max(1.0, float(np.max(np.abs(x0), initial=0.0)))
        fp = np.asarray(evaluate(f, {**arrays, x.name: x0 + eps * v}))
        fm = np.asarray(evaluate(f, {**arrays, x.name: x0 - eps * v}))
        numeric = float(np.sum(u * (fp - fm))) / (2 * eps)
        analytic = float(np.sum(evaluate(vjp, {**arrays, u_name: u}) * v))
        worst = max(worst, abs(numeric - analytic))
    return worst


def check_grads(f: Any, wrt: Any, order: int = 1, arrays: Mapping[str, Any] | None = None, /, *,
                rtol: float = 1e-5, atol: float = 1e-6, **named: Any) -> None:
    """Assert that the derivatives of ``f`` with respect to ``wrt`` up to ``order`` are right.

    Order 1 compares the VJP of ``f`` with central differences (:func:`check_grad`); order
    ``k + 1`` does the same for the VJP of order ``k`` contracted with a fixed random
    cotangent, a function of ``wrt`` again. Raises ``AssertionError`` naming the order.

    >>> import numpy as np
    >>> from tensorcalc.ir import var
    >>> x = var("x", (2,))
    >>> check_grads((x * x)[0], x, order=3, x=np.array([1.0, 2.0]))
    """
    if not isinstance(order, int) or order < 1:
        raise TensorcalcError(f"check_grads: order must be a positive int, got {order!r}")
    arrays = {**(arrays or {}), **named}
    current = as_expr(f)
    x = find_var(current, wrt, topological([current]), allow_unused=True)  # zero is checkable too
    rng = np.random.default_rng(1)
    for k in range(1, order + 1):
        value = np.asarray(evaluate(current, arrays))
        error = check_grad(current, x, arrays)
        # relative to the size of the values and the derivative scale being checked
        scale = max(1.0, float(np.max(np.abs(value), initial=0.0)))
        if not error <= atol + rtol * scale:
            raise AssertionError(f"order-{k} derivative of {x.name!r} is off by {error:.3g} "
                                 f"(allowed {atol + rtol * scale:.3g})")
        if k < order:
            u = rng.standard_normal(value.shape)
            current = (grad(tsum(current * u), x, allow_unused=True) if current.ndim
                       else grad(current, x, allow_unused=True))


def check_jvp(f: Expr, wrt: Any, arrays: Mapping[str, Any] | None = None, /, **named: Any) -> float:
    """Largest difference between the symbolic JVP (forward mode) and central differences.

    For three random directions ``v`` (symmetrized for a symmetric variable), compares
    ``jvp(f, wrt, v)`` entry by entry with ``(f(x + eps v) - f(x - eps v)) / (2 eps)``; ``f``
    of any shape.

    >>> import numpy as np
    >>> from tensorcalc.ir import var
    >>> x = var("x", (3,))
    >>> check_jvp(x * x, x, x=np.array([1.0, 2.0, 3.0])) < 1e-6
    True
    """
    f, x, x0, arrays = _point(f, wrt, {**(arrays or {}), **named}, "check_jvp")
    rng = np.random.default_rng(0)
    v_name = "__check_jvp_direction__"
    tangent = jvp(f, x, Var(v_name, x.shape), allow_unused=True)
    worst = 0.0
    for _ in range(3):
        v = rng.standard_normal(x0.shape)
        if x.symmetric:
            v = (v + v.T) / 2
        eps = 1e-6 * max(1.0, float(np.max(np.abs(x0), initial=0.0)))
        fp = np.asarray(evaluate(f, {**arrays, x.name: x0 + eps * v}))
        fm = np.asarray(evaluate(f, {**arrays, x.name: x0 - eps * v}))
        analytic = np.asarray(evaluate(tangent, {**arrays, v_name: v}))
        worst = max(worst, float(np.max(np.abs((fp - fm) / (2 * eps) - analytic), initial=0.0)))
    return worst
