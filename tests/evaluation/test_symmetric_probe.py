"""The quick symmetry test a compiled call runs on every symmetric variable: two products with
a fixed random probe (drawn once per size and dtype), no pass to find the largest entry; it
accepts symmetric matrices of every usual kind and leaves the rest to the exact check."""

from __future__ import annotations

import numpy as np
import pytest

from tensorcalc.errors import TensorcalcError
from tensorcalc.evaluation.binding import _symmetric_by_projection, check_symmetric


def _kinds(rng, n):
    s = rng.standard_normal((n, n))
    sym = s + s.T
    laplacian = -np.abs(sym)
    np.fill_diagonal(laplacian, 0.0)
    np.fill_diagonal(laplacian, -laplacian.sum(axis=1))  # rows sum to zero
    b = rng.standard_normal((n, n // 2 + 1))
    return {"random": sym, "laplacian": laplacian, "gram": b @ b.T, "huge": sym * 1e150,
            "tiny": sym * 1e-290, "zero": np.zeros((n, n)), "complex": sym + 1j * sym}


@pytest.mark.parametrize("n", [1, 7, 300])
def test_symmetric_matrices_pass_the_quick_test(n, rng) -> None:
    for name, a in _kinds(rng, n).items():
        assert _symmetric_by_projection(a), name


@pytest.mark.filterwarnings("error")
def test_asymmetric_or_non_finite_matrices_miss_it(rng) -> None:
    a = _kinds(rng, 50)["random"]
    off = a.copy()
    off[3, 17] += 1e-6 * np.abs(a).max()
    nan = a.copy()
    nan[2, 2] = np.nan
    inf = a.copy()
    inf[0, 1] = inf[1, 0] = np.inf
    for b in (off, nan, inf):
        assert not _symmetric_by_projection(b)
    with pytest.raises(TensorcalcError, match=r"entry \[3, 17\]"):
        check_symmetric("S", off)
    check_symmetric("S", nan)  # NaN on the diagonal is symmetric: the exact check accepts it
    check_symmetric("S", inf)


def test_the_probe_is_drawn_once_per_size_and_dtype(rng, monkeypatch) -> None:
    a = _kinds(rng, 11)["random"]
    assert _symmetric_by_projection(a)
    drawn = []
    original = np.random.default_rng
    monkeypatch.setattr(np.random, "default_rng", lambda *args: drawn.append(args) or original(*args))
    assert _symmetric_by_projection(a) and _symmetric_by_projection(np.eye(11, dtype=np.float32))
    assert drawn == [(11,)]  # float32 is a new dtype: one draw; float64 reused its probe
