"""Property tests: derivatives of random einsums and random expression trees.

The reference is always numpy plus central finite differences; tensorcalc is only ever on the
side being checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import special

import tensorcalc as tc
from _numeric import assert_array, grad_reference, numeric_grad, numeric_jacobian

SETTINGS = settings(max_examples=40, deadline=None)

# --------------------------------------------------------------------------------------------
# Random einsum specs
# --------------------------------------------------------------------------------------------

ALPHABET = "abcdef"


@dataclass
class EinsumCase:
    spec: str
    operands: list[np.ndarray]
    upstream: np.ndarray

    def loss(self, wrt: int) -> Callable[[np.ndarray], float]:
        """<G, einsum(spec, ...)> as a function of operand ``wrt`` alone (numpy reference)."""
        def value(v: np.ndarray) -> float:
            ops = list(self.operands)
            ops[wrt] = v
            return float(np.sum(self.upstream * np.einsum(self.spec, *ops)))
        return value


def _batch_shape_for(draw: Any, batch: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that broadcasts to ``batch``: leading dims may be missing, others may be 1."""
    keep = draw(st.integers(0, len(batch)))
    tail = batch[len(batch) - keep:]
    return tuple(draw(st.sampled_from([size, 1])) for size in tail)


@st.composite
def einsum_cases(draw: Any, allow_ellipsis: bool = True) -> EinsumCase:
    sizes = {c: draw(st.integers(1, 3)) for c in ALPHABET}
    n_ops = draw(st.integers(1, 3))
    use_ellipsis = allow_ellipsis and draw(st.booleans())
    batch = tuple(draw(st.lists(st.integers(1, 3), max_size=2))) if use_ellipsis else ()
    terms, shapes = [], []
    for _ in range(n_ops):
        labels = draw(st.lists(st.sampled_from(ALPHABET[:4]), max_size=3))
        ellipsis = use_ellipsis and draw(st.booleans())
        batch_shape = _batch_shape_for(draw, batch) if ellipsis else ()
        terms.append(("..." if ellipsis else "") + "".join(labels))
        shapes.append(batch_shape + tuple(sizes[c] for c in labels))
    present = sorted({c for t in terms for c in t.replace("...", "")})
    output = draw(st.permutations(present).flatmap(
        lambda perm: st.integers(0, len(perm)).map(lambda k: "".join(perm[:k]))))
    has_ellipsis = any("..." in t for t in terms)
    spec = ",".join(terms) + "->" + ("..." if has_ellipsis else "") + output
    gen = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    operands = [gen.standard_normal(shape) for shape in shapes]
    out_shape = np.einsum(spec, *operands).shape
    return EinsumCase(spec, operands, gen.standard_normal(out_shape))


@st.composite
def same_array_cases(draw: Any) -> EinsumCase:
    """Two operands that are one array, read with possibly different labels of equal size."""
    sizes = {c: draw(st.sampled_from([2, 3])) for c in ALPHABET[:4]}
    first = draw(st.lists(st.sampled_from(ALPHABET[:4]), min_size=1, max_size=3))
    second = [draw(st.sampled_from([c for c in ALPHABET[:4] if sizes[c] == sizes[p]])) for p in first]
    present = sorted(set(first) | set(second))
    output = "".join(draw(st.permutations(present))[: draw(st.integers(0, len(present)))])
    spec = f"{''.join(first)},{''.join(second)}->{output}"
    gen = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = gen.standard_normal(tuple(sizes[c] for c in first))
    upstream = gen.standard_normal(np.einsum(spec, x, x).shape)
    return EinsumCase(spec, [x, x], upstream)


def check_vjp(case: EinsumCase) -> None:
    grads = tc.einsum_vjp(case.spec, *case.operands, grad=case.upstream)
    assert isinstance(grads, tuple) and len(grads) == len(case.operands)
    for k, operand in enumerate(case.operands):
        assert_array(grads[k], numeric_grad(case.loss(k), operand), shape=operand.shape)


FIXED_SPECS = [
    ("iij,jk->ik", [(2, 2, 3), (3, 4)]),
    ("ijj,i->", [(3, 2, 2), (3,)]),
    ("ij,jk->", [(2, 3), (3, 4)]),          # every label summed
    ("ij,k->ik", [(2, 3), (4,)]),           # j only in one operand
    (",ij->ij", [(), (2, 3)]),              # a scalar operand
    ("i,->", [(3,), ()]),
    ("->", [()]),
    ("iii->i", [(3, 3, 3)]),
    ("ii,i->i", [(3, 3), (3,)]),
    ("...ij,...j->...i", [(2, 1, 3, 4), (5, 4)]),   # size-1 and missing batch dims
    ("i...,i->...", [(3, 2, 4), (3,)]),
    ("ab,bc,cd,da->", [(2, 3), (3, 4), (4, 2), (2, 2)]),
]


@pytest.mark.parametrize("spec, shapes", FIXED_SPECS)
def test_einsum_vjp_fixed_specs(spec: str, shapes: list[tuple[int, ...]]) -> None:
    gen = np.random.default_rng(len(spec))
    operands = [gen.standard_normal(s) for s in shapes]
    upstream = gen.standard_normal(np.einsum(spec, *operands).shape)
    check_vjp(EinsumCase(spec, operands, upstream))


@SETTINGS
@given(einsum_cases())
def test_einsum_vjp_random_specs(case: EinsumCase) -> None:
    check_vjp(case)


@SETTINGS
@given(same_array_cases())
def test_einsum_vjp_same_array_twice(case: EinsumCase) -> None:
    g0, g1 = tc.einsum_vjp(case.spec, *case.operands, grad=case.upstream)
    x = case.operands[0]
    total = g0 + g1
    reference = numeric_grad(lambda v: np.sum(case.upstream * np.einsum(case.spec, v, v)), x)
    assert_array(total, reference, shape=x.shape)


@SETTINGS
@given(einsum_cases(allow_ellipsis=False))
def test_grad_subscripts_spec_reproduces_vjp(case: EinsumCase) -> None:
    """tc.einsum(grad_subscripts(spec, k), G, *others) is operand k's gradient."""
    k = len(case.operands) - 1
    grad_spec = tc.grad_subscripts(case.spec, wrt=k)
    assert isinstance(grad_spec, str)
    inputs, output = grad_spec.replace(" ", "").split("->")
    assert len(inputs.split(",")) == len(case.operands)
    assert len(output) == case.operands[k].ndim
    labels_in = case.spec.split("->")[0].split(",")[k]
    sizes = {c: n for c, n in zip(labels_in, case.operands[k].shape) if c not in inputs}
    others = [op for j, op in enumerate(case.operands) if j != k]
    got = tc.einsum(grad_spec, case.upstream, *others, sizes=sizes or None)
    assert_array(got, numeric_grad(case.loss(k), case.operands[k]), shape=case.operands[k].shape)


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
    g = tc.grad(f, builder.vars[wrt]).evaluate(**values)
    assert_array(g, grad_reference(fn, values, wrt), shape=values[wrt].shape, rtol=1e-5, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(tree_cases)
def test_hessian_of_random_tree(case: tuple) -> None:
    tree, top, seed, _ = case
    builder = Builder()
    f, _fn = build_scalar(builder, tree, top)
    x = builder.vars["x"]
    values = random_values(seed)
    H = tc.hessian(f, x).evaluate(**values)
    assert_array(H, H.T, shape=(N, N), rtol=1e-9, atol=1e-10)
    grad_expr = tc.grad(f, x)
    reference = numeric_jacobian(lambda p: grad_expr.evaluate(**{**values, "x": p}), values["x"])
    assert_array(H, reference, rtol=1e-5, atol=1e-5)
    v = tc.var("v", (N,))
    hv = tc.hvp(f, x, v).evaluate(**values)
    assert_array(hv, H @ values["v"], shape=(N,), rtol=1e-9, atol=1e-10)


@settings(max_examples=25, deadline=None)
@given(tree_strategy(), st.integers(0, 10_000))
def test_jacobian_layouts_of_random_tree(tree: tuple, seed: int) -> None:
    builder = Builder()
    y, fn = builder.expr(tree), numpy_fn(tree)
    x = builder.vars["x"]
    values = random_values(seed)
    reference = numeric_jacobian(lambda p: fn({**values, "x": p}), values["x"])
    jacobian = tc.jacobian
    assert_array(jacobian(y, x).evaluate(**values), reference, shape=(N, N), rtol=1e-5, atol=1e-6)
    assert_array(jacobian(y, x, layout="denominator").evaluate(**values), reference.T,
                 shape=(N, N), rtol=1e-5, atol=1e-6)


@settings(max_examples=20, deadline=None)
@given(tree_cases)
def test_check_grad_small_for_correct_gradients(case: tuple) -> None:
    tree, top, seed, wrt = case
    builder = Builder()
    f, _fn = build_scalar(builder, tree, top)
    values = random_values(seed)
    error = tc.check_grad(f, builder.vars[wrt], **values)
    assert np.isfinite(error)
    assert float(error) < 1e-5


def test_check_grad_large_for_wrong_derivative() -> None:
    """relu at its kink: any one-sided rule (0 or 1) disagrees with the central difference,
    which sees the average slope 1/2; away from the kink the check is exact."""
    x = tc.var("x", (3,))
    f = tc.sum(tc.relu(x))
    error_kink = tc.check_grad(f, x, x=np.zeros(3))
    error_smooth = tc.check_grad(f, x, x=np.array([0.25, 0.5, -0.5]))
    assert isinstance(float(error_kink), float)
    assert float(error_smooth) < 1e-7
    assert float(error_kink) > 1e-2
    assert float(error_kink) > 1e4 * float(error_smooth)


def test_check_grad_of_vector_valued_and_of_a_gradient() -> None:
    """Non-scalar expressions check their Jacobian (so second derivatives can be checked)."""
    var = tc.var
    A, x = var("A", (4, 3)), var("x", (3,))
    y = tc.tanh(A @ x)
    f = tc.sum(y ** 2)
    gen = np.random.default_rng(42)
    values = {"A": gen.standard_normal((4, 3)), "x": gen.standard_normal(3)}
    assert float(tc.check_grad(y, x, **values)) < 1e-6
    assert float(tc.check_grad(tc.grad(f, x), x, **values)) < 1e-6
    assert float(tc.check_grad(f, A, **values)) < 1e-6


def test_check_grad_large_for_sign_jump() -> None:
    """sign jumps by 2 at 0: its derivative rule says 0, central differences say 1/step."""
    x = tc.var("x", (2,))
    f = tc.sum(tc.sign(x))
    error = tc.check_grad(f, x, x=np.array([0.0, 1.0]))
    assert float(error) > 1e3


def test_gradient_of_matrix_variable_shape_and_dtype() -> None:
    builder = Builder()
    f, fn = build_scalar(builder, ("matvec", ("exp_sin", ("x",))), "sum")
    values = random_values(3)
    g = tc.grad(f, builder.vars["A"]).evaluate(**values)
    assert_array(g, grad_reference(fn, values, "A"), shape=(N, N))


# --------------------------------------------------------------------------------------------
# Symbolic einsum terms with random specs
# --------------------------------------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(einsum_cases())
def test_grad_of_symbolic_einsum_random_specs(case: EinsumCase) -> None:
    var = tc.var
    names = [f"T{k}" for k in range(len(case.operands))]
    tensors = [var(name, op.shape) for name, op in zip(names, case.operands)]
    upstream = var("G", case.upstream.shape)
    f = tc.sum(upstream * tc.einsum(case.spec, *tensors))
    values = {name: op for name, op in zip(names, case.operands)} | {"G": case.upstream}
    assert_array(f.evaluate(**values), np.sum(case.upstream * np.einsum(case.spec, *case.operands)),
                 shape=(), rtol=1e-10, atol=1e-12)
    for k, tensor in enumerate(tensors):
        g = tc.grad(f, tensor).evaluate(**values)
        assert_array(g, numeric_grad(case.loss(k), case.operands[k]), shape=case.operands[k].shape)


@SETTINGS
@given(same_array_cases())
def test_grad_of_symbolic_einsum_same_variable_twice(case: EinsumCase) -> None:
    x = case.operands[0]
    X = tc.var("X", x.shape)
    f = tc.sum(tc.einsum(case.spec, X, X) * case.upstream)
    g = tc.grad(f, X).evaluate(X=x)
    reference = numeric_grad(lambda v: np.sum(case.upstream * np.einsum(case.spec, v, v)), x)
    assert_array(g, reference, shape=x.shape)


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
    g_expr = tc.grad(f, leaves["X"])
    assert_array(g_expr.evaluate(**values), grad_reference(ref, values, "X"), shape=(N, N))
    H = tc.hessian(f, leaves["X"]).evaluate(**values)
    reference = numeric_jacobian(lambda p: g_expr.evaluate(**{**values, "X": p}), values["X"])
    assert_array(H, reference, shape=(N, N, N, N), rtol=1e-5, atol=1e-5)
    assert_array(H.reshape(N * N, N * N), H.reshape(N * N, N * N).T, rtol=1e-9, atol=1e-10)


@settings(max_examples=15, deadline=None)
@given(tree_strategy(), st.integers(0, 10_000))
def test_third_derivative_of_random_tree(tree: tuple, seed: int) -> None:
    """jacobian(hessian) against finite differences of the Hessian: rules must accept an
    upstream gradient with extra leading axes, twice over."""
    builder = Builder()
    f, _fn = build_scalar(builder, tree, "sum")
    x = builder.vars["x"]
    values = random_values(seed)
    H_expr = tc.hessian(f, x)
    T = tc.jacobian(H_expr, x).evaluate(**values)
    reference = numeric_jacobian(lambda p: H_expr.evaluate(**{**values, "x": p}), values["x"])
    assert_array(T, reference, shape=(N, N, N), rtol=1e-5, atol=1e-5)
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

    def ref(v: dict) -> float:
        return float(np.sum(np.sin(np.asarray(forward([v[n] for n in names]))) * weights))

    for name, tensor in zip(names, tensors):
        g = tc.grad(f, tensor).evaluate(**values)
        assert_array(g, grad_reference(ref, values, name), shape=values[name].shape)


@settings(max_examples=15, deadline=None)
@given(matrix_tree_strategy(), st.integers(0, 10_000))
def test_matrix_tree_jacobian_layouts(tree: tuple, seed: int) -> None:
    leaves = {"X": tc.var("X", (N, N)), "Y": tc.var("Y", (N, N))}
    gen = np.random.default_rng(seed)
    values = {"X": gen.uniform(-0.8, 0.8, (N, N)), "Y": gen.uniform(-0.8, 0.8, (N, N))}
    y = matrix_expr(tree, leaves)
    reference = numeric_jacobian(lambda p: matrix_numpy(tree, {**values, "X": p}), values["X"])
    numerator = tc.jacobian(y, leaves["X"]).evaluate(**values)
    denominator = tc.jacobian(y, leaves["X"], layout="denominator").evaluate(**values)
    assert_array(numerator, reference, shape=(N, N, N, N), rtol=1e-5, atol=1e-6)
    assert_array(denominator, reference.transpose(2, 3, 0, 1), shape=(N, N, N, N), rtol=1e-5, atol=1e-6)
