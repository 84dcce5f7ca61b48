"""Unit tests of the expression IR (tensorcalc.expr, functions), evaluation, compile and
simplification: values against numpy, shapes, named dimensions, errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from tensorcalc.ops import functions as F
from tensorcalc.errors import TensorcalcError
from tensorcalc.evaluation import compile, evaluate
from tensorcalc.ir import Add, Const, Einsum, einsum, var
from tensorcalc.simplify import simplify


@pytest.fixture
def vals(rng):
    return {"A": rng.standard_normal((4, 3)), "x": rng.standard_normal(3),
            "b": rng.standard_normal(4), "M": rng.standard_normal((3, 3)) + 3 * np.eye(3)}


def symbols():
    return var("A", ("m", "n")), var("x", ("n",)), var("b", ("m",)), var("M", ("n", "n"))


# ---------------------------------------------------------------------------------------
# Builders and shapes


def test_var_shapes_and_errors() -> None:
    assert var("x", 3).shape == (3,)
    assert var("s").shape == ()
    assert var("A", ("m", 2)).shape == ("m", 2)
    with pytest.raises(TypeError):
        var("x", (1.5,))
    with pytest.raises(TypeError):
        var("", (2,))
    with pytest.raises(TypeError):
        var("x", (-1,))


def test_operator_shapes_follow_numpy_broadcasting() -> None:
    A, x, b, M = symbols()
    assert (A @ x).shape == ("m",)
    assert (A.T).shape == ("n", "m")
    assert (A * x).shape == ("m", "n")
    assert (x + 1.0).shape == ("n",)
    assert (var("p", (2, 1)) - var("q", (1, 5))).shape == (2, 5)
    assert (M @ M @ x).shape == ("n",)
    assert (x @ x).shape == ()
    with pytest.raises(TensorcalcError, match="broadcast"):
        A + b
    with pytest.raises(TensorcalcError, match="align"):
        x @ A


def test_einsum_builder_forms() -> None:
    A, x, b, M = symbols()
    assert einsum("ij,j", A, x).shape == ("m",)
    assert einsum("ii->", M).shape == ()
    assert einsum("i->ij", b, sizes={"j": "k"}).shape == ("m", "k")
    e = einsum("...ij,...jk->...ik", var("P", (1, 2, 3)), var("Q", (5, 3, 4)))
    assert e.shape == (5, 2, 4)
    with pytest.raises(TensorcalcError):
        einsum("ij,jk->ik", A, b)


def test_structural_hashing_shares_equal_subtrees() -> None:
    # uids are equal among *live* nodes of one structure: keep both operands of each
    # comparison alive (the table forgets a structure once its last node is gone).
    A, x, _, _ = symbols()
    first, second = A @ x, A @ x
    assert first.uid == second.uid
    assert var("A", ("m", "n")).uid == A.uid
    other = A @ var("y", ("n",))
    assert first.uid != other.uid
    c1, c2 = Const(np.ones(3)), Const(np.ones(3))
    assert c1.uid == c2.uid
    assert Const(np.zeros(3)).uid != c1.uid


def test_truth_value_is_an_error() -> None:
    with pytest.raises(TypeError):
        bool(var("x", ()))


# ---------------------------------------------------------------------------------------
# Evaluation against numpy


def test_operators_evaluate_like_numpy(vals) -> None:
    A, x, b, M = symbols()
    a0, x0, b0, m0 = vals["A"], vals["x"], vals["b"], vals["M"]
    cases = [
        (A @ x - b, a0 @ x0 - b0),
        (2.0 * x / 3.0 - x, 2 * x0 / 3 - x0),
        (x / (x * x + 1.0), x0 / (x0 * x0 + 1)),
        (-A.T, -a0.T),
        (1.0 - x ** 3, 1 - x0 ** 3),
        (x @ M @ x, x0 @ m0 @ x0),
        (A * x, a0 * x0),
        (x[1], x0[1]),
        (var("A", (4, 3))[1:3, ::2], a0[1:3, ::2]),
        (A[-1], a0[-1]),
        (A[..., 0], a0[..., 0]),
        (x[None, :], x0[None, :]),
        (F.stack([x, 2.0 * x], axis=1), np.stack([x0, 2 * x0], axis=1)),
        (F.stack([x[0], x[1] * x[2]]), np.array([x0[0], x0[1] * x0[2]])),
        (np.ones(3) * x + np.arange(3.0), x0 + np.arange(3.0)),
    ]
    for expr, expected in cases:
        got = evaluate(expr, vals)
        assert isinstance(got, np.ndarray) and got.dtype == np.float64
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["exp", "log", "log1p", "sin", "cos", "tan", "tanh", "sigmoid",
                                  "relu", "softplus", "sqrt", "abs", "sign"])
def test_elementwise_functions(name: str, rng) -> None:
    x0 = rng.standard_normal(5)
    if name in ("log", "sqrt", "log1p"):
        x0 = np.abs(x0) + 0.1
    reference = {"sigmoid": special.expit, "relu": lambda v: np.maximum(v, 0),
                 "softplus": lambda v: np.log1p(np.exp(v))}.get(name, getattr(np, name, None))
    got = evaluate(getattr(F, name)(var("x", (5,))), {"x": x0})
    np.testing.assert_allclose(got, reference(x0), rtol=1e-12)
    np.testing.assert_allclose(getattr(F, name)(x0), reference(x0), rtol=1e-12)  # arrays: numpy


def test_reductions_and_matrix_functions(vals) -> None:
    A, x, _, M = symbols()
    a0, x0, m0 = vals["A"], vals["x"], vals["M"]
    cases = [
        (F.sum(A), a0.sum()), (F.sum(A, axis=0), a0.sum(0)), (F.sum(A, axis=(-1,)), a0.sum(-1)),
        (F.mean(A), a0.mean()), (F.mean(A, axis=1), a0.mean(1)),
        (F.trace(M), np.trace(m0)), (F.diag(M), np.diag(m0)), (F.diag(x), np.diag(x0)),
        (F.inv(M), np.linalg.inv(m0)), (F.det(M), np.linalg.det(m0)),
        (F.logdet(M), np.linalg.slogdet(m0)[1]), (F.norm2(A), np.linalg.norm(a0)),
        (F.softmax(A, axis=0), special.softmax(a0, axis=0)),
        (F.logsumexp(A, axis=1), special.logsumexp(a0, axis=1)),
        (F.logsumexp(A), special.logsumexp(a0)),
        (F.pow(x, 3), x0 ** 3), (F.pow(A, 1), a0),
    ]
    for expr, expected in cases:
        got = evaluate(expr, vals)
        assert np.shape(got) == np.shape(expected)
        np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-12)


def test_logsumexp_is_stable() -> None:
    x = var("x", (3,))
    big = np.array([1000.0, 1001.0, 999.0])
    np.testing.assert_allclose(evaluate(F.logsumexp(x), {"x": big}), special.logsumexp(big))
    np.testing.assert_allclose(evaluate(F.softmax(x), {"x": big}), special.softmax(big))


def test_zero_dim_tensors() -> None:
    s, t = var("s", ()), var("t", ())
    e = s * t + F.exp(s) - 2.0
    got = evaluate(e, {"s": 0.5, "t": np.array(3.0)})
    assert isinstance(got, np.ndarray) and got.shape == ()
    np.testing.assert_allclose(got, 1.5 + np.exp(0.5) - 2.0)


def test_named_dimensions_bind_at_evaluation(vals) -> None:
    A, x, b, _ = symbols()
    r = A @ x - b
    np.testing.assert_allclose(r.evaluate(**vals), vals["A"] @ vals["x"] - vals["b"])
    np.testing.assert_allclose(r.evaluate(vals), vals["A"] @ vals["x"] - vals["b"])
    np.testing.assert_allclose(evaluate(F.mean(A, axis=0), vals), vals["A"].mean(0))
    small = {"A": np.ones((2, 5)), "x": np.ones(5), "b": np.ones(2)}
    np.testing.assert_allclose(r.evaluate(**small), [4.0, 4.0])


def test_evaluation_errors(vals) -> None:
    A, x, b, _ = symbols()
    r = A @ x - b
    with pytest.raises(TensorcalcError, match="'n'"):
        r.evaluate(A=vals["A"], x=np.ones(5), b=vals["b"])
    with pytest.raises(TensorcalcError, match="no array given for variable 'b'"):
        r.evaluate(A=vals["A"], x=vals["x"])
    with pytest.raises(TensorcalcError, match="axes"):
        r.evaluate(A=vals["A"], x=vals["x"][None], b=vals["b"])
    with pytest.raises(TensorcalcError, match="size 3"):
        var("z", (3,)).evaluate(z=np.ones(4))
    with pytest.raises(TensorcalcError, match="out of bounds"):
        var("z", (3,))[3]
    with pytest.raises(TensorcalcError, match="named size"):
        x[1:2]
    with pytest.raises(TypeError):
        x[1.0]
    with pytest.raises(TypeError):
        x + "a"


# ---------------------------------------------------------------------------------------
# Compile


def test_compile_matches_evaluate_and_caches_per_shape(vals, rng) -> None:
    A, x, b, _ = symbols()
    r = A @ x - b
    f = F.sum(r ** 2)
    g = 2.0 * (A.T @ r)
    fn = compile([f, g, r])
    out = fn(**vals)
    for got, expr in zip(out, [f, g, r]):
        np.testing.assert_allclose(got, evaluate(expr, vals), rtol=1e-12)
    assert len(fn._programs) == 1
    fn(vals)  # same shapes: same program
    assert len(fn._programs) == 1
    other = {"A": rng.standard_normal((6, 2)), "x": rng.standard_normal(2), "b": rng.standard_normal(6)}
    np.testing.assert_allclose(fn(**other)[2], other["A"] @ other["x"] - other["b"], rtol=1e-12)
    assert len(fn._programs) == 2
    single = compile(f)
    assert isinstance(single(**vals), np.ndarray) and single(**vals).shape == ()
    with pytest.raises(TensorcalcError, match="'x'"):
        fn(A=vals["A"], b=vals["b"])


def test_compile_evaluates_shared_subexpressions_once(vals, monkeypatch) -> None:
    A, x, b, _ = symbols()
    calls = []
    original = F.Func.eval_node

    def counting(self, *args, sizes):
        calls.append(self.name)
        return original(self, *args, sizes=sizes)

    monkeypatch.setattr(F.Func, "eval_node", counting)
    r = A @ x - b
    fn = compile([F.sum(F.exp(r)), F.exp(r) * 2.0])  # exp(r) built twice, one node
    total, doubled = fn(**vals)
    assert calls == ["exp"]
    np.testing.assert_allclose(doubled, 2 * np.exp(vals["A"] @ vals["x"] - vals["b"]), rtol=1e-12)
    np.testing.assert_allclose(total, doubled.sum() / 2, rtol=1e-12)
    calls.clear()
    evaluate([F.exp(r), F.sum(F.exp(r))], vals)
    assert calls == ["exp"]


# ---------------------------------------------------------------------------------------
# Simplification


def test_flatten_nested_einsums_into_one_product() -> None:
    A, x, _, M = symbols()
    e = simplify(M @ (M @ (M @ x)))
    assert isinstance(e, Einsum) and len(e.children) == 4 and e.output == "a"


def test_constant_folding() -> None:
    x = var("x", (2,))
    e = simplify(Const(2.0) * (Const(3.0) * x))
    assert isinstance(e, Einsum) and e.scale == 6.0 and e.children == (x,)
    c = simplify(Const(np.ones(2)) + Const(np.arange(2.0)))
    assert isinstance(c, Const)
    np.testing.assert_array_equal(c.value, [1.0, 2.0])
    assert simplify(x - x).children[0].value == 0.0
    assert simplify(1.0 * x) is x


def test_collect_and_factor_terms(vals) -> None:
    A, x, b, _ = symbols()
    y = var("y", ("n",))
    e = simplify(A @ x + A @ y)
    # A (x + y): one product whose second operand is the sum.
    assert isinstance(e, Einsum) and isinstance(e.children[1], Add)
    np.testing.assert_allclose(evaluate(e, {**vals, "y": vals["x"] * 2}), 3 * vals["A"] @ vals["x"])
    three = simplify(A @ x + 2.0 * (A @ x))
    assert isinstance(three, Einsum) and three.scale == 3.0


def test_simplified_value_unchanged(vals) -> None:
    A, x, b, M = symbols()
    e = F.sum((A @ (M @ x) - b) ** 2) + F.trace(M.T @ M) - x @ (M.T @ x)
    np.testing.assert_allclose(evaluate(simplify(e), vals), evaluate(e, vals), rtol=1e-12)


def test_named_dimension_meets_int_dimension(rng) -> None:
    x = var("x", ("n",))
    c = np.arange(3.0)
    e = x * c + c
    assert e.shape == (3,)
    np.testing.assert_allclose(evaluate(e, {"x": np.ones(3)}), 2 * c)
    with pytest.raises(TensorcalcError, match="size 4"):
        evaluate(e, {"x": np.ones(4)})


def test_dimension_bindings_survive_simplification(rng) -> None:
    from tensorcalc.differentiation import jacobian
    from tensorcalc.ir import WithDims

    A, x, b, _ = symbols()
    J = jacobian(A @ x - b, A)  # holds only x; A binds 'm'
    doubled = simplify(2.0 * J)
    assert isinstance(doubled, WithDims) and isinstance(doubled.children[0], Einsum)
    assert doubled.children[0].scale == 2.0 and doubled.children[0].children == (x,)
    x0 = rng.standard_normal(3)
    got = evaluate(doubled, {"A": np.ones((2, 3)), "x": x0})
    np.testing.assert_allclose(got, 2 * np.einsum("iu,v->iuv", np.eye(2), x0))


def test_numpy_array_on_the_left_defers_to_expressions() -> None:
    x = var("x", (2,))
    e = np.array([1.0, 2.0]) * x
    assert isinstance(e, Einsum)
    e2 = np.array([1.0, 2.0]) @ (x * 1.0)
    assert e2.shape == ()


def test_index_simplifications_and_iteration() -> None:
    x = var("x", (3,))
    first, second, third = x
    assert (first.index, third.index) == ((0,), (2,))
    s = F.stack([first * second, third])
    assert simplify(s[1]) is third
    assert simplify(s[0]).uid == simplify(first * second).uid
    assert isinstance(simplify(Const(np.arange(3.0))[1]), Const)
    with pytest.raises(TypeError, match="iterate"):
        iter(var("y", ("n",)))


def _random_einsum(rng, ops):
    """A random einsum over 1-2 of ``ops``, its output possibly extended (repeats, broadcasts)."""
    chosen = [ops[i] for i in rng.integers(0, len(ops), rng.integers(1, 3))]
    sizes, terms = {}, []
    for op in chosen:
        term = ""
        for d in op.shape:
            fits = [lab for lab in "abcd" if sizes.get(lab, d) == d]
            lab = fits[rng.integers(len(fits))]
            sizes[lab] = d
            term += lab
        terms.append(term)
    out, extra = "", {}
    for _ in range(rng.integers(0, 4)):
        lab = "abcd"[rng.integers(4)]
        if lab not in sizes:
            extra[lab] = sizes[lab] = 3
        out += lab
    return einsum(",".join(terms) + "->" + out, *chosen, sizes=extra or None)


def test_simplify_preserves_values_of_random_nested_einsums(rng) -> None:
    x, M = var("x", (3,)), var("M", (3, 3))
    vals = {"x": rng.standard_normal(3), "M": rng.standard_normal((3, 3))}
    for _ in range(150):
        ops = [x, M]
        for _ in range(3):
            ops.append(_random_einsum(rng, ops))
        e = ops[-1]
        np.testing.assert_allclose(evaluate(simplify(e), vals), evaluate(e, vals), rtol=1e-10,
                                   atol=1e-10, err_msg=repr(e))


def test_simplify_preserves_values_of_random_sums(rng) -> None:
    x, y, M, N = var("x", (3,)), var("y", (3,)), var("M", (3, 3)), var("N", (3, 3))
    S = var("S", (3, 3), symmetric=True)
    vectors = [x, y, M @ x, M.T @ x, N @ x, S @ x, S.T @ y, F.exp(x), M @ (N @ x), x * y]
    s0 = rng.standard_normal((3, 3))
    vals = {"x": rng.standard_normal(3), "y": rng.standard_normal(3),
            "M": rng.standard_normal((3, 3)), "N": rng.standard_normal((3, 3)), "S": s0 + s0.T}
    for _ in range(150):
        picks = [vectors[i] for i in rng.integers(0, len(vectors), rng.integers(2, 5))]
        e = picks[0] * float(rng.integers(-2, 3))
        for p in picks[1:]:
            e = e + p * float(rng.integers(-2, 3)) if rng.random() < 0.5 else e - M @ p
        np.testing.assert_allclose(evaluate(simplify(e), vals), evaluate(e, vals), rtol=1e-10,
                                   atol=1e-10, err_msg=repr(e))


def test_variables_may_use_the_names_of_evaluate_arguments() -> None:
    arrays, expr = var("arrays", (2,)), var("expr", (2,))
    e = arrays * expr
    np.testing.assert_allclose(e.evaluate(arrays=np.ones(2), expr=np.full(2, 3.0)), [3.0, 3.0])
    np.testing.assert_allclose(evaluate(e, arrays=np.ones(2), expr=np.full(2, 2.0)), [2.0, 2.0])
    np.testing.assert_allclose(compile(e)(arrays=np.ones(2), expr=np.ones(2)), [1.0, 1.0])
