"""The compiled core, driven directly: every kernel path is reachable from here.

Each test builds ``Step`` objects by hand (loop sizes, the loop dimension of every axis) and
compares ``run_plan`` with numpy.einsum on the same contraction.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc import _core
from tensorcalc.contraction.plan import get_plan
from tensorcalc.contraction.subscripts import parse

SOP, GEMM = 0, 1
BATCH, ROWS, COLS, INNER = 0, 1, 2, 3
DTYPES = [np.float32, np.float64, np.complex64, np.complex128]


def _random(rng, shape, dtype):
    x = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.standard_normal(shape)
    return x.astype(dtype)


def _tol(dtype):
    return 2e-4 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-10


def _gemm_step(sizes, roles, dims_a, dims_b, dims_c, shape_c):
    return _core.Step(GEMM, 0, 1, 2, sizes, dims_a, dims_b, dims_c, shape_c, roles, False, (0, 1))


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_plain_and_transposed_layouts(rng, dtype):
    # loop dims: i (rows) 0, j (inner) 1, k (cols) 2
    step = _gemm_step([5, 7, 3], [ROWS, INNER, COLS], [0, 1], [1, 2], [0, 2], [5, 3])
    a, b = _random(rng, (5, 7), dtype), _random(rng, (7, 3), dtype)
    for x in (a, np.asfortranarray(a), a.T.copy().T, a[::-1], a[:, ::2]):
        for y in (b, np.asfortranarray(b), b[::-1], b[:, ::-1]):
            if x.shape != (5, 7):
                x = np.concatenate([x, x], axis=1)[:, :7]
            got = _core.run_plan((step,), [x, y], dtype)
            assert got.dtype == np.dtype(dtype) and got.shape == (5, 3)
            np.testing.assert_allclose(got, x @ y, rtol=_tol(dtype), atol=_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_packs_operands_whose_groups_do_not_merge(rng, dtype):
    # "ijk,jlk->il": the inner group (j, k) is split by l in B, so B must be packed
    step = _gemm_step([4, 5, 6, 3], [ROWS, INNER, INNER, COLS], [0, 1, 2], [1, 3, 2], [0, 3], [4, 3])
    a, b = _random(rng, (4, 5, 6), dtype), _random(rng, (5, 3, 6), dtype)
    got = _core.run_plan((step,), [a, b], dtype)
    np.testing.assert_allclose(got, np.einsum("ijk,jlk->il", a, b), rtol=_tol(dtype), atol=_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_batched_gemm_and_gemv(rng, dtype):
    # "bij,bjk->bik" and "bij,bj->bi" (N == 1 runs GEMV), "bj,bjk->bk" (M == 1)
    a, b, v = _random(rng, (3, 4, 5), dtype), _random(rng, (3, 5, 6), dtype), _random(rng, (3, 5), dtype)
    mm = _gemm_step([3, 4, 5, 6], [BATCH, ROWS, INNER, COLS], [0, 1, 2], [0, 2, 3], [0, 1, 3], [3, 4, 6])
    mv = _gemm_step([3, 4, 5], [BATCH, ROWS, INNER], [0, 1, 2], [0, 2], [0, 1], [3, 4])
    vm = _gemm_step([3, 5, 6], [BATCH, INNER, COLS], [0, 1], [0, 1, 2], [0, 2], [3, 6])
    tol = dict(rtol=_tol(dtype), atol=_tol(dtype))
    np.testing.assert_allclose(_core.run_plan((mm,), [a, b], dtype), a @ b, **tol)
    np.testing.assert_allclose(_core.run_plan((mv,), [a, v], dtype), np.einsum("bij,bj->bi", a, v), **tol)
    np.testing.assert_allclose(_core.run_plan((vm,), [v, b], dtype), np.einsum("bj,bjk->bk", v, b), **tol)
    # strided batch and a transposed matrix: strides, not copies
    at = np.swapaxes(_random(rng, (3, 5, 4), dtype), 1, 2)
    np.testing.assert_allclose(_core.run_plan((mv,), [at, v[:, ::-1]], dtype),
                               np.einsum("bij,bj->bi", at, v[:, ::-1]), **tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sop_diagonal_reduce_embed_broadcast(rng, dtype):
    tol = dict(rtol=_tol(dtype), atol=_tol(dtype))
    x = _random(rng, (4, 4, 3), dtype)
    # "iij->j": a diagonal (two axes on loop dim 0) summed, j kept
    step = _core.Step(SOP, 0, -1, 1, [4, 3], [0, 0, 1], [], [1], [3], [], True, (0,))
    np.testing.assert_allclose(_core.run_plan((step,), [x], dtype), np.einsum("iij->j", x), **tol)
    # "j->jj": diagonal embedding (zero-initialised output)
    v = _random(rng, (3,), dtype)
    step = _core.Step(SOP, 0, -1, 1, [3], [0], [], [0, 0], [3, 3], [], True, (0,))
    np.testing.assert_allclose(_core.run_plan((step,), [v], dtype), np.diag(v), **tol)
    # "j->jk": broadcast along a label the input lacks
    step = _core.Step(SOP, 0, -1, 1, [3, 5], [0], [], [0, 1], [3, 5], [], False, (0,))
    np.testing.assert_allclose(_core.run_plan((step,), [v], dtype), np.repeat(v[:, None], 5, 1), **tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sop_large_paths_tiled_and_parallel(rng, dtype):
    tol = dict(rtol=10 * _tol(dtype), atol=10 * _tol(dtype))
    a, b = _random(rng, (700, 900), dtype), _random(rng, (700, 900), dtype)
    # transposing copy (tiled loops) and a Hadamard row sum (parallel over rows)
    old = _core.set_threads(2)
    try:
        for threads in (2, 1):
            _core.set_threads(threads)
            np.testing.assert_allclose(tc.einsum("ij,ij->ji", a, b), (a * b).T, **tol)
            np.testing.assert_allclose(tc.einsum("ij,ij->i", a, b), np.einsum("ij,ij->i", a, b), **tol)
            np.testing.assert_allclose(tc.einsum("ij,ji->ij", a, b.T.copy()), a * b, **tol)
            np.testing.assert_allclose(tc.einsum("i,j->ij", a[0], b[0]), np.outer(a[0], b[0]), **tol)
    finally:
        _core.set_threads(old)
    with pytest.raises(ValueError):
        _core.set_threads(0)


def test_relabel_view_shares_memory_and_checks_shapes():
    a = np.arange(16.0).reshape(4, 4)
    view = _core.relabel_view(a, (0, 0), (4,))
    assert np.shares_memory(view, a) and view.tolist() == [0.0, 5.0, 10.0, 15.0]
    a.flags.writeable = False
    assert not _core.relabel_view(a, (1, 0), (4, 4)).flags.writeable
    with pytest.raises(tc.TensorcalcError, match="axis 0 has size 4"):
        _core.relabel_view(a, (0, 0), (3,))


def test_plan_checks_operands_before_running():
    plan = get_plan(parse("ij,jk->ik", [(30, 40), (40, 50)]), [np.dtype("f8")] * 2)
    with pytest.raises(tc.TensorcalcError, match="operand 1 axis 0 has size 39"):
        plan.execute([np.ones((30, 40)), np.ones((39, 50))])
    with pytest.raises(tc.TensorcalcError, match="takes 2 operands"):
        plan.execute([np.ones((30, 40))])
    with pytest.raises(tc.TensorcalcError, match="operand 1 has 0 axes"):
        _core.run_plan(plan.steps, [np.ones((30, 40)), None], np.float64)
    with pytest.raises(TypeError, match="does not handle dtype"):
        _core.run_plan(plan.steps, [np.ones((30, 40)), np.ones((40, 50))], np.int64)


def test_plans_choose_gemm_for_batched_pairs():
    dt = [np.dtype("f8")] * 2
    lines = get_plan(parse("bhqd,bhkd->bhqk", [(2, 3, 40, 16), (2, 3, 50, 16)]), dt).describe()
    assert lines == ["GEMM bhqd,bhkd->bhqk  batch=bh rows=q cols=k inner=d"]
    # the intermediate is written in the order the next GEMM reads (no pack)
    lines = get_plan(parse("ijk,jl,kl->il", [(30, 20, 20), (20, 30), (20, 30)]), [dt[0]] * 3).describe()
    assert lines[-1] == "GEMM ijk,jkl->il  batch=- rows=i cols=l inner=jk"


def test_core_releases_the_gil(rng):
    """A long contraction in one thread lets another thread run Python meanwhile."""
    a = rng.standard_normal((1500, 1500))
    ticks = []
    done = threading.Event()

    def count():
        while not done.is_set():
            ticks.append(1)

    t = threading.Thread(target=count)
    t.start()
    try:
        for _ in range(3):
            tc.einsum("ij,kj->ik", a, a)
    finally:
        done.set()
        t.join()
    assert len(ticks) > 100
