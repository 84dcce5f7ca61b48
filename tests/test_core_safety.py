"""The compiled core at its limits: 64-bit strides, fork(), broadcast operands, its interface.

Cases that could crash (BLAS reading out of bounds) or hang (OpenMP after fork) run in a
fresh interpreter with a timeout, so that a regression fails the test instead of pytest.
"""

from __future__ import annotations

import importlib
import tracemalloc

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc import _core
from tests.helpers import run_script as _run_script

BIG_STRIDE = 2**31 + 8          # elements: one more bit than scipy's 32-bit BLAS ints hold


def _plan_module():
    # the planner's module path is being reorganised; either place will do
    for name in ("tensorcalc.contraction.plan", "tensorcalc.plan"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError("tensorcalc's plan module")


# A float64 buffer longer than BIG_STRIDE. np.zeros gets it from calloc, i.e. untouched
# zero pages that cost no memory; a sparse file stands in where overcommit refuses 16 GiB.
_BIG_BUFFER = """
import sys
import numpy as np
import tensorcalc as tc
from tensorcalc import _core

S = {stride}

def big_buffer(n):
    try:
        return np.zeros(n)
    except MemoryError:
        return np.memmap(sys.argv[1] + "/sparse.bin", dtype=np.float64, mode="w+", shape=(n,))

def strided(buf, shape, strides):
    return np.lib.stride_tricks.as_strided(buf, shape=shape, strides=[8 * s for s in strides])
""".format(stride=BIG_STRIDE)


# --- 1. strides beyond 32 bits ------------------------------------------------------------

def test_gemv_vector_stride_beyond_int32(tmp_path):
    # guards GEMV's vector increment against truncation to 32 bits
    _run_script(_BIG_BUFFER + """
buf = big_buffer(S + 8)
x = strided(buf, (2,), (S,))
x[0], x[1] = 1.0, 2.0
a = np.ones((700, 2))
got = tc.einsum("ij,j->i", a, x)
np.testing.assert_array_equal(got, np.full(700, 3.0))
v = tc.einsum("j,jk->k", x, a.T.copy())     # the vector on the other side (M == 1)
np.testing.assert_array_equal(v, np.full(700, 3.0))
""", tmp_path)


def test_gemm_leading_dimension_beyond_int32(tmp_path):
    # guards GEMM's leading dimension against truncation to 32 bits
    _run_script(_BIG_BUFFER + """
buf = big_buffer(S + 700)
a = strided(buf, (2, 600), (S, 1))
a[0], a[1] = 1.0, 2.0
b = np.arange(1200.0).reshape(600, 2)
np.testing.assert_array_equal(tc.einsum("ij,jk->ik", a, b), np.array(a) @ b)
# a column-major operand: the leading dimension is its column stride
at = strided(buf, (600, 2), (1, S))
c = np.arange(600.0).reshape(2, 300)
np.testing.assert_array_equal(tc.einsum("ij,jk->ik", at, c), np.array(at) @ c)
""", tmp_path)


def test_dot_increment_beyond_int32(tmp_path):
    # guards DOT's increments against truncation to 32 bits
    _run_script(_BIG_BUFFER + """
buf = big_buffer(S + 8)
x = strided(buf, (2,), (S,))
x[0], x[1] = 3.0, 5.0
y = np.array([7.0, 11.0])
# a hand-made GEMM step with M = N = 1, so that the planner's length threshold for BLAS dots
# does not send it to the typed loops
step = _core.Step(1, 0, 1, 2, [2], [0], [0], [], [], [3], False, (0, 1))
for p, q in ((x, y), (y, x), (x, x)):
    assert float(_core.run_plan((step,), [p, q], np.float64)) == float(np.array(p) @ np.array(q))
""", tmp_path)


# --- 2. fork() after parallel loops ----------------------------------------------------------

_PARALLEL_THEN_FORK = """
import multiprocessing as mp
import os
import warnings
import numpy as np
import tensorcalc as tc
from tensorcalc import _core

_core.set_threads(2)
a = np.ones((3000, 3000))
want = np.full(3000, 3000.0)
np.testing.assert_array_equal(tc.einsum("ij,ij->i", a, a), want)   # a parallel region ran
"""


def test_fork_after_parallel_loops_does_not_hang(tmp_path):
    # guards a multiprocessing 'fork' child against libgomp's dead thread pool
    out = _run_script(_PARALLEL_THEN_FORK + """
def child(queue):
    queue.put(bool(np.array_equal(tc.einsum("ij,ij->i", a, a), want)))

ctx = mp.get_context("fork")
queue = ctx.Queue()
worker = ctx.Process(target=child, args=(queue,))
worker.start()
ok = queue.get(timeout=60)
worker.join(60)
assert ok and worker.exitcode == 0, (ok, worker.exitcode)
np.testing.assert_array_equal(tc.einsum("ij,ij->i", a, a), want)   # the parent keeps threads
assert _core.set_threads(2) == 2
print("done")
""", tmp_path, timeout=90)
    assert "done" in out


def test_forked_child_keeps_its_threads(tmp_path):
    # the core's own pool (not libgomp) starts fresh workers in a forked child
    _run_script(_PARALLEL_THEN_FORK + """
pid = os.fork()
if pid == 0:
    code = 1
    try:
        assert _core._pool_workers() == 0           # the parent's did not come along
        assert _core.set_threads(2) == 2            # the setting is kept
        np.testing.assert_array_equal(tc.einsum("ij,ij->i", a, a), want)
        assert _core._pool_workers() == 1
        code = 0
    finally:
        os._exit(code)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0
""", tmp_path, timeout=90)


# --- 3. broadcast (zero-stride) operands -----------------------------------------------------

def _peak_traced(call):
    """Peak bytes tracemalloc saw during a second ``call()`` (numpy reports its data buffers
    to it, and the core allocates packed copies as numpy arrays). The first call, untraced,
    builds the plan and does any lazy imports."""
    call()
    tracemalloc.start()
    try:
        probe = np.empty(1 << 17)                     # 1 MiB: tracing must see numpy's buffers
        assert tracemalloc.get_traced_memory()[0] >= probe.nbytes
        del probe
        tracemalloc.reset_peak()
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_dot_of_broadcast_vectors_allocates_nothing():
    # guards 'i,i->' on broadcast operands from packing them to full length
    n = 2**26
    a = np.broadcast_to(np.float64(2), (n,))
    got, peak = _peak_traced(lambda: tc.einsum("i,i->", a, a))
    assert got == 4.0 * n
    assert peak < 1 << 20, f"{peak / 2**20:.0f} MiB allocated"


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.complex128])
def test_dot_with_one_broadcast_operand(rng, dtype):
    # guards a dot with one broadcast operand: computed in place, and right in every dtype
    n = 2**20
    b = rng.standard_normal(n).astype(dtype)
    s = np.asarray(1.5 - 0.5j if np.dtype(dtype).kind == "c" else 1.5, dtype=dtype)
    a = np.broadcast_to(s, (n,))
    got, peak = _peak_traced(lambda: tc.einsum("i,i->", a, b))
    tol = 1e-4 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-10
    want = np.einsum("i,i->", np.asarray(a, np.complex128), b.astype(np.complex128))
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(b).sum())
    assert peak < 1 << 20, f"{peak / 2**20:.1f} MiB allocated"
    np.testing.assert_allclose(tc.einsum("i,i->", b, a), got, rtol=tol)


def test_batch_broadcast_operand_is_packed_once(rng):
    # guards GEMM packing from copying an operand along the batch dims it is broadcast in
    m = rng.standard_normal((512, 512))[::2, ::2]      # strides BLAS cannot take: must pack
    a = np.broadcast_to(m, (128, 256, 256))             # a full copy would be 64 MiB
    b = rng.standard_normal((128, 256, 8))
    got, peak = _peak_traced(lambda: tc.einsum("bij,bjk->bik", a, b))
    np.testing.assert_allclose(got, np.einsum("bij,bjk->bik", a, b), rtol=1e-10, atol=1e-10)
    packed_once = m.size * m.itemsize
    assert peak < got.nbytes + 2 * packed_once, f"{peak / 2**20:.1f} MiB allocated"


# --- 4. the interface planner and core share ---------------------------------------------

def test_core_exports_its_enums_and_limits():
    # guards the planner's constants against drifting from the core's declarations
    assert _core.MAXD == 64
    assert (_core.SOP, _core.GEMM) == (_core.StepKind.SOP, _core.StepKind.GEMM) == (0, 1)
    assert [_core.BATCH, _core.ROW, _core.COL, _core.INNER] == [0, 1, 2, 3]
    assert [r.name for r in _core.Role] == ["BATCH", "ROW", "COL", "INNER"]
    plan = _plan_module()
    assert plan.MAX_LOOP_DIMS == _core.MAXD
    assert tuple(plan.CORE_DTYPES) == tuple(_core.DTYPES)


def test_step_keyword_factories(rng):
    # guards Step.sop / Step.gemm: keyword-only, with the derived shape and zeroing
    a, b = rng.standard_normal((4, 5)), rng.standard_normal((5, 3))
    with pytest.raises(TypeError):
        _core.Step.sop(0, -1, 1, [4, 5], [0, 1], [], [0])
    rowsum = _core.Step.sop(a=0, out=1, sizes=[4, 5], dims_a=[0, 1], dims_c=[0], release=(0,))
    assert rowsum.zero_init and rowsum.kind == _core.SOP
    np.testing.assert_allclose(_core.run_plan((rowsum,), [a], np.float64), a.sum(1))
    embed = _core.Step.sop(a=0, out=1, sizes=[4], dims_a=[0], dims_c=[0, 0])
    np.testing.assert_allclose(_core.run_plan((embed,), [a[:, 0].copy()], np.float64),
                               np.diag(a[:, 0]))
    hadamard = _core.Step.sop(a=0, b=1, out=2, sizes=[4, 5], dims_a=[0, 1], dims_b=[0, 1],
                              dims_c=[1, 0])
    assert not hadamard.zero_init
    np.testing.assert_allclose(_core.run_plan((hadamard,), [a, a], np.float64), (a * a).T)
    role = _core.Role
    mm = _core.Step.gemm(a=0, b=1, out=2, sizes=[4, 5, 3], roles=[role.ROW, role.INNER, role.COL],
                         dims_a=[0, 1], dims_b=[1, 2], dims_c=[0, 2], release=(0, 1))
    assert mm.kind == _core.GEMM
    np.testing.assert_allclose(_core.run_plan((mm,), [a, b], np.float64), a @ b)
    with pytest.raises(ValueError):
        _core.Step.gemm(a=0, b=1, out=2, sizes=[4, 5, 3], roles=[role.ROW], dims_a=[0, 1],
                        dims_b=[1, 2], dims_c=[0, 2])
