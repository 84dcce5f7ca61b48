"""Evaluation on other array libraries: dispatch, ``backend=``, devices, dtypes, odd inputs
(0-d, zero-size, non-contiguous views), the symmetric check, einops nodes, the contraction
steps of every backend and the ``array_api`` column of the ops table."""

from __future__ import annotations

import re
from typing import Any

import array_api_compat
import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc.backends import BACKENDS, backend_of, contract, get_backend
from tensorcalc.errors import TensorcalcError
from tensorcalc.ir import Expr
from tensorcalc.ops.nodes import Func
from tensorcalc.ops.table import (ARRAY_API_PEAK, AXIS, ELEMENTWISE, MATRIX, POW,
                                  array_api_axis_function, array_api_function)

from .support import library

LIBS = ["torch", "jax", "array_api_strict"]


def _logistic() -> tuple[Any, Any, Any]:
    X, w, y = tc.var("X", ("N", "d")), tc.var("w", ("d",)), tc.var("y", ("N",))
    loss = tc.sum(tc.softplus(-y * (X @ w))) + 0.5 * tc.sum(w * w)
    return loss, tc.grad(loss, w), tc.hessian(loss, w)


def _logistic_data(dtype: Any = np.float64) -> dict[str, np.ndarray]:
    gen = np.random.default_rng(3)
    return {"X": gen.normal(size=(7, 3)).astype(dtype), "w": gen.normal(size=3).astype(dtype),
            "y": np.sign(gen.normal(size=7)).astype(dtype)}


# ----------------------------------------------------------------------------- dispatch

def test_backend_of_dispatches_on_the_input_type() -> None:
    torch = pytest.importorskip("torch")
    assert backend_of([np.ones(2), 1.0, [1, 2]]).name == "numpy"
    assert backend_of([np.ones(2), torch.ones(2), 3]).name == "torch"
    assert backend_of([torch.nn.Parameter(torch.ones(2))]).name == "torch"
    strict = pytest.importorskip("array_api_strict")
    assert backend_of([strict.asarray([1.0])]).name == "array_api"


def test_mixing_libraries_is_an_error_naming_both() -> None:
    torch = pytest.importorskip("torch")
    jnp = pytest.importorskip("jax.numpy")
    with pytest.raises(TensorcalcError, match=r"different libraries.*torch.*jax"):
        backend_of([torch.ones(2), jnp.ones(2)])
    x, y = tc.var("x", (2,)), tc.var("y", (2,))
    with pytest.raises(TensorcalcError, match="different libraries"):
        (x * y).evaluate(x=torch.ones(2), y=jnp.ones(2))
    with pytest.raises(TensorcalcError, match="different libraries"):
        tc.compile(x * y)(x=torch.ones(2), y=jnp.ones(2))


def test_unknown_or_conflicting_backend_names() -> None:
    torch = pytest.importorskip("torch")
    x = tc.var("x", (2,))
    with pytest.raises(TensorcalcError, match="unknown backend 'tensorflow'"):
        x.evaluate(x=np.ones(2), backend="tensorflow")
    with pytest.raises(TensorcalcError, match="unknown backend"):
        tc.compile(x, backend="mxnet")
    with pytest.raises(TensorcalcError, match=r"backend='jax' was asked for.*torch"):
        x.evaluate(x=torch.ones(2), backend="jax")


@pytest.mark.parametrize("lib_name", ["torch", "jax"])  # array_api: the next test
def test_backend_keyword_converts_numpy_inputs(lib_name: str) -> None:
    lib = library(lib_name)
    loss, g, h = _logistic()
    data = _logistic_data()
    expected = tc.compile([loss, g, h])(data)
    for got in (tc.evaluate([loss, g, h], data, backend=lib.name),
                tc.compile([loss, g, h], backend=lib.name)(data)):
        for a, b in zip(got, expected):
            assert isinstance(a, lib.array_type)
            np.testing.assert_allclose(lib.to_numpy(a), b, rtol=1e-10)


def test_array_api_backend_runs_numpy_arrays_through_the_standard() -> None:
    """``backend="array_api"`` on numpy arrays: array-API functions on numpy's namespace,
    numpy arrays back (the lowered contraction, no compiled core)."""
    loss, g, h = _logistic()
    data = _logistic_data()
    got = tc.evaluate([loss, g, h], data, backend="array_api")
    for a, b in zip(got, tc.evaluate([loss, g, h], data)):
        assert type(a) is np.ndarray
        np.testing.assert_allclose(a, b, rtol=1e-10)


def test_numpy_arrays_and_numbers_mix_with_backend_arrays() -> None:
    torch = pytest.importorskip("torch")
    X, w, c = tc.var("X", (2, 3)), tc.var("w", (3,)), tc.var("c", ())
    out = (X @ w * c).evaluate(X=np.ones((2, 3)), w=torch.arange(3.0, dtype=torch.float64), c=2)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
    assert out.tolist() == [6.0, 6.0]


# ----------------------------------------------------------------------------- dtypes, devices

@pytest.mark.parametrize("lib_name", LIBS)
def test_float32_stays_float32_with_weak_constants(lib_name: str) -> None:
    lib = library(lib_name)
    loss, g, h = _logistic()
    data = {k: lib.asarray(v) for k, v in _logistic_data(np.float32).items()}
    expected = tc.compile([loss, g, h])(_logistic_data(np.float32))
    for got in (tc.compile([loss, g, h])(data), tc.evaluate([loss, g, h], data)):
        for a, b in zip(got, expected):
            assert lib.to_numpy(a).dtype == np.float32 == b.dtype
            np.testing.assert_allclose(lib.to_numpy(a), b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("lib_name", LIBS)
def test_integer_inputs_become_float64(lib_name: str) -> None:
    lib = library(lib_name)
    x = tc.var("x", (3,))
    got = (x * 0.5).evaluate(x=lib.asarray(np.array([1, 2, 3])))
    assert lib.to_numpy(got).dtype == np.float64
    assert lib.to_numpy(got).tolist() == [0.5, 1.0, 1.5]


def test_complex_inputs_on_torch() -> None:
    torch = pytest.importorskip("torch")
    z = tc.var("z", (3,))
    f = tc.sum(tc.sigmoid(z) * tc.exp(z)) + tc.logsumexp(z)
    values = np.array([0.3 + 0.4j, -0.7 + 0.2j, 1.1 - 0.5j])
    for expr in (f, tc.grad(f, z)):
        got = expr.evaluate(z=torch.as_tensor(values))
        assert got.dtype == torch.complex128
        np.testing.assert_allclose(got.numpy(), expr.evaluate(z=values), rtol=1e-12)


def test_torch_cpu_device_is_kept_and_compiled_programs_are_cached_per_signature() -> None:
    torch = pytest.importorskip("torch")
    loss, g, _ = _logistic()
    fn = tc.compile([loss, g])
    data = {k: torch.as_tensor(v) for k, v in _logistic_data().items()}
    out = fn(data)
    assert all(t.device == data["X"].device for t in out)
    fn(data)
    fn({k: v.float() for k, v in data.items()})
    fn({**data, "X": data["X"][:4], "y": data["y"][:4]})
    assert len(fn._backend_programs) == 3  # float64, float32, 4 rows
    assert not fn._programs  # the numpy programs are separate


def test_torch_cuda_device_is_kept() -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device: torch.cuda.is_available() is False")
    loss, g, h = _logistic()
    data = {k: torch.as_tensor(v, device="cuda") for k, v in _logistic_data().items()}
    expected = tc.compile([loss, g, h])(_logistic_data())
    for got in (tc.compile([loss, g, h])(data), tc.evaluate([loss, g, h], data)):
        for a, b in zip(got, expected):
            assert a.device.type == "cuda"
            np.testing.assert_allclose(a.cpu().numpy(), b, rtol=1e-9)


def test_cupy_arrays_stay_on_the_gpu() -> None:
    cupy = pytest.importorskip("cupy")
    try:
        if cupy.cuda.runtime.getDeviceCount() == 0:
            raise RuntimeError("no device")
    except Exception as err:  # CuPy installed without a usable GPU
        pytest.skip(f"no CUDA device for CuPy: {err}")
    loss, g, h = _logistic()
    data = {k: cupy.asarray(v) for k, v in _logistic_data().items()}
    expected = tc.compile([loss, g, h])(_logistic_data())
    for a, b in zip(tc.compile([loss, g, h])(data), expected):
        assert isinstance(a, cupy.ndarray)
        np.testing.assert_allclose(cupy.asnumpy(a), b, rtol=1e-9)


# ----------------------------------------------------------------------------- odd inputs

@pytest.mark.parametrize("lib_name", LIBS)
def test_zero_dimensional_inputs(lib_name: str) -> None:
    lib = library(lib_name)
    x, y = tc.var("x", ()), tc.var("y", ())
    f = x * x * tc.log(y) + tc.sigmoid(x * y)
    exprs = [f, tc.grad(f, x), tc.hessian(f, y)]
    values = {"x": np.array(0.7), "y": np.array(1.3)}
    expected = tc.compile(exprs)(values)
    got = tc.compile(exprs)({k: lib.asarray(v) for k, v in values.items()})
    for a, b in zip(got, expected):
        assert isinstance(a, lib.array_type) and tuple(a.shape) == ()
        np.testing.assert_allclose(lib.to_numpy(a), b, rtol=1e-12)


@pytest.mark.parametrize("lib_name", LIBS)
def test_zero_size_inputs(lib_name: str) -> None:
    lib = library(lib_name)
    X, w = tc.var("X", ("N", "d")), tc.var("w", ("d",))
    f = tc.sum(tc.logsumexp(X, axis=1)) + tc.sum(tc.softmax(X @ w)) + tc.sum(w * w)
    exprs = [f, tc.grad(f, w), tc.grad(f, X)]
    for shape in ((0, 3), (4, 0)):
        values = {"X": np.ones(shape), "w": np.ones(shape[1])}
        expected = tc.compile(exprs)(values)
        got = tc.compile(exprs)({k: lib.asarray(v) for k, v in values.items()})
        for a, b in zip(got, expected):
            assert tuple(a.shape) == b.shape
            np.testing.assert_allclose(lib.to_numpy(a), b)


def test_non_contiguous_torch_views() -> None:
    torch = pytest.importorskip("torch")
    base = torch.as_tensor(np.random.default_rng(0).normal(size=(6, 8)))
    views = {"transposed": base.T[:, :5], "strided": base[::2, 1::2], "expanded": base[0].expand(6, 8)}
    A, x = tc.var("A", ("m", "n")), tc.var("x", ("n",))
    f = tc.sum(tc.tanh(A @ x) ** 2) + tc.logsumexp(A)
    exprs = [f, tc.grad(f, A), tc.hessian(f, x)]
    for name, view in views.items():
        xv = torch.linspace(-1, 1, view.shape[1], dtype=torch.float64)
        expected = tc.compile(exprs)(A=view.numpy().copy(), x=xv.numpy())
        for got in (tc.compile(exprs)(A=view, x=xv), tc.evaluate(exprs, A=view, x=xv)):
            for a, b in zip(got, expected):
                np.testing.assert_allclose(a.numpy(), b, rtol=1e-12, err_msg=name)


@pytest.mark.parametrize("lib_name", LIBS)
def test_negative_steps_and_new_axes_in_indexing(lib_name: str) -> None:
    lib = library(lib_name)
    X = tc.var("X", (4, 5))
    f = tc.sum(X[::-1, ::2] * X[None, 2, ::-2][0] ** 2)
    exprs = [f, tc.grad(f, X)]
    values = {"X": np.arange(20.0).reshape(4, 5) / 7}
    for a, b in zip(tc.compile(exprs)({"X": lib.asarray(values["X"])}), tc.compile(exprs)(values)):
        np.testing.assert_allclose(lib.to_numpy(a), b, rtol=1e-12)


@pytest.mark.parametrize("lib_name", LIBS)
def test_symmetric_variables_are_checked_on_every_backend(lib_name: str) -> None:
    lib = library(lib_name)
    S, x = tc.var("S", ("n", "n"), symmetric=True), tc.var("x", ("n",))
    f = x @ S @ x
    good = np.array([[2.0, 1.0], [1.0, 3.0]])
    fn = tc.compile([f, tc.grad(f, S)])
    got = fn(S=lib.asarray(good), x=lib.asarray(np.ones(2)))
    np.testing.assert_allclose(lib.to_numpy(got[1]), fn(S=good, x=np.ones(2))[1])
    bad = lib.asarray(np.array([[2.0, 1.0], [0.5, 3.0]]))
    message = r"declared symmetric but its array is not: entry \[0, 1\] is 1.0 and entry \[1, 0\] is 0.5"
    with pytest.raises(TensorcalcError, match=message):
        fn(S=bad, x=lib.asarray(np.ones(2)))
    with pytest.raises(TensorcalcError, match=message):
        f.evaluate(S=bad, x=lib.asarray(np.ones(2)))


@pytest.mark.parametrize("lib_name", LIBS)
def test_shape_errors_name_the_variable(lib_name: str) -> None:
    lib = library(lib_name)
    A, x = tc.var("A", ("m", "n")), tc.var("x", ("n",))
    # the variables are bound in the DAG's order, which the canonical form fixes (either first)
    with pytest.raises(TensorcalcError, match=r"dimension 'n' is (4 \(axis 0 of 'x'\) but 3 in axis 1 "
                                              r"of 'A'|3 \(axis 1 of 'A'\) but 4 in axis 0 of 'x')"):
        (A @ x).evaluate(A=lib.asarray(np.ones((2, 3))), x=lib.asarray(np.ones(4)))
    with pytest.raises(TensorcalcError, match="no array given for variable 'x'"):
        tc.compile(A @ x)(A=lib.asarray(np.ones((2, 3))))


def test_singular_matrix_is_a_tensorcalc_error_on_torch() -> None:
    torch = pytest.importorskip("torch")
    X = tc.var("X", (2, 2))
    with pytest.raises(TensorcalcError, match=r"inv\(X\): matrix is singular"):
        tc.inv(X).evaluate(X=torch.zeros(2, 2, dtype=torch.float64))


def test_einops_nodes_on_torch() -> None:
    torch = pytest.importorskip("torch")
    X = tc.var("X", (2, 3, 4))
    f = (tc.sum(tc.reduce(X, "b h w -> b w", "max") ** 2)
         + tc.sum(tc.reduce(X * X, "b h w -> h", "prod"))
         + tc.sum(tc.rearrange(X, "b h w -> (b w) h") ** 3)
         + tc.sum(tc.reduce(X, "b h w -> b", "min")))
    exprs = [f, tc.grad(f, X), tc.hvp(f, X, np.ones((2, 3, 4)))]
    values = np.random.default_rng(2).uniform(0.5, 1.5, (2, 3, 4))
    expected = tc.compile(exprs)(X=values)
    for got in (tc.compile(exprs)(X=torch.as_tensor(values)), tc.evaluate(exprs, X=torch.as_tensor(values))):
        for a, b in zip(got, expected):
            assert isinstance(a, torch.Tensor)
            np.testing.assert_allclose(a.numpy(), b, rtol=1e-12)


def test_dask_arrays_evaluate_through_pairwise_contractions() -> None:
    da = pytest.importorskip("dask.array")
    loss, g, h = _logistic()
    data = _logistic_data()
    chunked = {k: da.from_array(v, chunks=3) if v.ndim else v for k, v in data.items()}
    got = tc.evaluate([loss, g, h], chunked)
    for a, b in zip(got, tc.evaluate([loss, g, h], data)):
        assert isinstance(a, da.Array)
        np.testing.assert_allclose(a.compute(), b, rtol=1e-12)
    got = tc.evaluate(g, data, backend="dask")
    assert isinstance(got, da.Array)


# ----------------------------------------------------------------------------- contraction steps

CONTRACTIONS = [
    ("ij,jk->ik", [(2, 3), (3, 4)], None), ("ii->i", [(3, 3)], None), ("ii->", [(3, 3)], None),
    ("i,i->i", [(3,), (3,)], None), ("bij,bjk,kl->bil", [(2, 3, 4), (2, 4, 5), (5, 2)], None),
    ("i->ii", [(3,)], None), ("i->ij", [(3,)], {"j": 2}), ("ij->jii", [(2, 3)], None),
    (",->", [(), ()], None), ("ij,ij->", [(0, 3), (0, 3)], None), ("ij,jk->", [(2, 0), (0, 3)], None),
    ("iij,jk,k->ik", [(2, 2, 3), (3, 4), (4,)], None), ("i...,...->i...", [(2, 1, 3), (3,)], None),
    ("i,j->ij", [(2,), (3,)], None), ("abc,cd,bd,a->", [(2, 3, 4), (4, 5), (3, 5), (2,)], None),
]


@pytest.mark.parametrize("lib_name", LIBS + ["dask"])
def test_planned_contractions_match_numpy(lib_name: str) -> None:
    if lib_name == "dask":
        da = pytest.importorskip("dask.array")
        asarray, to_numpy, backend = da.from_array, np.asarray, get_backend("dask")
    else:
        lib = library(lib_name)
        asarray, to_numpy, backend = lib.asarray, lib.to_numpy, get_backend(lib.name)
    gen = np.random.default_rng(1)
    for text, shapes, sizes in CONTRACTIONS:
        ops = [gen.normal(size=s) for s in shapes]
        arrays = [asarray(o) for o in ops]
        got = contract(text, arrays, array_api_compat.array_namespace(*arrays), backend, sizes)
        np.testing.assert_allclose(to_numpy(got), tc.einsum(text, *ops, sizes=sizes), rtol=1e-12,
                                   atol=1e-12, err_msg=text)


# ----------------------------------------------------------------------------- the table column

def test_every_row_has_an_array_api_template_in_xp_names_only() -> None:
    rows = [*ELEMENTWISE.values(), POW, *MATRIX.values(), *AXIS.values()]
    for row in rows:
        assert row.array_api, row.name
        assert "np." not in row.array_api and "numpy" not in row.array_api, row.name
    assert "np." not in ARRAY_API_PEAK
    for row in AXIS.values():  # only the placeholders the docstring names
        assert set(re.findall(r"{(\w*)}", row.array_api)) <= {"x", "axis", "peak", "prev"}


SAMPLES = np.array([-800.0, -3.0, -0.4, 0.0, 0.7, 2.0, 900.0])
POSITIVE_ONLY = {"log", "log1p", "sqrt"}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_column_matches_the_numpy_column(name: str) -> None:
    xp = array_api_compat.numpy
    row = ELEMENTWISE[name]
    x = np.abs(SAMPLES) + 0.1 if name in POSITIVE_ONLY else SAMPLES
    if name == "tan":
        x = np.array([-1.3, -0.2, 0.0, 0.9])
    with np.errstate(over="ignore"):
        np.testing.assert_allclose(array_api_function(row)(xp, x), row.numpy(x), rtol=1e-14)
    if name in ("exp", "log", "sin", "cos", "tanh", "sqrt", "sigmoid", "softplus", "log1p"):
        z = np.array([0.3 + 0.4j, -0.7 + 0.2j, 1.1 - 0.5j])
        np.testing.assert_allclose(array_api_function(row)(xp, z), row.numpy(z), rtol=1e-14)


@pytest.mark.parametrize("name", sorted(AXIS))
def test_axis_column_matches_the_numpy_column(name: str) -> None:
    xp = array_api_compat.numpy
    row = AXIS[name]
    fn = array_api_axis_function(row)
    for x in (np.array([[0.3, -1.2, 2.0], [1000.0, 0.1, -np.inf]]),
              np.array([[0.3 + 1j, -1.2, 2.0], [1.0, 0.1, -0.5j]]), np.zeros((0, 3)), np.zeros((2, 0))):
        for axes in ((0, 1), (1,), (0,)):
            if row.name in ("norm2", "normalize") and axes != (0, 1):
                continue
            with np.errstate(invalid="ignore", divide="ignore"):
                want = np.asarray(row.numpy(x, axes))
                got = fn(xp, x, axes)
            np.testing.assert_allclose(got, want, rtol=1e-14, err_msg=f"{x} {axes}")


def test_matrix_column_matches_the_numpy_column() -> None:
    xp = array_api_compat.numpy
    m = np.array([[[2.0, 0.3], [0.1, -1.7]], [[0.4, 2.1], [1.9, 0.3]]])
    for row in MATRIX.values():
        np.testing.assert_allclose(array_api_function(row)(xp, m), row.numpy(m), rtol=1e-14)


def test_the_table_of_backends_is_complete() -> None:
    assert sorted(BACKENDS) == ["array_api", "cupy", "dask", "jax", "numpy", "torch"]
    assert all(b.einsum is None for b in BACKENDS.values() if b.name in ("numpy", "array_api"))


@pytest.mark.parametrize("lib_name", LIBS)
def test_outputs_of_numbers_only_follow_the_arrays_they_derive_from(lib_name: str) -> None:
    """The Hessian of a linear map holds no variable: still the library and precision of
    the call's arrays (numpy's rule, :func:`tensorcalc.evaluation.precision.keep_call_precision`)."""
    lib = library(lib_name)
    x, A = tc.var("x", (3,)), tc.var("A", (2, 3))
    exprs = [tc.hessian(tc.sum(A @ x), x), tc.jacobian(A @ x - 1.0, x)]
    values = {"x": np.ones(3, np.float32), "A": np.ones((2, 3), np.float32)}
    arrays = {k: lib.asarray(v) for k, v in values.items()}
    expected = tc.compile(exprs)(values)
    for got in (tc.compile(exprs)(arrays), tc.evaluate(exprs, arrays), [tc.compile(exprs[0])(x=arrays["x"])]):
        for a, b in zip(got, expected):
            assert isinstance(a, lib.array_type)
            assert lib.to_numpy(a).dtype == b.dtype == np.float32
            np.testing.assert_array_equal(lib.to_numpy(a), b)


def test_jax_programs_run_under_one_jit_traced_once_per_signature(monkeypatch: Any) -> None:
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    calls = []
    original = Func.eval_node

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(type(args[0]).__name__)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Func, "eval_node", counting)
    loss, g, h = _logistic()
    fn = tc.compile([loss, g, h])
    data = {k: jax.numpy.asarray(v) for k, v in _logistic_data().items()}
    first = fn(data)
    traced = len(calls)
    assert traced and all("Tracer" in name for name in calls)  # the nodes ran on tracers
    again = fn({k: v + 0.0 for k, v in data.items()})
    assert len(calls) == traced  # same signature: the jitted program, no Python node code
    np.testing.assert_array_equal(np.asarray(first[2]), np.asarray(again[2]))
    fn({**data, "X": data["X"][:3], "y": data["y"][:3]})
    assert len(calls) == 2 * traced  # a new shape: one new trace


def test_dask_backend_keyword_on_numpy_inputs() -> None:
    da = pytest.importorskip("dask.array")
    loss, g, h = _logistic()
    data = _logistic_data()
    for got in (tc.compile([loss, g, h], backend="dask")(data), tc.evaluate([loss, g, h], data, backend="dask")):
        for a, b in zip(got, tc.compile([loss, g, h])(data)):
            assert isinstance(a, da.Array)
            np.testing.assert_allclose(a.compute(), b, rtol=1e-12)


def test_a_node_class_without_xp_is_a_clear_error_on_other_backends() -> None:
    torch = pytest.importorskip("torch")

    class Twice(Expr):
        __slots__ = ()

        def __init__(self, x: Any) -> None:
            super().__init__((x,), x.shape, x.dtype)

        def eval_node(self, x: np.ndarray, sizes: Any) -> np.ndarray:
            return 2 * x

    x = tc.var("x", (2,))
    np.testing.assert_array_equal(Twice(x).evaluate(x=np.ones(2)), [2.0, 2.0])
    with pytest.raises(TensorcalcError, match=r"Twice.eval_node takes no xp= keyword"):
        Twice(x).evaluate(x=torch.ones(2))
    with pytest.raises(TensorcalcError, match=r"Twice.eval_node takes no xp= keyword"):
        tc.compile(Twice(x))(x=torch.ones(2))
