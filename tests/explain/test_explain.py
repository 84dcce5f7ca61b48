"""Step-by-step derivations: gradient specs and expression derivatives in index notation,
each ending at the spec or form the library computes."""

from __future__ import annotations

import re

import pytest

from tensorcalc.contraction import grad_subscripts
from tensorcalc.errors import TensorcalcError
from tensorcalc.explain import explain_diff, explain_grad_subscripts
from tensorcalc.notation import parse
from tests.helpers import SEED_GRAD_SPECS

# the seed table without '...' (explanations name every label)
SEED_GRADS = [row for row in SEED_GRAD_SPECS if "..." not in row[0]]


@pytest.mark.parametrize("subscripts, wrt, spec", SEED_GRADS)
def test_explained_gradient_reaches_the_seed_spec(subscripts, wrt, spec):
    text = explain_grad_subscripts(subscripts, wrt)
    assert f'einsum: "{spec}"' in text  # the spec itself: tests/contraction/test_grad_subscripts.py


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


@pytest.mark.parametrize("subscripts", [
    "i,i->i", "ij,ij->", "ij,jk,k->i", "ij,jk", "i,i", "ii", "iij->j", "i->ii", "ij->ji",
    "abc,cd->abd", "i,j->ij", "ii,i->i", "ij,jk,kl->il", "ik,jk->"])
def test_every_explained_gradient_matches_grad_subscripts(subscripts):
    n = len(subscripts.split("->")[0].split(","))
    for k in range(n):
        text = explain_grad_subscripts(subscripts, k)
        assert re.search(r'einsum: "([^"]*)"', text).group(1) == grad_subscripts(subscripts, k)
