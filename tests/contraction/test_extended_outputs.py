"""The extended output of tc.einsum: repeated output labels and output labels no input has.

``"i->ii"`` puts the values on a diagonal (zeros elsewhere); ``"i->ij"`` with
``sizes={"j": n}`` repeats them along ``j``. Each named case is checked against a
construction from np.eye / np.broadcast_to; random cases against an index-by-index oracle.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tensorcalc as tc
from tests.helpers import (
    LETTERS,
    assert_matches,
    einsum_cases,
    examples,
    native,
    reference,
    rounding_tolerance,
)

OPTIMIZE_NAMES = ["auto", "greedy", "optimal", "dp", True, False]


def embed(reduced: np.ndarray, labels: str, output: str, sizes: dict[str, int]) -> np.ndarray:
    """Definition: out[idx] = reduced[...] where repeated labels agree, else 0.

    Written with index grids (not the stride tricks an implementation would use): the
    value at each output position is gathered from ``reduced`` by its label indices, then
    masked by "every repeated label has one value".
    """
    shape = tuple(sizes[lab] for lab in output)
    grid = np.indices(shape, sparse=False) if shape else np.zeros((0,), int)
    first = {lab: output.index(lab) for lab in output}
    mask = np.ones(shape, bool)
    for axis, lab in enumerate(output):
        mask &= grid[axis] == grid[first[lab]]
    gathered = reduced[tuple(grid[first[lab]] for lab in labels)] if shape else reduced
    return np.where(mask, gathered, 0).astype(native(reduced.dtype))


# ---------------------------------------------------------------------------------------------
# Named cases against np.eye / np.broadcast_to constructions
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def x() -> np.ndarray:
    return np.array([1.5, -2.0, 3.25])


@pytest.fixture
def m() -> np.ndarray:
    return np.arange(1.0, 7.0).reshape(2, 3)


def test_diagonal_embedding(x: np.ndarray) -> None:
    r = tc.einsum("i->ii", x)
    assert r.shape == (3, 3) and r.dtype == x.dtype
    np.testing.assert_array_equal(r, np.diag(x))


def test_three_way_diagonal(x: np.ndarray) -> None:
    r = tc.einsum("i->iii", x)
    expected = np.zeros((3, 3, 3))
    expected[np.arange(3), np.arange(3), np.arange(3)] = x
    np.testing.assert_array_equal(r, expected)


def test_matrix_row_diagonal(m: np.ndarray) -> None:
    r = tc.einsum("ij->iij", m)
    np.testing.assert_array_equal(r, np.eye(2)[:, :, None] * m[:, None, :])
    r = tc.einsum("ij->jii", m)
    np.testing.assert_array_equal(r, np.eye(2)[None, :, :] * m.T[:, :, None])


def test_broadcast_new_label(x: np.ndarray) -> None:
    r = tc.einsum("i->ij", x, sizes={"j": 4})
    assert r.shape == (3, 4)
    np.testing.assert_array_equal(r, np.broadcast_to(x[:, None], (3, 4)))
    r = tc.einsum("i->ji", x, sizes={"j": 2})
    np.testing.assert_array_equal(r, np.broadcast_to(x[None, :], (2, 3)))


def test_broadcast_new_label_of_matrix(m: np.ndarray) -> None:
    r = tc.einsum("ij->ijk", m, sizes={"k": 5})
    np.testing.assert_array_equal(r, np.broadcast_to(m[:, :, None], (2, 3, 5)))
    r = tc.einsum("ij->kji", m, sizes={"k": 2})
    np.testing.assert_array_equal(r, np.broadcast_to(m.T[None], (2, 3, 2)))


def test_scalar_times_identity() -> None:
    r = tc.einsum("->ii", np.float64(2.5), sizes={"i": 4})
    assert r.shape == (4, 4) and r.dtype == np.float64
    np.testing.assert_array_equal(r, 2.5 * np.eye(4))
    r = tc.einsum("->ii", np.array(3, np.int32), sizes={"i": 3})
    assert r.dtype == np.int32
    np.testing.assert_array_equal(r, 3 * np.eye(3, dtype=np.int32))


def test_scalar_broadcast_to_a_block() -> None:
    r = tc.einsum("->ij", np.array(-1.0), sizes={"i": 2, "j": 3})
    np.testing.assert_array_equal(r, np.full((2, 3), -1.0))


def test_diagonal_and_broadcast_combined(x: np.ndarray) -> None:
    r = tc.einsum("i->iij", x, sizes={"j": 2})
    np.testing.assert_array_equal(r, np.broadcast_to((np.diag(x))[:, :, None], (3, 3, 2)))
    r = tc.einsum("->iijj", np.array(2.0), sizes={"i": 2, "j": 3})
    expected = 2.0 * np.eye(2)[:, :, None, None] * np.eye(3)[None, None, :, :]
    np.testing.assert_array_equal(r, expected)


def test_contraction_then_embedding() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 5))
    r = tc.einsum("ij,jk->iikl", a, b, sizes={"l": 2})
    ab = a @ b
    expected = np.eye(3)[:, :, None, None] * ab[:, None, :, None] * np.ones(2)
    np.testing.assert_allclose(r, expected, rtol=1e-12, atol=1e-12)


def test_diagonal_to_diagonal_matrix() -> None:
    a = np.arange(9.0).reshape(3, 3)
    np.testing.assert_array_equal(tc.einsum("ii->ii", a), np.diag(np.diag(a)))


def test_trace_gradient_shape() -> None:
    # The gradient of a trace, "ii->" wrt its operand, is "->ii": G times the identity.
    g = np.array(0.5)
    np.testing.assert_array_equal(tc.einsum("->ii", g, sizes={"i": 3}), 0.5 * np.eye(3))


def test_ellipsis_with_diagonal_embedding() -> None:
    a = np.arange(6.0).reshape(2, 3)
    r = tc.einsum("...i->...ii", a)
    expected = a[:, :, None] * np.eye(3)[None]
    np.testing.assert_array_equal(r, expected)


A234 = np.arange(24.0).reshape(2, 3, 4)


@pytest.mark.parametrize("spec, sizes, build", [
    ("...i->...ii", {}, lambda a: a[..., None] * np.eye(4)),
    ("i...->ii...", {}, lambda a: np.eye(2)[:, :, None, None] * a[:, None]),
    ("...->...j", {"j": 2}, lambda a: np.broadcast_to(a[..., None], (2, 3, 4, 2))),
    ("...->j...", {"j": 2}, lambda a: np.broadcast_to(a[None], (2, 2, 3, 4))),
    ("ij...->...jj", {}, lambda a: a.sum(axis=0).T[:, :, None] * np.eye(3)),
    ("i...k->k...ii", {}, lambda a: a.transpose(2, 1, 0)[:, :, :, None] * np.eye(2)),
])
def test_extended_with_ellipsis(spec: str, sizes: dict, build) -> None:
    r = tc.einsum(spec, A234, sizes=sizes)
    expected = build(A234)
    assert r.shape == expected.shape
    np.testing.assert_array_equal(r, expected)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.bool_, np.float32, np.complex64, np.complex128])
def test_extended_keeps_dtype(dtype: type) -> None:
    x = np.array([1, 0, 1]).astype(dtype)
    r = tc.einsum("i->ii", x)
    assert r.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(r, np.diag(x))
    r = tc.einsum("i->ij", x, sizes={"j": 2})
    assert r.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(r, np.broadcast_to(x[:, None], (3, 2)))


def test_zero_sized_new_label(x: np.ndarray) -> None:
    r = tc.einsum("i->ij", x, sizes={"j": 0})
    assert r.shape == (3, 0) and r.dtype == x.dtype


@pytest.mark.parametrize("optimize", OPTIMIZE_NAMES, ids=str)
def test_extended_with_every_optimize_option(optimize: object) -> None:
    rng = np.random.default_rng(4)
    a, b, c = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal(4)
    r = tc.einsum("ij,jk,k->iim", a, b, c, sizes={"m": 2}, optimize=optimize)
    v = a @ b @ c
    expected = np.diag(v)[:, :, None] * np.ones(2)
    np.testing.assert_allclose(r, expected, rtol=1e-12, atol=1e-12)


def test_extended_out_argument(x: np.ndarray) -> None:
    out = np.full((3, 3), np.nan)
    r = tc.einsum("i->ii", x, out=out)
    assert r is out
    # Off-diagonal entries must be overwritten with zeros, not left as they were.
    np.testing.assert_array_equal(out, np.diag(x))


def test_result_is_writable_and_independent(x: np.ndarray) -> None:
    r = tc.einsum("i->ij", x, sizes={"j": 3})
    r[0, 0] = 100.0  # a broadcast view would refuse, or write through to every column
    assert r[0, 1] == x[0] and x[0] == 1.5


def test_sizes_that_agree_with_operands_are_accepted(m: np.ndarray) -> None:
    r = tc.einsum("ij->ijk", m, sizes={"i": 2, "j": 3, "k": 1})
    np.testing.assert_array_equal(r, m[:, :, None])


def test_sizes_accept_numpy_integers(x: np.ndarray) -> None:
    r = tc.einsum("i->ij", x, sizes={"j": np.int64(2)})
    assert r.shape == (3, 2)


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


def test_sizes_mismatch_operand(m: np.ndarray) -> None:
    with pytest.raises(tc.TensorcalcError, match="'i'"):
        tc.einsum("ij->ijk", m, sizes={"i": 5, "k": 2})


def test_new_output_label_without_size(x: np.ndarray) -> None:
    with pytest.raises(tc.TensorcalcError, match="'j'"):
        tc.einsum("i->ij", x)
    with pytest.raises(tc.TensorcalcError, match="'j'"):
        tc.einsum("i->ij", x, sizes={"k": 2})
    with pytest.raises(tc.TensorcalcError, match="'i'"):
        tc.einsum("->ii", np.array(1.0))


def test_negative_size(x: np.ndarray) -> None:
    with pytest.raises(tc.TensorcalcError, match="-2"):
        tc.einsum("i->ij", x, sizes={"j": -2})


def test_non_integer_size(x: np.ndarray) -> None:
    with pytest.raises(TypeError):
        tc.einsum("i->ij", x, sizes={"j": "three"})
    with pytest.raises((TypeError, tc.TensorcalcError)):
        tc.einsum("i->ij", x, sizes={"j": 2.5})


def test_bad_size_key(x: np.ndarray) -> None:
    with pytest.raises(tc.TensorcalcError, match="'jj'"):
        tc.einsum("i->ij", x, sizes={"jj": 2})
    with pytest.raises(tc.TensorcalcError, match="'1'"):
        tc.einsum("i->ij", x, sizes={"1": 2, "j": 2})


def test_sizes_not_a_mapping(x: np.ndarray) -> None:
    with pytest.raises(TypeError):
        tc.einsum("i->ij", x, sizes=[("j", 2)])


def test_embedding_after_a_sum(m: np.ndarray) -> None:
    # "ij->ii" sums j away, then places the row sums on the diagonal.
    np.testing.assert_array_equal(tc.einsum("ij->ii", m), np.diag(m.sum(axis=1)))


# ---------------------------------------------------------------------------------------------
# Random extended outputs against the index-by-index definition
# ---------------------------------------------------------------------------------------------


@st.composite
def extended_cases(draw: st.DrawFn, dim_strategy: st.SearchStrategy[int] | None = None):
    """A case with an explicit output, then repeated and brand-new labels added to it."""
    case = draw(einsum_cases(max_operands=3, max_rank=3, ellipsis=False, implicit=False,
                             dim_strategy=dim_strategy))
    base = case.output
    used = {lab for term in case.terms for lab in term}
    fresh = [lab for lab in LETTERS if lab not in used]
    new_labels = draw(st.lists(st.sampled_from(fresh[:4]), max_size=2, unique=True))
    sizes = {lab: draw(st.integers(0, 3) if dim_strategy is None else dim_strategy)
             for lab in new_labels}
    repeats = draw(st.lists(st.sampled_from(base), max_size=2)) if base else []
    extra = new_labels + repeats + draw(st.lists(st.sampled_from(new_labels), max_size=1) if new_labels else st.just([]))
    output = list(base)
    for lab in extra:
        output.insert(draw(st.integers(0, len(output))), lab)
    return case, "".join(base), "".join(output), sizes


def _check_extended(drawn: tuple, optimize: object) -> None:
    case, base, output, sizes = drawn
    inputs = ",".join("".join(t) for t in case.terms)
    ordinary = inputs + "->" + base
    reduced = reference(ordinary, *case.operands)
    all_sizes = dict(sizes)
    all_sizes.update(zip(base, reduced.shape))
    expected = embed(reduced, base, output, all_sizes)
    actual = tc.einsum(inputs + "->" + output, *case.operands, sizes=sizes, optimize=optimize)
    assert actual.shape == expected.shape
    assert native(actual.dtype) == expected.dtype
    if expected.dtype.kind in "biu":
        np.testing.assert_array_equal(actual, expected)
        return
    # The rounding bound of the ordinary part, placed like the values: off-diagonal entries
    # get a zero bound, so they must be exactly zero.
    bound = embed(rounding_tolerance(ordinary, case.operands, expected.dtype), base, output, all_sizes)
    err = np.abs(actual.astype(np.complex128) - expected.astype(np.complex128))
    assert np.all(err <= bound), f"max error {err.max()} where the bound allows {bound.max()}"


@given(extended_cases(), st.sampled_from(OPTIMIZE_NAMES))
@examples(80)
def test_random_extended_outputs(drawn: tuple, optimize: object) -> None:
    _check_extended(drawn, optimize)


@given(extended_cases(dim_strategy=st.sampled_from((1, 2, 5, 9, 16))), st.sampled_from(OPTIMIZE_NAMES))
@examples(40)
def test_random_extended_outputs_medium(drawn: tuple, optimize: object) -> None:
    # Sizes where the compiled engine writes embeddings and broadcasts with its own kernels.
    _check_extended(drawn, optimize)


@given(einsum_cases(max_operands=3, ellipsis=False, implicit=False))
@examples(30)
def test_sizes_for_present_labels_change_nothing(case) -> None:
    # Passing sizes that match the operands is allowed and leaves an ordinary einsum as is.
    sizes = {}
    for term, op in zip(case.terms, case.operands):
        for lab, d in zip(term, op.shape):
            if d != 1:
                sizes[lab] = d
    expected = reference(case.subscripts, *case.operands)
    actual = tc.einsum(case.subscripts, *case.operands, sizes=sizes)
    assert_matches(actual, expected, case.plain_subscripts, case.operands)
