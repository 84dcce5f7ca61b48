"""tc.einsum equals numpy.einsum: values, shapes and dtypes, for every call form and option.

The oracle is ``numpy.einsum(..., optimize=False)``. Properties run over random subscripts
(see ``tests/helpers.py``); the table test runs the benchmark cases at small sizes.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tensorcalc as tc
from tests.helpers import (
    INEXACT_DTYPES,
    LAYOUTS,
    EinsumCase,
    assert_matches,
    contraction_paths,
    einsum_cases,
    examples,
    make_array,
    medium_dims,
    native,
    reference,
    repeats_an_output_label,
)

OPTIMIZE_NAMES = ["auto", "greedy", "optimal", "dp", True, False]


# ---------------------------------------------------------------------------------------------
# Properties against numpy
# ---------------------------------------------------------------------------------------------


@given(einsum_cases())
@examples(100)
def test_string_form_matches_numpy(case: EinsumCase) -> None:
    expected = reference(case.subscripts, *case.operands)
    actual = tc.einsum(case.subscripts, *case.operands)
    assert_matches(actual, expected, case.plain_subscripts, case.operands)


@given(einsum_cases(max_operands=3, max_rank=3, dim_strategy=medium_dims),
       st.sampled_from(OPTIMIZE_NAMES))
@examples(60)
def test_medium_sizes_match_numpy(case: EinsumCase, optimize: object) -> None:
    # Sizes past the small-loop threshold: exercises the GEMM and blocked kernels.
    expected = reference(case.subscripts, *case.operands)
    actual = tc.einsum(case.subscripts, *case.operands, optimize=optimize)
    assert_matches(actual, expected, case.plain_subscripts, case.operands)


@given(einsum_cases())
@examples(100)
def test_sublist_form_matches_numpy(case: EinsumCase) -> None:
    args = case.sublist_args()
    expected = np.asarray(np.einsum(*args, optimize=False))
    actual = tc.einsum(*args)
    assert_matches(actual, expected, case.plain_subscripts, case.operands)


@given(einsum_cases(max_operands=4), st.sampled_from(OPTIMIZE_NAMES))
@examples(80)
def test_every_optimize_option_matches_numpy(case: EinsumCase, optimize: object) -> None:
    expected = reference(case.subscripts, *case.operands)
    actual = tc.einsum(case.subscripts, *case.operands, optimize=optimize)
    assert_matches(actual, expected, case.plain_subscripts, case.operands)


@pytest.mark.parametrize("optimize", OPTIMIZE_NAMES + ["branch-2", "random-greedy"], ids=str)
def test_zero_sized_axes_with_every_optimizer(optimize: object) -> None:
    # opt_einsum's "dp" finds no path when a size is 0; the result is still well defined.
    ops = [np.float32(0.5), np.ones(2, np.float32), np.ones((0, 0, 2), np.float32)]
    for spec in (",d,aad", ",d,aad->d", "i,ij,jk->k"):
        args = ops if spec.startswith(",") else [np.ones(0), np.ones((0, 3)), np.ones((3, 2))]
        expected = reference(spec, *args)
        assert_matches(tc.einsum(spec, *args, optimize=optimize), expected, spec, args)


@given(st.data())
def test_explicit_path_matches_numpy(data: st.DataObject) -> None:
    case = data.draw(einsum_cases(min_operands=2, max_operands=4))
    path = data.draw(contraction_paths(len(case.operands)))
    expected = reference(case.subscripts, *case.operands)
    actual = tc.einsum(case.subscripts, *case.operands, optimize=path)
    assert_matches(actual, expected, case.plain_subscripts, case.operands)
    # numpy's own path format (what numpy.einsum_path returns) is accepted too.
    numpy_style = ["einsum_path", *path]
    actual = tc.einsum(case.subscripts, *case.operands, optimize=numpy_style)
    assert_matches(actual, expected, case.plain_subscripts, case.operands)


@given(einsum_cases(min_operands=2, max_operands=4, allow_zero=False))
@examples(25)
def test_path_from_numpy_einsum_path_is_accepted(case: EinsumCase) -> None:
    path, _ = np.einsum_path(case.subscripts, *case.operands, optimize="greedy")
    expected = reference(case.subscripts, *case.operands)
    actual = tc.einsum(case.subscripts, *case.operands, optimize=path)
    assert_matches(actual, expected, case.plain_subscripts, case.operands)


@given(einsum_cases(max_operands=4, dim_strategy=medium_dims,
                    layout_pool=("C", "F", "transposed", "negative", "sliced", "unaligned")),
       st.sampled_from(OPTIMIZE_NAMES))
@examples(40)
def test_operands_are_not_modified(case: EinsumCase, optimize: object) -> None:
    # Kernels may not use an operand's memory as scratch space (all of these are writable).
    before = [op.copy() for op in case.operands]
    tc.einsum(case.subscripts, *case.operands, optimize=optimize)
    for k, (op, old) in enumerate(zip(case.operands, before)):
        np.testing.assert_array_equal(op, old, err_msg=f"operand {k} was modified")


@given(einsum_cases(max_operands=3, dtype_pool=INEXACT_DTYPES), st.data())
@examples(60)
def test_out_argument(case: EinsumCase, data: st.DataObject) -> None:
    expected = reference(case.subscripts, *case.operands)
    # An out of the result dtype, or one that every result dtype casts to safely.
    out_dtype = data.draw(st.sampled_from([expected.dtype, np.dtype(np.complex128)]))
    layout = data.draw(st.sampled_from(["C", "F", "negative", "sliced"]))
    out = make_array(np.random.default_rng(0), expected.shape, out_dtype, layout)
    np_out = out.copy()
    np.einsum(case.subscripts, *case.operands, out=np_out, optimize=False)
    result = tc.einsum(case.subscripts, *case.operands, out=out)
    assert result is out, "einsum(out=...) must return the out array itself"
    # numpy sums in the out dtype; summing in the operands' type is as good.
    assert_matches(out, np_out, case.plain_subscripts, case.operands, precision=expected.dtype)


def test_out_wrong_shape_raises() -> None:
    a = np.ones((2, 3))
    with pytest.raises(ValueError):
        tc.einsum("ij->ij", a, out=np.empty((3, 2)))


def test_out_unsafe_cast_raises_like_numpy() -> None:
    a = np.ones(3)
    out = np.empty(3, np.float32)
    with pytest.raises(TypeError):
        np.einsum("i->i", a, out=out)
    with pytest.raises(TypeError):
        tc.einsum("i->i", a, out=out)


def test_out_not_an_array_raises_type_error() -> None:
    with pytest.raises(TypeError):
        tc.einsum("i->i", np.ones(3), out=[0.0, 0.0, 0.0])


def test_out_scalar_output() -> None:
    a = np.arange(4.0)
    out = np.empty(())
    result = tc.einsum("i,i->", a, a, out=out)
    assert result is out
    assert out[()] == 14.0


def test_out_overlapping_an_operand() -> None:
    # numpy computes first and then stores; writing into an operand while reading it would not.
    rng = np.random.default_rng(8)
    for n in (5, 40):
        a = rng.standard_normal((n, n))
        for spec, expected in (("ij,jk->ik", a @ a), ("ij->ji", a.T.copy()), ("ij,jk->ki", (a @ a).T)):
            b = a.copy()
            ops = [b] * spec.split("->")[0].count(",") + [b]
            assert tc.einsum(spec, *ops, out=b) is b
            np.testing.assert_allclose(b, expected, rtol=1e-12, atol=1e-12, err_msg=f"{spec} n={n}")


@given(einsum_cases(max_operands=3, max_rank=3, dim_strategy=st.sampled_from((2, 3, 5, 9, 16)),
                    broadcast=False, ellipsis=False, dtype_pool=(np.float64, np.complex128),
                    layout_pool=("C", "F", "transposed")),
       st.sampled_from(OPTIMIZE_NAMES))
@examples(40)
def test_out_aliasing_an_operand_property(case: EinsumCase, optimize: object) -> None:
    # Whenever an operand has the result's shape, passing it as out= must still give
    # numpy's answer (numpy reads everything before it writes).
    expected = reference(case.subscripts, *case.operands)
    same = [k for k, op in enumerate(case.operands)
            if op.shape == expected.shape and op.dtype == expected.dtype and op.ndim]
    if not same:
        return
    ops = [op.copy(order="K") for op in case.operands]
    result = tc.einsum(case.subscripts, *ops, out=ops[same[0]], optimize=optimize)
    assert result is ops[same[0]]
    assert_matches(result, expected, case.plain_subscripts, case.operands)


def test_readonly_out_is_refused() -> None:
    out = np.empty((3, 3))
    out.setflags(write=False)
    with pytest.raises(ValueError):
        tc.einsum("ij,jk->ik", np.ones((3, 3)), np.ones((3, 3)), out=out)


@given(einsum_cases(max_operands=3, dtype_pool=(np.float32, np.float64, np.complex128),
                    allow_zero=False, dim_strategy=st.sampled_from((1, 2, 3, 9, 17))),
       st.data())
@examples(40)
def test_nan_propagates_like_numpy(case: EinsumCase, data: st.DataObject) -> None:
    # A NaN reaches every output element whose sum touches it, in any evaluation order
    # (unlike inf, where factoring (a + b) * inf differs from a * inf + b * inf). A kernel
    # that skips zero factors, as reference BLAS does for 0 * NaN, would lose some.
    ops = [np.array(op) for op in case.operands]
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    for op in ops:
        if op.size:
            flat = op.reshape(-1)
            for value in (np.nan, 0.0, 0.0):
                flat[rng.integers(0, op.size)] = value
    expected = reference(case.subscripts, *ops)
    actual = np.asarray(tc.einsum(case.subscripts, *ops))
    assert native(actual.dtype) == native(expected.dtype) and actual.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))


def test_large_work_parallel_kernels() -> None:
    # Big enough for the kernels that split work across threads.
    rng = np.random.default_rng(9)
    cases = [
        ("ij,ij->i", [(2048, 256), (2048, 256)]),
        ("bij,bj->bi", [(256, 64, 64), (256, 64)]),
        ("ii->i", [(1500, 1500)]),
        ("ij->", [(2048, 300)]),
        ("i,j->ij", [(700,), (600,)]),
    ]
    for spec, shapes in cases:
        for dtype in (np.float64, np.complex64):
            ops = [make_array(rng, s, dtype, "C") for s in shapes]
            assert_matches(tc.einsum(spec, *ops), reference(spec, *ops), spec, ops)


def test_result_does_not_alias_a_writable_input_unexpectedly() -> None:
    # Writing into the result must never change an operand unless numpy would too.
    a = np.arange(6.0).reshape(2, 3)
    before = a.copy()
    r = tc.einsum("ij,ij->ij", a, np.ones((2, 3)))
    r[...] = -1
    np.testing.assert_array_equal(a, before)


# ---------------------------------------------------------------------------------------------
# When numpy refuses, tensorcalc refuses cleanly
# ---------------------------------------------------------------------------------------------


@st.composite
def broken_cases(draw: st.DrawFn) -> tuple[str, list[np.ndarray]]:
    """A valid case with one operand reshaped, an operand dropped or added, or the text edited."""
    case = draw(einsum_cases(max_operands=3, allow_zero=False, layout_pool=("C",)))
    ops = list(case.operands)
    text = case.plain_subscripts
    how = draw(st.sampled_from(["reshape", "drop", "add", "edit"]))
    if how == "reshape":
        k = draw(st.integers(0, len(ops) - 1))
        shape = draw(st.lists(st.integers(1, 4), min_size=0, max_size=4))
        ops[k] = np.ones(shape, ops[k].dtype)
    elif how == "drop":
        ops.pop(draw(st.integers(0, len(ops) - 1)))
    elif how == "add":
        ops.append(np.ones(3))
    else:
        pos = draw(st.integers(0, len(text)))
        text = text[:pos] + draw(st.sampled_from(list(",->.1 iA_*"))) + text[pos:]
    return text, ops


@given(broken_cases())
@examples(100)
def test_numpy_refusal_is_a_clean_error(broken: tuple[str, list[np.ndarray]]) -> None:
    text, ops = broken
    try:
        expected = reference(text, *ops)
    except (ValueError, TypeError, KeyError):
        if repeats_an_output_label(text):
            return
        with pytest.raises((tc.TensorcalcError, TypeError)):
            tc.einsum(text, *ops)
        return
    actual = tc.einsum(text, *ops)
    assert_matches(actual, expected, text, ops)


# ---------------------------------------------------------------------------------------------
# Named semantics numpy 2.x has and tensorcalc must keep
# ---------------------------------------------------------------------------------------------


def test_labelled_size_one_axes_broadcast() -> None:
    a, b = np.arange(3.0).reshape(1, 3), np.arange(6.0).reshape(2, 3)
    expected = np.einsum("ij,ij->ij", a, b)
    np.testing.assert_array_equal(tc.einsum("ij,ij->ij", a, b), expected)
    assert tc.einsum("ij,jk", np.ones((2, 1)), np.ones((3, 2))).shape == (2, 2)


def test_implicit_output_is_ascii_sorted_uppercase_first() -> None:
    a = np.arange(24.0).reshape(2, 3, 4)
    for spec in ("bAa", "aBc", "Zza", "cba", "b...A"):
        ops = a if "..." not in spec else np.ones((2, 5, 3))
        expected = np.einsum(spec, ops)
        actual = tc.einsum(spec, ops)
        assert actual.shape == expected.shape, spec
        np.testing.assert_array_equal(actual, expected)


def test_sublist_labels_follow_numpy_numbering() -> None:
    # numpy numbers 'A'-'Z' as 0-25 and 'a'-'z' as 26-51: the implicit output of
    # [0, 26] is ordered (0, 26), i.e. unchanged.
    a = np.arange(6.0).reshape(2, 3)
    expected = np.einsum(a, [0, 26])
    actual = tc.einsum(a, [0, 26])
    assert actual.shape == expected.shape == (2, 3)
    np.testing.assert_array_equal(actual, expected)


def test_sublist_accepts_numpy_integers() -> None:
    a = np.arange(6.0).reshape(2, 3)
    sub = list(np.array([1, 0]))
    np.testing.assert_array_equal(tc.einsum(a, sub, [0, 1]), np.einsum(a, sub, [0, 1]))


@pytest.mark.parametrize(
    "dtypes, expected",
    [
        ((np.int8, np.int8), np.int8),
        ((np.uint8, np.int8), np.int16),
        ((np.float32, np.float64), np.float64),
        ((np.float32, np.float32), np.float32),
        ((np.float32, np.complex64), np.complex64),
        ((np.float64, np.complex64), np.complex128),
        ((np.int64, np.float32), np.float64),
        ((np.bool_, np.bool_), np.bool_),
        ((np.bool_, np.int8), np.int8),
        ((np.int32, np.uint32), np.int64),
        ((np.float16, np.float16), np.float16),
    ],
)
def test_result_dtype(dtypes: tuple, expected: type) -> None:
    a = np.ones((2, 3), dtypes[0])
    b = np.ones((3, 2), dtypes[1])
    for optimize in OPTIMIZE_NAMES:
        r = tc.einsum("ij,jk->ik", a, b, optimize=optimize)
        assert r.dtype == np.dtype(expected) == np.einsum("ij,jk->ik", a, b).dtype, optimize
        np.testing.assert_array_equal(r, np.einsum("ij,jk->ik", a, b))


def test_integer_overflow_wraps_like_numpy() -> None:
    a = np.full((4, 40), 100, np.int8)
    b = np.full((40, 3), 3, np.int8)
    for optimize in OPTIMIZE_NAMES:
        np.testing.assert_array_equal(
            tc.einsum("ij,jk->ik", a, b, optimize=optimize), np.einsum("ij,jk->ik", a, b)
        )


def test_bool_contraction_is_logical() -> None:
    a = np.array([[True, False], [False, False]])
    r = tc.einsum("ij,jk->ik", a, a)
    assert r.dtype == np.bool_
    np.testing.assert_array_equal(r, np.einsum("ij,jk->ik", a, a))


def test_large_contraction_float32_accuracy() -> None:
    # Long sums in float32: the error must stay within a bound numpy itself meets.
    rng = np.random.default_rng(1)
    a = rng.standard_normal((32, 2000)).astype(np.float32)
    b = rng.standard_normal((2000, 24)).astype(np.float32)
    for optimize in OPTIMIZE_NAMES:
        assert_matches(tc.einsum("ij,jk->ik", a, b, optimize=optimize),
                       reference("ij,jk->ik", a, b), "ij,jk->ik", [a, b])


def test_object_dtype_matches_numpy() -> None:
    from fractions import Fraction

    a = np.array([[Fraction(1, 2), Fraction(1, 3)]], dtype=object)
    r = tc.einsum("ij,ij->i", a, a)
    assert r.dtype == object
    assert r[0] == Fraction(1, 4) + Fraction(1, 9)


def test_python_lists_and_scalars_are_operands() -> None:
    np.testing.assert_array_equal(tc.einsum("i,i", [1, 2], [3, 4]), np.einsum("i,i", [1, 2], [3, 4]))
    assert tc.einsum(",i->i", 2.0, np.ones(3)).tolist() == [2.0, 2.0, 2.0]


# ---------------------------------------------------------------------------------------------
# The benchmark cases, small
# ---------------------------------------------------------------------------------------------

BENCH_CASES = {
    "matmul": ("ij,jk->ik", dict(i=5, j=6, k=7)),
    "batched matmul": ("bij,bjk->bik", dict(b=3, i=4, j=5, k=2)),
    "chain3": ("ij,jk,kl->il", dict(i=3, j=4, k=5, l=6)),
    "bilinear": ("i,ij,j->", dict(i=7, j=5)),
    "trace": ("ii->", dict(i=6)),
    "diagonal": ("ii->i", dict(i=6)),
    "hadamard-sum": ("ij,ij->", dict(i=5, j=7)),
    "hadamard-rowsum": ("ij,ij->i", dict(i=5, j=7)),
    "outer": ("i,j->ij", dict(i=5, j=4)),
    "batched matvec": ("bij,bj->bi", dict(b=4, i=3, j=5)),
    "transpose-contract": ("abcd,cdef->afbe", dict(a=2, b=3, c=4, d=5, e=3, f=2)),
    "three-operand": ("ijk,jl,kl->il", dict(i=4, j=3, k=5, l=6)),
    "MPS overlap": ("pa,aqb,brc,cs,pA,AqB,BrC,Cs->",
                    dict(p=2, q=2, r=2, s=2, a=3, b=3, c=3, A=3, B=3, C=3)),
    "attention scores": ("bhqd,bhkd->bhqk", dict(b=2, h=3, q=4, k=5, d=6)),
    "small matmul": ("ij,jk->ik", dict(i=4, j=4, k=4)),
    "small three-operand": ("ijk,jl,kl->il", dict(i=3, j=5, k=6, l=4)),
    "small 4-index transform": ("ea,fb,gc,hd,abcd->efgh",
                                dict(a=4, b=5, c=6, d=4, e=3, f=8, g=2, h=7)),
    "small MPS": ("pa,aqb,brc,cs,pA,AqB,BrC,Cs->",
                  dict(p=2, q=2, r=2, s=2, a=8, b=8, c=8, A=8, B=8, C=8)),
}


def _bench_operands(subscripts: str, sizes: dict, dtype: type, layout: str) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    terms = subscripts.split("->")[0].split(",")
    return [make_array(rng, [sizes[c] for c in t], dtype, layout) for t in terms]


# The same cases at sizes where a compiled engine switches to GEMM / blocked kernels.
MEDIUM_CASES = {
    "matmul": ("ij,jk->ik", dict(i=40, j=50, k=30)),
    "batched matmul": ("bij,bjk->bik", dict(b=4, i=20, j=21, k=19)),
    "chain3": ("ij,jk,kl->il", dict(i=20, j=24, k=16, l=20)),
    "bilinear": ("i,ij,j->", dict(i=60, j=50)),
    "trace": ("ii->", dict(i=50)),
    "diagonal": ("ii->i", dict(i=50)),
    "hadamard-sum": ("ij,ij->", dict(i=40, j=50)),
    "hadamard-rowsum": ("ij,ij->i", dict(i=40, j=50)),
    "outer": ("i,j->ij", dict(i=40, j=30)),
    "batched matvec": ("bij,bj->bi", dict(b=16, i=20, j=20)),
    "transpose-contract": ("abcd,cdef->afbe", dict(a=6, b=5, c=7, d=6, e=5, f=6)),
    "three-operand": ("ijk,jl,kl->il", dict(i=12, j=8, k=9, l=11)),
    "three-operand cube": ("ijk,jl,kl->il", dict(i=6, j=6, k=6, l=6)),
    "MPS overlap": ("pa,aqb,brc,cs,pA,AqB,BrC,Cs->",
                    dict(p=3, q=3, r=3, s=3, a=12, b=12, c=12, A=12, B=12, C=12)),
    "attention scores": ("bhqd,bhkd->bhqk", dict(b=2, h=2, q=16, k=17, d=8)),
    "4-index transform": ("ea,fb,gc,hd,abcd->efgh",
                          dict(a=6, b=7, c=5, d=6, e=5, f=6, g=7, h=4)),
}


@pytest.mark.parametrize("optimize", OPTIMIZE_NAMES, ids=str)
@pytest.mark.parametrize("name", list(MEDIUM_CASES))
def test_bench_case_medium(name: str, optimize: object) -> None:
    subscripts, sizes = MEDIUM_CASES[name]
    for dtype, layout in [(np.float64, "C"), (np.float32, "transposed"), (np.complex64, "sliced"),
                          (np.complex128, "negative")]:
        ops = _bench_operands(subscripts, sizes, dtype, layout)
        expected = reference(subscripts, *ops)
        actual = tc.einsum(subscripts, *ops, optimize=optimize)
        assert_matches(actual, expected, subscripts, ops)


@pytest.mark.parametrize("optimize", OPTIMIZE_NAMES, ids=str)
@pytest.mark.parametrize("name", list(BENCH_CASES))
def test_bench_case(name: str, optimize: object) -> None:
    subscripts, sizes = BENCH_CASES[name]
    for dtype, layout in [(np.float64, "C"), (np.float32, "F"), (np.complex128, "negative"),
                          (np.int64, "sliced")]:
        ops = _bench_operands(subscripts, sizes, dtype, layout)
        expected = reference(subscripts, *ops)
        actual = tc.einsum(subscripts, *ops, optimize=optimize)
        assert_matches(actual, expected, subscripts, ops)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128], ids=lambda d: d.__name__)
def test_cached_plan_is_reused_across_layouts(dtype: type) -> None:
    # Plans are cached per shape and dtype; the next call with the same shapes may come with
    # other strides (Fortran, negative, zero, unaligned, byte-swapped): no stride may be baked in.
    specs = {"ij,jk->ik": [(40, 30), (30, 20)], "bij,bjk->bik": [(4, 20, 21), (4, 21, 19)],
             "ij,ij->i": [(40, 50)] * 2, "ijk,jl,kl->il": [(12, 8, 9), (8, 11), (9, 11)],
             "ii->i": [(30, 30)], "ij->ji": [(30, 20)], "bij,bj->bi": [(16, 20, 20), (16, 20)],
             "abcd,cdef->afbe": [(6, 5, 7, 6), (7, 6, 5, 6)]}
    rng = np.random.default_rng(10)
    order = list(LAYOUTS) + list(reversed(LAYOUTS))
    for spec, shapes in specs.items():
        for layout in order:
            ops = [make_array(rng, s, dtype, layout) for s in shapes]
            assert_matches(tc.einsum(spec, *ops), reference(spec, *ops), spec, ops)


def test_bench_case_repeated_calls_are_stable() -> None:
    # A cached plan must give the same answer for new data of the same shapes.
    subscripts, sizes = BENCH_CASES["transpose-contract"]
    for seed in range(5):
        rng = np.random.default_rng(seed)
        terms = subscripts.split("->")[0].split(",")
        ops = [rng.standard_normal([sizes[c] for c in t]) for t in terms]
        assert_matches(tc.einsum(subscripts, *ops), reference(subscripts, *ops), subscripts, ops)


def test_bytes_subscripts_like_numpy() -> None:
    # numpy.einsum accepts bytes subscripts; a byte string is not an interleaved sublist.
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(tc.einsum(b"ij->ji", a), np.einsum(b"ij->ji", a))


def test_opt_einsum_path_optimizers_are_accepted() -> None:
    import opt_einsum

    rng = np.random.default_rng(11)
    ops = [rng.standard_normal(s) for s in ((3, 4), (4, 5), (5, 2))]
    expected = reference("ij,jk,kl->il", *ops)
    for optimize in (opt_einsum.DynamicProgramming(), opt_einsum.RandomGreedy(max_repeats=4),
                     "branch-all", "branch-1", "random-greedy-128"):
        assert_matches(tc.einsum("ij,jk,kl->il", *ops, optimize=optimize), expected,
                       "ij,jk,kl->il", ops)


def test_long_matrix_chain() -> None:
    # 40 operands, 41 labels: far past where numpy's plain loop is usable.
    import functools
    import string

    letters = string.ascii_letters
    spec = ",".join(letters[k] + letters[k + 1] for k in range(40)) + "->" + letters[0] + letters[40]
    rng = np.random.default_rng(12)
    ops = [rng.standard_normal((2, 2)) for _ in range(40)]
    expected = functools.reduce(np.matmul, ops)
    for optimize in ("auto", "greedy", True, False):
        np.testing.assert_allclose(tc.einsum(spec, *ops, optimize=optimize), expected,
                                   rtol=1e-10, atol=1e-10 * np.abs(expected).max())


def test_more_operands_than_numpy_allows() -> None:
    ops = [np.full(3, 1.01) for _ in range(70)]
    r = tc.einsum(",".join(["a"] * 70), *ops)
    assert r.shape == () and r.dtype == np.float64
    np.testing.assert_allclose(r, 3 * 1.01**70, rtol=1e-13)


@pytest.mark.parametrize("spec, shape", [("i->", (2**31 + 3,)), ("ij,ij->", (2**16, 2**15 + 1))])
def test_more_than_two_to_the_31_terms(spec: str, shape: tuple) -> None:
    # Zero-stride operands cost no memory but 2**31+ iterations: a 32-bit loop counter or
    # offset in a compiled kernel would wrap (wrong sum) or run forever.
    ops = [np.broadcast_to(np.ones((1,) * len(shape)), shape)] * (spec.count(",") + 1)
    r = tc.einsum(spec, *ops)
    assert float(r) == float(np.prod(shape, dtype=np.float64))


@pytest.mark.parametrize("name", ["matmul", "batched matmul", "chain3", "diagonal", "outer",
                                  "hadamard-rowsum", "transpose-contract", "three-operand"])
def test_results_are_not_reused_buffers(name: str) -> None:
    # A cached plan may keep workspaces, but a returned array must never be overwritten by
    # a later call (nor be a view of an operand that a later call could change).
    subscripts, sizes = MEDIUM_CASES[name]
    rng = np.random.default_rng(13)
    terms = subscripts.split("->")[0].split(",")
    first_ops = [rng.standard_normal([sizes[c] for c in t]) for t in terms]
    first = tc.einsum(subscripts, *first_ops)
    kept = np.array(first, copy=True)
    expr = tc.contract_expression(subscripts, *[op.shape for op in first_ops])
    from_expr = expr(*first_ops)
    kept_expr = np.array(from_expr, copy=True)
    for _ in range(3):
        ops = [rng.standard_normal(op.shape) for op in first_ops]
        tc.einsum(subscripts, *ops)
        expr(*ops)
    np.testing.assert_array_equal(first, kept)
    np.testing.assert_array_equal(from_expr, kept_expr)
