"""Turn a parsed einsum into a cached plan of compiled steps.

opt_einsum picks the pairwise order; this module then fixes, for every step, which kernel
runs it and the axis order of its result:

* operands with repeated labels or labels no one else needs are first reduced on their own
  (a SOP step: diagonal and sum in one strided pass);
* a pair with contracted labels becomes a batched GEMM laid out as (batch, rows, cols), so the
  next GEMM reads it without a transpose copy; any pair with batch labels qualifies;
* other pairs (Hadamard products, outer products, tiny contractions) run as SOP loops;
* the last step writes the requested output directly when it can (transposes, diagonal
  embedding and broadcasts included), otherwise one SOP step rearranges it.

>>> from tensorcalc.contraction.subscripts import parse
>>> import numpy as np
>>> plan = get_plan(parse("ij,jk->ik", [(20, 30), (30, 40)]), [np.dtype("f8")] * 2)
>>> plan.describe()
['GEMM ij,jk->ik  batch=- rows=i cols=k inner=j']
"""

from __future__ import annotations

import math

import numbers
import operator
import threading
from typing import Any, Sequence

import numpy as np

try:
    from .. import _core
except ImportError as _err:  # a source checkout whose compiled core was never built
    import os as _os
    _ROOT = _os.path.dirname(_os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))))
    raise ImportError(
        "the compiled core tensorcalc._core is not built: run `pip install -e .` (or "
        f"`python setup.py build_ext --inplace`) in {_ROOT}") from _err
from ..errors import PathError, TensorcalcError
from .fallback import einsum_numpy
from .paths import path_function, path_report, strategy_names
from .subscripts import Spec

MAX_LOOP_DIMS = _core.MAXD   # the core's own limit, not a copy that could drift from it
GEMM_MIN_WORK = 1024         # below this many multiply-adds per batch a SOP loop is cheaper
DOT_MIN = 1 << 16            # a dot product this long is worth BLAS (threaded, vectorised)
CORE_DTYPES = _core.DTYPES


class Plan:
    """A compiled plan: steps for the core, run on arrays of one shape signature."""

    def __init__(self, spec: Spec, dtype: np.dtype, steps: list, path: list, notes: list,
                 axes: tuple | None = None) -> None:
        self.spec = spec
        self.dtype = dtype
        self.steps = tuple(steps)
        self.path = path
        self._notes = notes
        self._axes = axes  # a final transpose, returned as a view (numpy does the same)

    def execute(self, arrays: Sequence[np.ndarray], out: np.ndarray | None = None) -> Any:
        """Run on ``arrays`` (of the planned shapes); numpy.einsum's return conventions."""
        result = _core.run_plan(self.steps, list(arrays), self.dtype, len(self.spec.inputs))
        if self._axes is not None:
            result = result.transpose(self._axes)
        return _finish(result, out)

    def describe(self) -> list[str]:
        """One line per step: kernel, labels and, for GEMM, the label groups."""
        return list(self._notes)


class ViewPlan:
    """A transpose, diagonal or squeeze of one operand: a view, as numpy.einsum returns."""

    def __init__(self, spec: Spec, path: list) -> None:
        self.spec = spec
        self.path = path
        labels = iter(spec.inputs[0])
        drop = set(spec.squeeze[0])
        ndim = len(spec.inputs[0]) + len(drop)
        self._dims = tuple(-1 if ax in drop else spec.output.index(next(labels))
                           for ax in range(ndim))
        self._shape = tuple(spec.sizes[lab] for lab in spec.output)

    def execute(self, arrays: Sequence[np.ndarray], out: np.ndarray | None = None) -> Any:
        if len(arrays) != 1:
            raise TensorcalcError(f"the plan takes 1 operand, got {len(arrays)}")
        return _finish(_core.relabel_view(np.asarray(arrays[0]), self._dims, self._shape), out)

    def describe(self) -> list[str]:
        return [f"view {self.spec}"]


class FallbackPlan:
    """numpy.einsum for dtypes the core does not handle (ints, bool, object, ...)."""

    def __init__(self, spec: Spec, path: list) -> None:
        self.spec = spec
        self.path = path
        self._shapes = []
        for labels, drop in zip(spec.inputs, spec.squeeze):
            it = iter(labels)
            ndim = len(labels) + len(drop)
            self._shapes.append(tuple(1 if ax in drop else spec.sizes[next(it)] for ax in range(ndim)))

    def execute(self, arrays: Sequence[np.ndarray], out: np.ndarray | None = None) -> Any:
        arrays = [np.asarray(a) for a in arrays]
        shapes = [a.shape for a in arrays]
        if shapes != self._shapes:
            raise TensorcalcError(f"operands have shapes {shapes} but the plan expects {self._shapes}")
        return _finish(np.asarray(einsum_numpy(self.spec, arrays)), out)

    def describe(self) -> list[str]:
        return [f"numpy.einsum {self.spec}"]


def _finish(result: np.ndarray, out: np.ndarray | None) -> Any:
    if out is not None:
        if not isinstance(out, np.ndarray):
            raise TypeError(f"out must be a numpy array, got {type(out).__name__}")
        if out.shape != result.shape:
            raise TensorcalcError(f"out has shape {out.shape} but the result has shape {result.shape}")
        try:
            np.copyto(out, result, casting="safe")
        except TypeError:
            raise TypeError(f"cannot write a {result.dtype} result into out of dtype {out.dtype}") from None
        return out
    if result.ndim == 0:
        return result[()]
    return result


# ---------------------------------------------------------------------------------------
# Plan cache

CACHE: dict[tuple, Any] = {}     # (subscripts, optimize, sizes, (shape, dtype)...) -> plan
_CACHE_LIMIT = 1024
_CACHE_LOCK = threading.Lock()


def cached_plan(key: tuple, build) -> Any:
    """The plan stored under ``key``, built by ``build()`` on first use (thread-safe)."""
    plan = CACHE.get(key)
    if plan is None:
        plan = build()
        remember(CACHE, key, plan)
    return plan


def remember(cache: dict, key: Any, value: Any, limit: int = _CACHE_LIMIT) -> None:
    """Store ``value``, evicting the oldest entries beyond ``limit``; readers need no lock."""
    with _CACHE_LOCK:
        while len(cache) >= limit:
            cache.pop(next(iter(cache)), None)
        cache[key] = value


def get_plan(spec: Spec, dtypes: Sequence[np.dtype], optimize: Any = "auto") -> Plan | FallbackPlan:
    """Plan ``spec`` for operands of the given dtypes."""
    dtype = np.result_type(*dtypes) if dtypes else np.dtype(np.float64)
    path = find_path(spec, optimize)
    if (len(spec.inputs) == 1 and len(set(spec.output)) == len(spec.output)
            and set(spec.output) == set(spec.inputs[0])):
        return ViewPlan(spec, path)
    if dtype not in CORE_DTYPES or len(spec.sizes) > MAX_LOOP_DIMS:
        return FallbackPlan(spec, path)
    return _Builder(spec, dtype).build(path)


# ---------------------------------------------------------------------------------------
# Paths

def _reduced_output(spec: Spec) -> str:
    carried = set("".join(spec.inputs))
    return "".join(dict.fromkeys(lab for lab in spec.output if lab in carried))


def optimize_key(optimize: Any, n: int) -> Any:
    """``optimize`` checked for ``n`` operands, in the form plans are cached under.

    Everything :func:`find_path` would refuse is refused here, before any cache lookup, so a
    value merely equal to an accepted one (``1.0 == True``) never finds that one's plan.
    ``None`` becomes ``False``, an explicit path a tuple of tuples (``"einsum_path"`` dropped),
    numpy's ``(strategy, memory_limit)`` a ``(name, int)`` pair. A callable is kept as is:
    what it returns is checked when the plan is made.

    >>> optimize_key(["einsum_path", (0, 2), (0, 1)], 3)
    ((0, 2), (0, 1))
    >>> optimize_key(("greedy", 1e6), 3)
    ('greedy', 1000000)
    """
    if optimize is None or optimize is True or optimize is False:
        return bool(optimize)
    if isinstance(optimize, str):
        _strategy(optimize)
        return optimize
    if isinstance(optimize, (list, tuple)):
        limited = _memory_limited(optimize)
        if limited is not None:
            _strategy(limited[0])
            return limited
        return tuple(_check_path(list(optimize), n))
    if callable(optimize):
        return optimize
    raise TypeError(f"optimize must be a bool, a strategy name, (name, memory_limit), a path "
                    f"or a callable, got {optimize!r}")


def find_path(spec: Spec, optimize: Any) -> list[tuple[int, ...]]:
    """A contraction path in opt_einsum's format (pairs of positions in the shrinking list).

    ``optimize`` is a bool, a strategy name, numpy's ``(name, memory_limit)`` (no intermediate
    larger than ``memory_limit`` elements), an explicit path (opt_einsum's list of tuples or
    numpy's ``["einsum_path", ...]``) or a callable with opt_einsum's path-function signature.
    """
    n = len(spec.inputs)
    memory_limit = None
    limited = _memory_limited(optimize)
    if limited is not None:
        optimize, memory_limit = limited
    elif isinstance(optimize, (list, tuple)):
        return _check_path(list(optimize), n)
    if optimize is False or optimize is None or optimize is True:
        # The core contracts pairwise; a left-to-right order could build intermediates that
        # numpy's single-loop optimize=False never makes, so False gets the cheap greedy order.
        fn = path_function("greedy")
    elif isinstance(optimize, str):
        fn = _strategy(optimize)
    elif callable(optimize):
        fn = optimize
    else:
        raise TypeError(f"optimize must be a bool, a strategy name, (name, memory_limit), a path "
                        f"or a callable, got {optimize!r}")
    if n < 2:
        return [(0,)] if n == 1 else []
    if n == 2:
        return [(0, 1)]
    sets = [frozenset(t) for t in spec.inputs]
    output = frozenset(_reduced_output(spec))
    # zero-size axes make every order free; some strategies (dp) fail on them
    size_dict = {lab: max(spec.sizes[lab], 1) for lab in set("".join(spec.inputs))}
    path = fn(sets, output, size_dict, memory_limit)
    # a callable's path is checked like an explicit one (the built-in strategies' are right)
    path = _check_path(path, n, f"optimize={optimize!r} returned an invalid path: ")
    if n == 3 and isinstance(optimize, (str, bool)) and memory_limit is None:
        path = _along_rows(spec, path)
    return path


def _contracted_later(labels: list, output: str) -> bool:
    """Whether a later step sums one of ``labels`` (an intermediate's label not in the output)."""
    return any(lab not in output for lab in labels)


def _along_rows(spec: Spec, path: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """Of the three-operand orders as cheap as ``path``, one whose first step sums its larger
    operand's last (contiguous) axis, where opt_einsum's choice does not.

    In ``x^T A y`` both first steps cost the same, but ``A y`` reads each row of A into one
    dot product (BLAS GEMV "T", shared out by rows), while ``x^T A`` adds scaled rows into a
    whole vector (GEMV "N", about 1.16x slower in scipy's OpenBLAS and cut into partial
    sums). Ties only: never a costlier order.

    >>> from tensorcalc.contraction.subscripts import parse
    >>> _along_rows(parse("i,ij,j->", [(4,), (4, 4), (4,)]), [(0, 1), (0, 1)])
    [(1, 2), (0, 1)]
    """
    if [len(step) for step in path] != [2, 2]:
        return path             # a strategy's own single-operand or three-way steps stay
    chosen = tuple(sorted(path[0]))
    options = sorted([(0, 1), (0, 2), (1, 2)], key=lambda pair: pair != chosen)
    cost = {pair: _three_operand_cost(spec, pair) for pair in options}
    for pair in options:
        if cost[pair] <= cost[chosen] and _sums_last_axis(spec, pair):
            return [pair, (0, 1)]
    return path


def _three_operand_cost(spec: Spec, pair: tuple[int, int]) -> int:
    """Multiply-adds of contracting ``pair`` first, then the rest (as opt_einsum counts)."""
    rest = ({0, 1, 2} - set(pair)).pop()
    first = set(spec.inputs[pair[0]]) | set(spec.inputs[pair[1]])
    kept = first & (set(spec.inputs[rest]) | set(spec.output))
    second = kept | set(spec.inputs[rest])
    return math.prod(spec.sizes[lab] for lab in first) + math.prod(
        spec.sizes[lab] for lab in second)


def _sums_last_axis(spec: Spec, pair: tuple[int, int]) -> bool:
    rest = ({0, 1, 2} - set(pair)).pop()
    big = max(pair, key=lambda k: math.prod(spec.sizes[lab] for lab in spec.inputs[k]))
    labels = spec.inputs[big]
    return bool(labels) and labels[-1] not in set(spec.inputs[rest]) | set(spec.output) | (
        set(labels[:-1]))


def _strategy(name: str) -> Any:
    try:
        return path_function(name)
    except KeyError:
        raise TensorcalcError(
            f"unknown optimize strategy {name!r}; use one of {strategy_names()} or an explicit path"
        ) from None


def _memory_limited(optimize: Any) -> tuple[str, int] | None:
    """``(name, limit)`` for numpy's ``optimize=(strategy, memory_limit)``, else None."""
    if not (isinstance(optimize, (list, tuple)) and len(optimize) == 2
            and isinstance(optimize[0], str) and optimize[0] != "einsum_path"):
        return None
    name, limit = optimize
    if not isinstance(limit, numbers.Real):
        raise TypeError(f"optimize={optimize!r}: the memory limit (a number of elements) must be "
                        f"a number, got {limit!r}")
    try:
        return name, int(limit)
    except (OverflowError, ValueError):
        raise TensorcalcError(f"optimize={optimize!r}: the memory limit must be finite") from None


def _check_path(path: Any, n: int, where: str = "") -> list[tuple[int, ...]]:
    """``path`` as a list of tuples, checked to contract ``n`` operands to one.

    Errors are :class:`PathError` (a ``RuntimeError`` too, as numpy raises) naming the step;
    ``where`` prefixes them (a callable's path says which callable).
    """
    try:
        steps = list(path)
    except TypeError:
        raise PathError(f"{where}{path!r} is not a path (a list of tuples of positions)") from None
    if steps and isinstance(steps[0], str) and steps[0] == "einsum_path":
        steps = steps[1:]
    out = []
    count = n
    for k, step in enumerate(steps):
        try:
            items = tuple(operator.index(i) for i in step)
        except TypeError:
            raise PathError(f"{where}path step {k} ({step!r}) is not a tuple of operand positions") from None
        if not items or len(set(items)) != len(items) or any(i < 0 or i >= count for i in items):
            raise PathError(
                f"{where}path step {k} ({step!r}) must name distinct positions among the {count} "
                f"operands left"
            )
        count -= len(items) - 1
        out.append(items)
    if count != 1:
        raise PathError(f"{where}the path {path!r} leaves {count} operands instead of one")
    return out


def path_info(spec: Spec, shapes: Sequence[tuple[int, ...]], optimize: Any = "auto"):
    """``(path, PathInfo)`` as opt_einsum reports them (booleans keep opt_einsum's meaning:
    True is "auto", False is one step over all operands)."""
    path = optimize if isinstance(optimize, bool) else find_path(spec, optimize)
    text = ",".join(spec.inputs) + "->" + _reduced_output(spec)
    squeezed = [tuple(spec.sizes[lab] for lab in t) for t in spec.inputs]
    if len(spec.inputs) == 1 and not isinstance(path, bool):
        path = [(0,)]
    return path_report(text, squeezed, path)


# ---------------------------------------------------------------------------------------
# Building steps

class _Term:
    """A slot's content: the label of every axis (None for a squeezed broadcast axis)."""

    def __init__(self, slot: int, axes: tuple) -> None:
        self.slot = slot
        self.axes = axes

    @property
    def labels(self) -> str:
        return "".join(dict.fromkeys(a for a in self.axes if a is not None))


class _Builder:
    def __init__(self, spec: Spec, dtype: np.dtype) -> None:
        self.spec = spec
        self.dtype = dtype
        self.sizes = spec.sizes
        self.steps: list = []
        self.notes: list[str] = []
        self.next_slot = len(spec.inputs)
        self.producer: dict[int, tuple] = {}   # slot -> (step index, terms) of free-layout SOP steps

    def build(self, path: list) -> Plan:
        spec = self.spec
        terms = [self._input_term(k) for k in range(len(spec.inputs))]
        output = spec.output
        if len(terms) == 1:
            self._sop([terms[0]], output, final=True)
            return Plan(spec, self.dtype, self.steps, path, self.notes)
        terms = [self._pre_reduce(k, terms) for k in range(len(terms))]
        for step in path:
            picked = [terms[i] for i in step]
            terms = [t for i, t in enumerate(terms) if i not in step]
            current = picked[0]
            for k, other in enumerate(picked[1:]):
                rest = terms + picked[k + 2:]
                last = not rest
                current = self._pair(current, other, rest, output, last)
            terms.append(current)
        (result,) = terms
        if result.axes == tuple(output):
            return Plan(spec, self.dtype, self.steps, path, self.notes)
        if sorted(result.axes) == sorted(output) and len(set(output)) == len(output):
            axes = tuple(result.axes.index(lab) for lab in output)
            self.notes.append(f"view {''.join(result.axes)}->{output}")
            return Plan(spec, self.dtype, self.steps, path, self.notes, axes)
        self._sop([result], output, final=True)
        return Plan(spec, self.dtype, self.steps, path, self.notes)

    # -- terms ---------------------------------------------------------------------------
    def _input_term(self, k: int) -> _Term:
        labels = iter(self.spec.inputs[k])
        squeeze = set(self.spec.squeeze[k])
        ndim = len(self.spec.inputs[k]) + len(squeeze)
        return _Term(k, tuple(None if ax in squeeze else next(labels) for ax in range(ndim)))

    def _needed_elsewhere(self, k: int, terms: list) -> set:
        need = set(self.spec.output)
        for j, t in enumerate(terms):
            if j != k:
                need |= set(t.labels)
        return need

    def _pre_reduce(self, k: int, terms: list) -> _Term:
        """Take diagonals and sum labels only this operand has, in one pass."""
        term = terms[k]
        real = [a for a in term.axes if a is not None]
        need = self._needed_elsewhere(k, terms)
        keep = "".join(lab for lab in term.labels if lab in need)
        if len(real) == len(set(real)) and keep == term.labels:
            return term
        return self._sop([term], keep, final=False)

    # -- steps ---------------------------------------------------------------------------
    def _new_slot(self) -> int:
        slot = self.next_slot
        self.next_slot += 1
        return slot

    def _sop(self, terms: list, out_labels: str, final: bool, slot: int | None = None,
             index: int | None = None) -> _Term:
        """A sum-of-products step from one or two terms into ``out_labels`` (any order,
        repeated labels embed a diagonal, labels no term has broadcast).

        ``slot``/``index`` re-emit an earlier step with another output layout."""
        order = "".join(dict.fromkeys("".join(t.labels for t in terms) + out_labels))
        dim = {lab: d for d, lab in enumerate(order)}
        sizes = [self.sizes[lab] for lab in order]
        a = terms[0]
        b = terms[1] if len(terms) > 1 else None
        if slot is None:
            slot = self._new_slot()
        # the core derives the output shape and whether it must start zeroed (sums, embeddings)
        step = _core.Step.sop(
            a=a.slot, b=b.slot if b else -1, out=slot, sizes=sizes,
            dims_a=[dim[x] if x is not None else -1 for x in a.axes],
            dims_b=[dim[x] if x is not None else -1 for x in b.axes] if b else (),
            dims_c=[dim[x] for x in out_labels], release=self._release(terms),
        )
        ins = ",".join("".join(x or "1" for x in t.axes) for t in terms)
        note = f"SOP {ins}->{out_labels}"
        if index is not None:
            self.steps[index], self.notes[index] = step, note
            return _Term(slot, tuple(out_labels))
        self.steps.append(step)
        self.notes.append(note)
        if not final:
            self.producer[slot] = (len(self.steps) - 1, terms)
        return _Term(slot, tuple(out_labels))

    def _relayout(self, term: _Term, labels: list) -> None:
        """Have the SOP step that made ``term`` write it in the order ``labels``."""
        order = "".join(labels)
        if term.labels == order:
            return
        index, terms = self.producer[term.slot]
        self._sop(terms, order, final=False, slot=term.slot, index=index)
        term.axes = tuple(order)

    def _release(self, terms: list) -> tuple:
        return tuple(t.slot for t in terms)

    def _pair(self, x: _Term, y: _Term, rest: list, output: str, last: bool) -> _Term:
        need = set(output)
        for t in rest:
            need |= set(t.labels)
        lx, ly = x.labels, y.labels
        keep = [lab for lab in dict.fromkeys(lx + ly) if lab in need]
        # Free-layout operands (made by earlier SOP steps) are rewritten to suit this GEMM;
        # the group order follows an operand whose layout is fixed.
        free_x, free_y = x.slot in self.producer, y.slot in self.producer
        ref = y if free_x and not free_y else x
        batch = [lab for lab in ref.labels if lab in lx and lab in ly and lab in need]
        inner = [lab for lab in ref.labels if lab in lx and lab in ly and lab not in need]
        rows = [lab for lab in lx if lab not in ly]
        cols = [lab for lab in ly if lab not in lx]
        size = self.sizes
        m, n, k = (int(np.prod([size[l] for l in g], dtype=np.int64)) for g in (rows, cols, inner))
        # a lone dot product goes to BLAS only when long enough to beat a typed loop; a batch
        # of matrix-vector products is memory-bound, and the typed loop reads each matrix
        # once at memory speed where BLAS pays a call per product (1.3 ms against 3.5 ms for
        # 1024 products of 64 x 64, measured)
        use_gemm = (k > 1 and m * n * k >= GEMM_MIN_WORK and (m * n > 1 or k >= DOT_MIN)
                    and not (batch and (m == 1) != (n == 1)))
        if not use_gemm:
            # a SOP step writes any layout, diagonal embeddings and broadcasts included
            return self._sop([x, y], output if last else "".join(keep), final=last)
        if (last and "".join(batch + cols + rows) == output) or (
                not last and _contracted_later(cols, output)
                and not _contracted_later(rows, output)):
            # the result's axes that a later step sums go first, where that step's operand
            # then reads them as one leading group (no packing copy)
            x, y, rows, cols = y, x, cols, rows
            free_x, free_y = free_y, free_x
        if free_x:
            self._relayout(x, batch + rows + inner)
        if free_y:
            self._relayout(y, batch + inner + cols)
        return self._gemm(x, y, batch, rows, cols, inner)

    def _gemm(self, x: _Term, y: _Term, batch: list, rows: list, cols: list, inner: list) -> _Term:
        order = batch + rows + inner + cols
        dim = {lab: d for d, lab in enumerate(order)}
        role = _core.Role
        roles = ([role.BATCH] * len(batch) + [role.ROW] * len(rows)
                 + [role.INNER] * len(inner) + [role.COL] * len(cols))
        out_labels = "".join(batch + rows + cols)
        slot = self._new_slot()
        step = _core.Step.gemm(
            a=x.slot, b=y.slot, out=slot, sizes=[self.sizes[lab] for lab in order], roles=roles,
            dims_a=[dim[a] if a is not None else -1 for a in x.axes],
            dims_b=[dim[a] if a is not None else -1 for a in y.axes],
            dims_c=[dim[lab] for lab in out_labels], release=self._release([x, y]),
        )
        self.steps.append(step)
        show = lambda g: "".join(g) or "-"  # noqa: E731
        self.notes.append(
            f"GEMM {x.labels},{y.labels}->{out_labels}  batch={show(batch)} rows={show(rows)} "
            f"cols={show(cols)} inner={show(inner)}"
        )
        return _Term(slot, tuple(out_labels))
