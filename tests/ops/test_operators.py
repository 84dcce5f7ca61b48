"""Operators on expressions follow numpy: arithmetic on both sides, broadcasting, matmul,
indexing, stacking, numpy arrays on either side (numpy defers to the expression)."""

from __future__ import annotations

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc.evaluation import evaluate
from tensorcalc.ir import var
from tensorcalc.ops import functions as F
from tests.helpers import assert_array


@pytest.fixture
def vals(rng):
    return {"A": rng.standard_normal((4, 3)), "x": rng.standard_normal(3),
            "b": rng.standard_normal(4), "M": rng.standard_normal((3, 3)) + 3 * np.eye(3)}


def symbols():
    return var("A", ("m", "n")), var("x", ("n",)), var("b", ("m",)), var("M", ("n", "n"))


def test_operators_evaluate_like_numpy(vals) -> None:
    A, x, b, M = symbols()
    a0, x0, b0, m0 = vals["A"], vals["x"], vals["b"], vals["M"]
    cases = [
        (A @ x - b, a0 @ x0 - b0),
        (2.0 * x / 3.0 - x, 2 * x0 / 3 - x0),
        (x / (x * x + 1.0), x0 / (x0 * x0 + 1)),
        (-A.T, -a0.T),
        (1.0 - x ** 3, 1 - x0 ** 3),
        (x @ M @ x, x0 @ m0 @ x0),
        (A * x, a0 * x0),
        (x[1], x0[1]),
        (var("A", (4, 3))[1:3, ::2], a0[1:3, ::2]),
        (A[-1], a0[-1]),
        (A[..., 0], a0[..., 0]),
        (x[None, :], x0[None, :]),
        (F.stack([x, 2.0 * x], axis=1), np.stack([x0, 2 * x0], axis=1)),
        (F.stack([x[0], x[1] * x[2]]), np.array([x0[0], x0[1] * x0[2]])),
        (np.ones(3) * x + np.arange(3.0), x0 + np.arange(3.0)),
    ]
    for expr, expected in cases:
        got = evaluate(expr, vals)
        assert isinstance(got, np.ndarray) and got.dtype == np.float64
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_numpy_arrays_on_either_side_of_an_expression() -> None:
    """ndarray (op) Expr must build an expression (numpy must defer to the Expr)."""
    x = tc.var("x", (3,))
    M = np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0]])
    c = np.array([0.5, -2.0, 1.0])
    f = tc.sum(M @ x) + tc.sum(c * x) + tc.sum(c - x) + tc.sum(x / (c + 3.0))
    x0 = np.array([0.1, 0.2, 0.3])
    expected_value = np.sum(M @ x0) + np.sum(c * x0) + np.sum(c - x0) + np.sum(x0 / (c + 3.0))
    assert_array(f.evaluate(x=x0), expected_value, shape=(), rtol=1e-12)
    expected_grad = M.sum(axis=0) + c - 1.0 + 1.0 / (c + 3.0)
    assert_array(tc.grad(f, x).evaluate(x=x0), expected_grad, shape=(3,), rtol=1e-12)


def test_scalar_arithmetic_on_both_sides() -> None:
    x = tc.var("x", (3,))
    y = (1.0 - x) * 2.0 + 3.0 / (x + 4.0) - x / 2.0 + (+x) - (-x) ** 2
    x0 = np.array([0.2, -0.5, 1.5])
    expected_y = (1.0 - x0) * 2.0 + 3.0 / (x0 + 4.0) - x0 / 2.0 + x0 - x0 ** 2
    assert_array(y.evaluate(x=x0), expected_y, shape=(3,), rtol=1e-12)
    expected_j = np.diag(-2.0 - 3.0 / (x0 + 4.0) ** 2 - 0.5 + 1.0 - 2.0 * x0)
    assert_array(tc.jacobian(y, x).evaluate(x=x0), expected_j, shape=(3, 3), rtol=1e-12, atol=1e-14)
