"""Every VJP rule, one primitive or operator at a time.

Values are checked against numpy; derivatives through the gradient oracle
(``tensorcalc.testing.check_grads``, and ``tests.helpers.oracle_*`` built on it) or against
exact closed forms.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest
from scipy import special

import tensorcalc as tc
from tensorcalc.differentiation import grad
from tensorcalc.evaluation import evaluate
from tensorcalc.ir import Expr, einsum, var
from tensorcalc.ops import functions as F
from tensorcalc.testing import check_grads
from tests.helpers import assert_array, oracle_grad, oracle_hessian


def _check_rule(build: Callable, shapes: dict, rng: np.random.Generator, positive: bool = False,
                order: int = 1) -> None:
    """The derivatives of ``build(vars)`` (any shape) w.r.t. every variable pass the oracle."""
    vs = {name: var(name, shape) for name, shape in shapes.items()}
    y = build(**vs)
    vals = {n: rng.standard_normal(s) for n, s in shapes.items()}
    if positive:
        vals = {n: np.abs(v) + 0.5 for n, v in vals.items()}
    for name in shapes:
        check_grads(y, name, order, vals)


# --------------------------------------------------------------------------------------------
# Elementwise functions
# --------------------------------------------------------------------------------------------

ELEMENTWISE = {  # name -> (numpy function, its first and second derivatives)
    "exp": (np.exp, np.exp, np.exp),
    "log": (np.log, lambda x: 1 / x, lambda x: -1 / x ** 2),
    "log1p": (np.log1p, lambda x: 1 / (1 + x), lambda x: -1 / (1 + x) ** 2),
    "sin": (np.sin, np.cos, lambda x: -np.sin(x)),
    "cos": (np.cos, lambda x: -np.sin(x), lambda x: -np.cos(x)),
    "tan": (np.tan, lambda x: 1 / np.cos(x) ** 2, lambda x: 2 * np.tan(x) / np.cos(x) ** 2),
    "tanh": (np.tanh, lambda x: 1 - np.tanh(x) ** 2, lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2)),
    "sigmoid": (special.expit, lambda x: special.expit(x) * (1 - special.expit(x)),
                lambda x: special.expit(x) * (1 - special.expit(x)) * (1 - 2 * special.expit(x))),
    "softplus": (lambda x: np.logaddexp(0, x), special.expit,
                 lambda x: special.expit(x) * (1 - special.expit(x))),
    "sqrt": (np.sqrt, lambda x: 0.5 / np.sqrt(x), lambda x: -0.25 * x ** -1.5),
    "relu": (lambda x: np.maximum(x, 0), lambda x: (x > 0) * 1.0, lambda x: 0 * x),
    "abs": (np.abs, np.sign, lambda x: 0 * x),
    "sign": (np.sign, lambda x: 0 * x, lambda x: 0 * x),
}


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_closed_forms(name: str) -> None:
    """Value, gradient, Hessian and HVP of every elementwise function, in closed form."""
    fn, d1, d2 = ELEMENTWISE[name]
    x = tc.var("x", (4,))
    x0 = np.array([0.3, 0.7, 1.1, 0.45])  # inside every domain, away from kinks
    w = np.array([1.0, -2.0, 0.5, 3.0])
    f = tc.sum(getattr(tc, name)(x) * w)
    v = np.array([0.2, -1.0, 0.4, 0.9])
    assert_array(f.evaluate(x=x0), np.sum(fn(x0) * w), shape=(), rtol=1e-14)
    g = tc.grad(f, x).evaluate(x=x0)
    assert_array(g, d1(x0) * w, shape=(4,), rtol=1e-12, atol=1e-15)
    if name == "sign":  # piecewise constant: the gradient is exactly zero
        np.testing.assert_array_equal(g, np.zeros(4))
    assert_array(tc.hessian(f, x).evaluate(x=x0), np.diag(d2(x0) * w), shape=(4, 4), rtol=1e-12, atol=1e-15)
    assert_array(tc.hvp(f, x, v).evaluate(x=x0), d2(x0) * w * v, shape=(4,), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_elementwise_rule_passes_the_oracle(name: str, rng) -> None:
    """First and second derivatives at random points of a (2, 3) input, any cotangent."""
    fn = getattr(F, name)
    _check_rule(lambda x: fn(x), {"x": (2, 3)}, rng, positive=name in ("log", "sqrt", "log1p"),
                order=2)


def test_piecewise_functions_away_from_kinks() -> None:
    x = tc.var("x", (4,))
    x0 = np.array([-1.5, -0.2, 0.3, 2.0])
    f = tc.sum(tc.relu(x) * 3.0 + tc.abs(x) * x + tc.sign(x) * 5.0)
    value = np.sum(np.maximum(x0, 0) * 3.0 + np.abs(x0) * x0 + np.sign(x0) * 5.0)
    assert_array(f.evaluate(x=x0), value, shape=(), rtol=1e-12)
    expected = 3.0 * (x0 > 0) + 2.0 * np.abs(x0)
    assert_array(tc.grad(f, x).evaluate(x=x0), expected, shape=(4,), rtol=1e-12)


# --------------------------------------------------------------------------------------------
# Powers
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("p", [2, 3, -1, 0.5, -2.5])
def test_pow_rule(p: float, rng) -> None:
    _check_rule(lambda x: x ** p, {"x": (4,)}, rng, positive=True, order=2)


def test_pow_with_expression_exponent(rng) -> None:
    _check_rule(lambda x, y: x ** y, {"x": (3,), "y": (3,)}, rng, positive=True, order=2)
    _check_rule(lambda y: 2.0 ** y, {"y": (3,)}, rng, order=2)


def test_powers_with_expression_exponents() -> None:
    x, y = tc.var("x", (3,)), tc.var("y", (3,))
    f = tc.sum((1.5 + x * x) ** y + 2.0 ** x + x ** -1.5 + tc.pow(x, 3))
    values = {"x": np.array([0.4, 1.3, 2.0]), "y": np.array([0.5, -1.0, 2.5])}
    x0, y0 = values["x"], values["y"]
    expected = np.sum((1.5 + x0 ** 2) ** y0 + 2.0 ** x0 + x0 ** -1.5 + x0 ** 3)
    assert_array(f.evaluate(**values), expected, shape=(), rtol=1e-12)
    for expr_var in (x, y):
        assert_array(tc.grad(f, expr_var).evaluate(**values), oracle_grad(f, expr_var, values),
                     shape=(3,), rtol=1e-10, atol=1e-12)


def test_power_with_a_constant_exponent_array_follows_numpy() -> None:
    # regression: x ** np.array([2., 3.]) was exp(P log x): nan for every negative x
    x, M = tc.var("x", (2,)), tc.var("M", ("m", 2))
    P = np.array([2.0, 3.0])
    x0 = np.array([-1.5, -2.0])
    assert_array((x ** P).evaluate(x=x0), x0 ** P, shape=(2,), rtol=1e-15)
    assert_array(tc.grad(tc.sum(x ** P), x).evaluate(x=x0), P * x0 ** (P - 1), shape=(2,), rtol=1e-15)
    assert_array(tc.hessian(tc.sum(x ** P), x).evaluate(x=x0), np.diag(P * (P - 1) * x0 ** (P - 2)),
                 shape=(2, 2), rtol=1e-15)
    M0 = np.array([[1.0, -2.0], [3.0, -4.0]])
    assert_array((M ** P).evaluate(M=M0), M0 ** P, shape=(2, 2), rtol=1e-15)
    column = np.array([[1.0], [2.0]])  # the exponent may broadcast the base
    assert_array((x ** column).evaluate(x=x0), x0 ** column, shape=(2, 2), rtol=1e-15)
    assert_array(tc.grad(tc.sum(x ** column), x).evaluate(x=x0), 1 + 2 * x0, shape=(2,), rtol=1e-15)
    # complex scalar exponents and complex bases: numpy's principal branch
    np.testing.assert_allclose((x ** 1j).evaluate(x=np.array([1.0, 2.0])), np.array([1.0, 2.0]) ** 1j)


# --------------------------------------------------------------------------------------------
# Linear and structural rules: arithmetic, reductions, indexing, stacking, einsum
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("build, shapes", [
    (lambda a, b: a + b, {"a": (2, 3), "b": (3,)}),
    (lambda a, b: a - b, {"a": (2, 1), "b": (1, 3)}),
    (lambda a, b: a * b, {"a": (2, 3), "b": (2, 1)}),
    (lambda a, b: a / b, {"a": (2, 3), "b": (3,)}),
    (lambda a: -a * 3.0 + 1.0, {"a": (2,)}),
    (lambda a: a.T, {"a": (2, 3)}),
    (lambda a: F.sum(a, axis=1), {"a": (2, 3)}),
    (lambda a: F.mean(a, axis=(0, 1)), {"a": (2, 3)}),
    (lambda a: F.trace(a), {"a": (3, 3)}),
    (lambda a: F.diag(a), {"a": (3, 3)}),
    (lambda a: F.diag(a), {"a": (3,)}),
    (lambda a: F.norm2(a), {"a": (2, 3)}),
    (lambda a: F.softmax(a, axis=1), {"a": (2, 3)}),
    (lambda a: F.logsumexp(a, axis=0), {"a": (3, 2)}),
    (lambda a: a[1], {"a": (3, 2)}),
    (lambda a: a[:, 1:3], {"a": (2, 4)}),
    (lambda a: a[::-2, None], {"a": (5,)}),
    (lambda a, b: F.stack([a[0] * b, a[1] + b, b]), {"a": (2,), "b": ()}),
    (lambda a, b: F.stack([a, b], axis=1), {"a": (2,), "b": (2,)}),
    (lambda a, b: einsum("ii,ij->j", a, b), {"a": (3, 3), "b": (3, 2)}),
    (lambda a: einsum("i->ii", a), {"a": (3,)}),
    (lambda a: einsum("i->ij", a, sizes={"j": 2}), {"a": (3,)}),
])
def test_linear_and_structural_rules(build, shapes: dict, rng) -> None:
    _check_rule(build, shapes, rng)


MATMUL_SHAPES = [
    ((2, 3), (3, 4)), ((3,), (3, 4)), ((2, 2, 3), (3,)), ((1, 2, 3), (4, 3, 2)),
    ((2, 3, 4), (4,)), ((4,), (4, 5)), ((2, 3, 4), (1, 4, 5)), ((3, 4), (2, 4, 2)), ((4,), (4,)),
]


@pytest.mark.parametrize("shape_a, shape_b", MATMUL_SHAPES)
def test_matmul_follows_numpy_semantics(shape_a: tuple, shape_b: tuple) -> None:
    a, b = tc.var("a", shape_a), tc.var("b", shape_b)
    gen = np.random.default_rng(len(shape_a) * 10 + len(shape_b))
    values = {"a": gen.standard_normal(shape_a), "b": gen.standard_normal(shape_b)}
    y = a @ b
    expected = values["a"] @ values["b"]
    assert_array(y.evaluate(**values), expected, shape=np.shape(expected), rtol=1e-12, atol=1e-12)
    f = tc.sum(tc.sin(y))
    for expr_var in (a, b):
        check_grads(y, expr_var, 1, values)  # the VJP of the product itself, any cotangent
        assert_array(tc.grad(f, expr_var).evaluate(**values), oracle_grad(f, expr_var, values),
                     shape=values[expr_var.name].shape, rtol=1e-10, atol=1e-12)


def test_transpose_of_three_axes_reverses_them() -> None:
    X = tc.var("X", (2, 3, 4))
    X0 = np.random.default_rng(40).standard_normal((2, 3, 4))
    W = np.arange(24.0).reshape(4, 3, 2)
    assert_array(X.T.evaluate(X=X0), X0.T, shape=(4, 3, 2), rtol=0, atol=0)
    f = tc.sum(X.T * W)
    assert_array(tc.grad(f, X).evaluate(X=X0), W.T, shape=(2, 3, 4), rtol=0, atol=0)


def test_broadcasting_gradients_are_summed_back() -> None:
    """(3,1) op (4,) broadcasts to (3,4); each gradient is reduced back to its own shape."""
    a, b = tc.var("a", (3, 1)), tc.var("b", (4,))
    f = tc.sum(tc.sin(a * b + a) / (2.0 + b))
    gen = np.random.default_rng(30)
    values = {"a": gen.standard_normal((3, 1)), "b": gen.standard_normal(4)}
    expected = np.sum(np.sin(values["a"] * values["b"] + values["a"]) / (2.0 + values["b"]))
    assert_array(f.evaluate(**values), expected, shape=(), rtol=1e-12)
    for expr_var in (a, b):
        g = tc.grad(f, expr_var).evaluate(**values)
        assert_array(g, oracle_grad(f, expr_var, values), shape=values[expr_var.name].shape,
                     rtol=1e-10, atol=1e-12)


SLICES = [(slice(1, 3),), (slice(None, None, -1),), (slice(None), 0), (1, slice(0, 2)), (Ellipsis, 1)]


@pytest.mark.parametrize("key", SLICES)
def test_slicing_gradients(key: tuple) -> None:
    X = tc.var("X", (3, 4)) if len(key) > 1 else tc.var("X", (4,))
    X0 = np.random.default_rng(31).standard_normal(X.shape)
    weights = np.arange(1.0, 1.0 + X0[key].size).reshape(X0[key].shape)
    f = tc.sum(tc.tanh(X[key]) * weights)
    assert_array(X[key].evaluate(X=X0), X0[key], shape=X0[key].shape, rtol=0, atol=0)
    assert_array(f.evaluate(X=X0), np.sum(np.tanh(X0[key]) * weights), shape=(), rtol=1e-12)
    assert_array(tc.grad(f, X).evaluate(X=X0), oracle_grad(f, X, {"X": X0}), shape=X0.shape,
                 rtol=1e-10, atol=1e-12)


def test_sum_and_mean_over_axes() -> None:
    X = tc.var("X", (2, 3, 4))
    X0 = np.random.default_rng(32).standard_normal((2, 3, 4))
    f = tc.sum(tc.sum(X, axis=1) ** 2) + tc.sum(tc.mean(X, axis=(0, 2)) ** 3)
    expected = np.sum(X0.sum(axis=1) ** 2) + np.sum(X0.mean(axis=(0, 2)) ** 3)
    assert_array(f.evaluate(X=X0), expected, shape=(), rtol=1e-12)
    assert_array(tc.grad(f, X).evaluate(X=X0), oracle_grad(f, X, {"X": X0}), shape=(2, 3, 4),
                 rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("spec, out_shape", [("i->ii", (3, 3)), ("i->ij", (3, 4))])
def test_grad_through_extended_output(spec: str, out_shape: tuple[int, int]) -> None:
    """Diagonal embedding and broadcast outputs inside an expression differentiate back."""
    x = tc.var("x", (3,))
    W = np.arange(float(np.prod(out_shape))).reshape(out_shape) / 7.0
    y = tc.einsum(spec, x, sizes={"j": 4} if "j" in spec else None)
    f = tc.sum(tc.sin(y) * W)
    x0 = np.array([0.3, -1.2, 0.8])
    reference_y = np.diag(x0) if spec == "i->ii" else np.repeat(x0[:, None], 4, axis=1)
    assert_array(y.evaluate(x=x0), reference_y, shape=out_shape, rtol=0, atol=0)
    if spec == "i->ii":
        expected = np.diag(np.cos(x0) * W)
    else:
        expected = (np.cos(x0)[:, None] * W).sum(axis=1)
    assert_array(tc.grad(f, x).evaluate(x=x0), expected, shape=(3,), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------------
# New node types register their own rule
# --------------------------------------------------------------------------------------------

def test_custom_node_rule_registration() -> None:
    from tensorcalc.differentiation import defvjp

    class Double(Expr):
        def __init__(self, x: Expr) -> None:
            super().__init__((x,), x.shape)

        def eval_node(self, x, sizes):
            return 2 * x

    @defvjp(Double)
    def _(node, g):
        return [2.0 * g]

    x = var("x", (2,))
    g = grad(F.sum(Double(x) * x), x)
    np.testing.assert_allclose(evaluate(g, {"x": np.array([1.0, 2.0])}), [4.0, 8.0])


# --------------------------------------------------------------------------------------------
# Targeted probes: value against numpy; gradient, Hessian and HVP against the oracle
# --------------------------------------------------------------------------------------------

SHAPES = {"x": (5,), "M": (3, 4), "T": (2, 3, 4), "S": (3, 3), "B": (2, 3, 3), "p": (4,), "s": ()}


def _values() -> dict[str, np.ndarray]:
    gen = np.random.default_rng(7)
    vals = {k: gen.standard_normal(s) for k, s in SHAPES.items()}
    vals["x"] = vals["x"] + 0.1
    vals["S"] = vals["S"] + 3 * np.eye(3)
    vals["B"] = vals["B"] + 3 * np.eye(3)
    vals["p"] = gen.uniform(0.5, 2.0, 4)
    vals["s"] = np.array(0.7)
    return vals


VALS = _values()
W34 = np.random.default_rng(8).standard_normal((3, 4))

# (id, builder over the variables, numpy reference over the arrays, variable to differentiate)
PROBES: list[tuple[str, Callable, Callable, str]] = [
    ("neg-int", lambda v: v["x"][-1] * v["x"][0], lambda a: a["x"][-1] * a["x"][0], "x"),
    ("step-2", lambda v: tc.sum(v["x"][::2] ** 3), lambda a: np.sum(a["x"][::2] ** 3), "x"),
    ("reverse", lambda v: tc.sum(v["x"][::-1] * v["x"]),
     lambda a: np.sum(a["x"][::-1] * a["x"]), "x"),
    ("neg-step", lambda v: tc.sum(v["x"][-2::-2] ** 2 * v["x"][:2]),
     lambda a: np.sum(a["x"][-2::-2] ** 2 * a["x"][:2]), "x"),
    ("step-3-down", lambda v: tc.sum(v["x"][4:0:-3] ** 3),
     lambda a: np.sum(a["x"][4:0:-3] ** 3), "x"),
    ("row-neg-step", lambda v: tc.sum(v["M"][-1, ::-2] ** 3),
     lambda a: np.sum(a["M"][-1, ::-2] ** 3), "M"),
    ("newaxis", lambda v: tc.sum(v["M"][:, None, 1] ** 3),
     lambda a: np.sum(a["M"][:, None, 1] ** 3), "M"),
    ("ellipsis", lambda v: tc.sum(v["T"][1, ..., ::3] ** 3),
     lambda a: np.sum(a["T"][1, ..., ::3] ** 3), "T"),
    ("stack-mixed", lambda v: tc.sum(tc.stack([v["x"][0], v["x"][1:3] * 2.0, v["x"][2:4]], axis=1) ** 3),
     lambda a: np.sum(np.stack(np.broadcast_arrays(a["x"][0], a["x"][1:3] * 2, a["x"][2:4]), 1) ** 3), "x"),
    ("stack-neg-axis",
     lambda v: tc.sum(tc.stack([v["M"], v["M"] ** 2], axis=-1) * np.arange(24.0).reshape(3, 4, 2)),
     lambda a: np.sum(np.stack([a["M"], a["M"] ** 2], -1) * np.arange(24.0).reshape(3, 4, 2)), "M"),
    ("softmax-ax0", lambda v: tc.sum(tc.softmax(v["M"], axis=0) * W34),
     lambda a: np.sum(special.softmax(a["M"], axis=0) * W34), "M"),
    ("softmax-ax1-3d", lambda v: tc.sum(tc.softmax(v["T"], axis=1) ** 2),
     lambda a: np.sum(special.softmax(a["T"], axis=1) ** 2), "T"),
    ("softmax-axes", lambda v: tc.sum(tc.softmax(v["T"], axis=(0, 2)) ** 2),
     lambda a: np.sum(special.softmax(a["T"], axis=(0, 2)) ** 2), "T"),
    ("lse-ax0", lambda v: tc.sum(tc.logsumexp(v["M"], axis=0) ** 2),
     lambda a: np.sum(special.logsumexp(a["M"], axis=0) ** 2), "M"),
    ("lse-axes", lambda v: tc.sum(tc.logsumexp(v["T"], axis=(0, 2)) ** 2),
     lambda a: np.sum(special.logsumexp(a["T"], axis=(0, 2)) ** 2), "T"),
    ("norm2-vec", lambda v: tc.norm2(v["x"]), lambda a: np.linalg.norm(a["x"]), "x"),
    ("norm2-3d", lambda v: tc.norm2(v["T"]), lambda a: np.linalg.norm(a["T"].ravel()), "T"),
    ("mean-axes", lambda v: tc.sum(tc.mean(v["T"], axis=(0, 2)) ** 3),
     lambda a: np.sum(a["T"].mean(axis=(0, 2)) ** 3), "T"),
    ("mean-neg", lambda v: tc.sum(tc.mean(v["T"], axis=-1) ** 3),
     lambda a: np.sum(a["T"].mean(-1) ** 3), "T"),
    ("det", lambda v: tc.det(v["S"]), lambda a: np.linalg.det(a["S"]), "S"),
    ("inv", lambda v: tc.sum(tc.inv(v["S"]) * W34[:, :3]),
     lambda a: np.sum(np.linalg.inv(a["S"]) * W34[:, :3]), "S"),
    ("logdet", lambda v: tc.logdet(v["S"]), lambda a: np.linalg.slogdet(a["S"])[1], "S"),
    ("det-batched", lambda v: tc.sum(tc.det(v["B"]) ** 2),
     lambda a: np.sum(np.linalg.det(a["B"]) ** 2), "B"),
    ("inv-batched", lambda v: tc.sum(tc.inv(v["B"]) ** 2),
     lambda a: np.sum(np.linalg.inv(a["B"]) ** 2), "B"),
    ("logdet-batched", lambda v: tc.sum(tc.logdet(v["B"]) * np.array([1.0, 2.0])),
     lambda a: np.sum(np.linalg.slogdet(a["B"])[1] * np.array([1.0, 2.0])), "B"),
    ("pow-neg-frac", lambda v: tc.sum(v["p"] ** -1.5), lambda a: np.sum(a["p"] ** -1.5), "p"),
    ("pow-frac", lambda v: tc.sum(v["p"] ** 0.3), lambda a: np.sum(a["p"] ** 0.3), "p"),
    ("recip", lambda v: tc.sum(2.0 / v["p"]), lambda a: np.sum(2.0 / a["p"]), "p"),
    ("pow-expr", lambda v: tc.sum(v["p"] ** v["p"]), lambda a: np.sum(a["p"] ** a["p"]), "p"),
    ("relu", lambda v: tc.sum(tc.relu(v["M"]) * v["M"]),
     lambda a: np.sum(np.maximum(a["M"], 0) * a["M"]), "M"),
    ("abs", lambda v: tc.sum(tc.abs(v["M"]) * v["M"]),
     lambda a: np.sum(np.abs(a["M"]) * a["M"]), "M"),
    ("sign", lambda v: tc.sum(tc.sign(v["M"]) * v["M"] ** 2),
     lambda a: np.sum(np.sign(a["M"]) * a["M"] ** 2), "M"),
    ("softplus", lambda v: tc.sum(tc.softplus(v["M"]) ** 2),
     lambda a: np.sum(np.logaddexp(0, a["M"]) ** 2), "M"),
    ("tan-log1p", lambda v: tc.sum(tc.tan(v["p"] / 3.0) * tc.log1p(v["p"])),
     lambda a: np.sum(np.tan(a["p"] / 3) * np.log1p(a["p"])), "p"),
    ("vec@vec", lambda v: v["x"] @ v["x"], lambda a: a["x"] @ a["x"], "x"),
    ("mat@vec", lambda v: tc.sum((v["M"] @ v["p"]) ** 2),
     lambda a: np.sum((a["M"] @ a["p"]) ** 2), "M"),
    ("vec@mat", lambda v: tc.sum((v["p"] @ v["M"].T) ** 2),
     lambda a: np.sum((a["p"] @ a["M"].T) ** 2), "p"),
    ("3d@vec", lambda v: tc.sum((v["T"] @ v["p"]) ** 2),
     lambda a: np.sum((a["T"] @ a["p"]) ** 2), "T"),
    ("vec@3d", lambda v: tc.sum((v["x"][:3] @ v["B"]) ** 2),
     lambda a: np.sum((a["x"][:3] @ a["B"]) ** 2), "B"),
    ("batch-bcast", lambda v: tc.sum((v["S"] @ v["T"]) ** 2),
     lambda a: np.sum((a["S"] @ a["T"]) ** 2), "S"),
    ("batch-bcast-4d", lambda v: tc.sum((v["B"][:, None] @ v["T"]) ** 2),
     lambda a: np.sum((a["B"][:, None] @ a["T"]) ** 2), "B"),
    ("T-3d", lambda v: tc.sum(v["T"].T * np.arange(24.0).reshape(4, 3, 2)),
     lambda a: np.sum(a["T"].T * np.arange(24.0).reshape(4, 3, 2)), "T"),
    ("T-1d", lambda v: v["x"].T @ v["x"], lambda a: a["x"].T @ a["x"], "x"),
    ("bcast-add", lambda v: tc.sum((v["M"] + v["p"]) ** 2),
     lambda a: np.sum((a["M"] + a["p"]) ** 2), "p"),
    ("bcast-div", lambda v: tc.sum(v["p"] / v["T"] ** 2),
     lambda a: np.sum(a["p"] / a["T"] ** 2), "p"),
    ("bcast-sub-col", lambda v: tc.sum((v["M"] - v["p"][:3, None]) ** 2),
     lambda a: np.sum((a["M"] - a["p"][:3, None]) ** 2), "p"),
    ("0d-times-mat", lambda v: tc.sum(v["s"] * v["M"]) ** 2,
     lambda a: np.sum(a["s"] * a["M"]) ** 2, "s"),
    ("composition", lambda v: tc.logsumexp(tc.sin(v["M"]) @ tc.exp(v["p"]) / tc.norm2(v["p"])),
     lambda a: special.logsumexp(np.sin(a["M"]) @ np.exp(a["p"]) / np.linalg.norm(a["p"])), "p"),
    ("matrix-composition", lambda v: tc.norm2(tc.inv(v["S"]) @ v["M"]) + tc.logdet(v["S"] @ v["S"].T),
     lambda a: np.linalg.norm(np.linalg.inv(a["S"]) @ a["M"]) + np.linalg.slogdet(a["S"] @ a["S"].T)[1], "S"),
]



def _variables() -> dict[str, Any]:
    return {k: tc.var(k, s) for k, s in SHAPES.items()}


@pytest.mark.parametrize("build, ref, name", [p[1:] for p in PROBES], ids=[p[0] for p in PROBES])
def test_probe_value_gradient_hessian_hvp(build: Callable, ref: Callable, name: str) -> None:
    v = _variables()
    f = build(v)
    x0 = VALS[name]
    assert_array(f.evaluate(VALS), ref(VALS), shape=(), rtol=1e-12, atol=1e-12)
    g = tc.grad(f, v[name]).evaluate(VALS)
    assert_array(g, oracle_grad(f, v[name], VALS), shape=x0.shape, rtol=1e-10, atol=1e-12)
    H = tc.hessian(f, v[name]).evaluate(VALS)
    assert_array(H, oracle_hessian(f, v[name], VALS), shape=x0.shape * 2, rtol=1e-9, atol=1e-10)
    d = np.random.default_rng(3).standard_normal(x0.shape)
    hv = tc.hvp(f, v[name], d).evaluate(VALS)
    expected = H.reshape(d.size, d.size) @ d.ravel()
    assert_array(hv, expected.reshape(x0.shape), shape=x0.shape, rtol=1e-9, atol=1e-9)
