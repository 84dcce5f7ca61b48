"""tensorcalc.rearrange, reduce and repeat against einops itself: arrays, the folding
shorthand, errors, and expressions (values against einops; derivatives through the gradient
oracle, closed forms and JAX)."""

from __future__ import annotations

import einops
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tensorcalc
from tensorcalc import compile as tc_compile, grad, hessian, jacobian, simplify
from tensorcalc.testing import check_grads
from tensorcalc.ir import Einsum, Expr, einsum as expr_einsum, var
from tensorcalc.ops.functions import sum as tsum
from tests.helpers import oracle_grad, oracle_hessian, oracle_jacobian
from tensorcalc.einops_ext.rearrange import (ExtremumMask, ProdExcept, RearrangeError, ReduceExtremum,
                                  ReduceProd, Reshape, expand_anonymous_folds, rearrange, reduce,
                                  repeat)

RNG = np.random.default_rng(0)

# (input shape, pattern, sizes): every einops feature rearrange has
REARRANGE_CASES = [
    ((2, 3, 4), "a b c -> c a b", {}),
    ((2, 3, 4), "a b c -> a (b c)", {}),
    ((2, 3, 4), "a b c -> (c b a)", {}),
    ((6, 4), "(h w) c -> h w c", {"h": 2}),
    ((6, 4), "(h w) c -> w h c", {"w": 3}),
    ((6, 4), "(h w) c -> c (w h)", {"h": 2, "w": 3}),
    ((4, 4, 3), "(h h2) (w w2) c -> h w (c h2 w2)", {"h2": 2, "w2": 2}),
    ((2, 2, 12), "h w (c h2 w2) -> (h h2) (w w2) c", {"h2": 2, "w2": 2}),
    ((2, 3, 4, 5), "b ... c -> c b ...", {}),
    ((2, 3, 4, 5), "... c -> (...) c", {}),
    ((2, 3, 4, 5), "b ... -> b (...)", {}),
    ((3,), "... -> ... ()", {}),
    ((2, 3), "a b -> a 1 b ()", {}),
    ((2, 1, 3), "a () b -> b a", {}),
    ((2, 1, 3), "a 1 b -> (a b)", {}),
    ((4, 4), "a b -> b a", {}),            # equal sizes: a transpose must not be a no-op
    ((3, 3, 3), "a b c -> c a b", {}),
    ((9, 3), "(a b) c -> (b a) c", {"a": 3}),
    ((), "-> ()", {}),
    ((5,), "(a) -> a", {}),
]

REDUCE_CASES = [
    ((2, 3, 4), "a b c -> a", {}),
    ((2, 3, 4), "a b c -> c a", {}),
    ((2, 3, 4), "a b c ->", {}),
    ((6, 4), "(h w) c -> h", {"h": 2}),
    ((4, 6, 3), "(h h2) (w w2) c -> h w c", {"h2": 2, "w2": 2}),
    ((4, 6), "(h 2) (w 3) -> h w", {}),   # anonymous axes are reduced
    ((2, 3, 4, 5), "b ... c -> b c", {}),
    ((2, 3, 4, 5), "b ... c -> ... b", {}),
    ((3, 3), "a b -> a ()", {}),
    ((3, 3, 3), "a b c -> b", {}),
]

REPEAT_CASES = [
    ((2, 3), "a b -> a b c", {"c": 4}),
    ((2, 3), "a b -> c b a", {"c": 2}),
    ((2, 3), "a b -> (c a) b", {"c": 2}),
    ((2, 3), "a b -> (a c) b", {"c": 2}),
    ((2, 3), "a b -> a b 3", {}),
    ((2, 3), "a b -> (2 a) (b 2)", {}),
    ((2,), "a -> a b c", {"b": 2, "c": 2}),
    ((2, 3), "... -> 2 ...", {}),
    ((3, 3), "a b -> (b c) a", {"c": 3}),
    ((), "-> a", {"a": 3}),
]

OPS = ["sum", "mean", "max", "min", "prod"]


def _array(shape, integers=False):
    if integers:  # few distinct values: ties for max/min
        return RNG.integers(-2, 3, size=shape).astype(np.float64)
    return RNG.standard_normal(shape)


def _same(got, want):
    assert type(got) is type(want)  # a full reduction gives a numpy scalar, as in einops
    assert got.shape == want.shape
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("shape, pattern, sizes", REARRANGE_CASES)
def test_rearrange_matches_einops(shape, pattern, sizes):
    x = _array(shape)
    _same(rearrange(x, pattern, **sizes), einops.rearrange(x, pattern, **sizes))


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("shape, pattern, sizes", REDUCE_CASES)
def test_reduce_matches_einops(shape, pattern, sizes, op):
    x = _array(shape, integers=op in ("max", "min"))
    _same(reduce(x, pattern, op, **sizes), einops.reduce(x, pattern, op, **sizes))


@pytest.mark.parametrize("shape, pattern, sizes", REPEAT_CASES)
def test_repeat_matches_einops(shape, pattern, sizes):
    x = _array(shape)
    _same(repeat(x, pattern, **sizes), einops.repeat(x, pattern, **sizes))


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.complex128, np.bool_])
def test_dtype_is_kept(dtype):
    x = np.arange(12).reshape(3, 4).astype(dtype)
    got = rearrange(x, "a b -> b a")
    assert got.dtype == np.dtype(dtype)
    _same(got, x.T)
    _same(repeat(x, "a b -> a b c", c=2), np.repeat(x[..., None], 2, axis=2))


def test_array_likes_and_extra_reductions():
    _same(rearrange([[1.0, 2.0], [3.0, 4.0]], "a b -> b a"), np.array([[1.0, 3.0], [2.0, 4.0]]))
    b = np.array([[True, False], [True, True]])
    _same(reduce(b, "a b -> a", "all"), np.array([False, True]))
    _same(reduce(b, "a b -> b", "any"), np.array([True, True]))
    x = _array((3, 4))
    _same(reduce(x, "a b -> b", lambda t, axes: np.median(t, axis=axes)), np.median(x, axis=0))


def test_result_is_a_view_when_einops_gives_one():
    x = _array((2, 3, 4))
    y = rearrange(x, "a b c -> c b a")
    assert np.shares_memory(x, y)


# --- hypothesis: random patterns with equal (repeated) axis sizes ---------------------------

NAMES = "abcdef"


@st.composite
def permuted_patterns(draw):
    """A rearrange with groups on both sides, all axes of size 2 or 3 (many equal sizes)."""
    n = draw(st.integers(1, 5))
    sizes = draw(st.lists(st.sampled_from([2, 3]), min_size=n, max_size=n))
    names = list(NAMES[:n])
    order = draw(st.permutations(names))
    left = _group(draw, names)
    right = _group(draw, list(order))
    return sizes, names, left, right


def _group(draw, names):
    """Split names into consecutive groups; each multi-name group becomes '(x y)'."""
    parts, i = [], 0
    while i < len(names):
        k = draw(st.integers(1, len(names) - i))
        chunk = names[i:i + k]
        parts.append(chunk[0] if k == 1 else "(" + " ".join(chunk) + ")")
        i += k
    return parts


def _input_shape(left_parts, size_of):
    shape = []
    for part in left_parts:
        shape.append(int(np.prod([size_of[a] for a in part.strip("()").split()])))
    return tuple(shape)


@settings(max_examples=80, deadline=None)
@given(permuted_patterns(), st.integers(0, 2**31 - 1))
def test_hypothesis_rearrange_equal_sizes(case, seed):
    sizes, names, left, right = case
    size_of = dict(zip(names, sizes))
    pattern = " ".join(left) + " -> " + " ".join(right)
    x = np.random.default_rng(seed).standard_normal(_input_shape(left, size_of))
    kwargs = {a: size_of[a] for a in names[:-1]}  # the last axis is inferred
    _same(rearrange(x, pattern, **kwargs), einops.rearrange(x, pattern, **kwargs))


@settings(max_examples=80, deadline=None)
@given(permuted_patterns(), st.integers(0, 2**31 - 1), st.sampled_from(OPS), st.data())
def test_hypothesis_reduce_equal_sizes(case, seed, op, data):
    sizes, names, left, _ = case
    size_of = dict(zip(names, sizes))
    kept = data.draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
    pattern = " ".join(left) + " -> " + " ".join(kept)
    values = np.random.default_rng(seed).integers(-1, 2, _input_shape(left, size_of))
    x = values.astype(np.float64)  # few distinct values: ties everywhere
    kwargs = {a: size_of[a] for a in names}
    _same(reduce(x, pattern, op, **kwargs), einops.reduce(x, pattern, op, **kwargs))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([2, 3]), min_size=1, max_size=3), st.integers(1, 3),
       st.integers(0, 2**31 - 1), st.data())
def test_hypothesis_repeat_equal_sizes(sizes, n_new, seed, data):
    names = list(NAMES[:len(sizes)])
    new = [f"n{k}" for k in range(n_new)]
    order = data.draw(st.permutations(names + new))
    right = _group(data.draw, list(order))
    pattern = " ".join(names) + " -> " + " ".join(right)
    x = np.random.default_rng(seed).standard_normal(tuple(sizes))
    kwargs = {a: data.draw(st.sampled_from([2, 3])) for a in new}
    _same(repeat(x, pattern, **kwargs), einops.repeat(x, pattern, **kwargs))


# --- the anonymous-axes folding shorthand (seed example I) ----------------------------------

def test_space_to_depth_shorthand_and_inverse():
    x = np.arange(4 * 6 * 3, dtype=np.float64).reshape(4, 6, 3)
    named = rearrange(x, "(h h2) (w w2) c -> h w (c h2 w2)", h2=2, w2=2)
    short = rearrange(x, "(h 2) (w 2) c -> h w (c 4)")
    _same(short, named)
    assert short.shape == (2, 3, 12)
    # the channel block of output pixel (0, 0) holds x[0:2, 0:2, c] in (c, h2, w2) order
    np.testing.assert_array_equal(short[0, 0], x[0:2, 0:2, :].transpose(2, 0, 1).ravel())
    back = rearrange(short, "h w (c h2 w2) -> (h h2) (w w2) c", h2=2, w2=2)
    _same(back, x)


@pytest.mark.parametrize("pattern, expected", [
    ("(h 2) (w 2) c -> h w (c 4)", ("(h h2) (w w2) c -> h w (c h2 w2)", {"h2": 2, "w2": 2})),
    ("(h 2) (w 3) -> h w 6", ("(h h2) (w w3) -> h w (h2 w3)", {"h2": 2, "w3": 3})),
    ("(h 2) (w 2) -> h w 2 2", ("(h h2) (w w2) -> h w h2 w2", {"h2": 2, "w2": 2})),
    ("b (2 h) -> 2 b h", ("b (h2 h) -> h2 b h", {"h2": 2})),
    ("(3 2) -> 6", ("(ax3 ax2) -> (ax3 ax2)", {"ax3": 3, "ax2": 2})),
    ("(h h2 2) -> h (h2 2)", ("(h h2 h2x1) -> h (h2 h2x1)", {"h2x1": 2})),
    ("a b -> b a", ("a b -> b a", {})),
])
def test_fold_rewrites(pattern, expected):
    assert expand_anonymous_folds(pattern) == expected


def test_fold_results_match_named_patterns():
    x = _array((4, 6))
    _same(rearrange(x, "(h 2) (w 3) -> h w 6"),
          einops.rearrange(x, "(h a) (w b) -> h w (a b)", a=2, b=3))
    _same(rearrange(x, "(2 h) w -> h (w 2)"),
          einops.rearrange(x, "(a h) w -> h (w a)", a=2))


@pytest.mark.parametrize("pattern", [
    "(h 2) (w 2) c -> h w (c 8)",   # product 4 != 8
    "(h 4) -> h 2 2",               # a left number cannot be split
    "(h 2) w -> h w",               # a number with no partner
    "h w -> h w 2",                 # a number with no partner on the left
])
def test_fold_errors_suggest_named_form(pattern):
    with pytest.raises(RearrangeError, match=r"\(h h2\) \(w w2\) c -> h w \(c h2 w2\)"):
        rearrange(np.zeros((4, 4)), pattern)


def test_fold_size_clash_is_an_error():
    with pytest.raises(RearrangeError, match="'h2' is not used"):
        rearrange(np.zeros((4,)), "(h 2) -> h 2", h2=2)


def test_fold_shape_error_mentions_rewrite():
    with pytest.raises(RearrangeError, match="rewritten to") as info:
        rearrange(np.zeros((5, 4)), "(h 2) w -> h (w 2)")
    assert "(5, 4)" in str(info.value)


# --- errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("call, fragment", [
    (lambda x: rearrange(x, "a b -> a c"), "Identifiers only on one side"),
    (lambda x: rearrange(x, "a b c -> a b c"), "Wrong shape: expected 3 dims"),
    (lambda x: rearrange(x, "(a b) c -> a b c", a=4), "can't divide axis of length 6"),
    (lambda x: rearrange(x, "a a -> a"), 'duplicate dimension "a"'),
    (lambda x: rearrange(x, "a b -> a b", c=2), "Axis c is not used"),
    (lambda x: rearrange(x, "(a b) c -> a b c"), "Could not infer sizes"),
    (lambda x: rearrange(x, "a b -> (a b"), "Imbalanced parentheses"),
    (lambda x: rearrange(x, "a b - b a"), 'must contain "->" exactly once'),
    (lambda x: reduce(x, "a b -> a -> b", "sum"), 'must contain "->" exactly once'),
    (lambda x: reduce(x, "a b -> a c", "sum"), "Unexpected identifiers on the right"),
    (lambda x: reduce(x, "a b -> a", "median"), "Unknown reduction median"),
    (lambda x: repeat(x, "a b -> a b c"), "Specify sizes for new axes"),
    (lambda x: repeat(x, "a b c -> a b c"), "Wrong shape"),
])
def test_errors_are_tensorcalc_errors_with_einops_messages(call, fragment):
    x = np.zeros((6, 4))
    with pytest.raises(RearrangeError) as info:
        call(x)
    assert isinstance(info.value, tensorcalc.TensorcalcError)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert fragment in message
    assert "(6, 4)" in message  # einops quotes the input shape


def test_type_errors():
    with pytest.raises(TypeError, match="pattern must be a str"):
        rearrange(np.zeros(3), 3)
    with pytest.raises(TypeError, match="need an array"):
        rearrange("abc", "a -> a")
    with pytest.raises(TypeError, match="op must be"):
        reduce(np.zeros(3), "a ->", 3)
    with pytest.raises(RearrangeError, match="cannot make one array"):
        rearrange([np.zeros(2), np.zeros(3)], "s a -> a s")
    with pytest.raises(TypeError, match="cast to float"):
        reduce(np.arange(4), "a ->", "mean")


# --- expressions: einops drives the IR ------------------------------------------------------

def _check_expr(build, x0, want):
    x = var("x", x0.shape)
    y = build(x)
    assert isinstance(y, Expr)
    assert y.shape == np.shape(want)
    got = y.evaluate(x=x0)
    assert got.dtype == np.float64 and got.shape == np.shape(want)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tc_compile(y)(x=x0), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape, pattern, sizes", REARRANGE_CASES)
def test_expression_rearrange_matches_einops(shape, pattern, sizes):
    x0 = _array(shape)
    _check_expr(lambda x: rearrange(x, pattern, **sizes), x0, einops.rearrange(x0, pattern, **sizes))


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("shape, pattern, sizes", REDUCE_CASES)
def test_expression_reduce_matches_einops(shape, pattern, sizes, op):
    x0 = _array(shape, integers=op in ("max", "min"))
    _check_expr(lambda x: reduce(x, pattern, op, **sizes), x0,
                einops.reduce(x0, pattern, op, **sizes))


@pytest.mark.parametrize("shape, pattern, sizes", REPEAT_CASES)
def test_expression_repeat_matches_einops(shape, pattern, sizes):
    x0 = _array(shape)
    _check_expr(lambda x: repeat(x, pattern, **sizes), x0, einops.repeat(x0, pattern, **sizes))


def test_expression_list_is_stacked_like_einops():
    a, b = var("a", (2, 3)), var("b", (2, 3))
    a0, b0 = _array((2, 3)), _array((2, 3))
    y = rearrange([a, b], "s h w -> h (w s)")
    np.testing.assert_array_equal(y.evaluate(a=a0, b=b0),
                                  einops.rearrange([a0, b0], "s h w -> h (w s)"))


# Every op, each with a pattern that reshapes, transposes and (for reduce) reduces.
GRAD_CASES = [
    ("rearrange", (4, 6, 3), "(h 2) (w 2) c -> h w (c 4)", (), {}),
    ("rearrange", (4, 6, 3), "(h h2) (w w2) c -> w (c h2) (w2 h)", (), {"h2": 2, "w2": 3}),
    ("rearrange", (3, 3, 3), "a b c -> c a b", (), {}),
    ("repeat", (2, 3), "a b -> (c b) a 2", (), {"c": 2}),
    ("repeat", (3, 3), "a b -> b c a", (), {"c": 3}),
] + [("reduce", (4, 6, 3), "(h h2) (w w2) c -> c w h", (op,), {"h2": 2, "w2": 3}) for op in OPS] + [
    ("reduce", (3, 3, 3), "a b c -> b", (op,), {}) for op in OPS]


def _einops_call(op, x0, pattern, extra, sizes):
    if op == "rearrange":  # einops itself needs the named form of the folding shorthand
        pattern, folded = expand_anonymous_folds(pattern)
        sizes = {**sizes, **folded}
    return getattr(einops, op)(x0, pattern, *extra, **sizes)


@pytest.mark.parametrize("op, shape, pattern, extra, sizes", GRAD_CASES)
def test_gradient_passes_the_oracle(op, shape, pattern, extra, sizes):
    rng = np.random.default_rng(1)
    x0 = rng.uniform(0.5, 1.5, shape)  # distinct values (no ties), away from 0 for prod
    want = _einops_call(op, x0, pattern, extra, sizes)
    w0 = rng.standard_normal(want.shape)
    x = var("x", shape)
    ours = {"rearrange": rearrange, "reduce": reduce, "repeat": repeat}[op]
    y = ours(x, pattern, *extra, **sizes)
    np.testing.assert_allclose(y.evaluate(x=x0), want, rtol=1e-12, atol=1e-12)
    f = tsum(y ** 2 * w0)
    g = grad(f, x).evaluate(x=x0)
    assert g.shape == shape and g.dtype == np.float64
    np.testing.assert_allclose(g, oracle_grad(f, x, {"x": x0}), rtol=1e-10, atol=1e-12)
    check_grads(y * y, x, 1, x=x0)  # a non-scalar output: the VJP for any cotangent


@pytest.mark.parametrize("op, shape, pattern, extra, sizes", GRAD_CASES)
def test_hessian_passes_the_oracle(op, shape, pattern, extra, sizes):
    rng = np.random.default_rng(2)
    x0 = rng.uniform(0.5, 1.5, shape)
    w0 = rng.standard_normal(_einops_call(op, x0, pattern, extra, sizes).shape)
    x = var("x", shape)
    ours = {"rearrange": rearrange, "reduce": reduce, "repeat": repeat}[op]
    y = ours(x, pattern, *extra, **sizes)
    f = tsum(y ** 3 * w0)
    hess = hessian(f, x).evaluate(x=x0)
    assert hess.shape == shape + shape
    np.testing.assert_allclose(hess, oracle_hessian(f, x, {"x": x0}), rtol=1e-9, atol=1e-10)


def test_space_to_depth_gradient_is_the_inverse_rearrangement():
    x = var("x", (4, 6, 3))
    g0 = _array((2, 3, 12))
    y = rearrange(x, "(h 2) (w 2) c -> h w (c 4)")
    g = grad(tsum(y * g0), x)
    want = einops.rearrange(g0, "h w (c h2 w2) -> (h h2) (w w2) c", h2=2, w2=2)
    np.testing.assert_array_equal(g.evaluate(x=np.zeros((4, 6, 3))), want)


@pytest.mark.parametrize("kind", ["max", "min"])
def test_ties_split_the_gradient_equally(kind):
    x0 = np.array([[1.0, 3.0, 3.0, 3.0], [2.0, 2.0, -1.0, 0.0]])
    if kind == "min":
        x0 = -x0
    x = var("x", (2, 4))
    g = grad(tsum(reduce(x, "a b -> a", kind) * np.array([3.0, 5.0])), x).evaluate(x=x0)
    np.testing.assert_allclose(g, [[0.0, 1.0, 1.0, 1.0], [2.5, 2.5, 0.0, 0.0]])


def test_mean_gradient_is_a_scaled_repeat():
    x = var("x", (2, 3))
    g = grad(tsum(reduce(x, "a b -> a", "mean") * np.array([3.0, 6.0])), x)
    np.testing.assert_allclose(g.evaluate(x=np.zeros((2, 3))), [[1.0] * 3, [2.0] * 3])


def test_repeat_gradient_is_a_sum():
    x = var("x", (2,))
    g = grad(tsum(repeat(x, "a -> a c", c=3) * np.arange(6.0).reshape(2, 3)), x)
    np.testing.assert_allclose(g.evaluate(x=np.zeros(2)), [3.0, 12.0])


def test_permutation_lowers_to_einsum_and_folds_into_a_contraction():
    A, B = var("A", (3, 4)), var("B", (3, 5))
    t = rearrange(A, "i j -> j i")
    assert isinstance(t, Einsum) and t.spec == "ab->ba"
    product = simplify(expr_einsum("ji,ik->jk", t, B))
    assert isinstance(product, Einsum)
    assert all(not isinstance(c, (Einsum, Reshape)) for c in product.children)  # folded
    a0, b0 = _array((3, 4)), _array((3, 5))
    np.testing.assert_allclose(product.evaluate(A=a0, B=b0), a0.T @ b0)


def test_reductions_build_the_documented_nodes():
    x = var("x", (2, 3))
    assert isinstance(reduce(x, "a b -> a", "sum"), Einsum)
    assert isinstance(reduce(x, "a b -> a", "mean"), Einsum)
    assert isinstance(reduce(x, "a b -> a", "max"), ReduceExtremum)
    assert isinstance(reduce(x, "a b -> a", "prod"), ReduceProd)
    assert isinstance(repeat(x, "a b -> a b c", c=2), Einsum)
    assert isinstance(rearrange(x, "a b -> (a b)"), Reshape)
    assert isinstance(rearrange(x, "a b -> a 1 b ()"), Einsum)  # unit axes: an einsum
    squeezed = rearrange(var("u", (2, 1, 3)), "a () b -> b a")
    assert isinstance(squeezed, Einsum) and squeezed.shape == (3, 2)
    twice = rearrange(rearrange(x, "a b -> (a b)"), "(a b) -> b a", a=2)
    assert isinstance(twice, Einsum) and twice.children[0] is x  # the reshapes cancel
    assert rearrange(x, "a b -> a b") is x  # nothing to do: no node
    mask = ExtremumMask(x, "max", (1,))
    np.testing.assert_allclose(mask.evaluate(x=np.array([[1.0, 1.0, 0.0], [0.0, 5.0, 1.0]])),
                               [[0.5, 0.5, 0.0], [0.0, 1.0, 0.0]])


def test_named_dimensions_move_and_reduce():
    x = var("x", ("n", 4))
    y = rearrange(x, "n (c 2) -> c n 2")
    assert y.shape == (2, "n", 2)
    x0 = _array((5, 4))
    np.testing.assert_array_equal(y.evaluate(x=x0), einops.rearrange(x0, "n (c k) -> c n k", k=2))
    m = reduce(x, "n c -> c", "mean")
    assert m.shape == (4,)
    np.testing.assert_allclose(m.evaluate(x=x0), x0.mean(axis=0))
    r = repeat(var("v", (3,)), "a -> a n", n="n") + var("z", (3, "n"))
    assert r.shape == (3, "n")
    np.testing.assert_allclose(r.evaluate(v=np.ones(3), z=np.zeros((3, 2))), np.ones((3, 2)))


def test_named_dimensions_cannot_be_merged():
    x = var("x", ("n", 4))
    with pytest.raises(RearrangeError, match="named dimensions can only move") as info:
        rearrange(x, "n c -> (n c)")
    assert "n c -> (n c)" in str(info.value)
    with pytest.raises(RearrangeError, match="cannot divide"):
        rearrange(x, "(a b) c -> a b c", a=2)


def test_expression_errors():
    x = var("x", (2, 3))
    with pytest.raises(RearrangeError, match="Identifiers only on one side"):
        rearrange(x, "a b -> a")
    with pytest.raises(RearrangeError, match="Wrong shape"):
        rearrange(x, "a b c -> a b c")
    with pytest.raises(RearrangeError, match="can't divide axis of length 3"):
        rearrange(x, "a (b c) -> a b c", b=2)
    with pytest.raises(TypeError, match="op must be one of"):
        reduce(x, "a b -> a", "any")
    with pytest.raises(TypeError, match="op must be one of"):
        reduce(x, "a b -> a", lambda t, axes: t)
    with pytest.raises(TypeError, match="must be an int or a dimension name"):
        repeat(x, "a b -> a b c", c=2.0)


@pytest.mark.parametrize("op, pattern, extra, sizes", [
    ("rearrange", "(h 2) w -> w (h 2)", (), {}),
    ("reduce", "(h h2) w -> w h", ("max",), {"h2": 2}),
    ("reduce", "h w -> w", ("prod",), {}),
    ("repeat", "h w -> w c h", (), {"c": 2}),
])
def test_jacobian_pushes_leading_axes_through(op, pattern, extra, sizes):
    rng = np.random.default_rng(3)
    x0 = rng.uniform(0.5, 1.5, (4, 3))
    x = var("x", (4, 3))
    ours = {"rearrange": rearrange, "reduce": reduce, "repeat": repeat}[op]
    y = ours(x, pattern, *extra, **sizes)
    np.testing.assert_allclose(y.evaluate(x=x0), _einops_call(op, x0, pattern, extra, sizes),
                               rtol=1e-12, atol=1e-12)
    jac = jacobian(y, x).evaluate(x=x0)
    want = oracle_jacobian(y, x, {"x": x0})
    assert jac.shape == want.shape == y.shape + x.shape
    np.testing.assert_allclose(jac, want, rtol=1e-10, atol=1e-12)


def test_prod_gradient_is_exact_at_zeros():
    x0 = np.array([[0.0, 2.0, 3.0], [1.0, 0.0, 0.0], [2.0, 4.0, 0.5]])
    x = var("x", (3, 3))
    g = grad(tsum(reduce(x, "a b -> a", "prod") * np.array([1.0, 1.0, 2.0])), x).evaluate(x=x0)
    np.testing.assert_array_equal(g, [[6.0, 0.0, 0.0], [0.0, 0.0, 0.0], [4.0, 2.0, 16.0]])
    others = ProdExcept(x, (1,)).evaluate(x=x0)
    np.testing.assert_array_equal(others, [[6.0, 0.0, 0.0], [0.0, 0.0, 0.0], [2.0, 1.0, 8.0]])


@settings(max_examples=40, deadline=None)
@given(permuted_patterns(), st.integers(0, 2**31 - 1))
def test_hypothesis_expression_rearrange_and_its_gradient(case, seed):
    """Equal sizes everywhere: a label mix-up in the backend would go unnoticed otherwise."""
    sizes, names, left, right = case
    size_of = dict(zip(names, sizes))
    pattern = " ".join(left) + " -> " + " ".join(right)
    inverse = " ".join(right) + " -> " + " ".join(left)
    rng = np.random.default_rng(seed)
    x0 = rng.standard_normal(_input_shape(left, size_of))
    x = var("x", x0.shape)
    y = rearrange(x, pattern, **size_of)
    want = einops.rearrange(x0, pattern, **size_of)
    np.testing.assert_array_equal(y.evaluate(x=x0), want)
    w0 = rng.standard_normal(want.shape)
    g = grad(tsum(y * w0), x).evaluate(x=x0)
    np.testing.assert_allclose(g, einops.rearrange(w0, inverse, **size_of), rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(permuted_patterns(), st.integers(0, 2**31 - 1), st.sampled_from(OPS), st.data())
def test_hypothesis_expression_reduce_with_ties(case, seed, op, data):
    sizes, names, left, right = case
    size_of = dict(zip(names, sizes))
    kept = data.draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
    pattern = " ".join(right) + " -> " + " ".join(kept)  # input already grouped and permuted
    rng = np.random.default_rng(seed)
    x0 = rng.integers(-1, 2, _input_shape(right, size_of)).astype(np.float64)
    x = var("x", x0.shape)
    y = reduce(x, pattern, op, **size_of)
    want = np.asarray(einops.reduce(x0, pattern, op, **size_of))
    np.testing.assert_allclose(y.evaluate(x=x0), want, rtol=1e-12, atol=1e-12)  # sum order
    if op in ("max", "min"):  # the tie-splitting mask, computed with einops
        g = grad(tsum(y), x).evaluate(x=x0)
        spread = einops.repeat(want, " ".join(kept) + " -> " + pattern.split("->")[0], **size_of)
        hits = (x0 == spread).astype(float)
        counts = einops.repeat(np.asarray(einops.reduce(hits, pattern, "sum", **size_of)),
                               " ".join(kept) + " -> " + pattern.split("->")[0], **size_of)
        np.testing.assert_allclose(g, hits / counts, rtol=1e-12)


def test_named_size_cannot_split_a_concrete_axis():
    with pytest.raises(RearrangeError, match="cannot divide the axis of size 6"):
        rearrange(var("x", (6,)), "(h w) -> h w", h="n")


@pytest.mark.parametrize("op", ["max", "min", "prod", "mean"])
def test_gradients_agree_with_jax_on_ties_and_zeros(op):
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    jax.config.update("jax_enable_x64", True)
    x0 = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, -1.0, 2.0], [0.0, 0.0, 5.0, 1.0]])
    w0 = np.array([3.0, 5.0, 7.0])
    reference = jax.grad(lambda v: jnp.sum(getattr(jnp, op)(v, axis=1) * w0))(x0)
    x = var("x", x0.shape)
    ours = grad(tsum(reduce(x, "a b -> a", op) * w0), x).evaluate(x=x0)
    np.testing.assert_allclose(ours, np.asarray(reference), rtol=1e-12, atol=1e-12)


def test_einops_einsum_drives_expressions_too():
    a, b = var("a", (2, 3)), var("b", (3, 4))
    y = einops.einsum(a, b, "row inner, inner col -> col row")
    assert isinstance(y, Einsum) and y.shape == (4, 2)
    a0, b0 = _array((2, 3)), _array((3, 4))
    np.testing.assert_allclose(y.evaluate(a=a0, b=b0), (a0 @ b0).T)


def test_einops_pack_and_unpack_drive_expressions():
    a, b = var("a", (2, 3)), var("b", (2, 4, 5))
    packed, packed_shapes = einops.pack([a, b], "i *")
    assert packed.shape == (2, 23) and packed_shapes == [(3,), (4, 5)]
    a0, b0 = _array((2, 3)), _array((2, 4, 5))
    want, _ = einops.pack([a0, b0], "i *")
    np.testing.assert_array_equal(packed.evaluate(a=a0, b=b0), want)
    back_a, back_b = einops.unpack(packed * 2.0, packed_shapes, "i *")
    np.testing.assert_allclose(back_b.evaluate(a=a0, b=b0), 2.0 * b0)
    w0 = _array((2, 23))
    g = grad(tsum(packed * w0), b).evaluate(a=a0, b=b0)
    np.testing.assert_array_equal(g, w0[:, 3:].reshape(2, 4, 5))
    with pytest.raises(RearrangeError, match="named dimensions"):
        rearrange([var("p", ("n",)), var("q", ("n",))], "s n -> (s n)")
