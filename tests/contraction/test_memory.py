"""Repeated contraction must not leak: resident memory and traced allocations stay flat.

Each check warms up first (plans are cached on first use, numpy and BLAS grow their pools),
then runs thousands of calls and compares before and after. The bounds are far below what a
leak of one intermediate per call would cost, and far above allocator noise.
"""

from __future__ import annotations

import gc
import os
import tracemalloc
from typing import Callable

import numpy as np
import pytest

import tensorcalc as tc

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """Resident set size of this process, from /proc/self/statm (second field, in pages)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def _workloads() -> dict[str, Callable[[], object]]:
    rng = np.random.default_rng(0)
    a32 = rng.standard_normal((24, 24)).astype(np.float32)
    a64 = rng.standard_normal((24, 24))
    c128 = (rng.standard_normal((8, 12, 12)) + 1j).astype(np.complex128)
    i64 = rng.integers(-3, 3, (12, 12))
    x = rng.standard_normal(16)
    t = rng.standard_normal((6, 5, 4))
    b, c = rng.standard_normal((5, 7)), rng.standard_normal((4, 7))
    out = np.empty((24, 24))
    expr = tc.contract_expression("ijk,jl,kl->il", t.shape, b.shape, c.shape)
    return {
        "matmul f32": lambda: tc.einsum("ij,jk->ik", a32, a32),
        "matmul f64 out": lambda: tc.einsum("ij,jk->ki", a64, a64, out=out),
        "batched c128": lambda: tc.einsum("bij,bjk->bik", c128, c128),
        "ints": lambda: tc.einsum("ij,jk->ik", i64, i64),
        "trace": lambda: tc.einsum("ii->", a64),
        "diagonal view": lambda: tc.einsum("ii->i", a64),
        "transposed view": lambda: tc.einsum("ij->ji", a64.T),
        "hadamard rowsum": lambda: tc.einsum("ij,ij->i", a64[::2], a64[1::2]),
        "embed": lambda: tc.einsum("i->ii", x),
        "broadcast": lambda: tc.einsum("i->ij", x, sizes={"j": 5}),
        "three operands": lambda: tc.einsum("ijk,jl,kl->il", t, b, c, optimize="optimal"),
        "explicit path": lambda: tc.einsum("ijk,jl,kl->il", t, b, c, optimize=[(1, 2), (0, 1)]),
        "expression": lambda: expr(t, b, c),
        "sublist": lambda: tc.einsum(a64, [0, 1], a64, [1, 2], [0, 2]),
        "error": lambda: _swallow(lambda: tc.einsum("ij,jk", a64, x)),
        "path": lambda: tc.contract_path("ij,jk,kl->il", (3, 4), (4, 5), (5, 6)),
    }


def _swallow(call: Callable[[], object]) -> None:
    try:
        call()
    except tc.TensorcalcError:
        pass


def _run(calls: dict[str, Callable[[], object]], rounds: int) -> None:
    for _ in range(rounds):
        for call in calls.values():
            call()


def test_rss_stays_flat() -> None:
    calls = _workloads()
    _run(calls, 300)  # warm-up: plan caches, allocator arenas, BLAS buffers
    gc.collect()
    before = rss_bytes()
    _run(calls, 1500)
    gc.collect()
    grown = rss_bytes() - before
    # 24,000 calls; leaking even 200 bytes each would add 4.8 MB.
    assert grown < 3 * 2**20, f"RSS grew by {grown / 2**20:.1f} MiB over {1500 * len(calls)} calls"


@pytest.mark.parametrize("name", list(_workloads()))
def test_traced_allocations_stay_flat(name: str) -> None:
    call = _workloads()[name]
    for _ in range(200):
        call()
    gc.collect()
    tracemalloc.start()
    try:
        for _ in range(50):
            call()
        gc.collect()
        base, _ = tracemalloc.get_traced_memory()
        for _ in range(1000):
            call()
        gc.collect()
        now, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # A leaked result array or Python object per call would show as >= 1000 * 16 bytes.
    assert now - base < 10_000, f"{name}: traced memory grew by {now - base} bytes in 1000 calls"


def test_plan_cache_is_bounded() -> None:
    # Thousands of distinct shapes: the plan caches must evict instead of growing forever.
    def sweep(start: int, count: int) -> None:
        for n in range(start, start + count):
            tc.einsum("ij,j->i", np.ones((2, n)), np.ones(n))

    tracemalloc.start()  # before the first sweep, so evicted plans count as freed
    try:
        sweep(1, 1500)
        gc.collect()
        base, _ = tracemalloc.get_traced_memory()
        sweep(1501, 1500)
        gc.collect()
        now, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert now - base < 2**20, f"caches grew by {(now - base) / 2**20:.1f} MiB for 1500 new shapes"


@pytest.mark.parametrize("optimize", [False, "auto", True], ids=str)
def test_no_quadratic_intermediate_for_a_product_of_vector_sums(optimize: object) -> None:
    # "i,j,i,j->" is (x.x)(y.y): numpy's optimize=False loops with no intermediate at all;
    # pairing operands left to right would build two 2000x2000 outer products (61 MiB).
    x = np.ones(2000)
    tracemalloc.start()
    try:
        r = tc.einsum("i,j,i,j->", x, x, x, x, optimize=optimize)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert float(r) == 4_000_000.0
    assert peak < 2**20, f"optimize={optimize!r} peaked at {peak / 2**20:.1f} MiB"
