"""Evaluation: binding arrays to variables, 0-d tensors, and the errors a wrong binding
raises (TensorcalcError naming the variable or dimension)."""

from __future__ import annotations

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc.errors import TensorcalcError
from tensorcalc.evaluation import compile, evaluate
from tensorcalc.ir import var
from tensorcalc.ops import functions as F


@pytest.fixture
def vals(rng):
    return {"A": rng.standard_normal((4, 3)), "x": rng.standard_normal(3),
            "b": rng.standard_normal(4), "M": rng.standard_normal((3, 3)) + 3 * np.eye(3)}


def symbols():
    return var("A", ("m", "n")), var("x", ("n",)), var("b", ("m",)), var("M", ("n", "n"))


def test_zero_dim_tensors() -> None:
    s, t = var("s", ()), var("t", ())
    e = s * t + F.exp(s) - 2.0
    got = evaluate(e, {"s": 0.5, "t": np.array(3.0)})
    assert isinstance(got, np.ndarray) and got.shape == ()
    np.testing.assert_allclose(got, 1.5 + np.exp(0.5) - 2.0)


def test_evaluation_errors(vals) -> None:
    A, x, b, _ = symbols()
    r = A @ x - b
    with pytest.raises(TensorcalcError, match="'n'"):
        r.evaluate(A=vals["A"], x=np.ones(5), b=vals["b"])
    with pytest.raises(TensorcalcError, match="no array given for variable 'b'"):
        r.evaluate(A=vals["A"], x=vals["x"])
    with pytest.raises(TensorcalcError, match="axes"):
        r.evaluate(A=vals["A"], x=vals["x"][None], b=vals["b"])
    with pytest.raises(TensorcalcError, match="size 3"):
        var("z", (3,)).evaluate(z=np.ones(4))
    with pytest.raises(TensorcalcError, match="out of bounds"):
        var("z", (3,))[3]
    with pytest.raises(TensorcalcError, match="named size"):
        x[1:2]
    with pytest.raises(TypeError):
        x[1.0]
    with pytest.raises(TypeError):
        x + "a"


def test_error_missing_variable_at_evaluation() -> None:
    x, y = tc.var("x", (2,)), tc.var("y", (2,))
    with pytest.raises(tc.TensorcalcError, match="'?y'?"):
        tc.grad(tc.sum(x * y), x).evaluate(x=np.ones(2))


def test_error_wrong_shape_at_evaluation() -> None:
    x = tc.var("x", (3,))
    with pytest.raises(tc.TensorcalcError, match="x"):
        tc.sum(x * x).evaluate(x=np.ones(4))


def test_variables_may_use_the_names_of_evaluate_arguments() -> None:
    arrays, expr = var("arrays", (2,)), var("expr", (2,))
    e = arrays * expr
    np.testing.assert_allclose(e.evaluate(arrays=np.ones(2), expr=np.full(2, 3.0)), [3.0, 3.0])
    np.testing.assert_allclose(evaluate(e, arrays=np.ones(2), expr=np.full(2, 2.0)), [2.0, 2.0])
    np.testing.assert_allclose(compile(e)(arrays=np.ones(2), expr=np.ones(2)), [1.0, 1.0])
