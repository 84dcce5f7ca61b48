"""The quick symmetry probe at the input's own precision: float32 and complex64 products round
A u and uᵀ A apart by ~eps(dtype)·n of the projection, so a fixed 1e-10 tolerance sent every
single-precision call to the slower exact check. The tolerance now follows the dtype; a matrix
that is clearly not symmetric is still refused with the usual error."""

from __future__ import annotations

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc.errors import TensorcalcError
from tensorcalc.evaluation import binding
from tensorcalc.evaluation.binding import _symmetric_by_projection

DTYPES = [np.float32, np.complex64, np.float64, np.complex128]


def _symmetric(rng, n: int, dtype) -> np.ndarray:
    s = rng.standard_normal((n, n))
    if np.dtype(dtype).kind == "c":
        s = s + 1j * rng.standard_normal((n, n))
    return (s + s.T).astype(dtype)  # symmetric (not Hermitian), as ``symmetric=True`` means


def _laplacian(rng, n: int, dtype) -> np.ndarray:
    """Rows that sum to zero: the projection cancels most, the worst case for rounding."""
    s = np.abs(rng.standard_normal((n, n)))
    lap = -(s + s.T)
    np.fill_diagonal(lap, 0.0)
    np.fill_diagonal(lap, -lap.sum(axis=1))
    return lap.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [2, 5, 64, 257, 600])  # 257 on: numpy's loops instead of BLAS
def test_symmetric_matrices_of_every_precision_pass_the_probe_itself(n, dtype, rng) -> None:
    for a in (_symmetric(rng, n, dtype), _laplacian(rng, n, dtype),
              _symmetric(rng, n, dtype) * np.float32(1e-30), np.eye(n, dtype=dtype)):
        assert _symmetric_by_projection(a)


def test_a_compiled_float32_call_does_not_fall_back_to_the_exact_check(rng, monkeypatch) -> None:
    probes: list[bool] = []
    probe = binding._symmetric_by_projection
    monkeypatch.setattr(binding, "_symmetric_by_projection", lambda a: probes.append(probe(a)) or probes[-1])
    S, x = tc.var("S", ("n", "n"), symmetric=True), tc.var("x", ("n",))
    f = tc.compile(x @ S @ x)
    for dtype in (np.float32, np.complex64):
        for n in (3, 40, 300):
            a, v = _symmetric(rng, n, dtype), rng.standard_normal(n).astype(dtype)
            assert np.allclose(f(S=a, x=v), v @ a @ v, rtol=1e-4)
    assert len(probes) >= 6 and all(probes)  # a False is a fallback to the exact check


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
def test_a_clearly_asymmetric_single_precision_matrix_is_refused(dtype, rng) -> None:
    a = _symmetric(rng, 20, dtype)
    off = np.abs(a) - np.diag(np.diag(np.abs(a)))
    i, j = np.unravel_index(np.argmax(off), off.shape)  # an off-diagonal entry
    a[i, j] *= 1 + 1e-3
    assert not _symmetric_by_projection(a)
    S, x = tc.var("S", (20, 20), symmetric=True), tc.var("x", (20,))
    v = np.ones(20, dtype=dtype)
    with pytest.raises(TensorcalcError, match=rf"declared symmetric but .* entry \[{i}, {j}\]"):
        tc.compile(x @ S @ x)(S=a, x=v)
    with pytest.raises(TensorcalcError, match="declared symmetric"):
        (x @ S @ x).evaluate(S=a, x=v)


def test_float64_keeps_its_tolerance(rng) -> None:
    # 1e-7 of the largest entry: refused by float64's 1e-10 probe, far inside float32's rounding
    a = _symmetric(rng, 20, np.float64)
    a[3, 11] += 1e-7 * np.abs(a).max()
    assert not _symmetric_by_projection(a)
    assert _symmetric_by_projection(_symmetric(rng, 20, np.float32))
