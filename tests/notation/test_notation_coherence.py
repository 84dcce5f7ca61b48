"""Index notation: broadcasting sums, function names that are not variables, and nesting
deep enough to exhaust the stack is an error, never a RecursionError."""

from __future__ import annotations

import numpy as np
import pytest

import tensorcalc as tc

X = np.arange(6.0).reshape(3, 2)
W = np.arange(8.0).reshape(2, 4) / 3
b = np.array([1.0, -1.0, 2.0, 0.5])


def test_affine_layer_broadcasts_the_bias() -> None:
    y = tc.parse("X[n,d] W[d,m] + b[m]")
    assert y.shape == ("n", "m")
    np.testing.assert_allclose(y.evaluate(X=X, W=W, b=b), X @ W + b)
    # the smaller side first: the larger side's labels, in its order
    y = tc.parse("b[m] - X[n,d] W[d,m]")
    assert y.shape == ("n", "m")
    np.testing.assert_allclose(y.evaluate(X=X, W=W, b=b), b - X @ W)
    # broadcast along the other axis
    c = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(tc.parse("X[n,d] W[d,m] + c[n]").evaluate(X=X, W=W, c=c),
                               X @ W + c[:, None])


def test_broadcast_sum_differentiates() -> None:
    L = tc.parse("sum((X[n,d] W[d,m] + b[m])^2)")
    g = tc.grad(L, "b")
    np.testing.assert_allclose(g.evaluate(X=X, W=W, b=b), 2 * (X @ W + b).sum(axis=0))


def test_labels_that_are_not_a_subset_are_still_an_error() -> None:
    with pytest.raises(tc.TensorcalcError, match="same free labels") as info:
        tc.parse("A[i,j] + x[k]")
    assert info.value.args[0].splitlines()[-1] == "  " + " " * 7 + "^"


@pytest.mark.parametrize("text, column", [
    ("sum x[i]", 0), ("exp[i]", 0), ("2 log", 2), ("x[i] + tanh[i]", 7),
])
def test_a_function_name_used_as_a_variable_points_at_it(text: str, column: int) -> None:
    with pytest.raises(tc.TensorcalcError) as info:
        tc.parse(text)
    lines = str(info.value).splitlines()
    assert "is a function" in lines[0] and f"(column {column + 1})" in lines[0]
    assert lines[-1] == "  " + " " * column + "^"


@pytest.mark.parametrize("text", [
    "(" * 500 + "x" + ")" * 500,
    "(" * 10000 + "x" + ")" * 10000,
    "-" * 3000 + "x",
    "x" + "^x" * 3000,
    "sum(" * 400 + "x[i]" + ")" * 400,
])
def test_deep_nesting_is_a_one_line_error(text: str) -> None:
    with pytest.raises(tc.TensorcalcError) as info:
        tc.parse(text)
    assert len(str(info.value).splitlines()) == 1
    assert "levels deep" in str(info.value)


def test_long_flat_chains_parse() -> None:
    total = tc.parse(" + ".join(["x[i]"] * 3000))
    assert total.shape == ("i",)
    product = tc.parse(" ".join(["a"] * 3000))
    assert product.shape == ()
