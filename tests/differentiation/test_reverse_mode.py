"""Reverse mode and the public derivative functions: what ``grad`` accepts and refuses,
nodes with zero derivative, deep chains."""

from __future__ import annotations

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc.differentiation import grad
from tensorcalc.errors import TensorcalcError
from tensorcalc.evaluation import evaluate
from tensorcalc.ir import topological, var
from tensorcalc.ops import functions as F
from tests.helpers import assert_array

X3 = var("x", (3,))

# (call, error class, regex the message must match)
DERIVATIVE_ERRORS = {
    "grad of a non-scalar": (lambda: grad(X3 * 2, X3), TensorcalcError, "scalar"),
    "grad wrt an unknown name": (lambda: grad(F.sum(X3), "z"), TensorcalcError, "no variable 'z'"),
    "grad wrt an int": (lambda: grad(F.sum(X3), 3), TypeError, None),
    "grad wrt a non-variable": (lambda: tc.grad(tc.sum(X3 * X3), X3 * 2.0), TypeError, None),
    "unknown jacobian layout": (lambda: tc.jacobian(X3 * 2.0, X3, layout="sideways"),
                                TensorcalcError, "layout.*'sideways'"),
    "hvp vector of another shape": (lambda: tc.hvp(tc.sum(X3 ** 3), X3, np.ones(2)),
                                    TensorcalcError, "hvp"),
}


@pytest.mark.parametrize("name", list(DERIVATIVE_ERRORS))
def test_derivative_errors(name: str) -> None:
    call, error, match = DERIVATIVE_ERRORS[name]
    with pytest.raises(error, match=match):
        call()


def test_grad_wrt_an_absent_variable_is_zero_when_allowed() -> None:
    x, other = var("x", (3,)), var("q", (2,))
    g = grad(F.sum(x), other, allow_unused=True)
    np.testing.assert_array_equal(evaluate(g, {"x": np.ones(3), "q": np.ones(2)}), np.zeros(2))


def test_grad_by_name_matches_var(rng) -> None:
    x = var("x", (3,))
    f = F.sum(F.sin(x))
    x0 = rng.standard_normal(3)
    np.testing.assert_allclose(evaluate(grad(f, "x"), {"x": x0}), np.cos(x0), rtol=1e-14)


def test_derivative_through_zero_derivative_nodes() -> None:
    # regression: KeyError in backprop when a node's only consumers have zero derivative
    # (sign, relu') -- grad(sum(sign(tanh(x)) * x), x) and hessian(sum(relu(x*x)), x).
    x = tc.var("x", (3,))
    x0 = np.array([1.0, -2.0, 3.0])
    assert_array(tc.grad(tc.sum(tc.sign(tc.tanh(x)) * x), x).evaluate(x=x0), np.sign(x0), shape=(3,))
    assert_array(tc.grad(tc.sum(tc.sign(tc.tanh(x))), x).evaluate(x=x0), np.zeros(3), shape=(3,))
    assert_array(tc.hessian(tc.sum(tc.relu(x * x)), x).evaluate(x=x0), 2 * np.eye(3), shape=(3, 3))
    assert_array(tc.hessian(tc.sum(tc.relu(x) * x0), x).evaluate(x=x0), np.zeros((3, 3)), shape=(3, 3))
    assert_array(tc.hessian(tc.sum(tc.abs(x) * x), x).evaluate(x=x0), 2 * np.diag(np.sign(x0)),
                 shape=(3, 3))


def test_gradient_of_a_deep_chain() -> None:
    # regression: simplify recursed once per level (RecursionError at depth 2500) and
    # flattened the whole chain into one product of thousands of factors (quadratic time:
    # 95 s for the gradient of a 3000-step chain, 10 s to evaluate it)
    x = tc.var("x", (3,))
    depth = 2500
    y = x
    for _ in range(depth):
        y = tc.tanh(y) * 1.01
    g = tc.grad(tc.sum(y), x)
    x0 = np.array([0.5, -0.2, 0.1])
    value, deriv = x0.copy(), np.ones(3)
    for _ in range(depth):  # forward-mode reference in numpy (the chain rule, exactly)
        t = np.tanh(value)
        deriv *= 1.01 * (1.0 - t * t)
        value = 1.01 * t
    assert_array(g.evaluate(x=x0), deriv, shape=(3,), rtol=1e-9, atol=0)
    widest = max(len(n.children) for n in topological([g]))
    assert widest <= 32, f"an einsum with {widest} operands"
