"""Differentiating by a variable the expression does not hold is a mistake, not a zero.

``grad``/``jacobian``/``hessian``/``hvp`` refuse a variable missing from the expression, and
a different variable with the same name (another shape, or a symmetric twin); with
``allow_unused=True`` the derivative is zeros shaped by the variable given. A derivative
stays a function of the variables of what was differentiated, so differentiating it again
(a Hessian by hand, a mixed partial) is not an unused variable.
"""

from __future__ import annotations

import numpy as np
import pytest

import tensorcalc as tc

X3 = np.array([1.0, 2.0, 3.0])


def _f():
    x = tc.var("x", (3,))
    return x, tc.sum(tc.sin(x))


@pytest.mark.parametrize("derivative", ["grad", "jacobian", "hessian", "hvp"])
def test_an_absent_variable_is_an_error(derivative: str) -> None:
    _, f = _f()
    q = tc.var("q", (2,))
    call = {"grad": lambda **kw: tc.grad(f, q, **kw),
            "jacobian": lambda **kw: tc.jacobian(f, q, **kw),
            "hessian": lambda **kw: tc.hessian(f, q, **kw),
            "hvp": lambda **kw: tc.hvp(f, q, np.ones(2), **kw)}[derivative]
    with pytest.raises(tc.TensorcalcError, match=r"does not contain the variable 'q'.*allow_unused"):
        call()
    shape = {"grad": (2,), "jacobian": (2,), "hessian": (2, 2), "hvp": (2,)}[derivative]
    zeros = call(allow_unused=True)
    assert zeros.shape == shape
    value = zeros.evaluate(x=X3, q=np.ones(2))
    assert value.shape == shape and not np.any(value)


@pytest.mark.parametrize("derivative", ["grad", "jacobian", "hessian"])
def test_a_same_named_variable_of_another_shape_is_an_error(derivative: str) -> None:
    _, f = _f()
    x4 = tc.var("x", (4,))
    fn = getattr(tc, derivative)
    with pytest.raises(tc.TensorcalcError, match=r"'x' \(shape \(4,\)\).*different variable \(shape \(3,\)\)"):
        fn(f, x4)
    zeros = fn(f, x4, allow_unused=True)
    # zeros shaped by the variable given, not by the expression's namesake
    expected = {"grad": (4,), "jacobian": (4,), "hessian": (4, 4)}[derivative]
    assert zeros.shape == expected
    assert zeros.evaluate(x=X3).shape == expected


def test_a_symmetric_twin_is_an_error() -> None:
    S = tc.var("S", (3, 3), symmetric=True)
    plain = tc.var("S", (3, 3))
    f = tc.trace(S @ S)
    with pytest.raises(tc.TensorcalcError, match=r"'S' \(shape \(3, 3\)\).*different variable \(shape \(3, 3\), symmetric\)"):
        tc.grad(f, plain)
    assert tc.grad(f, plain, allow_unused=True).evaluate(S=np.eye(3)).shape == (3, 3)
    np.testing.assert_allclose(tc.grad(f, S).evaluate(S=np.eye(3)), 2 * np.eye(3))


def test_a_name_that_is_absent_or_ambiguous_is_an_error() -> None:
    _, f = _f()
    with pytest.raises(tc.TensorcalcError, match="no variable 'z'"):
        tc.grad(f, "z")
    g = f + tc.sum(tc.var("x", (4,)))
    with pytest.raises(tc.TensorcalcError, match="2 different variables named 'x'"):
        tc.grad(g, "x")


def test_the_variable_itself_and_its_name_still_work() -> None:
    x, f = _f()
    np.testing.assert_allclose(tc.grad(f, x).evaluate(x=X3), np.cos(X3))
    np.testing.assert_allclose(tc.grad(f, "x").evaluate(x=X3), np.cos(X3))
    np.testing.assert_allclose(tc.hessian(f, x).evaluate(x=X3), np.diag(-np.sin(X3)))
    np.testing.assert_allclose(tc.hvp(f, x, np.ones(3)).evaluate(x=X3), -np.sin(X3))


def test_a_derivative_can_be_differentiated_again_by_its_variables() -> None:
    # f is linear in x: its gradient no longer shows x, yet is a function of x (constant)
    A, x, y = tc.var("A", (2, 3)), tc.var("x", (3,)), tc.var("y", (2,))
    f = tc.sum(A @ x) + tc.sum(y)
    g = tc.grad(f, x)
    assert tc.jacobian(g, x).evaluate(A=np.ones((2, 3))).shape == (3, 3)
    assert not np.any(tc.hessian(f, x).evaluate(A=np.ones((2, 3)), x=X3, y=np.ones(2)))
    # a mixed partial by a variable of f that the gradient does not hold: zero, no error
    mixed = tc.jacobian(g, y)
    assert mixed.shape == (3, 2) and not np.any(mixed.evaluate(A=np.ones((2, 3)), y=np.ones(2)))
    # but a variable f never had is still an error
    with pytest.raises(tc.TensorcalcError, match="does not contain the variable 'q'"):
        tc.jacobian(g, tc.var("q", (2,)))


def test_check_grads_of_high_orders_still_work() -> None:
    x = tc.var("x", (2,))
    tc.check_grads(tc.sum(x * x), x, 4, x=np.array([1.0, 2.0]))  # orders 3 and 4 are zero
