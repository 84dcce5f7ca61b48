"""einops on expressions: the IR nodes and backend that :mod:`tensorcalc.einops_ext.rearrange` drives.

einops turns every pattern into at most five steps (reshape, transpose, reduce, add axes,
reshape) and calls one backend method per step; each builds an IR node (see the docstring of
:mod:`tensorcalc.einops_ext.rearrange` for the mapping and the derivative of each). Registering
``ExprBackend`` happens on import.

>>> from tensorcalc.ir import var
>>> reshape(var("x", (2, 3)), (6,)).shape
(6,)
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from ..differentiation import defjvp, defvjp
from ..display.codegen import CodeWriter, code_rule
from ..display.text import StrPrinter, shape_text, str_rule
from ..errors import TensorcalcError
from ..ir import Add, Einsum, Expr, einsum as _expr_einsum
from ..ir.dims import resolve_dim
from ..labels import LETTERS
from ..ops import IndexAdjoint
from ..ops import functions as _functions
from .adapter import EinopsError, define_backend

#: Reductions on expressions (arrays also take einops' "any", "all" and callables).
EXPR_REDUCTIONS = ("sum", "mean", "max", "min", "prod")

# --------------------------------------------------------------------------------------
# Expressions: einops drives tensorcalc's IR through a backend
# --------------------------------------------------------------------------------------
#
# einops turns every pattern into at most five steps (reshape, transpose, reduce, add axes,
# reshape) and calls one backend method per step; each builds an IR node as listed in the
# module docstring. einops does the shape arithmetic; named dimensions enter it wrapped as
# `SymbolicSize`.

class SymbolicSize:
    """A dimension size ``coeff * prod(names)`` that einops can multiply and divide.

    Named dimensions of expressions are ``str``; einops would multiply strings by ints
    (``2 * "n" == "nn"``), so they are wrapped in this class before einops sees them.

    Its repr is the size as written (``'n'``, ``2*n``): einops quotes it in its messages.

    >>> (SymbolicSize.of("n") * 6) // 3
    2*n
    """

    __slots__ = ("coeff", "names")

    def __init__(self, coeff: int, names: tuple[str, ...]) -> None:
        self.coeff = coeff
        self.names = tuple(sorted(names))

    @classmethod
    def of(cls, dim: Any) -> Any:
        return cls(1, (dim,)) if isinstance(dim, str) else dim

    def as_dim(self, what: str) -> str:
        """The single dimension name this size is, or an EinopsError (einops adds context)."""
        if self.coeff == 1 and len(self.names) == 1:
            return self.names[0]
        raise EinopsError(
            f"{what} of an expression would create an axis of size {self}: named dimensions "
            "can only move or be reduced, not be split or merged with other axes (give "
            "the variable a concrete size instead)")

    def __mul__(self, other: Any) -> "SymbolicSize":
        if isinstance(other, SymbolicSize):
            return SymbolicSize(self.coeff * other.coeff, self.names + other.names)
        return SymbolicSize(self.coeff * int(other), self.names)

    __rmul__ = __mul__

    def __floordiv__(self, other: Any) -> Any:
        names, coeff = list(self.names), self.coeff
        for name in getattr(other, "names", ()):
            if name not in names:
                raise EinopsError(f"cannot divide the axis of size {self} by {other}")
            names.remove(name)
        divisor = getattr(other, "coeff", other)
        if coeff % divisor:
            raise EinopsError(f"cannot divide the axis of size {self} into chunks of {other}")
        return SymbolicSize(coeff // divisor, tuple(names)) if names else coeff // divisor

    def __rfloordiv__(self, other: Any) -> Any:
        raise EinopsError(f"cannot divide the axis of size {other} into chunks of {self}")

    def __eq__(self, other: Any) -> bool:
        return (isinstance(other, SymbolicSize) and self.coeff == other.coeff
                and self.names == other.names)

    def __hash__(self) -> int:
        return hash((self.coeff, self.names))

    def __repr__(self) -> str:
        text = str(self)
        return repr(text) if self.coeff == 1 and len(self.names) == 1 else text

    def __str__(self) -> str:
        return "*".join(([str(self.coeff)] if self.coeff != 1 else []) + list(self.names))


def _plain_dim(dim: Any, what: str) -> Any:
    return dim.as_dim(what) if isinstance(dim, SymbolicSize) else int(dim)


class Reshape(Expr):
    """C-order ``numpy.reshape`` of ``x`` to ``shape`` (ints and dimension names).

    Build it with :func:`reshape`, which picks a cheaper node when one exists. Evaluation
    returns a view when the input's layout allows. Its VJP is the reshape of the upstream
    gradient back to ``x.shape``.
    """

    __slots__ = ()

    def __init__(self, x: Expr, shape: tuple) -> None:
        super().__init__((x,), shape, x.dtype)

    def params(self) -> tuple:
        return (self.shape,)

    def eval_node(self, value: np.ndarray, *, sizes: Any, xp: Any = np) -> np.ndarray:
        target = tuple(resolve_dim(d, sizes) for d in self.shape)
        if int(np.prod(target)) != math.prod(value.shape):
            raise TensorcalcError(f"rearrange: cannot reshape an axis block of shape "
                                  f"{tuple(value.shape)} to {self.shape} = {target}")
        return value.reshape(target) if xp is np else xp.reshape(value, target)


class ReduceExtremum(Expr):
    """``max`` or ``min`` of ``x`` over ``axes`` (sorted positions).

    Ties: the gradient is split equally among the tied extrema (as JAX's ``reduce_max`` and
    torch's ``amax``/``amin`` do), through :class:`ExtremumMask`.
    """

    __slots__ = ("kind", "axes")

    def __init__(self, x: Expr, kind: str, axes: tuple[int, ...]) -> None:
        self.kind, self.axes = kind, tuple(axes)
        kept = [d for ax, d in enumerate(x.shape) if ax not in self.axes]
        super().__init__((x,), kept, x.dtype)

    def params(self) -> tuple:
        return (self.kind, self.axes)

    def eval_node(self, value: np.ndarray, *, sizes: Any, xp: Any = np) -> np.ndarray:
        if xp is not np:
            return getattr(xp, self.kind)(value, axis=self.axes)
        return _EXTREMA[self.kind](value, axis=self.axes)


class ExtremumMask(Expr):
    """Where ``x`` attains its ``kind`` over ``axes``, divided by the number of ties.

    Shaped like ``x``; every reduced slice sums to 1. Piecewise constant in ``x``: its
    derivative is zero, so Hessians through max/min see only the upstream terms.
    """

    __slots__ = ("kind", "axes")

    def __init__(self, x: Expr, kind: str, axes: tuple[int, ...]) -> None:
        self.kind, self.axes = kind, tuple(axes)
        super().__init__((x,), x.shape, x.dtype)

    def params(self) -> tuple:
        return (self.kind, self.axes)

    def eval_node(self, value: np.ndarray, *, sizes: Any, xp: Any = np) -> np.ndarray:
        if xp is not np:
            extremum = getattr(xp, self.kind)(value, axis=self.axes, keepdims=True)
            floating = xp.isdtype(value.dtype, ("real floating", "complex floating"))
            hits = xp.astype(value == extremum, value.dtype if floating else xp.float64)
            return hits / xp.sum(hits, axis=self.axes, keepdims=True)
        extremum = _EXTREMA[self.kind](value, axis=self.axes, keepdims=True)
        hits = (value == extremum).astype(value.dtype if value.dtype.kind in "fc" else float)
        return hits / np.sum(hits, axis=self.axes, keepdims=True)


class ReduceProd(Expr):
    """Product of ``x`` over ``axes``; its gradient is ``G`` times :class:`ProdExcept`."""

    __slots__ = ("axes",)

    def __init__(self, x: Expr, axes: tuple[int, ...]) -> None:
        self.axes = tuple(axes)
        kept = [d for ax, d in enumerate(x.shape) if ax not in self.axes]
        super().__init__((x,), kept, x.dtype)

    def params(self) -> tuple:
        return (self.axes,)

    def eval_node(self, value: np.ndarray, *, sizes: Any, xp: Any = np) -> np.ndarray:
        if xp is not np:
            return xp.prod(value, axis=self.axes, dtype=value.dtype)
        return np.prod(value, axis=self.axes)


class ProdExcept(Expr):
    """For each element, the product of the other elements of its slice over ``axes``.

    Computed from exclusive cumulative products, never by division, so the gradient of a
    product is exact where ``x`` has zeros. Its own VJP divides by ``x`` (second derivatives
    of a product are ``nan`` where an element is exactly zero).
    """

    __slots__ = ("axes",)

    def __init__(self, x: Expr, axes: tuple[int, ...]) -> None:
        self.axes = tuple(axes)
        super().__init__((x,), x.shape, x.dtype)

    def params(self) -> tuple:
        return (self.axes,)

    def eval_node(self, value: np.ndarray, *, sizes: Any, xp: Any = np) -> np.ndarray:
        if xp is not np:
            return _prod_except_array_api(xp, value, self.axes)
        if value.size == 0:
            return np.ones_like(value)
        kept = [ax for ax in range(value.ndim) if ax not in self.axes]
        moved = np.transpose(value, kept + list(self.axes))
        flat = moved.reshape(moved.shape[: len(kept)] + (-1,))
        ones = np.ones(flat.shape[:-1] + (1,), dtype=flat.dtype)
        before = np.cumprod(np.concatenate([ones, flat[..., :-1]], axis=-1), axis=-1)
        after = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], axis=-1), axis=-1)
        others = (before * after[..., ::-1]).reshape(moved.shape)
        return np.transpose(others, np.argsort(kept + list(self.axes)))


def _prod_except_array_api(xp: Any, value: Any, axes: tuple[int, ...]) -> Any:
    """:meth:`ProdExcept.eval_node` in array-API functions (exclusive cumulative products
    from both ends, multiplied)."""
    if math.prod(value.shape) == 0:
        return xp.ones_like(value)
    kept = [ax for ax in range(value.ndim) if ax not in axes]
    moved = xp.permute_dims(value, tuple(kept + list(axes)))
    flat = xp.reshape(moved, tuple(moved.shape[: len(kept)]) + (-1,))
    n = flat.shape[-1]
    before = xp.cumulative_prod(flat, axis=flat.ndim - 1, include_initial=True)[..., :n]
    after = xp.cumulative_prod(xp.flip(flat, axis=-1), axis=flat.ndim - 1,
                               include_initial=True)[..., :n]
    others = xp.reshape(before * xp.flip(after, axis=-1), tuple(moved.shape))
    return xp.permute_dims(others, tuple(int(k) for k in np.argsort(kept + list(axes))))


_EXTREMA = {"max": np.max, "min": np.min}


# The backend methods einops calls on expressions (see _einops_adapter.BACKEND_METHODS).

def _shape(x: Expr) -> tuple:
    return tuple(SymbolicSize.of(d) for d in x.shape)


def _reshape(x: Expr, shape: Any) -> Expr:
    shape = list(shape)
    if -1 in shape:  # einops.pack asks for one inferred axis
        total = functools.reduce(lambda a, b: a * b, _shape(x), 1)
        known = functools.reduce(lambda a, b: a * b, (d for d in shape if d != -1), 1)
        shape[shape.index(-1)] = total // known
    return reshape(x, tuple(_plain_dim(d, "reshape") for d in shape))


def reshape(x: Expr, shape: tuple) -> Expr:
    """C-order reshape of an expression, as the cheapest node that does it.

    Nothing when the shape is unchanged; an einsum when only size-1 axes come or go (so it
    folds into neighbouring contractions); otherwise one :class:`Reshape` (a reshape of a
    reshape is one reshape of the original).

    >>> from tensorcalc.ir import var
    >>> type(reshape(var("x", (2, 3)), (2, 1, 3))).__name__
    'Einsum'
    >>> reshape(reshape(var("x", (2, 3)), (6,)), (3, 2)).children[0].shape
    (2, 3)
    """
    if shape == x.shape:
        return x
    if [d for d in shape if d != 1] == [d for d in x.shape if d != 1]:
        return _unit_axes(x, shape)
    if isinstance(x, Reshape):
        x = x.children[0]
        if shape == x.shape:
            return x
    return Reshape(x, shape)


def _unit_axes(x: Expr, shape: tuple) -> Expr:
    """Drop the size-1 axes of ``x`` and insert those of ``shape``, as one extended einsum."""
    labels = LETTERS[: x.ndim]
    carried = iter(lab for lab, d in zip(labels, x.shape) if d != 1)
    spare = iter(LETTERS[x.ndim:])
    sizes = dict(zip(labels, x.shape))
    out = ""
    for d in shape:
        lab = next(spare) if d == 1 else next(carried)
        sizes[lab] = d
        out += lab
    return Einsum([labels], out, [x], sizes)


def _transpose(x: Expr, axes: Any) -> Expr:
    labels = LETTERS[: x.ndim]
    permuted = "".join(labels[a] for a in axes)
    return Einsum([labels], permuted, [x], dict(zip(labels, x.shape)))


def _reduce(x: Expr, operation: str, axes: Any) -> Expr:
    # einops moves reduced axes last before reducing; reducing the untransposed operand
    # instead saves the copy a transpose costs before max/min/prod
    base, base_axes, order = _through_permutation(x, tuple(axes))
    out = _reduce_axes(base, operation, base_axes)
    return out if order == sorted(order) else _transpose(out, order)


def _through_permutation(x: Expr, axes: tuple) -> tuple[Expr, tuple, list[int]]:
    """``(base, base_axes, order)``: reducing ``x`` over ``axes`` is reducing ``base`` over
    ``base_axes`` then transposing by ``order``, ``base`` being ``x`` before a permutation."""
    kept = [ax for ax in range(x.ndim) if ax not in axes]
    if not _is_permutation(x):
        return x, tuple(sorted(axes)), list(range(len(kept)))
    position = {lab: k for k, lab in enumerate(x.inputs[0])}
    where = [position[lab] for lab in x.output]  # axis of x -> axis of its operand
    kept_base = sorted(where[ax] for ax in kept)
    order = [kept_base.index(where[ax]) for ax in kept]
    return x.children[0], tuple(sorted(where[ax] for ax in axes)), order


def _is_permutation(x: Expr) -> bool:
    return (isinstance(x, Einsum) and len(x.children) == 1 and x.scale == 1.0
            and not x.factor_dims and len(set(x.output)) == len(x.output) == x.ndim
            and sorted(x.output) == sorted(x.inputs[0]))


def _reduce_axes(x: Expr, operation: str, axes: tuple) -> Expr:
    if operation == "sum":
        return _functions.sum(x, axis=axes)
    if operation == "mean":
        return _functions.mean(x, axis=axes)
    if operation in _EXTREMA:
        return ReduceExtremum(x, operation, axes)
    if operation == "prod":
        return ReduceProd(x, axes)
    raise EinopsError(f"reduction {operation!r} is not available on expressions; "
                      f"use one of {EXPR_REDUCTIONS}")


def _add_axes(x: Expr, n_axes: int, pos2len: dict) -> Expr:
    out = LETTERS[:n_axes]
    kept = "".join(lab for pos, lab in enumerate(out) if pos not in pos2len)
    sizes = dict(zip(kept, x.shape))
    sizes.update({out[pos]: _plain_dim(n, "repeat") for pos, n in pos2len.items()})
    return Einsum([kept], out, [x], sizes)


def _concat(tensors: list, axis: int) -> Expr:
    """``numpy.concatenate`` (used by ``einops.pack``): a sum of zero-padded embeddings."""
    if len(tensors) == 1:
        return tensors[0]  # nothing to join: the axis may have a named size
    lengths = [t.shape[axis] for t in tensors]
    if any(isinstance(n, str) for n in lengths):
        total = " + ".join(str(n) for n in lengths)
        raise EinopsError(
            f"cannot concatenate expressions along named dimensions {lengths}: the joined "
            f"axis would have size {total}, and a dimension of an expression is an int or "
            "one name; pack along axes of int size, or keep the named dimension outside '*'")
    full = list(tensors[0].shape)
    full[axis] = sum(lengths)
    pieces, start = [], 0
    for t, n in zip(tensors, lengths):
        index = (slice(None),) * axis + (slice(start, start + n),)
        index += (slice(None),) * (t.ndim - axis - 1)
        pieces.append(IndexAdjoint(t, index, tuple(full)))
        start += n
    return pieces[0] if len(pieces) == 1 else Add(pieces)


def _stack(tensors: list) -> Expr:
    return _functions.stack(tensors, axis=0)


def _einsum(pattern: str, *operands: Expr) -> Expr:
    return _expr_einsum(pattern, *operands)


ExprBackend = define_backend(
    Expr.__module__, lambda tensor: isinstance(tensor, Expr),
    {"shape": _shape, "reshape": _reshape, "transpose": _transpose, "reduce": _reduce,
     "add_axes": _add_axes, "is_float_type": lambda x: True, "concat": _concat,
     "stack_on_zeroth_dimension": _stack, "einsum": _einsum})


# --------------------------------------------------------------------------------------
# Derivative rules: each builds IR nodes, so Hessians through them work
# --------------------------------------------------------------------------------------

def _kept_labels(node: ReduceExtremum | ReduceProd | ProdExcept) -> tuple[str, str]:
    labels = LETTERS[: node.children[0].ndim]
    kept = "".join(lab for ax, lab in enumerate(labels) if ax not in node.axes)
    return labels, kept


@defvjp(Reshape)
def _vjp_reshape(node: Reshape, g: Expr) -> list[Expr]:
    lead = g.shape[: g.ndim - node.ndim]  # Jacobian axes stay in front
    return [reshape(g, lead + node.children[0].shape)]


@defvjp(ReduceExtremum)
def _vjp_extremum(node: ReduceExtremum, g: Expr) -> list[Expr]:
    labels, kept = _kept_labels(node)
    mask = ExtremumMask(node.children[0], node.kind, node.axes)
    return [_expr_einsum(f"...{kept},{labels}->...{labels}", g, mask)]


@defvjp(ExtremumMask)
def _vjp_mask(node: ExtremumMask, g: Expr) -> list[None]:
    return [None]  # piecewise constant: zero derivative almost everywhere


@defvjp(ReduceProd)
def _vjp_prod(node: ReduceProd, g: Expr) -> list[Expr]:
    labels, kept = _kept_labels(node)
    others = ProdExcept(node.children[0], node.axes)
    return [_expr_einsum(f"...{kept},{labels}->...{labels}", g, others)]


@defvjp(ProdExcept)
def _vjp_prod_except(node: ProdExcept, g: Expr) -> list[Expr]:
    # d others_i / d x_j = others_i / x_j for j != i in the slice, 0 for j == i, so the VJP
    # is (sum over the slice of g * others - g_j * others_j) / x_j
    x = node.children[0]
    labels, kept = _kept_labels(node)
    weighted = _expr_einsum(f"...{labels},{labels}->...{labels}", g, node)
    lead = LETTERS[len(LETTERS) - (g.ndim - node.ndim):]  # the Jacobian axes, if any
    sizes = dict(zip(lead + labels, g.shape))
    slice_sum = _expr_einsum(f"{lead}{labels}->{lead}{kept}", weighted)
    spread = _expr_einsum(f"{lead}{kept}->{lead}{labels}", slice_sum, sizes=sizes)
    return [_expr_einsum(f"...{labels},{labels}->...{labels}", spread - weighted,
                         _functions.power(x, -1.0))]


# Forward mode: the tangent ``t`` of the input has leading axes (a batch of directions) in
# front, as the cotangents above do.

@defjvp(Reshape)
def _jvp_reshape(node: Reshape, ts: list) -> Expr:
    t = ts[0]
    return reshape(t, t.shape[: t.ndim - node.children[0].ndim] + node.shape)


@defjvp(ReduceExtremum)
def _jvp_extremum(node: ReduceExtremum, ts: list) -> Expr:
    labels, kept = _kept_labels(node)  # ties share the tangent equally, as in the VJP
    mask = ExtremumMask(node.children[0], node.kind, node.axes)
    return _expr_einsum(f"{labels},...{labels}->...{kept}", mask, ts[0])


@defjvp(ExtremumMask)
def _jvp_mask(node: ExtremumMask, ts: list) -> None:
    return None  # piecewise constant


@defjvp(ReduceProd)
def _jvp_prod(node: ReduceProd, ts: list) -> Expr:
    labels, kept = _kept_labels(node)
    others = ProdExcept(node.children[0], node.axes)
    return _expr_einsum(f"{labels},...{labels}->...{kept}", others, ts[0])


@defjvp(ProdExcept)
def _jvp_prod_except(node: ProdExcept, ts: list) -> Expr:
    # d others_i = others_i (sum over the slice of t_j / x_j - t_i / x_i)
    x, t = node.children[0], ts[0]
    labels, kept = _kept_labels(node)
    ratio = _expr_einsum(f"...{labels},{labels}->...{labels}", t, _functions.power(x, -1.0))
    lead = LETTERS[len(LETTERS) - (t.ndim - x.ndim):]  # the leading axes, if any
    sizes = dict(zip(lead + labels, t.shape))
    slice_sum = _expr_einsum(f"{lead}{labels}->{lead}{kept}", ratio)
    spread = _expr_einsum(f"{lead}{kept}->{lead}{labels}", slice_sum, sizes=sizes)
    return _expr_einsum(f"...{labels},{labels}->...{labels}", spread - ratio, node)


# --------------------------------------------------------------------------------------
# Printing and generated code: these nodes join the printers' registries
# --------------------------------------------------------------------------------------

@str_rule.register(Reshape)
def _fmt_reshape(node: Any, p: StrPrinter) -> tuple[str, int]:
    return f"reshape({p.text(node.children[0])}, {shape_text(node.shape)})", 3


# The reductions print as calls: ``max(x, axis=(1,))``, ``argmax_mask(x, axis=(1,))``...
_CALL_NAMES = {
    ReduceExtremum: lambda node: node.kind,
    ExtremumMask: lambda node: f"arg{node.kind}_mask",
    ReduceProd: lambda node: "prod",
    ProdExcept: lambda node: "prod_except",
}


def _fmt_reduction(node: Any, p: StrPrinter) -> tuple[str, int]:
    return f"{_CALL_NAMES[type(node)](node)}({p.text(node.children[0])}, axis={node.axes})", 3


for _cls in _CALL_NAMES:
    str_rule.register(_cls)(_fmt_reduction)


# Generated code: numpy's spelling for backend "numpy", the array-API one (in the backend's
# namespace ``w.ns``) for the others.

@code_rule.register(Reshape)
def _node_reshape(node: Any, args: list[str], w: CodeWriter) -> str:
    if w.backend.array_api:
        return w.emit(f"{w.ns}.reshape({args[0]}, {w.shape_text(node.shape)})")
    return w.emit(f"{args[0]}.reshape({w.shape_text(node.shape)})")


@code_rule.register(ReduceExtremum)
def _node_reduceextremum(node: Any, args: list[str], w: CodeWriter) -> str:
    return w.emit(f"{w.ns}.{node.kind}({args[0]}, axis={node.axes!r})")


@code_rule.register(ReduceProd)
def _node_reduceprod(node: Any, args: list[str], w: CodeWriter) -> str:
    return w.emit(f"{w.ns}.prod({args[0]}, axis={node.axes!r})")


@code_rule.register(ExtremumMask)
def _node_extremummask(node: Any, args: list[str], w: CodeWriter) -> str:
    # where x attains its extremum over the axes, shared equally among ties
    x, axes, ns = args[0], node.axes, w.ns
    peak = w.emit(f"{ns}.{node.kind}({x}, axis={axes!r}, keepdims=True)")
    if w.backend.array_api:
        hits = w.emit(f"{ns}.astype({x} == {peak}, {x}.dtype)")
    else:
        hits = w.emit(f"({x} == {peak}).astype(np.result_type({x}, 1.0))")
    return w.emit(f"{hits} / {ns}.sum({hits}, axis={axes!r}, keepdims=True)")


@code_rule.register(ProdExcept)
def _node_prodexcept(node: Any, args: list[str], w: CodeWriter) -> str:
    # the product of the other elements of each slice: exclusive cumulative products
    # from both ends (no division, exact at zeros)
    x, axes = args[0], tuple(node.axes)
    kept = [ax for ax in range(node.ndim) if ax not in axes]
    order = kept + list(axes)
    inverse = tuple(int(i) for i in sorted(range(len(order)), key=order.__getitem__))
    if w.backend.array_api:
        return _prodexcept_array_api(w, x, len(kept), tuple(order), inverse)
    moved = w.emit(f"np.transpose({x}, {tuple(order)!r})")
    flat = w.emit(f"{moved}.reshape({moved}.shape[:{len(kept)}] + (-1,))")
    ones = w.emit(f"np.ones({flat}.shape[:-1] + (1,), dtype={flat}.dtype)")
    before = w.emit(f"np.cumprod(np.concatenate([{ones}, {flat}[..., :-1]], axis=-1), axis=-1)")
    after = w.emit(f"np.cumprod(np.concatenate([{ones}, {flat}[..., :0:-1]], axis=-1), axis=-1)")
    others = w.emit(f"({before} * {after}[..., ::-1]).reshape({moved}.shape)")
    return w.emit(f"np.transpose({others}, {inverse!r})")


def _prodexcept_array_api(w: CodeWriter, x: str, n_kept: int, order: tuple, inverse: tuple) -> str:
    # the same steps in the standard's names; flip instead of backward slices (torch has none)
    ns = w.ns
    moved = w.emit(f"{ns}.permute_dims({x}, {order!r})")
    flat = w.emit(f"{ns}.reshape({moved}, tuple({moved}.shape[:{n_kept}]) + (-1,))")
    ones = w.emit(f"{ns}.ones(tuple({flat}.shape[:-1]) + (1,), dtype={flat}.dtype{w.device(flat)})")
    before = w.emit(f"{ns}.cumulative_prod({ns}.concat([{ones}, {flat}[..., :-1]], axis=-1), axis=-1)")
    back = w.emit(f"{ns}.flip({flat}, axis=-1)")
    after = w.emit(f"{ns}.cumulative_prod({ns}.concat([{ones}, {back}[..., :-1]], axis=-1), axis=-1)")
    others = w.emit(f"{ns}.reshape({before} * {ns}.flip({after}, axis=-1), tuple({moved}.shape))")
    return w.emit(f"{ns}.permute_dims({others}, {inverse!r})")
