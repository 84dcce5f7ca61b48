"""What numpy.einsum accepts, tc.einsum accepts, with numpy's meaning and numpy's error kinds.

numpy (its default ``optimize=False`` path, which its documentation describes) is the oracle:
``dtype=``, ``order=``, ``casting=``, ``out=`` choosing the computation dtype, ``einsum()``
without arguments, ``optimize=(name, memory_limit)`` and ``["einsum_path", ...]``, only ``' '``
as whitespace, Python numbers as object arrays. tensorcalc's own additions are checked too:
``optimize=`` is refused or accepted the same way before and after a plan is cached, and a
path an ``optimize=`` callable returns is checked like an explicit one.
"""

from __future__ import annotations

import decimal
import itertools
from fractions import Fraction

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc.errors import PathError

RNG = np.random.default_rng(7)
A = RNG.random((3, 4))
B = RNG.random((4, 5))
C = RNG.random((5, 2))
# 1e8 + 1 - 1e8 is 0 in float32 and 1 in float64: shows which dtype a sum ran in
CANCEL = np.array([1e8, 1.0, -1e8], np.float32)
ONES32 = np.ones(3, np.float32)


def outcome(call):
    """("ok", value) or ("error", the exception's class)."""
    try:
        return "ok", call()
    except Exception as err:  # noqa: BLE001 - the class is the result
        return "error", type(err)


def assert_same_outcome(tc_call, np_call) -> None:
    """Both succeed with equal values and dtypes, or both raise (tc's error is of numpy's kind)."""
    got, want = outcome(tc_call), outcome(np_call)
    assert got[0] == want[0], (got, want)
    if want[0] == "error":
        assert issubclass(got[1], want[1]), (got[1], want[1])
        return
    g, w = got[1], want[1]
    assert np.asarray(g).dtype == np.asarray(w).dtype, (g, w)
    np.testing.assert_allclose(np.asarray(g, dtype=complex), np.asarray(w, dtype=complex), rtol=1e-6)


# --------------------------------------------------------------------------- dtype, casting

DTYPE_CASES = [
    # (subscripts, operand dtypes, dtype, casting)
    ("ij,jk->ik", ("f4", "f4"), "f8", "safe"),
    ("ij,jk->ik", ("f4", "f4"), "f2", "safe"),       # narrowing: TypeError under 'safe'
    ("ij,jk->ik", ("f4", "f4"), "f2", "same_kind"),
    ("ij,jk->ik", ("f8", "f8"), "i8", "same_kind"),  # float -> int is not same_kind
    ("ij,jk->ik", ("f8", "f8"), "i8", "unsafe"),
    ("ij,jk->ik", ("i4", "i8"), "c16", "safe"),
    ("ij,jk->ik", ("f4", "f8"), None, "no"),         # mixed operands need a cast: refused
    ("ij,jk->ik", ("f8", "f8"), None, "no"),
    ("ij,jk->ik", ("f4", "f8"), None, "equiv"),
    ("ij,jk->ik", ("f8", "f4"), None, "same_kind"),
    ("ij->", ("f8",), "f4", "same_kind"),
    ("ij->", ("f8",), "?", "unsafe"),
    ("ij,jk->ik", ("i8", "f8"), "?", "unsafe"),      # bool: product is and, sum is or
    ("ij,jk->ik", ("f8", "f8"), object, "safe"),
    ("ij,jk->ik", ("c16", "c16"), "f8", "unsafe"),
    ("ij->ji", ("f4",), None, "no"),  # a view; with dtype= numpy ignores dtype (see below)
]


@pytest.mark.parametrize("subscripts, dtypes, dtype, casting", DTYPE_CASES, ids=str)
@pytest.mark.parametrize("optimize", [False, True, "auto"], ids=str)
@pytest.mark.filterwarnings("ignore::numpy.exceptions.ComplexWarning")
def test_dtype_and_casting_match_numpy(subscripts, dtypes, dtype, casting, optimize) -> None:
    terms = subscripts.split("->")[0].split(",")
    shapes = {"i": 3, "j": 4, "k": 2}
    ops = [(RNG.random([shapes[c] for c in t]) * 5).astype(d) for t, d in zip(terms, dtypes)]
    kwargs = dict(dtype=dtype, casting=casting)
    for _ in range(2):  # the second call may find a cached plan
        assert_same_outcome(lambda: tc.einsum(subscripts, *ops, optimize=optimize, **kwargs),
                            lambda: np.einsum(subscripts, *ops, **kwargs))


def test_dtype_sets_the_computation_dtype() -> None:
    assert tc.einsum("i,i->", CANCEL, ONES32) == 0.0  # float32, as numpy
    r = tc.einsum("i,i->", CANCEL, ONES32, dtype=np.float64)
    assert r == 1.0 and r.dtype == np.float64
    # sublist form too, and the plan cached for float64 is not reused for a default call
    assert tc.einsum(CANCEL, [0], ONES32, [0], [], dtype="f8") == 1.0
    assert tc.einsum("i,i->", CANCEL, ONES32).dtype == np.float32


def test_object_array_summed_as_a_dtype() -> None:
    a = np.arange(9, dtype=object)
    for dtype in ("i1", "f4", "c8", object):
        got = tc.einsum("i->", a, dtype=dtype, casting="unsafe")
        want = np.einsum("i->", a, dtype=dtype, casting="unsafe")
        assert got == want == 36 and type(got) is type(want)


@pytest.mark.parametrize("kwargs, error", [
    (dict(dtype="bad_data_type"), TypeError),
    (dict(casting="blah"), ValueError),
    (dict(casting="SAFE"), ValueError),
    (dict(casting="same_value"), ValueError),  # numpy.einsum does not take it either
    (dict(casting=None), TypeError),
    (dict(casting=1), TypeError),
    (dict(order="W"), ValueError),
    (dict(order=""), ValueError),
    (dict(order="ff"), ValueError),
    (dict(order=1), TypeError),
    (dict(out="test"), TypeError),
    (dict(bad_arg=0), TypeError),
], ids=str)
def test_bad_options_raise_numpys_error_kind(kwargs, error) -> None:
    for call in (np.einsum, tc.einsum):
        with pytest.raises(error):
            call("ij,jk->ik", A, B, **kwargs)
        with pytest.raises(error):  # a scalar, a view: options are checked all the same
            call("", 0, **kwargs)
    if error is ValueError and "out" not in kwargs:
        with pytest.raises(tc.TensorcalcError):
            tc.einsum("ij,jk->ik", A, B, **kwargs)


def test_good_option_spellings_are_accepted() -> None:
    for kwargs in (dict(order="k"), dict(order=None), dict(order=b"F"), dict(casting=b"safe"),
                   dict(dtype=None), dict(dtype=float), dict(order="K", casting="safe")):
        np.testing.assert_allclose(tc.einsum("ij,jk->ik", A, B, **kwargs), A @ B)


# --------------------------------------------------------------------------- order

F_A = np.ones((2, 3, 5), order="F")
F_B = np.ones((4, 3), order="F")
C_B = np.ones((4, 3), order="C")
C_A = np.ones((2, 3, 5), order="C")


@pytest.mark.parametrize("ops", [(F_A, F_B), (F_A, C_B), (C_A, C_B), (C_A, F_B),
                                 (F_A[:, :, ::2], F_B)], ids=["FF", "FC", "CC", "CF", "sliced"])
@pytest.mark.parametrize("order", ["C", "F", "A", "c", "f", "a"])
@pytest.mark.parametrize("optimize", [False, True, "greedy"], ids=str)
def test_order_lays_out_the_result_as_numpy(ops, order, optimize) -> None:
    got = tc.einsum("...ft,mf->...mt", *ops, order=order, optimize=optimize)
    want = np.einsum("...ft,mf->...mt", *ops, order=order)
    np.testing.assert_allclose(got, want)
    assert (got.flags.c_contiguous, got.flags.f_contiguous) == (
        want.flags.c_contiguous, want.flags.f_contiguous)


def test_order_a_follows_the_operands() -> None:
    v = np.ones(4)
    assert tc.einsum("ij,j->ij", np.asfortranarray(np.ones((3, 4))), v, order="A").flags.f_contiguous
    assert tc.einsum("i,j->ij", v, np.ones(3), order="A").flags.f_contiguous  # 1-d: both
    r = tc.einsum("ij,jk->ik", np.asfortranarray(np.ones((3, 4))), np.ones((4, 5)), order="A")
    assert r.flags.c_contiguous and not r.flags.f_contiguous


@pytest.mark.parametrize("spec", ["ij->ji", "ii->i", "ij"])
@pytest.mark.parametrize("order", "KCFA")
def test_a_relabelling_stays_a_view_whatever_the_order(spec, order) -> None:
    a = np.arange(9.0).reshape(3, 3)
    got = tc.einsum(spec, a, order=order)
    want = np.einsum(spec, a, order=order)
    assert np.shares_memory(got, a) and np.shares_memory(want, a)
    assert got.strides == want.strides


def test_dtype_on_a_relabelling_makes_a_copy_of_that_dtype() -> None:
    # numpy ignores dtype= here (it returns the float64 view); the documented meaning is kept
    a = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    r = tc.einsum("ij->ji", a, dtype=np.float64)
    assert r.dtype == np.float64 and not np.shares_memory(r, a)
    np.testing.assert_array_equal(r, a.T)
    assert np.shares_memory(tc.einsum("ij->ji", a, dtype=np.float32), a)
    assert np.einsum("ij->ji", a, dtype=np.float64).dtype == np.float32  # numpy's view


def test_order_is_ignored_with_out() -> None:
    out = np.zeros((3, 5))
    assert tc.einsum("ij,jk->ik", A, B, out=out, order="F") is out
    np.testing.assert_allclose(out, A @ B)


# --------------------------------------------------------------------------- out

def test_out_takes_part_in_the_computation_dtype() -> None:
    for optimize in (False, True, "greedy", "optimal"):
        out = np.zeros(())
        assert tc.einsum("i,i->", CANCEL, ONES32, out=out, optimize=optimize) is out
        np_out = np.zeros(())
        np.einsum("i,i->", CANCEL, ONES32, out=np_out)
        assert out == np_out == 1.0  # summed in float64, not float32
    big = np.array([2**30, 2**30], np.int32)
    out = np.zeros((), np.int64)
    tc.einsum("i->", big, out=out)
    assert out == 2**31  # int64, no int32 overflow
    f = tc.contract_expression("i,i->", (3,), (3,))
    out = np.zeros(())
    f(CANCEL, ONES32, out=out)
    assert out == 1.0


OUT_CASES = [
    # (operand dtypes, out dtype, casting)
    (("f8", "f8"), "f4", "safe"),
    (("f8", "f8"), "f4", "same_kind"),
    (("f8", "f8"), "i8", "same_kind"),
    (("f8", "f8"), "i8", "unsafe"),
    (("f4", "f4"), "f8", "no"),
    (("f4", "f4"), "f8", "safe"),
    (("i8", "i8"), "?", "safe"),
    (("i8", "i8"), "f2", "safe"),
    (("f8", "f8"), object, "safe"),
    (("c16", "f8"), "f8", "safe"),
]


@pytest.mark.parametrize("dtypes, out_dtype, casting", OUT_CASES, ids=str)
def test_out_casting_matches_numpy(dtypes, out_dtype, casting) -> None:
    ops = [(A * 3).astype(dtypes[0]), (B * 3).astype(dtypes[1])]
    tc_out, np_out = np.zeros((3, 5), out_dtype), np.zeros((3, 5), out_dtype)
    assert_same_outcome(lambda: tc.einsum("ij,jk->ik", *ops, out=tc_out, casting=casting),
                        lambda: np.einsum("ij,jk->ik", *ops, out=np_out, casting=casting))
    np.testing.assert_array_equal(tc_out, np_out)


def test_zero_dimensional_out_with_every_optimizer() -> None:
    # numpy issue gh-31350 (numpy's test uses an int out, which only its optimize= path casts to)
    for optimize in (False, True, "greedy", "optimal", "dp"):
        out = np.array(0.0)
        assert tc.einsum("i,i->", np.ones(7), np.ones(7), out=out, optimize=optimize) is out
        assert out == 7.0
        with pytest.raises(TypeError):
            tc.einsum("i,i->", np.ones(7), np.ones(7), out=np.array(0), optimize=optimize)


# --------------------------------------------------------------------------- no arguments

def test_einsum_without_arguments_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="must specify the einstein sum subscripts"):
        np.einsum()
    with pytest.raises(tc.TensorcalcError, match="must specify the einstein sum subscripts"):
        tc.einsum()
    with pytest.raises(ValueError):
        tc.einsum(optimize=True)
    with pytest.raises(ValueError):
        tc.einsum("")


# --------------------------------------------------------------------------- optimize=

THREE = ("ij,jk,kl->il", A, B, C)


SIZES = dict(zip("abcdefghij", [2, 3, 4, 5, 4, 3, 2, 6, 5, 4, 3]))  # numpy's test sizes


def _operands(spec: str) -> list[np.ndarray]:
    return [RNG.random([SIZES[c] for c in t]) for t in spec.split("->")[0].split(",")]


@pytest.mark.parametrize("name", ["greedy", "optimal"])
def test_memory_limit_zero_means_one_step_as_in_numpy(name) -> None:
    # numpy's TestEinsumPath.test_memory_contraints, through tc.einsum and tc.contract_path
    for spec in ("a,b,c->abc", "acdf,jbje,gihb,hfac"):
        ops = _operands(spec)
        one_step = tuple(range(len(ops)))
        assert np.einsum_path(spec, *ops, optimize=(name, 0))[0] == ["einsum_path", one_step]
        assert tc.contract_path(spec, *ops, optimize=(name, 0))[0] == [one_step]
        np.testing.assert_allclose(tc.einsum(spec, *ops, optimize=(name, 0)), np.einsum(spec, *ops))


@pytest.mark.parametrize("name", ["greedy", "optimal", "auto", "branch-2"])
@pytest.mark.parametrize("limit", [10, 200, 1000, 1e9])
def test_memory_limit_bounds_every_intermediate(name, limit) -> None:
    spec = "acdf,jbje,gihb,hfac,gfac,gifabc,hfac"  # numpy's long test
    ops = _operands(spec)
    path, info = tc.contract_path(spec, *ops, optimize=(name, limit))
    assert max(info.size_list[:-1], default=0) <= limit  # the last step makes the result
    want = np.einsum(spec, *ops)
    np.testing.assert_allclose(tc.einsum(spec, *ops, optimize=(name, limit)), want)
    np.testing.assert_allclose(tc.einsum(spec, *ops, optimize=[name, limit]), want)
    f = tc.contract_expression(spec, *[o.shape for o in ops], optimize=(name, limit))
    np.testing.assert_allclose(f(*ops), want)


def test_numpy_einsum_path_output_is_accepted_everywhere() -> None:
    spec, *ops = THREE
    want = np.einsum(spec, *ops)
    for np_opt in ("greedy", "optimal", False, True):
        path = np.einsum_path(spec, *ops, optimize=np_opt)[0]  # ['einsum_path', (0, 1), ...]
        np.testing.assert_allclose(tc.einsum(spec, *ops, optimize=path), want)
        np.testing.assert_allclose(tc.einsum(spec, *ops, optimize=tuple(path)), want)
        assert tc.contract_path(spec, *ops, optimize=path)[0] == list(path[1:])
        f = tc.contract_expression(spec, *[o.shape for o in ops], optimize=path)
        np.testing.assert_allclose(f(*ops), want)


def test_numpy_einsum_path_for_one_operand_and_internal_traces() -> None:
    x = RNG.random((3, 3))
    assert tc.einsum("ii->", x, optimize=["einsum_path", (0,)]) == pytest.approx(np.trace(x))
    ops = [RNG.random((2, 3, 4)), RNG.random((2, 5, 5))]
    np.testing.assert_allclose(tc.einsum("cab,cdd->ab", *ops, optimize=["einsum_path", (1,), (0, 1)]),
                               np.einsum("cab,cdd->ab", *ops))


BAD_OPTIMIZE = [1.0, 1, 0, 0.0, np.True_, np.False_, 2, "bogus", ("greedy", "x"),
                ("nope", 0), ("greedy", float("inf")), [], ["einsum_path", (0, 1)],
                [(0, 1), (0, 5)], [(0.0, 1), (0, 1)], np.array([[0, 1], [0, 1]]), object()]
GOOD_OPTIMIZE = [True, False, None, "auto", "greedy", "optimal", "dp", ("greedy", 0),
                 ["greedy", 10**6], ("optimal", 5.5), ["einsum_path", (0, 1), (0, 1)],
                 [(1, 2), (0, 1)], ((0, 1), (0, 1)), [[0, 1], [0, 1]]]


@pytest.mark.parametrize("optimize", BAD_OPTIMIZE, ids=repr)
def test_bad_optimize_is_refused_whether_or_not_a_plan_is_cached(optimize) -> None:
    spec, *ops = THREE
    with pytest.raises((TypeError, ValueError)) as first:
        tc.einsum(spec, *ops, optimize=optimize)
    for cached in (True, False, "greedy", "auto", [(0, 1), (0, 1)], ("greedy", 0)):
        tc.einsum(spec, *ops, optimize=cached)  # make a plan that an equal value could find
        with pytest.raises(first.type):
            tc.einsum(spec, *ops, optimize=optimize)
        with pytest.raises(first.type):
            tc.contract_expression(spec, *[o.shape for o in ops], optimize=optimize)(*ops)
    with pytest.raises((TypeError, ValueError)):
        tc.contract_path(spec, *ops, optimize=optimize)


@pytest.mark.parametrize("optimize", GOOD_OPTIMIZE, ids=repr)
def test_good_optimize_is_accepted_whether_or_not_a_plan_is_cached(optimize) -> None:
    spec, *ops = THREE
    want = np.einsum(spec, *ops)
    for _ in range(2):
        np.testing.assert_allclose(tc.einsum(spec, *ops, optimize=optimize), want)
        np.testing.assert_allclose(tc.contract_expression(spec, A.shape, B.shape, C.shape,
                                                          optimize=optimize)(*ops), want)


def test_optimize_one_is_not_true_even_after_true_is_cached() -> None:
    x = np.ones(3)
    tc.einsum("i,i", x, x, optimize=True)
    with pytest.raises(TypeError):
        tc.einsum("i,i", x, x, optimize=1.0)
    with pytest.raises(TypeError):
        tc.einsum("i,i", x, x, optimize=np.True_)
    with pytest.raises(TypeError):  # numpy refuses them too
        np.einsum("i,i", x, x, optimize=1.0)


def _bad_step(inputs, output, size_dict, memory_limit=None):
    return [(0, 1), (0, 7)]


@pytest.mark.parametrize("returned, match", [
    ([(0, 1), (0, 7)], r"step 1 \(\(0, 7\)\)"),
    ([(0, 0), (0, 1)], r"step 0 \(\(0, 0\)\)"),
    ([(0, 1)], "leaves 2 operands"),
    ([(0, 1), "ab"], r"step 1 \('ab'\)"),
    ([(0, 1), (0.0, 1)], r"step 1"),
    (None, "not a path"),
    (7, "not a path"),
], ids=str)
def test_a_callables_path_is_checked_like_an_explicit_one(returned, match) -> None:
    spec, *ops = THREE

    def optimizer(inputs, output, size_dict, memory_limit=None):
        return returned

    for call in (lambda: tc.einsum(spec, *ops, optimize=optimizer),
                 lambda: tc.contract_path(spec, *ops, optimize=optimizer),
                 lambda: tc.contract_expression(spec, A.shape, B.shape, C.shape,
                                                optimize=optimizer)(*ops)):
        with pytest.raises(tc.TensorcalcError, match=match) as info:
            call()
        assert "optimize=" in str(info.value) and "optimizer" in str(info.value)


def test_an_invalid_path_is_a_runtime_error_as_in_numpy() -> None:
    spec, *ops = THREE
    for lib in (np, tc):
        with pytest.raises(RuntimeError):
            lib.einsum(spec, *ops, optimize=["einsum_path", (0, 1)])
    assert issubclass(PathError, tc.TensorcalcError) and issubclass(PathError, RuntimeError)
    with pytest.raises(PathError, match=r"step 1 \(\(0, 7\)\)"):
        tc.einsum(spec, *ops, optimize=_bad_step)


# --------------------------------------------------------------------------- whitespace

@pytest.mark.parametrize("space", ["\t", "\n", "\r", "\v", "\f", "\xa0", "\u2003"], ids=repr)
@pytest.mark.parametrize("where", ["ij,{}jk", "ij,jk{}", "ij,jk->{}ik", "{}ij,jk->ik"])
def test_only_a_space_is_whitespace(space, where) -> None:
    spec = where.format(space)
    with pytest.raises(ValueError):  # UnicodeEncodeError for non-ASCII, also a ValueError
        np.einsum(spec, A, B)
    with pytest.raises(tc.TensorcalcError, match="invalid label"):
        tc.einsum(spec, A, B)
    with pytest.raises(tc.TensorcalcError):
        tc.contract_path(spec, A, B)
    with pytest.raises(tc.TensorcalcError):
        tc.grad_subscripts(spec, 0)


def test_spaces_anywhere_but_inside_arrow_and_ellipsis() -> None:
    arr = np.ones((2, 3))
    for sp in itertools.product(["", " "], repeat=5):
        spec = "{}...a{},{}a{}->{}...".format(*sp)
        np.testing.assert_array_equal(tc.einsum(spec, arr, np.ones(3)), np.einsum(spec, arr, np.ones(3)))
    for spec in ("ij- >i", ". ..i->i"):
        with pytest.raises(ValueError):
            np.einsum(spec, arr)
        with pytest.raises(tc.TensorcalcError):
            tc.einsum(spec, arr)


# --------------------------------------------------------------------------- Python objects

OBJECT_CASES = [
    (",->", (2**100, 3)),
    ("i,->i", (np.arange(3), 2**100)),
    ("i->", ([2**100, 1],)),
    (",->", (Fraction(1, 2), Fraction(1, 3))),
    (",i->i", (Fraction(1, 2), np.ones(2))),
    ("i,i->", ([Fraction(1, 2), Fraction(1, 3)], [Fraction(1, 2), Fraction(1, 3)])),
    ("ij,jk->ik", (np.full((2, 2), Fraction(1, 2), dtype=object), np.full((2, 2), Fraction(1, 3), dtype=object))),
    (",->", (decimal.Decimal("1.1"), decimal.Decimal(2))),
    ("i->", (np.array([1, 2], dtype=object),)),
    ("i->", (np.array([], dtype=object),)),
    ("i,i,i->", ([Fraction(1, 2), 2], [Fraction(1, 2), 2], [3, Fraction(1, 3)])),
    ("", (2**100,)),
]


@pytest.mark.parametrize("spec, ops", OBJECT_CASES, ids=[c[0] + " " + type(c[1][0]).__name__ for c in OBJECT_CASES])
@pytest.mark.parametrize("optimize", [False, True, "auto"], ids=str)
def test_python_numbers_compute_as_object_arrays(spec, ops, optimize) -> None:
    want = np.einsum(spec, *ops)
    for _ in range(2):
        got = tc.einsum(spec, *ops, optimize=optimize)
        assert type(got) is type(want)  # a Python int or Fraction, not an int64, for 0-d
        if isinstance(want, np.ndarray):
            assert got.dtype == want.dtype == object
            assert got.tolist() == want.tolist()
        else:
            assert got == want


def test_exact_arithmetic_is_exact() -> None:
    third = np.full(3, Fraction(1, 3), dtype=object)
    assert tc.einsum("i,i->", third, third) == Fraction(1, 3)
    assert tc.einsum(",->", 2**100, 2**100) == 2**200


@pytest.mark.parametrize("op", [None, {"a": 1}, "abc", object()], ids=repr)
def test_other_objects_are_still_refused(op) -> None:
    with pytest.raises(TypeError, match="operand 0"):
        tc.einsum(",->", op, 3)


# --------------------------------------------------------------------------- the rest

def test_symbolic_operands_refuse_numpys_array_options() -> None:
    x = tc.var("x", ("n",))
    for kwargs in (dict(dtype="f8"), dict(order="F"), dict(casting="unsafe"), dict(out=np.ones(3))):
        with pytest.raises(TypeError, match=next(iter(kwargs))):
            tc.einsum("i,i->", x, x, **kwargs)
    assert tc.einsum("i,i->", x, x, order="K", casting="safe").shape == ()


def test_contract_expression_call_takes_out_with_numpys_rule() -> None:
    f = tc.contract_expression("ij,jk->ik", A.shape, B.shape)
    np.testing.assert_allclose(f(A, B), A @ B)
    a32, b32 = A.astype("f4"), B.astype("f4")
    out = np.zeros((3, 5))
    assert f(a32, b32, out=out) is out  # computed in float64, the out's dtype
    np.testing.assert_allclose(out, a32.astype("f8") @ b32.astype("f8"), rtol=1e-12)
    with pytest.raises(TypeError):
        f(A, B, out=np.zeros((3, 5), np.float32))  # float64 -> float32 is not safe
    with pytest.raises(TypeError):
        f(A, B, out=[[0.0] * 5] * 3)
    with pytest.raises(tc.TensorcalcError):
        f(A, B, out=np.zeros((5, 3)))
    assert f(a32, b32).dtype == np.float32  # the default call is unchanged
