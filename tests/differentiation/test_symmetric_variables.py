"""Symmetric variables: only symmetric directions exist, so gradients are symmetric (the
oracle probes symmetric directions too)."""

from __future__ import annotations

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc.differentiation import grad
from tensorcalc.errors import TensorcalcError
from tensorcalc.evaluation import evaluate
from tensorcalc.ir import Einsum, einsum, var
from tensorcalc.ops import functions as F
from tensorcalc.testing import check_grads
from tests.helpers import assert_array


def test_symmetric_variable_gradients(rng) -> None:
    x = var("x", ("n",))
    S = var("S", ("n", "n"), symmetric=True)
    f = einsum("i,ij,j->", x, S, x)
    g = grad(f, x)
    assert isinstance(g, Einsum) and g.scale == 2.0 and len(g.children) == 2
    s0 = rng.standard_normal((3, 3))
    s0 = s0 + s0.T
    x0 = rng.standard_normal(3)
    np.testing.assert_allclose(evaluate(g, {"x": x0, "S": s0}), 2 * s0 @ x0, rtol=1e-12)
    M = var("M", ("n", "n"))
    gS = grad(F.sum(S * M), S)
    m0 = rng.standard_normal((3, 3))
    np.testing.assert_allclose(evaluate(gS, {"S": s0, "M": m0}), (m0 + m0.T) / 2, rtol=1e-12)
    with pytest.raises(TensorcalcError, match="square"):
        var("T", (2, 3), symmetric=True)


def test_gradient_wrt_symmetric_variable_is_symmetric() -> None:
    """f(S) = a^T tanh(S) b: for symmetric S only symmetric directions exist, so the gradient
    is symmetric and its inner product with any symmetric direction is the directional
    derivative (what the oracle checks, along symmetric directions)."""
    a, b, S = tc.var("a", (3,)), tc.var("b", (3,)), tc.var("S", (3, 3), symmetric=True)
    f = tc.einsum("i,ij,j->", a, tc.tanh(S), b)
    gen = np.random.default_rng(33)
    M = gen.standard_normal((3, 3))
    values = {"a": gen.standard_normal(3), "b": gen.standard_normal(3), "S": M + M.T}
    assert_array(f.evaluate(**values), values["a"] @ np.tanh(values["S"]) @ values["b"], shape=(),
                 rtol=1e-12)
    g = tc.grad(f, S).evaluate(**values)
    assert_array(g, g.T, shape=(3, 3), rtol=1e-12, atol=1e-14)
    check_grads(f, S, 2, values)
