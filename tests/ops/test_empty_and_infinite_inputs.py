"""Functions along axes and means on inputs without entries and on rows of infinities/NaN.

Every primitive that shifts by the row's peak (logsumexp, softmax, log_softmax), takes a norm
(norm2, normalize) or divides by a count (mean) is evaluated (``evaluate`` and ``compile``) on
every backend (numpy, torch, JAX, array-api-strict, dask in one chunk and chunked along the
batch axis with ``batch=``) on: an empty reduced axis, an empty batch axis, rows of -inf
(all -inf, mixed with finite entries), rows holding +inf, rows holding NaN. The result must
equal the reference (scipy's and numpy's functions), with every warning an error: dask runs
its graph lazily, outside any errstate, so a template that takes log(0) or inf - inf warns at
``compute`` time. A mean over no entries is NaN (numpy's value), never an error; its gradient
is an empty array. The generated code of the same cases is checked in
tests/display/test_to_source_edge_values.py.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any, Callable

import numpy as np
import pytest

import tensorcalc as tc

INF, NAN = np.inf, np.nan

# (name, builder of x, reference on a numpy array)
X = tc.var("x", ("n", "k"))


def _quiet(f: Callable[[np.ndarray], Any]) -> Callable[[np.ndarray], np.ndarray]:
    def reference(a: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return np.asarray(f(a))
    return reference


def _logsumexp(a: np.ndarray) -> np.ndarray:
    if a.shape[1] == 0:
        return np.full(a.shape[0], -INF)  # the log of an empty sum
    return importlib.import_module("scipy.special").logsumexp(a, axis=1)


def _softmax(a: np.ndarray) -> np.ndarray:
    if a.size == 0:
        return a.copy()
    # scipy's softmax is NaN on a whole row holding +inf; tensorcalc keeps the limit 0 of the
    # finite entries there (NaN only where inf / inf), as exp(log_softmax) does (scipy's
    # log_softmax agrees with tensorcalc on every row)
    return np.exp(_log_softmax(a))


def _log_softmax(a: np.ndarray) -> np.ndarray:
    if a.size == 0:
        return a.copy()
    return importlib.import_module("scipy.special").log_softmax(a, axis=1)


def _normalize(a: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(a)
    return a if n == 0 else a / n


CASES: dict[str, tuple[Callable[[Any], tc.Expr], Callable[[np.ndarray], np.ndarray]]] = {
    "logsumexp": (lambda x: tc.logsumexp(x, axis=1), _quiet(_logsumexp)),
    "softmax": (lambda x: tc.softmax(x, axis=1), _quiet(_softmax)),
    "log_softmax": (lambda x: tc.log_softmax(x, axis=1), _quiet(_log_softmax)),
    "norm2": (tc.norm2, _quiet(np.linalg.norm)),
    "normalize": (tc.normalize, _quiet(_normalize)),
    "mean_axis": (lambda x: tc.mean(x, axis=1), _quiet(lambda a: np.mean(a, axis=1))),
    "mean_all": (tc.mean, _quiet(np.mean)),
}

INPUTS: dict[str, np.ndarray] = {
    "empty_reduced_axis": np.zeros((3, 0)),
    "empty_batch_axis": np.zeros((0, 3)),
    "minus_inf_rows": np.array([[-INF, -INF, -INF], [-INF, 0.0, 1.0], [0.5, -1.0, 2.0]]),
    "plus_inf_rows": np.array([[INF, 1.0, -INF], [INF, INF, 0.0], [0.5, -1.0, 2.0]]),
    "nan_rows": np.array([[NAN, 1.0, 2.0], [NAN, -INF, INF], [0.5, -1.0, 2.0]]),
}



def inputs_for(case: str) -> dict[str, np.ndarray]:
    """The inputs of a case. A mean sums its row: +inf + -inf is an invalid operation that
    numpy's own ``sum`` and ``mean`` warn on (as for any einsum), so the means' +inf rows hold
    no -inf."""
    if not case.startswith("mean"):
        return INPUTS
    plus = np.where(INPUTS["plus_inf_rows"] == -INF, 0.0, INPUTS["plus_inf_rows"])
    return {**INPUTS, "plus_inf_rows": plus, "nan_rows": np.where(np.isinf(INPUTS["nan_rows"]), 0.0,
                                                                  INPUTS["nan_rows"])}


# the libraries each evaluation backend needs, and how its arrays are made and read back
LIBRARIES = {"numpy": "numpy", "torch": "torch", "jax": "jax", "array_api_strict": "array_api_strict",
             "dask": "dask.array", "dask_chunked": "dask.array"}


def library(backend: str) -> Any:
    module = pytest.importorskip(LIBRARIES[backend], reason=f"{backend} is not installed")
    if backend == "jax":
        importlib.import_module("jax").config.update("jax_enable_x64", True)
    return module


def to_backend(a: np.ndarray, backend: str) -> Any:
    module = library(backend)
    if backend == "torch":
        return module.from_numpy(a.copy())
    if backend == "jax":
        return importlib.import_module("jax.numpy").asarray(a)
    if backend == "array_api_strict":
        return module.asarray(a)
    if backend == "dask":
        return module.from_array(a, chunks=a.shape or ())
    if backend == "dask_chunked":  # two chunks along the batch axis n (one when n is 0)
        return module.from_array(a, chunks=(max(1, -(-a.shape[0] // 2)), a.shape[1]))
    return a


def to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "compute"):  # dask: the graph runs here, under the test's filter
        value = value.compute()
    if type(value).__module__.startswith("torch"):
        return value.numpy()
    return np.asarray(value)


def assert_same(got: Any, want: np.ndarray, what: str) -> None:
    got = np.asarray(got)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0, equal_nan=True, err_msg=what)


BACKENDS = tuple(LIBRARIES)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES)
def test_evaluate_and_compile_match_reference_silently(case: str, backend: str) -> None:
    build, reference = CASES[case]
    expr = build(X)
    batch = {"batch": "n"} if backend == "dask_chunked" else {}
    program = tc.compile(expr, **batch)
    for kind, a in inputs_for(case).items():
        x = to_backend(a, backend)
        want = reference(a)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert_same(to_numpy(expr.evaluate(x=x, **batch)), want, f"evaluate {case} {kind}")
            assert_same(to_numpy(program(x=x)), want, f"compile {case} {kind}")


def test_dask_logsumexp_of_minus_inf_rows_is_silent() -> None:
    """The reported case: dask computes the template lazily, outside evaluate's errstate."""
    da = library("dask")
    a = np.full((4, 3), -INF)
    for batch, chunks in ((None, (4, 3)), ("n", (2, 3))):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out = tc.logsumexp(X, axis=1).evaluate(x=da.from_array(a, chunks=chunks), batch=batch)
            np.testing.assert_array_equal(out.compute(), np.full(4, -INF))


@pytest.mark.parametrize("shape", [(3, 0), (0, 3)])
def test_mean_of_no_entries_is_nan_and_its_gradient_is_empty(shape: tuple[int, int]) -> None:
    a = np.zeros(shape)
    named, fixed = tc.var("x", ("n", "k")), tc.var("x", shape)
    for x in (named, fixed):  # a named size bound to 0, and a 0 known when building
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            m = tc.mean(x)
            assert np.isnan(m.evaluate(x=a)) and np.isnan(tc.compile(m)(x=a))
            assert tc.mean(x, axis=1).evaluate(x=a).shape == (shape[0],)
            for y in (m, tc.sum(tc.mean(x, axis=1))):
                g = tc.grad(y, x)
                assert g.evaluate(x=a).shape == shape and tc.compile(g)(x=a).shape == shape
                assert tc.jvp(y, x, np.ones(shape)).evaluate(x=a).shape == ()


def test_mean_over_empty_axis_keeps_the_other_axes_exact() -> None:
    """NaN only where a row has no entries: a mean over a non-empty axis is unchanged."""
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(tc.mean(X, axis=1).evaluate(x=a), [1.0, 4.0])
    np.testing.assert_array_equal(tc.mean(tc.var("y", (2, 0)), axis=0).evaluate(y=np.zeros((2, 0))),
                                  np.zeros(0))
