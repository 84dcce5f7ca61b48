"""Named dimensions: sizes bound per evaluation, names meeting ints, names bound through
simplification, derivatives and compilation. Derivatives: closed forms and the oracle."""

from __future__ import annotations

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc.errors import TensorcalcError
from tensorcalc.evaluation import evaluate
from tensorcalc.ir import var
from tensorcalc.ops import functions as F
from tests.helpers import assert_array, oracle_hessian

GEN = np.random.default_rng(20261125)


@pytest.fixture
def vals(rng):
    return {"A": rng.standard_normal((4, 3)), "x": rng.standard_normal(3), "b": rng.standard_normal(4)}


def symbols():
    return var("A", ("m", "n")), var("x", ("n",)), var("b", ("m",))


def test_named_dimensions_bind_at_evaluation(vals) -> None:
    A, x, b = symbols()
    r = A @ x - b
    np.testing.assert_allclose(r.evaluate(**vals), vals["A"] @ vals["x"] - vals["b"])
    np.testing.assert_allclose(r.evaluate(vals), vals["A"] @ vals["x"] - vals["b"])
    np.testing.assert_allclose(evaluate(F.mean(A, axis=0), vals), vals["A"].mean(0))
    small = {"A": np.ones((2, 5)), "x": np.ones(5), "b": np.ones(2)}
    np.testing.assert_allclose(r.evaluate(**small), [4.0, 4.0])


def test_named_dimension_meets_int_dimension(rng) -> None:
    x = var("x", ("n",))
    c = np.arange(3.0)
    e = x * c + c
    assert e.shape == (3,)
    np.testing.assert_allclose(evaluate(e, {"x": np.ones(3)}), 2 * c)
    with pytest.raises(TensorcalcError, match="size 4"):
        evaluate(e, {"x": np.ones(4)})


def test_named_dimensions_bind_per_evaluation() -> None:
    """One symbolic gradient serves every size of the named dimension."""
    x, A = tc.var("x", ("n",)), tc.var("A", ("m", "n"))
    f = tc.sum(tc.tanh(A @ x) ** 2)
    g, H = tc.grad(f, x), tc.hessian(f, x)
    for m, n in ((2, 3), (4, 5)):
        gen = np.random.default_rng(m * n)
        values = {"A": gen.standard_normal((m, n)), "x": gen.standard_normal(n)}
        t = np.tanh(values["A"] @ values["x"])
        assert_array(f.evaluate(**values), np.sum(t ** 2), shape=(), rtol=1e-12)
        assert_array(g.evaluate(**values), values["A"].T @ (2 * t * (1 - t ** 2)), shape=(n,),
                     rtol=1e-10, atol=1e-12)
        assert_array(H.evaluate(**values), oracle_hessian(f, x, values), shape=(n, n),
                     rtol=1e-9, atol=1e-10)


def test_mean_over_named_dimension_differentiates_with_its_size() -> None:
    """mean over a named axis divides by a size known only at evaluation."""
    X = tc.var("X", ("m", "n"))
    f = tc.mean(tc.sin(X)) + tc.sum(tc.mean(X, axis=1) ** 2)
    g, H = tc.grad(f, X), tc.hessian(f, X)
    for m, n in ((2, 3), (3, 5)):
        X0 = np.random.default_rng(m + n).standard_normal((m, n))
        value = np.mean(np.sin(X0)) + np.sum(X0.mean(axis=1) ** 2)
        assert_array(f.evaluate(X=X0), value, shape=(), rtol=1e-12)
        expected = np.cos(X0) / (m * n) + 2.0 * X0.mean(axis=1, keepdims=True) / n * np.ones((m, n))
        assert_array(g.evaluate(X=X0), expected, shape=(m, n), rtol=1e-12, atol=1e-14)
        assert_array(H.evaluate(X=X0), oracle_hessian(f, X, {"X": X0}), shape=(m, n, m, n),
                     rtol=1e-9, atol=1e-10)


def test_named_dimension_broadcast_against_int_survives_simplify() -> None:
    # regression: simplify(x + c) with x: (n,), c: (3,) raised "cannot add shapes ('n',) and (3,)"
    # (so did grad, hessian and compile of anything containing it)
    x, c = tc.var("x", ("n",)), tc.var("c", (3,))
    P, M = tc.var("P", (2, "k")), tc.var("M", ("m", 3))
    x0, c0 = GEN.standard_normal(3), GEN.standard_normal(3)
    P0, M0 = GEN.standard_normal((2, 3)), GEN.standard_normal((2, 3))
    env = dict(x=x0, c=c0, P=P0, M=M0)
    assert tc.simplify(x + c).shape == (3,)
    assert_array(tc.simplify(x + c).evaluate(env), x0 + c0, shape=(3,))
    assert_array(tc.grad(tc.sum((x + c) ** 2), x).evaluate(env), 2 * (x0 + c0), shape=(3,))
    assert_array(tc.grad(tc.sum((x - c) ** 2), c).evaluate(env), -2 * (x0 - c0), shape=(3,))
    assert_array(tc.grad(tc.sum((P + M) ** 2), P).evaluate(env), 2 * (P0 + M0), shape=(2, 3))
    H = tc.hessian(tc.sum((P + M) ** 3), M).evaluate(env)
    assert_array(H, np.einsum("ij,ik,jl->ijkl", 6 * (P0 + M0), np.eye(2), np.eye(3)), shape=(2, 3, 2, 3))
    assert_array(tc.compile(tc.grad(tc.sum((x + c) ** 2), x))(env), 2 * (x0 + c0), shape=(3,))


def test_cotangents_of_a_named_variable_through_pinned_and_plain_paths_add_up() -> None:
    # regression: grad(sum((y + x)**2) + sum(sin(x)), x) with x: (n,), y: (3,) raised
    # "cannot add shapes" -- one path gives a (3,) cotangent, the other an (n,) one
    x, y = tc.var("x", ("n",)), tc.var("y", (3,))
    x0, y0 = np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0, 2.0])
    f = tc.sum((y + x) ** 2) + tc.sum(tc.sin(x))
    assert_array(tc.grad(f, x).evaluate(x=x0, y=y0), 2 * (x0 + y0) + np.cos(x0), shape=(3,))
    H = tc.hessian(f, x).evaluate(x=x0, y=y0)
    assert_array(H, np.diag(2 - np.sin(x0)), shape=(3, 3))
    with pytest.raises(TensorcalcError, match="dimension 'n' has size 1"):  # no silent stretch
        (x + y + tc.sin(x)).evaluate(x=np.ones(1), y=y0)


def test_named_dimension_contracted_against_int() -> None:
    # regression: M @ x with M: (m, 3), x: (n,) raised "do not align"; einsum did too
    M, x = tc.var("M", ("m", 3)), tc.var("x", ("n",))
    M0, x0 = GEN.standard_normal((2, 3)), GEN.standard_normal(3)
    for y in (M @ x, tc.einsum("ij,j->i", M, x)):
        assert y.shape == ("m",)
        assert_array(y.evaluate(M=M0, x=x0), M0 @ x0, shape=(2,))
        assert_array(tc.grad(tc.sum(y ** 2), x).evaluate(M=M0, x=x0), 2 * M0.T @ (M0 @ x0), shape=(3,))
    with pytest.raises(TensorcalcError, match="align"):
        x @ tc.var("A", ("m", "k"))  # two different names still do not match


def test_named_dimension_bound_against_int_is_checked_at_evaluation() -> None:
    # regression: evaluate(x + c) with x bound to 4 entries raised numpy's ValueError
    x, c, M = tc.var("x", ("n",)), tc.var("c", (3,)), tc.var("M", (2, 3))
    arrays = dict(x=np.ones(4), c=np.ones(3), M=np.ones((2, 3)))
    for run in (lambda e: e.evaluate(arrays), lambda e: tc.compile(e)(arrays)):
        for e in (x + c, x * c, tc.stack([x, c])):
            with pytest.raises(TensorcalcError, match="dimension 'n' has size 4"):
                run(e)
        with pytest.raises(TensorcalcError, match="size 4"):
            run(M @ x)


def test_index_out_of_range_of_named_dimension_is_a_library_error() -> None:
    # regression: x[5] with x: (n,) bound to 3 entries raised numpy's IndexError
    x = tc.var("x", ("n", 2))
    with pytest.raises(TensorcalcError, match="index 5 is out of bounds"):
        x[5, ::-1].evaluate(x=np.ones((3, 2)))
    with pytest.raises(TensorcalcError, match="out of bounds"):
        tc.grad(tc.sum(x[5] * x[0]), x).evaluate(x=np.ones((3, 2)))
