"""A derivative that is a constant (the Jacobian of a linear map: ``2 I`` for ``2 x``, ``-I``
for ``1 - x``) takes the precision of the arrays bound in the call for the variables it was
derived from: float32 in, float32 out, complex64 for complex64, in ``evaluate`` and
``compile`` alike; with no array bound it stays float64."""

from __future__ import annotations

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc.ir import Const

X = tc.var("x", (3,))
S = tc.var("S", (3, 3), symmetric=True)
VALUES = {"x": np.array([0.25, -0.5, 2.0]), "S": np.eye(3)}

CONSTANT_DERIVATIVES = {
    "jacobian of 2x": lambda: tc.jacobian(2.0 * X, X),
    "jacobian of 1 - x": lambda: tc.jacobian(1.0 - X, X),
    "forward jacobian of 3x": lambda: tc.jacfwd(3.0 * X, X),
    "gradient of sum x": lambda: tc.grad(tc.sum(X), X),
    "hessian of x.x": lambda: tc.hessian(tc.einsum("i,i->", X, X), X),
    "gradient of sum S (symmetric)": lambda: tc.grad(tc.sum(S), S),
    "gradient of sum x**0": lambda: tc.grad(tc.sum(X ** 0), X, allow_unused=True),
    "x - x": lambda: 2.0 * X - 2.0 * X,
}


def _both(e, arrays):
    return tc.evaluate(e, arrays), tc.compile(e)(arrays)


@pytest.mark.parametrize("name", list(CONSTANT_DERIVATIVES))
@pytest.mark.parametrize("dtype", [np.float32, np.complex64, np.float64, np.complex128])
def test_constant_derivatives_take_the_precision_of_the_bound_arrays(name, dtype) -> None:
    derivative = CONSTANT_DERIVATIVES[name]()
    reference = tc.evaluate(derivative, VALUES)  # float64 inputs: the float64 value
    assert reference.dtype == np.float64
    arrays = {k: v.astype(dtype) for k, v in VALUES.items()}
    for value in _both(derivative, arrays):
        assert value.dtype == dtype, name
        np.testing.assert_array_equal(value, reference.astype(dtype))


def test_mixed_precisions_promote_as_numpy_does() -> None:
    # the constant meets every array the call binds for its sources: float32 and complex64
    # give complex64, float32 and float64 give float64
    A, x = tc.var("A", (2, 2)), tc.var("x", (2,))
    jac = tc.jacobian(tc.einsum("ij->i", A) + 2.0 * x, x)
    x32 = np.ones(2, np.float32)
    for a, expected in ((np.ones((2, 2), np.complex64), np.complex64),
                        (np.ones((2, 2), np.float64), np.float64),
                        (np.ones((2, 2), np.float32), np.float32),
                        (np.ones((2, 2), int), np.float64)):  # ints are bound as float64
        for value in _both(jac, {"A": a, "x": x32}):
            assert value.dtype == expected


def test_without_bound_arrays_a_constant_stays_float64() -> None:
    jac = tc.jacobian(2.0 * X, X)
    for value in _both(jac, {}):
        assert value.dtype == np.float64
    # arrays given for names the derivative does not come from change nothing
    for value in _both(jac, {"y": np.ones(3, np.float32)}):
        assert value.dtype == np.float64
    only_numbers = tc.einsum("->i", Const(2.0), sizes={"i": 3}) + 1.0
    for value in _both(only_numbers, {"x": np.ones(3, np.float32)}):
        assert value.dtype == np.float64


def test_array_constants_stay_strong() -> None:
    # an array written into the expression is data, not a number: its float64 wins, as in numpy
    jac = tc.jacobian(tc.einsum("ij,j->i", Const(np.eye(3)), X), X)
    for value in _both(jac, {"x": np.ones(3, np.float32)}):
        assert value.dtype == np.float64


def test_constant_outputs_beside_other_outputs_in_one_compiled_call() -> None:
    fn = tc.compile([tc.jacobian(2.0 * X, X), X * 3.0, tc.grad(tc.sum(X * X), X)])
    outs = fn(x=np.ones(3, np.float32))
    assert [o.dtype for o in outs] == [np.float32] * 3
    outs = fn(x=np.ones(3))  # another signature of the same callable
    assert [o.dtype for o in outs] == [np.float64] * 3
