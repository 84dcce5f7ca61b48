"""Derivatives stay finite and exact where a naive formula overflows: large arguments."""

from __future__ import annotations

import numpy as np
from scipy import special

import tensorcalc as tc
from tests.helpers import assert_array


def test_softplus_and_sigmoid_are_stable_at_large_arguments() -> None:
    x = tc.var("x", (4,))
    x0 = np.array([-800.0, -30.0, 30.0, 800.0])
    f = tc.sum(tc.softplus(x) + tc.sigmoid(x))
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        value = f.evaluate(x=x0)
        g = tc.grad(f, x).evaluate(x=x0)
    sig = special.expit(x0)
    assert_array(value, np.sum(np.logaddexp(0.0, x0) + sig), shape=(), rtol=1e-12)
    assert_array(g, sig + sig * (1.0 - sig), shape=(4,), rtol=1e-12, atol=1e-300)


def test_logsumexp_is_stable_for_large_inputs() -> None:
    x = tc.var("x", (3,))
    x0 = np.array([1000.0, 1001.0, 999.0])
    f = tc.logsumexp(x)
    assert_array(f.evaluate(x=x0), special.logsumexp(x0), shape=(), rtol=1e-14)
    assert_array(tc.grad(f, x).evaluate(x=x0), special.softmax(x0), rtol=1e-10, atol=1e-12)
