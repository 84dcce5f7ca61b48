"""LaTeX: matrix notation where the expression allows it, index notation otherwise."""

from __future__ import annotations

import pytest

from tensorcalc.differentiation import grad, hessian, jacobian
from tensorcalc.display import to_latex
from tensorcalc.ir import einsum, var
from tensorcalc.notation import parse
from tensorcalc.ops import functions as F

A = var("A", ("m", "n"))
B = var("B", ("n", "p"))
x = var("x", ("n",))
b = var("b", ("m",))
X = var("X", ("n", "n"))
r = einsum("ij,j->i", A, x) - b


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
