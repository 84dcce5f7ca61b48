"""The index-notation parser: tokens, a Pratt parser's precedence and associativity,
and errors that point at the column."""

from __future__ import annotations

import pytest

from tensorcalc.errors import TensorcalcError
from tensorcalc.notation import parse
from tensorcalc.notation.parser import BinOp, Call, Indexed, Name, Neg, Num, parse_tree, tokenize


def test_tokenize_numbers_names_and_operators():
    toks = tokenize("2.5e-3 A_1[i,j]**2 − x·y")
    assert [(t.kind, t.text) for t in toks] == [
        ("num", "2.5e-3"), ("name", "A_1"), ("op", "["), ("name", "i"), ("op", ","),
        ("name", "j"), ("op", "]"), ("op", "^"), ("num", "2"), ("op", "-"), ("name", "x"),
        ("op", "*"), ("name", "y"), ("end", "")]
    assert [t.col for t in toks][:3] == [0, 7, 10]


@pytest.mark.parametrize("text, tree", [
    ("-x^2", Neg(0, BinOp(2, "^", Name(1, "x"), Num(3, 2.0)))),
    ("2 x^2", BinOp(2, "*", Num(0, 2.0), BinOp(3, "^", Name(2, "x"), Num(4, 2.0)))),
    ("a^b^c", BinOp(1, "^", Name(0, "a"), BinOp(3, "^", Name(2, "b"), Name(4, "c")))),
    ("x^-1", BinOp(1, "^", Name(0, "x"), Neg(2, Num(3, 1.0)))),
    ("a - b - c", BinOp(6, "-", BinOp(2, "-", Name(0, "a"), Name(4, "b")), Name(8, "c"))),
    ("a / b c", BinOp(6, "*", BinOp(2, "/", Name(0, "a"), Name(4, "b")), Name(6, "c"))),
    ("x (y)", BinOp(2, "*", Name(0, "x"), Name(3, "y"))),
    ("exp (y)", Call(0, "exp", Name(5, "y"))),
])
def test_precedence_and_associativity(text, tree):
    assert parse_tree(text) == tree


def test_indexed_atom_keeps_labels():
    tree = parse_tree("A[mu, nu]")
    assert isinstance(tree, Indexed)
    assert tree.labels == ("mu", "nu") and tree.label_cols == (2, 6)


@pytest.mark.parametrize("text, column, fragment", [
    ("A[i,j] x[j] +", 13, "found end of input"),
    ("A[i,", 4, "expected an index label"),
    ("(a b", 4, "expected ')'"),
    ("a $ b", 2, "unexpected character '$'"),
    ("a b )", 4, "unexpected ')'"),
    ("", 0, "empty expression"),
    ("A[i] A[i,j]", 5, "indexed with 2 label(s) here but 1"),
    ("foo(x)", 0, "unknown function 'foo'"),
    ("A[i,j] + x[k]", 7, "same free labels"),
    ("2^x[i]", 2, "exponent must be a scalar"),
    ("tr(x[i])", 3, "needs a matrix"),
    ("A B", 0, "whole tensor"),
])
def test_errors_point_at_the_column(text, column, fragment):
    if text == "A B":
        text = "A B + A[i,j] B[j,k]"
    with pytest.raises(TensorcalcError) as info:
        parse(text)
    message = str(info.value)
    assert fragment in message
    lines = message.splitlines()
    assert lines[-2] == "  " + text
    assert lines[-1] == "  " + " " * column + "^"
    assert f"(column {column + 1})" in lines[0]


def test_parse_rejects_non_text():
    with pytest.raises(TypeError):
        parse(b"x")
