"""``jacobian(..., layout=)`` as matrix calculus defines the layouts.

For ``y`` and ``x`` that are scalars, vectors (``m``, ``n``) or matrices (``p×q``):

=====================  ==================  =====================
derivative             numerator           denominator
=====================  ==================  =====================
vector by scalar       ``(m,)``            ``(m,)``
scalar by vector       ``(n,)``            ``(n,)``
vector by vector       ``(m, n)``          ``(n, m)``
matrix by scalar       ``(p, q)``          ``(q, p)``
scalar by matrix       ``(q, p)``          ``(p, q)``
=====================  ==================  =====================

(a row vector is a vector here). In general numerator is ``y.shape + reversed(x.shape)`` and
denominator its transpose ``x.shape + reversed(y.shape)``; ``"jax"`` (the default, as
before) is ``y.shape + x.shape``.
"""

from __future__ import annotations

import numpy as np
import pytest

import tensorcalc as tc

RNG = np.random.default_rng(7)
X0 = RNG.standard_normal((2, 3))       # p×q = 2×3
A0 = RNG.standard_normal((4, 3))
x0 = RNG.standard_normal(3)


def test_the_default_is_jax_and_unchanged() -> None:
    X = tc.var("X", (2, 3))
    s = tc.sum(X)
    assert tc.jacobian(s, X).shape == (2, 3)
    assert tc.jacobian(s, X, layout="jax").shape == (2, 3)
    r = tc.var("A", (4, 3)) @ tc.var("x", (3,))
    assert tc.jacobian(r, "A").shape == (4, 4, 3)


def test_scalar_by_matrix() -> None:
    # the notes: y = sum(X), X p×q; ∂y/∂X is q×p (numerator) and p×q (denominator), all ones
    X = tc.var("X", (2, 3))
    y = tc.sum(X)
    num = tc.jacobian(y, X, layout="numerator").evaluate(X=X0)
    den = tc.jacobian(y, X, layout="denominator").evaluate(X=X0)
    np.testing.assert_array_equal(num, np.ones((3, 2)))
    np.testing.assert_array_equal(den, np.ones((2, 3)))
    # a non-constant one: y = sum(X^2): numerator is (2X)ᵀ, denominator 2X
    y2 = tc.sum(X * X)
    np.testing.assert_allclose(tc.jacobian(y2, X, layout="numerator").evaluate(X=X0), 2 * X0.T)
    np.testing.assert_allclose(tc.jacobian(y2, X, layout="denominator").evaluate(X=X0), 2 * X0)


def test_vector_by_vector() -> None:
    # the notes: y = A x; ∂y/∂x is A (len(y)×len(x)) in numerator, Aᵀ in denominator
    A, x = tc.var("A", (4, 3)), tc.var("x", (3,))
    y = A @ x
    np.testing.assert_allclose(tc.jacobian(y, x, layout="numerator").evaluate(A=A0, x=x0), A0)
    np.testing.assert_allclose(tc.jacobian(y, x, layout="denominator").evaluate(A=A0, x=x0), A0.T)


def test_scalar_by_vector_and_vector_by_scalar() -> None:
    x, t = tc.var("x", (3,)), tc.var("t", ())
    f = tc.sum(x * x)
    for layout in ("numerator", "denominator"):
        np.testing.assert_allclose(tc.jacobian(f, x, layout=layout).evaluate(x=x0), 2 * x0)
        v = tc.stack([t, t * t, 3.0 * t])  # vector by scalar: (m,) both ways
        np.testing.assert_allclose(tc.jacobian(v, t, layout=layout).evaluate(t=2.0), [1.0, 4.0, 3.0])


def test_matrix_by_scalar() -> None:
    t = tc.var("t", ())
    Y = t * tc.var("B", (2, 3)) + t * t * tc.var("C", (2, 3))
    B0, C0 = RNG.standard_normal((2, 3)), RNG.standard_normal((2, 3))
    dY = B0 + 2 * 1.5 * C0
    np.testing.assert_allclose(tc.jacobian(Y, t, layout="numerator").evaluate(t=1.5, B=B0, C=C0), dY)
    np.testing.assert_allclose(tc.jacobian(Y, t, layout="denominator").evaluate(t=1.5, B=B0, C=C0), dY.T)


def test_higher_order_rule() -> None:
    # y: (4,) by A: (4, 3): numerator (4, 3, 4), denominator (4, 3, 4) with axes moved
    A, x = tc.var("A", (4, 3)), tc.var("x", (3,))
    y = tc.tanh(A @ x)
    jax = tc.jacobian(y, A).evaluate(A=A0, x=x0)                       # [i, u, v]
    num = tc.jacobian(y, A, layout="numerator").evaluate(A=A0, x=x0)   # [i, v, u]
    den = tc.jacobian(y, A, layout="denominator").evaluate(A=A0, x=x0)  # [u, v, i]
    np.testing.assert_allclose(num, jax.transpose(0, 2, 1))
    np.testing.assert_allclose(den, jax.transpose(1, 2, 0))
    # matrix by matrix: denominator is the full transpose of numerator
    X = tc.var("X", (2, 3))
    Y = tc.sin(X).T  # (3, 2)
    num = tc.jacobian(Y, X, layout="numerator").evaluate(X=X0)
    den = tc.jacobian(Y, X, layout="denominator").evaluate(X=X0)
    assert num.shape == (3, 2, 3, 2) and den.shape == (2, 3, 2, 3)
    np.testing.assert_allclose(den, num.transpose(3, 2, 1, 0))


def test_an_unknown_layout_names_the_choices() -> None:
    x = tc.var("x", (3,))
    with pytest.raises(tc.TensorcalcError, match="'jax', 'numerator', 'denominator'"):
        tc.jacobian(x, x, layout="output_input")
