"""dask inputs route the same way from ``tc.evaluate``, ``expr.evaluate`` and ``tc.compile``:
the fused per-chunk plan along a batch dimension (named by ``batch=`` or found from the
chunking), else the generic dask backend's pairwise contractions; outputs of numbers only take
the call's precision on both; numpy inputs never leave the fast path."""

from __future__ import annotations

import sys

import numpy as np
import pytest

da = pytest.importorskip("dask.array", reason="dask is not installed")
dask = pytest.importorskip("dask")

import tensorcalc as tc  # noqa: E402
from tests.helpers import record_operand_counts  # noqa: E402
import tensorcalc.evaluation.compile  # noqa: E402

compile_module = sys.modules["tensorcalc.evaluation.compile"]

ROWS, COLS = 240, 4


def _keys(outs, prefix: str) -> set:
    outs = outs if isinstance(outs, list) else [outs]
    keys = {k for o in outs for k in dict(o.__dask_graph__())}
    return {k for k in keys if (k[0] if isinstance(k, tuple) else k).startswith(prefix)}


def _problem():
    X, y, w = tc.var("X", ("N", "d")), tc.var("y", ("N",)), tc.var("w", ("d",))
    f = tc.sum(tc.softplus(X @ w) - y * (X @ w))
    return [tc.grad(f, w), tc.hessian(f, w)]


@pytest.fixture
def data(rng):
    return {"X": rng.standard_normal((ROWS, COLS)), "y": (rng.random(ROWS) > 0.5) * 1.0,
            "w": rng.standard_normal(COLS) * 0.3}


def _lazy(data, chunks=(60, COLS)):
    return dict(data, X=da.from_array(data["X"], chunks=chunks), y=da.from_array(data["y"], chunks=chunks[0]))


def test_evaluate_builds_the_same_fused_graph_as_compile(data):
    exprs = _problem()
    want = tc.compile(exprs)(data)
    compiled = tc.compile(exprs)(_lazy(data))
    evaluated = tc.evaluate(exprs, _lazy(data))
    method = exprs[0].evaluate(_lazy(data), batch="N")
    assert _keys(compiled, "tc-stage0-") and _keys(evaluated, "tc-stage0-") and _keys(method, "tc-stage0-")
    # the same plan, the same keys: one fused task per chunk of 60 rows
    assert _keys(evaluated, "tc-") == _keys(compiled, "tc-")
    assert len(_keys(evaluated, "tc-stage0-")) == ROWS // 60
    for got, w in zip(dask.compute(*evaluated, scheduler="sync"), want):
        np.testing.assert_allclose(got, w, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(method.compute(scheduler="sync"), want[0], rtol=1e-10)


def test_batch_keyword_names_the_dimension_the_chunking_leaves_open(data):
    exprs = _problem()
    square = _lazy(data, chunks=(ROWS // 2, COLS // 2))  # 2 chunks of rows, 2 of columns: a tie
    assert not _keys(tc.compile(exprs)(square), "tc-stage0-")  # no batch found: pairwise
    named = tc.compile(exprs, batch="N")(square)
    assert _keys(named, "tc-stage0-") and _keys(tc.evaluate(exprs, square, batch="N"), "tc-stage0-")
    for got, w in zip(dask.compute(*named, scheduler="sync"), tc.compile(exprs)(data)):
        np.testing.assert_allclose(got, w, rtol=1e-10, atol=1e-10)
    with pytest.raises(tc.TensorcalcError, match=r"batch='rows' is not a named dimension.*\['N', 'd'\]"):
        tc.compile(exprs, batch="rows")


@pytest.mark.parametrize("chunks", [(60, COLS), (ROWS, COLS)], ids=["fused", "pairwise"])
def test_numbers_only_outputs_take_the_call_precision(data, chunks):
    X, w = tc.var("X", ("N", "d")), tc.var("w", ("d",))
    exprs = [tc.grad(tc.sum(X @ w), w), tc.hessian(tc.sum(X @ w), w),  # zeros, carrying N and d
             tc.hessian(2.0 * tc.sum(w * w), w), tc.grad(tc.sum(X), X),  # constants
             tc.grad(tc.sum(w * 2.0), w)]
    fn = tc.compile(exprs)
    small = {"X": data["X"].astype(np.float32), "w": data["w"].astype(np.float32)}
    want = fn(small)
    outs = fn(X=da.from_array(small["X"], chunks=chunks), w=small["w"])
    assert bool(_keys(outs, "tc-stage0-")) == (chunks[0] < ROWS)
    got = dask.compute(*outs, scheduler="sync")
    assert [o.dtype for o in outs] == [g.dtype for g in got] == [a.dtype for a in want] == [np.float32] * 5
    for g, a in zip(got, want):
        np.testing.assert_allclose(g, a, rtol=1e-6)


def test_the_fallback_contracts_pairwise_on_the_generic_dask_backend(rng, monkeypatch):
    operands = record_operand_counts(monkeypatch, da)
    A, B, C, D = (tc.var(n, ("n", "n")) for n in "ABCD")
    expr = tc.einsum("ij,jk,kl,lm->im", A, B, C, D)
    mats = {n: rng.standard_normal((20, 20)) / 4 for n in "ABCD"}
    got = tc.evaluate(expr, {n: da.from_array(m, chunks=10) for n, m in mats.items()})
    np.testing.assert_allclose(got.compute(scheduler="sync"), tc.evaluate(expr, mats), rtol=1e-10)
    assert len(operands) >= 3 and max(operands) <= 2  # three pairwise steps, never one of four


def test_numpy_inputs_never_ask_for_a_backend(data, monkeypatch):
    fn = tc.compile(_problem())
    want = fn(data)

    def refuse(*args, **kwargs):
        raise AssertionError("the numpy fast path looked up a backend")

    monkeypatch.setattr(compile_module, "backend_of", refuse)
    for got, w in zip(fn(data), want):
        np.testing.assert_array_equal(got, w)
    with pytest.raises(AssertionError, match="fast path"):  # anything else does
        fn(dict(data, w=list(data["w"])))
