"""The dask graph of a chunked plan (:class:`~.chunked_plan.Plan`): the inputs rechunked to
whole rows, one fused task per chunk and stage (a :class:`~.chunked_kernel.Kernel`), the tree
reduction of the partials (:mod:`.chunked_combine`), one task per stage for the values
without the batch axis (parameters are one graph key: each worker fetches them once), and the
lazy dask arrays of the results.

The graph is written with dask's task spec (``dask._task_spec``: ``Task``, ``TaskRef``,
``DataNode``, ``List``), a private module of dask, on purpose: a chunk task takes the task
that reads its input chunk (a zarr slice, a random block) *inside* itself, so the chunk is read
by the task that uses it and lives only as long as that task, and the kernels and parameters
are ``DataNode`` keys every chunk task refers to. Since dask 2024.12 the layers of a dask array
hold ``Task`` objects, which a plain tuple task cannot contain, and the public
``blockwise``/``map_blocks``/``reduction`` give no way to nest an input's read task or to
pass one shared key to every chunk task; graphs built with them keep a read task per chunk
whose result waits in memory for its consumer. Nothing pins dask's version: the module exists
in every dask since 2024.12; an older dask has none, and its calls run on the generic dask
backend (:mod:`.generic`) instead.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ..ir import Expr, Var, topological
from ..ir.dims import resolve_dim
from .binding import bind
from .chunked_combine import combine
from .chunked_kernel import BLOCK_BYTES, Kernel, kernel_graph, run_kernel
from .chunked_plan import NotChunkable, Plan

__all__ = ["SPLIT_EVERY", "is_dask_array", "find_batch", "check_shapes", "Graph"]

SPLIT_EVERY = 16  # partial results combined per task of the tree reduction


def is_dask_array(a: Any) -> bool:
    """True for a dask array, without importing dask (it is loaded when one exists).

    >>> is_dask_array(np.ones(2))
    False
    """
    return type(a).__module__.startswith("dask.") and hasattr(a, "chunks") and hasattr(a, "dask")


@dataclass
class _Source:
    """Where a value computed outside a kernel lives: a graph key, and the item of the tuple
    stored there (None: the key holds the array itself)."""

    key: Any
    item: int | None


def find_batch(variables: Sequence[Var], arrays: Mapping[str, Any]) -> str | None:
    """The named dimension the dask inputs are chunked along: of those split into several
    chunks, the one with the most chunks (None: no named dimension is split, or two tie).

    >>> import dask.array as da
    >>> from tensorcalc.ir import var
    >>> X = var("X", ("N", "d"))
    >>> find_batch([X], {"X": da.zeros((8, 3), chunks=(4, 3))})
    'N'
    >>> find_batch([X], {"X": da.zeros((8, 6), chunks=(2, 3))})  # 4 chunks of rows, 2 of columns
    'N'
    """
    counts: dict[str, int] = {}
    for v in variables:
        a = arrays.get(v.name)
        if is_dask_array(a):
            for d, chunks in zip(v.shape, a.chunks):
                if isinstance(d, str) and len(chunks) > 1:
                    counts[d] = max(counts.get(d, 0), len(chunks))
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    if not ranked or (len(ranked) > 1 and ranked[0][1] == ranked[1][1]):
        return None
    return ranked[0][0]


def check_shapes(compiled: Any, inputs: Mapping[str, Any]) -> dict[str, int]:
    """The size of every named dimension, checked as the numpy evaluator checks them (on
    zero-memory stand-ins of the dask arrays, so nothing is computed)."""
    stand_ins = {name: np.broadcast_to(np.zeros((), a.dtype), a.shape) if is_dask_array(a) else a
                 for name, a in inputs.items()}
    return bind(compiled.variables, stand_ins)[1]


class Graph:
    """The dask graph of a :class:`Plan` for these inputs (built once per call)."""

    def __init__(self, layout: Plan, compiled: Any, inputs: Mapping[str, Any],
                 split_every: int, da: Any) -> None:
        self.plan, self.compiled, self.da = layout, compiled, da
        self.split_every = split_every
        self.sizes = check_shapes(compiled, inputs)
        dask_base = importlib.import_module("dask.base")
        # the inputs (a dask array's name, a numpy array's contents) and the graph (uids:
        # equal structures share one) name the keys: the same call twice gives the same keys
        self.token = dask_base.tokenize(
            sorted((name, a.name if is_dask_array(a) else dask_base.tokenize(a))
                   for name, a in inputs.items()),
            [e.uid for e in layout.outputs], layout.batch, split_every)[:16]
        # dask's task spec (dask >= 2024.12): Task, TaskRef (a key's value), DataNode, List
        try:
            self.spec = importlib.import_module("dask._task_spec")
        except ImportError:  # dask before 2024.12: the generic backend runs the call
            raise NotChunkable("this dask has no task spec (dask._task_spec)") from None
        self.layer: dict[Any, Any] = {}
        self.deps: list[Any] = []
        self.dtype = np.result_type(*[a.dtype for a in inputs.values()]) if inputs else np.float64
        self.input_dtypes = {name: a.dtype for name, a in inputs.items()}
        self.sources: dict[int, _Source] = {}
        self._input_tasks: dict | None = None
        self._prepare_inputs(inputs)

    # -- inputs
    def _prepare_inputs(self, inputs: Mapping[str, Any]) -> None:
        batch_vars = [v for v in self.plan.nodes
                      if isinstance(v, Var) and self.plan.roles[v.uid].axis is not None]
        first = max((inputs[v.name] for v in batch_vars if is_dask_array(inputs[v.name])),
                    key=lambda a: a.nbytes, default=None)
        if first is None:
            raise NotChunkable("no batched dask input")
        axis0 = next(self.plan.roles[v.uid].axis for v in batch_vars if inputs[v.name] is first)
        self.row_chunks = first.chunks[axis0]
        self.batch_inputs: list[tuple[str, int, Any]] = []
        for v in batch_vars:
            ax = self.plan.roles[v.uid].axis
            a = inputs[v.name]
            chunks = {k: (self.row_chunks if k == ax else -1) for k in range(a.ndim)}
            a = a.rechunk(chunks) if is_dask_array(a) else self.da.from_array(a, chunks=chunks)
            self.deps.append(a)
            self.batch_inputs.append((v.name, ax, a))
        widest = max(int(np.prod([n for k, n in enumerate(a.shape) if k != ax])) * a.dtype.itemsize
                     for _, ax, a in self.batch_inputs)
        self.block_rows = max(1, BLOCK_BYTES // max(widest, 1))
        for v in self.plan.nodes:
            if isinstance(v, Var) and self.plan.roles[v.uid].axis is None:
                a = inputs[v.name]
                if is_dask_array(a):
                    a = a.rechunk(-1)
                    self.deps.append(a)
                    self.sources[v.uid] = _Source((a.name,) + (0,) * a.ndim, None)
                else:
                    key = f"tc-param-{v.name}-{self.token}"
                    self.layer[key] = self.spec.DataNode(key, a)  # one key: each worker fetches it once
                    self.sources[v.uid] = _Source(key, None)

    # -- the stages
    def outputs(self) -> list[Any]:
        roles = self.plan.roles
        stages = self.plan.stages
        stage_keys: dict[int, str] = {}
        stage_outputs: dict[int, list[Expr]] = {}
        for level in range(stages + 1):
            self._global_kernel(level)
            if level == stages:
                break
            reductions = [n for n in self.plan.nodes
                          if roles[n.uid].reduce and roles[n.uid].level == level + 1]
            batched = [o for o in _unique(self.plan.outputs)
                       if roles[o.uid].axis is not None and roles[o.uid].level == level
                       and not isinstance(o, Var)]
            if reductions or batched:
                stage_keys[level] = self._stage(level, reductions, batched)
                stage_outputs[level] = reductions + batched
        return [self._output(m, o, stage_keys, stage_outputs) for m, o in enumerate(self.plan.outputs)]

    def _inside_stage(self, node: Expr) -> bool:
        role = self.plan.roles[node.uid]
        return role.axis is not None or role.const

    def _stage(self, level: int, reductions: list[Expr], batched: list[Expr]) -> str:
        roots = reductions + batched
        exprs, boundary, carriers = kernel_graph(self.plan, roots, self._inside_stage, self.sizes)
        chunk_names = [name for name, _, _ in self.batch_inputs if name in boundary]
        kernel, source_keys = self._kernel(
            exprs, boundary, carriers, set(chunk_names),
            combines=[self.plan.roles[r.uid].reduce.combine for r in reductions] + [None] * len(batched),
            out_axes=[None] * len(reductions) + [self.plan.roles[b.uid].axis for b in batched])
        kernel.chunk_names = chunk_names
        kernel.chunk_axes = [ax for name, ax, _ in self.batch_inputs if name in boundary]
        kernel.block_rows = self.block_rows
        kernel_key = f"tc-kernel{level}-{self.token}"
        self.layer[kernel_key] = self.spec.DataNode(kernel_key, kernel)
        name = f"tc-stage{level}-{self.token}"
        for i, rows in enumerate(self.row_chunks):
            chunks = [self._chunk(a, ax, i) for n, ax, a in self.batch_inputs if n in boundary]
            self.layer[(name, i)] = self.spec.Task((name, i), run_kernel, self.spec.TaskRef(kernel_key),
                                                   rows, self._refs(source_keys), *chunks)
        if reductions:
            kinds = tuple(self.plan.roles[r.uid].reduce.combine for r in reductions)
            reduced = self._tree(level, kinds, [(name, i) for i in range(len(self.row_chunks))])
            for k, r in enumerate(reductions):
                self.sources[r.uid] = _Source(reduced, k)
        return name

    def _tree(self, level: int, kinds: tuple[str, ...], keys: list[Any]) -> Any:
        depth = 0
        while True:
            final = len(keys) <= self.split_every
            groups = [keys[k:k + self.split_every] for k in range(0, len(keys), self.split_every)]
            keys = []
            for j, group in enumerate(groups):
                key = (f"tc-reduced{level}-{self.token}" if final
                       else (f"tc-combine{level}-{self.token}", depth, j))
                self.layer[key] = self.spec.Task(key, combine, kinds, self._refs(group))
                keys.append(key)
            if final:
                return keys[0]
            depth += 1

    def _global_kernel(self, level: int) -> None:
        """One task computing the values without the batch axis that become available at
        ``level`` and that a later task or an output uses."""
        roles = self.plan.roles
        wanted = []
        users = [n for n in self.plan.nodes if roles[n.uid].axis is not None or roles[n.uid].reduce
                 or roles[n.uid].level > level]
        used = {c.uid for n in users for c in n.children} | {o.uid for o in self.plan.outputs}
        for n in self.plan.nodes:
            r = roles[n.uid]
            if (n.uid in used and r.axis is None and not r.reduce and not isinstance(n, Var)
                    and not r.const and r.level == level):
                wanted.append(n)
        wanted += [o for o in self.plan.outputs if roles[o.uid].const and o.uid not in self.sources
                   and level == 0 and not isinstance(o, Var) and roles[o.uid].axis is None]
        wanted = _unique(wanted)
        if not wanted:
            return

        def inside(node: Expr) -> bool:
            r = roles[node.uid]
            return r.const or (r.axis is None and not r.reduce and r.level == level)

        exprs, boundary, carriers = kernel_graph(self.plan, wanted, inside, self.sizes)
        kernel, source_keys = self._kernel(exprs, boundary, carriers, set(), [None] * len(wanted),
                                           [None] * len(wanted))
        kernel_key = f"tc-gkernel{level}-{self.token}"
        self.layer[kernel_key] = self.spec.DataNode(kernel_key, kernel)
        key = f"tc-global{level}-{self.token}"
        self.layer[key] = self.spec.Task(key, run_kernel, self.spec.TaskRef(kernel_key), None,
                                         self._refs(source_keys))
        for k, n in enumerate(wanted):
            self.sources[n.uid] = _Source(key, k)

    def _kernel(self, exprs: list[Expr], boundary: dict[str, Expr], carriers: dict[str, int | None],
                chunk_names: set[str], combines: list, out_axes: list) -> tuple[Kernel, list]:
        source_keys: list[Any] = []
        bound = []
        for name, node in boundary.items():
            if name in chunk_names:
                continue
            src = self.sources[node.uid]
            if src.key not in source_keys:
                source_keys.append(src.key)
            bound.append((name, source_keys.index(src.key), src.item))
        compiled = type(self.compiled)(exprs, single=False)
        return Kernel(compiled, [], [], bound, combines, out_axes, carriers), source_keys

    def _refs(self, keys: Sequence[Any]) -> Any:
        return self.spec.List(*[self.spec.TaskRef(k) for k in keys])

    def _chunk(self, a: Any, axis: int, i: int) -> Any:
        """Chunk ``i`` of the input ``a`` as an argument of a chunk task: the task that reads
        it (a zarr or array slice, a random block: a task that needs no other chunk) runs
        inside the chunk task, so the chunk lives only as long as that task; any other
        chunk (a rechunk's concatenation) is referred to by its key."""
        key = (a.name,) + tuple(i if k == axis else 0 for k in range(a.ndim))
        if self._input_tasks is None:
            self._input_tasks = {}
            for dep in self.deps:
                self._input_tasks.update(dict(dep.__dask_graph__().layers[dep.name]))
        task = self._input_tasks.get(key)
        if isinstance(task, self.spec.Task) and all(isinstance(d, str) for d in task.dependencies):
            return task
        return self.spec.TaskRef(key)

    # -- results
    def _output(self, m: int, node: Expr, stage_keys: dict[int, str],
                stage_outputs: dict[int, list[Expr]]) -> Any:
        role = self.plan.roles[node.uid]
        hlg_mod = importlib.import_module("dask.highlevelgraph")
        shape = tuple(resolve_dim(d, self.sizes) for d in node.shape)
        name = f"tc-out{m}-{self.token}"
        if role.axis is not None and isinstance(node, Var):
            return next(a for n, _, a in self.batch_inputs if n == node.name)
        # numbers only (float64 in the kernels): the precision of the call's arrays, as numpy
        dtype = self._call_precision(m) if role.const else self.dtype
        dtype = dtype if dtype.kind in "fc" else np.dtype(np.float64)
        cast = dtype if role.const else None
        if role.axis is not None:
            stage = stage_keys[role.level]
            item = next(k for k, o in enumerate(stage_outputs[role.level]) if o.uid == node.uid)
            layer = {}
            for i in range(len(self.row_chunks)):
                key = tuple([name] + [i if k == role.axis else 0 for k in range(len(shape))])
                layer[key] = self.spec.Task(key, _item_as, self.spec.TaskRef((stage, i)), item, cast)
            chunks = tuple(self.row_chunks if k == role.axis else (n,) for k, n in enumerate(shape))
        else:
            src = self.sources[node.uid]
            key = (name,) + (0,) * len(shape)
            layer = {key: self.spec.Task(key, _item_as, self.spec.TaskRef(src.key), src.item, cast)}
            chunks = tuple((n,) for n in shape)
        core = hlg_mod.HighLevelGraph.from_collections(f"tc-{self.token}", self.layer, dependencies=self.deps)
        layers = dict(core.layers)
        layers[name] = layer
        dependencies = dict(core.dependencies)
        dependencies[name] = {f"tc-{self.token}"}
        graph = hlg_mod.HighLevelGraph(layers, dependencies)
        return self.da.Array(graph, name, chunks, meta=np.empty((0,) * len(shape), dtype))


    def _call_precision(self, m: int) -> np.dtype:
        """The precision of the arrays given for the variables of output ``m`` as the user
        built it (a numbers-only output takes it, :func:`~.precision.keep_call_precision`)."""
        names = {n.name for n in topological([self.compiled.exprs[m]]) if isinstance(n, Var)}
        names = names or set(self.compiled.origins)  # no variable left (``2 x`` differentiated)
        dtypes = [self.input_dtypes[n] for n in names if n in self.input_dtypes]
        return np.result_type(*dtypes) if dtypes else np.dtype(np.float64)


def _item_as(value: Any, item: int | None, dtype: np.dtype | None) -> Any:
    """``value[item]`` (``value`` itself for None), cast to ``dtype`` (complex kept) when given."""
    out = value if item is None else value[item]
    if dtype is None:
        return out
    out = np.asarray(out)
    return out.astype(np.result_type(dtype, 0j if out.dtype.kind == "c" else 0.0), copy=False)


def _unique(nodes: Sequence[Expr]) -> list[Expr]:
    return list({n.uid: n for n in nodes}.values())
