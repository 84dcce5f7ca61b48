"""to_source under the compilers and its contract: the JAX function runs under ``jax.jit``
without retracing for fixed shapes, the torch function under
``torch.compile(fullgraph=True)`` without a graph break (the fast ``"eager"`` compiler
backend: dynamo's tracing is what is tested), torch keeps the inputs' device, the array-API
function calls nothing outside the standard, and a bad backend name is a TensorcalcError
naming the valid ones."""

from __future__ import annotations

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc.backends import BACKENDS
from tests.display.test_to_source import SEED_CASES, load
from tests.helpers import rearranged_example, reduced_example

SHAPES = {"X": (7, 3), "w": (3,), "y": (7,), "v": (3,), "W": (4, 3), "Y": (7, 4), "A": (5, 3),
          "x": (3,), "S": (3, 3), "u": (5,), "T": (2, 3, 4)}

COMPILED = {
    "logistic-hessian": lambda: SEED_CASES["logistic-hessian"](),
    "logistic-hvp": lambda: SEED_CASES["logistic-hvp"](),
    "softmax-xent-grad": lambda: SEED_CASES["softmax-xent-grad"](),
    "logdet-grad": lambda: SEED_CASES["logdet-grad"](),
    "slice-grad": lambda: SEED_CASES["slice-grad"](),            # writes into zeros (.at[].set)
    "identity-jacobian": lambda: SEED_CASES["identity-jacobian"](),  # a diagonal from numbers
    "reduce-prod-grad": lambda: tc.grad(tc.sum(reduced_example("prod")), "T"),
    "rearrange": lambda: rearranged_example(),
}


def arrays_for(expr: tc.Expr, seed: int, dtype=np.float64) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for v in tc.ir.variables(expr):
        a = rng.normal(size=SHAPES[v.name])
        if v.name == "S":
            a = a @ a.T + 3 * np.eye(3)
        out[v.name] = a.astype(dtype)
    return out


@pytest.mark.parametrize("name", sorted(COMPILED))
def test_jax_function_is_traced_once_for_fixed_shapes(name: str) -> None:
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    expr = COMPILED[name]()
    f = load(tc.to_source(expr, backend="jax"))
    traces = []

    def counted(*args):
        traces.append(1)  # runs only while jax traces
        return f(*args)

    jitted = jax.jit(counted)
    for seed, dtype in [(0, np.float32), (1, np.float32), (2, np.float32)]:
        arrays = arrays_for(expr, seed, dtype)
        got = jitted(*[jnp.asarray(a) for a in arrays.values()])
        expected = tc.evaluate(expr, arrays)
        assert got.dtype == expected.dtype == np.float32
        np.testing.assert_allclose(np.asarray(got), expected, rtol=2e-4, atol=2e-4)
    assert len(traces) == 1 and jitted._cache_size() == 1
    # a new dtype is a new trace (the counter does count), and float64 stays float64
    arrays = arrays_for(expr, 3, np.float64)
    got = jitted(*[jnp.asarray(a) for a in arrays.values()])
    assert len(traces) == 2 and got.dtype == np.float64
    np.testing.assert_allclose(np.asarray(got), tc.evaluate(expr, arrays), rtol=1e-9, atol=1e-10)


# array_api_compat's namespace lookup is lru_cached; dynamo traces through it (and says so)
@pytest.mark.filterwarnings("ignore:Dynamo detected a call to a `functools.lru_cache`")
@pytest.mark.parametrize("name", sorted(COMPILED))
def test_torch_function_compiles_as_one_graph(name: str) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("array_api_compat")
    import torch._dynamo

    expr = COMPILED[name]()
    f = load(tc.to_source(expr, backend="torch"))
    torch._dynamo.reset()
    arrays = arrays_for(expr, 0, np.float32)
    explained = torch._dynamo.explain(f)(*[torch.from_numpy(a) for a in arrays.values()])
    assert explained.graph_break_count == 0 and explained.graph_count == 1, explained.break_reasons
    compiled = torch.compile(f, fullgraph=True, backend="eager")  # raises on a graph break
    for seed in (1, 2):
        arrays = arrays_for(expr, seed, np.float32)
        got = compiled(*[torch.from_numpy(a) for a in arrays.values()])
        assert got.dtype == torch.float32
        np.testing.assert_allclose(got.numpy(), tc.evaluate(expr, arrays), rtol=2e-4, atol=2e-4)


def test_torch_function_keeps_the_inputs_device() -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("array_api_compat")
    # every array the source creates (zeros, eye masks, constants) is made on the inputs'
    # device: on "meta" tensors a single CPU-made array would raise
    expr = (SEED_CASES["slice-grad"]() + 1.0, SEED_CASES["identity-jacobian"](),
            tc.stack([tc.var("x", (3,))[0], 2.0]) * tc.ir.as_expr(np.array([1.0, 2.0])))
    for e in expr:
        f = load(tc.to_source(e, backend="torch"))
        args = [torch.empty(SHAPES[v.name], device="meta") for v in tc.ir.variables(e)]
        assert f(*args).device.type == "meta"
    if torch.cuda.is_available():
        x = torch.ones(3, device="cuda")
        assert load(tc.to_source(SEED_CASES["identity-jacobian"](), backend="torch"))(x).is_cuda


def test_array_api_source_uses_the_inputs_namespace_only() -> None:
    xps = pytest.importorskip("array_api_strict")
    expr = SEED_CASES["logistic-hessian"]()
    source = tc.to_source(expr, backend="array_api")
    assert "import" not in source and "einsum" not in source and "np." not in source
    assert "xp = X.__array_namespace__()" in source
    arrays = arrays_for(expr, 0)
    expected = tc.evaluate(expr, arrays)
    f = load(source)
    got = f(*[xps.asarray(a) for a in arrays.values()])
    assert type(got) is type(xps.asarray(1.0))
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-10)
    # numpy 2 follows the standard too: the same source runs on plain arrays
    np.testing.assert_allclose(f(*arrays.values()), expected, rtol=1e-10)


def test_array_api_lowers_every_einsum_step() -> None:
    A, B, C = tc.var("A", (2, 3, 3)), tc.var("B", (3, 4, 2)), tc.var("C", (4, 4))
    expr = tc.einsum("aij,jkb,kk->iab", A, B, C)  # a diagonal, a batch label, a contraction
    source = tc.to_source(expr, backend="array_api")
    assert "einsum" not in source and "@" in source and "permute_dims" in source
    rng = np.random.default_rng(0)
    arrays = {n: rng.normal(size=v.shape) for n, v in (("A", A), ("B", B), ("C", C))}
    np.testing.assert_allclose(load(source)(*arrays.values()),
                               np.einsum("aij,jkb,kk->iab", *arrays.values()), rtol=1e-12)


def test_to_numpy_is_to_source_for_numpy() -> None:
    for make in list(SEED_CASES.values())[:6]:
        expr = make()
        assert tc.to_numpy(expr) == tc.to_source(expr) == tc.to_source(expr, backend="numpy")


def test_each_backend_has_its_imports_and_namespace() -> None:
    expr = tc.exp(tc.var("x", (3,)))
    assert tc.to_source(expr, backend="torch").startswith(
        "import torch\nimport array_api_compat.torch as xp\n\n\ndef f(x):\n    return xp.exp(x)")
    assert "return jnp.exp(x)" in tc.to_source(expr, backend="jax")
    assert "return np.exp(x)" in tc.to_source(expr, backend="numpy")
    assert {n for n, b in BACKENDS.items() if b.source} == {"numpy", "torch", "jax", "array_api"}


@pytest.mark.parametrize("bad", ["cupy", "dask", "Torch", "", None, 3])
def test_a_bad_backend_names_the_valid_ones(bad) -> None:
    with pytest.raises(tc.TensorcalcError) as err:
        tc.to_source(tc.var("x", (3,)), backend=bad)
    assert repr(bad) in str(err.value)
    for name in ("numpy", "torch", "jax", "array_api"):
        assert repr(name) in str(err.value)


@pytest.mark.parametrize("bad", ["Torch", "cupy:0"])
def test_an_unknown_backend_has_one_message_everywhere(bad) -> None:
    # to_source, evaluate and compile name an unknown backend with the table's one message
    x = tc.var("x", (3,))
    messages = set()
    for call in (lambda: tc.to_source(x, backend=bad), lambda: tc.evaluate(x, x=np.ones(3), backend=bad),
                 lambda: tc.compile(x, backend=bad)):
        with pytest.raises(tc.TensorcalcError) as err:
            call()
        messages.add(str(err.value))
    assert messages == {f"unknown backend {bad!r}; use one of {sorted(BACKENDS)}"}


def test_numbers_stay_weak_in_float32() -> None:
    # a broadcast number, a diagonal of numbers and an array constant: float32 throughout
    x = tc.var("x", (3,))
    expr = tc.jacobian(2.0 * x, x) + (x + 1.0) * tc.ir.as_expr(np.array([1.0, 2.0, 3.0]))
    for backend in ("torch", "jax", "array_api"):
        source = tc.to_source(expr, backend=backend)
        assert "float64" not in source
    ns_source = tc.to_source(expr, backend="jax")
    jnp = pytest.importorskip("jax.numpy")
    got = load(ns_source)(jnp.ones(3, dtype=jnp.float32))
    assert got.dtype == jnp.float32


def test_the_command_line_prints_each_backend(capsys) -> None:
    from tensorcalc.cli import main

    for backend, marker in [("torch", "import array_api_compat.torch as xp"),
                            ("jax", "import jax.numpy as jnp"), ("array_api", "xp = A.__array_namespace__()")]:
        assert main(["diff", "sum((A[i,j] x[j] - b[i])^2)", "--wrt", "x", "--backend", backend]) == 0
        out = capsys.readouterr().out
        assert marker in out and "def f(A, b, x):" in out
    assert main(["diff", "sum(x[i]^2)", "--wrt", "x", "--backend", "numpy"]) == 0
    by_backend = capsys.readouterr().out
    assert main(["diff", "sum(x[i]^2)", "--wrt", "x", "--numpy"]) == 0
    assert capsys.readouterr().out == by_backend
