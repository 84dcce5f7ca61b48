"""Matrix notation: which einsums are matrix products (chains of M, Mᵀ, row, column,
diag), and their plain Unicode text."""

from __future__ import annotations

import pytest

from tensorcalc.display import matrix_chain, matrix_text
from tensorcalc.ir import einsum, var
from tensorcalc.ops import functions as F

A = var("A", ("m", "n"))
B = var("B", ("n", "p"))
x = var("x", ("n",))
b = var("b", ("m",))
X = var("X", ("n", "n"))
r = einsum("ij,j->i", A, x) - b


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


def test_matrix_text_is_plain_unicode():
    assert matrix_text(2 * einsum("ji,j->i", A, r)) == "2 Aᵀ (A x - b)"
    assert matrix_text(F.inv(X).T) == "X⁻ᵀ"
    assert matrix_text(einsum("ijk->k", var("T", (2, 2, 2)))) is None
