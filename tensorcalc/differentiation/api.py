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
from ..simplify import bind_dims, simplify_only
from .reverse import symmetrize, backprop, find_var


def grad(f: Expr, wrt: Any) -> Expr:
    """Gradient of the scalar ``f`` with respect to a variable (or its name); shaped like it.

    Complex variables follow JAX's convention (``jax.grad(..., holomorphic=True)``): no
    conjugation, so for a holomorphic ``f`` the result is the complex derivative ``df/dx``.
    ``abs``, ``sign``, ``relu`` and ``logdet`` (``log |det|``) are not holomorphic; their
    rules are the real ones.

    >>> import numpy as np
    >>> from tensorcalc.ir import var
    >>> x = var("x", (2,))
    >>> grad((x * x).__getitem__(0), "x").evaluate(x=np.array([3.0, 1.0]))
    array([6., 0.])
    """
    f = as_expr(f)
    if f.ndim != 0:
        raise TensorcalcError(f"grad needs a scalar expression, got shape {f.shape}; use jacobian")
    x = find_var(f, wrt, topological([f]))
    return bind_dims(simplify_only(symmetrize(backprop(f, x, Const(1.0)), x)), [f, x])


def jacobian(y: Expr, wrt: Any, layout: str = "numerator") -> Expr:
    """Jacobian ``dy/dx``: shape ``y.shape + x.shape`` ("numerator"), or ``x.shape + y.shape``.

    >>> import numpy as np
    >>> from tensorcalc.ir import var, einsum
    >>> A = var("A", (2, 3)); x = var("x", (3,))
    >>> jacobian(einsum("ij,j->i", A, x), x).evaluate(A=np.ones((2, 3)), x=np.ones(3)).shape
    (2, 3)
    """
    if layout not in ("numerator", "denominator"):
        raise TensorcalcError(f"layout must be 'numerator' or 'denominator', got {layout!r}")
    y = as_expr(y)
    x = find_var(y, wrt, topological([y]))
    labels = LETTERS[: y.ndim]
    seed = Einsum([""], labels + labels, [Const(1.0)], dict(zip(labels, y.shape)))
    jac = symmetrize(backprop(y, x, seed), x)
    if layout == "denominator":
        ly, lx = LETTERS[: y.ndim], LETTERS[y.ndim: y.ndim + x.ndim]
        jac = einsum(f"{ly}{lx}->{lx}{ly}", jac)
    return bind_dims(simplify_only(jac), [y, x])


def hessian(f: Expr, wrt: Any) -> Expr:
    """Hessian of the scalar ``f``: shape ``x.shape + x.shape``.

    >>> import numpy as np
    >>> from tensorcalc.ir import var, einsum
    >>> x = var("x", (2,))
    >>> hessian(einsum("i,i->", x, x), x).evaluate(x=np.ones(2))
    array([[2., 0.],
           [0., 2.]])
    """
    f = as_expr(f)
    x = find_var(f, wrt, topological([f]))
    return jacobian(grad(f, x), x)


def hvp(f: Expr, wrt: Any, v: Any) -> Expr:
    """Hessian-vector product ``H v`` as the gradient of ``<grad f, v>``; H is never formed.

    >>> import numpy as np
    >>> from tensorcalc.ir import var, einsum
    >>> x = var("x", (2,))
    >>> hvp(einsum("i,i,i->", x, x, x), x, np.array([1.0, 0.0])).evaluate(x=np.ones(2))
    array([6., 0.])
    """
    f = as_expr(f)
    x = find_var(f, wrt, topological([f]))
    v = as_expr(v)
    # v may give ints where x has names (an array for a symbolic x): equal, or name vs int.
    if len(v.shape) != len(x.shape) or any(
            a != b and isinstance(a, str) == isinstance(b, str) for a, b in zip(v.shape, x.shape)):
        raise TensorcalcError(f"hvp: v has shape {v.shape} but {x.name!r} has shape {x.shape}")
    g = grad(f, x)
    labels = LETTERS[: x.ndim]
    return grad(einsum(f"{labels},{labels}->", g, v), x)
