"""tensorcalc as a drop-in for einops: einops' signatures, error class, list inputs, pack and
unpack, einsum's pattern-last form, parse_shape and asnumpy, on arrays and on expressions.

Each section checks tensorcalc against einops itself on arrays, and expressions (evaluated)
against the array results; gradients go through :func:`tensorcalc.check_grad`.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import string
from pathlib import Path

import einops
import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc.einops_ext import adapter
from tensorcalc.einops_ext.rearrange import RearrangeNotImplementedError, ReductionError
from tensorcalc.ir import Einsum, var

RNG = np.random.default_rng(7)


def _array(*shape):
    return RNG.standard_normal(shape)


def _logsumexp_numpy(t, axes):
    return np.log(np.sum(np.exp(t), axis=axes))


# --- reduce: einops' parameter name and callable reductions ------------------------------

def test_reduce_takes_reduction_by_keyword_as_einops():
    x = _array(2, 3, 4)
    assert list(inspect.signature(tc.reduce).parameters)[2] == "reduction"
    for reduction in ["sum", "mean", "max", "min", "prod"]:
        want = einops.reduce(x, "a b c -> c a", reduction=reduction)
        np.testing.assert_array_equal(tc.reduce(x, "a b c -> c a", reduction=reduction), want)
        np.testing.assert_array_equal(tc.reduce(x, "a b c -> c a", reduction), want)
    e = var("e", (2, 3, 4))
    np.testing.assert_allclose(tc.reduce(e, "a b c -> c", reduction="mean").evaluate(e=x),
                               x.mean(axis=(0, 1)))


def test_axis_names_may_still_be_x_pattern_or_op():
    """The tensor and the pattern stay positional-only: an axis may be called ``x``."""
    x = _array(6, 2)
    np.testing.assert_array_equal(tc.reduce(x, "(x a) b -> a", "sum", x=2),
                                  einops.reduce(x, "(x a) b -> a", "sum", x=2))
    np.testing.assert_array_equal(tc.rearrange(x, "(op pattern) b -> op pattern b", op=3),
                                  x.reshape(3, 2, 2))


@pytest.mark.parametrize("pattern",
                         ["a b c -> a", "a b c -> c a", "a ... -> ", "(a a2) b c -> a2 c"])
def test_callable_reduction_on_arrays_matches_einops(pattern):
    x = _array(4, 3, 2)
    sizes = {"a2": 2} if "a2" in pattern else {}
    np.testing.assert_allclose(tc.reduce(x, pattern, reduction=_logsumexp_numpy, **sizes),
                               einops.reduce(x, pattern, reduction=_logsumexp_numpy, **sizes))


def test_callable_reduction_on_expressions_builds_a_differentiable_expression():
    x0 = _array(4, 3, 2)
    x = var("x", (4, 3, 2))
    logsumexp = lambda t, axes: tc.logsumexp(t, axis=axes)  # noqa: E731
    y = tc.reduce(x, "a b c -> c a", reduction=logsumexp)
    want = einops.reduce(x0, "a b c -> c a", reduction=_logsumexp_numpy)
    np.testing.assert_allclose(y.evaluate(x=x0), want)
    np.testing.assert_allclose(tc.evaluate(y, x=x0), tc.reduce(x0, "a b c -> c a", logsumexp))
    assert tc.check_grad(y * y, x, x=x0) < 1e-6
    spread = tc.reduce(x, "a b c -> b", lambda t, axes: tc.mean(t * t, axis=axes))
    np.testing.assert_allclose(spread.evaluate(x=x0), (x0 ** 2).mean(axis=(0, 2)))
    assert tc.check_grad(spread, x, x=x0) < 1e-6


@pytest.mark.parametrize("reduction, fragment", [
    (lambda t, axes: np.max(t, axis=axes), "failed on an expression"),
    (lambda t, axes: t, "returned an expression of shape (2, 3)"),
    (lambda t, axes: np.zeros(2), "returned a ndarray"),
    ("any", "got 'any'"),
    ("all", "got 'all'"),
])
def test_reductions_expressions_cannot_take_are_clear_tensorcalc_errors(reduction, fragment):
    x = var("x", (2, 3))
    with pytest.raises(ReductionError) as info:
        tc.reduce(x, "a b -> a", reduction)
    assert isinstance(info.value, tc.TensorcalcError) and isinstance(info.value, TypeError)
    message = str(info.value)
    assert fragment in message
    assert "('sum', 'mean', 'max', 'min', 'prod')" in message
    if callable(reduction):
        assert "tc.logsumexp(x, axis=axes)" in message  # says how to write one that works


def test_mean_of_integers_is_refused_as_einops_does():
    x = np.arange(6).reshape(2, 3)
    with pytest.raises(NotImplementedError):
        einops.reduce(x, "a b -> a", "mean")
    with pytest.raises(NotImplementedError, match="cast to float"):  # einops' except clause
        tc.reduce(x, "a b -> a", "mean")
    with pytest.raises(TypeError, match="cast to float"):
        tc.reduce(x, "a b -> a", "mean")


def test_reduction_that_is_neither_name_nor_callable():
    with pytest.raises(TypeError, match="op must be a reduction name or a callable"):
        tc.reduce(np.zeros(3), "a ->", reduction=3)


# --- RearrangeError is einops' error too --------------------------------------------------

def test_rearrange_error_is_an_einops_error():
    assert issubclass(tc.RearrangeError, tc.TensorcalcError)
    assert issubclass(tc.RearrangeError, einops.EinopsError)
    assert issubclass(tc.RearrangeError, ValueError) and issubclass(tc.RearrangeError, RuntimeError)
    x = np.zeros((2, 3))
    calls = [
        lambda: tc.rearrange(x, "a b -> a c"),
        lambda: tc.reduce(x, "a b -> a", "median"),
        lambda: tc.repeat(x, "a b -> a b c"),
        lambda: tc.rearrange(var("v", (2, 3)), "a (b c) -> a b c", b=2),
        lambda: tc.pack([x], "a b"),
        lambda: tc.unpack(x, [(2,), (2,)], "a *"),
        lambda: tc.parse_shape(x, "a a"),
        lambda: tc.einsum(x, "a b -> c"),
    ]
    for call in calls:
        with pytest.raises(einops.EinopsError):  # einops users' except clause
            call()
        with pytest.raises(tc.TensorcalcError):  # tensorcalc users' except clause
            call()


def test_einops_error_text_is_kept():
    with pytest.raises(einops.EinopsError) as ours:
        tc.rearrange(np.zeros((2, 3)), "a b -> a c")
    with pytest.raises(einops.EinopsError) as theirs:
        einops.rearrange(np.zeros((2, 3)), "a b -> a c")
    assert str(ours.value).strip() == str(theirs.value).strip()


# --- lists and tuples of tensors ----------------------------------------------------------

LIST_CASES = [
    ("rearrange", "s h w -> h (w s)", (), {}),
    ("rearrange", "... -> (...)", (), {}),
    ("reduce", "s h w -> h", ("max",), {}),
    ("reduce", "s ... -> ...", ("mean",), {}),
    ("repeat", "s h w -> s h w c", (), {"c": 2}),
]


@pytest.mark.parametrize("op, pattern, extra, sizes", LIST_CASES)
def test_lists_and_tuples_of_arrays_are_stacked_as_einops_does(op, pattern, extra, sizes):
    items = [_array(2, 3) for _ in range(4)]
    want = getattr(einops, op)(items, pattern, *extra, **sizes)
    ours = getattr(tc, op)
    np.testing.assert_array_equal(ours(items, pattern, *extra, **sizes), want)
    np.testing.assert_array_equal(ours(tuple(items), pattern, *extra, **sizes), want)
    mixed = [var(f"v{k}", (2, 3)) if k % 2 else item for k, item in enumerate(items)]
    y = ours(mixed, pattern, *extra, **sizes)  # expressions and arrays, in any order
    values = {f"v{k}": item for k, item in enumerate(items) if k % 2}
    np.testing.assert_allclose(y.evaluate(**values), want)
    np.testing.assert_allclose(ours(tuple(mixed), pattern, *extra, **sizes).evaluate(**values),
                               want)


def test_list_of_expressions_gradient_reaches_each_item():
    a, b = var("a", (2, 3)), var("b", (2, 3))
    a0, b0 = _array(2, 3), _array(2, 3)
    y = tc.rearrange([a, b], "s h w -> h (w s)")
    np.testing.assert_array_equal(y.evaluate(a=a0, b=b0),
                                  einops.rearrange([a0, b0], "s h w -> h (w s)"))
    assert tc.check_grad(y * y, b, a=a0, b=b0) < 1e-6
    g = tc.grad(tc.sum(tc.reduce([a, b], "s h w -> w", "sum") * np.arange(3.0)), a)
    np.testing.assert_array_equal(g.evaluate(a=a0, b=b0), np.tile(np.arange(3.0), (2, 1)))


def test_list_errors_follow_einops():
    with pytest.raises(TypeError, match="empty list"):
        tc.rearrange([], "... -> ...")
    with pytest.raises(TypeError):
        einops.rearrange([], "... -> ...")
    with pytest.raises(TypeError, match="empty tuple"):
        tc.rearrange((), "... -> ...")
    with pytest.raises(tc.RearrangeError, match="different shapes"):
        tc.rearrange([var("a", (2,)), np.zeros(3)], "s a -> a s")
    with pytest.raises(ValueError):  # einops: numpy's stack; tensorcalc: a RearrangeError
        tc.rearrange([np.zeros(2), np.zeros(3)], "s a -> a s")


# --- pack and unpack ----------------------------------------------------------------------

PACK_CASES = [
    ([(2, 3, 5), (2, 3, 7, 5), (2, 3, 7, 9, 5)], "i j * k"),
    ([(2, 3), (2, 4, 5), (2,)], "i *"),
    ([(3,), (4, 2), ()], "*"),
    ([(4, 3), (3,)], "* c"),
    ([(2, 2), (2, 2, 2)], "a * "),  # equal sizes
]


def test_pack_and_unpack_are_exported():
    for name in ["pack", "unpack", "parse_shape", "asnumpy"]:
        assert name in tc.__all__ and getattr(tc, name).__module__.startswith("tensorcalc.")


@pytest.mark.parametrize("shapes, pattern", PACK_CASES)
def test_pack_unpack_arrays_match_einops(shapes, pattern):
    arrays = [_array(*s) for s in shapes]
    packed, packed_shapes = tc.pack(arrays, pattern)
    want, want_shapes = einops.pack(arrays, pattern)
    np.testing.assert_array_equal(packed, want)
    assert packed_shapes == want_shapes
    for ours, theirs in zip(tc.unpack(packed, packed_shapes, pattern),
                            einops.unpack(want, want_shapes, pattern)):
        np.testing.assert_array_equal(ours, theirs)
    inferred = [tuple(s) for s in packed_shapes]
    inferred[-1] = (-1,) + inferred[-1][1:] if inferred[-1] else inferred[-1]
    for ours, original in zip(tc.unpack(packed, inferred, pattern), arrays):
        np.testing.assert_array_equal(ours, original)


@pytest.mark.parametrize("shapes, pattern", PACK_CASES)
def test_pack_unpack_expressions_match_arrays_and_differentiate(shapes, pattern):
    arrays = [_array(*s) for s in shapes]
    values = {f"t{k}": a for k, a in enumerate(arrays)}
    exprs = [var(f"t{k}", s) for k, s in enumerate(shapes)]
    packed, packed_shapes = tc.pack(exprs, pattern)
    want, want_shapes = einops.pack(arrays, pattern)
    assert packed_shapes == want_shapes and packed.shape == want.shape
    np.testing.assert_array_equal(packed.evaluate(**values), want)
    pieces = tc.unpack(packed * 2.0, packed_shapes, pattern)
    for piece, original in zip(pieces, arrays):
        np.testing.assert_allclose(piece.evaluate(**values), 2.0 * original)
    last = len(shapes) - 1
    assert tc.check_grad(packed * packed, exprs[last], **values) < 1e-6
    assert tc.check_grad(pieces[0] * pieces[0], exprs[0], **values) < 1e-6


def test_pack_mixes_arrays_and_expressions():
    a0, b0 = _array(2, 3), _array(2, 4)
    b = var("b", (2, 4))
    packed, shapes = tc.pack([a0, b], "i *")
    np.testing.assert_array_equal(packed.evaluate(b=b0), np.concatenate([a0, b0], axis=1))
    assert shapes == [(3,), (4,)]


def test_pack_unpack_along_named_dimensions():
    # named dimensions outside "*": any number of tensors
    a, b, c = var("a", ("n", 3)), var("b", ("n", 4, 5)), var("c", ("n",))
    values = {"a": _array(2, 3), "b": _array(2, 4, 5), "c": _array(2)}
    packed, shapes = tc.pack([a, b, c], "n *")
    assert packed.shape == ("n", 24) and shapes == [(3,), (4, 5), ()]
    want, _ = einops.pack([values["a"], values["b"], values["c"]], "n *")
    np.testing.assert_array_equal(packed.evaluate(**values), want)
    for piece, name in zip(tc.unpack(packed, shapes, "n *"), "abc"):
        np.testing.assert_array_equal(piece.evaluate(**values), values[name])
    assert tc.check_grad(tc.sum(packed * packed, axis=0), b, **values) < 1e-6
    # stacked along "*" with named dimensions after it
    p, q = var("p", ("m", "n")), var("q", ("m", "n"))
    stacked, shapes = tc.pack([p, q], "* m n")
    assert stacked.shape == (2, "m", "n") and shapes == [(), ()]
    # a named dimension inside "*": fine while nothing is joined to it
    x = var("x", ("n", 3))
    packed, shapes = tc.pack([x], "* c")
    assert packed.shape == ("n", 3) and shapes == [("n",)]
    (back,) = tc.unpack(packed, shapes, "* c")
    assert back.shape == ("n", 3)
    (back,) = tc.unpack(packed, [(-1,)], "* c")
    assert back.shape == ("n", 3)
    (back,) = tc.unpack(packed, [(1, "n")], "* c")
    assert back.shape == (1, "n", 3)
    x0 = _array(5, 3)
    np.testing.assert_array_equal(back.evaluate(x=x0), x0[None])


def test_named_dimensions_cannot_be_concatenated_or_split():
    with pytest.raises(tc.RearrangeError, match="size n \\+ m"):
        tc.pack([var("p", ("n", 3)), var("q", ("m", 3))], "* c")
    with pytest.raises(tc.RearrangeError, match="named dimensions"):
        tc.pack([var("p", ("n", 2, 3))], "* c")  # n * 2 is not a dimension either
    packed = var("y", ("n", 3))
    with pytest.raises(tc.RearrangeError, match="can only be unpacked whole"):
        tc.unpack(packed, [(2,), (-1,)], "* c")
    with pytest.raises(tc.RearrangeError, match="packed axis has size 6"):
        tc.unpack(var("z", (6, 3)), [("n",)], "* c")


def test_pack_unpack_errors_are_einops_errors():
    x = np.zeros((2, 3))
    with pytest.raises(einops.EinopsError, match="at least"):
        tc.pack([np.zeros(2)], "a b *")
    with pytest.raises(tc.RearrangeError, match=r"pack\(\.\.\., \"a \*\"\)"):
        tc.pack([np.zeros((2, 3)), np.zeros((3, 3))], "a *")  # numpy's concatenate refuses
    with pytest.raises(einops.EinopsError, match="could not split"):
        tc.unpack(x, [(2,), (2,)], "a *")
    with pytest.raises(TypeError, match="list of tensors"):
        tc.pack(var("v", (2,)), "*")
    with pytest.raises(TypeError, match="at least one"):
        tc.pack([], "*")
    with pytest.raises(TypeError, match="pattern must be a str"):
        tc.unpack(x, [(3,)], None)


# --- einsum: einops' pattern-last form ----------------------------------------------------

EINSUM_CASES = [
    ("batch d, d out -> batch out", [(4, 3), (3, 5)]),
    ("b c h w, b w -> b h", [(2, 3, 4, 5), (2, 5)]),
    ("a b c, c b d, a g k -> a b k", [(2, 3, 4), (4, 3, 2), (2, 3, 3)]),
    ("out_dim in_dim, ... in_dim -> ... out_dim", [(3, 4), (2, 5, 4)]),
    ("i i ->", [(3, 3)]),
    ("  x1  y_2 ,y_2 z->z x1 ", [(2, 2), (2, 2)]),  # equal sizes, spacing, digits, underscores
]


@pytest.mark.parametrize("pattern, shapes", EINSUM_CASES)
def test_einsum_pattern_last_on_arrays_matches_einops(pattern, shapes):
    arrays = [_array(*s) for s in shapes]
    np.testing.assert_allclose(tc.einsum(*arrays, pattern), einops.einsum(*arrays, pattern),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("pattern, shapes", EINSUM_CASES)
def test_einsum_pattern_last_on_expressions(pattern, shapes):
    arrays = [_array(*s) for s in shapes]
    exprs = [var(f"t{k}", s) for k, s in enumerate(shapes)]
    values = {f"t{k}": a for k, a in enumerate(arrays)}
    y = tc.einsum(*exprs, pattern)
    np.testing.assert_allclose(y.evaluate(**values), einops.einsum(*arrays, pattern),
                               rtol=1e-12, atol=1e-12)
    assert tc.check_grad(y * y, exprs[0], **values) < 1e-6
    if len(shapes) > 1:
        mixed = tc.einsum(arrays[0], *exprs[1:], pattern)  # an array first, then expressions
        np.testing.assert_allclose(mixed.evaluate(**values), einops.einsum(*arrays, pattern),
                                   rtol=1e-12, atol=1e-12)


def test_einsum_pattern_last_with_named_dimensions():
    x, w = var("x", ("batch", 3)), var("w", (3, "out"))
    y = tc.einsum(x, w, "batch d, d out -> batch out")
    assert isinstance(y, Einsum) and y.shape == ("batch", "out")
    x0, w0 = _array(4, 3), _array(3, 2)
    np.testing.assert_allclose(y.evaluate(x=x0, w=w0), x0 @ w0)


def test_numpy_forms_are_unchanged():
    a, b = _array(2, 3), _array(3, 4)
    np.testing.assert_allclose(tc.einsum(a, [0, 1], b, [1, 2], [0, 2]), a @ b)
    np.testing.assert_allclose(tc.einsum(a, [0, 1], b, [1, 2]), a @ b)
    np.testing.assert_allclose(tc.einsum("ij,jk->ik", a, b), a @ b)
    np.testing.assert_allclose(tc.einsum("i j , j k -> i k", a, b), a @ b)
    x = var("x", (2, 3))
    np.testing.assert_allclose(tc.einsum(x, [0, 1], b, [1, 2], [0, 2]).evaluate(x=a), a @ b)


def test_einsum_pattern_last_keeps_the_keywords():
    a, b = _array(2, 3), _array(3, 4)
    out = np.empty((2, 4))
    result = tc.einsum(a, b, "row k, k col -> row col", out=out)
    assert result is out
    np.testing.assert_allclose(out, a @ b)
    np.testing.assert_allclose(tc.einsum(a, b, "r k, k c -> r c", optimize="greedy"), a @ b)
    with pytest.raises(TypeError, match="sizes= is not supported"):
        tc.einsum(a, b, "r k, k c -> r c", sizes={"c": 4})


def _tensor(*shape):
    return np.random.default_rng(0).uniform(size=shape).astype("float32")


@pytest.mark.parametrize("args, error, match", [
    # the checks of einops.tests.test_einsum.test_functional_errors that apply to tc.einsum
    ((_tensor(5, 1), "i () -> i"), NotImplementedError, "^Singleton"),
    ((_tensor(5, 1), "a b -> (a b)"), NotImplementedError, "^Shape rearrangement"),
    ((_tensor(10, 1), "(a b) -> a b"), NotImplementedError, "^Shape rearrangement"),
    ((_tensor(5, 1), "i 2 -> i"), NotImplementedError, "^Anonymous axes"),
    ((_tensor(5, 1), "i 2j -> i"), einops.EinopsError, "^Invalid axis identifier"),
    ((_tensor(5, 3, 2), "i j k"), ValueError, "^Einsum pattern"),
    ((_tensor(1), " ".join(string.ascii_letters) + " extra ->"), RuntimeError, "^Too many axes"),
    ((_tensor(5, 1), "i j -> k"), RuntimeError, "^Unknown axis"),
])
def test_einsum_pattern_last_errors_are_einops_errors(args, error, match):
    with pytest.raises(error, match=match) as info:
        tc.einsum(*args)
    assert isinstance(info.value, tc.RearrangeError)
    if error is NotImplementedError:
        assert isinstance(info.value, RearrangeNotImplementedError)


def test_einsum_pattern_first_is_numpy_form():
    """The two checks of einops' test_functional_errors tensorcalc differs on, on purpose."""
    x = _tensor(5, 4, 3)
    np.testing.assert_allclose(tc.einsum("i j k -> i", x), x.sum(axis=(1, 2)), rtol=1e-6)
    with pytest.raises(tc.TensorcalcError):
        tc.einsum("i j k -> i")  # numpy: no operand


# --- parse_shape, asnumpy -----------------------------------------------------------------

@pytest.mark.parametrize("shape, pattern", [
    ((2, 3, 5, 7), "batch _ h w"),
    ((2, 3, 5, 7), "_ _ _ _"),
    ((2, 3, 5, 7), "a ... b"),
    ((2, 3), "..."),
    ((1, 2, 3, 4), "1 2 3 a"),
    ((10, 1, 2), "a () 2"),
])
def test_parse_shape_matches_einops(shape, pattern):
    x = np.zeros(shape)
    assert tc.parse_shape(x, pattern) == einops.parse_shape(x, pattern)
    expected = einops.parse_shape(x, pattern)
    assert tc.parse_shape(var("x", shape), pattern) == expected


def test_parse_shape_of_expressions_names_dimensions():
    x = var("x", ("batch", 3, "n"))
    sizes = tc.parse_shape(x, "b c _")
    assert sizes == {"b": "batch", "c": 3}
    y = tc.repeat(var("v", (3,)), "c -> b c", **tc.parse_shape(x, "b _ _"))
    assert y.shape == ("batch", 3)
    with pytest.raises(RuntimeError, match="different number of dimensions"):
        tc.parse_shape(x, "a b")
    with pytest.raises(einops.EinopsError, match="anonymous axis"):
        tc.parse_shape(x, "a 3 2")


def test_parse_shape_errors_are_runtime_and_einops_errors():
    x = np.ones((1, 2, 3, 4))
    for pattern in ["a b c", "2 a b c", "a b c ()", "a b c d e", "a b c d e ..."]:
        with pytest.raises(RuntimeError):
            tc.parse_shape(x, pattern)
        with pytest.raises(tc.TensorcalcError):
            tc.parse_shape(x, pattern)
    with pytest.raises(einops.EinopsError):
        tc.parse_shape(x, "a a b b")


def test_asnumpy():
    x = _array(2, 3)
    assert tc.asnumpy(x) is x and einops.asnumpy(x) is x
    np.testing.assert_array_equal(tc.asnumpy([[1, 2], [3, 4]]), np.array([[1, 2], [3, 4]]))
    const = tc.rearrange(tc.ir.as_expr(x), "a b -> b a")
    np.testing.assert_array_equal(tc.asnumpy(const), x.T)
    with pytest.raises(tc.TensorcalcError, match=r"variables \['v'\].*evaluate"):
        tc.asnumpy(var("v", (2,)) * 2.0)


# --- einops' private names stay in the adapter --------------------------------------------

def test_private_names_added_for_drop_in_are_importable():
    """The names this work added to ``adapter.PRIVATE_NAMES``, imported and exercised."""
    from einops.einops import _compactify_pattern_for_einsum
    from einops.packing import analyze_pattern

    assert ("einops.einops", "_compactify_pattern_for_einsum") in adapter.PRIVATE_NAMES
    assert ("einops.packing", "analyze_pattern") in adapter.PRIVATE_NAMES
    assert _compactify_pattern_for_einsum("batch d, d out -> batch out") == "ab,bc->ac"
    assert analyze_pattern("i j * k", "pack") == (2, 1, 3)
    for module, name in adapter.PRIVATE_NAMES:
        assert hasattr(importlib.import_module(module), name), f"einops moved {module}.{name}"


def _is_einops(module: str | None) -> bool:
    return module == "einops" or (module or "").startswith("einops.")


def _einops_imports(path: Path) -> list[tuple[str, str, int]]:
    """(module, name, line) of every import from einops in a source file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, "", node.lineno) for a in node.names if _is_einops(a.name)]
        elif isinstance(node, ast.ImportFrom) and not node.level and _is_einops(node.module):
            found += [(node.module, a.name, node.lineno) for a in node.names]
    return found


def test_only_the_adapter_imports_einops_private_names():
    package = Path(tc.__file__).parent
    public = set(einops.__all__)
    offenders = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "adapter.py" and path.parent.name == "einops_ext":
            continue
        for module, name, line in _einops_imports(path):
            if module == "einops" and (name == "" or name in public):
                continue  # "import einops", "from einops import rearrange": public API
            offenders.append(f"{path.relative_to(package.parent)}:{line}: {module} {name}")
        text = path.read_text("utf-8")
        if "einops._" in text or "einops.einops." in text or "einops.parsing" in text:
            offenders.append(f"{path.relative_to(package.parent)}: refers to einops internals")
    assert not offenders, offenders
