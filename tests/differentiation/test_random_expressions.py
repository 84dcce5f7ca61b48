"""Property tests: derivatives of random expression trees, matrix trees and einsum terms.

Values are checked against the same tree written in numpy; derivatives through the gradient
oracle (``tensorcalc.testing.check_grads``; ``tests.helpers.oracle_*`` assemble full
Jacobians and Hessians from the VJPs it vouches for), or the exact pullback of an einsum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from hypothesis import given, settings, strategies as st
from scipy import special

import tensorcalc as tc
from tensorcalc.testing import check_grads
from tests.helpers import (VjpCase, assert_array, oracle_hessian, oracle_jacobian,
                           same_array_cases, vjp_cases)

SETTINGS = settings(max_examples=40, deadline=None)


# --------------------------------------------------------------------------------------------
# Random expression trees
# --------------------------------------------------------------------------------------------

N = 3  # every vector node has shape (N,); A is N x N

UNARY = ["exp_sin", "tanh", "sigmoid", "sin", "cos", "log_pos", "softplus", "sqrt_pos", "neg",
         "square", "log1p_sq", "tan_small", "cube"]
BINARY = ["add", "sub", "mul", "div_pos", "scale_by_sum", "dot_scale"]
MATRIX = ["matvec", "einsum_matvec", "rowbcast", "transpose_matvec"]


def tree_strategy() -> st.SearchStrategy:
    leaves = st.sampled_from([("x",), ("y",), ("xc",)])
    return st.recursive(
        leaves,
        lambda kids: st.one_of(
            st.tuples(st.sampled_from(UNARY), kids),
            st.tuples(st.sampled_from(BINARY), kids, kids),
            st.tuples(st.sampled_from(MATRIX), kids),
        ),
        max_leaves=5,
    )


CONST = np.array([0.3, -0.7, 1.1])


class Builder:
    """Builds the same tree twice: as a tensorcalc expression and as a numpy function."""

    def __init__(self) -> None:
        var = tc.var
        self.vars = {"x": var("x", (N,)), "y": var("y", (N,)), "A": var("A", (N, N))}

    def expr(self, node: tuple) -> Any:
        kind, kids = node[0], [self.expr(k) for k in node[1:]]
        if kind in ("x", "y"):
            return self.vars[kind]
        if kind == "xc":
            return self.vars["x"] + CONST  # a numpy constant inside the expression
        table: dict[str, Callable[..., Any]] = {
            "exp_sin": lambda a: tc.exp(tc.sin(a)),
            "tanh": lambda a: tc.tanh(a),
            "sigmoid": lambda a: tc.sigmoid(a),
            "sin": lambda a: tc.sin(a),
            "cos": lambda a: tc.cos(a),
            "log_pos": lambda a: tc.log(1.0 + a * a),
            "softplus": lambda a: tc.softplus(a),
            "sqrt_pos": lambda a: tc.sqrt(a ** 2 + 1.0),
            "neg": lambda a: -a,
            "square": lambda a: a ** 2,
            "log1p_sq": lambda a: tc.log1p(a * a),
            "tan_small": lambda a: tc.tan(0.5 * tc.tanh(a)),
            "cube": lambda a: tc.tanh(a) ** 3,
            "add": lambda a, b: a + b,
            "sub": lambda a, b: a - b,
            "mul": lambda a, b: a * b,
            "div_pos": lambda a, b: a / (2.0 + b * b),
            "scale_by_sum": lambda a, b: tc.tanh(tc.sum(b)) * a,
            "dot_scale": lambda a, b: tc.einsum("i,i->", a, tc.tanh(b)) * a,
            "matvec": lambda a: self.vars["A"] @ tc.tanh(a),
            "einsum_matvec": lambda a: tc.einsum("ij,j->i", self.vars["A"], a),
            "rowbcast": lambda a: tc.einsum("ij->i", self.vars["A"] * a),
            "transpose_matvec": lambda a: self.vars["A"].T @ tc.sin(a),
        }
        return table[kind](*kids)


def _sig(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def numpy_fn(node: tuple) -> Callable[[dict], np.ndarray]:
    kind, kids = node[0], [numpy_fn(k) for k in node[1:]]
    if kind in ("x", "y"):
        return lambda v: v[kind]
    if kind == "xc":
        return lambda v: v["x"] + CONST
    unary: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "exp_sin": lambda a: np.exp(np.sin(a)), "tanh": np.tanh, "sigmoid": _sig, "sin": np.sin,
        "cos": np.cos, "log_pos": lambda a: np.log(1.0 + a * a), "softplus": lambda a: np.logaddexp(0.0, a),
        "sqrt_pos": lambda a: np.sqrt(a ** 2 + 1.0), "neg": np.negative, "square": lambda a: a ** 2,
        "log1p_sq": lambda a: np.log1p(a * a), "tan_small": lambda a: np.tan(0.5 * np.tanh(a)),
        "cube": lambda a: np.tanh(a) ** 3,
    }
    if kind in unary:
        (a,) = kids
        return lambda v: unary[kind](a(v))
    binary: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
        "add": np.add, "sub": np.subtract, "mul": np.multiply,
        "div_pos": lambda a, b: a / (2.0 + b * b),
        "scale_by_sum": lambda a, b: np.tanh(np.sum(b)) * a,
        "dot_scale": lambda a, b: np.dot(a, np.tanh(b)) * a,
    }
    if kind in binary:
        a, b = kids
        return lambda v: binary[kind](a(v), b(v))
    (a,) = kids
    matrix: dict[str, Callable[[dict, np.ndarray], np.ndarray]] = {
        "matvec": lambda v, t: v["A"] @ np.tanh(t),
        "einsum_matvec": lambda v, t: v["A"] @ t,
        "rowbcast": lambda v, t: (v["A"] * t).sum(axis=1),
        "transpose_matvec": lambda v, t: v["A"].T @ np.sin(t),
    }
    return lambda v: matrix[kind](v, a(v))


def random_values(seed: int) -> dict[str, np.ndarray]:
    gen = np.random.default_rng(seed)
    return {"x": gen.uniform(-1, 1, N), "y": gen.uniform(-1, 1, N),
            "A": gen.uniform(-1, 1, (N, N)), "v": gen.uniform(-1, 1, N)}


def build_scalar(builder: Builder, tree: tuple, top: str) -> tuple[Any, Callable[[dict], float]]:
    expr, fn = builder.expr(tree), numpy_fn(tree)
    if top == "sum":
        return tc.sum(expr), lambda v: float(np.sum(fn(v)))
    return (tc.einsum("i,i->", expr, tc.sin(builder.vars["x"])),
            lambda v: float(np.dot(fn(v), np.sin(v["x"]))))


tree_cases = st.tuples(tree_strategy(), st.sampled_from(["sum", "dot"]), st.integers(0, 10_000),
                       st.sampled_from(["x", "A"]))


@SETTINGS
@given(tree_cases)
def test_grad_of_random_tree(case: tuple) -> None:
    tree, top, seed, wrt = case
    builder = Builder()
    f, fn = build_scalar(builder, tree, top)
    values = random_values(seed)
    assert_array(f.evaluate(**values), fn(values), shape=(), rtol=1e-10, atol=1e-12)
    g = tc.grad(f, builder.vars[wrt], allow_unused=True).evaluate(**values)
    assert g.shape == values[wrt].shape and g.dtype == np.float64
    check_grads(f, builder.vars[wrt], 1, values)


@settings(max_examples=25, deadline=None)
@given(tree_cases)
def test_hessian_of_random_tree(case: tuple) -> None:
    tree, top, seed, _ = case
    builder = Builder()
    f, _fn = build_scalar(builder, tree, top)
    x = builder.vars["x"]
    values = random_values(seed)
    H = tc.hessian(f, x, allow_unused=True).evaluate(**values)
    assert_array(H, H.T, shape=(N, N), rtol=1e-9, atol=1e-10)
    assert_array(H, oracle_hessian(f, x, values), rtol=1e-9, atol=1e-10)
    v = tc.var("v", (N,))
    hv = tc.hvp(f, x, v, allow_unused=True).evaluate(**values)
    assert_array(hv, H @ values["v"], shape=(N,), rtol=1e-9, atol=1e-10)


@settings(max_examples=25, deadline=None)
@given(tree_strategy(), st.integers(0, 10_000))
def test_jacobian_layouts_of_random_tree(tree: tuple, seed: int) -> None:
    builder = Builder()
    y, fn = builder.expr(tree), numpy_fn(tree)
    x = builder.vars["x"]
    values = random_values(seed)
    assert_array(y.evaluate(**values), fn(values), shape=(N,), rtol=1e-10, atol=1e-12)
    reference = oracle_jacobian(y, x, values)
    jacobian = tc.jacobian
    assert_array(jacobian(y, x, allow_unused=True).evaluate(**values), reference, shape=(N, N), rtol=1e-9, atol=1e-10)
    assert_array(jacobian(y, x, layout="denominator", allow_unused=True).evaluate(**values), reference.T,
                 shape=(N, N), rtol=1e-9, atol=1e-10)


def test_gradient_of_matrix_variable_shape_and_dtype() -> None:
    builder = Builder()
    f, fn = build_scalar(builder, ("matvec", ("exp_sin", ("x",))), "sum")
    values = random_values(3)
    assert_array(f.evaluate(**values), fn(values), shape=(), rtol=1e-12)
    g = tc.grad(f, builder.vars["A"], allow_unused=True).evaluate(**values)
    assert g.shape == (N, N) and g.dtype == np.float64
    check_grads(f, builder.vars["A"], 1, values)


# --------------------------------------------------------------------------------------------
# Symbolic einsum terms with random specs
# --------------------------------------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(vjp_cases())
def test_grad_of_symbolic_einsum_random_specs(case: VjpCase) -> None:
    var = tc.var
    names = [f"T{k}" for k in range(len(case.operands))]
    tensors = [var(name, op.shape) for name, op in zip(names, case.operands)]
    upstream = var("G", case.upstream.shape)
    f = tc.sum(upstream * tc.einsum(case.spec, *tensors))
    values = {name: op for name, op in zip(names, case.operands)} | {"G": case.upstream}
    assert_array(f.evaluate(**values), np.sum(case.upstream * np.einsum(case.spec, *case.operands)),
                 shape=(), rtol=1e-10, atol=1e-12)
    for k, tensor in enumerate(tensors):
        g = tc.grad(f, tensor, allow_unused=True).evaluate(**values)
        assert_array(g, case.pullback(k), shape=case.operands[k].shape, rtol=1e-10, atol=1e-12)


@SETTINGS
@given(same_array_cases())
def test_grad_of_symbolic_einsum_same_variable_twice(case: VjpCase) -> None:
    x = case.operands[0]
    X = tc.var("X", x.shape)
    f = tc.sum(tc.einsum(case.spec, X, X) * case.upstream)
    g = tc.grad(f, X, allow_unused=True).evaluate(X=x)
    reference = case.pullback(0) + case.pullback(1)  # product rule, exact
    assert_array(g, reference, shape=x.shape, rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------------------------
# Random matrix-valued trees: products, transposes, inverses, traces, determinants
# --------------------------------------------------------------------------------------------

M_UNARY = ["tanh", "sin", "T", "square_mm", "inv_shift", "sigmoid", "diag_embed", "softmax_rows"]
M_BINARY = ["mm", "add", "hadamard", "mm_t"]


def matrix_tree_strategy() -> st.SearchStrategy:
    return st.recursive(
        st.sampled_from([("X",), ("Y",)]),
        lambda kids: st.one_of(st.tuples(st.sampled_from(M_UNARY), kids),
                               st.tuples(st.sampled_from(M_BINARY), kids, kids)),
        max_leaves=4,
    )


def matrix_expr(node: tuple, leaves: dict) -> Any:
    kind, kids = node[0], [matrix_expr(k, leaves) for k in node[1:]]
    table: dict[str, Callable[..., Any]] = {
        "X": lambda: leaves["X"], "Y": lambda: leaves["Y"],
        "tanh": lambda a: tc.tanh(a), "sin": lambda a: tc.sin(a), "T": lambda a: a.T,
        "square_mm": lambda a: a @ a,
        "inv_shift": lambda a: tc.inv(3.0 * np.eye(N) + tc.tanh(a)),
        "sigmoid": lambda a: tc.sigmoid(a),
        "diag_embed": lambda a: tc.einsum("ii->ii", a),
        "softmax_rows": lambda a: tc.softmax(a),
        "mm": lambda a, b: a @ b, "add": lambda a, b: a + b, "hadamard": lambda a, b: a * b,
        "mm_t": lambda a, b: tc.einsum("ij,kj->ik", a, b),
    }
    return table[kind](*kids)


def matrix_numpy(node: tuple, leaves: dict) -> np.ndarray:
    kind, kids = node[0], [matrix_numpy(k, leaves) for k in node[1:]]
    table: dict[str, Callable[..., np.ndarray]] = {
        "X": lambda: leaves["X"], "Y": lambda: leaves["Y"],
        "tanh": np.tanh, "sin": np.sin, "T": lambda a: a.T, "square_mm": lambda a: a @ a,
        "inv_shift": lambda a: np.linalg.inv(3.0 * np.eye(N) + np.tanh(a)),
        "sigmoid": special.expit, "diag_embed": lambda a: np.diag(np.diag(a)),
        "softmax_rows": lambda a: special.softmax(a, axis=-1),
        "mm": np.matmul, "add": np.add, "hadamard": np.multiply, "mm_t": lambda a, b: a @ b.T,
    }
    return table[kind](*kids)


MATRIX_TOPS = {
    "trace": (lambda p: tc.trace(p), np.trace),
    "sum_sq": (lambda p: tc.sum(p * p), lambda a: float(np.sum(a * a))),
    "logdet_shift": (lambda p: tc.logdet(4.0 * np.eye(N) + tc.tanh(p)),
                     lambda a: np.linalg.slogdet(4.0 * np.eye(N) + np.tanh(a))[1]),
    "det": (lambda p: tc.det(p + 2.0 * np.eye(N)), lambda a: np.linalg.det(a + 2.0 * np.eye(N))),
    "logsumexp": (lambda p: tc.logsumexp(p), special.logsumexp),
}


@settings(max_examples=30, deadline=None)
@given(matrix_tree_strategy(), st.sampled_from(sorted(MATRIX_TOPS)), st.integers(0, 10_000))
def test_matrix_tree_gradient_and_hessian(tree: tuple, top: str, seed: int) -> None:
    var = tc.var
    leaves = {"X": var("X", (N, N)), "Y": var("Y", (N, N))}
    gen = np.random.default_rng(seed)
    values = {"X": gen.uniform(-0.8, 0.8, (N, N)), "Y": gen.uniform(-0.8, 0.8, (N, N))}
    build, ref_top = MATRIX_TOPS[top]
    f = build(matrix_expr(tree, leaves))

    def ref(v: dict) -> float:
        return float(ref_top(matrix_numpy(tree, v)))

    assert_array(f.evaluate(**values), ref(values), shape=(), rtol=1e-10, atol=1e-12)
    g = tc.grad(f, leaves["X"], allow_unused=True).evaluate(**values)
    assert g.shape == (N, N) and g.dtype == np.float64
    H = tc.hessian(f, leaves["X"], allow_unused=True).evaluate(**values)
    reference = oracle_hessian(f, leaves["X"], values)  # checks the gradient, then the Hessian
    assert_array(H, reference, shape=(N, N, N, N), rtol=1e-9, atol=1e-10)
    assert_array(H.reshape(N * N, N * N), H.reshape(N * N, N * N).T, rtol=1e-9, atol=1e-10)


@settings(max_examples=15, deadline=None)
@given(tree_strategy(), st.integers(0, 10_000))
def test_third_derivative_of_random_tree(tree: tuple, seed: int) -> None:
    """jacobian(hessian) against the oracle (order three): rules must accept an upstream
    gradient with extra leading axes, twice over."""
    builder = Builder()
    f, _fn = build_scalar(builder, tree, "sum")
    x = builder.vars["x"]
    values = random_values(seed)
    H_expr = tc.hessian(f, x, allow_unused=True)
    T = tc.jacobian(H_expr, x, allow_unused=True).evaluate(**values)
    check_grads(f, x, 2, values)  # the Hessian itself, whose VJP oracle_jacobian checks next
    reference = oracle_jacobian(H_expr, x, values)
    assert_array(T, reference, shape=(N, N, N), rtol=1e-9, atol=1e-10)
    # a third derivative of a smooth function is symmetric in all three indices
    assert_array(T, np.transpose(T, (1, 0, 2)), rtol=1e-8, atol=1e-9)
    assert_array(T, np.transpose(T, (0, 2, 1)), rtol=1e-8, atol=1e-9)


# --------------------------------------------------------------------------------------------
# Nested einsums with extended outputs: what delta elimination and flattening must get right
# --------------------------------------------------------------------------------------------

@dataclass
class NestedCase:
    inner: str
    outer: str
    inner_sizes: dict
    outer_sizes: dict
    shapes: list
    seed: int


@st.composite
def nested_einsum_cases(draw: Any) -> NestedCase:
    size_of = {"a": 2, "b": 3, "c": 2, "d": 3, "p": 2, "q": 2, "r": 3, "s": 3}
    n_inner = draw(st.integers(1, 2))
    terms = [draw(st.lists(st.sampled_from("abcd"), min_size=0, max_size=3)) for _ in range(n_inner)]
    present = sorted({c for t in terms for c in t})
    # inner output: labels may repeat (diagonal embedding) or be new (broadcast)
    inner_out = draw(st.lists(st.sampled_from(present + ["d"] if present else ["d"]), max_size=3))
    inner = ",".join("".join(t) for t in terms) + "->" + "".join(inner_out)
    inner_sizes = {c: size_of[c] for c in inner_out if c not in present}
    # outer: relabel the inner result (a repeated label takes a diagonal), maybe one more operand
    pools = {2: "pq", 3: "rs"}
    outer_first = [draw(st.sampled_from(pools[size_of[c]])) for c in inner_out]
    extra = draw(st.lists(st.sampled_from("pqrs"), max_size=2))
    outer_terms = ["".join(outer_first)] + (["".join(extra)] if draw(st.booleans()) else [])
    outer_present = sorted({c for t in outer_terms for c in t})
    outer_out = draw(st.lists(st.sampled_from(outer_present + ["s"]), max_size=2))
    outer = ",".join(outer_terms) + "->" + "".join(outer_out)
    outer_sizes = {c: size_of[c] for c in outer_out if c not in outer_present}
    shapes = [tuple(size_of[c] for c in t) for t in terms]
    if len(outer_terms) > 1:
        shapes.append(tuple(size_of[c] for c in outer_terms[1]))
    return NestedCase(inner, outer, inner_sizes, outer_sizes, shapes, draw(st.integers(0, 10_000)))


@settings(max_examples=40, deadline=None)
@given(nested_einsum_cases())
def test_nested_extended_einsums(case: NestedCase) -> None:
    var = tc.var
    names = [f"T{k}" for k in range(len(case.shapes))]
    tensors = [var(n, s) for n, s in zip(names, case.shapes)]
    gen = np.random.default_rng(case.seed)
    values = {n: gen.standard_normal(s) for n, s in zip(names, case.shapes)}
    n_inner = len(case.inner.split("->")[0].split(","))

    def forward(ops: list) -> Any:
        inner = tc.einsum(case.inner, *ops[:n_inner], sizes=case.inner_sizes or None)
        return tc.einsum(case.outer, inner, *ops[n_inner:], sizes=case.outer_sizes or None)

    y = forward(tensors)
    arrays = [values[n] for n in names]
    y0 = np.asarray(forward(arrays))
    weights = gen.standard_normal(y0.shape)
    assert_array(y.evaluate(**values), y0, shape=y0.shape, rtol=1e-10, atol=1e-12)
    f = tc.sum(tc.sin(y) * weights)
    for name, tensor in zip(names, tensors):
        g = tc.grad(f, tensor, allow_unused=True).evaluate(**values)
        assert g.shape == values[name].shape and g.dtype == np.float64
        check_grads(f, tensor, 1, values)


@settings(max_examples=15, deadline=None)
@given(matrix_tree_strategy(), st.integers(0, 10_000))
def test_matrix_tree_jacobian_layouts(tree: tuple, seed: int) -> None:
    leaves = {"X": tc.var("X", (N, N)), "Y": tc.var("Y", (N, N))}
    gen = np.random.default_rng(seed)
    values = {"X": gen.uniform(-0.8, 0.8, (N, N)), "Y": gen.uniform(-0.8, 0.8, (N, N))}
    y = matrix_expr(tree, leaves)
    assert_array(y.evaluate(**values), matrix_numpy(tree, values), shape=(N, N), rtol=1e-10, atol=1e-12)
    reference = oracle_jacobian(y, leaves["X"], values)
    numerator = tc.jacobian(y, leaves["X"], allow_unused=True).evaluate(**values)
    denominator = tc.jacobian(y, leaves["X"], layout="denominator", allow_unused=True).evaluate(**values)
    assert_array(numerator, reference, shape=(N, N, N, N), rtol=1e-9, atol=1e-10)
    # the notes' denominator layout: x's shape, then y's axes reversed
    assert_array(denominator, reference.transpose(2, 3, 1, 0), shape=(N, N, N, N), rtol=1e-9, atol=1e-10)
