"""``tc.compile`` on dask arrays chunked along a batch dimension (``evaluation/chunked.py``).

Every result is checked against the same compiled function on the numpy arrays; the graph's
shape is checked too: one fused task per chunk and stage, a tree reduction, parameters as one
key, and the pairwise fallback (never a many-operand ``dask.array.einsum``).
"""

from __future__ import annotations

import numpy as np
import pytest

da = pytest.importorskip("dask.array", reason="dask is not installed")
dask = pytest.importorskip("dask")

import tensorcalc as tc  # noqa: E402
from tests.helpers import record_operand_counts  # noqa: E402
from tensorcalc.errors import TensorcalcError  # noqa: E402
from tensorcalc.evaluation.chunked import (  # noqa: E402
    COMBINE, evaluate_dask, evaluate_pairwise, find_batch, plan)

ROWS, COLS, CHUNK = 1000, 6, 128


def _compute(outs):
    return dask.compute(*outs, scheduler="sync") if isinstance(outs, list) else \
        dask.compute(outs, scheduler="sync")[0]


def _tasks(outs) -> int:
    """Tasks the scheduler runs: the optimized graph of every output together."""
    outs = outs if isinstance(outs, list) else [outs]
    return len(dask.base.collections_to_expr(outs, optimize_graph=True).__dask_graph__())


def _keys(outs, prefix: str) -> list:
    outs = outs if isinstance(outs, list) else [outs]
    keys = {k for o in outs for k in dict(o.__dask_graph__())}  # before dask's optimization
    return [k for k in keys if (k[0] if isinstance(k, tuple) else k).startswith(prefix)]


def _close(got, want, dtype=np.float64) -> None:
    for g, w in zip(got, want):
        # dask gives a 0-d result as a numpy scalar, as da.sum does
        assert isinstance(g, (np.ndarray, np.generic)) and g.dtype == dtype
        assert np.shape(g) == np.shape(w)
        tol = 2e-4 if dtype == np.float32 else 1e-10
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol * max(1.0, float(np.abs(w).max())))


@pytest.fixture
def data(rng):
    X = rng.standard_normal((ROWS, COLS))
    return {"X": X, "y": (rng.random(ROWS) > 0.5).astype(float), "w": rng.standard_normal(COLS) * 0.3,
            "v": rng.standard_normal(COLS), "t": X @ rng.standard_normal(COLS)}


def _lazy(values: dict, dtype=np.float64) -> dict:
    out = {}
    for name, a in values.items():
        a = np.asarray(a, dtype)
        out[name] = da.from_array(a, chunks=(CHUNK,) + a.shape[1:]) if name in "Xyt" else a
    return out


def _logistic():
    X, y, w, v = tc.var("X", ("N", "d")), tc.var("y", ("N",)), tc.var("w", ("d",)), tc.var("v", ("d",))
    z = X @ w
    f = tc.sum(tc.softplus(z) - y * z)
    return [tc.grad(f, w), tc.hessian(f, w), tc.hvp(f, w, v)]


def test_logistic_gradient_hessian_hvp_match_numpy_one_fused_task_per_chunk(data):
    fn = tc.compile(_logistic())
    outs = fn(_lazy(data))
    assert all(isinstance(o, da.Array) for o in outs)  # lazy
    _close(_compute(outs), fn(data))
    chunks = -(-ROWS // CHUNK)
    assert len(_keys(outs, "tc-stage0-")) == chunks  # one task per chunk for the whole graph
    assert not _keys(outs, "tc-stage1-")
    assert len(_keys(outs, "tc-param-")) == 2       # w and v: one key each, shared by the chunks


def test_least_squares_gradient(data):
    X, t, w = tc.var("X", ("N", "d")), tc.var("t", ("N",)), tc.var("w", ("d",))
    r = X @ w - t
    fn = tc.compile([tc.grad(tc.sum(r * r) / 2, w), tc.sum(r * r)])
    _close(_compute(fn(_lazy(data))), fn(data))


def test_mean_centering_splits_the_stages(data):
    X = tc.var("X", ("N", "d"))
    centered = X - tc.mean(X, 0)
    cov = tc.einsum("na,nb->ab", centered, centered) / ROWS
    fn = tc.compile([cov, tc.grad(tc.sum(cov * cov), X)])
    assert plan(fn.exprs[:1], "N").stages == 2  # the means, then the products of centred rows
    # the gradient: also the column sums of (X - mean) C, before the rows of the result
    assert plan(fn.exprs, "N").stages == 4
    outs = fn(_lazy(data))
    assert _keys(outs, "tc-stage1-")  # the column means are combined before the second pass
    got = _compute(outs)
    _close(got, fn(data))
    np.testing.assert_allclose(got[0], np.cov(data["X"].T, bias=True), atol=1e-12)
    assert outs[1].chunks == ((CHUNK,) * 7 + (ROWS - 7 * CHUNK,), (COLS,))  # per row: chunked


def test_softmax_and_logsumexp_over_the_batch_combine(data):
    X, w, y = tc.var("X", ("N", "d")), tc.var("w", ("d",)), tc.var("y", ("N",))
    z = X @ w
    lse = tc.logsumexp(z)
    attention = tc.sum(tc.softmax(z, axis=0) * y)
    fn = tc.compile([lse, tc.grad(lse, w), attention, tc.grad(attention, w), tc.log_softmax(z, axis=0)])
    values = dict(data, w=data["w"] * 20)  # large scores: a naive sum of exp would overflow
    values["X"] = values["X"] * 3
    outs = fn(_lazy(values))
    _close(_compute(outs), fn(values))
    # softmax: the logsumexp over the rows first, then the rows
    assert plan([fn.exprs[k] for k in (0, 2, 4)], "N").stages == 2
    assert plan(fn.exprs, "N").stages == 3  # its gradient needs Σ softmax·y before Xᵀ(...)


def test_combine_steps_are_associative_and_match_numpy(rng):
    x = rng.standard_normal(40) * 30
    parts = np.split(x, [7, 19, 30])
    whole = {"sum": np.sum(x), "logsumexp": np.log(np.sum(np.exp(x - x.max()))) + x.max(),
             "norm2": np.sqrt(np.sum(x * x)), "max": x.max(), "min": x.min(), "prod": np.prod(x / 30)}
    for kind, combine in COMBINE.items():
        scale = 30 if kind == "prod" else 1
        partial = {"sum": np.sum, "norm2": lambda p: np.sqrt(np.sum(p * p)), "max": np.max,
                   "min": np.min, "prod": np.prod,
                   "logsumexp": lambda p: np.log(np.sum(np.exp(p - p.max()))) + p.max()}[kind]
        values = [partial(p / scale) for p in parts]
        tree = combine([combine(values[:2]), combine(values[2:])])
        np.testing.assert_allclose(tree, whole[kind], rtol=1e-12)


def test_float32_stays_float32(data):
    fn = tc.compile(_logistic())
    outs = fn(_lazy(data, np.float32))
    assert [o.dtype for o in outs] == [np.float32] * 3
    _close(_compute(outs), fn({k: np.asarray(v, np.float32) for k, v in data.items()}), np.float32)


def test_fused_graph_has_at_most_a_third_of_the_pairwise_tasks(data):
    fn = tc.compile(_logistic())
    lazy = _lazy(data)
    fused, pairwise = fn(lazy), evaluate_pairwise(fn, lazy)
    _close(_compute(pairwise), fn(data))
    assert 3 * _tasks(fused) <= _tasks(pairwise), (_tasks(fused), _tasks(pairwise))


@pytest.mark.filterwarnings("ignore:Increasing number of chunks")  # X Xᵀ: dask's own warning
def test_a_graph_without_a_batch_dimension_runs_pairwise(data, rng, monkeypatch):
    operands = record_operand_counts(monkeypatch, da)
    A, B, C = (tc.var(n, ("n", "n")) for n in "ABC")
    fn = tc.compile(tc.einsum("ij,jk,kl->il", A, B, C) + tc.exp(A))
    mats = {n: rng.standard_normal((30, 30)) / 5 for n in "ABC"}
    out = fn({n: da.from_array(m, chunks=10) for n, m in mats.items()})
    _close([_compute(out)], [fn(mats)])
    assert operands and max(operands) <= 2  # pairwise, never one many-operand einsum
    # two batch axes in one result (X Xᵀ) cannot be chunked by rows: the fallback runs it
    X = tc.var("X", ("N", "d"))
    gram = tc.compile(tc.sum(tc.exp(X @ X.T / COLS)))
    with pytest.raises(Exception, match="two batch axes"):
        plan(gram.exprs, "N")
    _close([_compute(gram(X=_lazy(data)["X"]))], [gram(X=data["X"])])


def test_batch_found_from_chunking_or_named(data):
    X = tc.var("X", ("N", "d"))
    lazy = _lazy(data)
    assert find_batch([X], lazy) == "N"
    assert find_batch([X], {"X": da.from_array(data["X"], chunks=(ROWS, 2))}) == "d"
    assert find_batch([X], {"X": da.from_array(data["X"], chunks=(500, 3))}) is None  # 2 and 2
    assert find_batch([X], {"X": data["X"]}) is None
    # a single chunk is no batch by itself; naming it still gives the fused plan
    fn = tc.compile(tc.sum(X, 0))
    one = {"X": da.from_array(data["X"], chunks=-1)}
    out = evaluate_dask(fn, one, batch="N")
    assert _keys(out, "tc-stage0-")
    _close([_compute(out)], [data["X"].sum(0)])
    # chunked along the columns too: rechunked to whole rows first
    both = {"X": da.from_array(data["X"], chunks=(CHUNK, 2))}
    _close([_compute(evaluate_dask(fn, both, batch="N"))], [data["X"].sum(0)])


def test_parameters_as_dask_arrays_and_batched_outputs(data):
    X, w, t = tc.var("X", ("N", "d")), tc.var("w", ("d",)), tc.var("t", ("N",))
    fn = tc.compile([X @ w - t, tc.exp(w), w, X])
    lazy = dict(_lazy(data), w=da.from_array(data["w"], chunks=2), t=data["t"])  # t: numpy
    outs = fn(lazy)
    assert outs[0].chunks[0] == lazy["X"].chunks[0]
    _close(_compute(outs), fn(data))


def test_errors_name_the_problem(data):
    X, w = tc.var("X", ("N", "d")), tc.var("w", ("d",))
    fn = tc.compile(tc.sum(X @ w))
    lazy = _lazy(data)
    with pytest.raises(TensorcalcError, match="no array given for variable 'w'"):
        fn(X=lazy["X"])
    with pytest.raises(TensorcalcError, match="dimension 'd'"):
        fn(X=lazy["X"], w=np.ones(COLS + 1))
    with pytest.raises(TensorcalcError, match="split_every"):
        evaluate_dask(fn, dict(lazy, w=data["w"]), split_every=1)


def test_zero_rows_and_declared_int_rows(data):
    X, w = tc.var("X", ("N", "d")), tc.var("w", ("d",))
    fn = tc.compile([tc.sum(X @ w), tc.logsumexp(X @ w)])
    empty = {"X": da.zeros((0, COLS), chunks=(5, COLS)), "w": data["w"]}
    got = _compute(fn(empty))
    assert got[0] == 0.0 and got[1] == -np.inf
    Xi = tc.var("X", (ROWS, COLS))  # no named batch: pairwise on dask
    fixed = tc.compile(tc.grad(tc.sum(tc.softplus(Xi @ w)), w))
    _close([_compute(fixed(X=_lazy(data)["X"], w=data["w"]))], [fixed(X=data["X"], w=data["w"])])


def test_on_a_local_cluster_of_worker_processes(data):
    distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed")
    fn = tc.compile(_logistic())
    # every wait bounded (no pytest-timeout here): once, on a loaded machine, it hung 18 min.
    # death_timeout bounds a worker's start and its wait for the scheduler
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, memory_limit="1GiB",
                                  death_timeout=60) as cluster, \
            distributed.Client(cluster, timeout=60, set_as_default=False) as client:
        # not the default scheduler: dask's global config stays as the other tests expect
        outs = fn(_lazy(data))
        # the kernels are pickled to the workers
        got = [f.result(timeout=120) for f in client.compute(outs)]
        _close(got, fn(data))
        again = [f.result(timeout=120) for f in client.compute(fn(_lazy(data, np.float32)))]
        assert [g.dtype for g in again] == [np.float32] * 3


def test_max_over_the_batch_combines_and_its_gradient_falls_back(data):
    X, w = tc.var("X", ("N", "d")), tc.var("w", ("d",))
    peak = tc.reduce(X, "N d -> d", "max")
    shifted = tc.sum(tc.exp(X - peak), 0)  # the peak used with the rows: a second stage
    fn = tc.compile([peak, tc.reduce(X, "N d -> d", "min"), shifted])
    layout = plan(fn.exprs, "N")
    assert {r.reduce.combine for r in layout.roles.values() if r.reduce} >= {"max", "min"}
    assert layout.stages == 2
    _close(_compute(fn(_lazy(data))), fn(data))
    # the gradient of a max over the rows needs the tie mask of every row: pairwise fallback
    grad = tc.compile(tc.grad(tc.sum(tc.reduce(X @ tc.var("W", ("d", "k")), "N k -> k", "max")), X))
    with pytest.raises(Exception, match="needs all rows"):
        plan(grad.exprs, "N")
    W = np.random.default_rng(1).standard_normal((COLS, 3))
    _close([_compute(grad(X=_lazy(data)["X"], W=W))], [grad(X=data["X"], W=W)])


def test_a_named_batch_no_dask_input_carries_falls_back(data):
    X, w = tc.var("X", ("N", "d")), tc.var("w", ("d",))
    fn = tc.compile(tc.sum(X @ w))
    out = evaluate_dask(fn, {"X": data["X"], "w": da.from_array(data["w"], chunks=2)}, batch="N")
    assert not _keys(out, "tc-stage0-")
    _close([_compute(out)], [fn(X=data["X"], w=data["w"])])
