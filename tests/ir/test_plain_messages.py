"""Error messages show sizes as the user wrote them ('n', 3), never internal objects
(``SymbolicSize(1, ('n',))``), stand-in sizes the parser saw for named dims, or ``None``
for a missing operand number."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tensorcalc as tc

INTERNAL = re.compile(r"SymbolicSize|operand None|stood in|Var\(|Einsum\(")


def _message(fn) -> str:
    with pytest.raises((tc.TensorcalcError, tc.RearrangeError)) as info:
        fn()
    text = str(info.value)
    assert not INTERNAL.search(text), text
    return text


def test_einsum_size_conflict_between_named_dims() -> None:
    A, B = tc.var("A", (3, "n")), tc.var("B", ("m", 2))
    text = _message(lambda: tc.einsum("ij,jk->ik", A, B))
    assert text == ("label 'j' has size 'n' in operand 0 but 'm' in operand 1 "
                    "(subscripts 'ij,jk->ik', shapes [(3, 'n'), ('m', 2)])")


def test_einsum_rank_error_shows_the_symbolic_shapes() -> None:
    A, B = tc.var("A", (3, "n")), tc.var("B", ("m", 2))
    text = _message(lambda: tc.einsum("ijk,jk->ik", A, B))
    assert "term 'ijk' names 3" in text and "[(3, 'n'), ('m', 2)]" in text
    assert not re.search(r"\(3, [4-9]\)", text)  # no stand-in int for 'n'


def test_einsum_size_conflict_between_ints_keeps_the_numbers() -> None:
    A = tc.var("A", ("n", 3))
    text = _message(lambda: tc.einsum("ij,jk->ik", A, tc.var("B", (4, 2))))
    assert "label 'j' has size 3 in operand 0 but 4 in operand 1" in text
    assert "[('n', 3), (4, 2)]" in text


def test_negative_output_size() -> None:
    text = _message(lambda: tc.einsum("i->ij", np.ones(3), sizes={"j": -1}))
    assert text == "size -1 of label 'j' is negative"


@pytest.mark.parametrize("call", [
    lambda x: tc.rearrange(x, "(a b) -> a b", a=4),
    lambda x: tc.rearrange(x, "a b -> a b"),
    lambda x: tc.reduce(tc.var("X", ("n", "m")), "(a b) c -> a c", "sum", a=2),
])
def test_einops_errors_show_named_sizes(call) -> None:
    text = _message(lambda: call(tc.var("x", ("n",))))
    assert "('n'" in text
