"""Stage planning on the DAG for dask arrays chunked along a batch dimension: where each
node's batch axis is (:func:`batch_rule`, a registry by node type), which nodes reduce it
(:class:`Reduce`) and in which stage every node runs (:func:`plan`). No dask here: the plan is
plain data that :mod:`.chunked_graph` turns into a graph.

A stage ends where a batch reduction is used again together with the batch axis (centering
by the mean, a softmax over the batch, rewritten as ``x - logsumexp(x)`` over the combined
``logsumexp``); a graph that mixes rows raises :class:`NotChunkable`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ..ir import Add, Const, Einsum, Expr, Var, WithDims, topological
from ..ops.nodes import AXIS, AxisFunc, Func, Index, IndexAdjoint, LogSumExp, MatFunc, PowArray, Stack
from ..simplify.core import rebuild
from .chunked_combine import COMBINE

__all__ = ["NotChunkable", "Reduce", "batch_rule", "EXPAND", "Role", "Plan", "plan"]


class NotChunkable(Exception):
    """The graph does not follow the batch dimension (the reason is the message)."""


@dataclass(frozen=True)
class Reduce:
    """The node sums (``combine`` names a row of :data:`COMBINE`) the batch axis away."""

    combine: str


@functools.singledispatch
def batch_rule(node: Expr, axes: Sequence[int | None], batch: str) -> Any:
    """Where the batch axis of ``node`` is, given its children's (``None``: no batch axis).

    A registry by node type. A rule returns the axis (int), ``None``, a :class:`Reduce` (the
    node reduces the batch axis; its partials combine by the named step), or an equal
    expression to plan instead (a softmax over the batch becomes ``exp(x - logsumexp x)``);
    it raises :class:`NotChunkable` when the node mixes rows. The default: a node none of
    whose children carries the batch axis carries none.
    """
    if all(a is None for a in axes):
        return None
    raise NotChunkable(f"{type(node).__name__} has no rule for a batch axis")


@batch_rule.register(Var)
def _var_rule(node: Var, axes: Sequence[int | None], batch: str) -> int | None:
    found = [k for k, d in enumerate(node.shape) if d == batch]
    if len(found) > 1:
        raise NotChunkable(f"variable {node.name!r} has the batch dimension {batch!r} twice")
    return found[0] if found else None


@batch_rule.register(Const)
def _const_rule(node: Const, axes: Sequence[int | None], batch: str) -> None:
    return None


@batch_rule.register(Einsum)
def _einsum_rule(node: Einsum, axes: Sequence[int | None], batch: str) -> Any:
    labels = set()
    for spec, ax in zip(node.inputs, axes):
        if ax is not None:
            if spec.count(spec[ax]) > 1:
                raise NotChunkable(f"einsum {node.spec!r} takes a diagonal over the batch axis")
            labels.add(spec[ax])
    carried = set("".join(node.inputs))
    spread = {lab for lab in node.output if lab not in carried and node.sizes[lab] == batch}
    summed = sorted(labels - set(node.output))
    if len(labels) > 1 and len(labels) - len(summed) + len(spread) <= 1:
        return _split_batch_sums(node, axes, summed)
    if len(labels) == 1 and len(spread) == 1 and not labels & set(node.output):
        # sums over the batch, then broadcasts the sum back along it (the gradient of a
        # column sum): the reduction, then a broadcast of its combined value
        kept = "".join(lab for lab in node.output if lab not in spread)
        inner = Einsum(node.inputs, kept, node.children, node.sizes, node.scale, node.factor_dims)
        return Einsum([kept], node.output, [inner], node.sizes)
    if len(labels | spread) > 1 or any(node.output.count(lab) > 1 for lab in labels | spread):
        raise NotChunkable(f"einsum {node.spec!r} has two batch axes in its result")
    if not (labels | spread):
        return None
    (label,) = labels | spread
    if label in node.output:
        return node.output.index(label)
    return Reduce("sum")


def _split_batch_sums(node: Einsum, axes: Sequence[int | None], summed: Sequence[str]) -> Einsum:
    """An einsum in which several batch labels meet (``s_a Σ_b y_b e_b``: rows ``a`` kept, rows
    ``b`` summed), as one reduction per summed label, the operands carrying it contracted
    first, and an einsum of the rest and those sums."""
    inputs, children = list(node.inputs), list(node.children)
    sums: list[tuple[str, Expr]] = []
    for label in summed:
        group = [k for k, (spec, ax) in enumerate(zip(inputs, axes)) if ax is not None and spec[ax] == label]
        rest = "".join(spec for k, spec in enumerate(inputs) if k not in group) + node.output
        kept = "".join(dict.fromkeys(lab for k in group for lab in inputs[k] if lab in rest))
        sums.append((kept, Einsum([inputs[k] for k in group], kept, [children[k] for k in group],
                                  node.sizes)))
        inputs = [spec for k, spec in enumerate(inputs) if k not in group]
        children = [c for k, c in enumerate(children) if k not in group]
        axes = [ax for k, ax in enumerate(axes) if k not in group]
    return Einsum(inputs + [kept for kept, _ in sums], node.output, children + [s for _, s in sums],
                  node.sizes, node.scale, node.factor_dims)


@batch_rule.register(Add)
def _add_rule(node: Add, axes: Sequence[int | None], batch: str) -> int | None:
    if len(set(axes)) > 1:
        raise NotChunkable("a sum adds a term along the batch axis to one without it")
    return axes[0]


@batch_rule.register(Func)
def _elementwise_rule(node: Expr, axes: Sequence[int | None], batch: str) -> int | None:
    return axes[0]


@batch_rule.register(PowArray)
def _pow_array_rule(node: PowArray, axes: Sequence[int | None], batch: str) -> int | None:
    ax = axes[0]
    if ax is not None:
        at = ax - (node.children[0].ndim - node.exponent.ndim)
        if at >= 0 and node.exponent.shape[at] != 1:
            raise NotChunkable("an exponent array varies along the batch axis")
    return ax


@batch_rule.register(MatFunc)
def _matfunc_rule(node: MatFunc, axes: Sequence[int | None], batch: str) -> int | None:
    ax = axes[0]
    if ax is not None and ax >= node.children[0].ndim - 2:
        raise NotChunkable(f"{node.name} of a matrix with the batch axis")
    return ax


def _softmax_over_batch(node: AxisFunc) -> Expr:
    """``x - logsumexp(x)`` (log_softmax) or its exp (softmax), with the logsumexp over the
    batch a separate reduction whose combined value is broadcast back."""
    x = node.children[0]
    labels = "abcdefghijklmnopqrstuvwxyz"[: x.ndim]
    kept = "".join(lab for k, lab in enumerate(labels) if k not in node.axes)
    lse = LogSumExp(x, node.axes)
    spread = Einsum([kept], labels, [lse], dict(zip(labels, x.shape)))
    shifted = Add([x, spread], [1.0, -1.0])
    return shifted if node.name == "log_softmax" else Func("exp", shifted)


# AXIS rows that do not reduce, acting over the batch: an equal expression built from a reduction.
EXPAND: dict[str, Callable[[AxisFunc], Expr]] = {
    "softmax": _softmax_over_batch,
    "log_softmax": _softmax_over_batch,
}


@batch_rule.register(AxisFunc)
def _axis_rule(node: AxisFunc, axes: Sequence[int | None], batch: str) -> Any:
    ax = axes[0]
    if ax is None:
        return None
    if ax not in node.axes:
        return ax - sum(a < ax for a in node.axes) if AXIS[node.name].reduces else ax
    if AXIS[node.name].reduces and node.name in COMBINE:
        return Reduce(node.name)
    if node.name in EXPAND:
        return EXPAND[node.name](node)
    raise NotChunkable(f"{node.name} over the batch axis")


@batch_rule.register(Index)
def _index_rule(node: Index, axes: Sequence[int | None], batch: str) -> int | None:
    ax = axes[0]
    if ax is None:
        return None
    into = out = 0
    for item in node.index:
        if item is None:
            out += 1
            continue
        if into == ax:
            if item != slice(None):
                raise NotChunkable("indexing into the batch axis")
            return out
        into += 1
        out += not isinstance(item, int)
    return out + (ax - into)


@batch_rule.register(IndexAdjoint)
def _index_adjoint_rule(node: IndexAdjoint, axes: Sequence[int | None], batch: str) -> None:
    if axes[0] is not None:
        raise NotChunkable("writing into an array along the batch axis")
    return None


@batch_rule.register(Stack)
def _stack_rule(node: Stack, axes: Sequence[int | None], batch: str) -> int | None:
    if len(set(axes)) > 1:
        raise NotChunkable("stacking arrays with and without the batch axis")
    ax = axes[0]
    return None if ax is None else ax + (node.axis <= ax)


# ----------------------------------------------------------------------------- the plan

@dataclass
class Role:
    """What the plan does with one node: ``axis`` its batch axis (None: a value without it),
    ``reduce`` its combine step when it reduces the batch axis, ``level`` the stage that
    computes it (a reduction: the stage after its partials), ``const`` when no variable is
    under it (recomputed wherever needed, so numbers stay weak)."""

    axis: int | None
    reduce: Reduce | None
    level: int
    const: bool


@dataclass
class Plan:
    """The graph of a compiled function laid out in stages along ``batch``."""

    batch: str
    outputs: list[Expr]
    roles: dict[int, Role]
    nodes: list[Expr] = field(default_factory=list)  # the planned graph, children first

    @property
    def stages(self) -> int:
        """How many chunk stages run (a graph of parameters only has none)."""
        levels = [r.level for r in self.roles.values() if r.reduce]
        levels += [self.roles[o.uid].level + 1 for o in self.outputs
                   if self.roles[o.uid].axis is not None]
        return max(levels, default=0)


def plan(exprs: Sequence[Expr], batch: str) -> Plan:
    """Lay out ``exprs`` (simplified) in stages along the dimension ``batch``.

    Raises :class:`NotChunkable` when the graph does not follow the batch dimension.

    >>> import tensorcalc as tc
    >>> X = tc.var("X", ("N", "d"))
    >>> centered = X - tc.mean(X, 0)   # the column means, used with the rows: two stages
    >>> p = plan([tc.sum(centered * centered, 0)], "N")
    >>> p.stages
    2
    """
    new: dict[int, Expr] = {}
    roles: dict[int, Role] = {}
    nodes: list[Expr] = []
    for node in topological(list(exprs)):
        if isinstance(node, WithDims):  # named dims are bound by the plan's own carriers
            new[node.uid] = new[node.children[0].uid]
            continue
        kids = [new[c.uid] for c in node.children]
        if any(k is not c for k, c in zip(kids, node.children)):
            node_now = rebuild(node, kids)
        else:
            node_now = node
        new[node.uid] = _classify(node_now, batch, roles, nodes)
    return Plan(batch, [new[e.uid] for e in exprs], roles, nodes)


def _classify(node: Expr, batch: str, roles: dict[int, Role], nodes: list[Expr]) -> Expr:
    """Give ``node`` (whose children have roles) its role; the node that stands for it."""
    if node.uid in roles:
        return node
    kids = [roles[c.uid] for c in node.children]
    found = batch_rule(node, [k.axis for k in kids], batch)
    if isinstance(found, Expr):  # an equal expression: plan its new nodes instead
        for sub in topological([found], done=roles):
            _classify(sub, batch, roles, nodes)
        return found
    level = max((k.level for k in kids), default=0)
    const = not isinstance(node, Var) and all(k.const for k in kids)
    if isinstance(found, Reduce):
        if found.combine not in COMBINE:
            raise NotChunkable(f"no combine step for {found.combine!r}")
        roles[node.uid] = Role(None, found, level + 1, False)
    else:
        roles[node.uid] = Role(found, None, level, const)
    nodes.append(node)
    return node
