"""Functions along axes over zero-size axes, on every backend, with warnings as errors.

``logsumexp`` over no entries is ``log(0) = -inf``. numpy's path takes the log under
``errstate``; the array-API template took it too, and dask runs it lazily, at ``compute()``,
outside any errstate: "divide by zero encountered in log". The results must be exactly the
numpy path's (-inf, dtype included) with no warning on any backend."""

from __future__ import annotations

import warnings
from typing import Any, Callable

import numpy as np
import pytest

import tensorcalc as tc


def _numpy() -> tuple[Callable[[np.ndarray], Any], Callable[[Any], np.ndarray]]:
    return np.asarray, np.asarray


def _dask(chunks: Any = -1) -> tuple[Callable[[np.ndarray], Any], Callable[[Any], np.ndarray]]:
    da = pytest.importorskip("dask.array")
    return (lambda a: da.from_array(a, chunks=chunks)), (lambda r: np.asarray(r.compute()))


def _torch() -> tuple[Callable[[np.ndarray], Any], Callable[[Any], np.ndarray]]:
    torch = pytest.importorskip("torch")
    return torch.as_tensor, (lambda t: t.numpy())


def _strict() -> tuple[Callable[[np.ndarray], Any], Callable[[Any], np.ndarray]]:
    xp = pytest.importorskip("array_api_strict")
    return xp.asarray, np.from_dlpack


BACKENDS = {"numpy": _numpy, "torch": _torch, "array_api_strict": _strict,
            "dask": _dask,  # one chunk: the array-API program (generic.py)
            "dask chunked": lambda: _dask(2)}  # chunked along a batch axis: numpy tasks (chunked.py)

X = tc.var("x", ("n", "m", "k"))
CASES = {  # name: (expression, shape of x)
    "logsumexp over the empty axis": (tc.logsumexp(X, axis=0), (0, 3, 2)),
    "logsumexp over two axes, one empty": (tc.logsumexp(X, axis=(1, 2)), (4, 3, 0)),
    "logsumexp over every axis": (tc.logsumexp(X), (2, 0, 3)),
    "logsumexp, only a batch axis empty": (tc.logsumexp(X, axis=1), (0, 3, 2)),
    "log_softmax over the empty axis": (tc.log_softmax(X, axis=1), (2, 0, 3)),
    "softmax over the empty axis": (tc.softmax(X, axis=2), (2, 3, 0)),
    "norm2": (tc.norm2(X), (2, 0, 3)),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_reductions_over_zero_size_axes_warn_nowhere_and_match_numpy(backend, case, dtype) -> None:
    asarray, to_numpy = BACKENDS[backend]()
    expr, shape = CASES[case]
    value = np.zeros(shape, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        expected = np.asarray(expr.evaluate(x=value))
        for run in (expr.evaluate, tc.compile(expr)):
            got = to_numpy(run(x=asarray(value)))  # dask computes here: its warnings too
            assert got.shape == expected.shape and got.dtype == expected.dtype
            assert np.array_equal(got, expected)
    if "logsumexp" in case and expected.size:
        assert np.all(np.real(expected) == -np.inf) and np.all(np.imag(expected) == 0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_non_empty_logsumexp_still_runs_the_stable_template(backend) -> None:
    asarray, to_numpy = BACKENDS[backend]()
    expr = tc.logsumexp(X, axis=(0, 2))
    value = np.random.default_rng(0).standard_normal((3, 4, 2)) + 1000.0  # exp overflows unshifted
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = to_numpy(tc.compile(expr)(x=asarray(value)))
    reference = 1000.0 + np.log(np.exp(value - 1000.0).sum(axis=(0, 2)))
    np.testing.assert_allclose(got, reference, rtol=1e-12)
