"""``str(expr)``: one line of einsum text, display labels, ``where`` blocks naming shared
subexpressions (tensorcalc.display.text and .format)."""

from __future__ import annotations

import pytest

from tensorcalc.display import display_spec, to_latex
from tensorcalc.ir import einsum, var
from tensorcalc.ops import functions as F
from tests.helpers import rearranged_example, reduced_example

A = var("A", ("m", "n"))
B = var("B", ("n", "p"))
x = var("x", ("n",))
b = var("b", ("m",))
X = var("X", ("n", "n"))
r = einsum("ij,j->i", A, x) - b


def test_display_labels_are_deterministic():
    assert display_spec(["ab", "a"], "b") == (["ji", "j"], "i")
    assert display_spec(["xy", "yz"], "xz") == (["ik", "kj"], "ij")


@pytest.mark.parametrize("expr, text", [
    (einsum("ij,j->i", A, x), 'einsum("ij,j->i", A, x)'),
    (r, 'einsum("ij,j->i", A, x) - b'),
    (2 * einsum("ji,j->i", A, r), '2 * einsum("ji,j->i", A, einsum("ij,j->i", A, x) - b)'),
    (-r, '-(einsum("ij,j->i", A, x) - b)'),
    (3 * x - 2 * einsum("ji,j->i", A, b), '3 * x - 2 * einsum("ji,j->i", A, b)'),
    (3 * x - 2 * x, "x"),  # user-built expressions print simplified: like terms collected
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
    assert str(rearranged_example()) == '2 * reshape(einsum("ikjl->ijkl", reshape(T, (2, 3, 2, 2))), (4, 3, 2))'
    assert str(reduced_example("max")) == "max(T, axis=(1,))"
    assert str(reduced_example("prod")) == "prod(T, axis=(1,))"
    # no index notation for a reshape: LaTeX falls back to the einsum text
    assert to_latex(reduced_example("max")) == r"\text{max(T, axis=(1,))}"


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
