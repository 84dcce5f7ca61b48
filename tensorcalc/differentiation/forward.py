"""Forward mode: one JVP rule per node type, in a registry node types join with :func:`defjvp`,
the push of a tangent from a variable to an expression over the DAG (:func:`pushforward`), and
the public forward-mode functions :func:`jvp` and :func:`jacfwd`::

    @defjvp(MyNode)
    def _(node: MyNode, tangents: Sequence[Expr | None]) -> Expr | None:
        ...  # the tangent of the node from one tangent per child (None: a zero tangent)

A tangent has shape ``P + shape``: ``P`` is a run of extra *leading* axes (empty for a
directional derivative; ``x.shape`` when :func:`jacfwd` pushes the identity of ``x`` through
the graph, a batch of directions). A rule gets the tangent of each child (``P + child.shape``,
``None`` where the child does not depend on the variable; at least one is not ``None``) and
returns the node's tangent (``P + node.shape``), or ``None`` where it is zero (almost
everywhere: ``sign``, ``relu'``). Writing the rule as an einsum with ``...`` in front treats
the leading axes as a batch; this mirrors the cotangents of the VJP rules
(:mod:`tensorcalc.differentiation.rules`).

Like reverse mode, derivatives are expressions of the same IR, simplified.

>>> import numpy as np
>>> from tensorcalc.ir import var
>>> x = var("x", (3,))
>>> jvp(x * x, x, np.array([1.0, 0.0, 0.0])).evaluate(x=np.array([2.0, 3.0, 4.0]))
array([4., 0., 0.])
>>> jacfwd(x * x, x).shape
(3, 3)
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ..errors import TensorcalcError
from ..ir import Add, Const, Einsum, Expr, Var, WithDims, as_expr, einsum, scale, topological
from ..ir.registry import NodeRules
from ..labels import LETTERS
from ..ops import ELEMENTWISE, POW, AxisFunc, Func, Index, IndexAdjoint, MatFunc, PowArray, Stack
from ..ops import functions as builders
from ..simplify import bind_dims, simplify_only, zeros
from ..simplify.cost import better, expr_cost
from .reverse import find_var, remember_sources, symmetrize
from .rules import hadamard

Tangents = Sequence["Expr | None"]
Rule = Callable[[Expr, Tangents], "Expr | None"]

#: The JVP registry: ``jvp_rule(node, tangents)`` is the tangent of ``node`` (see above).
jvp_rule = NodeRules("jvp")


def defjvp(cls: type) -> Callable[[Rule], Rule]:
    """Register the JVP rule of node class ``cls`` (see the module docstring)."""
    def register(rule: Rule) -> Rule:
        jvp_rule.register(cls)(rule)
        return rule
    return register


# ---------------------------------------------------------------------------------------
# Pushing a tangent forward


def pushforward(y: Expr, wrt: Var, seed: Expr) -> Expr:
    """The tangent of ``y`` given the tangent ``seed`` of ``wrt`` (unsimplified).

    ``seed`` has shape ``P + wrt.shape``; the result ``P + y.shape`` (zeros when ``y`` does
    not depend on ``wrt``). A node type without a JVP rule is a :class:`TensorcalcError`
    naming it.
    """
    nb = seed.ndim - wrt.ndim
    tangents: dict[int, Expr] = {wrt.uid: seed}
    for node in topological([y]):
        if node.uid in tangents or not node.children:
            continue
        ts = [tangents.get(c.uid) for c in node.children]
        if all(t is None for t in ts):
            continue
        rule = jvp_rule.lookup(type(node))
        if rule is None:
            raise TensorcalcError(
                f"no forward-mode (JVP) rule for {type(node).__name__} nodes: register one with "
                "tensorcalc.differentiation.defjvp, or use reverse mode (mode='reverse')")
        t = rule(node, ts)
        if t is not None:
            tangents[node.uid] = t
    out = tangents.get(y.uid)
    return zeros(seed.shape[:nb] + y.shape) if out is None else out


def _lead(tangents: Tangents, children: Sequence[Expr]) -> tuple[Any, ...]:
    """The leading (batch) axes ``P`` of the tangents."""
    t, c = next((t, c) for t, c in zip(tangents, children) if t is not None)
    return t.shape[: t.ndim - c.ndim]


def _fresh(n: int, used: str) -> str:
    """``n`` labels not in ``used`` (for the leading axes of a tangent)."""
    free = [lab for lab in LETTERS if lab not in used]
    if n > len(free):
        raise TensorcalcError(f"too many axes ({n} leading + {len(used)}) for one einsum")
    return "".join(free[:n])


def _sum(terms: Sequence[Expr], coeffs: Sequence[float] | None = None) -> Expr:
    if len(terms) == 1 and (coeffs is None or coeffs[0] == 1.0):
        return terms[0]
    return Add(terms, coeffs)


# ---------------------------------------------------------------------------------------
# Rules of the IR's nodes and the primitives


@defjvp(Einsum)
def _(node: Einsum, ts: Tangents):
    # product rule: one term per operand carrying a tangent, the others unchanged
    lead = _lead(ts, node.children)
    pre = _fresh(len(lead), "".join(node.sizes))
    sizes = {**node.sizes, **dict(zip(pre, lead))}
    terms = []
    for k, t in enumerate(ts):
        if t is None:
            continue
        inputs = [pre + s if j == k else s for j, s in enumerate(node.inputs)]
        operands = [t if j == k else c for j, c in enumerate(node.children)]
        terms.append(Einsum(inputs, pre + node.output, operands, sizes, node.scale,
                            node.factor_dims))
    return _sum(terms)


@defjvp(Add)
def _(node: Add, ts: Tangents):
    kept = [(t, c) for t, c in zip(ts, node.coeffs) if t is not None]
    return _sum([t for t, _ in kept], [c for _, c in kept])


@defjvp(Func)
def _(node: Func, ts: Tangents):
    row = POW if node.name == "pow" else ELEMENTWISE[node.name]
    if row.derivative is None:
        return None
    return hadamard(ts[0], row.derivative(builders, node, node.children[0], node))


@defjvp(PowArray)
def _(node: PowArray, ts: Tangents):
    x = node.children[0]
    return hadamard(ts[0], Const(node.exponent) * PowArray(x, node.exponent - 1.0))


@defjvp(MatFunc)
def _(node: MatFunc, ts: Tangents):
    x, t = node.children[0], ts[0]
    b = LETTERS[26: 26 + x.ndim - 2]  # batch labels (upper case; matrix labels are lower)
    if node.name == "inv":  # d(X^-1) = -X^-1 dX X^-1
        return scale(einsum(f"{b}ai,...{b}ij,{b}jc->...{b}ac", node, t, node), -1.0)
    xinv = MatFunc("inv", x)
    if node.name == "det":  # d det X = det X tr(X^-1 dX)
        return einsum(f"{b},{b}ij,...{b}ji->...{b}", node, xinv, t)
    return einsum(f"{b}ij,...{b}ji->...{b}", xinv, t)  # d log|det X| = tr(X^-1 dX)


def _spread(total: Expr, node: AxisFunc, lead: tuple) -> Expr:
    """``total`` (shape ``lead + kept``) broadcast back along the node's axes."""
    x = node.children[0]
    full = LETTERS[: x.ndim]
    kept = "".join(lab for ax, lab in enumerate(full) if ax not in node.axes)
    pre = _fresh(len(lead), full)
    sizes = {**dict(zip(full, x.shape)), **dict(zip(pre, lead))}
    return Einsum([pre + kept], pre + full, [total], sizes)


@defjvp(AxisFunc)  # LogSumExp too (a subclass)
def _(node: AxisFunc, ts: Tangents):
    """Written with ``softmax`` and ``normalize`` like the VJP rules, so finite wherever the
    value is: softmax ``s``: ``s t - s Σ_axes s t``; log_softmax: ``t - Σ_axes softmax(x) t``;
    logsumexp: ``Σ_axes softmax(x) t``; norm2: ``Σ_axes normalize(x) t``; normalize ``u``:
    ``(t - u Σ_axes u t) / ‖x‖``."""
    x, t = node.children[0], ts[0]
    lead = t.shape[: t.ndim - x.ndim]
    full = LETTERS[: x.ndim]
    kept = "".join(lab for ax, lab in enumerate(full) if ax not in node.axes)
    if node.name == "softmax":
        st = hadamard(t, node)
        total = einsum(f"...{full}->...{kept}", st)
        return Add([st, einsum(f"...{kept},{full}->...{full}", total, node)], [1.0, -1.0])
    if node.name in ("log_softmax", "logsumexp"):
        soft = AxisFunc("softmax", x, node.axes)
        total = einsum(f"{full},...{full}->...{kept}", soft, t)
        return total if node.name == "logsumexp" else Add([t, _spread(total, node, lead)], [1.0, -1.0])
    if node.name == "norm2":
        return einsum(f"{full},...{full}->...{kept}", AxisFunc("normalize", x, node.axes), t)
    if node.name == "normalize":
        along = einsum(f"{full},...{full}->...{kept}", node, t)
        tangent = Add([t, einsum(f"...{kept},{full}->...{full}", along, node)], [1.0, -1.0])
        norm = AxisFunc("norm2", x, node.axes)
        return einsum(f"...{full},{kept}->...{full}", tangent, builders.power(norm, -1.0))
    raise TensorcalcError(f"no forward-mode (JVP) rule for the axis function {node.name!r}")


@defjvp(Index)
def _(node: Index, ts: Tangents):
    nb = ts[0].ndim - node.children[0].ndim
    return Index(ts[0], (slice(None),) * nb + node.index)


@defjvp(IndexAdjoint)
def _(node: IndexAdjoint, ts: Tangents):
    t = ts[0]
    nb = t.ndim - node.children[0].ndim
    return IndexAdjoint(t, (slice(None),) * nb + node.index, t.shape[:nb] + node.full_shape)


@defjvp(Stack)
def _(node: Stack, ts: Tangents):
    lead = _lead(ts, node.children)
    items = [zeros(lead + c.shape) if t is None else t for t, c in zip(ts, node.children)]
    return Stack(items, len(lead) + node.axis)


@defjvp(WithDims)
def _(node: WithDims, ts: Tangents):
    # the attached variables only bind dimensions: no tangent flows from them
    return None if ts[0] is None else WithDims(ts[0], node.children[1:])


# ---------------------------------------------------------------------------------------
# Public functions


def check_direction(v: Expr, x: Var, what: str) -> None:
    """Raise unless ``v`` is shaped like ``x`` (an int may stand where ``x`` has a name)."""
    if len(v.shape) != len(x.shape) or any(
            a != b and isinstance(a, str) == isinstance(b, str) for a, b in zip(v.shape, x.shape)):
        raise TensorcalcError(f"{what}: v has shape {v.shape} but {x.name!r} has shape {x.shape}")


def jvp(f: Any, wrt: Any, v: Any, allow_unused: bool = False) -> Expr:
    """Directional derivative of ``f`` (any shape) along ``v``: ``J v``, shaped like ``f``.

    ``v`` is an expression or an array shaped like the variable ``wrt`` (a :class:`Var` or its
    name). For a symmetric variable the direction is symmetrized, as the gradient is. A
    variable ``f`` does not contain is an error unless ``allow_unused`` (then: zeros).

    >>> import numpy as np
    >>> from tensorcalc.ir import var
    >>> from tensorcalc.ops.functions import sin
    >>> x = var("x", (2,))
    >>> jvp(sin(x), "x", np.array([1.0, 1.0])).evaluate(x=np.zeros(2))
    array([1., 1.])
    """
    f = as_expr(f)
    order = topological([f])
    x = find_var(f, wrt, order, allow_unused)
    v = as_expr(v)
    check_direction(v, x, "jvp")
    result = bind_dims(simplify_only(pushforward(f, x, symmetrize(v, x))), [f, x, v])
    return remember_sources(result, order)


def forward_jacobian(y: Expr, x: Var) -> Expr:
    """The Jacobian ``y.shape + x.shape`` by forward mode (unsimplified): the identity of ``x``
    (symmetrized for a symmetric ``x``) pushed forward as ``x.size`` directions at once."""
    lx = LETTERS[: x.ndim]
    seed = symmetrize(Einsum([""], lx + lx, [Const(1.0)], dict(zip(lx, x.shape))), x)
    tangent = pushforward(y, x, seed)  # shape x.shape + y.shape
    ly = LETTERS[x.ndim: x.ndim + y.ndim]
    if not ly or not lx:
        return tangent
    return einsum(f"{lx}{ly}->{ly}{lx}", tangent)


def jacfwd(y: Any, wrt: Any, allow_unused: bool = False) -> Expr:
    """Jacobian ``dy/dx`` by forward mode, shaped ``y.shape + x.shape`` (JAX's ``jacfwd``).

    The same derivative as :func:`jacrev` (reverse mode); forward mode pushes ``x.size``
    directions through the graph where reverse mode pulls back ``y.size`` cotangents, so it
    suits a Jacobian with fewer inputs than outputs. ``jacobian(..., mode="auto")`` chooses.

    >>> import numpy as np
    >>> from tensorcalc.ir import var
    >>> from tensorcalc.ops.functions import exp
    >>> x = var("x", (2,))
    >>> jacfwd(exp(x), x).evaluate(x=np.zeros(2))
    array([[1., 0.],
           [0., 1.]])
    """
    y = as_expr(y)
    order = topological([y])
    x = find_var(y, wrt, order, allow_unused)
    return remember_sources(bind_dims(simplify_only(forward_jacobian(y, x)), [y, x]), order)


MODES = ("auto", "forward", "reverse")


def jacobian_mode(mode: str, y: Expr, x: Var) -> str:
    """``"forward"`` or ``"reverse"``: ``mode`` itself, or for ``"auto"`` the cheaper one.

    ``"auto"`` picks forward mode when ``x`` has fewer elements than ``y`` (fewer directions
    to push than cotangents to pull), else reverse mode (ties included). When a shape has a
    named dimension the sizes are unknown: ``"auto"`` picks reverse mode.
    """
    check_mode(mode)
    if mode != "auto":
        return mode
    if any(isinstance(d, str) for d in x.shape + y.shape):
        return "reverse"
    return "forward" if int(np.prod(x.shape)) < int(np.prod(y.shape)) else "reverse"


def check_mode(mode: str) -> None:
    """Raise unless ``mode`` is one of :data:`MODES`."""
    if mode not in MODES:
        raise TensorcalcError(f"mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")


def cheaper(forward: Expr | None, reverse: Expr | None) -> Expr:
    """The one built (the other is None), or of two equal derivatives the one the planner
    prices lower (:func:`tensorcalc.simplify.cost.expr_cost`: fewer operations and no larger
    intermediate), ``reverse`` when neither is better."""
    if forward is None or reverse is None:
        return reverse if forward is None else forward
    return forward if better(expr_cost([forward]), expr_cost([reverse])) else reverse
