"""The gradient oracle itself (tensorcalc.testing): small for right derivatives, large for
wrong ones, at every order, for scalars, vectors, gradients and symmetric variables."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc.errors import TensorcalcError
from tensorcalc.ir import var
from tensorcalc.ops import functions as F
from tensorcalc.ops import table as primitives
from tensorcalc.testing import check_grad, check_grads


def test_check_grad_detects_wrong_rule(rng, monkeypatch) -> None:
    x = var("x", (4,))
    f = F.sum(F.sin(x) * x)
    x0 = rng.standard_normal(4)
    assert check_grad(f, x, x=x0) < 1e-7
    assert check_grad(F.sin(x) * x, "x", {"x": x0}) < 1e-7  # non-scalar: projected VJP
    wrong = dataclasses.replace(primitives.ELEMENTWISE["sin"], derivative=lambda f, n, a, y: f.sin(a))
    monkeypatch.setitem(primitives.ELEMENTWISE, "sin", wrong)
    assert check_grad(F.sum(F.sin(x) * 2.0), x, x=x0) > 1e-2


def test_check_grads_names_the_order_that_is_wrong(rng, monkeypatch) -> None:
    # sin' = cos is right; with a wrong rule for cos only the second derivative of sin is off
    x = var("x", (3,))
    x0 = rng.standard_normal(3)
    check_grads(F.sum(F.sin(x)), x, 3, x=x0)
    wrong = dataclasses.replace(primitives.ELEMENTWISE["cos"], derivative=lambda f, n, a, y: f.sin(a))
    monkeypatch.setitem(primitives.ELEMENTWISE, "cos", wrong)
    check_grads(F.sum(F.sin(x)), x, 1, x=x0)
    with pytest.raises(AssertionError, match="order-2 derivative of 'x'"):
        check_grads(F.sum(F.sin(x)), x, 2, x=x0)


def test_check_grad_symmetric(rng) -> None:
    S = var("S", (3, 3), symmetric=True)
    f = F.logdet(S)
    s0 = rng.standard_normal((3, 3))
    s0 = s0 @ s0.T + 3 * np.eye(3)
    assert check_grad(f, S, S=s0) < 1e-6


def test_check_grad_large_for_wrong_derivative() -> None:
    """relu at its kink: any one-sided rule (0 or 1) disagrees with the central difference,
    which sees the average slope 1/2; away from the kink the check is exact."""
    x = tc.var("x", (3,))
    f = tc.sum(tc.relu(x))
    error_kink = tc.check_grad(f, x, x=np.zeros(3))
    error_smooth = tc.check_grad(f, x, x=np.array([0.25, 0.5, -0.5]))
    assert isinstance(float(error_kink), float)
    assert float(error_smooth) < 1e-7
    assert float(error_kink) > 1e-2
    assert float(error_kink) > 1e4 * float(error_smooth)


def test_check_grad_of_vector_valued_and_of_a_gradient() -> None:
    """Non-scalar expressions check their Jacobian (so second derivatives can be checked)."""
    A, x = tc.var("A", (4, 3)), tc.var("x", (3,))
    y = tc.tanh(A @ x)
    f = tc.sum(y ** 2)
    gen = np.random.default_rng(42)
    values = {"A": gen.standard_normal((4, 3)), "x": gen.standard_normal(3)}
    assert float(tc.check_grad(y, x, **values)) < 1e-6
    assert float(tc.check_grad(tc.grad(f, x), x, **values)) < 1e-6
    assert float(tc.check_grad(f, A, **values)) < 1e-6


def test_check_grad_large_for_sign_jump() -> None:
    """sign jumps by 2 at 0: its derivative rule says 0, central differences say 1/step."""
    x = tc.var("x", (2,))
    f = tc.sum(tc.sign(x))
    error = tc.check_grad(f, x, x=np.array([0.0, 1.0]))
    assert float(error) > 1e3


def test_oracle_errors() -> None:
    x = tc.var("x", (2,))
    with pytest.raises(TensorcalcError, match="no array given for 'x'"):
        check_grad(tc.sum(x * x), x, y=np.ones(2))
    with pytest.raises(TensorcalcError, match="order must be a positive int"):
        check_grads(tc.sum(x * x), x, 0, x=np.ones(2))
