"""The einops nodes on dask arrays chunked along a batch dimension: their rules of
:func:`tensorcalc.evaluation.chunked_plan.batch_rule`.

A max, min or product over the batch axis is a reduction whose per-chunk partials combine by
the same operation; a reshape keeps the rows when it leaves the batch axis and the axes before
it alone. The tie masks of max and min and the products-of-the-others over the batch axis
need every row at once: such a graph runs on the pairwise fallback.

>>> import numpy as np, dask.array as da, tensorcalc as tc
>>> x = tc.var("x", ("N", "d"))
>>> fn = tc.compile(tc.reduce(x, "N d -> d", "max"))
>>> a = np.arange(12.0).reshape(6, 2)
>>> fn(x=da.from_array(a, chunks=(2, 2))).compute()
array([10., 11.])
"""

from __future__ import annotations

from typing import Any, Sequence

from ..evaluation.chunked_plan import NotChunkable, Reduce, batch_rule
from .nodes import ExtremumMask, ProdExcept, ReduceExtremum, ReduceProd, Reshape


def _reduced(node: Any, axes: Sequence[int | None], combine: str) -> Any:
    ax = axes[0]
    if ax is None:
        return None
    if ax in node.axes:
        return Reduce(combine)
    return ax - sum(a < ax for a in node.axes)


@batch_rule.register(ReduceExtremum)
def _extremum_rule(node: ReduceExtremum, axes: Sequence[int | None], batch: str) -> Any:
    return _reduced(node, axes, node.kind)


@batch_rule.register(ReduceProd)
def _prod_rule(node: ReduceProd, axes: Sequence[int | None], batch: str) -> Any:
    return _reduced(node, axes, "prod")


@batch_rule.register(ExtremumMask)
@batch_rule.register(ProdExcept)
def _whole_slice_rule(node: Any, axes: Sequence[int | None], batch: str) -> int | None:
    ax = axes[0]
    if ax is not None and ax in node.axes:
        raise NotChunkable(f"{type(node).__name__} over the batch axis needs all rows at once")
    return ax


@batch_rule.register(Reshape)
def _reshape_rule(node: Reshape, axes: Sequence[int | None], batch: str) -> int | None:
    ax = axes[0]
    if ax is None:
        return None
    before = node.children[0].shape
    if node.shape[: ax + 1] != before[: ax + 1] or batch in node.shape[ax + 1:]:
        raise NotChunkable("a reshape that merges or splits the batch axis")
    return ax
