"""The compiled core's threads: work shared over the pool, one policy with BLAS, no spinning.

Every way a step is cut (ranges of batches; row, column or inner blocks of one product; the
pieces of a long dot; slices of a typed loop) is checked against numpy for each dtype, on
contiguous and strided operands. Fork, concurrent callers and idle CPU use run in a fresh
interpreter with a timeout, so a hang fails the test instead of the suite.
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc import _core
from tests.helpers import run_script as _run_script

DTYPES = (np.float32, np.float64, np.complex64, np.complex128)


def _random(rng, shape, dtype):
    x = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.standard_normal(shape)
    return x.astype(dtype)


def _tol(dtype, k):
    # sums of k products of unit normals (results of size ~sqrt(k)): rounding grows with k
    eps = float(np.finfo(dtype).eps)
    return dict(rtol=10 * eps * np.sqrt(k), atol=10 * eps * k)


@pytest.fixture
def threads2():
    old = _core.set_threads(2)
    yield
    _core.set_threads(old)


# subscripts, shapes, a transform of the operands ("F": Fortran order, "step": a strided
# view), the cut the step reaches (_core._cuts() names) and what the case covers
CUTS = [
    ("ij,jk->ik", [(300, 160), (160, 290)], None, "rows", "rows of one GEMM"),
    ("ij,jk->ik", [(40, 300), (300, 700)], None, "columns", "columns of one GEMM"),
    ("ij,jk->ik", [(24, 9000), (9000, 20)], None, "inner", "inner slabs of one GEMM"),
    ("ij,jk->ki", [(24, 9000), (9000, 20)], None, "inner", "inner slabs, column-major C"),
    ("bij,bjk->bik", [(48, 64, 40), (48, 40, 64)], None, "batches", "ranges of batches"),
    ("bij,bjk->bik", [(2, 260, 40), (2, 40, 250)], None, "rows", "batches cut into blocks"),
    ("bhqd,bhkd->bhqk", [(4, 4, 70, 32), (4, 4, 80, 32)], None, "batches", "two batch dims"),
    # the planner puts the vector first: "ij,j->i" is a vector times the matrix' transpose
    ("ij,j->i", [(1200, 400), (400,)], None, "columns", "matrix-vector, whole rows"),
    ("ij,j->i", [(1200, 400), (400,)], "F", "inner", "matrix-vector, whole columns"),
    ("i,ij->j", [(700,), (700, 800)], None, "inner", "vector-matrix, whole rows"),
    ("i,ij->j", [(700,), (700, 800)], "F", "rows", "vector-matrix, whole columns"),
    ("ij,j->i", [(4, 300000), (300000,)], None, "inner", "matrix-vector, a few long rows"),
    ("bij,bj->bi", [(1000, 40, 30), (1000, 30)], None, "slices", "batched matvec (typed)"),
    ("ij,ij->", [(700, 600), (700, 600)], None, "inner", "pieces of one long dot"),
    ("ij,ij->", [(700, 600), (700, 600)], "step", "inner", "long dot, strided operands"),
    ("bij,bjk->bik", [(6, 90, 140), (6, 140, 130)], "step", "columns", "strided, packed"),
    ("ij,ij->i", [(1100, 1000), (1100, 1000)], None, "slices", "typed loop slices"),
    ("i,j->ij", [(1100,), (1000,)], None, "slices", "typed outer product slices"),
    ("ij->j", [(1100, 1000)], None, "slices", "column sums: the inner loop sliced"),
    ("ij,ij->ji", [(1100, 1000), (1100, 1000)], None, "slices", "blocked transpose sliced"),
]


def _operands(rng, shapes, dtype, transform):
    ops = [_random(rng, s, dtype) for s in shapes]
    if transform == "F":
        ops = [np.asfortranarray(o) for o in ops]
    elif transform == "step":
        # every other element along the last axis: no leading dimension describes it
        ops = [_random(rng, s[:-1] + (2 * s[-1],), dtype)[..., ::2] for s in shapes]
    return ops


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("subscripts, shapes, transform, cut, what", CUTS,
                         ids=[c[4] for c in CUTS])
def test_threaded_steps_match_numpy(rng, threads2, subscripts, shapes, transform, cut, what,
                                    dtype):
    ops = _operands(rng, shapes, dtype, transform)
    want = np.einsum(subscripts, *[o.astype(np.complex128 if np.dtype(dtype).kind == "c"
                                            else np.float64) for o in ops])
    ins, out = subscripts.split("->")
    sizes = {lab: n for term, shape in zip(ins.split(","), shapes) for lab, n in zip(term, shape)}
    inner = int(np.prod([n for lab, n in sizes.items() if lab not in out]))
    _core._cuts()
    got = tc.einsum(subscripts, *ops)
    assert _core._cuts()[cut] >= 1, f"{what}: not cut into {cut}"
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got, want, **_tol(dtype, inner))


def test_threads_and_one_thread_agree(rng):
    # the inner-slab cut sums its partials in block order: same answer on every run
    a, b = rng.standard_normal((24, 9000)), rng.standard_normal((9000, 20))
    old = _core.set_threads(1)
    try:
        one = tc.einsum("ij,jk->ik", a, b)
        _core.set_threads(2)
        two = [tc.einsum("ij,jk->ik", a, b) for _ in range(3)]
    finally:
        _core.set_threads(old)
    np.testing.assert_allclose(two[0], one, rtol=1e-12, atol=1e-10)
    assert all(np.array_equal(t, two[0]) for t in two[1:])


def test_set_threads_settings():
    old = _core.set_threads(3)
    try:
        assert _core.set_threads(None) == 3
        assert _core.set_threads(1) is None       # None: follow scipy's BLAS
        assert _core.threads() == 1
        with pytest.raises(ValueError, match="at least 1"):
            _core.set_threads(-2)
    finally:
        _core.set_threads(old)


def test_policy_follows_blas_limits_and_leaves_them_as_found(rng):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    old = _core.set_threads(None)
    try:
        before = [lib["num_threads"] for lib in threadpoolctl.threadpool_info()]
        a, b = rng.standard_normal((300, 300)), rng.standard_normal((300, 300))
        tc.einsum("ij,jk->ik", a, b)
        # BLAS is held at one thread inside a step only: the user's counts come back
        assert [lib["num_threads"] for lib in threadpoolctl.threadpool_info()] == before
        with threadpoolctl.threadpool_limits(1):
            assert _core.threads() == 1           # one policy: a BLAS limit limits the core
            np.testing.assert_allclose(tc.einsum("ij,jk->ik", a, b), a @ b, rtol=1e-12)
        assert [lib["num_threads"] for lib in threadpoolctl.threadpool_info()] == before
        assert _core.threads() == min(max(before), len(os.sched_getaffinity(0)))
    finally:
        _core.set_threads(old)


def test_concurrent_callers_share_the_pool(rng, threads2):
    # the pool runs one job at a time; other callers run theirs on their own thread
    a, b = rng.standard_normal((32, 64, 64)), rng.standard_normal((32, 64, 64))
    want = a @ b
    expr = tc.contract_expression("bij,bjk->bik", a.shape, b.shape)
    errors = []

    def work():
        try:
            for _ in range(30):
                np.testing.assert_allclose(expr(a, b), want, rtol=1e-12)
        except Exception as err:  # reported below, in the test's thread
            errors.append(err)

    workers = [threading.Thread(target=work) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert not errors and not any(w.is_alive() for w in workers)


_THREADED = """
import os, resource, time
import numpy as np
import tensorcalc as tc
from tensorcalc import _core

_core.set_threads(2)
rng = np.random.default_rng(0)
a, b = rng.standard_normal((64, 128, 128)), rng.standard_normal((64, 128, 128))
want = a @ b
np.testing.assert_allclose(tc.einsum("bij,bjk->bik", a, b), want, rtol=1e-12)
assert _core._pool_workers() == 1
"""


def test_forked_child_starts_its_own_workers(tmp_path):
    # the parent's workers do not survive fork(): the child must not wait for them
    out = _run_script(_THREADED + """
pid = os.fork()
if pid == 0:
    code = 1
    try:
        assert _core._pool_workers() == 0
        assert _core.set_threads(2) == 2                 # the setting is kept
        for _ in range(3):
            np.testing.assert_allclose(tc.einsum("bij,bjk->bik", a, b), want, rtol=1e-12)
        assert _core._pool_workers() == 1
        code = 0
    finally:
        os._exit(code)
_, status = os.waitpid(pid, 0)
assert os.waitstatus_to_exitcode(status) == 0
np.testing.assert_allclose(tc.einsum("bij,bjk->bik", a, b), want, rtol=1e-12)
print("done")
""", tmp_path, timeout=90)
    assert "done" in out


def test_idle_workers_sleep(tmp_path):
    # no spin-waiting: between steps the pool (and BLAS, held at one thread) uses no CPU
    out = _run_script(_THREADED + """
for _ in range(20):
    tc.einsum("bij,bjk->bik", a, b)
before = resource.getrusage(resource.RUSAGE_SELF)
time.sleep(0.5)
after = resource.getrusage(resource.RUSAGE_SELF)
used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
print("idle cpu", used)
assert used < 0.05, used
""", tmp_path, timeout=90)
    assert "idle cpu" in out


def test_threaded_steps_release_the_gil(rng, threads2):
    # another Python thread keeps running while a long step is shared over the pool
    a, b = rng.standard_normal((1000, 1000)), rng.standard_normal((1000, 1000))
    expr = tc.contract_expression("ij,jk->ik", a.shape, b.shape)
    expr(a, b)
    start = time.perf_counter()
    expr(a, b)
    call = time.perf_counter() - start
    done = threading.Event()
    ticks = []

    def count():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    counter = threading.Thread(target=count)
    counter.start()
    try:
        for _ in range(3):
            expr(a, b)
    finally:
        done.set()
        counter.join()
    gaps = np.diff(ticks)
    # holding the GIL would stall the counter for a whole call; the OS may park it briefly
    assert len(ticks) > 3 and gaps.max() < max(0.6 * call, 0.05), (call, gaps.max())


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads RSS from /proc")
def test_partial_results_are_freed(rng, threads2):
    # the inner-slab cut mallocs one M x N partial per item: all of it is returned
    a, b = rng.standard_normal((128, 20000)), rng.standard_normal((20000, 128))
    expr = tc.contract_expression("ij,jk->ik", a.shape, b.shape)
    _core._cuts()
    for _ in range(3):
        expr(a, b)
    assert _core._cuts()["inner"] == 3

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    before = rss()
    for _ in range(60):
        expr(a, b)
    # a leak would be 60 calls x 8 partials x 128 KB: 60 MB
    assert rss() - before < 20 * 2**20
