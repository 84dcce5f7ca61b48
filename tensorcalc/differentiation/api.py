"""The public derivative functions: gradient, Jacobian, Hessian, Hessian-vector product.

Derivatives are expressions of the same IR, simplified, so deltas are eliminated by renaming
labels and derivatives of any order come by composition.

>>> import numpy as np
>>> from tensorcalc.ir import var, einsum
>>> x = var("x", (3,))
>>> g = grad(einsum("i,i->", x, x), x)
>>> g.evaluate(x=np.array([1.0, 2.0, 3.0]))
array([2., 4., 6.])
"""

from __future__ import annotations

from typing import Any

from ..errors import TensorcalcError
from ..ir import Const, Einsum, Expr, as_expr, einsum, topological
from ..labels import LETTERS
from ..simplify import bind_dims
from ..simplify.core import simplify_memo
from .forward import check_mode, cheaper, forward_jacobian, jacobian_mode, jvp
from .reverse import backprop, find_var, remember_sources, simplified_derivative


def grad(f: Expr, wrt: Any, allow_unused: bool = False) -> Expr:
    """Gradient of the scalar ``f`` with respect to a variable (or its name); shaped like it.

    Complex variables follow JAX's convention (``jax.grad(..., holomorphic=True)``): no
    conjugation, so for a holomorphic ``f`` the result is the complex derivative ``df/dx``.
    ``abs``, ``sign``, ``relu`` and ``logdet`` (``log |det|``) are not holomorphic; their
    rules are the real ones.

    A variable ``f`` does not contain (or another variable with the same name) is an error;
    with ``allow_unused=True`` its gradient is zeros of its shape.

    >>> import numpy as np
    >>> from tensorcalc.ir import var
    >>> x = var("x", (2,))
    >>> grad((x * x).__getitem__(0), "x").evaluate(x=np.array([3.0, 1.0]))
    array([6., 0.])
    >>> grad((x * x).__getitem__(0), var("y", (3,)), allow_unused=True).evaluate(x=np.ones(2))
    array([0., 0., 0.])
    """
    f = as_expr(f)
    if f.ndim != 0:
        raise TensorcalcError(f"grad needs a scalar expression, got shape {f.shape}; use jacobian")
    order = topological([f])
    x = find_var(f, wrt, order, allow_unused)
    result = bind_dims(simplified_derivative(backprop(f, x, Const(1.0)), x), [f, x])
    return remember_sources(result, order)


LAYOUTS = ("jax", "numerator", "denominator")


def jacobian(y: Expr, wrt: Any, layout: str = "jax", allow_unused: bool = False,
             mode: str = "auto") -> Expr:
    """Jacobian ``dy/dx``; ``layout`` chooses the order of its axes.

    * ``"jax"`` (the default; JAX's ``jacobian``): ``y.shape + x.shape``, entry
      ``[i..., k...] = dy[i...]/dx[k...]``.
    * ``"numerator"`` (numerator layout of matrix calculus: laid out by ``y`` and by
      ``x`` transposed): ``y.shape + reversed(x.shape)``.
    * ``"denominator"`` (denominator layout: by ``y`` transposed and by ``x``):
      ``x.shape + reversed(y.shape)``, the full transpose of the numerator layout.

    On the cases of the matrix-calculus layout table these are (``x``: scalar, vector ``n``
    or matrix ``p×q``; ``y``: scalar, vector ``m`` or matrix ``p×q``):

    =====================  ==================  =====================
    derivative             numerator           denominator
    =====================  ==================  =====================
    vector by scalar       ``(m,)``            ``(m,)``
    scalar by vector       ``(n,)``            ``(n,)``
    vector by vector       ``(m, n)``          ``(n, m)``
    matrix by scalar       ``(p, q)``          ``(q, p)``
    scalar by matrix       ``(q, p)``          ``(p, q)``
    =====================  ==================  =====================

    (a row vector ``1×n`` is a vector ``(n,)`` here). Higher-order tensors follow the same
    two rules: numerator ``y.shape + reversed(x.shape)``, denominator its transpose
    ``x.shape + reversed(y.shape)``; ``"jax"`` agrees with ``"numerator"`` whenever ``x``
    has at most one axis.

    A variable ``y`` does not contain (or another variable with the same name) is an error;
    with ``allow_unused=True`` the Jacobian is zeros.

    ``mode``: ``"reverse"`` pulls the identity of ``y`` back (:func:`jacrev`), ``"forward"``
    pushes the identity of ``x`` forward (:func:`~tensorcalc.differentiation.forward.jacfwd`);
    the same derivative either way. ``"auto"`` (the default) takes forward mode when ``x`` has
    fewer elements than ``y``, else reverse mode, and reverse mode when a shape has a named
    dimension (:func:`~tensorcalc.differentiation.forward.jacobian_mode`).

    >>> import numpy as np
    >>> from tensorcalc.ir import var, einsum
    >>> A = var("A", (2, 3)); x = var("x", (3,))
    >>> jacobian(einsum("ij,j->i", A, x), x).evaluate(A=np.ones((2, 3)), x=np.ones(3)).shape
    (2, 3)
    >>> X = var("X", (2, 3)); s = einsum("ij->", X)
    >>> [jacobian(s, X, layout=k).shape for k in ("jax", "numerator", "denominator")]
    [(2, 3), (3, 2), (2, 3)]
    """
    if layout not in LAYOUTS:
        raise TensorcalcError(f"layout must be one of {', '.join(map(repr, LAYOUTS))}, got {layout!r}")
    y = as_expr(y)
    order = topological([y])
    x = find_var(y, wrt, order, allow_unused)
    labels = LETTERS[: y.ndim]
    seed = Einsum([""], labels + labels, [Const(1.0)], dict(zip(labels, y.shape)))
    memo: dict = {}  # one simplification memo for the derivative and its layout
    if jacobian_mode(mode, y, x) == "forward":
        jac = simplify_memo(forward_jacobian(y, x), memo)  # its seed is symmetrized already
    else:
        jac = simplified_derivative(backprop(y, x, seed), x, memo)
    ly, lx = LETTERS[: y.ndim], LETTERS[y.ndim: y.ndim + x.ndim]
    axes = {"jax": ly + lx, "numerator": ly + lx[::-1], "denominator": lx + ly[::-1]}[layout]
    if axes != ly + lx:
        jac = simplify_memo(einsum(f"{ly}{lx}->{axes}", jac), memo)
    return remember_sources(bind_dims(jac, [y, x]), order)


def jacrev(y: Expr, wrt: Any, allow_unused: bool = False) -> Expr:
    """Jacobian ``dy/dx`` by reverse mode, shaped ``y.shape + x.shape`` (JAX's ``jacrev``):
    :func:`jacobian` with ``mode="reverse"``; :func:`~tensorcalc.differentiation.forward.jacfwd`
    is the same derivative by forward mode."""
    return jacobian(y, wrt, allow_unused=allow_unused, mode="reverse")


def hessian(f: Expr, wrt: Any, allow_unused: bool = False) -> Expr:
    """Hessian of the scalar ``f``: shape ``x.shape + x.shape`` (the Jacobian of the gradient).

    >>> import numpy as np
    >>> from tensorcalc.ir import var, einsum
    >>> x = var("x", (2,))
    >>> hessian(einsum("i,i->", x, x), x).evaluate(x=np.ones(2))
    array([[2., 0.],
           [0., 2.]])
    """
    f = as_expr(f)
    x = find_var(f, wrt, topological([f]), allow_unused)
    # The gradient may no longer contain x (f linear in x): its Jacobian is then zero.
    return jacobian(grad(f, x, allow_unused), x, allow_unused=True)


def hvp(f: Expr, wrt: Any, v: Any, allow_unused: bool = False, mode: str = "auto") -> Expr:
    """Hessian-vector product ``H v``; H is never formed.

    ``mode``: ``"reverse"``, reverse over reverse: the gradient of ``<grad f, v>``;
    ``"forward"``, forward over reverse: the JVP of ``grad f`` along ``v``
    (:func:`~tensorcalc.differentiation.forward.jvp`). The same value either way;
    ``"auto"`` (the default) builds both and keeps the one the planner prices lower
    (reverse over reverse when neither is cheaper).

    >>> import numpy as np
    >>> from tensorcalc.ir import var, einsum
    >>> x = var("x", (2,))
    >>> hvp(einsum("i,i,i->", x, x, x), x, np.array([1.0, 0.0])).evaluate(x=np.ones(2))
    array([6., 0.])
    """
    f = as_expr(f)
    x = find_var(f, wrt, topological([f]), allow_unused)
    v = as_expr(v)
    # v may give ints where x has names (an array for a symbolic x): equal, or name vs int.
    if len(v.shape) != len(x.shape) or any(
            a != b and isinstance(a, str) == isinstance(b, str) for a, b in zip(v.shape, x.shape)):
        raise TensorcalcError(f"hvp: v has shape {v.shape} but {x.name!r} has shape {x.shape}")
    check_mode(mode)
    g = grad(f, x, allow_unused)
    labels = LETTERS[: x.ndim]
    reverse = None if mode == "forward" else grad(einsum(f"{labels},{labels}->", g, v), x,
                                                  allow_unused=True)
    return cheaper(None if mode == "reverse" else jvp(g, x, v, allow_unused=True), reverse)
