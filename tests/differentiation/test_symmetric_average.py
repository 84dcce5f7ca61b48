"""Derivatives with respect to a symmetric variable: the average over its two axes is taken of
the simplified derivative, its scale folded in (``d‖Sx‖²/dS = t + tᵀ``, ``t = S x xᵀ``: no
pass over the n×n result only to multiply by 2 and by 1/2), and transposes of matrices
known to be symmetric (``S``, ``S⁻¹``, ``f(S)`` elementwise) vanish (``d log|det S|/dS = S⁻¹``)."""

from __future__ import annotations

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc.display import matrix_text
from tensorcalc.ir import Add
from tensorcalc.simplify import simplify
from tensorcalc.simplify.cost import expr_cost
from tensorcalc.testing import check_grads

N = 4


def _sym(rng, n=N):
    a = rng.standard_normal((n, n))
    return a + a.T + 2 * n * np.eye(n)  # well conditioned, for the inverse


def test_gradient_of_squared_norm_is_t_plus_its_transpose(rng) -> None:
    S, x = tc.var("S", (N, N), symmetric=True), tc.var("x", (N,))
    g = tc.grad(tc.sum((S @ x) ** 2), S)
    # t + tᵀ, t = S x xᵀ computed once and unscaled: the 2 of the square and the 1/2 of the
    # average cancel instead of costing two passes over n²
    assert isinstance(g, Add) and g.coeffs == (1.0, 1.0)
    products = [t for t in g.children if len(t.children) == 3]
    transposes = [t for t in g.children if len(t.children) == 1]
    assert len(products) == 1 and len(transposes) == 1
    assert products[0].scale == 1.0 and transposes[0].children[0] is products[0]
    assert matrix_text(g) in ("S x xᵀ + (S x xᵀ)ᵀ", "(S x xᵀ)ᵀ + S x xᵀ")
    arrays = {"S": _sym(rng), "x": rng.standard_normal(N)}
    sx = arrays["S"] @ arrays["x"]
    np.testing.assert_allclose(g.evaluate(arrays), np.outer(sx, arrays["x"]) + np.outer(arrays["x"], sx),
                               rtol=1e-12)
    check_grads(tc.sum((S @ x) ** 2), S, 2, arrays)


def test_fewer_planned_operations_than_scaling_the_average(rng) -> None:
    n = 64
    S, x = tc.var("S", (n, n), symmetric=True), tc.var("x", (n,))
    g = tc.grad(tc.sum((S @ x) ** 2), S)
    t = tc.einsum("ik,j,k->ij", S, x, x)
    scaled = 0.5 * (2.0 * t + tc.einsum("ij->ji", 2.0 * t))  # the form before
    assert expr_cost([g]).flops < expr_cost([simplify(scaled)]).flops


def test_an_average_that_does_not_cancel_keeps_its_textbook_form() -> None:
    S, M = tc.var("S", (N, N), symmetric=True), tc.var("M", (N, N))
    g = tc.grad(tc.sum(S * M), S)
    assert str(g) == '0.5 * (M + einsum("ji->ij", M))'
    assert matrix_text(g) == "0.5 (M + Mᵀ)"
    x = tc.var("x", (N,))
    assert matrix_text(tc.grad(4.0 * tc.einsum("i,ij,j->", x, S, x), S)) == "2 (x xᵀ + (x xᵀ)ᵀ)"


def test_log_det_of_a_symmetric_matrix_has_the_inverse_as_gradient(rng) -> None:
    S = tc.var("S", (N, N), symmetric=True)
    f = tc.logdet(S)
    g = tc.grad(f, S)
    assert matrix_text(g) == "S⁻¹"
    s0 = _sym(rng)
    np.testing.assert_allclose(g.evaluate(S=s0), np.linalg.inv(s0), rtol=1e-12)
    check_grads(f, S, 2, S=s0)


@pytest.mark.parametrize("build", [
    lambda S: tc.inv(S),
    lambda S: tc.tanh(S),
    lambda S: tc.exp(tc.inv(S)),
    lambda S: S,
])
def test_transpose_of_a_symmetric_matrix_is_itself(build, rng) -> None:
    S = tc.var("S", (N, N), symmetric=True)
    e = build(S)
    assert simplify(tc.einsum("ij->ji", e)).uid == simplify(e).uid
    s0 = _sym(rng)
    np.testing.assert_allclose(tc.einsum("ij->ji", e).evaluate(S=s0), e.evaluate(S=s0).T,
                               rtol=1e-12)


def test_transpose_of_a_general_matrix_function_stays(rng) -> None:
    A = tc.var("A", (N, N))
    for e in (tc.inv(A), tc.tanh(A)):
        assert simplify(tc.einsum("ij->ji", e)).uid != simplify(e).uid
    T = tc.var("T", (N, N))
    # a symmetric argument somewhere inside is not enough: S T is not symmetric
    S = tc.var("S", (N, N), symmetric=True)
    prod = tc.tanh(S @ T)
    assert simplify(tc.einsum("ij->ji", prod)).uid != simplify(prod).uid


@pytest.mark.parametrize("layout", ["jax", "numerator", "denominator"])
@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_jacobians_by_a_symmetric_variable(layout, mode, rng) -> None:
    S, x = tc.var("S", (3, 3), symmetric=True), tc.var("x", (3,))
    y = tc.tanh(S @ x)
    J = tc.jacobian(y, S, layout=layout, mode=mode)
    arrays = {"S": _sym(rng, 3), "x": rng.standard_normal(3)}
    value = J.evaluate(arrays)
    # each output's derivative is the symmetric part of (1 - y_i²) e_i xᵀ
    s, x0 = arrays["S"], arrays["x"]
    d = 1 - np.tanh(s @ x0) ** 2
    full = np.einsum("i,ik,l->ikl", d, np.eye(3), x0)
    expected = 0.5 * (full + full.transpose(0, 2, 1))
    if layout == "numerator":
        expected = expected.transpose(0, 2, 1)
    elif layout == "denominator":
        expected = expected.transpose(1, 2, 0)
    np.testing.assert_allclose(value, expected, rtol=1e-12, atol=1e-15)


def test_hvp_and_hessian_by_a_symmetric_variable(rng) -> None:
    S, x, V = tc.var("S", (3, 3), symmetric=True), tc.var("x", (3,)), tc.var("V", (3, 3))
    f = tc.sum(tc.tanh(S @ x) ** 2)
    arrays = {"S": _sym(rng, 3), "x": rng.standard_normal(3)}
    v0 = rng.standard_normal((3, 3))
    arrays["V"] = v0 + v0.T
    H = tc.hessian(f, S).evaluate(arrays)
    np.testing.assert_allclose(H, H.transpose(1, 0, 2, 3), atol=1e-12)
    np.testing.assert_allclose(H, H.transpose(0, 1, 3, 2), atol=1e-12)
    for mode in ("forward", "reverse"):
        hv = tc.hvp(f, S, V, mode=mode).evaluate(arrays)
        np.testing.assert_allclose(hv, np.einsum("ijkl,kl->ij", H, arrays["V"]), rtol=1e-9,
                                   atol=1e-12)
    check_grads(f, S, 3, arrays)
