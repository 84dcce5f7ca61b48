"""The primitives' values: every function of :mod:`tensorcalc.ops.functions` on expressions
and on arrays, against numpy and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

import tensorcalc as tc
from tensorcalc.evaluation import evaluate
from tensorcalc.ir import var
from tensorcalc.ops import functions as F


@pytest.fixture
def vals(rng):
    return {"A": rng.standard_normal((4, 3)), "x": rng.standard_normal(3),
            "b": rng.standard_normal(4), "M": rng.standard_normal((3, 3)) + 3 * np.eye(3)}


def symbols():
    return var("A", ("m", "n")), var("x", ("n",)), var("b", ("m",)), var("M", ("n", "n"))


@pytest.mark.parametrize("name", ["exp", "log", "log1p", "sin", "cos", "tan", "tanh", "sigmoid",
                                  "relu", "softplus", "sqrt", "abs", "sign"])
def test_elementwise_functions(name: str, rng) -> None:
    x0 = rng.standard_normal(5)
    if name in ("log", "sqrt", "log1p"):
        x0 = np.abs(x0) + 0.1
    reference = {"sigmoid": special.expit, "relu": lambda v: np.maximum(v, 0),
                 "softplus": lambda v: np.log1p(np.exp(v))}.get(name, getattr(np, name, None))
    got = evaluate(getattr(F, name)(var("x", (5,))), {"x": x0})
    np.testing.assert_allclose(got, reference(x0), rtol=1e-12)
    np.testing.assert_allclose(getattr(F, name)(x0), reference(x0), rtol=1e-12)  # arrays: numpy


def test_reductions_and_matrix_functions(vals) -> None:
    A, x, _, M = symbols()
    a0, x0, m0 = vals["A"], vals["x"], vals["M"]
    cases = [
        (F.sum(A), a0.sum()), (F.sum(A, axis=0), a0.sum(0)), (F.sum(A, axis=(-1,)), a0.sum(-1)),
        (F.mean(A), a0.mean()), (F.mean(A, axis=1), a0.mean(1)),
        (F.trace(M), np.trace(m0)), (F.diag(M), np.diag(m0)), (F.diag(x), np.diag(x0)),
        (F.inv(M), np.linalg.inv(m0)), (F.det(M), np.linalg.det(m0)),
        (F.logdet(M), np.linalg.slogdet(m0)[1]), (F.norm2(A), np.linalg.norm(a0)),
        (F.softmax(A, axis=0), special.softmax(a0, axis=0)),
        (F.logsumexp(A, axis=1), special.logsumexp(a0, axis=1)),
        (F.logsumexp(A), special.logsumexp(a0)),
        (F.pow(x, 3), x0 ** 3), (F.pow(A, 1), a0),
    ]
    for expr, expected in cases:
        got = evaluate(expr, vals)
        assert np.shape(got) == np.shape(expected)
        np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-12)


def test_logsumexp_is_stable() -> None:
    x = var("x", (3,))
    big = np.array([1000.0, 1001.0, 999.0])
    np.testing.assert_allclose(evaluate(F.logsumexp(x), {"x": big}), special.logsumexp(big))
    np.testing.assert_allclose(evaluate(F.softmax(x), {"x": big}), special.softmax(big))


def test_array_paths_keep_complex_values() -> None:
    # regression: tc.exp(complex array) cast to float, dropping the imaginary part;
    # tc.norm2(complex) was sqrt(sum(z**2)), not the norm
    z = np.array([1 + 1j, 2 - 0.5j])
    for name in ("exp", "log", "sin", "cos", "tan", "tanh", "sqrt", "log1p", "abs", "sign"):
        got = getattr(tc, name)(z)
        assert got.dtype == getattr(np, name)(z).dtype, name
        np.testing.assert_allclose(got, getattr(np, name)(z), rtol=1e-14, err_msg=name)
    np.testing.assert_allclose(tc.pow(z, 3), z ** 3, rtol=1e-14)
    assert tc.pow(np.arange(3), 2).dtype == np.float64
    assert float(tc.norm2(z)) == pytest.approx(np.linalg.norm(z), rel=1e-14)
