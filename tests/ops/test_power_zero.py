"""``x ** 0`` is ones of ``x``'s shape that keep ``x`` attached: its named dimensions bind at
evaluation, ``compile`` runs it, and its derivative by ``x`` is zero (not "no variable x")."""

from __future__ import annotations

import numpy as np

import tensorcalc as tc
from tensorcalc.ir import WithDims


def test_sum_of_x_to_the_zero_binds_the_named_dimension() -> None:
    x = tc.var("x", ("n",))
    e = tc.sum(x ** 0)
    assert float(e.evaluate(x=np.ones(4))) == 4.0
    assert float(tc.compile(e)(x=np.ones(6))) == 6.0
    assert isinstance(x ** 0, WithDims)
    assert str(x ** 0) == "1"


def test_its_derivative_is_zero() -> None:
    x = tc.var("x", ("n",))
    e = tc.sum(x ** 0)
    g = tc.grad(e, "x")
    np.testing.assert_array_equal(g.evaluate(x=np.arange(3.0)), np.zeros(3))
    h = tc.sum(x ** 0 * x)  # d/dx sum(x) = 1
    np.testing.assert_array_equal(tc.grad(h, x).evaluate(x=np.arange(3.0)), np.ones(3))


def test_of_an_expression_and_of_a_constant() -> None:
    A, v = tc.var("A", ("m", "n")), tc.var("v", ("n",))
    e = tc.sum((A @ v) ** 0)
    assert float(e.evaluate(A=np.ones((5, 2)), v=np.ones(2))) == 5.0
    assert not isinstance(tc.ir.Const(2.0) ** 0, WithDims)
    assert float(tc.pow(np.float64(3.0), 0)) == 1.0
