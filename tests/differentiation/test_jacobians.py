"""Jacobians: shapes and layouts (numerator: ``y.shape + x.shape``; denominator: the other
way), the chain rule, scalars, stacking. Closed forms, and the Jacobian the gradient oracle
vouches for (``tests.helpers.oracle_jacobian``)."""

from __future__ import annotations

import numpy as np

import tensorcalc as tc
from tensorcalc.differentiation import jacobian
from tensorcalc.evaluation import evaluate
from tensorcalc.ir import var
from tensorcalc.ops import functions as F
from tests.helpers import assert_array, oracle_hessian, oracle_jacobian


def test_jacobian_layouts_and_shapes(rng) -> None:
    A = var("A", (4, 3))
    x = var("x", (3,))
    y = F.tanh(A @ x)
    a0, x0 = rng.standard_normal((4, 3)), rng.standard_normal(3)
    values = {"A": a0, "x": x0}
    J = jacobian(y, x)
    Jn = jacobian(y, x, layout="numerator")
    Jd = jacobian(y, x, layout="denominator")
    assert J.shape == Jn.shape == (4, 3) and Jd.shape == (3, 4)
    expected = (1 - np.tanh(a0 @ x0) ** 2)[:, None] * a0
    np.testing.assert_allclose(evaluate(J, values), expected, rtol=1e-12)
    np.testing.assert_allclose(evaluate(Jn, values), expected, rtol=1e-12)
    np.testing.assert_allclose(evaluate(Jd, values), expected.T, rtol=1e-12)
    assert_array(evaluate(J, values), oracle_jacobian(y, x, values), shape=(4, 3), rtol=1e-10, atol=1e-12)
    assert_array(evaluate(Jd, values), oracle_jacobian(y, x, values, layout="denominator"),
                 shape=(3, 4), rtol=1e-10, atol=1e-12)
    JA = jacobian(y, A)
    assert JA.shape == (4, 4, 3)
    s = 1 - np.tanh(a0 @ x0) ** 2
    np.testing.assert_allclose(evaluate(JA, values), np.einsum("i,ij,k->ijk", s, np.eye(4), x0), rtol=1e-12)


def test_jacobian_of_scalar_is_gradient_shaped(rng) -> None:
    M = var("M", (2, 3))
    s = F.sum(M * M)
    m0 = rng.standard_normal((2, 3))
    np.testing.assert_allclose(evaluate(jacobian(s, M), {"M": m0}), 2 * m0)


def test_jacobian_layouts_for_matrix_inputs_and_outputs() -> None:
    M = tc.var("M", ("m", "n"))
    M0 = np.random.default_rng(7).standard_normal((3, 4))
    y = tc.tanh(M.T @ M)  # (n, n) output of an (m, n) input
    assert_array(y.evaluate(M=M0), np.tanh(M0.T @ M0), shape=(4, 4), rtol=1e-12)
    ref = oracle_jacobian(y, M, {"M": M0})
    assert_array(tc.jacobian(y, M).evaluate(M=M0), ref, shape=(4, 4, 3, 4), rtol=1e-10, atol=1e-12)
    assert_array(tc.jacobian(y, M, layout="denominator").evaluate(M=M0),
                 np.moveaxis(ref, (0, 1), (2, 3)), shape=(3, 4, 4, 4), rtol=1e-10, atol=1e-12)
    s = tc.sum(M ** 3)  # scalar wrt matrix: shaped like the matrix in both layouts
    assert_array(tc.jacobian(s, M).evaluate(M=M0), 3 * M0 ** 2, shape=(3, 4))
    assert_array(tc.jacobian(s, M, layout="denominator").evaluate(M=M0), 3 * M0 ** 2, shape=(3, 4))
    x = tc.var("x", ())  # vector wrt 0-d: shaped like the vector
    assert_array(tc.jacobian(tc.stack([x, x ** 2]), x).evaluate(x=1.5), [1.0, 3.0], shape=(2,))


def test_chain_rule_jacobian_composition(rng) -> None:
    x = var("x", (3,))
    A = var("A", (2, 3))
    inner = A @ x
    z = var("z", (2,))
    outer = F.sin(z) * z
    composite = F.sin(inner) * inner
    vals = {"x": rng.standard_normal(3), "A": rng.standard_normal((2, 3))}
    z0 = vals["A"] @ vals["x"]
    jf = evaluate(jacobian(outer, z), {"z": z0})
    jg = evaluate(jacobian(inner, x), vals)
    np.testing.assert_allclose(evaluate(jacobian(composite, x), vals), jf @ jg, rtol=1e-12)


def test_stack_along_axis_one_jacobian() -> None:
    x = tc.var("x", (2,))
    F_ = tc.stack([tc.sin(x), x * x, 3.0 * x], axis=1)
    x0 = np.array([0.3, -0.9])
    expected = np.stack([np.sin(x0), x0 * x0, 3.0 * x0], axis=1)
    assert_array(F_.evaluate(x=x0), expected, shape=(2, 3), rtol=1e-12)
    assert_array(tc.jacobian(F_, x).evaluate(x=x0), oracle_jacobian(F_, x, {"x": x0}), shape=(2, 3, 2),
                 rtol=1e-10, atol=1e-12)


def test_jacobian_of_scalar_wrt_scalar() -> None:
    t = tc.var("t", ())
    y = tc.exp(tc.sin(t)) * t
    t0 = np.array(0.4)
    expected = np.exp(np.sin(0.4)) * (np.cos(0.4) * 0.4 + 1.0)
    assert_array(tc.jacobian(y, t).evaluate(t=t0), expected, shape=(), rtol=1e-12)
    assert_array(tc.hessian(y, t).evaluate(t=t0), oracle_hessian(y, t, {"t": t0}), shape=(),
                 rtol=1e-10, atol=1e-12)
