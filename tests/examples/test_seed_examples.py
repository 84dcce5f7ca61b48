"""The worked examples of the lecture notes, sections B-H, with exact values.

Every derivative is checked against a closed form written here in numpy and, where the closed
form could share a mistake with the implementation, by the gradient oracle
(``tensorcalc.testing.check_grads``; ``tests.helpers.oracle_*`` build on it).

Section A (einsum gradients at the string level) is tests/contraction/test_grad_subscripts.py
and tests/contraction/test_einsum_vjp.py; the Jacobian layouts of tanh(A x) (section D) are
tests/differentiation/test_jacobians.py; the determinant, log-determinant and inverse of
section F are tests/differentiation/test_matrix_calculus.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc.testing import check_grads
from tests.helpers import assert_array, oracle_hessian, oracle_jacobian

EXACT = dict(rtol=1e-12, atol=1e-12)  # closed forms that differ from the result by rounding only


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------------------------
# B. The backward pass of a tiny network, exact numbers
# --------------------------------------------------------------------------------------------

X_B = np.array([[0.0, 1.0], [2.0, 3.0]])
W_B = np.ones((2, 2))


def test_tiny_network_loss_and_gradients() -> None:
    X = tc.var("X", (2, 2))
    W = tc.var("W", (2, 2))
    L = tc.sum((X @ W) ** 2)
    values = {"X": X_B, "W": W_B}
    assert_array(L.evaluate(**values), 52.0, shape=(), rtol=0, atol=1e-12)
    assert_array(tc.grad(L, X).evaluate(**values), [[4, 4], [20, 20]], rtol=0, atol=1e-12)
    assert_array(tc.grad(L, W).evaluate(**values), [[20, 20], [32, 32]], rtol=0, atol=1e-12)


def test_tiny_network_intermediate_gradients() -> None:
    F = tc.var("F", (2, 2))
    Y = tc.var("Y", (2, 2))
    y_value = X_B @ W_B
    dL_df = tc.grad(tc.sum(F), F).evaluate(F=y_value ** 2)
    assert_array(dL_df, np.ones((2, 2)), rtol=0, atol=0)
    dL_dy = tc.grad(tc.sum(Y ** 2), Y).evaluate(Y=y_value)
    assert_array(dL_dy, [[2, 2], [10, 10]], rtol=0, atol=1e-12)


def test_tiny_network_einsum_spelling_and_vjp() -> None:
    X = tc.var("X", (2, 2))
    W = tc.var("W", (2, 2))
    L = tc.sum(tc.einsum("ij,jk->ik", X, W) ** 2)
    assert_array(tc.evaluate(L, {"X": X_B, "W": W_B}), 52.0, shape=(), rtol=0, atol=1e-12)
    gx, gw = tc.einsum_vjp("ij,jk->ik", X_B, W_B, grad=np.array([[2.0, 2.0], [10.0, 10.0]]))
    assert_array(gx, [[4, 4], [20, 20]], rtol=0, atol=1e-12)
    assert_array(gw, [[20, 20], [32, 32]], rtol=0, atol=1e-12)


# --------------------------------------------------------------------------------------------
# C. Affine layer Y = X W + b
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("spelling", ["matmul", "einsum"])
def test_affine_layer_gradients(spelling: str) -> None:
    n, d, m = 5, 3, 4
    var = tc.var
    X, W, b, G = var("X", (n, d)), var("W", (d, m)), var("b", (m,)), var("G", (n, m))
    XW = X @ W if spelling == "matmul" else tc.einsum("nd,dm->nm", X, W)
    L = tc.sum(G * (XW + b))
    gen = rng(6)
    values = {"X": gen.standard_normal((n, d)), "W": gen.standard_normal((d, m)),
              "b": gen.standard_normal(m), "G": gen.standard_normal((n, m))}
    grad = tc.grad
    assert_array(grad(L, W).evaluate(**values), values["X"].T @ values["G"], **EXACT)
    assert_array(grad(L, X).evaluate(**values), values["G"] @ values["W"].T, **EXACT)
    assert_array(grad(L, b).evaluate(**values), values["G"].sum(axis=0), shape=(m,), **EXACT)


# --------------------------------------------------------------------------------------------
# D. Full derivatives: Jacobians, layouts, chain rule
# --------------------------------------------------------------------------------------------

def test_norm_of_Ax_gradient_and_hessian() -> None:
    var = tc.var
    A, x = var("A", (4, 3)), var("x", (3,))
    f = tc.sum(tc.einsum("ij,j->i", A, x) ** 2)
    gen = rng(7)
    values = {"A": gen.standard_normal((4, 3)), "x": gen.standard_normal(3)}
    AtA = values["A"].T @ values["A"]
    assert_array(tc.grad(f, x).evaluate(**values), 2 * AtA @ values["x"], **EXACT)
    assert_array(tc.hessian(f, x).evaluate(**values), 2 * AtA, shape=(3, 3), **EXACT)


def _sigmoid_layer(m: int = 3, n: int = 4):
    var = tc.var
    W, x, b = var("W", (m, n)), var("x", (n,)), var("b", (m,))
    h = tc.sigmoid(tc.einsum("jk,k->j", W, x) + b)
    gen = rng(8)
    values = {"W": gen.standard_normal((m, n)), "x": gen.standard_normal(n), "b": gen.standard_normal(m)}
    y = values["W"] @ values["x"] + values["b"]
    dsig = sigmoid(y) * (1 - sigmoid(y))
    return (W, x, b, h), values, dsig


def test_sigmoid_layer_jacobian_wrt_W() -> None:
    (W, x, b, h), values, dsig = _sigmoid_layer()
    m, n = values["W"].shape
    expected = np.einsum("i,ij,k->ijk", dsig, np.eye(m), values["x"])
    assert_array(tc.jacobian(h, W).evaluate(**values), expected, shape=(m, m, n), **EXACT)


def test_sigmoid_layer_jacobian_wrt_x_and_b() -> None:
    (W, x, b, h), values, dsig = _sigmoid_layer()
    m, n = values["W"].shape
    jacobian = tc.jacobian
    assert_array(jacobian(h, x).evaluate(**values), np.diag(dsig) @ values["W"], shape=(m, n), **EXACT)
    assert_array(jacobian(h, b).evaluate(**values), np.diag(dsig), shape=(m, m), **EXACT)


@pytest.mark.parametrize("spelling", ["trace", "einsum"])
def test_trace_gradient_is_identity(spelling: str) -> None:
    W = tc.var("W", (4, 4))
    L = tc.trace(W) if spelling == "trace" else tc.einsum("ii->", W)
    W0 = rng(9).standard_normal((4, 4))
    assert_array(L.evaluate(W=W0), np.trace(W0), shape=(), **EXACT)
    assert_array(tc.grad(L, W).evaluate(W=W0), np.eye(4), rtol=0, atol=1e-15)
    assert_array(tc.jacobian(L, W).evaluate(W=W0), np.eye(4), rtol=0, atol=1e-15)


def test_matmul_jacobian_and_contracted_gradient() -> None:
    var = tc.var
    A, B, G = var("A", (2, 3)), var("B", (3, 4)), var("G", (2, 4))
    gen = rng(10)
    values = {"A": gen.standard_normal((2, 3)), "B": gen.standard_normal((3, 4)),
              "G": gen.standard_normal((2, 4))}
    C = A @ B
    expected = np.einsum("ik,lj->ijkl", np.eye(2), values["B"])
    assert_array(tc.jacobian(C, A).evaluate(**values), expected, shape=(2, 4, 2, 3), **EXACT)
    contracted = tc.grad(tc.sum(G * C), A).evaluate(**values)
    assert_array(contracted, values["G"] @ values["B"].T, **EXACT)


def test_outer_product_of_two_maps_jacobian() -> None:
    var = tc.var
    A, B, x = var("A", (2, 3)), var("B", (4, 3)), var("x", (3,))
    Y = tc.einsum("i,j->ij", A @ x, B @ x)
    gen = rng(11)
    values = {"A": gen.standard_normal((2, 3)), "B": gen.standard_normal((4, 3)), "x": gen.standard_normal(3)}
    a, bm, x0 = values["A"], values["B"], values["x"]
    expected = np.einsum("iu,j->iju", a, bm @ x0) + np.einsum("i,ju->iju", a @ x0, bm)
    assert_array(Y.evaluate(**values), np.outer(a @ x0, bm @ x0), shape=(2, 4), **EXACT)
    assert_array(tc.jacobian(Y, x).evaluate(**values), expected, shape=(2, 4, 3), **EXACT)


def test_chain_rule_jacobian_of_composite() -> None:
    var = tc.var
    W, A, x, u = var("W", (4, 3)), var("A", (2, 4)), var("x", (3,)), var("u", (4,))

    def outer_fn(z):
        return tc.einsum("ij,j->i", A, tc.sin(z))

    inner = tc.tanh(W @ x)
    gen = rng(12)
    values = {"W": gen.standard_normal((4, 3)), "A": gen.standard_normal((2, 4)), "x": gen.standard_normal(3)}
    jacobian = tc.jacobian
    inner_value = inner.evaluate(**values)
    j_outer = jacobian(outer_fn(u), u).evaluate(u=inner_value, **values)
    j_inner = jacobian(inner, x).evaluate(**values)
    j_composite = jacobian(outer_fn(inner), x).evaluate(**values)
    assert_array(outer_fn(inner).evaluate(**values),
                 values["A"] @ np.sin(np.tanh(values["W"] @ values["x"])), shape=(2,), rtol=1e-12)
    assert_array(j_composite, j_outer @ j_inner, shape=(2, 3), **EXACT)
    assert_array(j_composite, oracle_jacobian(outer_fn(inner), x, values), **EXACT)


def test_jacobian_layouts_scalar_wrt_matrix() -> None:
    M = tc.var("M", (2, 5))
    s = tc.sum(tc.sin(M))
    M0 = rng(14).standard_normal((2, 5))
    assert_array(tc.jacobian(s, M).evaluate(M=M0), np.cos(M0), shape=(2, 5), **EXACT)
    assert_array(tc.grad(s, M).evaluate(M=M0), np.cos(M0), shape=(2, 5), **EXACT)


def test_jacobian_layouts_with_named_dimensions() -> None:
    """JAX's layout is r.shape + A.shape; the notes' numerator layout reverses A's axes
    (r.shape + A.shape[::-1]) and the denominator layout is its transpose (A.shape + r.shape)."""
    var = tc.var
    x, A, b = var("x", ("n",)), var("A", ("m", "n")), var("b", ("m",))
    r = tc.einsum("ij,j->i", A, x) - b
    gen = rng(15)
    values = {"A": gen.standard_normal((4, 3)), "x": gen.standard_normal(3), "b": gen.standard_normal(4)}
    expected = np.einsum("iu,v->iuv", np.eye(4), values["x"])  # dr_i/dA_uv = delta_iu x_v
    jacobian = tc.jacobian
    assert_array(jacobian(r, A, layout="jax").evaluate(**values), expected, shape=(4, 4, 3), **EXACT)
    assert_array(jacobian(r, A).evaluate(**values), expected, shape=(4, 4, 3), **EXACT)
    assert_array(jacobian(r, A, layout="numerator").evaluate(**values),
                 np.transpose(expected, (0, 2, 1)), shape=(4, 3, 4), **EXACT)
    assert_array(jacobian(r, A, layout="denominator").evaluate(**values),
                 np.transpose(expected, (1, 2, 0)), shape=(4, 3, 4), **EXACT)
    f = tc.sum(r ** 2)
    residual = values["A"] @ values["x"] - values["b"]
    assert_array(tc.grad(f, x).evaluate(**values), 2 * values["A"].T @ residual, shape=(3,), **EXACT)
    assert_array(tc.hessian(f, x).evaluate(**values), 2 * values["A"].T @ values["A"], shape=(3, 3), **EXACT)


# --------------------------------------------------------------------------------------------
# E. Scalar chain with a regulariser
# --------------------------------------------------------------------------------------------

def test_univariate_logistic_least_squares() -> None:
    var = tc.var
    w, x, b, t, lam = (var(name, ()) for name in ("w", "x", "b", "t", "lam"))
    z = w * x + b
    y = tc.sigmoid(z)
    total = 0.5 * (y - t) ** 2 + lam * (0.5 * w ** 2)
    values = {"w": np.array(0.7), "x": np.array(-1.3), "b": np.array(0.2), "t": np.array(1.0),
              "lam": np.array(0.1)}
    z0 = 0.7 * -1.3 + 0.2
    y0 = sigmoid(z0)
    dsig = y0 * (1 - y0)
    grad = tc.grad
    tight = dict(shape=(), rtol=1e-12, atol=1e-14)
    assert_array(total.evaluate(**values), 0.5 * (y0 - 1.0) ** 2 + 0.1 * 0.5 * 0.49, **tight)
    assert_array(grad(total, w).evaluate(**values), (y0 - 1.0) * dsig * -1.3 + 0.1 * 0.7, **tight)
    assert_array(grad(total, b).evaluate(**values), (y0 - 1.0) * dsig, shape=(), rtol=1e-12, atol=1e-14)
    assert_array(grad(total, x).evaluate(**values), (y0 - 1.0) * dsig * 0.7, shape=(), rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------------------------
# F. Differentials of matrix functions
# --------------------------------------------------------------------------------------------

def test_inner_product_differential() -> None:
    var = tc.var
    X, Y = var("X", (3, 2)), var("Y", (3, 2))
    gen = rng(19)
    X0, Y0, dX, dY = (gen.standard_normal((3, 2)) for _ in range(4))
    values = {"X": X0, "Y": Y0}
    for f in (tc.sum(X * Y), tc.einsum("ij,ij->", X, Y)):
        gx = tc.grad(f, X).evaluate(**values)
        gy = tc.grad(f, Y).evaluate(**values)
        assert_array(gx, Y0, rtol=0, atol=1e-15)
        assert_array(gy, X0, rtol=0, atol=1e-15)
        # d<X, Y> = <dX, Y> + <X, dY>, along the direction (dX, dY)
        np.testing.assert_allclose(np.sum(gx * dX) + np.sum(gy * dY),
                                   np.sum(dX * Y0) + np.sum(X0 * dY), rtol=1e-12)
        check_grads(f, X, 2, values)
        check_grads(f, Y, 2, values)


def test_product_differential() -> None:
    var = tc.var
    X, Y = var("X", (2, 3)), var("Y", (3, 4))
    gen = rng(20)
    X0, Y0 = gen.standard_normal((2, 3)), gen.standard_normal((3, 4))
    dX, dY = gen.standard_normal((2, 3)), gen.standard_normal((3, 4))
    values = {"X": X0, "Y": Y0}
    jx = tc.jacobian(X @ Y, X).evaluate(**values)
    jy = tc.jacobian(X @ Y, Y).evaluate(**values)
    assert jx.shape == (2, 4, 2, 3) and jy.shape == (2, 4, 3, 4)
    # d(XY) = dX Y + X dY
    assert_array(np.einsum("ijkl,kl->ij", jx, dX), dX @ Y0, **EXACT)
    assert_array(np.einsum("ijkl,kl->ij", jy, dY), X0 @ dY, **EXACT)


def test_trace_of_product_gradient() -> None:
    """d tr(X) = <I, dX>, composed with a product: grad_X tr(A X B) = A^T B^T."""
    var = tc.var
    A, X, B = var("A", (3, 2)), var("X", (2, 4)), var("B", (4, 3))
    gen = rng(21)
    values = {"A": gen.standard_normal((3, 2)), "X": gen.standard_normal((2, 4)),
              "B": gen.standard_normal((4, 3))}
    f = tc.trace(A @ X @ B)
    expected_value = np.trace(values["A"] @ values["X"] @ values["B"])
    assert_array(f.evaluate(**values), expected_value, shape=(), rtol=1e-12)
    assert_array(tc.grad(f, X).evaluate(**values), values["A"].T @ values["B"].T, **EXACT)


# --------------------------------------------------------------------------------------------
# G. Second order
# --------------------------------------------------------------------------------------------

def test_hvp_equals_hessian_times_v() -> None:
    var = tc.var
    A, x, v = var("A", (4, 3)), var("x", (3,)), var("v", (3,))
    f = tc.sum(tc.tanh(A @ x) ** 2) + tc.sum(tc.exp(tc.sin(x)))
    gen = rng(22)
    values = {"A": gen.standard_normal((4, 3)), "x": gen.standard_normal(3), "v": gen.standard_normal(3)}
    hessian = tc.hessian(f, x).evaluate(**values)
    hv = tc.hvp(f, x, v).evaluate(**values)
    assert_array(hv, hessian @ values["v"], shape=(3,), rtol=1e-10, atol=1e-12)
    assert_array(hessian, oracle_hessian(f, x, values), shape=(3, 3), rtol=1e-10, atol=1e-12)


def test_quadratic_form_general_matrix() -> None:
    var = tc.var
    x, A = var("x", (4,)), var("A", (4, 4))
    f = tc.einsum("i,ij,j->", x, A, x)
    gen = rng(23)
    values = {"x": gen.standard_normal(4), "A": gen.standard_normal((4, 4))}
    A0, x0 = values["A"], values["x"]
    assert_array(f.evaluate(**values), x0 @ A0 @ x0, shape=(), rtol=1e-12)
    assert_array(tc.grad(f, x).evaluate(**values), (A0 + A0.T) @ x0, **EXACT)
    assert_array(tc.hessian(f, x).evaluate(**values), A0 + A0.T, shape=(4, 4), **EXACT)


def test_quadratic_form_symmetric_matrix() -> None:
    var = tc.var
    x, S = var("x", (4,)), var("S", (4, 4), symmetric=True)
    f = tc.einsum("i,ij,j->", x, S, x)
    gen = rng(24)
    M = gen.standard_normal((4, 4))
    values = {"x": gen.standard_normal(4), "S": M + M.T}
    assert_array(tc.grad(f, x).evaluate(**values), 2 * values["S"] @ values["x"], **EXACT)
    assert_array(tc.hessian(f, x).evaluate(**values), 2 * values["S"], shape=(4, 4), **EXACT)


@pytest.mark.parametrize("spelling", ["log_exp", "softplus"])
def test_logistic_regression_hessian(spelling: str) -> None:
    m, n = 7, 3
    var = tc.var
    X, y, w = var("X", (m, n)), var("y", (m,)), var("w", (n,))
    margin = -y * (X @ w)
    if spelling == "log_exp":
        f = tc.sum(tc.log(1.0 + tc.exp(margin)))
    else:
        f = tc.sum(tc.softplus(margin))
    gen = rng(25)
    X0 = gen.standard_normal((m, n))
    y0 = np.where(gen.standard_normal(m) > 0, 1.0, -1.0)
    w0 = gen.standard_normal(n)
    values = {"X": X0, "y": y0, "w": w0}
    p = sigmoid(y0 * (X0 @ w0))
    assert_array(f.evaluate(**values), np.sum(np.log1p(np.exp(-y0 * (X0 @ w0)))), shape=(), rtol=1e-12)
    assert_array(tc.grad(f, w).evaluate(**values), -X0.T @ (y0 * (1 - p)), rtol=1e-10, atol=1e-12)
    expected = np.einsum("ij,i,ik->jk", X0, p * (1 - p), X0)
    assert_array(tc.hessian(f, w).evaluate(**values), expected, shape=(n, n), rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------------------------
# H. Scalars, components, stacking
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("x0", [1.7, -0.8, 0.3, 0.7])
def test_zero_dim_tensor_derivative(x0: float) -> None:
    x = tc.var("x", ())
    y = x ** 2 * tc.log(x ** 2)
    value = y.evaluate(x=np.array(x0))
    assert_array(value, x0 ** 2 * np.log(x0 ** 2), shape=(), rtol=1e-12, atol=1e-14)
    g = tc.grad(y, x)
    assert g.shape == ()
    dy = g.evaluate(x=np.array(x0))
    assert_array(dy, 2 * x0 * (1 + np.log(x0 ** 2)), shape=(), rtol=1e-12, atol=1e-14)
    d2y = tc.grad(g, x).evaluate(x=np.array(x0))
    assert_array(d2y, 2 * np.log(x0 ** 2) + 6, shape=(), rtol=1e-12, atol=1e-14)
    assert_array(tc.hessian(y, x).evaluate(x=np.array(x0)), 2 * np.log(x0 ** 2) + 6, shape=(),
                 rtol=1e-12, atol=1e-14)
    check_grads(y, x, 3, x=np.array(x0))


def test_component_indexing_gradient() -> None:
    x = tc.var("x", (3,))
    f = x[0] ** 2 + x[0] * tc.log(x[1]) + tc.exp(x[1] * x[2]) + 2 * x[2]
    x0 = np.array([0.5, 1.5, -0.7])
    x1, x2, x3 = x0
    assert_array(f.evaluate(x=x0), x1 ** 2 + x1 * np.log(x2) + np.exp(x2 * x3) + 2 * x3, shape=(), rtol=1e-12)
    expected = [2 * x1 + np.log(x2), x1 / x2 + x3 * np.exp(x2 * x3), x2 * np.exp(x2 * x3) + 2]
    assert_array(tc.grad(f, x).evaluate(x=x0), expected, shape=(3,), rtol=1e-12, atol=1e-14)


def test_stacked_components_jacobian() -> None:
    x = tc.var("x", (3,))
    F = tc.stack([x[0] + x[0] * x[1] + x[0] * x[2], x[0] ** 2 + 2 * x[2]])
    x0 = np.array([0.4, -1.1, 2.3])
    x1, x2, x3 = x0
    assert_array(F.evaluate(x=x0), [x1 + x1 * x2 + x1 * x3, x1 ** 2 + 2 * x3], shape=(2,), rtol=1e-12)
    expected = [[1 + x2 + x3, x1, x1], [2 * x1, 0.0, 2.0]]
    assert_array(tc.jacobian(F, x).evaluate(x=x0), expected, shape=(2, 3), rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------------------------
# G (continued). "never forms H", "never an m x m diagonal matrix": checked through memory.
# A dense n x n (or m x m) float64 array at these sizes is 72 MB; numpy reports every array
# it allocates to tracemalloc, so the peak during evaluation bounds what was materialised.
# --------------------------------------------------------------------------------------------

BIG = 3000
PEAK_LIMIT = 16 * 2**20  # far below the 72 MB of one dense BIG x BIG array


def peak_bytes_of(fn):
    import tracemalloc

    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def test_hvp_never_forms_the_hessian() -> None:
    var = tc.var
    A, x, v = var("A", ("m", "n")), var("x", ("n",)), var("v", ("n",))
    f = tc.sum(tc.softplus(A @ x))
    hv = tc.hvp(f, x, v)
    gen = rng(26)
    values = {"A": gen.standard_normal((4, BIG)) / 50.0, "x": gen.standard_normal(BIG),
              "v": gen.standard_normal(BIG)}
    result, peak = peak_bytes_of(lambda: hv.evaluate(**values))
    s = sigmoid(values["A"] @ values["x"])
    expected = values["A"].T @ (s * (1 - s) * (values["A"] @ values["v"]))
    assert_array(result, expected, shape=(BIG,), rtol=1e-10, atol=1e-14)
    assert peak < PEAK_LIMIT, f"hvp evaluation peaked at {peak / 2**20:.1f} MB"


def test_logistic_hessian_never_forms_a_diagonal_matrix() -> None:
    var = tc.var
    X, y, w = var("X", ("m", "n")), var("y", ("m",)), var("w", ("n",))
    f = tc.sum(tc.softplus(-y * (X @ w)))
    H = tc.hessian(f, w)
    gen = rng(27)
    X0 = gen.standard_normal((BIG, 3))
    y0 = np.where(gen.standard_normal(BIG) > 0, 1.0, -1.0)
    w0 = gen.standard_normal(3)
    result, peak = peak_bytes_of(lambda: H.evaluate(X=X0, y=y0, w=w0))
    p = sigmoid(y0 * (X0 @ w0))
    assert_array(result, np.einsum("ij,i,ik->jk", X0, p * (1 - p), X0), shape=(3, 3), rtol=1e-10, atol=1e-12)
    assert peak < PEAK_LIMIT, f"Hessian evaluation peaked at {peak / 2**20:.1f} MB"


def test_compiled_value_gradient_hessian_match_evaluate() -> None:
    """tc.compile([f, g, H]): one callable; cached per shape, never per value."""
    A, x = tc.var("A", ("m", "n")), tc.var("x", ("n",))
    f = tc.sum(tc.softplus(A @ x)) + 0.5 * tc.sum(x ** 2)
    g, H = tc.grad(f, x), tc.hessian(f, x)
    fn = tc.compile([f, g, H])
    for seed, (m, n) in enumerate([(4, 3), (4, 3), (6, 2)]):
        gen = rng(100 + seed)
        values = {"A": gen.standard_normal((m, n)), "x": gen.standard_normal(n)}
        fv, gv, Hv = fn(**values)
        s = sigmoid(values["A"] @ values["x"])
        value = np.sum(np.logaddexp(0.0, values["A"] @ values["x"])) + 0.5 * values["x"] @ values["x"]
        assert_array(fv, value, shape=(), rtol=1e-12)
        assert_array(gv, values["A"].T @ s + values["x"], shape=(n,), rtol=1e-12, atol=1e-14)
        assert_array(Hv, values["A"].T @ np.diag(s * (1 - s)) @ values["A"] + np.eye(n), shape=(n, n),
                     rtol=1e-12, atol=1e-14)
    single = tc.compile(g)
    assert_array(single(**values), gv, shape=(n,), rtol=0, atol=0)
