"""Builders of the IR: variables, operators and their shapes (numpy broadcasting and
matmul rules, named dimensions), einsum terms in every call form."""

from __future__ import annotations

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc.errors import TensorcalcError
from tensorcalc.ir import Einsum, einsum, var
from tests.helpers import assert_array


def symbols():
    return var("A", ("m", "n")), var("x", ("n",)), var("b", ("m",)), var("M", ("n", "n"))


def test_var_shapes_and_errors() -> None:
    assert var("x", 3).shape == (3,)
    assert var("s").shape == ()
    assert var("A", ("m", 2)).shape == ("m", 2)
    with pytest.raises(TypeError):
        var("x", (1.5,))
    with pytest.raises(TypeError):
        var("", (2,))
    with pytest.raises(TypeError):
        var(3, (2,))
    with pytest.raises(TypeError):
        var("x", (-1,))


def test_operator_shapes_follow_numpy_broadcasting() -> None:
    A, x, b, M = symbols()
    assert (A @ x).shape == ("m",)
    assert (A.T).shape == ("n", "m")
    assert (A * x).shape == ("m", "n")
    assert (x + 1.0).shape == ("n",)
    assert (var("p", (2, 1)) - var("q", (1, 5))).shape == (2, 5)
    assert (M @ M @ x).shape == ("n",)
    assert (x @ x).shape == ()
    with pytest.raises(TensorcalcError, match="broadcast"):
        A + b
    with pytest.raises(TensorcalcError, match="align"):
        x @ A


def test_einsum_builder_forms() -> None:
    A, x, b, M = symbols()
    assert einsum("ij,j", A, x).shape == ("m",)
    assert einsum("ii->", M).shape == ()
    assert einsum("i->ij", b, sizes={"j": "k"}).shape == ("m", "k")
    e = einsum("...ij,...jk->...ik", var("P", (1, 2, 3)), var("Q", (5, 3, 4)))
    assert e.shape == (5, 2, 4)
    with pytest.raises(TensorcalcError):
        einsum("ij,jk->ik", A, b)


def test_truth_value_is_an_error() -> None:
    with pytest.raises(TypeError):
        bool(var("x", ()))


def test_numpy_array_on_the_left_defers_to_expressions() -> None:
    x = var("x", (2,))
    e = np.array([1.0, 2.0]) * x
    assert isinstance(e, Einsum)
    e2 = np.array([1.0, 2.0]) @ (x * 1.0)
    assert e2.shape == ()


def test_symbolic_einsum_call_forms() -> None:
    """Implicit output, the interleaved (sublist) form and numpy operands mixed with symbols."""
    x = tc.var("x", (3,))
    A0 = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 4.0]])
    x0 = np.array([0.5, -1.0, 2.0])
    forms = [tc.einsum("ij,j", A0, x), tc.einsum(A0, [0, 1], x, [1], [0]), tc.einsum("ij,j->i", A0, x)]
    for y in forms:
        assert_array(y.evaluate(x=x0), A0 @ x0, shape=(2,), rtol=1e-12)
        assert_array(tc.jacobian(y, x).evaluate(x=x0), A0, shape=(2, 3), rtol=0, atol=1e-15)
