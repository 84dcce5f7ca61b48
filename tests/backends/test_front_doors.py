"""``tc.einsum`` and ``tc.contract_expression(...)(*arrays)`` on torch, JAX, dask and
array-API arrays: the result is the same library's array (dtype and device kept,
differentiable by the library), equal to numpy's einsum; numpy arrays and Python numbers mix
with one library's arrays; two libraries in one call, or numpy-only keywords that cannot
apply, raise naming the problem."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc.backends.pairwise import pairwise_plan
from tensorcalc.contraction import ContractExpression as ContractionExpression
from tensorcalc.contraction.plan import optimize_key
from tensorcalc.errors import PathError, TensorcalcError
from tests.backends.support import library as support_library
from tests.helpers import random_einsum_spec


@dataclass(frozen=True)
class Lib:
    name: str                              # tensorcalc's backend name
    asarray: Callable[[np.ndarray], Any]
    to_numpy: Callable[[Any], np.ndarray]
    root: str                              # the root module of its array type


def _dask() -> Lib:
    da = pytest.importorskip("dask.array")
    return Lib("dask", lambda a: da.from_array(a, chunks=2), lambda a: np.asarray(a.compute()),
               "dask")


def library(name: str) -> Lib:
    if name == "dask":
        return _dask()
    found = support_library(name)  # torch, jax (float64 enabled), array_api_strict
    root = {"torch": "torch", "jax": "jax", "array_api": "array_api_strict"}[found.name]
    return Lib(found.name, found.asarray, found.to_numpy, root)


LIBS = ["torch", "jax", "dask", "array_api_strict"]


def _root(x: Any) -> str:
    return type(x).__module__.partition(".")[0].replace("jaxlib", "jax")


def _dtype_name(x: Any) -> str:
    return str(x.dtype).rpartition(".")[2]


def _specs(seed: int, count: int) -> list[tuple[str, list[tuple[int, ...]]]]:
    gen = np.random.default_rng(seed)
    return [random_einsum_spec(gen) for _ in range(count)]


@pytest.mark.parametrize("name", LIBS)
@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-10), (np.float32, 1e-4)])
def test_random_subscripts_match_numpy(name, dtype, rtol):
    lib = library(name)
    gen = np.random.default_rng(7)
    for subscripts, shapes in _specs(11, 30):
        ops = [gen.standard_normal(s).astype(dtype) for s in shapes]
        result = tc.einsum(subscripts, *[lib.asarray(o) for o in ops])
        assert _root(result) == lib.root, (subscripts, type(result))
        assert _dtype_name(result) == np.dtype(dtype).name, (subscripts, result.dtype)
        want = np.einsum(subscripts, *ops)
        np.testing.assert_allclose(lib.to_numpy(result), want, rtol=rtol,
                                   atol=rtol * 10, err_msg=subscripts)


@pytest.mark.parametrize("name", LIBS)
@pytest.mark.parametrize("subscripts,shapes", [
    (",->", [(), ()]), ("ij,->ji", [(2, 3), ()]), ("ij,jk->ik", [(0, 3), (3, 2)]),
    ("ij,jk->ik", [(2, 0), (0, 3)]), ("i->", [(0,)]), ("ii->i", [(3, 3)]),
    ("i,j->ij", [(2,), (3,)]), ("...i,i->...", [(2, 2, 3), (3,)])])
def test_scalars_and_zero_size(name, subscripts, shapes):
    lib = library(name)
    gen = np.random.default_rng(1)
    ops = [gen.standard_normal(s) for s in shapes]
    result = tc.einsum(subscripts, *[lib.asarray(o) for o in ops])
    assert _root(result) == lib.root
    got = lib.to_numpy(result)
    want = np.einsum(subscripts, *ops)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", LIBS)
def test_extended_outputs(name):
    lib = library(name)
    v = np.array([1.0, 2.0, 3.0])
    embedded = tc.einsum("i->ii", lib.asarray(v))
    assert _root(embedded) == lib.root
    np.testing.assert_array_equal(lib.to_numpy(embedded), np.diag(v))
    broadcast = tc.einsum("i->ij", lib.asarray(v), sizes={"j": 2})
    np.testing.assert_array_equal(lib.to_numpy(broadcast), np.repeat(v[:, None], 2, axis=1))


def test_complex_and_sublists_and_pattern_last():
    torch = pytest.importorskip("torch")
    gen = np.random.default_rng(2)
    a = gen.standard_normal((2, 3)) + 1j * gen.standard_normal((2, 3))
    b = gen.standard_normal((3, 4)) + 1j * gen.standard_normal((3, 4))
    ta, tb = torch.as_tensor(a), torch.as_tensor(b)
    result = tc.einsum("ij,jk->ik", ta, tb)
    assert result.dtype == torch.complex128
    np.testing.assert_allclose(result.numpy(), a @ b, rtol=1e-12)
    sub = tc.einsum(ta, [0, 1], tb, [1, 2], [0, 2])  # numpy's sublist form
    assert isinstance(sub, torch.Tensor)
    np.testing.assert_allclose(sub.numpy(), a @ b, rtol=1e-12)
    pattern = tc.einsum(ta, tb, "b d, d o -> b o")  # einops.einsum's form
    assert isinstance(pattern, torch.Tensor)
    np.testing.assert_allclose(pattern.numpy(), a @ b, rtol=1e-12)


def test_non_contiguous_views():
    torch = pytest.importorskip("torch")
    a = torch.arange(24.0, dtype=torch.float64).reshape(4, 6)
    view = a[:, ::2].T  # strided and transposed
    result = tc.einsum("ij,jk->ik", view, a[:, :3])
    np.testing.assert_allclose(result.numpy(), view.numpy() @ a[:, :3].numpy())


def test_device_is_kept():
    torch = pytest.importorskip("torch")
    a = torch.ones(2, 3, device="meta")  # a device other than the CPU, with no data
    result = tc.einsum("ij,jk->ik", a, np.ones((3, 4), dtype=np.float32))
    assert result.device.type == "meta" and result.shape == (2, 4)
    assert result.dtype == torch.float32


def test_numpy_and_numbers_mix_with_one_library():
    torch = pytest.importorskip("torch")
    a = np.arange(6.0).reshape(2, 3)
    t = torch.ones(3, 2, dtype=torch.float32)
    mixed = tc.einsum("ij,jk->ik", a, t)  # a numpy float64 array keeps its dtype
    assert isinstance(mixed, torch.Tensor) and mixed.dtype == torch.float64
    np.testing.assert_allclose(mixed.numpy(), a @ np.ones((3, 2)))
    scaled = tc.einsum(",ij->ij", 2.0, t)  # a Python number takes the tensor's dtype
    assert scaled.dtype == torch.float32
    np.testing.assert_array_equal(scaled.numpy(), np.full((3, 2), 2.0))
    counted = tc.einsum(",i->i", 3, torch.arange(3))
    assert counted.dtype == torch.int64 and counted.tolist() == [0, 3, 6]


def test_two_libraries_in_one_call_raise():
    torch = pytest.importorskip("torch")
    jnp = pytest.importorskip("jax.numpy")
    with pytest.raises(TensorcalcError, match=r"torch.*\(torch\) and .*\(jax\)"):
        tc.einsum("i,i->", torch.ones(2), jnp.ones(2))
    f = tc.contract_expression("i,i->", (2,), (2,))
    with pytest.raises(TensorcalcError, match="different libraries"):
        f(torch.ones(2), jnp.ones(2))


def test_optimize_chooses_the_pairwise_path():
    torch = pytest.importorskip("torch")
    shapes = [(2, 30), (30, 40), (40, 5)]
    plan = pairwise_plan("ij,jk,kl->il", shapes, None, optimize_key([(1, 2), (0, 1)], 3))
    assert [positions for positions, _ in plan.steps] == [(1, 2), (0, 1)]
    gen = np.random.default_rng(3)
    ops = [gen.standard_normal(s) for s in shapes]
    want = np.einsum("ij,jk,kl->il", *ops)
    for optimize in ([(1, 2), (0, 1)], ["einsum_path", (0, 1), (0, 1)], "greedy", "optimal",
                     False, ("greedy", 100)):
        result = tc.einsum("ij,jk,kl->il", *map(torch.as_tensor, ops), optimize=optimize)
        np.testing.assert_allclose(result.numpy(), want, rtol=1e-12)
    with pytest.raises(PathError):
        tc.einsum("ij,jk,kl->il", *map(torch.as_tensor, ops), optimize=[(0, 5)])
    with pytest.raises(TensorcalcError, match="unknown optimize strategy"):
        tc.einsum("ij,jk->ik", torch.ones(2, 2), torch.ones(2, 2), optimize="fastest-ever")


def test_dtype_casts_in_the_library():
    torch = pytest.importorskip("torch")
    t = torch.ones(2, 2, dtype=torch.float32)
    for dtype in (np.float64, "float64", torch.float64):
        result = tc.einsum("ij,jk->ik", t, t, dtype=dtype)
        assert result.dtype == torch.float64, dtype
    assert tc.einsum("ij->", t, dtype=torch.float16, casting="same_kind").dtype == torch.float16
    with pytest.raises(TypeError, match="casting='safe'"):  # as numpy refuses float64 -> float32
        tc.einsum("ij->", t.double(), dtype=np.float32)
    with pytest.raises(TypeError, match="casting='no'"):
        tc.einsum("i,i->", torch.ones(2), torch.ones(2, dtype=torch.float64), casting="no")
    assert tc.einsum("i,i->", torch.ones(2), torch.ones(2), casting="no").item() == 2.0


def test_numpy_only_keywords_raise_naming_keyword_and_library():
    torch = pytest.importorskip("torch")
    t = torch.ones(2, 2)
    with pytest.raises(TypeError, match=r"out=.*torch"):
        tc.einsum("ij->ji", t, out=np.empty((2, 2), dtype=np.float32))
    with pytest.raises(TensorcalcError, match=r"order='C'.*torch"):
        tc.einsum("ij->ji", t, order="C")
    with pytest.raises(TensorcalcError, match="order must be one of"):
        tc.einsum("ij->ji", t, order="Z")
    assert isinstance(tc.einsum("ij->ji", t, order="K"), torch.Tensor)


def test_torch_autograd_matches_torch_einsum():
    torch = pytest.importorskip("torch")
    gen = np.random.default_rng(4)
    for subscripts, shapes in [("ij,jk->ik", [(2, 3), (3, 4)]), ("ii,ij->j", [(3, 3), (3, 2)]),
                               ("bij,bjk,k->bi", [(2, 3, 4), (2, 4, 5), (5,)]),
                               ("i,i->", [(4,), (4,)])]:
        values = [gen.standard_normal(s) for s in shapes]
        mine = [torch.tensor(v, requires_grad=True) for v in values]
        theirs = [torch.tensor(v, requires_grad=True) for v in values]
        weights = torch.as_tensor(gen.standard_normal(np.einsum(subscripts, *values).shape))
        (tc.einsum(subscripts, *mine) * weights).sum().backward()
        (torch.einsum(subscripts, *theirs) * weights).sum().backward()
        for m, t in zip(mine, theirs):
            torch.testing.assert_close(m.grad, t.grad, rtol=1e-12, atol=1e-12)


def test_jax_jit_and_grad_trace():
    jax = pytest.importorskip("jax")
    library("jax")  # float64 enabled as in the other backend tests
    jnp = jax.numpy
    gen = np.random.default_rng(5)
    a, b = gen.standard_normal((2, 3)), gen.standard_normal((3, 4))
    jitted = jax.jit(lambda x, y: tc.einsum("ij,jk->ik", x, y))
    result = jitted(jnp.asarray(a), jnp.asarray(b))
    assert isinstance(result, jax.Array)
    np.testing.assert_allclose(np.asarray(result), a @ b, rtol=1e-12)
    grad = jax.grad(lambda x: tc.einsum("ij,jk->", x, jnp.asarray(b)))(jnp.asarray(a))
    np.testing.assert_allclose(np.asarray(grad), np.broadcast_to(b.sum(1), (2, 3)), rtol=1e-12)
    jitted_grad = jax.jit(jax.grad(lambda x: tc.einsum("ii->", tc.einsum("ij,kj->ik", x, x))))
    np.testing.assert_allclose(np.asarray(jitted_grad(jnp.asarray(a))), 2 * a, rtol=1e-12)


@pytest.mark.parametrize("name", LIBS)
def test_contract_expression_runs_on_the_library(name):
    lib = library(name)
    f = tc.contract_expression("ij,jk,k->i", (2, 3), (3, 4), (4,))
    gen = np.random.default_rng(6)
    ops = [gen.standard_normal(s) for s in [(2, 3), (3, 4), (4,)]]
    result = f(*[lib.asarray(o) for o in ops])
    assert _root(result) == lib.root
    np.testing.assert_allclose(lib.to_numpy(result), np.einsum("ij,jk,k->i", *ops), rtol=1e-12)
    explicit = f(*[lib.asarray(o) for o in ops], backend=lib.name)
    np.testing.assert_allclose(lib.to_numpy(explicit), lib.to_numpy(result), rtol=1e-12)
    with pytest.raises(TensorcalcError, match="backend='numpy' was asked for"):
        f(*[lib.asarray(o) for o in ops], backend="numpy")
    with pytest.raises(TensorcalcError, match="made for shapes"):
        f(lib.asarray(np.ones((2, 2))), lib.asarray(np.ones((2, 4))), lib.asarray(np.ones(4)))


def test_contract_expression_backend_keyword_and_types():
    torch = pytest.importorskip("torch")
    f = tc.contract_expression("ij,jk->ik", (2, 3), (3, 4))
    assert isinstance(f, tc.ContractExpression)
    assert isinstance(f, ContractionExpression)  # the contraction layer's class still holds
    assert repr(f) == "<ContractExpression('ij,jk->ik', shapes=[(2, 3), (3, 4)])>"
    a, b = np.ones((2, 3)), np.arange(12.0).reshape(3, 4)
    numpy_result = f(a, b)
    assert type(numpy_result) is np.ndarray
    for backend in ("torch", "array_api", "numpy", "auto"):  # numpy in, numpy out (opt_einsum)
        converted = f(a, b, backend=backend)
        assert type(converted) is np.ndarray, backend
        np.testing.assert_allclose(converted, numpy_result)
    out = np.empty((2, 4))
    assert f(a, b, out=out, backend="torch") is out
    np.testing.assert_allclose(out, numpy_result)
    with pytest.raises(TensorcalcError, match=r"backend='jax' was asked for.*\(torch\)"):
        f(torch.ones(2, 3), torch.ones(3, 4), backend="jax")
    with pytest.raises(TensorcalcError, match="unknown backend 'tensorflow'"):
        f(a, b, backend="tensorflow")
    with pytest.raises(TypeError, match=r"out=.*torch"):
        f(torch.ones(2, 3), torch.ones(3, 4), out=torch.empty(2, 4))
    with pytest.raises(TensorcalcError, match="takes 2 operands"):
        f(torch.ones(2, 3))
    t = torch.ones(2, 3, requires_grad=True)
    f(t, torch.ones(3, 4)).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), np.full((2, 3), 4.0))


def test_contract_expression_sizes_and_optimize():
    torch = pytest.importorskip("torch")
    f = tc.contract_expression("i->ij", (2,), sizes={"j": 3})
    result = f(torch.tensor([1.0, 2.0]))
    np.testing.assert_array_equal(result.numpy(), [[1, 1, 1], [2, 2, 2]])
    g = tc.contract_expression("ij,jk,kl->il", (2, 3), (3, 4), (4, 5), optimize=[(1, 2), (0, 1)])
    ops = [np.ones(s) for s in [(2, 3), (3, 4), (4, 5)]]
    np.testing.assert_allclose(g(*map(torch.as_tensor, ops)).numpy(), g(*ops))


def test_numpy_path_is_untouched():
    """numpy operands still get numpy's results, views and out= (the compiled core)."""
    a = np.arange(6.0).reshape(2, 3)
    assert type(tc.einsum("ij,jk->ik", a, a.T)) is np.ndarray
    view = tc.einsum("ij->ji", a)
    assert view.base is not None and np.shares_memory(view, a)  # numpy returns a view too
    out = np.empty((2, 2))
    assert tc.einsum("ij,kj->ik", a, a, out=out) is out
    assert type(tc.einsum(",i->i", 2, np.ones(2))) is np.ndarray
    assert tc.einsum(",i->i", 3, np.ones(2, np.float32)).dtype == np.float64  # as numpy
