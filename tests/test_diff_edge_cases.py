"""Deterministic derivative edge cases: broadcasting, slicing, powers, named sizes, symmetry,
numpy semantics of the operators, einsum call forms, numerical stability and errors.

The references are numpy closed forms or central finite differences of numpy functions.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

import tensorcalc as tc
from _numeric import assert_array, grad_reference, numeric_grad, numeric_jacobian


# --------------------------------------------------------------------------------------------
# Extended outputs and numpy operands inside expressions
# --------------------------------------------------------------------------------------------

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


def test_numpy_arrays_on_either_side_of_an_expression() -> None:
    """ndarray (op) Expr must build an expression (numpy must defer to the Expr)."""
    x = tc.var("x", (3,))
    M = np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0]])
    c = np.array([0.5, -2.0, 1.0])
    f = tc.sum(M @ x) + tc.sum(c * x) + tc.sum(c - x) + tc.sum(x / (c + 3.0))
    x0 = np.array([0.1, 0.2, 0.3])
    expected_value = np.sum(M @ x0) + np.sum(c * x0) + np.sum(c - x0) + np.sum(x0 / (c + 3.0))
    assert_array(f.evaluate(x=x0), expected_value, shape=(), rtol=1e-12)
    expected_grad = M.sum(axis=0) + c - 1.0 + 1.0 / (c + 3.0)
    assert_array(tc.grad(f, x).evaluate(x=x0), expected_grad, shape=(3,), rtol=1e-12)


# --------------------------------------------------------------------------------------------
# Broadcasting, slicing, powers, named sizes, symmetry, zeros, stability, errors
# --------------------------------------------------------------------------------------------

def test_broadcasting_gradients_are_summed_back() -> None:
    """(3,1) op (4,) broadcasts to (3,4); each gradient is reduced back to its own shape."""
    var = tc.var
    a, b = var("a", (3, 1)), var("b", (4,))
    f = tc.sum(tc.sin(a * b + a) / (2.0 + b))
    gen = np.random.default_rng(30)
    values = {"a": gen.standard_normal((3, 1)), "b": gen.standard_normal(4)}

    def ref(v: dict) -> float:
        return float(np.sum(np.sin(v["a"] * v["b"] + v["a"]) / (2.0 + v["b"])))

    for name, expr_var in (("a", a), ("b", b)):
        g = tc.grad(f, expr_var).evaluate(**values)
        assert_array(g, grad_reference(ref, values, name), shape=values[name].shape)


def test_powers_with_expression_exponents() -> None:
    var = tc.var
    x, y = var("x", (3,)), var("y", (3,))
    f = tc.sum((1.5 + x * x) ** y + 2.0 ** x + x ** -1.5 + tc.pow(x, 3))
    values = {"x": np.array([0.4, 1.3, 2.0]), "y": np.array([0.5, -1.0, 2.5])}

    def ref(v: dict) -> float:
        return float(np.sum((1.5 + v["x"] ** 2) ** v["y"] + 2.0 ** v["x"] + v["x"] ** -1.5 + v["x"] ** 3))

    assert_array(f.evaluate(**values), ref(values), shape=(), rtol=1e-12)
    for name, expr_var in (("x", x), ("y", y)):
        assert_array(tc.grad(f, expr_var).evaluate(**values), grad_reference(ref, values, name), shape=(3,))


SLICES = [(slice(1, 3),), (slice(None, None, -1),), (slice(None), 0), (1, slice(0, 2)), (Ellipsis, 1)]


@pytest.mark.parametrize("key", SLICES)
def test_slicing_gradients(key: tuple) -> None:
    X = tc.var("X", (3, 4)) if len(key) > 1 else tc.var("X", (4,))
    X0 = np.random.default_rng(31).standard_normal(X.shape)
    weights = np.arange(1.0, 1.0 + X0[key].size).reshape(X0[key].shape)
    f = tc.sum(tc.tanh(X[key]) * weights)

    def ref(v: dict) -> float:
        return float(np.sum(np.tanh(v["X"][key]) * weights))

    assert_array(X[key].evaluate(X=X0), X0[key], shape=X0[key].shape, rtol=0, atol=0)
    assert_array(tc.grad(f, X).evaluate(X=X0), grad_reference(ref, {"X": X0}, "X"), shape=X0.shape)


def test_stack_along_axis_one_jacobian() -> None:
    x = tc.var("x", (2,))
    F = tc.stack([tc.sin(x), x * x, 3.0 * x], axis=1)
    x0 = np.array([0.3, -0.9])

    def ref(p: np.ndarray) -> np.ndarray:
        return np.stack([np.sin(p), p * p, 3.0 * p], axis=1)

    assert_array(F.evaluate(x=x0), ref(x0), shape=(2, 3), rtol=1e-12)
    assert_array(tc.jacobian(F, x).evaluate(x=x0), numeric_jacobian(ref, x0), shape=(2, 3, 2))


def test_sum_and_mean_over_axes() -> None:
    X = tc.var("X", (2, 3, 4))
    X0 = np.random.default_rng(32).standard_normal((2, 3, 4))
    f = tc.sum(tc.sum(X, axis=1) ** 2) + tc.sum(tc.mean(X, axis=(0, 2)) ** 3)

    def ref(v: dict) -> float:
        return float(np.sum(v["X"].sum(axis=1) ** 2) + np.sum(v["X"].mean(axis=(0, 2)) ** 3))

    assert_array(f.evaluate(X=X0), ref({"X": X0}), shape=(), rtol=1e-12)
    assert_array(tc.grad(f, X).evaluate(X=X0), grad_reference(ref, {"X": X0}, "X"), shape=(2, 3, 4))


def test_named_dimensions_bind_per_evaluation() -> None:
    """One symbolic gradient serves every size of the named dimension."""
    var = tc.var
    x, A = var("x", ("n",)), var("A", ("m", "n"))
    f = tc.sum(tc.tanh(A @ x) ** 2)
    g, H = tc.grad(f, x), tc.hessian(f, x)
    for m, n in ((2, 3), (4, 5)):
        gen = np.random.default_rng(m * n)
        values = {"A": gen.standard_normal((m, n)), "x": gen.standard_normal(n)}

        def ref(v: dict) -> float:
            return float(np.sum(np.tanh(v["A"] @ v["x"]) ** 2))

        assert_array(g.evaluate(**values), grad_reference(ref, values, "x"), shape=(n,))
        hess = H.evaluate(**values)
        reference = numeric_jacobian(lambda p: g.evaluate(**{**values, "x": p}), values["x"])
        assert_array(hess, reference, shape=(n, n))


def test_hessian_of_linear_function_is_zero_and_hvp_accepts_arrays() -> None:
    var = tc.var
    A, x = var("A", (2, 3)), var("x", (3,))
    values = {"A": np.ones((2, 3)), "x": np.array([0.5, -1.0, 2.0])}
    H = tc.hessian(tc.sum(A @ x), x).evaluate(**values)
    assert_array(H, np.zeros((3, 3)), shape=(3, 3), rtol=0, atol=0)
    cubic = tc.sum(x ** 3)
    v0 = np.array([1.0, 2.0, -1.0])
    hv = tc.hvp(cubic, x, v0).evaluate(**values)
    assert_array(hv, 6.0 * values["x"] * v0, shape=(3,), rtol=1e-12)


def test_gradient_wrt_symmetric_variable_is_symmetric() -> None:
    """f(S) = a^T S b: for symmetric S only symmetric directions exist, so the gradient is
    symmetric and its inner product with any symmetric direction is the directional derivative."""
    var = tc.var
    a, b, S = var("a", (3,)), var("b", (3,)), var("S", (3, 3), symmetric=True)
    f = tc.einsum("i,ij,j->", a, tc.tanh(S), b)
    gen = np.random.default_rng(33)
    M, D = gen.standard_normal((3, 3)), gen.standard_normal((3, 3))
    values = {"a": gen.standard_normal(3), "b": gen.standard_normal(3), "S": M + M.T}
    g = tc.grad(f, S).evaluate(**values)
    assert_array(g, g.T, shape=(3, 3), rtol=1e-12, atol=1e-14)
    direction = D + D.T
    eps = 1e-6

    def ref(s: np.ndarray) -> float:
        return float(values["a"] @ np.tanh(s) @ values["b"])

    fd = (ref(values["S"] + eps * direction) - ref(values["S"] - eps * direction)) / (2 * eps)
    np.testing.assert_allclose(np.sum(g * direction), fd, rtol=1e-6)


def test_jacobian_of_scalar_wrt_scalar() -> None:
    t = tc.var("t", ())
    y = tc.exp(tc.sin(t)) * t
    t0 = np.array(0.4)
    expected = np.exp(np.sin(0.4)) * (np.cos(0.4) * 0.4 + 1.0)
    assert_array(tc.jacobian(y, t).evaluate(t=t0), expected, shape=(), rtol=1e-12)
    assert_array(tc.hessian(y, t).evaluate(t=t0),
                 numeric_grad(lambda p: np.exp(np.sin(p)) * (np.cos(p) * p + 1.0), t0), shape=())


def test_softplus_and_sigmoid_are_stable_at_large_arguments() -> None:
    x = tc.var("x", (4,))
    x0 = np.array([-800.0, -30.0, 30.0, 800.0])
    f = tc.sum(tc.softplus(x) + tc.sigmoid(x))
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        value = f.evaluate(x=x0)
        g = tc.grad(f, x).evaluate(x=x0)
    sig = special.expit(x0)
    assert_array(value, np.sum(np.logaddexp(0.0, x0) + sig), shape=(), rtol=1e-12)
    assert_array(g, sig + sig * (1.0 - sig), shape=(4,), rtol=1e-12, atol=1e-300)


# -- einsum_vjp / grad_subscripts input forms ---------------------------------------------------

def test_implicit_and_spaced_subscripts() -> None:
    gen = np.random.default_rng(34)
    A, B = gen.standard_normal((2, 3)), gen.standard_normal((3, 4))
    G = gen.standard_normal((2, 4))
    expected = (G @ B.T, A.T @ G)
    for spec in ("ij,jk", "ij, jk -> ik", "ij,jk->ik"):
        got = tc.einsum_vjp(spec, A, B, grad=G)
        for g, e in zip(got, expected):
            assert_array(g, e, rtol=1e-12, atol=1e-12)
    assert tc.grad_subscripts("ij,jk", wrt=0).replace(" ", "") == "ik,jk->ij"


def test_einsum_vjp_keeps_float32() -> None:
    gen = np.random.default_rng(35)
    A = gen.standard_normal((3, 4)).astype(np.float32)
    x = gen.standard_normal(4).astype(np.float32)
    G = gen.standard_normal(3).astype(np.float32)
    gA, gx = tc.einsum_vjp("ij,j->i", A, x, grad=G)
    assert_array(gA, np.outer(G, x), dtype=np.float32, rtol=1e-5, atol=1e-6)
    assert_array(gx, A.T @ G, dtype=np.float32, rtol=1e-5, atol=1e-6)


# -- errors are TensorcalcError (a ValueError) naming the fault ---------------------------------

def test_error_grad_of_non_scalar() -> None:
    x = tc.var("x", (3,))
    with pytest.raises(tc.TensorcalcError, match="scalar"):
        tc.grad(x * 2.0, x)


def test_error_unknown_layout() -> None:
    x = tc.var("x", (3,))
    with pytest.raises(tc.TensorcalcError, match="sideways"):
        tc.jacobian(x * 2.0, x, layout="sideways")


def test_error_wrt_out_of_range() -> None:
    with pytest.raises(tc.TensorcalcError, match="2"):
        tc.grad_subscripts("ij,jk->ik", wrt=2)
    with pytest.raises(tc.TensorcalcError):
        tc.einsum_vjp("ij,jk->ik", np.ones((2, 3)), np.ones((3, 4)), grad=np.ones((2, 5)))


def test_error_missing_variable_at_evaluation() -> None:
    x, y = tc.var("x", (2,)), tc.var("y", (2,))
    with pytest.raises(tc.TensorcalcError, match="'?y'?"):
        tc.grad(tc.sum(x * y), x).evaluate(x=np.ones(2))


def test_error_wrong_shape_at_evaluation() -> None:
    x = tc.var("x", (3,))
    with pytest.raises(tc.TensorcalcError, match="x"):
        tc.sum(x * x).evaluate(x=np.ones(4))


def test_error_hvp_vector_shape() -> None:
    x = tc.var("x", (3,))
    with pytest.raises(tc.TensorcalcError):
        tc.hvp(tc.sum(x ** 3), x, np.ones(2))


# --------------------------------------------------------------------------------------------
# Operators and einsum call forms inside expressions
# --------------------------------------------------------------------------------------------

MATMUL_SHAPES = [((2, 3, 4), (4,)), ((4,), (4, 5)), ((2, 3, 4), (1, 4, 5)), ((3, 4), (2, 4, 2)), ((4,), (4,))]


@pytest.mark.parametrize("shape_a, shape_b", MATMUL_SHAPES)
def test_matmul_follows_numpy_semantics(shape_a: tuple, shape_b: tuple) -> None:
    var = tc.var
    a, b = var("a", shape_a), var("b", shape_b)
    gen = np.random.default_rng(len(shape_a) * 10 + len(shape_b))
    values = {"a": gen.standard_normal(shape_a), "b": gen.standard_normal(shape_b)}
    y = a @ b
    expected = values["a"] @ values["b"]
    assert_array(y.evaluate(**values), expected, shape=np.shape(expected), rtol=1e-12, atol=1e-12)
    f = tc.sum(tc.sin(y))

    def ref(v: dict) -> float:
        return float(np.sum(np.sin(v["a"] @ v["b"])))

    for name, expr_var in (("a", a), ("b", b)):
        got = tc.grad(f, expr_var).evaluate(**values)
        assert_array(got, grad_reference(ref, values, name), shape=values[name].shape)


def test_transpose_of_three_axes_reverses_them() -> None:
    X = tc.var("X", (2, 3, 4))
    X0 = np.random.default_rng(40).standard_normal((2, 3, 4))
    W = np.arange(24.0).reshape(4, 3, 2)
    assert_array(X.T.evaluate(X=X0), X0.T, shape=(4, 3, 2), rtol=0, atol=0)
    f = tc.sum(X.T * W)
    assert_array(tc.grad(f, X).evaluate(X=X0), W.T, shape=(2, 3, 4), rtol=0, atol=0)


def test_scalar_arithmetic_on_both_sides() -> None:
    x = tc.var("x", (3,))
    y = (1.0 - x) * 2.0 + 3.0 / (x + 4.0) - x / 2.0 + (+x) - (-x) ** 2
    x0 = np.array([0.2, -0.5, 1.5])
    expected_y = (1.0 - x0) * 2.0 + 3.0 / (x0 + 4.0) - x0 / 2.0 + x0 - x0 ** 2
    assert_array(y.evaluate(x=x0), expected_y, shape=(3,), rtol=1e-12)
    expected_j = np.diag(-2.0 - 3.0 / (x0 + 4.0) ** 2 - 0.5 + 1.0 - 2.0 * x0)
    assert_array(tc.jacobian(y, x).evaluate(x=x0), expected_j, shape=(3, 3), rtol=1e-12, atol=1e-14)


def test_piecewise_functions_away_from_kinks() -> None:
    x = tc.var("x", (4,))
    x0 = np.array([-1.5, -0.2, 0.3, 2.0])
    f = tc.sum(tc.relu(x) * 3.0 + tc.abs(x) * x + tc.sign(x) * 5.0)
    value = np.sum(np.maximum(x0, 0) * 3.0 + np.abs(x0) * x0 + np.sign(x0) * 5.0)
    assert_array(f.evaluate(x=x0), value, shape=(), rtol=1e-12)
    expected = 3.0 * (x0 > 0) + 2.0 * np.abs(x0)
    assert_array(tc.grad(f, x).evaluate(x=x0), expected, shape=(4,), rtol=1e-12)


def test_symbolic_einsum_call_forms() -> None:
    """Implicit output, the interleaved (sublist) form and numpy operands mixed with symbols."""
    x = tc.var("x", (3,))
    A0 = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 4.0]])
    x0 = np.array([0.5, -1.0, 2.0])
    forms = [tc.einsum("ij,j", A0, x), tc.einsum(A0, [0, 1], x, [1], [0]), tc.einsum("ij,j->i", A0, x)]
    for y in forms:
        assert_array(y.evaluate(x=x0), A0 @ x0, shape=(2,), rtol=1e-12)
        assert_array(tc.jacobian(y, x).evaluate(x=x0), A0, shape=(2, 3), rtol=0, atol=1e-15)


def test_einsum_vjp_of_extended_forward_specs() -> None:
    """The extended outputs are differentiable too: 'i->ii' pulls back the diagonal."""
    gen = np.random.default_rng(41)
    x, G = gen.standard_normal(3), gen.standard_normal((3, 3))
    (gx,) = tc.einsum_vjp("i->ii", x, grad=G)
    assert_array(gx, np.diag(G), shape=(3,), rtol=0, atol=0)
    X = gen.standard_normal((3, 3))
    (gX,) = tc.einsum_vjp("ii->ii", X, grad=G)
    assert_array(gX, np.diag(np.diag(G)), shape=(3, 3), rtol=0, atol=0)
    assert tc.grad_subscripts("i->ii", wrt=0).replace(" ", "") == "ii->i"


def test_mean_over_named_dimension_differentiates_with_its_size() -> None:
    """mean over a named axis divides by a size known only at evaluation."""
    X = tc.var("X", ("m", "n"))
    f = tc.mean(tc.sin(X)) + tc.sum(tc.mean(X, axis=1) ** 2)
    g, H = tc.grad(f, X), tc.hessian(f, X)
    for m, n in ((2, 3), (3, 5)):
        X0 = np.random.default_rng(m + n).standard_normal((m, n))

        def ref(v: dict) -> float:
            return float(np.mean(np.sin(v["X"])) + np.sum(v["X"].mean(axis=1) ** 2))

        assert_array(f.evaluate(X=X0), ref({"X": X0}), shape=(), rtol=1e-12)
        expected = np.cos(X0) / (m * n) + 2.0 * X0.mean(axis=1, keepdims=True) / n * np.ones((m, n))
        assert_array(g.evaluate(X=X0), expected, shape=(m, n), rtol=1e-12, atol=1e-14)
        reference = numeric_jacobian(lambda p: g.evaluate(X=p), X0)
        assert_array(H.evaluate(X=X0), reference, shape=(m, n, m, n))


WRONG_TYPES = {
    "var name": lambda x, f: tc.var(3, (2,)),
    "var dimension": lambda x, f: tc.var("y", (2.5,)),
    "grad wrt int": lambda x, f: tc.grad(f, 3),
    "grad wrt non-variable": lambda x, f: tc.grad(f, x * 2.0),
    "grad_subscripts wrt str": lambda x, f: tc.grad_subscripts("ij->i", wrt="a"),
}


@pytest.mark.parametrize("case", sorted(WRONG_TYPES))
def test_wrong_argument_types_raise_type_error(case: str) -> None:
    x = tc.var("x", (3,))
    with pytest.raises(TypeError):
        WRONG_TYPES[case](x, tc.sum(x * x))


def test_error_messages_name_the_fault() -> None:
    x = tc.var("x", (3,))
    with pytest.raises(tc.TensorcalcError, match="zz"):
        tc.grad(tc.sum(x * x), "zz")
    with pytest.raises(tc.TensorcalcError, match=r"\(3,\)"):
        tc.einsum_vjp("ij->i", np.ones((2, 3)), grad=np.ones(3))
    assert issubclass(tc.TensorcalcError, ValueError)
