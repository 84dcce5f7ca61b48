"""Generated code (``tc.to_source``) on inputs without entries and on rows of infinities/NaN.

The cases of tests/ops/test_empty_and_infinite_inputs.py (logsumexp, softmax, log_softmax,
norm2, normalize, means; empty reduced axis, empty batch axis, rows of -inf, +inf, NaN) run
as the source each backend generates (numpy; torch; JAX, one ``jax.jit`` per case; the
array-API source on array-api-strict arrays, which warn as numpy does) and must give exactly
what ``evaluate`` gives and the reference, with every warning an error. Before, the source
took the max over an empty axis (numpy: ValueError, torch: IndexError) and shifted a row of
-inf by -inf (NaN where logsumexp is -inf).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tensorcalc as tc
from tests.display.test_to_source import library, load, to_backend, to_numpy
from tests.ops.test_empty_and_infinite_inputs import CASES, X, assert_same, inputs_for

BACKENDS = ("numpy", "torch", "jax", "array_api")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES)
def test_generated_code_matches_evaluate_and_reference_silently(case: str, backend: str) -> None:
    library(backend)
    build, reference = CASES[case]
    expr = build(X)
    fn = load(tc.to_source(expr, backend=backend))
    if backend == "jax":
        import jax

        fn = jax.jit(fn)  # the source must trace: shapes are static there
    for kind, a in inputs_for(case).items():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = to_numpy(fn(to_backend(a, backend)), backend)
            want = np.asarray(expr.evaluate(x=a))
        assert_same(want, reference(a), f"evaluate {case} {kind}")
        assert_same(got, want, f"{backend} source {case} {kind}")
        assert got.dtype == want.dtype, (case, kind, got.dtype, want.dtype)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_generated_code_keeps_float32_on_edge_values(backend: str) -> None:
    """The guards (``where`` with NaN, -inf, 1) keep the inputs' precision."""
    library(backend)
    a = np.array([[-np.inf, -np.inf], [np.inf, 1.0], [0.0, 1.0]], dtype=np.float32)
    for case in ("logsumexp", "softmax", "log_softmax", "normalize"):
        expr = CASES[case][0](X)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = to_numpy(load(tc.to_source(expr, backend=backend))(to_backend(a, backend)), backend)
            want = expr.evaluate(x=a)
        assert got.dtype == np.float32 and want.dtype == np.float32, (case, got.dtype, want.dtype)
        np.testing.assert_allclose(got, want, rtol=1e-6, equal_nan=True, err_msg=case)


def test_numpy_source_peak_is_defined_on_no_entries() -> None:
    """The numpy source's peak is ``np.max(..., initial=-np.inf)``: defined on no entries."""
    source = tc.to_source(tc.logsumexp(X, axis=1))
    assert "initial=-np.inf" in source and "np.where(np.isfinite(" in source
