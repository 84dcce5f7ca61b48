"""compile: one callable for several expressions, shared intermediates evaluated once, a
program cached per shape signature (never per value)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc.errors import TensorcalcError
from tensorcalc.evaluation import compile, evaluate
from tensorcalc.ir import var
from tensorcalc.ops import functions as F
from tests.helpers import assert_array


@pytest.fixture
def vals(rng):
    return {"A": rng.standard_normal((4, 3)), "x": rng.standard_normal(3),
            "b": rng.standard_normal(4), "M": rng.standard_normal((3, 3)) + 3 * np.eye(3)}


def symbols():
    return var("A", ("m", "n")), var("x", ("n",)), var("b", ("m",)), var("M", ("n", "n"))


def test_compile_matches_evaluate_and_caches_per_shape(vals, rng) -> None:
    A, x, b, _ = symbols()
    r = A @ x - b
    f = F.sum(r ** 2)
    g = 2.0 * (A.T @ r)
    fn = compile([f, g, r])
    out = fn(**vals)
    for got, expr in zip(out, [f, g, r]):
        np.testing.assert_allclose(got, evaluate(expr, vals), rtol=1e-12)
    assert len(fn._programs) == 1
    fn(vals)  # same shapes: same program
    assert len(fn._programs) == 1
    other = {"A": rng.standard_normal((6, 2)), "x": rng.standard_normal(2), "b": rng.standard_normal(6)}
    np.testing.assert_allclose(fn(**other)[2], other["A"] @ other["x"] - other["b"], rtol=1e-12)
    assert len(fn._programs) == 2
    single = compile(f)
    assert isinstance(single(**vals), np.ndarray) and single(**vals).shape == ()
    with pytest.raises(TensorcalcError, match="'x'"):
        fn(A=vals["A"], b=vals["b"])


def test_compile_evaluates_shared_subexpressions_once(vals, monkeypatch) -> None:
    A, x, b, _ = symbols()
    calls = []
    original = F.Func.eval_node

    def counting(self, *args, sizes):
        calls.append(self.name)
        return original(self, *args, sizes=sizes)

    monkeypatch.setattr(F.Func, "eval_node", counting)
    r = A @ x - b
    fn = compile([F.sum(F.exp(r)), F.exp(r) * 2.0])  # exp(r) built twice, one node
    total, doubled = fn(**vals)
    assert calls == ["exp"]
    np.testing.assert_allclose(doubled, 2 * np.exp(vals["A"] @ vals["x"] - vals["b"]), rtol=1e-12)
    np.testing.assert_allclose(total, doubled.sum() / 2, rtol=1e-12)
    calls.clear()
    evaluate([F.exp(r), F.sum(F.exp(r))], vals)
    assert calls == ["exp"]


def test_compile_with_several_outputs_shares_intermediates(monkeypatch: pytest.MonkeyPatch) -> None:
    from tensorcalc.ops import Func

    calls: list[str] = []
    original = Func.eval_node

    def counted(self: Func, *args: Any, **kwargs: Any) -> np.ndarray:
        calls.append(self.name)
        return original(self, *args, **kwargs)

    x, A = tc.var("x", ("n",)), tc.var("A", ("m", "n"))
    h = tc.tanh(A @ x)
    f = tc.sum(h ** 2)
    outputs = [f, tc.grad(f, x), tc.hessian(f, x), h]
    fn = tc.compile(outputs)
    gen = np.random.default_rng(7)
    A0, x0 = gen.standard_normal((3, 4)), gen.uniform(0.5, 2.0, 4)
    monkeypatch.setattr(Func, "eval_node", counted)
    got = fn(A=A0, x=x0)
    assert calls.count("tanh") == 1  # one tanh node serves f, its gradient and its Hessian
    t = np.tanh(A0 @ x0)
    dt = 1 - t ** 2
    assert_array(got[0], np.sum(t ** 2), shape=(), rtol=1e-12)
    assert_array(got[1], A0.T @ (2 * t * dt), shape=(4,), rtol=1e-12)
    hess = A0.T @ np.diag(2 * dt ** 2 - 4 * t ** 2 * dt) @ A0
    assert_array(got[2], hess, shape=(4, 4), rtol=1e-10)
    assert_array(got[3], t, shape=(3,), rtol=1e-12)
    # another shape signature: a new program, same answers
    got2 = fn(A=A0[:2, :3], x=x0[:3])
    assert_array(got2[3], np.tanh(A0[:2, :3] @ x0[:3]), shape=(2,), rtol=1e-12)


def test_compile_keeps_complex_list_inputs() -> None:
    # regression: compile(x * x)(x=[1j, 2]) raised TypeError (forced a float conversion)
    x = tc.var("x", (2,))
    out = tc.compile(x * x)(x=[1j, 2])
    assert out.dtype == np.complex128
    np.testing.assert_allclose(out, [-1.0, 4.0])
    assert tc.compile(x * x)(x=[1, 2]).dtype == np.float64
