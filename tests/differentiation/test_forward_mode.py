"""Forward mode: every JVP rule, ``jvp``, ``jacfwd``/``jacrev``/``jacobian(mode=...)`` and
``hvp`` forward over reverse.

Each rule case is an expression written twice, with tensorcalc and with jax.numpy (einops on
jax arrays for the einops nodes). Its JVP is checked against ``jax.jvp`` (float64, 1e-10
relative) and against central differences (``tensorcalc.testing.check_jvp``); its Jacobian by
forward mode (tangents with leading axes: every rule batched) against reverse mode and
``jax.jacfwd``; the Hessian-vector product of a scalar made from it, forward over reverse,
against reverse over reverse and ``jax.jvp(jax.grad(f))``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc.differentiation import defvjp, jvp_rule, vjp_rule
from tensorcalc.differentiation.forward import jacobian_mode, pushforward
from tensorcalc.einops_ext import nodes as einops_nodes
from tensorcalc.errors import TensorcalcError
from tensorcalc.ir import Einsum, Expr, Var, WithDims, walk
from tensorcalc.ops import ELEMENTWISE, IndexAdjoint
from tensorcalc.simplify.cost import expr_cost
from tensorcalc.testing import check_jvp

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy
jax_special = pytest.importorskip("jax.scipy.special")
einops = pytest.importorskip("einops")

RTOL = 1e-10


def assert_close(actual: Any, expected: Any, rtol: float = RTOL) -> None:
    """Equal to ``rtol`` relative to the largest entry of ``expected`` (entries near zero are
    compared at that scale)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


# ----------------------------------------------------------------------------- the cases


@dataclass
class Case:
    """``tc_fn`` and ``jax_fn`` compute the same function of the variables (``shapes``; a name
    in a shape is a named dimension, bound by ``sizes``); ``wrt`` is differentiated."""

    tc_fn: Callable[[dict], Expr]
    jax_fn: Callable[[dict], Any]
    shapes: dict[str, tuple]
    wrt: str = "x"
    positive: bool = False         # values in [0.5, 2) (log, sqrt, prod's divisions)
    sizes: dict[str, int] = field(default_factory=dict)

    def variables(self) -> dict[str, Var]:
        return {k: tc.var(k, s) for k, s in self.shapes.items()}

    def values(self, seed: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        out = {}
        for k, s in self.shapes.items():
            shape = tuple(self.sizes.get(d, d) for d in s)
            a = rng.uniform(0.5, 2.0, shape) if self.positive else rng.uniform(-1.0, 1.0, shape)
            if k == "X" and len(shape) >= 2 and shape[-1] == shape[-2]:  # well conditioned
                a = 2.5 * np.eye(shape[-1]) + 0.4 * a
            out[k] = a
        return out

    def jax_of_wrt(self, values: Mapping[str, np.ndarray]) -> Callable[[Any], Any]:
        fixed = {k: jnp.asarray(a) for k, a in values.items()}
        return lambda w: self.jax_fn({**fixed, self.wrt: w})


def _jax_softmax(x: Any, axis: Any) -> Any:
    return jax.nn.softmax(x, axis=axis)


def _jax_norm2(x: Any) -> Any:
    return jnp.sqrt(jnp.sum(x * x))


def _jax_index_adjoint(g: Any, index: tuple, shape: tuple) -> Any:
    return jnp.zeros(shape, g.dtype).at[index].set(g)


def _tc_grad_of(build: Callable[[dict], Expr], wrt: str) -> Callable[[dict], Expr]:
    return lambda v: tc.grad(build(v), v[wrt])


def _jax_grad_of(fn: Callable[[dict], Any], wrt: str) -> Callable[[dict], Any]:
    return lambda a: jax.grad(lambda w: fn({**a, wrt: w}))(a[wrt])


_MAX_LOSS = (lambda v: tc.sum(tc.reduce(v["X"], "a b c -> a c", "max") ** 2),
             lambda a: jnp.sum(einops.reduce(a["X"], "a b c -> a c", "max") ** 2))
_PROD_LOSS = (lambda v: tc.sum(tc.reduce(v["X"], "a b c -> b", "prod")),
              lambda a: jnp.sum(einops.reduce(a["X"], "a b c -> b", "prod")))

CASES: dict[str, Case] = {
    # Einsum: products (one operand twice), traces, broadcasts, scale and factor_dims
    "matvec_x": Case(lambda v: v["A"] @ v["x"], lambda a: a["A"] @ a["x"],
                     {"A": (4, 3), "x": (3,)}),
    "matvec_A": Case(lambda v: v["A"] @ v["x"], lambda a: a["A"] @ a["x"],
                     {"A": (4, 3), "x": (3,)}, wrt="A"),
    "quadratic_form": Case(lambda v: tc.einsum("i,ij,j->", v["x"], v["A"], v["x"]),
                           lambda a: jnp.einsum("i,ij,j->", a["x"], a["A"], a["x"]),
                           {"A": (3, 3), "x": (3,)}),
    "matrix_chain": Case(lambda v: v["X"] @ v["A"] @ v["X"].T * 3.0,
                         lambda a: a["X"] @ a["A"] @ a["X"].T * 3.0,
                         {"X": (3, 2), "A": (2, 2)}, wrt="X"),
    "trace_and_diag": Case(lambda v: tc.trace(v["X"] @ v["X"]) * tc.diag(v["X"]),
                           lambda a: jnp.trace(a["X"] @ a["X"]) * jnp.diag(a["X"]),
                           {"X": (3, 3)}, wrt="X"),
    "outer_broadcast": Case(lambda v: v["x"][:, None] * v["y"][None, :] + v["x"][:, None],
                            lambda a: a["x"][:, None] * a["y"][None, :] + a["x"][:, None],
                            {"x": (3,), "y": (2,)}),
    "mean_named_dim": Case(lambda v: tc.mean(v["x"] * v["x"]), lambda a: jnp.mean(a["x"] * a["x"]),
                           {"x": ("n",)}, sizes={"n": 4}),
    # Add
    "linear_combination": Case(lambda v: 2.0 * v["x"] - 3.0 * tc.exp(v["x"]) + 1.0,
                               lambda a: 2.0 * a["x"] - 3.0 * jnp.exp(a["x"]) + 1.0, {"x": (3,)}),
    # Func: pow (the other rows: test_elementwise_rows_match_jax)
    "pow_3": Case(lambda v: v["x"] ** 3, lambda a: a["x"] ** 3, {"x": (4,)}),
    "pow_fraction": Case(lambda v: v["x"] ** -1.5, lambda a: a["x"] ** -1.5, {"x": (4,)},
                         positive=True),
    "elementwise_chain": Case(lambda v: tc.tanh(tc.sin(v["x"]) * tc.sigmoid(v["x"])) / v["x"],
                              lambda a: jnp.tanh(jnp.sin(a["x"]) * jax.nn.sigmoid(a["x"])) / a["x"],
                              {"x": (4,)}, positive=True),
    # PowArray
    "pow_array": Case(lambda v: v["x"] ** np.array([0.5, 2.0, 3.0]),
                      lambda a: a["x"] ** jnp.array([0.5, 2.0, 3.0]), {"x": (3,)}, positive=True),
    # MatFunc, plain and batched
    "inv": Case(lambda v: tc.inv(v["X"]), lambda a: jnp.linalg.inv(a["X"]), {"X": (3, 3)}, wrt="X"),
    "det": Case(lambda v: tc.det(v["X"]), lambda a: jnp.linalg.det(a["X"]), {"X": (3, 3)}, wrt="X"),
    "logdet": Case(lambda v: tc.logdet(v["X"]), lambda a: jnp.linalg.slogdet(a["X"])[1],
                   {"X": (3, 3)}, wrt="X"),
    "inv_batched": Case(lambda v: tc.inv(v["X"]), lambda a: jnp.linalg.inv(a["X"]),
                        {"X": (2, 3, 3)}, wrt="X"),
    "det_logdet_batched": Case(lambda v: tc.det(v["X"]) * tc.logdet(v["X"]),
                               lambda a: jnp.linalg.det(a["X"]) * jnp.linalg.slogdet(a["X"])[1],
                               {"X": (2, 3, 3)}, wrt="X"),
    # AxisFunc (LogSumExp is one)
    "softmax_rows": Case(lambda v: tc.softmax(v["A"] @ v["x"]), lambda a: _jax_softmax(a["A"] @ a["x"], -1),
                         {"A": (4, 3), "x": (3,)}),
    "softmax_axis0": Case(lambda v: tc.softmax(v["X"], axis=0), lambda a: _jax_softmax(a["X"], 0),
                          {"X": (3, 2)}, wrt="X"),
    "log_softmax": Case(lambda v: tc.log_softmax(v["X"], axis=1),
                        lambda a: jax.nn.log_softmax(a["X"], axis=1), {"X": (2, 3)}, wrt="X"),
    "logsumexp_all": Case(lambda v: tc.logsumexp(v["X"]), lambda a: jax_special.logsumexp(a["X"]),
                          {"X": (2, 3)}, wrt="X"),
    "logsumexp_axis": Case(lambda v: tc.logsumexp(v["X"], axis=0),
                           lambda a: jax_special.logsumexp(a["X"], axis=0), {"X": (2, 3)}, wrt="X"),
    "norm2": Case(lambda v: tc.norm2(v["X"]), lambda a: _jax_norm2(a["X"]), {"X": (2, 3)}, wrt="X"),
    "normalize": Case(lambda v: tc.normalize(v["x"]), lambda a: a["x"] / _jax_norm2(a["x"]),
                      {"x": (4,)}),
    # Index, IndexAdjoint, Stack, WithDims
    "index": Case(lambda v: v["X"][0, 1:] * v["X"][:2, ::2].T[1] + v["X"][None, 1, :2],
                  lambda a: a["X"][0, 1:] * a["X"][:2, ::2].T[1] + a["X"][None, 1, :2],
                  {"X": (3, 3)}, wrt="X"),
    "index_adjoint": Case(lambda v: IndexAdjoint(v["x"] * v["x"], (slice(1, 4),), (5,)),
                          lambda a: _jax_index_adjoint(a["x"] * a["x"], (slice(1, 4),), (5,)),
                          {"x": (3,)}),
    "stack": Case(lambda v: tc.stack([v["x"][0] * v["x"][1], tc.sin(v["x"][2]), v["x"][0]]),
                  lambda a: jnp.stack([a["x"][0] * a["x"][1], jnp.sin(a["x"][2]), a["x"][0]]),
                  {"x": (3,)}),
    "stack_axis1": Case(lambda v: tc.stack([v["x"] * v["y"], v["y"]], axis=1),
                        lambda a: jnp.stack([a["x"] * a["y"], a["y"]], axis=1),
                        {"x": (3,), "y": (3,)}),
    "with_dims": Case(lambda v: WithDims(tc.exp(v["x"]), [v["y"]]), lambda a: jnp.exp(a["x"]),
                      {"x": (3,), "y": (2,)}),
    # einops nodes: Reshape, ReduceExtremum, ReduceProd; ExtremumMask and ProdExcept are in
    # the gradients (the JVP of a gradient)
    "rearrange": Case(lambda v: tc.rearrange(v["X"] ** 2, "a b c -> (a c) b"),
                      lambda a: einops.rearrange(a["X"] ** 2, "a b c -> (a c) b"),
                      {"X": (2, 3, 4)}, wrt="X"),
    "reduce_max": Case(lambda v: tc.reduce(v["X"], "a b c -> a c", "max"),
                       lambda a: einops.reduce(a["X"], "a b c -> a c", "max"), {"X": (2, 3, 4)}, wrt="X"),
    "reduce_min": Case(lambda v: tc.reduce(v["X"] * v["X"], "a b c -> b", "min"),
                       lambda a: einops.reduce(a["X"] * a["X"], "a b c -> b", "min"),
                       {"X": (2, 3, 4)}, wrt="X"),
    "reduce_prod": Case(lambda v: tc.reduce(v["X"], "a b c -> b", "prod"),
                        lambda a: einops.reduce(a["X"], "a b c -> b", "prod"), {"X": (2, 3, 4)},
                        wrt="X", positive=True),
    "grad_of_max": Case(_tc_grad_of(_MAX_LOSS[0], "X"), _jax_grad_of(_MAX_LOSS[1], "X"),
                        {"X": (2, 3, 4)}, wrt="X"),
    "grad_of_prod": Case(_tc_grad_of(_PROD_LOSS[0], "X"), _jax_grad_of(_PROD_LOSS[1], "X"),
                         {"X": (2, 3, 2)}, wrt="X", positive=True),
    # compositions
    "mlp": Case(lambda v: tc.tanh(v["V"] @ tc.tanh(v["W"] @ v["x"] + 1.0)),
                lambda a: jnp.tanh(a["V"] @ jnp.tanh(a["W"] @ a["x"] + 1.0)),
                {"V": (2, 3), "W": (3, 4), "x": (4,)}, wrt="W"),
    "cross_entropy": Case(lambda v: -tc.sum(v["t"] * tc.log(tc.softmax(v["z"]))),
                          lambda a: -jnp.sum(a["t"] * jnp.log(jax.nn.softmax(a["z"]))),
                          {"z": (5,), "t": (5,)}, wrt="z"),
}
NAMES = sorted(CASES)

JAX_ELEMENTWISE = {
    "exp": jnp.exp, "log": jnp.log, "log1p": jnp.log1p, "sin": jnp.sin, "cos": jnp.cos,
    "tan": jnp.tan, "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu,
    "softplus": jax.nn.softplus, "sqrt": jnp.sqrt, "abs": jnp.abs, "sign": jnp.sign,
    "heaviside": lambda x: jnp.heaviside(x, 0.0),
}
POSITIVE_ROWS = {"log", "sqrt", "log1p"}


def _prepare(case: Case, seed: int = 0):
    vs = case.variables()
    f = case.tc_fn(vs)
    values = case.values(seed)
    x0 = values[case.wrt]
    v0 = np.random.default_rng(seed + 1).standard_normal(x0.shape)
    return vs, f, values, x0, v0


# ----------------------------------------------------------------------------- JVP rules


@pytest.mark.parametrize("name", NAMES)
def test_jvp_matches_jax(name: str) -> None:
    case = CASES[name]
    vs, f, values, x0, v0 = _prepare(case)
    tangent = tc.evaluate(tc.jvp(f, vs[case.wrt], v0), values)
    _, expected = jax.jvp(case.jax_of_wrt(values), (jnp.asarray(x0),), (jnp.asarray(v0),))
    assert_close(tangent, expected)


@pytest.mark.parametrize("name", NAMES)
def test_jvp_matches_finite_differences(name: str) -> None:
    case = CASES[name]
    vs, f, values, _, _ = _prepare(case, seed=3)
    scale = max(1.0, float(np.max(np.abs(tc.evaluate(f, values)), initial=0.0)))
    assert check_jvp(f, vs[case.wrt], values) < 1e-6 * scale


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_rows_match_jax_and_finite_differences(name: str) -> None:
    if name not in JAX_ELEMENTWISE:
        pytest.skip(f"no JAX counterpart listed for the row {name!r}")
    x = tc.var("x", (5,))
    rng = np.random.default_rng(7)
    x0 = rng.uniform(0.3, 1.5, 5) if name in POSITIVE_ROWS else rng.uniform(-1.4, 1.4, 5)
    x0[np.abs(x0) < 0.1] = 0.5  # away from the kinks of abs, relu, sign, heaviside
    v0 = rng.standard_normal(5)
    f = getattr(tc, name)(x)
    _, expected = jax.jvp(JAX_ELEMENTWISE[name], (jnp.asarray(x0),), (jnp.asarray(v0),))
    assert_close(tc.evaluate(tc.jvp(f, x, v0), x=x0), expected)
    assert check_jvp(f, x, x=x0) < 1e-6
    # batched tangents (the rule under leading axes) and the second derivative
    assert_close(tc.evaluate(tc.jacfwd(f, x), x=x0), jax.jacfwd(JAX_ELEMENTWISE[name])(jnp.asarray(x0)))
    assert_close(tc.evaluate(tc.jvp(tc.grad(tc.sum(f), x), x, v0), x=x0),
                 jax.jvp(jax.grad(lambda w: jnp.sum(JAX_ELEMENTWISE[name](w))),
                         (jnp.asarray(x0),), (jnp.asarray(v0),))[1])


def _node_types(e: Expr) -> set[type]:
    return {type(n) for n in walk(e)}


def test_the_cases_reach_every_rule_of_the_package() -> None:
    seen: set[type] = set()
    for case in CASES.values():
        seen |= _node_types(case.tc_fn(case.variables()))
    seen |= {type(tc.exp(tc.var("x", (2,))))}  # Func (every row: the test above)
    registered = {cls for cls in vjp_rule.registry if cls is not object
                  and cls.__module__.startswith("tensorcalc.")}
    assert registered - seen == set()
    for cls in registered:  # every node type of the package has a JVP rule
        assert jvp_rule.lookup(cls) is not None, cls.__name__
    assert {einops_nodes.ExtremumMask, einops_nodes.ProdExcept} <= seen


def test_a_node_without_a_jvp_rule_is_a_clear_error() -> None:
    class Twice(Expr):
        __slots__ = ()

        def __init__(self, x: Expr) -> None:
            super().__init__((x,), x.shape, x.dtype)

        def eval_node(self, x: np.ndarray, *, sizes: Any) -> np.ndarray:
            return 2 * x

    @defvjp(Twice)
    def _(node: Twice, g: Expr) -> list[Expr]:
        return [2.0 * g]

    x = tc.var("x", (2,))
    f = tc.sum(Twice(x) * x)
    np.testing.assert_allclose(tc.evaluate(tc.grad(f, x), x=np.ones(2)), [4.0, 4.0])
    for attempt in (lambda: tc.jvp(f, x, np.ones(2)), lambda: tc.jacfwd(Twice(x), x),
                    lambda: tc.jacobian(Twice(x), x, mode="forward"),
                    lambda: tc.hvp(f, x, np.ones(2), mode="forward")):
        with pytest.raises(TensorcalcError, match="no forward-mode \\(JVP\\) rule for Twice nodes"):
            attempt()
    # reverse mode and the automatic choice (reverse here: 2 inputs, 2 outputs) still work
    np.testing.assert_allclose(tc.evaluate(tc.jacobian(Twice(x), x), x=np.ones(2)), 2 * np.eye(2))
    np.testing.assert_allclose(tc.evaluate(tc.hvp(f, x, np.ones(2), mode="reverse"), x=np.ones(2)),
                               [4.0, 4.0])


# ----------------------------------------------------------------------------- jvp


def test_jvp_of_an_unused_variable() -> None:
    x, y = tc.var("x", (2,)), tc.var("y", (3,))
    with pytest.raises(TensorcalcError, match="does not contain the variable 'y'"):
        tc.jvp(tc.exp(x), y, np.ones(3))
    out = tc.jvp(tc.exp(x), y, np.ones(3), allow_unused=True)
    np.testing.assert_array_equal(tc.evaluate(out, x=np.ones(2)), np.zeros(2))


def test_jvp_direction_shape_is_checked() -> None:
    x = tc.var("x", (2,))
    with pytest.raises(TensorcalcError, match="jvp: v has shape"):
        tc.jvp(tc.exp(x), x, np.ones(3))


def test_jvp_by_name_with_a_symbolic_direction_and_named_dims() -> None:
    x, A = tc.var("x", ("n",)), tc.var("A", ("m", "n"))
    v = tc.var("v", ("n",))
    f = tc.softmax(A @ tc.tanh(x))
    t = tc.jvp(f, "x", v)
    assert t.shape == ("m",)
    rng = np.random.default_rng(2)
    a0, x0, v0 = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal(3)
    _, expected = jax.jvp(lambda w: jax.nn.softmax(a0 @ jnp.tanh(w)), (x0,), (v0,))
    assert_close(tc.evaluate(t, A=a0, x=x0, v=v0), expected)


def test_jvp_of_a_symmetric_variable_uses_the_symmetrized_direction() -> None:
    S = tc.var("S", (3, 3), symmetric=True)
    f = tc.sum(tc.inv(S) * tc.inv(S)) + tc.einsum("ij,jk,k->", S, S, np.arange(3.0))
    rng = np.random.default_rng(4)
    s0 = rng.standard_normal((3, 3))
    s0 = s0 + s0.T + 6 * np.eye(3)
    v0 = rng.standard_normal((3, 3))  # not symmetric: its symmetric part is the direction
    value = float(tc.evaluate(tc.jvp(f, S, v0), S=s0))
    expected = float(np.sum(tc.evaluate(tc.grad(f, S), S=s0) * v0))
    assert value == pytest.approx(expected, rel=1e-12)
    assert check_jvp(f, S, S=s0) < 1e-6


def test_pushforward_carries_leading_axes() -> None:
    x = tc.var("x", (3,))
    seed = tc.var("V", (2, 4, 3))  # a 2x4 batch of directions
    t = pushforward(tc.softmax(x) * tc.logsumexp(x), x, seed)
    assert t.shape == (2, 4, 3)
    rng = np.random.default_rng(5)
    x0, V0 = rng.standard_normal(3), rng.standard_normal((2, 4, 3))
    fn = lambda w: jax.nn.softmax(w) * jax_special.logsumexp(w)  # noqa: E731
    expected = np.stack([[jax.jvp(fn, (x0,), (V0[i, j],))[1] for j in range(4)] for i in range(2)])
    assert_close(tc.evaluate(t, x=x0, V=V0), expected)


# ----------------------------------------------------------------------------- Jacobians


@pytest.mark.parametrize("name", NAMES)
def test_jacfwd_equals_jacrev_and_jax(name: str) -> None:
    case = CASES[name]
    vs, f, values, x0, _ = _prepare(case, seed=11)
    x = vs[case.wrt]
    forward = tc.evaluate(tc.jacfwd(f, x), values)
    reverse = tc.evaluate(tc.jacrev(f, x), values)
    expected = jax.jacfwd(case.jax_of_wrt(values))(jnp.asarray(x0))
    assert forward.shape == tuple(np.shape(tc.evaluate(f, values))) + x0.shape
    assert_close(forward, expected)
    assert_close(reverse, expected)
    assert_close(forward, reverse)


@pytest.mark.parametrize("layout", ["jax", "numerator", "denominator"])
@pytest.mark.parametrize("name", ["matrix_chain", "inv", "softmax_axis0", "rearrange"])
def test_jacobian_modes_agree_in_every_layout(name: str, layout: str) -> None:
    case = CASES[name]
    vs, f, values, _, _ = _prepare(case, seed=12)
    results = [tc.evaluate(tc.jacobian(f, vs[case.wrt], layout=layout, mode=mode), values)
               for mode in ("forward", "reverse", "auto")]
    assert_close(results[0], results[1])
    assert_close(results[2], results[1])


def test_auto_mode_picks_forward_for_fewer_inputs_than_outputs() -> None:
    x, X, n = tc.var("x", (2,)), tc.var("X", (3, 3)), tc.var("z", ("n",))
    assert jacobian_mode("auto", tc.einsum("i,j,k->ijk", x, x, x), x) == "forward"
    assert jacobian_mode("auto", tc.sum(x) * x, x) == "reverse"  # a tie: reverse
    assert jacobian_mode("auto", tc.det(X), X) == "reverse"
    assert jacobian_mode("auto", tc.einsum("i,j->ij", n, n), n) == "reverse"  # named: reverse
    assert jacobian_mode("forward", tc.det(X), X) == "forward"
    with pytest.raises(TensorcalcError, match="mode must be one of"):
        tc.jacobian(tc.det(X), X, mode="sideways")
    with pytest.raises(TensorcalcError, match="mode must be one of"):
        tc.hvp(tc.det(X), X, np.eye(3), mode="sideways")


def test_auto_jacobian_is_the_forward_one_when_x_is_smaller() -> None:
    x = tc.var("x", (2,))
    y = tc.einsum("i,j,k->ijk", tc.sin(x), x, tc.exp(x))
    assert tc.jacobian(y, x).uid == tc.jacobian(y, x, mode="forward").uid
    assert tc.jacobian(y, x).uid == tc.jacfwd(y, x).uid


def test_jacfwd_with_named_dims() -> None:
    A, x = tc.var("A", ("m", "n")), tc.var("x", ("n",))
    y = tc.tanh(A @ x)
    rng = np.random.default_rng(9)
    a0, x0 = rng.standard_normal((4, 3)), rng.standard_normal(3)
    for wrt in (A, x):
        forward = tc.jacfwd(y, wrt)
        assert forward.shape == y.shape + wrt.shape
        assert_close(tc.evaluate(forward, A=a0, x=x0), tc.evaluate(tc.jacrev(y, wrt), A=a0, x=x0))
    # the Jacobian of a linear map by A holds only x, yet its shape needs m: bound
    linear = tc.jacfwd(A @ x, A)
    assert tc.evaluate(linear, A=a0, x=x0).shape == (4, 4, 3)


def test_jacfwd_of_a_symmetric_variable_equals_jacrev() -> None:
    S = tc.var("S", (3, 3), symmetric=True)
    y = tc.inv(S) @ np.arange(3.0)
    s0 = np.random.default_rng(6).standard_normal((3, 3))
    s0 = s0 + s0.T + 6 * np.eye(3)
    assert_close(tc.evaluate(tc.jacfwd(y, S), S=s0), tc.evaluate(tc.jacrev(y, S), S=s0))


# ----------------------------------------------------------------------------- HVP


@pytest.mark.parametrize("name", NAMES)
def test_hvp_forward_over_reverse(name: str) -> None:
    """``<w, f>`` for fixed weights ``w``: a scalar through every rule of the case."""
    case = CASES[name]
    vs, f, values, x0, v0 = _prepare(case, seed=21)
    w = np.random.default_rng(22).standard_normal(np.shape(tc.evaluate(f, values)))
    loss = tc.sum(f * w)
    x = vs[case.wrt]
    forward = tc.evaluate(tc.hvp(loss, x, v0, mode="forward"), values)
    reverse = tc.evaluate(tc.hvp(loss, x, v0, mode="reverse"), values)
    auto = tc.evaluate(tc.hvp(loss, x, v0), values)
    jax_loss = lambda z: jnp.sum(case.jax_of_wrt(values)(z) * w)  # noqa: E731
    _, expected = jax.jvp(jax.grad(jax_loss), (jnp.asarray(x0),), (jnp.asarray(v0),))
    assert_close(forward, expected, rtol=1e-9)
    assert_close(reverse, expected, rtol=1e-9)
    assert_close(forward, reverse, rtol=1e-9)
    assert_close(auto, reverse, rtol=1e-9)


def test_hvp_auto_keeps_the_cheaper_one() -> None:
    W1, W2, x = tc.var("W1", (6, 6)), tc.var("W2", (6, 6)), tc.var("x", (6,))
    f = tc.sum(tc.tanh(W2 @ tc.tanh(W1 @ x)))
    v = tc.var("v", (6, 6))
    auto = tc.hvp(f, W1, v)
    costs = {mode: expr_cost([tc.hvp(f, W1, v, mode=mode)]) for mode in ("forward", "reverse")}
    assert expr_cost([auto]) == min(costs.values(), key=lambda c: (c.flops, c.peak))


# ----------------------------------------------------------------------------- float32


def _float32(values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: a.astype(np.float32) for k, a in values.items()}


@pytest.mark.parametrize("name", NAMES)
def test_float32_in_float32_out(name: str) -> None:
    case = CASES[name]
    if name == "pow_array":
        pytest.skip("x ** (a float64 array) is float64, as in numpy")
    vs, f, values, _, v0 = _prepare(case, seed=31)
    values32 = _float32(values)
    x = vs[case.wrt]
    assert tc.evaluate(f, values32).dtype == np.float32
    derivatives = {"jvp": tc.jvp(f, x, v0.astype(np.float32)), "jacfwd": tc.jacfwd(f, x),
                   "jacrev": tc.jacrev(f, x)}
    if f.ndim == 0:
        derivatives["hvp"] = tc.hvp(f, x, v0.astype(np.float32))
    for what, d in derivatives.items():
        if not any(isinstance(n, Var) for n in walk(d)):
            continue  # a constant (the Jacobian of a linear map): no input to take a dtype from
        assert tc.evaluate(d, values32).dtype == np.float32, what
        compiled = tc.compile([d])(values32)[0]
        assert compiled.dtype == np.float32, what
        assert_close(compiled, tc.evaluate(d, values), rtol=1e-3)


def test_float32_tangents_through_the_constants_of_derivative_formulas() -> None:
    # 1 - tanh², σ(1 - σ), 1 + tan², 1 / (1 + x): Python numbers, weak as numpy's are
    x = tc.var("x", (3,))
    x0 = np.array([0.1, 0.5, 0.9], np.float32)
    v0 = np.ones(3, np.float32)
    for f in (tc.tanh(x), tc.sigmoid(x), tc.tan(x), tc.log1p(x), 1.0 - x * x, tc.log_softmax(x)):
        assert tc.evaluate(tc.jvp(f, x, v0), x=x0).dtype == np.float32
        assert tc.evaluate(tc.jacfwd(f, x), x=x0).dtype == np.float32
