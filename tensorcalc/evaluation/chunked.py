"""dask arrays: the whole derivative graph per chunk as one fused numpy kernel.

A compiled function (or ``evaluate``) called with dask arrays that are chunked along one named
dimension (the *batch*, e.g. the rows ``N`` of ``X``) runs as a short chain of *stages*:

* every node that carries the batch axis is computed per chunk, all of one stage's nodes in ONE
  task per chunk: a numpy :class:`~tensorcalc.evaluation.compile.Compiled` of that stage's
  sub-graph, fed the chunk (within the task the chunk is walked in row blocks of a few MiB, so
  no temporary is chunk-sized; :mod:`.chunked_kernel`);
* a node that sums the batch axis away (an einsum contracting it, a sum, a mean) is computed
  per chunk as a partial result, and the partials are combined by a tree reduction
  (``split_every`` at a time); sums are linear, ``logsumexp`` combines with ``logaddexp``, the
  norm with ``sqrt(Σ p²)``, max and min with themselves (:mod:`.chunked_combine`);
* nodes without the batch axis (parameters and what is computed from the combined results)
  run in one task per stage, and every chunk task receives their values as one graph key: the
  parameters are sent to each worker once, not once per chunk (:mod:`.chunked_graph`);
* a stage ends where a batch reduction is used again together with the batch axis (centering
  by the mean, a softmax over the batch: it is rewritten as ``x - logsumexp(x)`` over the
  combined ``logsumexp``), and the next stage recomputes what it needs from the chunks
  (:mod:`.chunked_plan`).

The batch dimension is named by ``tc.compile(..., batch="N")`` (or ``evaluate(..., batch=)``),
else found from the chunking: the named dimension the dask inputs are split into the most
chunks along (:func:`~.chunked_graph.find_batch`; the inputs are then rechunked to whole
rows). A graph that does not follow a batch dimension (none chunked, a result with two batch
axes such as ``X Xᵀ``, an operation that mixes rows) runs on the generic dask backend
(:mod:`.generic`: node by node, every einsum as the planner's pairwise contractions, never one
many-operand ``dask.array.einsum``). Outputs computed from numbers only take the precision of
the call's arrays, as on numpy.

Results are lazy dask arrays; ``.compute()`` gives numpy arrays. dask is imported only when
dask arrays are passed.

>>> import numpy as np, dask.array as da
>>> from tensorcalc.ir import var
>>> from tensorcalc.evaluation import compile
>>> X, w = var("X", ("N", "d")), var("w", ("d",))
>>> fn = compile(X.T @ (X @ w), batch="N")
>>> x = np.arange(12.0).reshape(6, 2)
>>> out = fn(X=da.from_array(x, chunks=(2, 2)), w=np.ones(2))
>>> out.compute()
array([470., 536.])
>>> x.T @ (x @ np.ones(2))
array([470., 536.])
"""

from __future__ import annotations

import importlib
from typing import Any, Mapping

import numpy as np

from ..backends import get_backend
from ..errors import TensorcalcError
from ..ir import Expr
from .chunked_combine import COMBINE
from .chunked_graph import SPLIT_EVERY, Graph, find_batch, is_dask_array
from .chunked_plan import NotChunkable, Plan, Reduce, batch_rule, plan
from .generic import eval_with

__all__ = ["evaluate_dask", "fused_dask", "evaluate_pairwise", "pairwise_rule", "is_dask_array",
           "find_batch", "plan", "Plan", "batch_rule", "NotChunkable", "Reduce", "COMBINE",
           "SPLIT_EVERY"]


def evaluate_dask(compiled: Any, arrays: Mapping[str, Any], batch: str | None = None,
                  split_every: int = SPLIT_EVERY) -> Any:
    """Run ``compiled`` (a :class:`~tensorcalc.evaluation.compile.Compiled`) on arrays some of
    which are dask arrays; lazy dask arrays out, one per expression.

    ``batch``: the named dimension to chunk along (default: :func:`find_batch`). A graph that
    does not follow it runs on the generic dask backend (:func:`evaluate_pairwise`).

    >>> import dask.array as da, tensorcalc as tc
    >>> fn = tc.compile(tc.logsumexp(tc.var("z", ("N",))))
    >>> float(evaluate_dask(fn, {"z": da.arange(6.0, chunks=2)}).compute().round(6))
    5.456193
    """
    results = fused_dask(compiled, arrays, batch, split_every)
    if results is None:
        return compiled.run_on(get_backend("dask"), arrays)
    return results[0] if compiled.single else results


def fused_dask(compiled: Any, arrays: Mapping[str, Any], batch: str | None = None,
               split_every: int = SPLIT_EVERY) -> list[Any] | None:
    """The results of the fused per-chunk graph (a list, one per expression), or None when
    the graph does not follow a batch dimension of these arrays."""
    if split_every < 2:
        raise TensorcalcError(f"split_every must be at least 2, got {split_every}")
    da = importlib.import_module("dask.array")
    inputs = _inputs(compiled, arrays)
    batch = batch if batch is not None else find_batch(compiled.variables, inputs)
    if batch is None:
        return None
    try:  # outputs of numbers only take the call's precision there (.chunked_graph)
        return Graph(plan(compiled.exprs, batch), compiled, inputs, split_every, da).outputs()
    except NotChunkable:  # the graph mixes rows, or no dask input carries the batch
        return None


def _inputs(compiled: Any, arrays: Mapping[str, Any]) -> dict[str, Any]:
    """The arrays of the compiled function's variables: dask arrays as given (integers as
    float64, as the numpy evaluator does), everything else as numpy arrays."""
    out = {}
    for name in compiled.names:
        if name not in arrays:
            continue  # bind() names the missing one
        a = arrays[name]
        if not is_dask_array(a):
            a = np.asarray(a)
        if a.dtype.kind in "biu":
            a = a.astype(np.float64)
        out[name] = a
    return out


def evaluate_pairwise(compiled: Any, arrays: Mapping[str, Any]) -> list[Any]:
    """Every node of ``compiled`` on dask arrays, one at a time, by the generic dask backend
    (:mod:`.generic`: each einsum as pairwise contractions in the planner's order): the
    fallback for graphs that do not follow a batch dimension. A list, one per expression.

    >>> import dask.array as da
    >>> from tensorcalc.ir import var
    >>> from tensorcalc.evaluation import compile
    >>> A = var("A", ("n", "n"))
    >>> fn = compile(A @ A @ A)
    >>> a = np.arange(16.0).reshape(4, 4) / 10
    >>> out = evaluate_pairwise(fn, {"A": da.from_array(a, chunks=2)})
    >>> bool(np.allclose(out[0].compute(), a @ a @ a))
    True
    """
    results = compiled.run_on(get_backend("dask"), arrays)
    return [results] if compiled.single else results


def pairwise_rule(node: Expr, args: list[Any], sizes: Mapping[str, int], da: Any = None) -> Any:
    """One node on dask arrays by the generic dask backend (numpy arguments become dask
    arrays): what the fallback computes per node, for code walking a graph itself.

    >>> import dask.array as da, tensorcalc as tc
    >>> x = tc.var("x", ("n",))
    >>> pairwise_rule(tc.exp(x), [da.zeros(3, chunks=2)], {"n": 3}).compute()
    array([1., 1., 1.])
    """
    backend = get_backend("dask")
    like = next((a for a in args if is_dask_array(a)), None)
    args = [a if is_dask_array(a) else backend.from_numpy(a, like) for a in args]
    return eval_with(node, args, sizes, backend.namespace(args))
