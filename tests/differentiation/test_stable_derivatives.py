"""Stability as a promise: where a function's value is finite in float64, its value, gradient,
Hessian and Hessian-vector product are finite and equal to the stable textbook form, in
float64 and float32 (float32 in, float32 out), through ``evaluate`` and ``compile``.

The cases are the textbook ones, at extreme inputs (logits ±1000, inputs ×1e3, zeros):
cross-entropy (``softmax - y``), logistic regression (``Xᵀ(σ(Xw) - y)``, ``Xᵀ diag(p(1-p)) X``),
the norm and its square at 0, ``log |det X|``, softmax/log-softmax/logsumexp. The references
are the closed forms (scipy's stable special functions) and JAX where JAX is stable.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import special

import tensorcalc as tc

DTYPES = [np.float64, np.float32]
# relative to each value, and absolute relative to the scale of the result (``atol`` times its
# largest entry, or the scale given): a tail below the precision of the peak may round to 0
TOL = {np.float64: dict(rtol=1e-12, atol=1e-15), np.float32: dict(rtol=2e-5, atol=2e-6)}


def run_all(exprs, **arrays):
    """Every expression through evaluate and compile, with over/invalid/divide raising."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            direct = [tc.evaluate(e, arrays) for e in exprs]
            compiled = tc.compile(list(exprs))(arrays)
    return direct, compiled


def check(results, expected, dtype, scales=None) -> None:
    """Every result in ``dtype``, constants (``2 I``) included: they take the precision of the
    call's arrays."""
    direct, compiled = results
    for how, values in (("evaluate", direct), ("compile", compiled)):
        for k, (value, want) in enumerate(zip(values, expected)):
            want = np.asarray(want, dtype=np.float64)
            assert value.dtype == dtype, (how, k, value.dtype)
            assert np.all(np.isfinite(value)), (how, k, value)
            scale = (scales or {}).get(k, np.max(np.abs(want), initial=0.0)) or 1.0
            tol = TOL[dtype]
            np.testing.assert_allclose(value, want, rtol=tol["rtol"], atol=tol["atol"] * scale,
                                       err_msg=f"{how} #{k}")


def derivatives(f, x, v):
    return [f, tc.grad(f, x), tc.hessian(f, x), tc.hvp(f, x, v)]


# ----------------------------------------------------------------------------- cross-entropy

LOGITS = [[50.0, 0.0, -800.0], [1000.0, 0.0, -1000.0], [-1000.0, 1000.0, 999.0], [0.0, 0.0, 0.0]]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("logits", LOGITS)
def test_cross_entropy_of_extreme_logits(logits, dtype) -> None:
    z, y, v = tc.var("z", (3,)), tc.var("y", (3,)), tc.var("v", (3,))
    f = -tc.sum(y * tc.log(tc.softmax(z)))
    z0 = np.array(logits, dtype=dtype)
    y0 = np.array([0.0, 1.0, 0.0], dtype=dtype)
    v0 = np.array([0.5, -1.0, 2.0], dtype=dtype)
    z64 = z0.astype(np.float64)
    p = special.softmax(z64)
    H = np.diag(p) - np.outer(p, p)  # times sum(y) = 1
    expected = [-special.log_softmax(z64)[1], p - y0, H, H @ v0]
    # diag(p) - p pᵀ cancels to the precision of p: its entries are exact to that scale
    scales = {2: p.max(), 3: p.max() * np.abs(v0).max()}
    check(run_all(derivatives(f, z, v), z=z0, y=y0, v=v0), expected, dtype, scales)


def test_cross_entropy_gradient_is_softmax_minus_y() -> None:
    z, y = tc.var("z", (3,)), tc.var("y", (3,))
    g = tc.grad(-tc.sum(y * tc.log(tc.softmax(z))), z)
    text = str(g)  # the operand order of the einsum is canonical, not fixed here
    assert text.endswith(" - y") and "softmax(z)" in text and "**" not in text and "log" not in text
    assert tc.display.matrix_text(g) == "(𝟏ᵀy) softmax(z) - y"
    z0, y0 = np.array([50.0, 0.0, -800.0]), np.array([0.0, 1.0, 0.0])
    np.testing.assert_array_equal(g.evaluate(z=z0, y=y0), [1.0, -1.0, 0.0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_batched_cross_entropy_rows(dtype) -> None:
    Z, Y = tc.var("Z", ("m", "k")), tc.var("Y", ("m", "k"))
    f = -tc.sum(Y * tc.log_softmax(Z))
    Z0 = (np.random.default_rng(3).standard_normal((4, 5)) * 1000).astype(dtype)
    Y0 = np.eye(5, dtype=dtype)[[0, 3, 1, 4]]
    expected = [-np.sum(Y0 * special.log_softmax(Z0.astype(np.float64), axis=1)),
                special.softmax(Z0.astype(np.float64), axis=1) - Y0]
    check(run_all([f, tc.grad(f, Z)], Z=Z0, Y=Y0), expected, dtype)


# ----------------------------------------------------------------------------- logistic regression

def logistic_data(dtype, scale=1000.0):
    g = np.random.default_rng(11)
    X0 = (g.standard_normal((6, 3)) * scale).astype(dtype)
    w0 = g.standard_normal(3).astype(dtype)
    s0 = np.array([1.0, -1.0, 1.0, 1.0, -1.0, -1.0], dtype=dtype)  # labels ±1
    v0 = g.standard_normal(3).astype(dtype)
    return X0, w0, s0, v0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [1.0, 1000.0])
def test_logistic_loss_with_signed_labels(scale, dtype) -> None:
    f = tc.parse("sum(log(1 + exp(-(y[i] X[i,j] w[j])[i])))")
    w, v = next(n for n in tc.ir.walk(f) if getattr(n, "name", "") == "w"), tc.var("v", ("j",))
    X0, w0, y0, v0 = logistic_data(dtype, scale)
    X, u = X0.astype(np.float64), y0 * (X0.astype(np.float64) @ w0)
    p = special.expit(u)
    H = X.T @ np.diag(p * (1.0 - p)) @ X
    expected = [np.sum(np.logaddexp(0.0, -u)), -X.T @ (y0 * special.expit(-u)), H, H @ v0]
    peak = 0.25 * np.abs(X.T) @ np.abs(X)  # p (1 - p) is exact to the precision of its peak 1/4
    scales = {2: peak.max(), 3: (peak @ np.abs(v0)).max()}
    check(run_all(derivatives(f, w, v), X=X0, w=w0, y=y0, v=v0), expected, dtype, scales)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [1.0, 1000.0])
def test_logistic_loss_with_zero_one_labels(scale, dtype) -> None:
    """sum(softplus(Xw) - t ⊙ Xw): gradient Xᵀ(σ(Xw) - t), Hessian Xᵀ diag(p(1-p)) X."""
    X, w, t, v = tc.var("X", ("m", "n")), tc.var("w", ("n",)), tc.var("t", ("m",)), tc.var("v", ("n",))
    f = tc.sum(tc.softplus(X @ w) - t * (X @ w))
    X0, w0, s0, v0 = logistic_data(dtype, scale)
    t0 = (s0 > 0).astype(dtype)
    Xd = X0.astype(np.float64)
    u = Xd @ w0
    p = special.expit(u)
    H = Xd.T @ np.diag(p * (1.0 - p)) @ Xd
    expected = [np.sum(np.logaddexp(0.0, u) - t0 * u), Xd.T @ (p - t0), H, H @ v0]
    peak = 0.25 * np.abs(Xd.T) @ np.abs(Xd)
    scales = {1: (np.abs(Xd.T) @ np.ones_like(u)).max(), 2: peak.max(), 3: (peak @ np.abs(v0)).max()}
    check(run_all(derivatives(f, w, v), X=X0, w=w0, t=t0, v=v0), expected, dtype, scales)
    assert tc.display.matrix_text(tc.grad(f, w)) == "Xᵀ (σ(X w) - t)"
    assert tc.display.matrix_text(tc.hessian(f, w)) == "Xᵀ diag(σ(X w) ⊙ (1 - σ(X w))) X"


def test_binary_cross_entropy_written_with_logs_is_stable() -> None:
    """-Σ t log σ(u) + (1 - t) log(1 - σ(u)): the logs of sigmoids become softplus."""
    X, w, t = tc.var("X", ("m", "n")), tc.var("w", ("n",)), tc.var("t", ("m",))
    s = tc.sigmoid(X @ w)
    f = -tc.sum(t * tc.log(s) + (1.0 - t) * tc.log(1.0 - s))
    X0, w0, s0, _ = logistic_data(np.float64)
    t0 = (s0 > 0).astype(np.float64)
    u = X0 @ w0
    g, H = tc.grad(f, w), tc.hessian(f, w)
    value, grad, hess = run_all([f, g, H], X=X0, w=w0, t=t0)[0]
    np.testing.assert_allclose(value, np.sum(np.logaddexp(0.0, u) - t0 * u), rtol=1e-12)
    np.testing.assert_allclose(grad, X0.T @ (special.expit(u) - t0), rtol=1e-9, atol=1e-9)
    p = special.expit(u)
    np.testing.assert_allclose(hess, X0.T @ np.diag(p * (1 - p)) @ X0, rtol=1e-9,
                               atol=1e-15 * np.max(np.abs(X0.T) @ np.abs(X0)))
    assert tc.display.matrix_text(g) == "Xᵀ ((1 - t) ⊙ σ(X w) - t ⊙ (1 - σ(X w)))"
    assert tc.display.matrix_text(H) == "Xᵀ diag(σ(X w) ⊙ (1 - σ(X w))) X"


# ----------------------------------------------------------------------------- norms, determinants

@pytest.mark.parametrize("dtype", DTYPES)
def test_norm_squared_at_zero(dtype) -> None:
    x, v = tc.var("x", (3,)), tc.var("v", (3,))
    f = tc.norm2(x) ** 2
    assert str(tc.grad(f, x)) == "2 * x"
    zero, v0 = np.zeros(3, dtype=dtype), np.array([1.0, -2.0, 0.5], dtype=dtype)
    check(run_all(derivatives(f, x, v), x=zero, v=v0), [0.0, zero, 2 * np.eye(3), 2 * v0], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_norm_gradient_is_the_unit_vector_and_zero_at_zero(dtype) -> None:
    x = tc.var("x", (3,))
    g = tc.grad(tc.norm2(x), x)
    assert str(g) == "x / norm2(x)" and tc.display.matrix_text(g) == "x/‖x‖"
    x0 = np.array([3.0, -4.0, 0.0], dtype=dtype)
    check(run_all([tc.norm2(x), g], x=x0), [5.0, x0 / 5.0], dtype)
    check(run_all([tc.norm2(x), g], x=np.zeros(3, dtype=dtype)), [0.0, np.zeros(3)], dtype)
    H = tc.hessian(tc.norm2(x), x).evaluate(x=x0.astype(np.float64))
    u = x0.astype(np.float64) / 5.0
    np.testing.assert_allclose(H, (np.eye(3) - np.outer(u, u)) / 5.0, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_abs_det_gradient_is_the_inverse_transpose(dtype) -> None:
    X = tc.var("X", (3, 3))
    f = tc.log(tc.abs(tc.det(X)))
    g = tc.grad(f, X)
    assert tc.display.matrix_text(g) == "X⁻ᵀ"
    X0 = (np.array([[0.4, 2.1, 0.2], [1.9, 0.3, -0.6], [0.1, -0.5, 1.6]]) * 1e3).astype(dtype)
    Xd = X0.astype(np.float64)
    check(run_all([f, g], X=X0), [np.linalg.slogdet(Xd)[1], np.linalg.inv(Xd).T], dtype)


def test_x_squared_log_x_squared_gradient() -> None:
    x = tc.var("x", (4,))
    g = tc.grad(tc.sum(x ** 2 * tc.log(x ** 2)), x)
    assert str(g) == "2 * (x * (log(x ** 2) + 1))"
    assert tc.display.matrix_text(g) == "2 x ⊙ (log(x²) + 1)"
    x0 = np.array([1e-150, -1e-3, 2.0, 1e150])
    np.testing.assert_allclose(g.evaluate(x=x0), 2 * x0 * (np.log(x0 ** 2) + 1), rtol=1e-12)


# ----------------------------------------------------------------------------- softmax family

EXTREME = np.array([-1000.0, 1000.0, 999.0, 0.0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_log_softmax_logsumexp_at_extremes(dtype) -> None:
    x, g = tc.var("x", (4,)), tc.var("g", (4,))
    x0, g0 = EXTREME.astype(dtype), np.array([1.0, -2.0, 0.5, 3.0], dtype=dtype)
    p = special.softmax(EXTREME)
    J = np.diag(p) - np.outer(p, p)
    exprs = [tc.softmax(x), tc.log_softmax(x), tc.logsumexp(x),
             tc.grad(tc.sum(g * tc.softmax(x)), x), tc.grad(tc.sum(g * tc.log_softmax(x)), x),
             tc.grad(tc.logsumexp(x), x), tc.hessian(tc.logsumexp(x), x), tc.jacobian(tc.softmax(x), x)]
    expected = [p, special.log_softmax(EXTREME), special.logsumexp(EXTREME), J @ g0,
                g0 - p * g0.sum(), p, J, J]
    check(run_all(exprs, x=x0, g=g0), expected, dtype)


def test_softmax_derivatives_print_named() -> None:
    z = tc.var("z", (3,))
    assert tc.display.matrix_text(tc.jacobian(tc.softmax(z), z)) == \
        "diag(softmax(z)) - softmax(z) softmax(z)ᵀ"
    assert str(tc.grad(tc.logsumexp(z), z)) == "softmax(z)"
    assert tc.to_latex(tc.log_softmax(z), notation="matrix") == r"\log\operatorname{softmax}(z)"


def test_against_jax_where_jax_is_stable() -> None:
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    z, y = tc.var("z", (4,)), tc.var("y", (4,))
    z0, y0 = EXTREME.copy(), np.array([0.0, 0.0, 1.0, 0.0])
    f = -tc.sum(y * tc.log(tc.softmax(z)))

    def jf(a):
        return -jnp.sum(y0 * jax.nn.log_softmax(a))

    np.testing.assert_allclose(f.evaluate(z=z0, y=y0), jf(z0), rtol=1e-12)
    np.testing.assert_allclose(tc.grad(f, z).evaluate(z=z0, y=y0), jax.grad(jf)(z0), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(tc.hessian(f, z).evaluate(z=z0, y=y0), jax.hessian(jf)(z0), rtol=1e-12,
                               atol=1e-300)
    w = tc.var("w", (4,))
    lf = tc.sum(tc.softplus(-(y * w)))
    np.testing.assert_allclose(tc.grad(lf, w).evaluate(w=z0, y=y0 * 2 - 1),
                               jax.grad(lambda a: jnp.sum(jax.nn.softplus(-(y0 * 2 - 1) * a)))(z0), rtol=1e-12)


# ----------------------------------------------------------------------------- precision

@pytest.mark.parametrize("name", ["tanh", "sigmoid", "softplus", "exp", "sin", "tan", "log1p",
                                  "softmax", "log_softmax", "logsumexp", "norm2", "normalize"])
@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
def test_single_precision_in_single_precision_out(name, dtype) -> None:
    x, v = tc.var("x", (3,)), tc.var("v", (3,))
    f = tc.sum(getattr(tc, name)(x))
    x0 = np.array([0.3, -0.2, 0.5], dtype=dtype)
    for e in derivatives(f, x, v):
        assert tc.evaluate(e, x=x0, v=x0).dtype == dtype, (name, str(e))
        assert tc.compile(e)(x=x0, v=x0).dtype == dtype, (name, str(e))
