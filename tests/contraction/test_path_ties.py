"""Among three-operand orders of equal cost, the planner reads the big operand along rows."""

from __future__ import annotations

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc.contraction.plan import find_path
from tensorcalc.contraction.subscripts import parse


def _path(subscripts, *shapes, optimize="auto"):
    return find_path(parse(subscripts, list(shapes)), optimize)


@pytest.mark.parametrize("subscripts, first", [
    ("i,ij,j->", (1, 2)),        # A y first: GEMV along A's rows
    ("j,ij,i->", (0, 1)),        # already along rows: opt_einsum's choice stays
    ("ij,i,j->", (0, 2)),
])
def test_bilinear_form_reads_the_matrix_along_rows(subscripts, first):
    shapes = {"i": 40, "j": 40}
    dims = [tuple(shapes[c] for c in term) for term in subscripts.split("->")[0].split(",")]
    assert _path(subscripts, *dims)[0] == first


def test_a_cheaper_order_is_never_given_up():
    # A (40x1000) y first costs 40000 and leaves 40 numbers; x^T A first costs the same but
    # leaves 1000, so both total about 40000, while (x, y) first is an outer product
    path = _path("i,ij,j->", (40,), (40, 1000), (1000,))
    assert path[0] == (1, 2)
    # the matrix read along its columns is the only cheap order here: x (3) contracts it first
    path = _path("ij,i,jk->k", (3, 500), (3,), (500, 2))
    assert path[0] == (0, 1)


def test_explicit_paths_and_memory_limits_are_kept():
    assert _path("i,ij,j->", (8,), (8, 8), (8,), optimize=[(0, 1), (0, 1)])[0] == (0, 1)
    assert _path("i,ij,j->", (8,), (8, 8), (8,), optimize=("greedy", 10**6))[0] == (0, 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
def test_values_match_numpy(dtype):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(300).astype(dtype), rng.standard_normal(200).astype(dtype)
    a = rng.standard_normal((300, 200)).astype(dtype)
    want = np.einsum("i,ij,j->", x, a, y)
    rtol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(tc.einsum("i,ij,j->", x, a, y), want, rtol=rtol)
    np.testing.assert_allclose(tc.einsum("i,ij,j->", x, a[:, ::-1].copy()[:, ::-1], y), want,
                               rtol=rtol)


def test_intermediates_put_the_axes_summed_later_first():
    # each step of the 4-index transform then reads its operand as one (inner, rest) matrix
    # with no packing copy, and the last one writes the output order directly (no view step)
    n = 6
    plan = tc.contract_expression("ea,fb,gc,hd,abcd->efgh", *[(n, n)] * 4, (n,) * 4)._plan_for(
        [np.dtype(np.float64)] * 5)
    assert [note.split()[1] for note in plan.describe()] == [
        "abcd,ea->bcde", "bcde,fb->cdef", "cdef,gc->defg", "defg,hd->efgh"]
    ops = [np.random.default_rng(k).standard_normal(s)
           for k, s in enumerate([(n, n)] * 4 + [(n,) * 4])]
    np.testing.assert_allclose(plan.execute(ops),
                               np.einsum("ea,fb,gc,hd,abcd->efgh", *ops), rtol=1e-12)
