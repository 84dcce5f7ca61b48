"""Malformed input raises TensorcalcError (a ValueError), or TypeError for wrong types.

Every message must name what is wrong: the label, the operand, the text. Absurd sizes must
be refused before any allocation, never crash the interpreter or surface as MemoryError.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tensorcalc as tc
from tests.helpers import examples, repeats_an_output_label

A23 = np.ones((2, 3))
X3 = np.ones(3)


# (id, call, expected error class(es), regex the message must match)
CORPUS = {
    # --- the text itself
    "invalid char digit": (lambda: tc.einsum("ij,j1->i", A23, np.ones((3, 1))), tc.TensorcalcError, "'1'"),
    "invalid char symbol": (lambda: tc.einsum("i*j", A23), tc.TensorcalcError, r"'\*'"),
    "invalid char unicode": (lambda: tc.einsum("iβ", A23), tc.TensorcalcError, "'β'"),
    "stray minus": (lambda: tc.einsum("i-j", A23), tc.TensorcalcError, "'-'"),
    "stray greater": (lambda: tc.einsum("ij>ji", A23), tc.TensorcalcError, "'>'"),
    "arrow twice": (lambda: tc.einsum("ij->ji->ij", A23), tc.TensorcalcError, "'->'"),
    "single dot": (lambda: tc.einsum("i.j", A23), tc.TensorcalcError, r"'\.'"),
    "two dots": (lambda: tc.einsum("..ij", A23), tc.TensorcalcError, r"'\.'"),
    "dot in output": (lambda: tc.einsum("i->.i", X3), tc.TensorcalcError, r"'\.'"),
    "ellipsis twice": (lambda: tc.einsum("...i...", A23), tc.TensorcalcError, r"'\.\.\.'"),
    "ellipsis twice in output": (lambda: tc.einsum("...i->......i", A23), tc.TensorcalcError, r"'\.\.\.'"),
    "output label absent": (lambda: tc.einsum("ij->ik", A23), tc.TensorcalcError, "'k'"),
    "uppercase output absent": (lambda: tc.einsum("i->I", X3), tc.TensorcalcError, "'I'"),
    "subscripts not text": (lambda: tc.einsum(None, A23), (TypeError, tc.TensorcalcError),
                            "None|subscripts|sublist"),
    # --- operand count and rank
    "too few operands": (lambda: tc.einsum("ij,jk->ik", A23), tc.TensorcalcError, "2 operand"),
    "too many operands": (lambda: tc.einsum("ij->ij", A23, A23), tc.TensorcalcError, "1 operand"),
    "empty term too many": (lambda: tc.einsum(",", X3), tc.TensorcalcError, "2 operand"),
    "rank too high": (lambda: tc.einsum("ijk", A23), tc.TensorcalcError, "operand 0"),
    "rank too low": (lambda: tc.einsum("i,ij", A23, A23), tc.TensorcalcError, "operand 0"),
    "rank with ellipsis": (lambda: tc.einsum("...ijk", A23), tc.TensorcalcError, "operand 0"),
    "no subscripts": (lambda: tc.einsum(), tc.TensorcalcError, "subscripts"),
    "only subscripts": (lambda: tc.einsum("ij"), tc.TensorcalcError, "operand"),
    # --- sizes
    "size mismatch": (lambda: tc.einsum("ij,jk", A23, np.ones((4, 5))), tc.TensorcalcError, "'j'"),
    "size mismatch names operands": (lambda: tc.einsum("ij,jk", A23, np.ones((4, 5))),
                                     tc.TensorcalcError, "operand 1"),
    "diagonal unequal": (lambda: tc.einsum("ii", A23), tc.TensorcalcError, "'i'"),
    "diagonal unequal 3": (lambda: tc.einsum("iji", np.ones((2, 2, 3))), tc.TensorcalcError, "'i'"),
    "ellipsis size mismatch": (lambda: tc.einsum("...i,...i", np.ones((2, 3)), np.ones((4, 3))),
                               tc.TensorcalcError, r"\.\.\."),
    "ellipsis summed away": (lambda: tc.einsum("...i->i", A23), tc.TensorcalcError, r"\.\.\."),
    "sizes contradict operand": (lambda: tc.einsum("i->ij", X3, sizes={"i": 4, "j": 2}),
                                 tc.TensorcalcError, "'i'"),
    "negative size": (lambda: tc.einsum("i->ij", X3, sizes={"j": -1}), tc.TensorcalcError, "-1"),
    "size key not a label": (lambda: tc.einsum("i->ij", X3, sizes={"j": 2, "?": 1}),
                             tc.TensorcalcError, r"'\?'"),
    "size not an int": (lambda: tc.einsum("i->ij", X3, sizes={"j": "2x"}), TypeError, "2x"),
    # --- absurd sizes: refused up front with a clean error
    "huge broadcast label": (lambda: tc.einsum("i->ij", X3, sizes={"j": 2**62}), tc.TensorcalcError, "i->ij"),
    "huge bytes": (lambda: tc.einsum("->j", np.float64(1), sizes={"j": 2**61}), tc.TensorcalcError, "->j"),
    "huge bytes complex": (lambda: tc.einsum("->j", np.complex128(1), sizes={"j": 2**60}),
                           tc.TensorcalcError, "->j"),
    "output volume overflow": (lambda: tc.einsum("i->ijk", X3, sizes={"j": 2**40, "k": 2**40}),
                               tc.TensorcalcError, "i->ijk"),
    "product overflows int64": (lambda: tc.einsum("->ij", np.float64(1), sizes={"i": 2**31, "j": 2**31}),
                                tc.TensorcalcError, "->ij"),
    "size beyond int64": (lambda: tc.einsum("i->ij", X3, sizes={"j": 2**70}), tc.TensorcalcError, "'j'|i->ij"),
    # --- operand types
    "dict operand": (lambda: tc.einsum("->", {"a": 1}), TypeError, "operand 0"),
    "dict operand ranked": (lambda: tc.einsum("i,i", X3, {"a": 1}), TypeError, "operand 1"),
    "string operand": (lambda: tc.einsum("", "abc"), TypeError, "operand 0"),
    "string array operand": (lambda: tc.einsum("i", np.array(["a", "b"])), TypeError, "operand 0"),
    "None operand": (lambda: tc.einsum("", None), TypeError, "operand 0"),
    "ragged operand": (lambda: tc.einsum("i", [[1, 2], [3]]), TypeError, "operand 0"),
    # --- sublist form
    "sublist out of range": (lambda: tc.einsum(X3, [52]), tc.TensorcalcError, "52"),
    "sublist negative": (lambda: tc.einsum(X3, [-1]), tc.TensorcalcError, "-1"),
    "sublist float": (lambda: tc.einsum(X3, [1.5]), (TypeError, tc.TensorcalcError), "1.5"),
    "sublist letter": (lambda: tc.einsum(X3, ["a"]), (TypeError, tc.TensorcalcError), "'a'"),
    "sublist bool": (lambda: tc.einsum(X3, [True]), (TypeError, tc.TensorcalcError), "True"),
    "sublist not a list": (lambda: tc.einsum(X3, 0), TypeError, "operand 0"),
    "sublist two ellipses": (lambda: tc.einsum(A23, [Ellipsis, 0, Ellipsis]), tc.TensorcalcError, r"\.\.\."),
    "sublist rank": (lambda: tc.einsum(A23, [0]), tc.TensorcalcError, "operand 0"),
    "sublist output bad": (lambda: tc.einsum(X3, [0], [7]), tc.TensorcalcError, "'?[Hh]'?|7|output"),
    "sublist odd pairing": (lambda: tc.einsum(X3, [0], X3), (TypeError, tc.TensorcalcError), "output"),
    # --- optimize and out
    "optimize unknown name": (lambda: tc.einsum("i,i", X3, X3, optimize="bogus"),
                              tc.TensorcalcError, "bogus"),
    "optimize wrong type": (lambda: tc.einsum("i,i", X3, X3, optimize=42), TypeError, "42|optimize"),
    "path step out of range": (lambda: tc.einsum("i,i", X3, X3, optimize=[(0, 5)]), tc.TensorcalcError, "5"),
    "path incomplete": (lambda: tc.einsum("i,i,i", X3, X3, X3, optimize=[(0, 1)]), tc.TensorcalcError, "path"),
    "path numpy form incomplete": (lambda: tc.einsum("i,i,i", X3, X3, X3, optimize=["einsum_path", (0, 1)]),
                                   tc.TensorcalcError, "path"),
    "out wrong shape": (lambda: tc.einsum("ij->ji", A23, out=np.empty((2, 3))), tc.TensorcalcError, r"\(3, 2\)|shape"),
    "out not an array": (lambda: tc.einsum("ij->ji", A23, out=[[0.0] * 2] * 3), TypeError, "out"),
    "out unsafe cast": (lambda: tc.einsum("i->i", X3, out=np.empty(3, np.int64)), TypeError, "int64|float64"),
}


@pytest.mark.parametrize("name", list(CORPUS))
def test_malformed_input(name: str) -> None:
    call, error, match = CORPUS[name]
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("name", list(CORPUS))
def test_error_classes_are_value_or_type_errors(name: str) -> None:
    call, _, _ = CORPUS[name]
    with pytest.raises((tc.TensorcalcError, TypeError)):
        call()


def test_tensorcalc_error_is_a_value_error() -> None:
    assert issubclass(tc.TensorcalcError, ValueError)


def test_error_points_at_the_column() -> None:
    with pytest.raises(tc.TensorcalcError) as info:
        tc.einsum("ij,j%->i", A23, np.ones((3, 1)))
    lines = str(info.value).splitlines()
    # The quoted text and a caret under the offending character.
    caret_line = next(line for line in lines if line.strip() == "^")
    text_line = lines[lines.index(caret_line) - 1]
    assert text_line[caret_line.index("^")] == "%"


# Texts numpy refuses; tensorcalc must refuse them too rather than guess a meaning.
NUMPY_REFUSES = [
    ("i - > i", [X3]),       # '->' split by whitespace
    (". . .i", [X3]),        # '...' split by whitespace
    ("...i->i", [np.ones((1, 3))]),  # ellipsis dims summed away without '...' in the output
    ("i,i", [X3, np.ones(4)]),
    ("ij,ij->ij", [np.ones((2, 3)), np.ones((3, 2))]),
]


@pytest.mark.parametrize("text, ops", NUMPY_REFUSES, ids=[t for t, _ in NUMPY_REFUSES])
def test_what_numpy_refuses_is_refused(text: str, ops: list) -> None:
    with pytest.raises((ValueError, TypeError)):
        np.einsum(text, *ops)
    with pytest.raises((tc.TensorcalcError, TypeError)):
        tc.einsum(text, *ops)


def test_contract_path_and_expression_validate_too() -> None:
    with pytest.raises(tc.TensorcalcError, match="'1'"):
        tc.contract_path("i1", (3,))
    with pytest.raises(tc.TensorcalcError, match="operand 0"):
        tc.contract_expression("ijk", (2, 3))
    with pytest.raises(tc.TensorcalcError, match="i->ij"):
        tc.contract_expression("i->ij", (3,), sizes={"j": 2**62})


def test_absurd_sizes_do_not_crash_the_interpreter() -> None:
    # A separate process: a crash in compiled code must show up as a failed test, not kill pytest.
    script = textwrap.dedent(
        """
        import numpy as np, tensorcalc as tc
        cases = [
            ("i->ij", [np.ones(3)], {"j": 2**62}),
            ("->j", [np.float64(1)], {"j": 2**61}),
            ("->ij", [np.float64(1)], {"i": 2**31, "j": 2**31}),
            ("i->iij", [np.ones(3)], {"j": 2**62}),
            ("ij,jk->ikl", [np.ones((2, 3)), np.ones((3, 2))], {"l": 2**62}),
            ("->iii", [np.float64(1)], {"i": 2**21 + 1}),
        ]
        for text, ops, sizes in cases:
            try:
                tc.einsum(text, *ops, sizes=sizes)
            except (tc.TensorcalcError, TypeError):
                pass
            except BaseException as err:
                print("UNCLEAN", text, type(err).__name__, err)
        print("DONE")
        """
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(tc.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "UNCLEAN" not in proc.stdout, proc.stdout
    assert proc.stdout.strip().endswith("DONE")


def test_big_but_possible_size_is_not_an_error_in_parsing() -> None:
    # Refusing must be about real overflow, not a low arbitrary cap.
    r = tc.einsum("i->ij", np.ones(2), sizes={"j": 100_000})
    assert r.shape == (2, 100_000)


@given(
    st.text(alphabet="ijkI.,-> ", max_size=12),
    st.lists(st.lists(st.integers(1, 3), max_size=3), min_size=1, max_size=3),
)
@examples(150)
def test_arbitrary_text_never_escapes_as_another_error(text: str, shapes: list) -> None:
    # Whatever the text, the outcome is numpy's result or one of the two documented errors.
    ops = [np.ones(s) for s in shapes]
    try:
        expected = np.einsum(text, *ops, optimize=False)
    except (ValueError, TypeError):
        if repeats_an_output_label(text):
            return
        with pytest.raises((tc.TensorcalcError, TypeError)):
            tc.einsum(text, *ops)
        return
    actual = tc.einsum(text, *ops)
    np.testing.assert_array_equal(actual, expected)
    assert np.shape(actual) == np.shape(expected)
