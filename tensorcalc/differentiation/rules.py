"""One VJP rule per node type, in a registry that node types join with :func:`defvjp`::

    @defvjp(MyNode)
    def _(node: MyNode, g: Expr) -> tuple[Expr | None, ...]:
        ...  # one cotangent per child (None: no gradient flows to that child)

``g`` has shape ``P + node.shape``: ``P`` is a run of extra *leading* axes (empty for a
gradient; the output shape of ``y`` when :func:`jacobian` pushes the identity of ``y``
through the graph).  A rule must return cotangents of shape ``P + child.shape``, treating the
leading axes as a batch; writing the rule as an einsum with ``...`` in front does exactly that.

Derivatives are expressions of the same IR, simplified (``tensorcalc.simplify``), so deltas
are eliminated by renaming labels and derivatives of any order come by composition.

>>> from tensorcalc.ir import var
>>> x = var("x", (3,))
>>> [ct.shape for ct in vjp_rule(x * x, var("g", (3,)))]
[(3,), (3,)]
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

from ..errors import TensorcalcError
from ..ir import Add, Const, Einsum, Expr, WithDims, einsum, scale
from ..labels import LETTERS
from ..ops import (ELEMENTWISE, POW, AxisFunc, Func, Index, IndexAdjoint, LogSumExp, MatFunc, PowArray,
                   Stack)
from ..ops import functions as builders

Rule = Callable[[Expr, Expr], Sequence["Expr | None"]]


@functools.singledispatch
def vjp_rule(node: Expr, g: Expr) -> Sequence["Expr | None"]:
    """The cotangent of every child of ``node`` given the cotangent ``g`` of the node."""
    raise TensorcalcError(f"no derivative rule for {type(node).__name__} nodes")


def defvjp(cls: type) -> Callable[[Rule], Rule]:
    """Register the VJP rule of node class ``cls`` (see the module docstring)."""
    def register(rule: Rule) -> Rule:
        vjp_rule.register(cls)(rule)
        return rule
    return register


def _nb(node: Expr, g: Expr) -> int:
    """Number of leading (Jacobian) axes of the cotangent ``g``."""
    return g.ndim - node.ndim


def _scaled(e: Expr, factor: float, factor_dims: Sequence[tuple[str, int]] = ()) -> Expr:
    if factor == 1.0 and not factor_dims:
        return e
    labels = LETTERS[: e.ndim]
    return Einsum([labels], labels, [e], dict(zip(labels, e.shape)), factor, factor_dims)


def _prefix(g: Expr, nb: int, used: str) -> tuple[str, dict]:
    """Labels (not in ``used``) and sizes for the ``nb`` leading axes of ``g``."""
    free = [lab for lab in LETTERS if lab not in used]
    if nb > len(free):
        raise TensorcalcError(f"too many axes ({nb} leading + {len(used)}) for one einsum")
    labels = "".join(free[:nb])
    return labels, dict(zip(labels, g.shape[:nb]))


def hadamard(g: Expr, d: Expr) -> Expr:
    """``g * d`` with ``d`` broadcast over the leading axes of ``g``."""
    labels = LETTERS[: d.ndim]
    pre, sizes = _prefix(g, g.ndim - d.ndim, labels)
    sizes.update(zip(labels, d.shape))
    return Einsum([pre + labels, labels], pre + labels, [g, d], sizes)


# ---------------------------------------------------------------------------------------
# Rules


@defvjp(Einsum)
def _(node: Einsum, g: Expr):
    pre, sizes = _prefix(g, _nb(node, g), "".join(node.sizes))
    sizes.update(node.sizes)
    out = []
    for k in range(len(node.children)):
        others = [c for j, c in enumerate(node.children) if j != k]
        terms = [pre + node.output] + [s for j, s in enumerate(node.inputs) if j != k]
        out.append(Einsum(terms, pre + node.inputs[k], [g] + others, sizes, node.scale,
                          node.factor_dims))
    return out


@defvjp(Add)
def _(node: Add, g: Expr):
    return [_scaled(g, c) for c in node.coeffs]


@defvjp(Func)
def _(node: Func, g: Expr):
    row = POW if node.name == "pow" else ELEMENTWISE[node.name]
    d = None if row.derivative is None else row.derivative(builders, node, node.children[0], node)
    return [None if d is None else hadamard(g, d)]


@defvjp(PowArray)
def _(node: PowArray, g: Expr):
    x = node.children[0]
    return [hadamard(g, Const(node.exponent) * PowArray(x, node.exponent - 1.0))]


@defvjp(MatFunc)
def _(node: MatFunc, g: Expr):
    x = node.children[0]
    b = LETTERS[26: 26 + x.ndim - 2]  # batch labels (upper case; matrix labels are lower)
    if node.name == "inv":  # d(X^-1) = -X^-1 dX X^-1
        ct = einsum(f"...{b}ab,{b}ai,{b}jb->...{b}ij", g, node, node)
        return [scale(ct, -1.0)]
    xinv = MatFunc("inv", x)
    if node.name == "det":  # d det X = det X <X^-T, dX>
        return [einsum(f"...{b},{b},{b}ji->...{b}ij", g, node, xinv)]
    return [einsum(f"...{b},{b}ji->...{b}ij", g, xinv)]  # d log|det X| = <X^-T, dX>


def _axis_labels(node: AxisFunc) -> tuple[str, str]:
    """Labels of the argument's axes, and of those the function does not act on."""
    full = LETTERS[: node.children[0].ndim]
    return full, "".join(lab for ax, lab in enumerate(full) if ax not in node.axes)


def _softmax_of(node: AxisFunc) -> AxisFunc:
    return AxisFunc("softmax", node.children[0], node.axes)


@defvjp(AxisFunc)
def _(node: AxisFunc, g: Expr):
    """The max-shifted forms: every derivative is written with ``softmax`` (never
    ``exp(x - logsumexp x)`` or ``1 / softmax``), so it is finite wherever the value is.

    * softmax ``s``: ``g s - s Σ_axes (g s)`` (the Jacobian ``diag(s) - s sᵀ``);
    * log_softmax: ``g - softmax(x) Σ_axes g``;
    * logsumexp: ``g softmax(x)``;
    * norm2: ``g x / ‖x‖`` (``normalize``, 0 at ``x = 0``: a subgradient);
    * normalize ``u``: ``(g - u <u, g>) / ‖x‖``.
    """
    x = node.children[0]
    full, kept = _axis_labels(node)
    if node.name == "softmax":
        gs = hadamard(g, node)
        total = einsum(f"...{full}->...{kept}", gs)
        return [Add([gs, einsum(f"...{kept},{full}->...{full}", total, node)], [1.0, -1.0])]
    if node.name == "log_softmax":
        total = einsum(f"...{full}->...{kept}", g)
        return [Add([g, einsum(f"...{kept},{full}->...{full}", total, _softmax_of(node))], [1.0, -1.0])]
    if node.name == "logsumexp":
        return [einsum(f"...{kept},{full}->...{full}", g, _softmax_of(node))]
    if node.name == "norm2":
        return [einsum(f"...,{full}->...{full}", g, AxisFunc("normalize", x, node.axes))]
    if node.name == "normalize":
        along = einsum(f"...{full},{full}->...", g, node)
        tangent = Add([g, einsum(f"...,{full}->...{full}", along, node)], [1.0, -1.0])
        norm = AxisFunc("norm2", x, node.axes)
        return [einsum(f"...{full},->...{full}", tangent, builders.power(norm, -1.0))]
    raise TensorcalcError(f"no derivative rule for {node.name}")


@defvjp(Index)
def _(node: Index, g: Expr):
    nb = _nb(node, g)
    x = node.children[0]
    return [IndexAdjoint(g, (slice(None),) * nb + node.index, g.shape[:nb] + x.shape)]


@defvjp(IndexAdjoint)
def _(node: IndexAdjoint, g: Expr):
    nb = _nb(node, g)
    return [Index(g, (slice(None),) * nb + node.index)]


@defvjp(WithDims)
def _(node: WithDims, g: Expr):
    return [g] + [None] * (len(node.children) - 1)


@defvjp(Stack)
def _(node: Stack, g: Expr):
    lead = (slice(None),) * (_nb(node, g) + node.axis)
    rest = (slice(None),) * (node.ndim - node.axis - 1)
    return [Index(g, lead + (k,) + rest) for k in range(len(node.children))]
