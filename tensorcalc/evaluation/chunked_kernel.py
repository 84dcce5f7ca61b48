"""The numpy work of one dask task of the chunked plan: the sub-graph a task computes
(:func:`kernel_graph`: the nodes inside it computed, every other value bound as a variable)
compiled with the numpy core, and the :class:`Kernel` that runs it on a chunk in row blocks
and combines the blocks as the tree reduction combines chunks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..ir import Einsum, Expr, Var, WithDims, topological
from ..ir.nodes import size_power
from ..simplify.core import named_dims, rebuild
from .chunked_combine import COMBINE
from .chunked_plan import Plan

__all__ = ["BLOCK_BYTES", "Kernel", "run_kernel", "kernel_graph"]

# Rows of a block inside a chunk task: about this many bytes of the widest batched input, so
# the temporaries of a block (``X * s`` of a Hessian) stay a few MiB however big the chunk is,
# and a block read twice (``X w``, then ``Xᵀ r``) is still in the CPU's cache the second time.
BLOCK_BYTES = 4 * 2**20


@dataclass
class Kernel:
    """One task's numpy work: a compiled sub-graph, its inputs and how its outputs combine.

    Called as ``kernel(rows, sources, *chunks)``: ``chunks`` are the batched inputs' chunks
    (``chunk_names``, batch axis ``chunk_axes``), ``sources`` the values computed before
    (tuples of a stage's combined results, parameters); ``boundary`` names the variable each
    ``(source, item)`` binds. A chunk task walks its rows in blocks (``block_rows``) and
    combines the blocks' outputs as the tree reduction combines chunks.
    """

    compiled: Any
    chunk_names: list[str]
    chunk_axes: list[int]
    boundary: list[tuple[str, int, int | None]]
    combines: list[str | None]          # per output: a COMBINE row, or None (batched: concatenated)
    out_axes: list[int | None]
    carriers: dict[str, int | None]     # variable name -> fixed length, None: the chunk's rows
    block_rows: int = 0

    def __call__(self, rows: int | None, sources: Sequence[Any], *chunks: np.ndarray) -> tuple:
        arrays: dict[str, Any] = {}
        for name, slot, item in self.boundary:
            value = sources[slot]
            arrays[name] = value if item is None else value[item]
        if not chunks or not self.block_rows or rows is None or rows <= self.block_rows:
            return self._run(arrays, rows, chunks)
        blocks = []
        for start in range(0, rows, self.block_rows):
            stop = min(start + self.block_rows, rows)
            part = [_take(c, ax, start, stop) for c, ax in zip(chunks, self.chunk_axes)]
            blocks.append(self._run(arrays, stop - start, part))
        return tuple(
            COMBINE[kind]([b[k] for b in blocks]) if kind is not None
            else np.concatenate([b[k] for b in blocks], axis=self.out_axes[k])
            for k, kind in enumerate(self.combines))

    def _run(self, arrays: dict[str, Any], rows: int | None, chunks: Sequence[np.ndarray]) -> tuple:
        arrays = dict(arrays)
        arrays.update(zip(self.chunk_names, chunks))
        for name, length in self.carriers.items():
            arrays[name] = np.empty((rows if length is None else length, 0))
        return tuple(self.compiled(arrays))


def _take(a: np.ndarray, axis: int, start: int, stop: int) -> np.ndarray:
    index = [slice(None)] * a.ndim
    index[axis] = slice(start, stop)
    return a[tuple(index)]


def run_kernel(kernel: Kernel, rows: int | None, sources: list, *chunks: np.ndarray) -> tuple:
    return kernel(rows, sources, *chunks)


def kernel_graph(plan_: Plan, roots: Sequence[Expr], inside: Callable[[Expr], bool],
                  sizes: Mapping[str, int]) -> tuple[list[Expr], dict[str, Expr], dict[str, int | None]]:
    """The sub-graph a kernel compiles: ``roots`` with every node ``inside`` computed and every
    other node bound as a variable (named ``_tc<uid>``; original variables keep their name).
    Returns the new roots, the boundary variables by name (original nodes), and the carriers
    of named dimensions no variable binds (name -> length, None: the chunk's rows)."""
    order = topological(list(roots))
    needed = {r.uid for r in roots}
    root_ids = needed.copy()
    for node in reversed(order):
        if node.uid in needed and (node.uid in root_ids or inside(node)):
            needed.update(c.uid for c in node.children)
    new: dict[int, Expr] = {}
    boundary: dict[str, Expr] = {}
    for node in order:
        if node.uid not in needed:
            continue
        if isinstance(node, Var):
            new[node.uid] = node
            boundary[node.name] = node
        elif node.uid in root_ids or inside(node):
            new[node.uid] = _fold_batch(rebuild(node, [new[c.uid] for c in node.children])
                                        if node.children else node, plan_.batch, sizes)
        else:
            name = f"_tc{node.uid}"
            new[node.uid] = Var(name, node.shape)
            boundary[name] = node
    out = [new[r.uid] for r in roots]
    kernel_order = topological(out)
    bound = {d for n in kernel_order if isinstance(n, Var) for d in n.shape if isinstance(d, str)}
    carriers = {f"_tc_dim_{d}": (None if d == plan_.batch else sizes[d])
                for d in sorted(named_dims(out[0], kernel_order) - bound)}
    if carriers:
        out[0] = WithDims(out[0], [Var(name, (name[len("_tc_dim_"):], 0)) for name in carriers])
    return out, boundary, carriers


def _fold_batch(node: Expr, batch: str, sizes: Mapping[str, int]) -> Expr:
    """An einsum scaled by a power of the batch size (a mean over it) with the whole batch's
    size written in: inside a chunk task the dimension is bound to the chunk's rows."""
    if not isinstance(node, Einsum) or not any(d == batch for d, _ in node.factor_dims):
        return node
    scale = node.scale
    for d, p in node.factor_dims:
        if d == batch:
            scale *= size_power(sizes[batch], p)
    return Einsum(node.inputs, node.output, node.children, node.sizes, scale,
                  [(d, p) for d, p in node.factor_dims if d != batch])
