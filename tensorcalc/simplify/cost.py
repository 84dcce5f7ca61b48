"""The planned cost of expressions, which every cost-sensitive rewrite consults.

A cost is ``(flops, peak)``: the floating-point operations of the compiled program and the
size (in elements) of its largest array, the inputs excepted. An einsum costs what the
planner reports for it (``contract_path``: ``opt_cost`` and ``largest_intermediate``, the
output included); an elementwise node, a sum or any other node costs one operation per
element of its result. Named dimensions are given their size from the ``sizes`` hint of the
running simplification (:func:`size_hint`), else :data:`DEFAULT_DIM`.

Rewrites compare the cost of the expression they would produce against the one they
replace (:func:`not_worse`); the planner's answer for one einsum depends only on its
subscripts and sizes, so it is cached by them.

>>> from tensorcalc.ir import Einsum, Var
>>> A, x = Var("A", ("m", "n")), Var("x", ("n",))
>>> einsum_cost(Einsum(["ab", "b"], "a", [A, x], {"a": "m", "b": "n"}))
Cost(flops=8192, peak=64)
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterable, Iterator, Mapping, NamedTuple, Sequence

from ..contraction import contract_path
from ..ir import Add, Einsum, Expr, Var, Const, topological

DEFAULT_DIM = 64
"""The size a named dimension stands for when no hint gives it one."""

_CACHE_LIMIT = 1 << 16
_CACHE: dict[tuple, "Cost"] = {}
_STATE = threading.local()


class Cost(NamedTuple):
    flops: float
    peak: int

    def __add__(self, other: "Cost") -> "Cost":  # type: ignore[override]
        return Cost(self.flops + other.flops, max(self.peak, other.peak))


ZERO = Cost(0, 0)


def size_hint() -> Mapping[str, int]:
    """The sizes of named dimensions the running simplification plans for."""
    return getattr(_STATE, "sizes", None) or {}


@contextlib.contextmanager
def planning_sizes(sizes: Mapping[str, int] | None) -> Iterator[None]:
    """Within the block, cost named dimensions with ``sizes`` (the rest with the default)."""
    saved = getattr(_STATE, "sizes", None)
    _STATE.sizes = dict(sizes) if sizes else saved
    try:
        yield
    finally:
        _STATE.sizes = saved


def dim_size(d: Any, sizes: Mapping[str, int] | None = None) -> int:
    if isinstance(d, int):
        return d
    hint = size_hint() if sizes is None else sizes
    return int(hint.get(d, DEFAULT_DIM))


def numel(shape: Sequence[Any], sizes: Mapping[str, int] | None = None) -> int:
    out = 1
    for d in shape:
        out *= dim_size(d, sizes)
    return out


def einsum_cost(e: Einsum, sizes: Mapping[str, int] | None = None) -> Cost:
    """The planned cost of one einsum node (its operands already computed).

    A scale (or a factor of named sizes) costs what the compiled program spends on it: one
    pass over the smallest operand, or over the result of a transpose (a view otherwise).
    """
    return spec_cost(e.inputs, e.output, e.sizes, sizes, e.scale != 1.0 or bool(e.factor_dims))


def spec_cost(inputs: tuple[str, ...], output: str, dims: Mapping[str, Any],
              sizes: Mapping[str, int] | None = None, scaled: bool = False) -> Cost:
    """The planned cost of ``einsum(inputs -> output)``, label ``l`` of dimension ``dims[l]``
    (times a factor, when ``scaled``)."""
    sized = {lab: dim_size(d, sizes) for lab, d in dims.items()}
    key = (inputs, output, tuple(sized.items()), scaled)
    cost = _CACHE.get(key)
    if cost is None:
        cost = _plan_cost(inputs, output, sized)
        if scaled:
            cost = _scale_cost(cost, inputs, output, sized)
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        _CACHE[key] = cost
    return cost


def _plan_cost(inputs: Sequence[str], output: str, sized: Mapping[str, int]) -> Cost:
    out_size = 1
    for lab in output:
        out_size *= sized[lab]
    labels = inputs[0] if len(inputs) == 1 else ""
    if (len(inputs) == 1 and len(set(labels)) == len(labels)
            and sorted(labels) == sorted(output)):
        return ZERO  # a transpose: a strided view, no work and no copy
    carried = set("".join(inputs))
    extra = {lab: sized[lab] for lab in output if lab not in carried}
    shapes = [tuple(sized[lab] for lab in s) for s in inputs]
    _, info = contract_path(",".join(inputs) + "->" + output, *shapes, shapes=True,
                            sizes=extra or None)
    flops = int(info.opt_cost)
    peak = int(info.largest_intermediate)
    extended = len(set(output)) != len(output) or bool(extra)
    if extended:  # the planner reports the reduced output; the embedding is written too
        flops += out_size
    return Cost(flops, max(peak, out_size))


def _scale_cost(cost: Cost, inputs: Sequence[str], output: str, sized: Mapping[str, int]) -> Cost:
    """``cost`` plus the scale: the compiled program multiplies the smallest operand (a
    transpose, a view otherwise, is multiplied as a whole)."""
    def size(labels: str) -> int:
        out = 1
        for lab in labels:
            out *= sized[lab]
        return out

    if cost == ZERO:
        return Cost(size(output), size(output))
    return Cost(cost.flops + min(size(s) for s in inputs), cost.peak)


def node_cost(e: Expr, sizes: Mapping[str, int] | None = None) -> Cost:
    """The cost of computing node ``e`` from its children."""
    if isinstance(e, Einsum):
        return einsum_cost(e, sizes)
    if isinstance(e, (Var, Const)) or not e.children:
        return ZERO
    size = numel(e.shape, sizes)
    if isinstance(e, Add):
        return Cost(size * max(1, len(e.children) - 1), size)
    return Cost(size, size)


def expr_cost(exprs: Sequence[Expr], sizes: Mapping[str, int] | None = None) -> Cost:
    """The cost of computing every node of ``exprs`` once (shared nodes counted once)."""
    total = ZERO
    for node in topological(list(exprs)):
        total = total + node_cost(node, sizes)
    return total


def not_worse(new: Cost, old: Cost, floor: int = 0) -> bool:
    """``new`` raises neither the operations nor the largest intermediate of ``old``; an
    intermediate no larger than ``floor`` (the largest array the forms read) counts as ``floor``:
    ``A + Aᵀ`` is no bigger than ``A``."""
    return new.flops <= old.flops and max(new.peak, floor) <= max(old.peak, floor)


def better(new: Cost, old: Cost, floor: int = 0) -> bool:
    """``new`` lowers the operations and does not raise the largest intermediate (as in
    :func:`not_worse`)."""
    return new.flops < old.flops and max(new.peak, floor) <= max(old.peak, floor)


def largest(operands: Iterable[Expr], sizes: Mapping[str, int] | None = None) -> int:
    """The size of the largest of ``operands`` (the arrays a rewrite's forms read)."""
    return max((numel(op.shape, sizes) for op in operands), default=0)
