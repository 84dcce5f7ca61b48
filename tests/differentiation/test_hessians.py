"""Second and third derivatives: Hessians, Hessian-vector products (never forming H),
derivatives of any order by composition."""

from __future__ import annotations

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc.differentiation import hessian, hvp, jacobian
from tensorcalc.errors import TensorcalcError
from tensorcalc.evaluation import evaluate
from tensorcalc.ir import topological, var
from tensorcalc.ops import functions as F
from tensorcalc.testing import check_grads
from tests.helpers import assert_array


def test_hessian_and_hvp_agree(rng) -> None:
    A = var("A", (5, 3))
    x = var("x", (3,))
    f = F.sum(F.exp(A @ x)) + F.sum(x ** 4)
    vals = {"A": rng.standard_normal((5, 3)) * 0.5, "x": rng.standard_normal(3)}
    v0 = rng.standard_normal(3)
    H = evaluate(hessian(f, x), vals)
    e = np.exp(vals["A"] @ vals["x"])
    expected = vals["A"].T @ (e[:, None] * vals["A"]) + np.diag(12 * vals["x"] ** 2)
    np.testing.assert_allclose(H, expected, rtol=1e-12)
    hv = hvp(f, x, v0)
    np.testing.assert_allclose(evaluate(hv, vals), H @ v0, rtol=1e-12)
    # H is never formed: no node of the HVP has shape x.shape + x.shape.
    assert all(n.shape != (3, 3) for n in topological([hv]))
    vsym = var("v", (3,))
    np.testing.assert_allclose(evaluate(hvp(f, x, vsym), {**vals, "v": v0}), H @ v0, rtol=1e-12)


def test_third_derivative_by_composition(rng) -> None:
    x = var("x", (2,))
    f = F.sum(x ** 4)
    T = jacobian(hessian(f, x), x)
    x0 = rng.standard_normal(2)
    expected = np.zeros((2, 2, 2))
    for i in range(2):
        expected[i, i, i] = 24 * x0[i]
    assert T.shape == (2, 2, 2)
    np.testing.assert_allclose(evaluate(T, {"x": x0}), expected, rtol=1e-12)


def test_hessian_of_linear_function_is_zero_and_hvp_accepts_arrays() -> None:
    A, x = tc.var("A", (2, 3)), tc.var("x", (3,))
    values = {"A": np.ones((2, 3)), "x": np.array([0.5, -1.0, 2.0])}
    H = tc.hessian(tc.sum(A @ x), x).evaluate(**values)
    assert_array(H, np.zeros((3, 3)), shape=(3, 3), rtol=0, atol=0)
    cubic = tc.sum(x ** 3)
    v0 = np.array([1.0, 2.0, -1.0])
    hv = tc.hvp(cubic, x, v0).evaluate(**values)
    assert_array(hv, 6.0 * values["x"] * v0, shape=(3,), rtol=1e-12)


def test_hvp_accepts_an_array_for_a_named_variable() -> None:
    # regression: hvp(f, S, np.eye(3)) with S: (n, n) raised "v has shape (3, 3)"
    S = tc.var("S", ("n", "n"), symmetric=True)
    gen = np.random.default_rng(20261125)
    A = gen.standard_normal((3, 3))
    S0 = A + A.T
    V = gen.standard_normal((3, 3))
    f = tc.sum(S @ S @ S)
    H = tc.hessian(f, S).evaluate(S=S0)
    hv = tc.hvp(f, S, V).evaluate(S=S0)
    assert_array(hv, np.einsum("ijkl,kl->ij", H, V), shape=(3, 3), rtol=1e-10, atol=1e-10)
    check_grads(f, S, 2, S=S0)
    with pytest.raises(TensorcalcError, match="hvp"):
        tc.hvp(f, S, np.ones(3))
