"""Derivatives a textbook would print: the simplest form, with softmax, log_softmax, softplus,
σ and ‖·‖ named, in ``str``, matrix text, LaTeX and ``--explain``; user-built expressions
print simplified."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import tensorcalc as tc
from tensorcalc.display import index_text, matrix_text

z, y = tc.var("z", (3,)), tc.var("y", (3,))
X, w = tc.var("X", ("m", "n")), tc.var("w", ("n",))
CE = -tc.sum(y * tc.log(tc.softmax(z)))
LOGISTIC = tc.parse("sum(log(1 + exp(-(y[i] X[i,j] w[j])[i])))")


def test_cross_entropy_and_its_gradient() -> None:
    assert str(CE) == '-einsum("i,i->", y, log_softmax(z))'
    assert matrix_text(CE) == "-yᵀ log_softmax(z)"
    g = tc.grad(CE, z)
    assert matrix_text(g) == "(𝟏ᵀy) softmax(z) - y"
    assert tc.to_latex(g, notation="matrix") == \
        r"\left(\mathbf{1}^\top y\right) \operatorname{softmax}(z) - y"
    assert "t2 = t1 ** -1" not in str(g) and "** -1" not in str(g)


def test_logistic_loss_gradient_and_hessian() -> None:
    # operands in the canonical (structural) order: variables by name, not creation order
    assert str(LOGISTIC) == 'einsum("i->", softplus(-einsum("ij,j,i->i", X, w, y)))'
    g = tc.grad(LOGISTIC, "w")
    assert matrix_text(g) == "-Xᵀ (y ⊙ σ(-diag(y) X w))"
    H = tc.hessian(LOGISTIC, "w")
    assert matrix_text(H) == "Xᵀ diag(y ⊙ y ⊙ σ(-diag(y) X w) ⊙ (1 - σ(-diag(y) X w))) X"
    assert "sigmoid" in str(H) and "** -" not in str(H) and "exp" not in str(H)


def test_norm_gradients() -> None:
    x = tc.var("x", (3,))
    assert str(tc.grad(tc.norm2(x) ** 2, x)) == "2 * x"
    assert str(tc.grad(tc.norm2(x), x)) == "x / norm2(x)"
    assert matrix_text(tc.grad(tc.norm2(x), x)) == "x/‖x‖"
    assert tc.to_latex(tc.grad(tc.norm2(x), x), notation="matrix") == \
        r"\frac{x}{\left\lVert x \right\rVert}"
    assert matrix_text(tc.norm2(x) ** 2) == "‖x‖²"
    assert matrix_text(tc.sqrt(tc.sum(x ** 2))) == "‖x‖"


def test_log_abs_det_and_x_squared_log_x_squared() -> None:
    M = tc.var("M", (3, 3))
    assert matrix_text(tc.grad(tc.log(tc.abs(tc.det(M))), M)) == "M⁻ᵀ"
    x = tc.var("x", (3,))
    g = tc.grad(tc.sum(x ** 2 * tc.log(x ** 2)), x)
    assert str(g) == "2 * (x * (log(x ** 2) + 1))"
    assert matrix_text(g) == "2 x ⊙ (log(x²) + 1)"


def test_softmax_jacobian_is_diag_p_minus_p_p_transposed() -> None:
    J = tc.jacobian(tc.softmax(z), z)
    assert str(J) == 'einsum("i->ii", t1) - einsum("i,j->ij", t1, t1)\nwhere\n  t1 = softmax(z)'
    assert matrix_text(J) == "diag(softmax(z)) - softmax(z) softmax(z)ᵀ"
    assert matrix_text(J, shared_names=True) == "diag(t1) - t1 t1ᵀ"
    assert matrix_text(tc.hessian(tc.logsumexp(z), z)) == "diag(softmax(z)) - softmax(z) softmax(z)ᵀ"


def test_matrix_forms_of_common_results() -> None:
    G = tc.var("G", ("m", "k"))
    W, b = tc.var("W", ("n", "k")), tc.var("b", ("k",))
    L = tc.sum(G * (X @ W + b))
    assert matrix_text(tc.grad(L, b)) == "𝟏ᵀG"                    # 𝟙ᵀG, the bias gradient
    assert matrix_text(tc.grad(L, W)) == "Xᵀ G"
    g = tc.var("g", ("m",))
    assert matrix_text(tc.grad(tc.sum(g * tc.sigmoid(X @ w)), w)) == \
        "Xᵀ (g ⊙ σ(X w) ⊙ (1 - σ(X w)))"                          # Xᵀ(G ⊙ σ′)
    d = tc.var("d", ("m",))
    assert matrix_text(tc.einsum("ki,k,kj->ij", X, d, X)) == "Xᵀ diag(d) X"


def test_user_built_expressions_print_simplified() -> None:
    A = tc.var("A", (3, 3))
    S = tc.var("S", (3, 3), symmetric=True)
    v = tc.var("v", (3,))
    assert matrix_text(A @ v + A @ v) == "2 A v"
    assert matrix_text(S @ v + S.T @ v) == "2 S v"
    assert matrix_text(tc.sum(v * 2 * 3)) == "6 𝟏ᵀv"
    assert str(tc.exp(z - tc.logsumexp(z))) == "softmax(z)"
    assert str(tc.log(1 + tc.exp(z))) == "softplus(z)"
    assert index_text(A @ v + A @ v) == "2 A_ij v_j"


def test_positive_term_first() -> None:
    assert str(-y + z) == "z - y"
    assert matrix_text(tc.softmax(z) - y) == "softmax(z) - y"


def test_explain_shows_the_named_functions_and_the_textbook_result() -> None:
    text = tc.explain("-sum(y[i] log(softmax(z[i])))", "z")
    assert "r_i = softmax(z)_i" in text
    assert "∂softmax(z)_i/∂z_k = softmax(z)_i (δ_ik - softmax(z)_k)" in text
    assert text.splitlines()[-1] == "  matrix form: (𝟏ᵀy) softmax(z) - y"
    text = tc.explain("norm2(x[i])", "x", kind="hessian")
    assert "∂‖x‖/∂x_i = (x/‖x‖)_i" in text
    assert "matrix form: x/‖x‖" in text
    text = tc.explain("sum(log(1 + exp(-(y[i] X[i,j] w[j])[i])))", "w", kind="hessian")
    assert "  matrix form: -Xᵀ (y ⊙ σ(-diag(y) X w))" in text
    assert text.splitlines()[-1].startswith("  matrix form: Xᵀ diag(y ⊙ y ⊙ σ(-diag(y) X w)")


def test_command_line_explain_prints_the_textbook_form() -> None:
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root), PYTHONIOENCODING="utf-8")
    proc = subprocess.run([sys.executable, "-m", "tensorcalc.cli", "diff",
                           "-sum(y[i] log(softmax(z[i])))", "--wrt", "z", "--explain"],
                          capture_output=True, text=True, env=env, cwd=str(root), timeout=120,
                          encoding="utf-8")
    assert proc.returncode == 0, proc.stderr
    assert "matrix form: (𝟏ᵀy) softmax(z) - y" in proc.stdout
    assert "nan" not in proc.stdout


@pytest.mark.parametrize("expr", [CE, LOGISTIC, tc.grad(CE, z), tc.hessian(LOGISTIC, "w")])
def test_every_printer_writes_the_named_functions(expr) -> None:
    for text in (str(expr), matrix_text(expr) or "", tc.to_latex(expr), tc.to_latex(expr, notation="matrix")):
        assert "exp(z - " not in text and "logsumexp" not in text
    assert "log(1 + exp" not in str(expr)
