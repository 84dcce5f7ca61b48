"""Numbers in expressions are weak, as Python numbers are to numpy (NEP 50): they take the
precision of the arrays they meet, in ``evaluate`` and in ``compile`` alike."""

from __future__ import annotations

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc.ir import Const

X32 = np.array([0.25, 0.5, 2.0], np.float32)


def _both(e, **arrays):
    return tc.evaluate(e, arrays), tc.compile(e)(arrays)


@pytest.mark.parametrize("build,numpy_fn", [
    (lambda x: 1.0 - x, lambda x: 1.0 - x),
    (lambda x: 2.0 + x * 3.0, lambda x: 2.0 + x * 3.0),
    (lambda x: 1.0 / (1.0 + tc.exp(-x)), lambda x: 1.0 / (1.0 + np.exp(-x))),
    (lambda x: tc.stack([x[0], 1.0]), lambda x: np.stack([x[0], np.float32(1.0)])),
    (lambda x: tc.einsum("i,->i", x, Const(2.0)), lambda x: x * 2.0),
    (lambda x: 1j - x, lambda x: 1j - x),
    (lambda x: x + np.ones(3), lambda x: x + np.ones(3)),  # an array constant is strong
    (lambda x: x + np.float64(1.0), lambda x: x + 1.0),  # a 0-d constant is a number
])
def test_numbers_take_the_precision_of_the_arrays(build, numpy_fn) -> None:
    x = tc.var("x", (3,))
    expected = numpy_fn(X32)
    for value in _both(build(x), x=X32):
        assert value.dtype == expected.dtype
        np.testing.assert_allclose(value, expected, rtol=1e-6)


def test_float64_inputs_and_constant_results_are_unchanged() -> None:
    x = tc.var("x", (3,))
    for value in _both(1.0 - x, x=X32.astype(np.float64)):
        assert value.dtype == np.float64
    only_numbers = tc.einsum("->i", Const(2.0), sizes={"i": 3}) + 1.0
    assert tc.evaluate(only_numbers).dtype == np.float64  # nothing to take a precision from


def test_derivative_formulas_keep_float32() -> None:
    x = tc.var("x", (3,))
    for f in (tc.tanh(x), tc.sigmoid(x), tc.tan(x), tc.log1p(x), tc.sqrt(x)):
        for derivative in (tc.grad(tc.sum(f), x), tc.hessian(tc.sum(f), x)):
            for value in _both(derivative, x=X32):
                assert value.dtype == np.float32
