"""Unit tests of tensorcalc.diff: string-level einsum gradients, every VJP rule against
central finite differences, Jacobian layouts, HVPs, symmetric variables, delta elimination."""

from __future__ import annotations

import numpy as np
import pytest

import dataclasses

from tensorcalc.contraction import einsum_vjp, grad_subscripts
from tensorcalc.differentiation import grad, hessian, hvp, jacobian
from tensorcalc.ir import topological
from tensorcalc.ops import table as primitives
from tensorcalc.ops import functions as F
from tensorcalc.errors import TensorcalcError
from tensorcalc.evaluation import evaluate
from tensorcalc.testing import check_grad
from tensorcalc.ir import Einsum, Expr, WithDims, einsum, var


def fd_vjp(fun, arrays: list[np.ndarray], k: int, g: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d<g, fun(*arrays)>/d arrays[k], by central differences (numpy only)."""
    base = [np.array(a, dtype=float) for a in arrays]
    out = np.zeros_like(base[k])
    for idx in np.ndindex(base[k].shape):
        plus = [a.copy() for a in base]
        minus = [a.copy() for a in base]
        plus[k][idx] += eps
        minus[k][idx] -= eps
        out[idx] = (np.sum(g * fun(*plus)) - np.sum(g * fun(*minus))) / (2 * eps)
    return out


# ---------------------------------------------------------------------------------------
# String level

# The seed table of section A lives in test_seed_examples.py; these are the forms beyond it:
# implicit output, repeated labels inside an operand, whitespace, negative wrt.
GRAD_SPECS = [
    ("ij,jk", 0, "ik,jk->ij"),
    ("iij,jk->ik", 0, "ik,jk->iij"),
    ("ijj,i->", 0, ",i->ijj"),
    (" ij , jk -> ik ", 1, "ik,ij->jk"),
    ("ij,jk->ik", -1, "ik,ij->jk"),
]


@pytest.mark.parametrize("subscripts, wrt, expected", GRAD_SPECS)
def test_grad_subscripts(subscripts: str, wrt: int, expected: str) -> None:
    assert grad_subscripts(subscripts, wrt) == expected


def test_grad_subscripts_errors() -> None:
    with pytest.raises(TensorcalcError, match="wrt=2"):
        grad_subscripts("ij,jk->ik", 2)
    with pytest.raises(TypeError):
        grad_subscripts("ij,jk->ik", "0")
    with pytest.raises(TypeError):
        grad_subscripts(["ij"], 0)
    with pytest.raises(TensorcalcError):
        grad_subscripts("i$,jk->ik", 0)


VJP_CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ii->", [(3, 3)]),
    ("ii->i", [(3, 3)]),
    ("iij,jk->ik", [(2, 2, 3), (3, 4)]),
    ("ijj,i->", [(2, 3, 3), (2,)]),
    ("ij->i", [(2, 3)]),
    ("i,j->ij", [(2,), (3,)]),
    (",i->i", [(), (3,)]),
    ("...ij,...jk->...ik", [(1, 2, 3), (5, 3, 4)]),
    ("...ij,...jk->...ik", [(2, 3), (5, 3, 4)]),
    ("...ij,...jk->...ik", [(4, 1, 2, 3), (5, 3, 4)]),
    ("ij,ij->", [(2, 3), (2, 3)]),
    ("bij,bjk", [(2, 2, 3), (2, 3, 2)]),
]


@pytest.mark.parametrize("subscripts, shapes", VJP_CASES)
def test_einsum_vjp_matches_finite_differences(subscripts: str, shapes, rng) -> None:
    arrays = [rng.standard_normal(s) for s in shapes]
    out = np.einsum(subscripts, *arrays)
    g = rng.standard_normal(np.shape(out))
    grads = einsum_vjp(subscripts, *arrays, grad=g)
    assert len(grads) == len(arrays)
    for k, (a, ga) in enumerate(zip(arrays, grads)):
        assert ga.shape == a.shape and ga.dtype == np.float64
        expected = fd_vjp(lambda *ops: np.einsum(subscripts, *ops), arrays, k, g)
        np.testing.assert_allclose(ga, expected, rtol=1e-6, atol=1e-8)


def test_einsum_vjp_same_array_twice(rng) -> None:
    X = rng.standard_normal((3, 2, 2))
    g0, g1 = einsum_vjp("ilk,jlk->", X, X, grad=np.array(1.0))
    total = 2 * X.sum(axis=0)  # 2 sum_j X^(j), broadcast over i
    np.testing.assert_allclose(g0 + g1, np.broadcast_to(total, X.shape), rtol=1e-12)


def test_einsum_vjp_rejects_wrong_grad_shape() -> None:
    with pytest.raises(TensorcalcError, match="grad has shape"):
        einsum_vjp("ij,jk->ik", np.ones((2, 3)), np.ones((3, 4)), grad=np.ones((4, 2)))


# ---------------------------------------------------------------------------------------
# Every rule against finite differences of the expression itself


def _check_rule(build, shapes: dict, rng, positive: bool = False, tol: float = 1e-6) -> None:
    """grad of <U, build(vars)> w.r.t. every variable == central differences."""
    vs = {name: var(name, shape) for name, shape in shapes.items()}
    y = build(**vs)
    vals = {n: rng.standard_normal(s) for n, s in shapes.items()}
    if positive:
        vals = {n: np.abs(v) + 0.5 for n, v in vals.items()}
    u = rng.standard_normal(np.shape(evaluate(y, vals)))
    U = var("U", y.shape)
    scalar = F.sum(y * U)
    for name in shapes:
        g = evaluate(grad(scalar, name), {**vals, "U": u})
        names = list(shapes)
        fun = lambda *arrs: evaluate(y, dict(zip(names, arrs)))  # noqa: E731
        expected = fd_vjp(fun, [vals[n] for n in names], names.index(name), u)
        np.testing.assert_allclose(g, expected, rtol=tol, atol=tol)


ELEMENTWISE = ["exp", "log", "log1p", "sin", "cos", "tan", "tanh", "sigmoid", "relu",
               "softplus", "sqrt", "abs"]


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_rule(name: str, rng) -> None:
    fn = getattr(F, name)
    _check_rule(lambda x: fn(x), {"x": (2, 3)}, rng, positive=name in ("log", "sqrt", "log1p"))


def test_sign_has_zero_gradient(rng) -> None:
    x = var("x", (3,))
    g = grad(F.sum(F.sign(x)), x)
    np.testing.assert_array_equal(evaluate(g, {"x": rng.standard_normal(3)}), np.zeros(3))


@pytest.mark.parametrize("p", [2, 3, -1, 0.5, -2.5])
def test_pow_rule(p: float, rng) -> None:
    _check_rule(lambda x: x ** p, {"x": (4,)}, rng, positive=True)


def test_pow_with_expression_exponent(rng) -> None:
    _check_rule(lambda x, y: x ** y, {"x": (3,), "y": (3,)}, rng, positive=True)
    _check_rule(lambda y: 2.0 ** y, {"y": (3,)}, rng)


@pytest.mark.parametrize("build, shapes", [
    (lambda a, b: a + b, {"a": (2, 3), "b": (3,)}),
    (lambda a, b: a - b, {"a": (2, 1), "b": (1, 3)}),
    (lambda a, b: a * b, {"a": (2, 3), "b": (2, 1)}),
    (lambda a, b: a / b, {"a": (2, 3), "b": (3,)}),
    (lambda a: -a * 3.0 + 1.0, {"a": (2,)}),
    (lambda a, b: a @ b, {"a": (2, 3), "b": (3, 4)}),
    (lambda a, b: a @ b, {"a": (3,), "b": (3, 4)}),
    (lambda a, b: a @ b, {"a": (2, 2, 3), "b": (3,)}),
    (lambda a, b: a @ b, {"a": (1, 2, 3), "b": (4, 3, 2)}),
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


def _well_conditioned(rng, n: int = 3) -> np.ndarray:
    return rng.standard_normal((n, n)) + 3 * np.eye(n)


@pytest.mark.parametrize("name", ["inv", "det", "logdet"])
def test_matrix_function_rules(name: str, rng) -> None:
    X = var("X", (3, 3))
    x0 = _well_conditioned(rng)
    y = getattr(F, name)(X)
    u = rng.standard_normal(np.shape(evaluate(y, {"X": x0})))
    g = evaluate(grad(F.sum(y * var("U", y.shape)), X), {"X": x0, "U": u})
    fun = lambda a: getattr(np.linalg, name if name != "logdet" else "slogdet")(a)  # noqa: E731
    ref_fun = (lambda a: fun(a)[1]) if name == "logdet" else fun
    np.testing.assert_allclose(g, fd_vjp(ref_fun, [x0], 0, u), rtol=1e-6, atol=1e-7)


def test_batched_inverse_rule(rng) -> None:
    X = var("X", (2, 3, 3))
    x0 = np.stack([_well_conditioned(rng), _well_conditioned(rng)])
    f = F.sum(F.inv(X) * var("U", (2, 3, 3))) + F.sum(F.logdet(X))
    u = rng.standard_normal((2, 3, 3))
    g = evaluate(grad(f, X), {"X": x0, "U": u})
    ref = fd_vjp(lambda a: np.sum(np.linalg.inv(a) * u) + np.sum(np.linalg.slogdet(a)[1]), [x0], 0,
                 np.array(1.0))
    np.testing.assert_allclose(g, ref, rtol=1e-6, atol=1e-7)


def test_determinant_closed_forms(rng) -> None:
    X = var("X", ("n", "n"))
    x0 = _well_conditioned(rng)
    inv_t = np.linalg.inv(x0).T
    np.testing.assert_allclose(evaluate(grad(F.det(X), X), {"X": x0}), np.linalg.det(x0) * inv_t,
                               rtol=1e-10)
    np.testing.assert_allclose(evaluate(grad(F.logdet(X), X), {"X": x0}), inv_t, rtol=1e-10)


# ---------------------------------------------------------------------------------------
# Jacobians, Hessians, HVPs


def test_jacobian_layouts_and_shapes(rng) -> None:
    A = var("A", (4, 3))
    x = var("x", (3,))
    y = F.tanh(A @ x)
    a0, x0 = rng.standard_normal((4, 3)), rng.standard_normal(3)
    J = jacobian(y, x)
    Jd = jacobian(y, x, layout="denominator")
    assert J.shape == (4, 3) and Jd.shape == (3, 4)
    expected = (1 - np.tanh(a0 @ x0) ** 2)[:, None] * a0
    np.testing.assert_allclose(evaluate(J, {"A": a0, "x": x0}), expected, rtol=1e-12)
    np.testing.assert_allclose(evaluate(Jd, {"A": a0, "x": x0}), expected.T, rtol=1e-12)
    JA = jacobian(y, A)
    assert JA.shape == (4, 4, 3)
    s = 1 - np.tanh(a0 @ x0) ** 2
    np.testing.assert_allclose(evaluate(JA, {"A": a0, "x": x0}),
                               np.einsum("i,ij,k->ijk", s, np.eye(4), x0), rtol=1e-12)
    with pytest.raises(TensorcalcError, match="layout"):
        jacobian(y, x, layout="rows")


def test_jacobian_of_scalar_is_gradient_shaped(rng) -> None:
    M = var("M", (2, 3))
    s = F.sum(M * M)
    m0 = rng.standard_normal((2, 3))
    np.testing.assert_allclose(evaluate(jacobian(s, M), {"M": m0}), 2 * m0)


def test_chain_rule_jacobian_composition(rng) -> None:
    x = var("x", (3,))
    A = var("A", (2, 3))
    inner = A @ x
    z = var("z", (2,))
    outer = F.sin(z) * z
    composite = F.sin(inner) * inner
    vals = {"x": rng.standard_normal(3), "A": rng.standard_normal((2, 3))}
    z0 = vals["A"] @ vals["x"]
    jf = evaluate(jacobian(outer, z), {"z": z0})
    jg = evaluate(jacobian(inner, x), vals)
    np.testing.assert_allclose(evaluate(jacobian(composite, x), vals), jf @ jg, rtol=1e-12)


def test_hessian_and_hvp_agree(rng) -> None:
    A = var("A", (5, 3))
    x = var("x", (3,))
    f = F.sum(F.exp(A @ x)) + F.sum(x ** 4)
    vals = {"A": rng.standard_normal((5, 3)) * 0.5, "x": rng.standard_normal(3)}
    v0 = rng.standard_normal(3)
    H = evaluate(hessian(f, x), vals)
    e = np.exp(vals["A"] @ vals["x"])
    expected = vals["A"].T @ (e[:, None] * vals["A"]) + np.diag(12 * vals["x"] ** 2)
    np.testing.assert_allclose(H, expected, rtol=1e-12)
    hv = hvp(f, x, v0)
    np.testing.assert_allclose(evaluate(hv, vals), H @ v0, rtol=1e-12)
    # H is never formed: no node of the HVP has shape x.shape + x.shape.
    assert all(n.shape != (3, 3) for n in topological([hv]))
    vsym = var("v", (3,))
    np.testing.assert_allclose(evaluate(hvp(f, x, vsym), {**vals, "v": v0}), H @ v0, rtol=1e-12)
    with pytest.raises(TensorcalcError, match="hvp"):
        hvp(f, x, np.ones(4))


def test_third_derivative_by_composition(rng) -> None:
    x = var("x", (2,))
    f = F.sum(x ** 4)
    T = jacobian(hessian(f, x), x)
    x0 = rng.standard_normal(2)
    expected = np.zeros((2, 2, 2))
    for i in range(2):
        expected[i, i, i] = 24 * x0[i]
    assert T.shape == (2, 2, 2)
    np.testing.assert_allclose(evaluate(T, {"x": x0}), expected, rtol=1e-12)


def test_scalar_0d_chain(rng) -> None:
    x = var("x", ())
    y = x ** 2 * F.log(x ** 2)
    x0 = 1.7
    g = grad(y, x)
    assert g.shape == ()
    np.testing.assert_allclose(evaluate(g, {"x": x0}), 2 * x0 * (1 + np.log(x0 ** 2)), rtol=1e-12)
    np.testing.assert_allclose(evaluate(grad(g, x), {"x": x0}), 2 * np.log(x0 ** 2) + 6, rtol=1e-12)


# ---------------------------------------------------------------------------------------
# Structure: deltas eliminated, like terms collected, symmetric variables


def test_delta_elimination_by_renaming() -> None:
    A, B = var("A", ("m", "n")), var("B", ("n", "k"))
    J = jacobian(A @ B, A)
    # Only B is left in dC_ij/dA_kl = delta_ik B_lj, so A rides along to bind 'm'.
    assert isinstance(J, WithDims) and J.children[1:] == (A,)
    J = J.children[0]
    assert isinstance(J, Einsum) and J.spec == "cb->abac" and J.children == (B,)
    W = var("W", ("n", "n"))
    G = grad(F.trace(W), W)
    assert isinstance(G, WithDims) and G.children[1:] == (W,)
    G = G.children[0]
    assert isinstance(G, Einsum) and G.output == "aa"
    assert all(op.ndim == 0 for op in G.children)  # no identity matrix is built
    x = var("x", ("n",))
    ones = grad(F.trace(einsum("i->ii", x)), x)  # d tr(diag x)/dx: a broadcast 1, no diag
    assert isinstance(ones, WithDims) and ones.children[0].spec == "->a"
    np.testing.assert_array_equal(evaluate(ones, {"x": np.zeros(3)}), np.ones(3))


def test_delta_a_a_becomes_dimension_factor() -> None:
    x = var("x", ("n",))
    # d/dx sum_i sum_j x_j = n (a summed label carried by nobody).
    f = F.sum(einsum("j->ij", x, sizes={"i": "n"}))
    g = grad(f, x)
    np.testing.assert_allclose(evaluate(g, {"x": np.ones(4)}), np.full(4, 4.0))


def test_like_terms_collected_and_factored() -> None:
    A, x, b = var("A", ("m", "n")), var("x", ("n",)), var("b", ("m",))
    g = grad(F.sum((A @ x - b) ** 2), x)
    # 2 A^T (A x - b): one einsum whose second operand is the residual sum, not A^T A x - A^T b.
    assert isinstance(g, Einsum) and g.scale == 2.0
    assert sorted(type(c).__name__ for c in g.children) == ["Add", "Var"]
    from tensorcalc.simplify import simplify

    twice = simplify(A @ x + A @ x)
    assert isinstance(twice, Einsum) and twice.scale == 2.0 and len(twice.children) == 2


def test_symmetric_variable_gradients(rng) -> None:
    x = var("x", ("n",))
    S = var("S", ("n", "n"), symmetric=True)
    f = einsum("i,ij,j->", x, S, x)
    g = grad(f, x)
    assert isinstance(g, Einsum) and g.scale == 2.0 and len(g.children) == 2
    s0 = rng.standard_normal((3, 3))
    s0 = s0 + s0.T
    x0 = rng.standard_normal(3)
    np.testing.assert_allclose(evaluate(g, {"x": x0, "S": s0}), 2 * s0 @ x0, rtol=1e-12)
    M = var("M", ("n", "n"))
    gS = grad(F.sum(S * M), S)
    m0 = rng.standard_normal((3, 3))
    np.testing.assert_allclose(evaluate(gS, {"S": s0, "M": m0}), (m0 + m0.T) / 2, rtol=1e-12)
    with pytest.raises(TensorcalcError, match="square"):
        var("T", (2, 3), symmetric=True)


def test_nonsymmetric_quadratic_form(rng) -> None:
    x, A = var("x", (3,)), var("A", (3, 3))
    f = einsum("i,ij,j->", x, A, x)
    a0, x0 = rng.standard_normal((3, 3)), rng.standard_normal(3)
    np.testing.assert_allclose(evaluate(grad(f, x), {"x": x0, "A": a0}), (a0 + a0.T) @ x0, rtol=1e-12)
    np.testing.assert_allclose(evaluate(hessian(f, x), {"x": x0, "A": a0}), a0 + a0.T, rtol=1e-12)


def test_logistic_hessian_is_one_einsum() -> None:
    X, y, w = var("X", ("m", "n")), var("y", ("m",)), var("w", ("n",))
    for f in (F.sum(F.softplus(-y * (X @ w))), F.sum(F.log(1.0 + F.exp(-y * (X @ w))))):
        H = hessian(f, w)
        assert isinstance(H, Einsum) and H.shape == ("n", "n")
        assert [c for c in H.children if c.ndim == 2] == [X, X]
        assert all(c.ndim == 1 for c in H.children if c is not X)


# ---------------------------------------------------------------------------------------
# Errors and check_grad


def test_grad_errors() -> None:
    x = var("x", (3,))
    with pytest.raises(TensorcalcError, match="scalar"):
        grad(x * 2, x)
    with pytest.raises(TensorcalcError, match="no variable 'z'"):
        grad(F.sum(x), "z")
    with pytest.raises(TypeError):
        grad(F.sum(x), 3)
    other = var("q", (2,))
    np.testing.assert_array_equal(evaluate(grad(F.sum(x), other), {"x": np.ones(3), "q": np.ones(2)}),
                                  np.zeros(2))


def test_grad_by_name_matches_var(rng) -> None:
    x = var("x", (3,))
    f = F.sum(F.sin(x))
    x0 = rng.standard_normal(3)
    np.testing.assert_allclose(evaluate(grad(f, "x"), {"x": x0}), np.cos(x0), rtol=1e-14)


def test_check_grad_detects_wrong_rule(rng, monkeypatch) -> None:
    x = var("x", (4,))
    f = F.sum(F.sin(x) * x)
    x0 = rng.standard_normal(4)
    assert check_grad(f, x, x=x0) < 1e-7
    assert check_grad(F.sin(x) * x, "x", {"x": x0}) < 1e-7  # non-scalar: projected VJP
    wrong = dataclasses.replace(primitives.ELEMENTWISE["sin"], derivative=lambda f, n, a, y: f.sin(a))
    monkeypatch.setitem(primitives.ELEMENTWISE, "sin", wrong)
    assert check_grad(F.sum(F.sin(x) * 2.0), x, x=x0) > 1e-2


def test_check_grad_symmetric(rng) -> None:
    S = var("S", (3, 3), symmetric=True)
    f = F.logdet(S)
    s0 = rng.standard_normal((3, 3))
    s0 = s0 @ s0.T + 3 * np.eye(3)
    assert check_grad(f, S, S=s0) < 1e-6


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
