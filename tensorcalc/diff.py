"""Derivatives: one VJP rule per node type, reverse mode over the DAG, grad/jacobian/hessian/hvp.

Rules live in the public table ``VJP_RULES`` and are added with :func:`defvjp`::

    @defvjp(MyNode)
    def _(node: MyNode, g: Expr) -> tuple[Expr | None, ...]:
        ...  # one cotangent per child (None: no gradient flows to that child)

``g`` has shape ``P + node.shape``: ``P`` is a run of extra *leading* axes (empty for a
gradient; the output shape of ``y`` when :func:`jacobian` pushes the identity of ``y``
through the graph).  A rule must return cotangents of shape ``P + child.shape``, treating the
leading axes as a batch; writing the rule as an einsum with ``...`` in front does exactly that.

Derivatives are expressions of the same IR, simplified (``tensorcalc.simplify``), so deltas
are eliminated by renaming labels and derivatives of any order come by composition.

>>> import numpy as np
>>> from tensorcalc.expr import var, einsum
>>> x = var("x", (3,))
>>> g = grad(einsum("i,i->", x, x), x)
>>> g.evaluate(x=np.array([1.0, 2.0, 3.0]))
array([2., 4., 6.])
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from .contract import einsum as tc_einsum
from .errors import TensorcalcError
from .expr import LETTERS, Add, Const, Einsum, Expr, Var, WithDims, as_expr, einsum, scale, topological
from .functions import (Func, IndexAdjoint, Index, LogSumExp, MatFunc, PowArray, Stack, cos,
                        expand, exp, heaviside, power, sigmoid, sign, sin)
from .simplify import bind_dims, simplify_only, zeros
from .subscripts import parse

Rule = Callable[[Expr, Expr], Sequence["Expr | None"]]
VJP_RULES: dict[type, Rule] = {}


def defvjp(cls: type) -> Callable[[Rule], Rule]:
    """Register the VJP rule of node class ``cls`` (see the module docstring)."""
    def register(rule: Rule) -> Rule:
        VJP_RULES[cls] = rule
        return rule
    return register


def _rule(node: Expr) -> Rule:
    for cls in type(node).__mro__:
        if cls in VJP_RULES:
            return VJP_RULES[cls]
    raise TensorcalcError(f"no derivative rule for {type(node).__name__} nodes")


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


# Derivative of each elementwise function, from its input x and its value y.
FUNC_DERIVATIVES: dict[str, Callable[[Func, Expr, Expr], "Expr | None"]] = {
    "exp": lambda n, x, y: y,
    "log": lambda n, x, y: power(x, -1.0),
    "log1p": lambda n, x, y: power(1.0 + x, -1.0),
    "sin": lambda n, x, y: cos(x),
    "cos": lambda n, x, y: -sin(x),
    "tan": lambda n, x, y: 1.0 + power(y, 2.0),
    "tanh": lambda n, x, y: 1.0 - power(y, 2.0),
    "sigmoid": lambda n, x, y: y * (1.0 - y),
    "relu": lambda n, x, y: heaviside(x),
    "softplus": lambda n, x, y: sigmoid(x),
    "sqrt": lambda n, x, y: 0.5 * power(y, -1.0),
    "abs": lambda n, x, y: sign(x),
    "sign": lambda n, x, y: None,
    "heaviside": lambda n, x, y: None,
    "pow": lambda n, x, y: n.param * power(x, n.param - 1.0),
}


@defvjp(Func)
def _(node: Func, g: Expr):
    d = FUNC_DERIVATIVES[node.name](node, node.children[0], node)
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


@defvjp(LogSumExp)
def _(node: LogSumExp, g: Expr):
    x = node.children[0]
    full = LETTERS[: x.ndim]
    kept = "".join(lab for ax, lab in enumerate(full) if ax not in node.axes)
    soft = exp(x - expand(node, node.axes, x.shape))
    return [einsum(f"...{kept},{full}->...{full}", g, soft)]


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


# ---------------------------------------------------------------------------------------
# Reverse mode


def _find_var(y: Expr, wrt: Any, order: list[Expr]) -> Var:
    if isinstance(wrt, Var):
        return wrt
    if isinstance(wrt, str):
        for node in order:
            if isinstance(node, Var) and node.name == wrt:
                return node
        names = sorted({n.name for n in order if isinstance(n, Var)})
        raise TensorcalcError(f"the expression has no variable {wrt!r} (its variables: {names})")
    raise TypeError(f"wrt must be a variable or its name, got {type(wrt).__name__}")


def backprop(y: Expr, wrt: Var, seed: Expr) -> Expr:
    """The cotangent of ``wrt`` given the cotangent ``seed`` of ``y`` (unsimplified)."""
    order = topological([y])
    depends: set[int] = set()
    for node in order:
        if node.uid == wrt.uid or any(c.uid in depends for c in node.children):
            depends.add(node.uid)
    nb = seed.ndim - y.ndim
    if y.uid not in depends:
        return zeros(seed.shape[:nb] + wrt.shape)
    cotangents: dict[int, list[Expr]] = {y.uid: [seed]}
    for node in reversed(order):
        if node.uid not in depends or node.uid == wrt.uid:
            continue
        parts = cotangents.pop(node.uid, None)
        if parts is None:  # every path from y runs through a zero derivative (sign, relu')
            continue
        g = parts[0] if len(parts) == 1 else Add(parts)
        for child, ct in zip(node.children, _rule(node)(node, g)):
            if ct is not None and child.uid in depends:
                cotangents.setdefault(child.uid, []).append(ct)
    parts = cotangents.get(wrt.uid) or [zeros(seed.shape[:nb] + wrt.shape)]
    return parts[0] if len(parts) == 1 else Add(parts)


def _symmetrize(e: Expr, var_: Var) -> Expr:
    """Average over the two (trailing) axes of a symmetric variable."""
    if not var_.symmetric:
        return e
    labels = LETTERS[: e.ndim]
    swapped = labels[:-2] + labels[-1] + labels[-2]
    return 0.5 * (e + einsum(f"{labels}->{swapped}", e))


def grad(f: Expr, wrt: Any) -> Expr:
    """Gradient of the scalar ``f`` with respect to a variable (or its name); shaped like it.

    Complex variables follow JAX's convention (``jax.grad(..., holomorphic=True)``): no
    conjugation, so for a holomorphic ``f`` the result is the complex derivative ``df/dx``.
    ``abs``, ``sign``, ``relu`` and ``logdet`` (``log |det|``) are not holomorphic; their
    rules are the real ones.

    >>> import numpy as np
    >>> from tensorcalc.expr import var
    >>> x = var("x", (2,))
    >>> grad((x * x).__getitem__(0), "x").evaluate(x=np.array([3.0, 1.0]))
    array([6., 0.])
    """
    f = as_expr(f)
    if f.ndim != 0:
        raise TensorcalcError(f"grad needs a scalar expression, got shape {f.shape}; use jacobian")
    x = _find_var(f, wrt, topological([f]))
    return bind_dims(simplify_only(_symmetrize(backprop(f, x, Const(1.0)), x)), [f, x])


def jacobian(y: Expr, wrt: Any, layout: str = "numerator") -> Expr:
    """Jacobian ``dy/dx``: shape ``y.shape + x.shape`` ("numerator"), or ``x.shape + y.shape``.

    >>> import numpy as np
    >>> from tensorcalc.expr import var, einsum
    >>> A = var("A", (2, 3)); x = var("x", (3,))
    >>> jacobian(einsum("ij,j->i", A, x), x).evaluate(A=np.ones((2, 3)), x=np.ones(3)).shape
    (2, 3)
    """
    if layout not in ("numerator", "denominator"):
        raise TensorcalcError(f"layout must be 'numerator' or 'denominator', got {layout!r}")
    y = as_expr(y)
    x = _find_var(y, wrt, topological([y]))
    labels = LETTERS[: y.ndim]
    seed = Einsum([""], labels + labels, [Const(1.0)], dict(zip(labels, y.shape)))
    jac = _symmetrize(backprop(y, x, seed), x)
    if layout == "denominator":
        ly, lx = LETTERS[: y.ndim], LETTERS[y.ndim: y.ndim + x.ndim]
        jac = einsum(f"{ly}{lx}->{lx}{ly}", jac)
    return bind_dims(simplify_only(jac), [y, x])


def hessian(f: Expr, wrt: Any) -> Expr:
    """Hessian of the scalar ``f``: shape ``x.shape + x.shape``.

    >>> import numpy as np
    >>> from tensorcalc.expr import var, einsum
    >>> x = var("x", (2,))
    >>> hessian(einsum("i,i->", x, x), x).evaluate(x=np.ones(2))
    array([[2., 0.],
           [0., 2.]])
    """
    f = as_expr(f)
    x = _find_var(f, wrt, topological([f]))
    return jacobian(grad(f, x), x)


def hvp(f: Expr, wrt: Any, v: Any) -> Expr:
    """Hessian-vector product ``H v`` as the gradient of ``<grad f, v>``; H is never formed.

    >>> import numpy as np
    >>> from tensorcalc.expr import var, einsum
    >>> x = var("x", (2,))
    >>> hvp(einsum("i,i,i->", x, x, x), x, np.array([1.0, 0.0])).evaluate(x=np.ones(2))
    array([6., 0.])
    """
    f = as_expr(f)
    x = _find_var(f, wrt, topological([f]))
    v = as_expr(v)
    # v may give ints where x has names (an array for a symbolic x): equal, or name vs int.
    if len(v.shape) != len(x.shape) or any(
            a != b and isinstance(a, str) == isinstance(b, str) for a, b in zip(v.shape, x.shape)):
        raise TensorcalcError(f"hvp: v has shape {v.shape} but {x.name!r} has shape {x.shape}")
    g = grad(f, x)
    labels = LETTERS[: x.ndim]
    return grad(einsum(f"{labels},{labels}->", g, v), x)


# ---------------------------------------------------------------------------------------
# Einsum gradients at the string level


def grad_subscripts(subscripts: str, wrt: int) -> str:
    """The einsum spec of operand ``wrt``'s gradient: upstream gradient first, then the others.

    The result may be an extended einsum (repeated output label: diagonal embedding; output
    label no input carries: broadcast); evaluate it with ``tensorcalc.einsum(..., sizes=...)``.

    >>> grad_subscripts("ij,jk->ik", 0)
    'ik,jk->ij'
    >>> grad_subscripts("ii->", 0)
    '->ii'
    >>> grad_subscripts("i->ij", 0)  # an extended forward spec: its gradient sums j away
    'ij->i'
    """
    if not isinstance(subscripts, str):
        raise TypeError(f"subscripts must be a str, got {type(subscripts).__name__}")
    text = "".join(subscripts.split())
    lhs, _, rhs = text.partition("->")
    terms = lhs.split(",")
    k = _check_wrt(wrt, len(terms), subscripts)
    # Stand-in shapes: size 2 everywhere, one axis for '...'.  Only the labels matter here;
    # an output label no input carries (a broadcast of an extended spec) gets size 2 too.
    shapes = [(2,) * (len(t.replace("...", "")) + ("..." in t)) for t in terms]
    spec = parse(text, shapes, {lab: 2 for lab in set(rhs) - set(lhs) if lab in LETTERS})
    ell = spec.ellipsis

    def show(labels: str) -> str:
        return labels.replace(ell, "...") if ell else labels

    parts = [show(spec.output)] + [show(s) for j, s in enumerate(spec.inputs) if j != k]
    return ",".join(parts) + "->" + show(spec.inputs[k])


def _check_wrt(wrt: Any, n: int, subscripts: str) -> int:
    if not isinstance(wrt, (int, np.integer)) or isinstance(wrt, bool):
        raise TypeError(f"wrt must be an operand position (int), got {wrt!r}")
    if not -n <= wrt < n:
        raise TensorcalcError(f"wrt={wrt} but subscripts {subscripts!r} have {n} operand(s)")
    return int(wrt) % n


def einsum_vjp(subscripts: str, *operands: Any, grad: Any) -> tuple[np.ndarray, ...]:
    """The gradient of every operand given the upstream gradient ``grad`` (shaped like the output).

    Handles repeated labels, labels only one operand carries, ``...`` with broadcasting (size-1
    and missing batch axes are summed back), scalars and the same array passed twice (each
    position gets its own gradient; add them for the total).  Extended forward specs work
    too (``"i->ii"``, ``"i->ij"``): the sizes of output labels no input carries are read off
    ``grad``.

    Complex operands follow JAX's convention: nothing is conjugated.  An einsum is linear
    (so holomorphic) in each operand, and the result is the vector-Jacobian product ``G J``,
    what ``jax.vjp`` returns: ``sum(G * einsum(..., dX, ...)) == sum(result[k] * dX)``.
    (PyTorch's gradient of a real loss is the complex conjugate of this.)

    >>> import numpy as np
    >>> gA, gB = einsum_vjp("ij,jk->ik", np.eye(2), np.ones((2, 3)), grad=np.ones((2, 3)))
    >>> gA
    array([[3., 3.],
           [3., 3.]])
    """
    arrays = [np.asarray(op) for op in operands]
    g = np.asarray(grad)
    spec = parse(subscripts, [a.shape for a in arrays], _broadcast_sizes(subscripts, g.shape))
    out_shape = tuple(spec.sizes[lab] for lab in spec.output)
    if g.shape != out_shape:
        raise TensorcalcError(
            f"grad has shape {g.shape} but the output of {subscripts!r} has shape {out_shape}")
    labels = "".join(dict.fromkeys("".join(spec.inputs) + spec.output))
    if len(labels) > len(LETTERS):
        raise TensorcalcError(f"einsum_vjp: {subscripts!r} uses more than {len(LETTERS)} labels")
    rename = str.maketrans({lab: LETTERS[k] for k, lab in enumerate(labels)})
    inputs = [s.translate(rename) for s in spec.inputs]
    output = spec.output.translate(rename)
    sizes = {lab.translate(rename): n for lab, n in spec.sizes.items() if lab in labels}
    squeezed = [_squeeze(a, drop) for a, drop in zip(arrays, spec.squeeze)]
    result = []
    for k, a in enumerate(arrays):
        others = [s for j, s in enumerate(squeezed) if j != k]
        terms = [output] + [s for j, s in enumerate(inputs) if j != k]
        carried = set("".join(terms))
        extra = {lab: sizes[lab] for lab in inputs[k] if lab not in carried}
        ct = tc_einsum(",".join(terms) + "->" + inputs[k], g, *others, sizes=extra or None)
        result.append(np.reshape(ct, a.shape))
    return tuple(result)


def _broadcast_sizes(subscripts: Any, grad_shape: tuple[int, ...]) -> dict[str, int] | None:
    """Sizes, read off ``grad``, of the output labels no input carries (extended specs).

    Labels before a ``...`` in the output count from the first axis of ``grad``, labels after
    it from the last.  Shape mismatches are left to the parser and the shape check.
    """
    if not isinstance(subscripts, str):
        return None
    lhs, arrow, rhs = "".join(subscripts.split()).partition("->")
    if not arrow:
        return None
    head, _, tail = rhs.partition("...")
    sizes: dict[str, int] = {}
    for labels, axes in ((head, range(len(head))),
                         (tail, range(len(grad_shape) - len(tail), len(grad_shape)))):
        for lab, ax in zip(labels, axes):
            if lab in LETTERS and lab not in lhs and 0 <= ax < len(grad_shape):
                sizes.setdefault(lab, grad_shape[ax])
    return sizes or None


def _squeeze(a: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    return a[tuple(0 if ax in axes else slice(None) for ax in range(a.ndim))] if axes else a
