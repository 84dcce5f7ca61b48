"""``torch.compile(fullgraph=True)`` around tensorcalc's front doors on torch tensors.

``tc.einsum`` and ``tc.contract_expression`` plan eagerly while dynamo traces (the plan is a
constant of the graph) and leave the sizes other than 1 to ``torch.einsum``, so one graph
serves every size; ``tc.rearrange``/``tc.reduce`` hand torch tensors to einops. Most graphs
here run on dynamo's ``eager`` backend (tracing is what is tested; one test compiles with
inductor), each with a cold plan cache.
"""

from __future__ import annotations

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc.backends import BACKENDS, pairwise, pairwise_plan
from tensorcalc.errors import TensorcalcError

torch = pytest.importorskip("torch")
dynamo = pytest.importorskip("torch._dynamo")

# dynamo notes that it traces through array_api_compat's lru_cache'd helpers (pure functions)
pytestmark = pytest.mark.filterwarnings("ignore:Dynamo detected a call to a `functools.lru_cache`")


@pytest.fixture(autouse=True)
def cold(monkeypatch: pytest.MonkeyPatch):
    """A cold plan cache and no compiled graphs before and after each test."""
    monkeypatch.setattr(pairwise, "_PLANS", {})
    dynamo.reset()
    yield
    dynamo.reset()


def _one_graph(fn, *args) -> None:
    explained = dynamo.explain(fn)(*args)
    assert (explained.graph_count, explained.graph_break_count) == (1, 0), \
        explained.break_reasons


def _rand(*shape: int, dtype=torch.float64):
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(sum(shape)))


def test_the_plan_marker_is_the_one_assume_constant_result_sets() -> None:
    def probe() -> None:
        pass

    torch.compiler.assume_constant_result(probe)
    assert vars(probe) == {"_dynamo_marked_constant": True}
    assert pairwise_plan._dynamo_marked_constant is True


@pytest.mark.parametrize("subscripts, shapes", [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("ij,jk,kl->il", [(3, 4), (4, 5), (5, 2)]),   # opt_einsum's path, planned eagerly
    ("bij,bjk->bki", [(2, 3, 4), (2, 4, 5)]),
])
def test_einsum_compiles_in_one_graph_with_torch_values(subscripts, shapes) -> None:
    ops = [_rand(*s) for s in shapes]

    def fn(*xs):
        return tc.einsum(subscripts, *xs)

    _one_graph(fn, *ops)
    pairwise._PLANS.clear()
    dynamo.reset()
    got = torch.compile(fn, fullgraph=True, backend="eager")(*ops)
    torch.testing.assert_close(got, torch.einsum(subscripts, *ops))


def test_einsum_compiles_with_inductor() -> None:
    a, b = _rand(3, 4, dtype=torch.float32), _rand(4, 5, dtype=torch.float32)
    compiled = torch.compile(lambda a, b: tc.einsum("ij,jk->ik", a, b), fullgraph=True)
    torch.testing.assert_close(compiled(a, b), torch.einsum("ij,jk->ik", a, b))


def test_rearrange_reduce_and_contract_expression_compile_in_one_graph() -> None:
    x = _rand(2, 3, 4)
    expr = tc.contract_expression("abc,cd->abd", (2, 3, 4), (4, 5))
    w = _rand(4, 5)

    def fn(x, w):
        y = tc.rearrange(x, "a b c -> b (a c)")
        return tc.reduce(y, "b ac -> b", "max"), expr(x, w)

    _one_graph(fn, x, w)
    got_max, got_expr = torch.compile(fn, fullgraph=True, backend="eager")(x, w)
    torch.testing.assert_close(got_max, x.permute(1, 0, 2).reshape(3, 8).amax(1))
    torch.testing.assert_close(got_expr, torch.einsum("abc,cd->abd", x, w))


def test_new_sizes_need_no_new_graph() -> None:
    """The plan does not depend on sizes other than 1: after torch's automatic dynamic
    shapes, every size runs the same graph (a plan per size would compile one each)."""
    graphs = []

    def count(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    compiled = torch.compile(lambda a, b, c: tc.einsum("ij,jk,kl->il", a, b, c),
                             fullgraph=True, backend=count)
    for n in range(3, 9):
        a, b, c = _rand(n, 4), _rand(4, n + 1), _rand(n + 1, 2)
        torch.testing.assert_close(compiled(a, b, c), a @ b @ c)
    assert len(graphs) <= 2  # static sizes first, then dynamic ones


@pytest.mark.parametrize("subscripts, shapes, sizes", [
    ("i->ii", [(3,)], None),                        # a diagonal embedded: the real size
    ("i->ij", [(3,)], {"j": 2}),                    # broadcast along a new label
    ("ij,j->i", [(3, 1), (4,)], None),              # size 1 broadcasting against 4
    ("ij,ij->ij", [(1, 3), (2, 1)], None),
    ("ij->", [(0, 3)], None),                       # zero-size
])
def test_dynamic_sizes_agree_with_numpy(subscripts, shapes, sizes) -> None:
    ops = [_rand(*s) for s in shapes]
    compiled = torch.compile(lambda *xs: tc.einsum(subscripts, *xs, sizes=sizes),
                             fullgraph=True, dynamic=True, backend="eager")
    want = tc.einsum(subscripts, *[o.numpy() for o in ops], sizes=sizes)
    got = compiled(*ops)
    assert isinstance(got, torch.Tensor)
    np.testing.assert_allclose(got.numpy(), want)


def test_eager_calls_are_not_tracing() -> None:
    assert BACKENDS["torch"].tracing() is False
    assert BACKENDS["jax"].tracing is None


def test_unknown_dask_sizes_name_the_problem() -> None:
    da = pytest.importorskip("dask.array")
    x = da.ones(6, chunks=3)
    y = x[x > 0]  # unknown chunks: shape (nan,)
    with pytest.raises(TensorcalcError, match="compute_chunk_sizes"):
        tc.einsum("i,i->", y, y)
