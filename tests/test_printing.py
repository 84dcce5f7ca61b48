"""Output forms: str (einsum text), LaTeX (index and matrix), to_numpy source, explanations."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc.ops import functions as F
from tensorcalc.contraction import grad_subscripts
from tensorcalc.differentiation import grad, hessian, jacobian
from tensorcalc.errors import TensorcalcError
from tensorcalc.explain import explain_diff, explain_grad_subscripts
from tensorcalc.ir import einsum, var
from tensorcalc.notation import parse
from tensorcalc.display import display_spec, matrix_chain, matrix_text, to_latex, to_numpy, to_str
from tensorcalc.ir import variables

A = var("A", ("m", "n"))
B = var("B", ("n", "p"))
x = var("x", ("n",))
b = var("b", ("m",))
X = var("X", ("n", "n"))
r = einsum("ij,j->i", A, x) - b


# ----------------------------------------------------------------------------- str

def test_display_labels_are_deterministic():
    assert display_spec(["ab", "a"], "b") == (["ji", "j"], "i")
    assert display_spec(["xy", "yz"], "xz") == (["ik", "kj"], "ij")


@pytest.mark.parametrize("expr, text", [
    (einsum("ij,j->i", A, x), 'einsum("ij,j->i", A, x)'),
    (r, 'einsum("ij,j->i", A, x) - b'),
    (2 * einsum("ji,j->i", A, r), '2 * einsum("ji,j->i", A, einsum("ij,j->i", A, x) - b)'),
    (-r, '-(einsum("ij,j->i", A, x) - b)'),
    (3 * x - 2 * x, "3 * x - 2 * x"),
    (F.sigmoid(r), 'sigmoid(einsum("ij,j->i", A, x) - b)'),
    (F.sum(r ** 2), 'einsum("i->", (einsum("ij,j->i", A, x) - b) ** 2)'),
    (F.trace(X), 'einsum("ii->", X)'),
    (F.inv(X).T, 'einsum("ji->ij", inv(X))'),
    (F.logdet(X), "logdet(X)"),
    (F.mean(x), 'einsum("i->", x) / n'),
    (einsum("i->ii", x), 'einsum("i->ii", x)'),
    (einsum("i->ij", x, sizes={"j": "m"}), 'einsum("i->ij", x, sizes={"j": "m"})'),
    (x[0] * 2.5, "2.5 * x[0]"),
])
def test_str_golden(expr, text):
    assert str(expr) == text


def test_str_of_rearrange_nodes():
    assert str(_rearranged()) == '2 * reshape(einsum("ikjl->ijkl", reshape(T, (2, 3, 2, 2))), (4, 3, 2))'
    assert str(_reduce("max")) == "max(T, axis=(1,))"
    assert str(_reduce("prod")) == "prod(T, axis=(1,))"
    # no index notation for a reshape: LaTeX falls back to the einsum text
    assert to_latex(_reduce("max")) == r"\text{max(T, axis=(1,))}"


def test_shared_subexpression_is_named_once():
    text = str(einsum("i,i->", r, r))
    assert text == 'einsum("i,i->", t1, t1)\nwhere\n  t1 = einsum("ij,j->i", A, x) - b'
    assert text.count("einsum(\"ij,j->i\"") == 1


def test_where_block_names_avoid_variable_names():
    t1 = var("t1", ("n",))
    s = F.exp(t1) + F.exp(t1) * F.exp(t1)
    text = str(s)
    assert text == "t2 + t2 * t2\nwhere\n  t2 = exp(t1)"


def test_products_of_one_shape_print_as_star():
    s = F.sigmoid(x)
    assert str(s * (1 - s)) == "t1 * (1 - t1)\nwhere\n  t1 = sigmoid(x)"
    assert str(x[0] * x[1] + F.exp(x[1] * x[2])) == "x[0] * x[1] + exp(x[1] * x[2])"


# ----------------------------------------------------------------------------- matrix chains

@pytest.mark.parametrize("inputs, output, chain", [
    (["ij", "j"], "i", [(0, "M"), (1, "col")]),
    (["ji", "j"], "i", [(0, "T"), (1, "col")]),
    (["ij", "jk"], "ik", [(0, "M"), (1, "M")]),
    (["jk", "ij"], "ik", [(1, "M"), (0, "M")]),
    (["i", "i"], "", [(0, "row"), (1, "col")]),
    (["ij"], "ji", [(0, "T")]),
    (["i", "j"], "ij", [(0, "col"), (1, "row")]),
    (["ij", "i", "ik"], "jk", [(0, "T"), (1, "diag"), (2, "M")]),
    (["ij", "jk", "k"], "i", [(0, "M"), (1, "M"), (2, "col")]),
    (["", "ij", "j"], "i", [(0, "scalar"), (1, "M"), (2, "col")]),
    (["ij", "ij"], "i", None),
    (["ijk", "k"], "ij", None),
    (["ii"], "", None),
    (["i"], "ii", None),
    (["ij"], "i", None),
])
def test_matrix_chain(inputs, output, chain):
    assert matrix_chain(inputs, output) == chain


# ----------------------------------------------------------------------------- LaTeX

@pytest.mark.parametrize("expr, matrix, index", [
    (2 * einsum("ji,j->i", A, r), r"2 A^\top \left(A x - b\right)",
     r"2 A_{ji} \left(A_{jk} x_{k} - b_{j}\right)"),
    (einsum("ij,jk->ik", A, B), "A B", r"A_{ik} B_{kj}"),
    (einsum("i,i->", x, x), r"\left\lVert x \right\rVert^2", r"x_{i} x_{i}"),
    (einsum("ij->ji", A), r"A^\top", "A_{ji}"),
    (F.trace(X), r"\operatorname{tr}(X)", "X_{ii}"),
    (F.diag(x), r"\operatorname{diag}(x)", r"\delta_{ij} x_{i}"),
    (F.diag(X), r"\operatorname{diag}(X)", r"X_{ii}"),
    (F.inv(X).T, r"X^{-\top}", r"\left(X^{-1}\right)_{ji}"),
    (F.logdet(X), r"\log\left|\det X\right|", r"\log\left|\det X\right|"),
    (F.sigmoid(einsum("ij,j->i", A, x) + b), r"\sigma(A x + b)",
     r"\sigma\left(A_{ij} x_{j} + b_{i}\right)"),
    (einsum("i,j->ij", x, b), r"x b^\top", r"x_{i} b_{j}"),
    (einsum("ij,i,ik->jk", A, b, A), r"A^\top \operatorname{diag}(b) A", r"\sum_{k} A_{ki} b_{k} A_{kj}"),
    (einsum("i,i->i", x, x), r"x \odot x", r"x_{i} x_{i}"),
    (einsum("ij->i", A), None, r"\sum_{j} A_{ij}"),
    (einsum("ij,ji->", X, X), r"\operatorname{tr}(X X)", r"X_{ij} X_{ji}"),
    (einsum("ij,ij->", A, var("C", ("m", "n"))), r"\operatorname{tr}(A C^\top)", r"A_{ij} C_{ij}"),
    (einsum("ij,ij->", A, A), r"\left\lVert A \right\rVert_F^2", r"A_{ij} A_{ij}"),
    (einsum("i,ij,j->", b, A, x), r"b^\top A x", r"b_{i} A_{ij} x_{j}"),
    (F.sum(r ** 2), r"\left\lVert A x - b \right\rVert^2",
     r"\sum_{i} \left(A_{ij} x_{j} - b_{i}\right)^{2}"),
])
def test_latex_golden(expr, matrix, index):
    assert to_latex(expr, notation="index") == index
    # Without a matrix form, "matrix" falls back to the index notation.
    assert to_latex(expr, notation="matrix") == (matrix if matrix is not None else index)


def test_latex_of_derivatives():
    f = parse("sum((A[i,j] x[j] - b[i])^2)")
    assert to_latex(grad(f, "x"), notation="matrix") == r"2 A^\top \left(A x - b\right)"
    assert to_latex(hessian(f, "x"), notation="matrix") == r"2 A^\top A"
    assert to_latex(grad(parse("logdet(X)"), "X"), notation="matrix") == r"X^{-\top}"
    assert to_latex(grad(parse("tr(X)"), "X"), notation="matrix") == "I"
    assert to_latex(grad(parse("tr(X)"), "X"), notation="index") == r"\delta_{ij}"
    # the Jacobian of a sigmoid layer keeps one delta in index notation
    J = jacobian(parse("sigmoid(W[i,j] x[j] + b[i])"), "W")
    assert to_latex(J, notation="matrix").startswith(r"\delta_{ij} x_{k}")


def test_latex_rejects_bad_arguments():
    with pytest.raises(ValueError):
        to_latex(x, notation="tensor")
    with pytest.raises(TypeError):
        to_latex("x")


def test_matrix_text_is_plain_unicode():
    assert matrix_text(2 * einsum("ji,j->i", A, r)) == "2 Aᵀ (A x - b)"
    assert matrix_text(F.inv(X).T) == "X⁻ᵀ"
    assert matrix_text(einsum("ijk->k", var("T", (2, 2, 2)))) is None


# ----------------------------------------------------------------------------- to_numpy

def run_source(expr, arrays, **dims):
    source = to_numpy(expr)
    assert "import numpy as np" in source
    # Self-contained: the only import is numpy, nothing from tensorcalc.
    assert "tensorcalc" not in source
    assert [l for l in source.splitlines() if "import" in l] == ["import numpy as np"]
    namespace: dict = {}
    exec(compile(source, "<to_numpy>", "exec"), namespace)
    params = [v.name for v in variables(expr)]
    return namespace["f"](*[arrays[p] for p in params], **dims)


@pytest.fixture
def arrays(rng):
    m, n, p = 5, 4, 3
    return {"A": rng.normal(size=(m, n)), "B": rng.normal(size=(n, p)), "x": rng.normal(size=n),
            "b": rng.normal(size=m), "X": rng.normal(size=(n, n)) + 4 * np.eye(n),
            "W": rng.normal(size=(m, n)), "T": rng.normal(size=(2, 3, 4))}


CASES = {
    "gradient": lambda: 2 * einsum("ji,j->i", A, r),
    "shared": lambda: einsum("i,i->", r, r),
    "chain3": lambda: einsum("ij,jk,kl->il", A, B, einsum("ij->ji", B)),
    "three-way": lambda: einsum("ij,i,ik->jk", A, b, A),
    "diag-embed": lambda: einsum("i->ii", x),
    "broadcast": lambda: einsum("i->ij", x, sizes={"j": "m"}) + einsum("ji->ij", A),
    "trace-grad": lambda: grad(F.trace(X), X) + X,
    "logdet-hessian": lambda: hessian(F.logdet(X), X),
    "sigmoid-jacobian": lambda: jacobian(F.sigmoid(einsum("ij,j->i", A, x) + b), A),
    "functions": lambda: F.sum(F.tanh(x) + F.softplus(x) + F.relu(x) * F.exp(x) + F.log1p(x ** 2)),
    "sqrt-abs": lambda: F.sqrt(F.abs(x)) + F.sign(x) + F.cos(x) - F.sin(x),
    "matfuncs": lambda: F.det(X) * F.inv(X) + F.logdet(X),
    "mean": lambda: F.mean(A, axis=0) * 3.0,
    "logsumexp": lambda: F.logsumexp(A, axis=1) + F.softmax(A)[:, 0],
    "index-stack": lambda: F.stack([x[0] * x[1], x[2] + 1.0]),
    "index-grad": lambda: grad(x[1] * x[2], x),
    "tensor3": lambda: einsum("abc,ca->b", var("T", (2, 3, 4)), var("B", (4, 2))),
    "rearrange": lambda: _rearranged(),
    "reduce-max": lambda: grad(F.sum(_reduce("max") ** 2), "T"),
    "reduce-prod": lambda: grad(F.sum(_reduce("prod")), "T") + _reduce("min")[0, 0],
    "pow": lambda: x ** 3 + x ** -1 + x ** 0.5 * 0 + 1.0 / (x * x + 1.0),
}


def _rearranged():
    from tensorcalc.einops_ext.rearrange import rearrange

    T = var("T", (2, 3, 4))
    return rearrange(T, "a b (c c2) -> (a c) b c2", c2=2) * 2.0


def _reduce(op):
    from tensorcalc.einops_ext.rearrange import reduce

    return reduce(var("T", (2, 3, 4)), "a b c -> a c", op)


@pytest.mark.parametrize("name", sorted(CASES))
def test_to_numpy_matches_evaluate(name, arrays):
    expr = CASES[name]()
    if name == "tensor3":
        arrays = dict(arrays, B=np.random.default_rng(0).normal(size=(4, 2)))
    if name == "pow":
        arrays = dict(arrays, x=np.abs(arrays["x"]) + 0.5)
    if name == "sqrt-abs":
        arrays = dict(arrays, x=arrays["x"] + 0.1)
    dims = {}
    source = to_numpy(expr)
    for param in re.search(r"def f\((.*)\):", source).group(1).split(", "):
        if param and param not in arrays and param != "*":
            dims[param] = {"m": 5, "n": 4}[param]
    expected = expr.evaluate(arrays)
    got = run_source(expr, arrays, **dims)
    assert np.shape(got) == np.shape(expected)
    assert np.asarray(got).dtype == np.asarray(expected).dtype
    assert np.allclose(got, expected)


def test_to_numpy_writes_pairwise_steps_along_the_path():
    from tensorcalc import contract_path

    shapes = [(50, 2), (2, 50), (50, 3)]
    path, _ = contract_path("ij,jk,kl->il", *shapes)
    assert path[0] == (1, 2)
    source = to_numpy(einsum("ij,jk,kl->il", *[var(n, s) for n, s in zip("PQR", shapes)]))
    # the code follows the path: (Q, R) first, one product per line
    assert "t1 = Q @ R" in source and "return P @ t1" in source
    assert "np.einsum" not in source


def test_to_numpy_batched_pairs_use_matmul(rng):
    q, k = var("q", (2, 3, 4, 5)), var("k", (2, 3, 6, 5))
    source = to_numpy(einsum("bhqd,bhkd->bhqk", q, k))
    assert "return q @ k.mT" in source
    arrays = {"q": rng.normal(size=(2, 3, 4, 5)), "k": rng.normal(size=(2, 3, 6, 5))}
    got = run_source(einsum("bhqd,bhkd->bhqk", q, k), arrays)
    assert got.shape == (2, 3, 4, 6)
    assert np.allclose(got, np.einsum("bhqd,bhkd->bhqk", arrays["q"], arrays["k"]))


def test_to_numpy_extended_einsums_use_plain_numpy():
    diag = to_numpy(einsum("i->ii", x))
    assert "np.zeros" in diag and 'np.einsum("aa->a", t1)[...] = x' in diag
    bcast = to_numpy(einsum("i->ij", x, sizes={"j": 3}))
    assert "np.broadcast_to(x[:, None], (n, 3))" in bcast


def test_to_numpy_dimensions_come_from_the_variables():
    source = to_numpy(grad(F.trace(X), X))  # the gradient holds no X, but its size is X's
    assert "def f(X):" in source and "n = X.shape[0]" in source
    ns: dict = {}
    exec(source, ns)
    got = ns["f"](np.zeros((3, 3)))
    assert got.dtype == np.float64 and np.array_equal(got, np.eye(3))


def test_to_numpy_unbound_dimension_is_a_keyword_parameter():
    source = to_numpy(einsum("i->ij", x, sizes={"j": "m"}))
    assert "def f(x, *, m):" in source
    ns: dict = {}
    exec(source, ns)
    assert np.array_equal(ns["f"](np.arange(2.0), m=3), [[0.0] * 3, [1.0] * 3])


def test_to_numpy_checks_its_name():
    with pytest.raises(TensorcalcError):
        to_numpy(x, name="not valid")
    with pytest.raises(TypeError):
        to_numpy(np.ones(3))


# ----------------------------------------------------------------------------- explanations

SEED_GRADS = [("ij,jk->ik", 0, "ik,jk->ij"), ("ij,jk->ik", 1, "ik,ij->jk"),
              ("nd,dm->nm", 1, "nm,nd->dm"), ("ij,jk,k->i", 1, "i,ij,k->jk"),
              ("ilk,jlk->", 0, ",jlk->ilk"), ("ilk,jlk->", 1, ",ilk->jlk"),
              ("ii->", 0, "->ii"), ("ii->i", 0, "i->ii"), ("ij->i", 0, "i->ij"),
              ("i,j->ij", 0, "ij,j->i")]


@pytest.mark.parametrize("subscripts, wrt, spec", SEED_GRADS)
def test_explained_gradient_reaches_the_seed_spec(subscripts, wrt, spec):
    text = explain_grad_subscripts(subscripts, wrt)
    assert f'einsum: "{spec}"' in text
    assert grad_subscripts(subscripts, wrt) == spec


def test_explained_matmul_gradient_shows_every_step():
    text = explain_grad_subscripts("ij,jk->ik", wrt=0)
    assert "Y_ik = Σ_j A_ij B_jk" in text
    assert "∂A_ij/∂A_lm = δ_il δ_jm" in text
    assert "δ_il: i is summed, so rename i → l" in text
    assert "∂L/∂A_ij = Σ_k G_ik B_jk" in text
    assert text.rstrip().endswith("matrix form: G Bᵀ")


def test_explained_trace_gradient_keeps_a_delta():
    text = explain_grad_subscripts("ii->", 0)
    assert "δ_jk G" in text and 'einsum: "->ii"' in text and "G I" in text


def test_explain_rejects_ellipsis_and_bad_specs():
    with pytest.raises(TensorcalcError, match="named labels"):
        explain_grad_subscripts("...ij,...jk->...ik")
    with pytest.raises(TensorcalcError):
        explain_grad_subscripts("i1,jk->ik")


def test_explained_least_squares():
    text = explain_diff(parse("sum((A[i,j] x[j] - b[i])^2)"), "x")
    for step in ["f = Σ_i r_i²", "r_i = Σ_j A_ij x_j - b_i", "∂f/∂r_i = 2 Σ_j δ_ji r_j",
                 "∂f/∂r_i = 2 r_i", "∂r_i/∂x_j = A_ij", "∂f/∂x_j = 2 Σ_i r_i A_ij",
                 'einsum form: 2 * einsum("ji,j->i", A, einsum("ij,j->i", A, x) - b)',
                 "matrix form: 2 Aᵀ (A x - b)"]:
        assert step in text, step


def test_explained_jacobian_keeps_the_diagonal_delta():
    text = explain_diff(parse("sigmoid(W[i,j] x[j] + b[i])"), "W")
    assert "∂y_i/∂W_kl = δ_ik σ'(r_i) x_l" in text
    assert "σ'(z) = σ(z) (1 - σ(z))" in text


def test_explained_product_rule_and_matrix_functions():
    text = explain_diff(parse("x[i] A[i,j] x[j]"), "x")
    assert "∂f/∂x_i = Σ_k A_ik x_k + Σ_j x_j A_ji" in text
    assert "matrix form: (A + Aᵀ) x" in text
    text = explain_diff(parse("logdet(X)"), "X")
    assert "∂f/∂X_ij = (X⁻¹)_ji" in text and "matrix form: X⁻ᵀ" in text


def test_explain_unknown_variable():
    with pytest.raises(TensorcalcError, match="no variable 'z'"):
        explain_diff(parse("sum(x[i])"), "z")


# ----------------------------------------------------------------------------- properties

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tensorcalc.contraction import einsum as tc_einsum  # noqa: E402

SIZES = {"a": 2, "b": 3, "c": 4, "d": 1, "e": 2}


@st.composite
def einsum_specs(draw):
    """Explicit specs over a few labels, with diagonals, sums, and extended outputs."""
    n_ops = draw(st.integers(1, 4))
    terms = [draw(st.lists(st.sampled_from("abcde"), min_size=0, max_size=3)) for _ in range(n_ops)]
    carried = sorted(set("".join("".join(t) for t in terms)))
    pool = carried + ["e"]  # "e" may be absent from the inputs: a broadcast label
    out = draw(st.lists(st.sampled_from(pool), max_size=3))
    return [("".join(t)) for t in terms], "".join(out)


@settings(max_examples=60, deadline=None)
@given(spec=einsum_specs(), seed=st.integers(0, 2**16))
def test_to_numpy_runs_every_einsum(spec, seed):
    inputs, output = spec
    rng = np.random.default_rng(seed)
    arrays = {f"v{k}": rng.normal(size=[SIZES[c] for c in labels]) for k, labels in enumerate(inputs)}
    ops = [var(f"v{k}", tuple(SIZES[c] for c in labels)) for k, labels in enumerate(inputs)]
    subscripts = ",".join(inputs) + "->" + output
    sizes = {c: SIZES[c] for c in output if c not in "".join(inputs)}
    expr = einsum(subscripts, *ops, sizes=sizes or None)
    expected = tc_einsum(subscripts, *arrays.values(), sizes=sizes or None)
    got = run_source(expr, arrays)
    assert np.shape(got) == expected.shape
    assert np.allclose(got, expected)


@pytest.mark.parametrize("subscripts", [
    "i,i->i", "ij,ij->", "ij,jk,k->i", "ij,jk", "i,i", "ii", "iij->j", "i->ii", "ij->ji",
    "abc,cd->abd", "i,j->ij", "ii,i->i", "ij,jk,kl->il", "ik,jk->"])
def test_every_explained_gradient_matches_grad_subscripts(subscripts):
    n = len(subscripts.split("->")[0].split(","))
    for k in range(n):
        text = explain_grad_subscripts(subscripts, k)
        assert re.search(r'einsum: "([^"]*)"', text).group(1) == grad_subscripts(subscripts, k)


def test_complex_coefficients_print_in_every_form() -> None:
    x, y = tc.var("x", (2,)), tc.var("y", (2,))
    assert str(x + 1j * y) == "x + 1j * y"
    assert tc.to_latex(x + 1j * y) == r"x_{i} + \mathrm{i} y_{i}"
    assert tc.to_latex(x - (2 + 3j) * y) == r"x_{i} - \left(2 + 3\mathrm{i}\right) y_{i}"
    assert tc.to_latex(x + 1j * y, notation="matrix") == r"x + \mathrm{i} y"
    namespace: dict = {}
    exec(tc.to_numpy(x - (2 + 3j) * y), namespace)
    a, b = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    np.testing.assert_allclose(namespace["f"](x=a, y=b), a - (2 + 3j) * b)


def test_array_exponent_prints_and_generates_code() -> None:
    x = tc.var("x", (2,))
    e = x ** np.array([2.0, 3.0])
    assert str(e) == "x ** [2.0, 3.0]"
    namespace: dict = {}
    exec(tc.to_numpy(e), namespace)
    np.testing.assert_allclose(namespace["f"](x=np.array([-2.0, -2.0])), [4.0, -8.0])
