"""tensorcalc's einops functions on torch, JAX and array-API arrays: the results are exactly
einops' own (the library's arrays, equal elementwise, autograd and jit intact), tensorcalc's
extension (anonymous-axis folding in rearrange) and error class (RearrangeError) kept."""

from __future__ import annotations

from typing import Any, Callable

import einops
import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc.errors import TensorcalcError

# (tensorcalc call, einops call) on an input of shape (4, 6, 2): the same operation twice
CASES: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "transpose": (lambda x: tc.rearrange(x, "a b c -> c a b"),
                  lambda x: einops.rearrange(x, "a b c -> c a b")),
    "merge": (lambda x: tc.rearrange(x, "a b c -> (a c) b"),
              lambda x: einops.rearrange(x, "a b c -> (a c) b")),
    "split": (lambda x: tc.rearrange(x, "(h w) b c -> h (w b) c", h=2),
              lambda x: einops.rearrange(x, "(h w) b c -> h (w b) c", h=2)),
    "ellipsis": (lambda x: tc.rearrange(x, "a ... -> ... a"),
                 lambda x: einops.rearrange(x, "a ... -> ... a")),
    "folding": (lambda x: tc.rearrange(x, "(h 2) (w 2) c -> h w (c 4)"),  # tensorcalc's extension
                lambda x: einops.rearrange(x, "(h h2) (w w2) c -> h w (c h2 w2)", h2=2, w2=2)),
    "sum": (lambda x: tc.reduce(x, "a b c -> a", "sum"),
            lambda x: einops.reduce(x, "a b c -> a", "sum")),
    "max_pool": (lambda x: tc.reduce(x, "(h 2) (w 2) c -> h w c", "max"),
                 lambda x: einops.reduce(x, "(h 2) (w 2) c -> h w c", "max")),
    "mean": (lambda x: tc.reduce(x, "a b c -> b c", reduction="mean"),
             lambda x: einops.reduce(x, "a b c -> b c", reduction="mean")),
    "prod": (lambda x: tc.reduce(x, "a b c -> c b", "prod"),
             lambda x: einops.reduce(x, "a b c -> c b", "prod")),
    "repeat": (lambda x: tc.repeat(x, "a b c -> a b c r", r=3),
               lambda x: einops.repeat(x, "a b c -> a b c r", r=3)),
    "tile": (lambda x: tc.repeat(x, "a b c -> (2 a) b c"),
             lambda x: einops.repeat(x, "a b c -> (2 a) b c")),
    "list": (lambda x: tc.rearrange([x, x], "n a b c -> a n b c"),
             lambda x: einops.rearrange([x, x], "n a b c -> a n b c")),
}


def _torch() -> tuple[Any, Callable[[np.ndarray], Any], Callable[[Any, Any], bool]]:
    torch = pytest.importorskip("torch")
    return torch.Tensor, torch.as_tensor, lambda a, b: torch.equal(a, b) and a.dtype == b.dtype


def _jax() -> tuple[Any, Callable[[np.ndarray], Any], Callable[[Any, Any], bool]]:
    jax = pytest.importorskip("jax")
    return jax.Array, jax.numpy.asarray, lambda a, b: (
        a.dtype == b.dtype and a.shape == b.shape and bool((a == b).all()))


def _strict() -> tuple[Any, Callable[[np.ndarray], Any], Callable[[Any, Any], bool]]:
    xp = pytest.importorskip("array_api_strict")
    return type(xp.asarray(0.0)), xp.asarray, lambda a, b: (
        a.dtype == b.dtype and np.array_equal(np.from_dlpack(a), np.from_dlpack(b)))


LIBS = {"torch": _torch, "jax": _jax}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("name", sorted(LIBS))
def test_same_as_einops(name, case):
    array_type, asarray, equal = LIBS[name]()
    ours, theirs = CASES[case]
    x = asarray(np.random.default_rng(0).standard_normal((4, 6, 2)).astype(np.float32))
    got, want = ours(x), theirs(x)
    assert isinstance(got, array_type), type(got)
    assert equal(got, want), case


@pytest.mark.parametrize("case", sorted(CASES))
def test_array_api_library_stays_in_its_library(case):
    """An array-API-only library runs through einops' array-API path, its arrays kept; the
    values are einops' numpy results (einops 0.8.2's ``einops.array_api`` itself passes list
    shapes that ``array_api_strict`` refuses: tensorcalc's adapter hands it tuples)."""
    array_type, asarray, _ = _strict()
    ours, theirs = CASES[case]
    values = np.random.default_rng(0).standard_normal((4, 6, 2))
    got = ours(asarray(values))
    assert isinstance(got, array_type), type(got)
    want = theirs(values)
    assert str(got.dtype).rpartition(".")[2] == want.dtype.name
    np.testing.assert_array_equal(np.from_dlpack(got), want)


@pytest.mark.parametrize("name", ["torch", "jax", "array_api_strict"])
def test_pack_unpack_parse_shape_asnumpy(name):
    array_type, asarray, equal = {"array_api_strict": _strict, **LIBS}[name]()
    a, b = asarray(np.ones((2, 3))), asarray(np.arange(40.0).reshape(2, 4, 5))
    packed, shapes = tc.pack([a, b], "i *")
    assert isinstance(packed, array_type) and shapes == [(3,), (4, 5)]
    want = np.concatenate([np.ones((2, 3)), np.arange(40.0).reshape(2, 20)], axis=1)
    np.testing.assert_array_equal(tc.asnumpy(packed), want)
    pieces = tc.unpack(packed, shapes, "i *")
    assert all(isinstance(p, array_type) for p in pieces)
    assert equal(pieces[0], a) and equal(pieces[1], b)
    assert tc.parse_shape(b, "batch _ w") == {"batch": 2, "w": 5}
    with pytest.raises(tc.RearrangeError, match="could not split"):
        tc.unpack(packed, [(3,), (4,)], "i *")
    with pytest.raises(tc.RearrangeError, match="at least 3 axes"):
        tc.pack([a, b], "i j k *")  # a has too few axes (einops' check)
    with pytest.raises(tc.RearrangeError, match=r"pack\(\.\.\., \"i j \*\"\)"):
        tc.pack([a, b], "i j *")  # j differs: the library's concatenate refuses


def test_pack_unpack_equal_einops_on_torch():
    torch = pytest.importorskip("torch")
    tensors = [torch.randn(2, 3, 5), torch.randn(2, 3, 7, 5), torch.randn(2, 3, 5)]
    packed, shapes = tc.pack(tensors, "i j * k")
    want, want_shapes = einops.pack(tensors, "i j * k")
    assert torch.equal(packed, want) and shapes == [tuple(s) for s in want_shapes]
    for got, expected in zip(tc.unpack(packed, shapes, "i j * k"),
                             einops.unpack(want, want_shapes, "i j * k")):
        assert torch.equal(got, expected)


def test_errors_stay_rearrange_errors():
    torch = pytest.importorskip("torch")
    x = torch.zeros(2, 3)
    with pytest.raises(tc.RearrangeError, match="Identifiers only on one side"):
        tc.rearrange(x, "a b -> a c")
    with pytest.raises(einops.EinopsError):  # still einops' class too
        tc.reduce(x, "a b -> a", "sum", c=2)
    with pytest.raises(tc.RearrangeError, match="do not fold"):  # the extension's own check
        tc.rearrange(torch.zeros(4, 4), "(h 2) (w 2) -> h (w 3)")
    with pytest.raises(tc.RearrangeError, match=r'"->" exactly once'):
        tc.rearrange(x, "a b")
    with pytest.raises(TypeError, match="must be an int"):
        tc.repeat(x, "a b -> a b c", c=2.5)


def test_mixed_lists_and_two_libraries():
    torch = pytest.importorskip("torch")
    jnp = pytest.importorskip("jax.numpy")
    stacked = tc.rearrange([torch.ones(2), np.zeros(2)], "n a -> a n")  # numpy moves to torch
    assert isinstance(stacked, torch.Tensor)
    assert stacked.tolist() == [[1.0, 0.0], [1.0, 0.0]]
    with pytest.raises(TensorcalcError, match=r"\(torch\) and .*\(jax\)"):
        tc.rearrange([torch.ones(2), jnp.ones(2)], "n a -> a n")
    with pytest.raises(TensorcalcError, match="different libraries"):
        tc.pack([torch.ones((2, 3)), jnp.ones((2, 3))], "i *")


def test_torch_autograd_through_einops_functions():
    torch = pytest.importorskip("torch")
    x = torch.arange(16.0).reshape(4, 4).requires_grad_()
    pooled = tc.reduce(tc.rearrange(x, "(h 2) w -> h (w 2)"), "h (w 4) -> h w", "max")
    pooled.sum().backward()
    y = torch.arange(16.0).reshape(4, 4).requires_grad_()
    einops.reduce(einops.rearrange(y, "(h h2) w -> h (w h2)", h2=2), "h (w 4) -> h w",
                  "max").sum().backward()
    assert torch.equal(x.grad, y.grad) and x.grad.sum() == 4
    assert tc.asnumpy(x).shape == (4, 4)  # einops' asnumpy detaches


def test_jax_jit_and_grad_through_einops_functions():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy

    def loss(t: Any) -> Any:
        return tc.reduce(tc.rearrange(t, "(h 2) w -> h (w 2)") ** 2, "h w -> ", "sum")

    x = jnp.arange(8.0).reshape(4, 2)
    np.testing.assert_allclose(np.asarray(jax.jit(jax.grad(loss))(x)), 2 * np.asarray(x))
    shape = jax.jit(lambda t: jnp.zeros(tuple(tc.parse_shape(t, "a b").values())))(x).shape
    assert shape == (4, 2)


def test_numpy_path_unchanged():
    x = np.arange(24.0).reshape(4, 6)
    assert type(tc.rearrange(x, "(h 2) w -> h (w 2)")) is np.ndarray
    np.testing.assert_array_equal(tc.rearrange(x, "a b -> b a"), x.T)
    packed, _ = tc.pack([x, x], "i *")
    assert type(packed) is np.ndarray
