"""tc.contract_path and tc.contract_expression: opt_einsum-compatible, reusable, thread-safe."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import opt_einsum
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tensorcalc as tc
from tests.helpers import (
    EinsumCase,
    assert_matches,
    einsum_cases,
    examples,
    make_array,
    reference,
)

PATH_OPTIONS = ["greedy", "optimal", "dp", "auto", "branch-2"]


def _path_is_valid(path: list[tuple[int, ...]], n_operands: int) -> bool:
    """Applying the path contracts the operand list down to a single tensor."""
    alive = n_operands
    for step in path:
        if len(set(step)) != len(step) or not all(0 <= i < alive for i in step):
            return False
        alive += 1 - len(step)
    return alive == 1


# ---------------------------------------------------------------------------------------------
# contract_path
# ---------------------------------------------------------------------------------------------


@given(einsum_cases(min_operands=1, max_operands=5, broadcast=False, allow_zero=False,
                    layout_pool=("C",)),
       st.sampled_from(PATH_OPTIONS))
@examples(60)
def test_contract_path_matches_opt_einsum(case: EinsumCase, optimize: str) -> None:
    shapes = [op.shape for op in case.operands]
    path, info = tc.contract_path(case.subscripts, *shapes, shapes=True, optimize=optimize)
    ref_path, ref_info = opt_einsum.contract_path(case.subscripts, *shapes, shapes=True,
                                                  optimize=optimize)
    assert isinstance(path, list) and all(isinstance(step, tuple) for step in path)
    assert _path_is_valid(path, len(shapes)), path
    assert path == ref_path
    assert info.opt_cost == ref_info.opt_cost
    assert info.naive_cost == ref_info.naive_cost
    assert info.largest_intermediate == ref_info.largest_intermediate
    assert len(info.contraction_list) == len(path)
    assert "Optimized scaling" in str(info)
    if "..." not in case.subscripts:  # ellipsis axes get implementation-chosen symbols
        assert info.eq == ref_info.eq
        assert [step[2] for step in info.contraction_list] == [
            step[2] for step in ref_info.contraction_list
        ]


@pytest.mark.parametrize("optimize", [True, False], ids=str)
def test_contract_path_boolean_optimize_like_opt_einsum(optimize: bool) -> None:
    # contract_path is documented as opt_einsum's: True means "auto", False means one step
    # over all operands (no pairwise order at all).
    shapes = [(2, 3), (3, 4), (4, 5)]
    path, info = tc.contract_path("ij,jk,kl->il", *shapes, optimize=optimize)
    ref_path, ref_info = opt_einsum.contract_path("ij,jk,kl->il", *shapes, shapes=True,
                                                  optimize=optimize)
    assert path == ref_path
    assert info.opt_cost == ref_info.opt_cost


def test_contract_path_accepts_arrays_and_tuples() -> None:
    a, b, c = np.ones((2, 30)), np.ones((30, 40)), np.ones((40, 5))
    expected, _ = opt_einsum.contract_path("ij,jk,kl->il", a, b, c)
    assert tc.contract_path("ij,jk,kl->il", a, b, c)[0] == expected
    assert tc.contract_path("ij,jk,kl->il", (2, 30), (30, 40), (40, 5))[0] == expected
    assert tc.contract_path("ij,jk,kl->il", [2, 30], [30, 40], [40, 5], shapes=True)[0] == expected


def test_contract_path_explicit_path_is_returned() -> None:
    path, info = tc.contract_path("ij,jk,kl->il", (2, 3), (3, 4), (4, 5), optimize=[(0, 1), (0, 1)])
    assert path == [(0, 1), (0, 1)]
    ref = opt_einsum.contract_path("ij,jk,kl->il", (2, 3), (3, 4), (4, 5), shapes=True,
                                   optimize=[(0, 1), (0, 1)])[1]
    assert info.opt_cost == ref.opt_cost


def test_contract_path_with_extended_output() -> None:
    # The embedding is free: the path is that of the ordinary part "ij,jk->i".
    path, _ = tc.contract_path("ij,jk->iil", (2, 3), (3, 4), sizes={"l": 5})
    assert _path_is_valid(path, 2)


def test_contract_path_errors() -> None:
    with pytest.raises(tc.TensorcalcError, match="'j'"):
        tc.contract_path("ij,jk->ik", (2, 3), (4, 5))
    with pytest.raises(TypeError):
        tc.contract_path("ij,jk->ik", ("a", 3), (3, 5))


# ---------------------------------------------------------------------------------------------
# contract_expression
# ---------------------------------------------------------------------------------------------


def test_reused_many_times() -> None:
    shapes = [(4, 5), (5, 6), (6, 3)]
    expr = tc.contract_expression("ij,jk,kl->il", *shapes)
    rng = np.random.default_rng(0)
    for _ in range(60):
        ops = [rng.standard_normal(s) for s in shapes]
        assert_matches(expr(*ops), reference("ij,jk,kl->il", *ops), "ij,jk,kl->il", ops)


@pytest.mark.parametrize("dtypes", [
    (np.float64,) * 2, (np.float32,) * 2, (np.complex64,) * 2, (np.complex128, np.float32),
    (np.int8,) * 2, (np.int64, np.uint8), (np.bool_,) * 2, (np.float32, np.float64),
])
def test_one_expression_many_dtypes(dtypes: tuple) -> None:
    expr = tc.contract_expression("bij,bjk->bik", (2, 3, 4), (2, 4, 5))
    rng = np.random.default_rng(1)
    for _ in range(2):  # the second call hits the per-dtype plan cache
        for order in (dtypes, dtypes[::-1]):
            ops = [make_array(rng, s, dt, "C") for s, dt in zip([(2, 3, 4), (2, 4, 5)], order)]
            assert_matches(expr(*ops), reference("bij,bjk->bik", *ops), "bij,bjk->bik", ops)


def test_expression_layouts() -> None:
    expr = tc.contract_expression("ij,jk->ki", (3, 4), (4, 2))
    rng = np.random.default_rng(2)
    for layout in ("C", "F", "transposed", "negative", "sliced", "readonly", "broadcast"):
        ops = [make_array(rng, s, np.float64, layout) for s in ((3, 4), (4, 2))]
        assert_matches(expr(*ops), reference("ij,jk->ki", *ops), "ij,jk->ki", ops)


def test_expression_matches_opt_einsum_expression() -> None:
    shapes = [(3, 4, 5), (4, 6), (5, 6)]
    ours = tc.contract_expression("ijk,jl,kl->il", *shapes)
    theirs = opt_einsum.contract_expression("ijk,jl,kl->il", *shapes)
    rng = np.random.default_rng(3)
    ops = [rng.standard_normal(s) for s in shapes]
    np.testing.assert_allclose(ours(*ops), theirs(*ops), rtol=1e-12, atol=1e-12)


def test_expression_out_argument() -> None:
    expr = tc.contract_expression("ij,jk->ik", (2, 3), (3, 2))
    a, b = np.ones((2, 3)), np.full((3, 2), 2.0)
    out = np.empty((2, 2))
    assert expr(a, b, out=out) is out
    np.testing.assert_array_equal(out, np.full((2, 2), 6.0))


def test_expression_extended_output() -> None:
    expr = tc.contract_expression("i->ij", (3,), sizes={"j": 2})
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(expr(x), np.broadcast_to(x[:, None], (3, 2)))


def test_expression_optimize_options() -> None:
    shapes = [(2, 3), (3, 4), (4, 5), (5, 2)]
    rng = np.random.default_rng(4)
    ops = [rng.standard_normal(s) for s in shapes]
    expected = reference("ij,jk,kl,lm->im", *ops)
    for optimize in ["auto", "greedy", "optimal", "dp", True, False, [(0, 1), (1, 2), (0, 1)]]:
        expr = tc.contract_expression("ij,jk,kl,lm->im", *shapes, optimize=optimize)
        assert_matches(expr(*ops), expected, "ij,jk,kl,lm->im", ops)


def test_expression_wrong_shape_and_count() -> None:
    expr = tc.contract_expression("ij,jk->ik", (2, 3), (3, 4))
    with pytest.raises(tc.TensorcalcError, match="operand 1"):
        expr(np.ones((2, 3)), np.ones((3, 5)))
    with pytest.raises(tc.TensorcalcError, match="2"):
        expr(np.ones((2, 3)))


@pytest.mark.parametrize("spec, shapes, given_shapes", [
    ("", [()], [(1,)]),
    ("i", [(3,)], [(3, 1)]),
    ("ij->ji", [(2, 3)], [(2, 3, 1)]),
    (",->", [(), ()], [(1,), (1,)]),
    ("ij,jk->ik", [(2, 3), (3, 4)], [(2, 3), (3, 4, 1)]),
])
def test_expression_wrong_rank(spec: str, shapes: list, given_shapes: list) -> None:
    expr = tc.contract_expression(spec, *shapes)
    wrong = [k for k, (a, b) in enumerate(zip(shapes, given_shapes)) if a != b][0]
    with pytest.raises(tc.TensorcalcError, match=f"operand {wrong}"):
        expr(*[np.ones(s) for s in given_shapes])


def test_expression_building_validates() -> None:
    with pytest.raises(tc.TensorcalcError, match="'j'"):
        tc.contract_expression("ij,jk->ik", (2, 3), (4, 4))
    with pytest.raises(TypeError):
        tc.contract_expression("ij->ij", (2, "x"))


@given(einsum_cases(max_operands=4))
@examples(40)
def test_random_expression_matches_numpy(case: EinsumCase) -> None:
    expr = tc.contract_expression(case.subscripts, *[op.shape for op in case.operands])
    expected = reference(case.subscripts, *case.operands)
    for _ in range(2):
        assert_matches(expr(*case.operands), expected, case.plain_subscripts, case.operands)


# ---------------------------------------------------------------------------------------------
# Threads
# ---------------------------------------------------------------------------------------------


def _concurrent(fn, jobs: list, workers: int = 4) -> list:
    """Run ``fn(job)`` for every job from ``workers`` threads released at the same moment."""
    barrier = threading.Barrier(workers)

    def start(chunk):
        barrier.wait()
        return [fn(job) for job in chunk]

    chunks = [jobs[k::workers] for k in range(workers)]
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(start, chunks))
    ordered = [None] * len(jobs)
    for k, chunk_results in enumerate(results):
        ordered[k::workers] = chunk_results
    return ordered


def test_expression_is_thread_safe() -> None:
    shapes = [(16, 24, 8), (16, 8, 12), (12, 5)]
    expr = tc.contract_expression("bij,bjk,kl->bil", *shapes)
    rng = np.random.default_rng(5)
    jobs = []
    for k in range(48):
        dtype = (np.float64, np.float32, np.complex128)[k % 3]
        jobs.append([make_array(rng, s, dtype, "C") for s in shapes])
    results = _concurrent(lambda ops: expr(*ops), jobs)
    for ops, got in zip(jobs, results):
        assert_matches(got, reference("bij,bjk,kl->bil", *ops), "bij,bjk,kl->bil", ops)


def test_einsum_is_thread_safe_across_specs() -> None:
    # Different specs at once exercise the shared plan cache.
    specs = ["ij,jk->ik", "ii->i", "ij,ij->i", "bij,bj->bi", "i,j->ij", "ijk,jl,kl->il"]
    rng = np.random.default_rng(6)
    jobs = []
    for k in range(60):
        spec = specs[k % len(specs)]
        size = 3 + k % 5
        terms = spec.split("->")[0].split(",")
        jobs.append((spec, [rng.standard_normal([size] * len(t)) for t in terms]))
    results = _concurrent(lambda job: tc.einsum(job[0], *job[1]), jobs)
    for (spec, ops), got in zip(jobs, results):
        assert_matches(got, reference(spec, *ops), spec, ops)


def test_plan_cache_eviction_is_thread_safe() -> None:
    # Thousands of distinct shapes from several threads overflow the plan caches while other
    # threads read and evict: no KeyError / "dictionary changed size" may escape.
    import sys

    def sweep(k: int) -> None:
        for n in range(1 + 600 * k, 1 + 600 * (k + 1)):
            r = tc.einsum("ij,j->i", np.ones((2, n)), np.ones(n))
            assert r[0] == n

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often so that races show up in a short run
    try:
        _concurrent(sweep, list(range(12)))  # three rounds of four threads
    finally:
        sys.setswitchinterval(old)
