"""Derivatives of matrix functions against closed forms and the gradient oracle.

Closed forms (The Matrix Cookbook conventions, numerator layout for Jacobians):
grad det X = det(X) X^-T, grad log|det X| = X^-T, d(X^-1) = -X^-1 dX X^-1,
grad tr(A X B) = A^T B^T, grad a^T X^-1 b = -X^-T a b^T X^-T, grad ||x|| = x / ||x||,
Jacobian of softmax = diag(s) - s s^T, grad logsumexp = softmax.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

import tensorcalc as tc
from tensorcalc.testing import check_grads
from tests.helpers import assert_array, oracle_jacobian

TIGHT = dict(rtol=1e-10, atol=1e-12)


def gen(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def invertible(n: int, seed: int, sign: float = 1.0) -> np.ndarray:
    """Far from singular; ``sign=-1`` flips one row so the determinant is negative."""
    x = 3.0 * np.eye(n) + 0.5 * gen(seed).standard_normal((n, n))
    x[0] *= sign
    return x


def var(name: str, shape: tuple) -> object:
    return tc.var(name, shape)


def grad_of(f: object, wrt: object, /, **values: np.ndarray) -> np.ndarray:
    return tc.grad(f, wrt).evaluate(**values)


# --------------------------------------------------------------------------------------------
# Determinants
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("named", [False, True], ids=["sized", "named"])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_det_gradient(sign: float, named: bool) -> None:
    X = tc.var("X", ("n", "n")) if named else var("X", (4, 4))
    X0 = invertible(4, 1, sign)
    f = tc.det(X)
    assert_array(f.evaluate(X=X0), np.linalg.det(X0), shape=(), rtol=1e-12)
    expected = np.linalg.det(X0) * np.linalg.inv(X0).T
    assert_array(grad_of(f, X, X=X0), expected, **TIGHT)
    check_grads(f, X, 2, X=X0)


@pytest.mark.parametrize("named", [False, True], ids=["sized", "named"])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_logdet_gradient_is_inverse_transpose(sign: float, named: bool) -> None:
    """log|det X|: the gradient is X^-T whatever the sign of the determinant."""
    X = tc.var("X", ("n", "n")) if named else var("X", (3, 3))
    X0 = invertible(3, 2, sign)
    f = tc.logdet(X)
    assert_array(f.evaluate(X=X0), np.linalg.slogdet(X0)[1], shape=(), rtol=1e-12)
    assert_array(grad_of(f, X, X=X0), np.linalg.inv(X0).T, **TIGHT)
    check_grads(f, X, 2, X=X0)


def test_logdet_of_gram_matrix() -> None:
    """f(B) = log det(B B^T + I): grad = 2 (B B^T + I)^-1 B."""
    B = var("B", (3, 2))
    B0 = gen(3).standard_normal((3, 2))
    f = tc.logdet(B @ B.T + np.eye(3))
    S = B0 @ B0.T + np.eye(3)
    assert_array(f.evaluate(B=B0), np.linalg.slogdet(S)[1], shape=(), rtol=1e-12)
    assert_array(grad_of(f, B, B=B0), 2.0 * np.linalg.solve(S, B0), **TIGHT)
    check_grads(f, B, 2, B=B0)


def test_batched_det_gradient() -> None:
    X = var("X", (2, 3, 3))
    X0 = np.stack([invertible(3, 4), invertible(3, 5, -1.0)])
    f = tc.sum(tc.det(X))
    expected = np.linalg.det(X0)[:, None, None] * np.linalg.inv(X0).transpose(0, 2, 1)
    assert_array(grad_of(f, X, X=X0), expected, shape=(2, 3, 3), **TIGHT)


def test_batched_inverse_and_logdet_rules(rng) -> None:
    X = var("X", (2, 3, 3))
    x0 = np.stack([invertible(3, 30), invertible(3, 31, -1.0)])
    U = rng.standard_normal((2, 3, 3))
    f = tc.sum(tc.inv(X) * U) + tc.sum(tc.logdet(X))
    value = np.sum(np.linalg.inv(x0) * U) + np.sum(np.linalg.slogdet(x0)[1])
    assert_array(f.evaluate(X=x0), value, shape=(), rtol=1e-12)
    check_grads(f, X, 2, X=x0)


def test_det_hessian_against_finite_differences() -> None:
    X = var("X", (2, 2))
    X0 = invertible(2, 6)
    f = tc.det(X)
    H = tc.hessian(f, X).evaluate(X=X0)
    # det of 2x2 is x00 x11 - x01 x10: a constant Hessian
    expected = np.zeros((2, 2, 2, 2))
    expected[0, 0, 1, 1] = expected[1, 1, 0, 0] = 1.0
    expected[0, 1, 1, 0] = expected[1, 0, 0, 1] = -1.0
    assert_array(H, expected, shape=(2, 2, 2, 2), **TIGHT)


# --------------------------------------------------------------------------------------------
# Inverse
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_inverse_jacobian(sign: float) -> None:
    X = var("X", (3, 3))
    X0 = invertible(3, 7, sign)
    Xi = np.linalg.inv(X0)
    assert_array(tc.inv(X).evaluate(X=X0), Xi, shape=(3, 3), **TIGHT)
    J = tc.jacobian(tc.inv(X), X).evaluate(X=X0)
    assert_array(J, -np.einsum("ik,lj->ijkl", Xi, Xi), shape=(3, 3, 3, 3), **TIGHT)
    assert_array(J, oracle_jacobian(tc.inv(X), X, {"X": X0}), **TIGHT)


def test_bilinear_form_of_inverse() -> None:
    """grad_X a^T X^-1 b = -X^-T a b^T X^-T."""
    X, a, b = var("X", (3, 3)), var("a", (3,)), var("b", (3,))
    g = gen(8)
    values = {"X": invertible(3, 8), "a": g.standard_normal(3), "b": g.standard_normal(3)}
    f = tc.einsum("i,ij,j->", a, tc.inv(X), b)
    Xit = np.linalg.inv(values["X"]).T
    expected = -Xit @ np.outer(values["a"], values["b"]) @ Xit
    assert_array(grad_of(f, X, **values), expected, **TIGHT)


def test_trace_of_inverse() -> None:
    """grad tr(X^-1) = -(X^-2)^T."""
    X = var("X", (3, 3))
    X0 = invertible(3, 9)
    Xi = np.linalg.inv(X0)
    f = tc.trace(tc.inv(X))
    assert_array(grad_of(f, X, X=X0), -(Xi @ Xi).T, **TIGHT)


def test_inverse_times_inverse_is_identity_derivative_zero() -> None:
    """X X^-1 = I, so its Jacobian vanishes: a cancellation the rules must get exactly."""
    X = var("X", (3, 3))
    X0 = invertible(3, 10)
    J = tc.jacobian(X @ tc.inv(X), X).evaluate(X=X0)
    assert_array(J, np.zeros((3, 3, 3, 3)), shape=(3, 3, 3, 3), rtol=0, atol=1e-12)


# --------------------------------------------------------------------------------------------
# Traces of products, quadratic forms
# --------------------------------------------------------------------------------------------

def test_trace_products() -> None:
    A, B, X = var("A", (3, 4)), var("B", (4, 3)), var("X", (4, 4))
    g = gen(11)
    values = {"A": g.standard_normal((3, 4)), "B": g.standard_normal((4, 3)), "X": g.standard_normal((4, 4))}
    trace = tc.trace
    assert_array(grad_of(trace(A @ B), A, **values), values["B"].T, **TIGHT)
    assert_array(grad_of(trace(X.T @ X), X, **values), 2.0 * values["X"], **TIGHT)
    assert_array(grad_of(trace(X @ X), X, **values), 2.0 * values["X"].T, **TIGHT)
    assert_array(grad_of(trace(X @ X @ X), X, **values), 3.0 * (values["X"] @ values["X"]).T, **TIGHT)


def test_trace_A_X_B_Xt() -> None:
    """grad tr(A X B X^T) = A^T X B^T + A X B."""
    A, B, X = var("A", (3, 3)), var("B", (2, 2)), var("X", (3, 2))
    g = gen(12)
    A0, B0, X0 = g.standard_normal((3, 3)), g.standard_normal((2, 2)), g.standard_normal((3, 2))
    f = tc.trace(A @ X @ B @ X.T)
    expected = A0.T @ X0 @ B0.T + A0 @ X0 @ B0
    assert_array(grad_of(f, X, A=A0, B=B0, X=X0), expected, **TIGHT)


def test_bilinear_form_gradient() -> None:
    """grad_X a^T X b = a b^T."""
    a, X, b = var("a", (3,)), var("X", (3, 4)), var("b", (4,))
    g = gen(13)
    values = {"a": g.standard_normal(3), "X": g.standard_normal((3, 4)), "b": g.standard_normal(4)}
    f = tc.einsum("i,ij,j->", a, X, b)
    assert_array(grad_of(f, X, **values), np.outer(values["a"], values["b"]), **TIGHT)


def test_weighted_least_squares() -> None:
    """f = (Ax - b)^T C (Ax - b): grad = A^T (C + C^T)(Ax - b), Hessian = A^T (C + C^T) A."""
    A, x, b, C = var("A", (4, 3)), var("x", (3,)), var("b", (4,)), var("C", (4, 4))
    g = gen(14)
    values = {"A": g.standard_normal((4, 3)), "x": g.standard_normal(3),
              "b": g.standard_normal(4), "C": g.standard_normal((4, 4))}
    r = A @ x - b
    f = tc.einsum("i,ij,j->", r, C, r)
    A0, C0 = values["A"], values["C"]
    r0 = A0 @ values["x"] - values["b"]
    assert_array(f.evaluate(**values), r0 @ C0 @ r0, shape=(), rtol=1e-12)
    assert_array(grad_of(f, x, **values), A0.T @ (C0 + C0.T) @ r0, **TIGHT)
    assert_array(tc.hessian(f, x).evaluate(**values), A0.T @ (C0 + C0.T) @ A0, shape=(3, 3), **TIGHT)


def test_frobenius_matrix_factorisation_gradient() -> None:
    """||T - U V^T||_F^2: grad_U = -2 (T - U V^T) V."""
    T, U, V = var("T", (4, 5)), var("U", (4, 2)), var("V", (5, 2))
    g = gen(15)
    values = {"T": g.standard_normal((4, 5)), "U": g.standard_normal((4, 2)), "V": g.standard_normal((5, 2))}
    f = tc.sum((T - U @ V.T) ** 2)
    R = values["T"] - values["U"] @ values["V"].T
    assert_array(grad_of(f, U, **values), -2.0 * R @ values["V"], **TIGHT)


# --------------------------------------------------------------------------------------------
# norm2, mean, diag
# --------------------------------------------------------------------------------------------

def test_norm2_vector_gradient_and_hessian() -> None:
    x = var("x", (4,))
    x0 = gen(16).standard_normal(4)
    f = tc.norm2(x)
    nrm = np.linalg.norm(x0)
    assert_array(f.evaluate(x=x0), nrm, shape=(), rtol=1e-12)
    assert_array(grad_of(f, x, x=x0), x0 / nrm, **TIGHT)
    u = x0 / nrm
    assert_array(tc.hessian(f, x).evaluate(x=x0), (np.eye(4) - np.outer(u, u)) / nrm, shape=(4, 4), **TIGHT)


def test_norm2_matrix_is_frobenius() -> None:
    X = var("X", (3, 2))
    X0 = gen(17).standard_normal((3, 2))
    f = tc.norm2(X)
    assert_array(f.evaluate(X=X0), np.linalg.norm(X0), shape=(), rtol=1e-12)
    assert_array(grad_of(f, X, X=X0), X0 / np.linalg.norm(X0), **TIGHT)


def test_mean_and_diag_gradients() -> None:
    X, w = var("X", (3, 3)), var("w", (3,))
    g = gen(18)
    X0, w0 = g.standard_normal((3, 3)), g.standard_normal(3)
    assert_array(grad_of(tc.mean(X), X, X=X0), np.full((3, 3), 1.0 / 9.0), **TIGHT)
    f = tc.sum(tc.diag(X) * w)
    assert_array(grad_of(f, X, X=X0, w=w0), np.diag(w0), **TIGHT)
    h = tc.sum(tc.diag(w) * X)  # vector -> diagonal matrix
    assert_array(grad_of(h, w, X=X0, w=w0), np.diag(X0), shape=(3,), **TIGHT)


# --------------------------------------------------------------------------------------------
# softmax, logsumexp
# --------------------------------------------------------------------------------------------

def test_softmax_jacobian() -> None:
    x = var("x", (4,))
    x0 = gen(19).standard_normal(4)
    s = special.softmax(x0)
    y = tc.softmax(x)
    assert_array(y.evaluate(x=x0), s, shape=(4,), rtol=1e-12)
    assert_array(tc.jacobian(y, x).evaluate(x=x0), np.diag(s) - np.outer(s, s), shape=(4, 4), **TIGHT)


def test_softmax_of_matrix_rows() -> None:
    """softmax acts on the last axis: rows are independent, the Jacobian is block diagonal."""
    X = var("X", (2, 3))
    X0 = gen(20).standard_normal((2, 3))
    y = tc.softmax(X)
    S = special.softmax(X0, axis=-1)
    assert_array(y.evaluate(X=X0), S, shape=(2, 3), rtol=1e-12)
    J = tc.jacobian(y, X).evaluate(X=X0)
    expected = np.zeros((2, 3, 2, 3))
    for r in range(2):
        expected[r, :, r, :] = np.diag(S[r]) - np.outer(S[r], S[r])
    assert_array(J, expected, shape=(2, 3, 2, 3), **TIGHT)
    assert_array(J, oracle_jacobian(y, X, {"X": X0}), **TIGHT)


def test_cross_entropy_gradient() -> None:
    """-sum(t * log softmax(z)) with sum(t) = 1: grad = softmax(z) - t."""
    z, t = var("z", (5,)), var("t", (5,))
    g = gen(21)
    z0 = g.standard_normal(5)
    t0 = special.softmax(g.standard_normal(5))
    f = -tc.sum(t * tc.log(tc.softmax(z)))
    assert_array(grad_of(f, z, z=z0, t=t0), special.softmax(z0) - t0, **TIGHT)


def test_logsumexp_gradient_and_hessian() -> None:
    x = var("x", (4,))
    x0 = gen(22).standard_normal(4) * 3.0
    s = special.softmax(x0)
    f = tc.logsumexp(x)
    assert_array(f.evaluate(x=x0), special.logsumexp(x0), shape=(), rtol=1e-12)
    assert_array(grad_of(f, x, x=x0), s, **TIGHT)
    assert_array(tc.hessian(f, x).evaluate(x=x0), np.diag(s) - np.outer(s, s), shape=(4, 4), **TIGHT)


def test_logsumexp_along_an_axis() -> None:
    X = var("X", (2, 3))
    X0 = gen(23).standard_normal((2, 3))
    y = tc.logsumexp(X, axis=1)
    assert_array(y.evaluate(X=X0), special.logsumexp(X0, axis=1), shape=(2,), rtol=1e-12)
    J = tc.jacobian(y, X).evaluate(X=X0)
    assert_array(J, oracle_jacobian(y, X, {"X": X0}), shape=(2, 2, 3), **TIGHT)
