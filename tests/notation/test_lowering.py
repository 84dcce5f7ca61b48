"""Lowering index notation to the IR: shapes named after labels, Einstein summation, kept
labels, values against numpy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tensorcalc.errors import TensorcalcError
from tensorcalc.ir import variables
from tensorcalc.notation import parse
from tensorcalc.notation.lowering import infer_shapes
from tensorcalc.notation.parser import parse_tree


def shapes_of(expr) -> dict:
    return {v.name: v.shape for v in variables(expr)}


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_shapes_are_named_after_labels():
    assert infer_shapes(parse_tree("sum((A[i,j] x[j] - b[i])^2)"), "") == {
        "A": ("i", "j"), "x": ("j",), "b": ("i",)}


def test_labels_meeting_on_an_axis_are_one_dimension():
    assert infer_shapes(parse_tree("X[i,j] X[j,k]"), "") == {"X": ("i", "i")}
    assert infer_shapes(parse_tree("tr(A[i,j] B[j,k])"), "") == {"A": ("i", "j"), "B": ("j", "i")}


def test_bare_names_are_scalars_or_square_matrices():
    assert infer_shapes(parse_tree("logdet(X) + c"), "") == {"X": ("n", "n"), "c": ()}
    assert infer_shapes(parse_tree("sum(exp(A)) + A[i,j] A[i,j]"), "") == {"A": ("i", "j")}


# ----------------------------------------------------------------------------- values

@pytest.fixture
def data(rng):
    return {"A": rng.normal(size=(4, 3)), "x": rng.normal(size=3), "b": rng.normal(size=4),
            "W": rng.normal(size=(4, 3)), "X": rng.normal(size=(3, 3)) + 3 * np.eye(3),
            "y": rng.normal(size=3), "c": np.float64(1.5)}


def test_least_squares_value(data):
    f = parse("sum((A[i,j] x[j] - b[i])^2)")
    assert f.shape == ()
    A, x, b = data["A"], data["x"], data["b"]
    assert np.allclose(f.evaluate(data), np.sum((A @ x - b) ** 2))


def test_sigmoid_layer_value_and_shape(data):
    h = parse("sigmoid(W[i,j] x[j] + b[i])")
    assert h.shape == ("i",)
    assert shapes_of(h) == {"W": ("i", "j"), "b": ("i",), "x": ("j",)}
    out = h.evaluate(data)
    assert out.shape == (4,) and out.dtype == np.float64
    assert np.allclose(out, sigmoid(data["W"] @ data["x"] + data["b"]))


@pytest.mark.parametrize("text, expected", [
    ("tr(X)", lambda d: np.trace(d["X"])),
    ("X[i,i]", lambda d: np.trace(d["X"])),
    ("logdet(X)", lambda d: np.linalg.slogdet(d["X"])[1]),
    ("det(X)", lambda d: np.linalg.det(d["X"])),
    ("inv(X[i,j]) y[j]", lambda d: np.linalg.solve(d["X"], d["y"])),
    ("x[i] X[i,j] y[j]", lambda d: d["x"] @ d["X"] @ d["y"]),
    ("X[j,i]", lambda d: d["X"]),  # axes in order of first appearance: X itself
    ("X[j,k] A[i,j]", lambda d: (d["A"] @ d["X"]).T),  # free labels (k, i)
    ("A[i,j] + A[i,j]", lambda d: 2 * d["A"]),
    ("X[i,j] - X[j,i]", lambda d: d["X"] - d["X"].T),
    ("x[i] / y[i]", lambda d: np.sum(d["x"] / d["y"])),
    ("2 x[i] * 3", lambda d: 6 * d["x"]),
    ("x[i] / 4 - 1", lambda d: d["x"] / 4 - 1),
    ("-x[i]^2", lambda d: -d["x"] ** 2),
    ("c^2 + 2^c", lambda d: d["c"] ** 2 + 2 ** d["c"]),
    ("sum(exp(x[i]) x[i])", lambda d: np.sum(np.exp(d["x"]) * d["x"])),
    ("mean(A[i,j])", lambda d: np.mean(d["A"])),
    ("norm2(x[i])", lambda d: np.linalg.norm(d["x"])),
    ("logsumexp(x[i])", lambda d: np.log(np.sum(np.exp(d["x"])))),
    ("softmax(x[i])", lambda d: np.exp(d["x"]) / np.sum(np.exp(d["x"]))),
    ("X[i,j] X[j,k] X[k,i]", lambda d: np.trace(d["X"] @ d["X"] @ d["X"])),
    ("A[i,j] y[j] x[j]", lambda d: d["A"] @ (d["y"] * d["x"])),  # a label three times is summed
    ("tanh(x[i]) − relu(y[i]) · 2", lambda d: np.tanh(d["x"]) - 2 * np.maximum(d["y"], 0)),
    ("3", lambda d: 3.0),
    ("diag(X)", lambda d: np.diag(d["X"])),
    ("diag(A[i,j] W[k,j]) + b[i]", lambda d: np.diag(d["A"] @ d["W"].T) + d["b"]),
    ("heaviside(x[i]) x[i]", lambda d: np.sum(np.maximum(d["x"], 0))),
])
def test_values(text, expected, data):
    got = parse(text).evaluate(data)
    assert np.asarray(got).dtype == np.float64
    assert np.allclose(got, expected(data)), text


def test_kept_labels_override_einstein_summation(data):
    # logistic regression: y_i (X w)_i keeps i, which Einstein's rule alone would sum
    f = parse("sum(log(1 + exp(-(y[i] X[i,j] x[j])[i])))")
    y, X, x = data["y"], data["X"], data["x"]
    assert f.shape == ()
    assert np.allclose(f.evaluate(data), np.sum(np.log1p(np.exp(-y * (X @ x)))))
    hadamard = parse("(x[i] y[i])[i]")
    assert hadamard.shape == ("i",)
    assert np.allclose(hadamard.evaluate(data), x * y)
    outer_t = parse("(x[i] y[j])[j,i]")
    assert np.allclose(outer_t.evaluate(data), np.outer(y, x))
    swapped = parse("(X[i,j] + X[j,i] + A[k,i] A[k,j])[j,i]")
    assert swapped.shape == ("i", "i")
    A = data["A"]
    assert np.allclose(swapped.evaluate(data), (X + X.T + A.T @ A).T)


@pytest.mark.parametrize("text, column, fragment", [
    ("(x[i] y[i])[j]", 12, "kept label 'j' does not occur"),
    ("(x[i] y[i])[i,i]", 14, "label 'i' is repeated"),
    ("(X[i,j] + X[j,i])[i]", 0, "must list the free labels"),
])
def test_kept_label_errors(text, column, fragment):
    with pytest.raises(TensorcalcError) as info:
        parse(text)
    assert fragment in str(info.value)
    assert str(info.value).splitlines()[-1] == "  " + " " * column + "^"


def test_einstein_sum_over_repeated_labels_makes_a_scalar():
    f = parse("x[i] y[i]")
    assert f.shape == ()


@settings(max_examples=30, deadline=None)
@given(coef=st.integers(-5, 5), power=st.integers(1, 3), n=st.integers(1, 4))
def test_polynomials_match_numpy(coef, power, n):
    rng = np.random.default_rng(n)
    x = rng.normal(size=n)
    f = parse(f"sum({coef} x[i]^{power} + x[i])")
    assert np.allclose(f.evaluate(x=x), np.sum(coef * x ** power + x))
