"""tensorcalc's derivatives against JAX's automatic differentiation (float64, complex128).

Every expression is written once, as a function of a namespace of primitives, and built twice:
with tensorcalc's symbolic primitives (giving an Expr to differentiate symbolically) and with
jax.numpy (giving a traced function for jax.grad / jax.hessian / jax.jacrev).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Callable

import numpy as np
import pytest

import tensorcalc as tc
from tests.helpers import assert_array, random_einsum_spec

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy
jax_special = pytest.importorskip("jax.scipy.special")

TOL = dict(rtol=1e-9, atol=1e-11)


def _logdet(x: Any) -> Any:
    return jnp.linalg.slogdet(x)[1]


def _norm2(x: Any) -> Any:
    return jnp.sqrt(jnp.sum(x ** 2))


# The same names as jax functions (a namespace, so plain functions are not bound as methods).
JAX = SimpleNamespace(
    einsum=jnp.einsum, exp=jnp.exp, log=jnp.log, log1p=jnp.log1p, sin=jnp.sin, cos=jnp.cos,
    tanh=jnp.tanh, sqrt=jnp.sqrt, sum=jnp.sum, mean=jnp.mean, trace=jnp.trace, stack=jnp.stack,
    det=jnp.linalg.det, inv=jnp.linalg.inv, logdet=_logdet, norm2=_norm2,
    sigmoid=jax.nn.sigmoid, softplus=jax.nn.softplus, softmax=jax.nn.softmax,
    logsumexp=jax_special.logsumexp,
)
TC = tc  # tensorcalc's public functions carry the same names

# name -> (function of (primitives, variables), shapes, variable to differentiate)
Fn = Callable[[Any, dict], Any]
CASES: dict[str, tuple[Fn, dict[str, tuple[int, ...]], str]] = {
    "norm_Ax": (lambda p, v: p.sum(p.einsum("ij,j->i", v["A"], v["x"]) ** 2),
                {"A": (4, 3), "x": (3,)}, "x"),
    "least_squares": (lambda p, v: p.sum((v["A"] @ v["x"] - v["b"]) ** 2),
                      {"A": (5, 3), "x": (3,), "b": (5,)}, "x"),
    "quadratic": (lambda p, v: p.einsum("i,ij,j->", v["x"], v["A"], v["x"]),
                  {"x": (4,), "A": (4, 4)}, "x"),
    "logistic": (lambda p, v: p.sum(p.log(1.0 + p.exp(-v["y"] * (v["X"] @ v["w"])))),
                 {"X": (6, 3), "y": (6,), "w": (3,)}, "w"),
    "logistic_softplus": (lambda p, v: p.sum(p.softplus(-v["y"] * (v["X"] @ v["w"]))),
                          {"X": (6, 3), "y": (6,), "w": (3,)}, "w"),
    "sigmoid_layer_W": (lambda p, v: p.sigmoid(v["W"] @ v["x"] + v["b"]),
                        {"W": (3, 4), "x": (4,), "b": (3,)}, "W"),
    "sigmoid_layer_x": (lambda p, v: p.sigmoid(v["W"] @ v["x"] + v["b"]),
                        {"W": (3, 4), "x": (4,), "b": (3,)}, "x"),
    "mlp_tanh_W": (lambda p, v: p.tanh(v["W"] @ v["x"] + v["b"]),
                   {"W": (3, 5), "x": (5,), "b": (3,)}, "W"),
    "two_layer_loss": (lambda p, v: p.sum(p.tanh(v["V"] @ p.tanh(v["W"] @ v["x"])) ** 2),
                       {"V": (2, 3), "W": (3, 4), "x": (4,)}, "W"),
    "matrix_factorisation": (lambda p, v: p.sum((v["T"] - v["U"] @ v["V"].T) ** 2),
                             {"T": (4, 5), "U": (4, 2), "V": (5, 2)}, "U"),
    "outer_of_maps": (lambda p, v: p.einsum("i,j->ij", v["A"] @ v["x"], v["B"] @ v["x"]),
                      {"A": (2, 3), "B": (4, 3), "x": (3,)}, "x"),
    "det": (lambda p, v: p.det(v["X"]), {"X": (3, 3)}, "X"),
    "logdet": (lambda p, v: p.logdet(v["X"]), {"X": (3, 3)}, "X"),
    "inv": (lambda p, v: p.inv(v["X"]), {"X": (3, 3)}, "X"),
    "trace_AXBXt": (lambda p, v: p.trace(v["A"] @ v["X"] @ v["B"] @ v["X"].T),
                    {"A": (3, 3), "B": (2, 2), "X": (3, 2)}, "X"),
    "norm2": (lambda p, v: p.norm2(v["x"]), {"x": (4,)}, "x"),
    "softmax": (lambda p, v: p.softmax(v["x"]), {"x": (4,)}, "x"),
    "logsumexp": (lambda p, v: p.logsumexp(v["x"]), {"x": (4,)}, "x"),
    "cross_entropy": (lambda p, v: -p.sum(v["t"] * p.log(p.softmax(v["z"]))),
                      {"z": (5,), "t": (5,)}, "z"),
    "components": (lambda p, v: v["x"][0] ** 2 + v["x"][0] * p.log(v["x"][1])
                   + p.exp(v["x"][1] * v["x"][2]) + 2.0 * v["x"][2], {"x": (3,)}, "x"),
    "stacked": (lambda p, v: p.stack([v["x"][0] + v["x"][0] * v["x"][1] + v["x"][0] * v["x"][2],
                                      v["x"][0] ** 2 + 2.0 * v["x"][2]]), {"x": (3,)}, "x"),
    "scalar_x2_logx2": (lambda p, v: v["x"] ** 2 * p.log(v["x"] ** 2), {"x": ()}, "x"),
}

NON_SCALAR = {"sigmoid_layer_W", "sigmoid_layer_x", "mlp_tanh_W", "outer_of_maps", "inv", "softmax",
              "stacked"}


# Values chosen so every function is defined: positive x[1] for the log, invertible X.
def case_values(name: str, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    gen = np.random.default_rng(sum(map(ord, name)))
    values = {k: gen.uniform(-1.0, 1.0, s) for k, s in shapes.items()}
    if "X" in values and values["X"].ndim == 2 and values["X"].shape[0] == values["X"].shape[1]:
        values["X"] = 2.5 * np.eye(values["X"].shape[0]) + 0.4 * values["X"]
    if name in ("components", "stacked"):
        values["x"] = np.array([0.6, 1.4, -0.3])
    if name == "scalar_x2_logx2":
        values["x"] = np.array(0.7)
    if name == "cross_entropy":
        values["t"] = np.exp(values["t"]) / np.exp(values["t"]).sum()
    if "y" in values:
        values["y"] = np.sign(values["y"]) + (values["y"] == 0)
    return values


def build(name: str) -> tuple[Any, Any, Callable[[Any], Any], dict[str, np.ndarray]]:
    fn, shapes, wrt = CASES[name]
    variables = {k: tc.var(k, s) for k, s in shapes.items()}
    values = case_values(name, shapes)
    expr = fn(TC, variables)

    def jax_fn(w: Any) -> Any:
        return fn(JAX, {**{k: jnp.asarray(a) for k, a in values.items()}, wrt: w})

    return expr, variables[wrt], jax_fn, values


@pytest.mark.parametrize("name", sorted(CASES))
def test_value_and_first_derivative_agree_with_jax(name: str) -> None:
    expr, wrt, jax_fn, values = build(name)
    point = jnp.asarray(values[CASES[name][2]])
    reference_value = np.asarray(jax.jit(jax_fn)(point))
    assert_array(expr.evaluate(**values), reference_value, **TOL)
    reference = np.asarray(jax.jit(jax.jacrev(jax_fn))(point))
    assert_array(tc.jacobian(expr, wrt).evaluate(**values), reference, **TOL)
    if reference_value.ndim == 0:
        assert_array(tc.grad(expr, wrt).evaluate(**values), reference, **TOL)


@pytest.mark.parametrize("name", sorted(set(CASES) - NON_SCALAR))
def test_hessian_agrees_with_jax(name: str) -> None:
    expr, wrt, jax_fn, values = build(name)
    point = jnp.asarray(values[CASES[name][2]])
    reference = np.asarray(jax.jit(jax.hessian(jax_fn))(point))
    H = tc.hessian(expr, wrt).evaluate(**values)
    assert_array(H, reference, shape=point.shape + point.shape, **TOL)


@pytest.mark.parametrize("name", ["sigmoid_layer_x", "softmax", "mlp_tanh_W"])
def test_jacobian_denominator_layout_agrees_with_jax(name: str) -> None:
    expr, wrt, jax_fn, values = build(name)
    point = jnp.asarray(values[CASES[name][2]])
    reference = np.asarray(jax.jit(jax.jacrev(jax_fn))(point))
    out_ndim = reference.ndim - point.ndim
    moved = np.moveaxis(reference, list(range(out_ndim)), list(range(point.ndim, reference.ndim)))
    assert_array(tc.jacobian(expr, wrt, layout="denominator").evaluate(**values), moved, **TOL)


@pytest.mark.parametrize("seed", range(15))
def test_hessian_through_random_einsum_agrees_with_jax(seed: int) -> None:
    """Second order through einsums with repeated labels, one-operand labels and '...':
    the Jacobian seed (an extended 'i->ii' identity) meets every kind of label."""
    gen = np.random.default_rng(2000 + seed)
    spec, shapes = random_einsum_spec(gen, max_operands=2)
    while len(shapes) < 2 or not 4 <= int(np.prod(shapes[0])) <= 16:  # two operands, a real Hessian
        spec, shapes = random_einsum_spec(gen, max_operands=2)
    operands = [gen.uniform(-1.0, 1.0, s) for s in shapes]
    names = [f"T{k}" for k in range(len(shapes))]
    tensors = [tc.var(n, s) for n, s in zip(names, shapes)]
    values = dict(zip(names, operands))
    f = tc.sum(tc.sin(tc.einsum(spec, *tensors)))

    def jax_fn(first: Any) -> Any:
        return jnp.sum(jnp.sin(jnp.einsum(spec, first, *map(jnp.asarray, operands[1:]))))

    point = jnp.asarray(operands[0])
    reference = np.asarray(jax.jit(jax.hessian(jax_fn))(point))
    H = tc.hessian(f, tensors[0]).evaluate(**values)
    assert_array(H, reference, shape=shapes[0] + shapes[0], **TOL)


# --------------------------------------------------------------------------------------------
# Complex inputs: JAX's convention (no conjugation; holomorphic derivatives)
# --------------------------------------------------------------------------------------------

def _complex(shape: tuple[int, ...], gen: np.random.Generator) -> np.ndarray:
    return gen.standard_normal(shape) + 1j * gen.standard_normal(shape)


def test_complex_symbolic_gradient_and_hessian_agree_with_jax_holomorphic() -> None:
    gen = np.random.default_rng(13)
    z0 = _complex((3,), gen)
    S0 = _complex((3, 3), gen) + 3 * np.eye(3)
    z, S = tc.var("z", (3,)), tc.var("S", (3, 3))
    f = (tc.sum(tc.exp(z) * tc.sin(z) * z) + z @ (tc.inv(S) @ z) + tc.det(S)
         + tc.sum(tc.tanh(z) ** 3 + z ** -1.5 + tc.sigmoid(z) + tc.softplus(z)) + tc.logsumexp(z))

    def ref(zv: Any, Sv: Any) -> Any:
        return (jnp.sum(jnp.exp(zv) * jnp.sin(zv) * zv) + zv @ (jnp.linalg.inv(Sv) @ zv)
                + jnp.linalg.det(Sv) + jnp.sum(jnp.tanh(zv) ** 3 + zv ** -1.5
                                               + jax.nn.sigmoid(zv) + jnp.log1p(jnp.exp(zv)))
                + jax.scipy.special.logsumexp(zv))

    value = f.evaluate(z=z0, S=S0)
    assert value.dtype == np.complex128
    np.testing.assert_allclose(value, np.asarray(ref(z0, S0)), rtol=1e-12)
    for name, k in (("z", 0), ("S", 1)):
        got = tc.grad(f, name).evaluate(z=z0, S=S0)
        want = np.asarray(jax.grad(ref, argnums=k, holomorphic=True)(z0, S0))
        assert got.dtype == np.complex128
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    H = tc.hessian(f, z).evaluate(z=z0, S=S0)
    want = np.asarray(jax.hessian(ref, argnums=0, holomorphic=True)(z0, S0))
    np.testing.assert_allclose(H, want, rtol=1e-10, atol=1e-10)
