"""einops-style ``rearrange``, ``reduce`` and ``repeat`` on arrays and on expressions.

The pattern language is einops' own: compositions ``(h w)``, decompositions sized by keywords,
``...``, unit axes ``()``/``1``, anonymous axes where einops allows them (reduced on the left
of ``reduce``, new on the right of ``repeat``). einops parses and validates every pattern, so
results and messages are exactly einops'; errors are re-raised as :class:`RearrangeError`
(a :class:`~tensorcalc.errors.TensorcalcError`, hence a ``ValueError``) with einops' text,
which quotes the pattern, the input shape and the keyword sizes.

* On numpy arrays (and array-likes, converted with ``numpy.asarray``) the call is delegated
  to einops' numpy backend.
* On expressions (:class:`~tensorcalc.expr.Expr`) einops drives tensorcalc's own backend
  (see :mod:`tensorcalc._einops_adapter`): einops parses, validates and computes the shape
  arithmetic, and each step it asks for becomes a differentiable IR node:

  - a pure **permutation** becomes an :class:`~tensorcalc.expr.Einsum` with permuted labels,
    which simplification folds into a neighbouring einsum (no transpose copy);
  - **sum** and **mean** become einsums summing labels (mean scaled by the count, named
    dimensions dividing at evaluation); their gradient is a (scaled) broadcast, i.e. a repeat;
  - **repeat** (new axes) becomes an extended einsum broadcasting along new labels; its
    gradient is a sum;
  - adding or removing **unit axes** (``()``, ``1``) becomes an einsum too;
  - a **reshape** (splitting or merging axes) becomes a :class:`Reshape` node (a reshape of
    a reshape collapses into one). It is not lowered to an einsum (labels cannot express
    merged axes); at evaluation it is numpy's
    reshape: a view, no copy, when the input's memory layout allows (always for a
    C-contiguous input such as a bound variable), one copy otherwise. Its gradient is the inverse reshape, so the gradient of any
    rearrange is the inverse rearrange;
  - **max** / **min** become :class:`ReduceExtremum`. Ties: the gradient is split equally
    among the tied extrema of each reduced slice (as JAX's ``reduce_max`` and torch's
    ``amax``/``amin``; torch's ``max(dim)`` instead picks one index). The split is the
    :class:`ExtremumMask` node, whose own derivative is zero, so Hessians work;
  - **prod** becomes :class:`ReduceProd`, with gradient ``G`` times the product of the
    *other* elements (:class:`ProdExcept`, exclusive cumulative products): exact where ``x``
    has zeros. Second derivatives divide by ``x``: ``nan`` where an element is exactly zero.

  einops' other functions work on expressions too, through the same backend:
  ``einops.einsum`` (an einsum node) and ``einops.pack``/``unpack`` (concatenation is a sum
  of zero-padded embeddings, :class:`~tensorcalc.functions.IndexAdjoint`; slicing is
  indexing), along axes of int size.

  A reduction of a transposed operand reduces the operand itself (einops moves reduced
  axes last first), so max-pooling patterns cost no transpose copy. Named dimensions may
  move and be reduced, but not be split or merged (the IR has no product dimensions).

**Extension: anonymous axes folding in rearrange.** einops rejects numbers other than 1 in
``rearrange``. tensorcalc accepts them when every number on the left folds, in order, into a
number on the right of equal product: ``"(h 2) (w 2) c -> h w (c 4)"`` is rewritten to
``"(h h2) (w w2) c -> h w (c h2 w2)"`` before einops sees it (the new names are the first
named axis of the group followed by the size). A pattern whose numbers do not fold raises
:class:`RearrangeError` naming the numbers; ``reduce`` and ``repeat`` keep einops' meaning of
numbers unchanged.

>>> import numpy as np
>>> from tensorcalc.rearrange import rearrange, reduce
>>> from tensorcalc.expr import var
>>> y = reduce(var("x", (4, 4, 1)), "(h h2) (w w2) c -> h w c", "max", h2=2, w2=2)
>>> y.shape
(2, 2, 1)
>>> x = np.arange(16.0).reshape(4, 4, 1)
>>> y.evaluate(x=x)[..., 0]
array([[ 5.,  7.],
       [13., 15.]])
>>> rearrange(x, "(h 2) (w 2) c -> h w (c 4)").shape
(2, 2, 4)
>>> reduce(x, "(h h2) (w w2) c -> h w c", "max", h2=2, w2=2)[..., 0]
array([[ 5.,  7.],
       [13., 15.]])
"""

from __future__ import annotations

import functools
import numbers
from typing import Any, Callable, Union

import einops
import numpy as np

from . import functions as _functions
from .diff import defvjp
from ._einops_adapter import ELLIPSIS, EinopsError, Group, define_backend, parse_side
from .errors import TensorcalcError
from .expr import LETTERS, Add, Einsum, Expr, einsum as _expr_einsum, resolve_dim

__all__ = ["RearrangeError", "expand_anonymous_folds", "rearrange", "reduce", "repeat", "reshape"]

#: Reductions on expressions (arrays also take einops' "any", "all" and callables).
EXPR_REDUCTIONS = ("sum", "mean", "max", "min", "prod")

Reduction = Union[str, Callable[[np.ndarray, tuple], np.ndarray]]


class RearrangeError(TensorcalcError):
    """A pattern that does not fit the input: einops' message, quoting pattern, shape, sizes.

    >>> import numpy as np
    >>> from tensorcalc.rearrange import RearrangeError, rearrange
    >>> try:
    ...     rearrange(np.zeros((2, 3)), "a b -> a c")
    ... except RearrangeError as err:
    ...     print(err)  # doctest: +ELLIPSIS
    Error while processing rearrange-reduction pattern "a b -> a c".
     Input tensor shape: (2, 3). Additional info: {}.
     Identifiers only on one side of expression (should be on both): {...}
    """


def rearrange(x: Any, pattern: str, /, **sizes: Any) -> Any:
    """Reorder, split, merge, squeeze or unsqueeze axes, exactly as ``einops.rearrange``.

    Also accepts the anonymous-axes folding shorthand of the module docstring.

    >>> import numpy as np
    >>> from tensorcalc.rearrange import rearrange
    >>> rearrange(np.arange(6).reshape(2, 3), "a b -> b a")
    array([[0, 3],
           [1, 4],
           [2, 5]])
    >>> rearrange(np.zeros((6, 5)), "(h w) c -> h w c", h=2).shape
    (2, 3, 5)
    """
    _check_pattern(pattern)
    named, folded = _expand_cached(pattern)
    if folded:
        sizes = _with_fold_sizes(pattern, sizes, dict(folded))
    return _run(einops.rearrange, x, named, pattern, (), sizes)


def reduce(x: Any, pattern: str, op: Reduction, /, **sizes: Any) -> Any:
    """Rearrange and reduce the axes missing on the right, exactly as ``einops.reduce``.

    ``op`` is one of ``"sum"``, ``"mean"``, ``"max"``, ``"min"``, ``"prod"`` (and, on arrays
    only, ``"any"``, ``"all"`` or a callable ``f(array, axes)`` as einops allows).

    >>> import numpy as np
    >>> from tensorcalc.rearrange import reduce
    >>> reduce(np.arange(6.0).reshape(2, 3), "a b -> a", "sum")
    array([ 3., 12.])
    >>> reduce(np.arange(8.0), "(a 2) -> a", "max")   # an anonymous axis is reduced
    array([1., 3., 5., 7.])
    """
    _check_pattern(pattern)
    if not (isinstance(op, str) or callable(op)):
        raise TypeError(f"reduce: op must be a reduction name or a callable, got {op!r}")
    return _run(einops.reduce, x, pattern, pattern, (op,), sizes)


def repeat(x: Any, pattern: str, /, **sizes: Any) -> Any:
    """Broadcast along new axes and tile, exactly as ``einops.repeat``.

    On expressions a new axis may have a named size (``c="n"``), bound at evaluation by a
    variable that has that dimension.

    >>> import numpy as np
    >>> from tensorcalc.rearrange import repeat
    >>> repeat(np.array([1, 2]), "h -> h c", c=3)
    array([[1, 1, 1],
           [2, 2, 2]])
    >>> repeat(np.array([1, 2]), "h -> (2 h)")
    array([1, 2, 1, 2])
    """
    _check_pattern(pattern)
    return _run(einops.repeat, x, pattern, pattern, (), sizes)


def _with_fold_sizes(pattern: str, sizes: dict[str, Any], folded: dict[str, int]) -> dict:
    clash = sorted(set(folded) & set(sizes))
    if clash:  # a user size can only name an axis of the pattern, never a generated name
        raise RearrangeError(f'rearrange pattern "{pattern}": axis {clash[0]!r} is not used in '
                             "the pattern (it names one of its numbers once rewritten)")
    return {**sizes, **folded}


def _check_pattern(pattern: Any) -> None:
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be a str like 'a b -> b a', got {type(pattern).__name__}")


def _run(function: Callable[..., Any], x: Any, pattern: str, original: str,
         extra: tuple, sizes: dict[str, Any]) -> Any:
    if isinstance(x, np.ndarray):  # the hot path: checks only what einops would not
        tensor = x
        if sizes:
            _checked_sizes(sizes, symbolic=False)
    else:
        tensor = _as_tensor(x)
        symbolic = not isinstance(tensor, np.ndarray)
        sizes = _checked_sizes(sizes, symbolic)
        if symbolic and extra and extra[0] not in EXPR_REDUCTIONS:
            raise TypeError(f"reduce on expressions: op must be one of {EXPR_REDUCTIONS}, "
                            f"got {extra[0]!r}")
    try:
        return function(tensor, pattern, *extra, **sizes)
    except EinopsError as err:
        message = str(err).strip()
        if pattern != original:
            message = f"{message}\n (pattern {original!r} was rewritten to {pattern!r})"
        raise RearrangeError(message) from None
    except NotImplementedError as err:
        # einops refuses "mean" of an integer array: a dtype (argument type) problem
        raise TypeError(f"{err}; pattern {original!r}, input dtype "
                        f"{getattr(tensor, 'dtype', '?')}: cast to float first") from None
    except ValueError:
        if original.count("->") == 1:
            raise  # a TensorcalcError from building expression nodes: already ours
        # without exactly one "->", einops fails with a bare unpacking ValueError
        raise RearrangeError(f'pattern "{original}" must contain "->" exactly once; input '
                             f"shape {_shape_text(tensor)}, sizes {sizes}") from None


def _checked_sizes(sizes: dict[str, Any], symbolic: bool) -> dict[str, Any]:
    """Axis sizes must be ints; expressions also take dimension names (``c="n"``)."""
    for name, size in sizes.items():
        if type(size) is int or (isinstance(size, numbers.Integral) and type(size) is not bool):
            continue
        if symbolic and isinstance(size, str):
            continue
        kinds = "an int or a dimension name" if symbolic else "an int"
        raise TypeError(f"size of axis {name!r} must be {kinds}, got {size!r}")
    if symbolic:  # einops multiplies sizes: named ones must not be bare strings
        return {name: SymbolicSize.of(size) for name, size in sizes.items()}
    return sizes


def _shape_text(tensor: Any) -> str:
    if isinstance(tensor, list):
        return f"list of {len(tensor)} x {tuple(tensor[0].shape)}"
    return str(tuple(tensor.shape))


def _as_tensor(x: Any) -> Any:
    if isinstance(x, np.ndarray) or _is_expression(x):
        return x
    if isinstance(x, (list, tuple)) and x and all(_is_expression(e) for e in x):
        return list(x)  # einops stacks a list of tensors along a new first axis
    if isinstance(x, (str, bytes, dict, set)) or x is None:
        raise TypeError(f"rearrange/reduce/repeat need an array or an expression, "
                        f"got {type(x).__name__}")
    try:
        array = np.asarray(x)
    except ValueError as err:  # ragged nested lists
        raise RearrangeError(f"cannot make one array of the input: {err}") from None
    if array.dtype == object:
        raise TypeError(f"cannot convert {type(x).__name__} to a numeric array")
    return array


def _is_expression(x: Any) -> bool:
    return isinstance(x, Expr)


# --------------------------------------------------------------------------------------
# The anonymous-axes folding shorthand, "(h 2) (w 2) c -> h w (c 4)"
# --------------------------------------------------------------------------------------

def expand_anonymous_folds(pattern: str) -> tuple[str, dict[str, int]]:
    """Rewrite numbers in a rearrange pattern into named axes (see the module docstring).

    Returns the named pattern and the sizes of the new names. Patterns without numbers other
    than 1 come back unchanged, with no sizes (einops then validates them).

    >>> expand_anonymous_folds("(h 2) (w 2) c -> h w (c 4)")
    ('(h h2) (w w2) c -> h w (c h2 w2)', {'h2': 2, 'w2': 2})
    >>> expand_anonymous_folds("b (h 3) -> 3 b h")
    ('b (h h3) -> h3 b h', {'h3': 3})
    """
    named, sizes = _expand_cached(pattern)
    return named, dict(sizes)


@functools.lru_cache(512)
def _expand_cached(pattern: str) -> tuple[str, tuple[tuple[str, int], ...]]:
    if pattern.count("->") != 1:
        return pattern, ()
    left_text, right_text = pattern.split("->")
    try:
        left, right = parse_side(left_text), parse_side(right_text)
    except EinopsError:
        return pattern, ()  # einops reports syntax errors itself, with its own context
    left_numbers, right_numbers = _numbers(left), _numbers(right)
    if not left_numbers and not right_numbers:
        return pattern, ()
    taken = {a for side in (left, right) for g in side if g != ELLIPSIS for a in g}
    names = _fresh_names(left, taken)
    folds = _fold(left_numbers, right_numbers, pattern, names)
    left_iter = iter(names)
    new_left = _substitute(left, lambda size: [next(left_iter)])
    right_iter = iter(folds)
    new_right = _substitute(right, lambda size: next(right_iter))
    return f"{_format(new_left)} -> {_format(new_right)}", tuple(zip(names, left_numbers))


def _numbers(side: list[Group]) -> list[int]:
    return [a for g in side if g != ELLIPSIS for a in g if isinstance(a, int)]


def _fresh_names(left: list[Group], taken: set) -> list[str]:
    names = []
    for group in left:
        if group == ELLIPSIS:
            continue
        base = next((a for a in group if isinstance(a, str) and a != ELLIPSIS), "ax")
        for axis in group:
            if isinstance(axis, int):
                name, k = f"{base}{axis}", 1
                while name in taken:
                    name, k = f"{base}{axis}x{k}", k + 1
                taken.add(name)
                names.append(name)
    return names


def _fold(left: list[int], right: list[int], pattern: str, names: list[str]) -> list[list[str]]:
    """Assign the left numbers, in order, to right numbers of equal product."""
    folds, position = [], 0
    for target in right:
        product, group = 1, []
        while product < target and position < len(left):
            product *= left[position]
            group.append(names[position])
            position += 1
        if product != target:
            raise _fold_error(pattern, left, right)
        folds.append(group)
    if position != len(left):
        raise _fold_error(pattern, left, right)
    return folds


def _fold_error(pattern: str, left: list[int], right: list[int]) -> RearrangeError:
    return RearrangeError(
        f'rearrange pattern "{pattern}": the numbers on the left {left} do not fold, in order, '
        f"into the numbers on the right {right} (each right number must be the product of "
        "consecutive left numbers). einops allows no numbers other than 1 in rearrange; use "
        'named axes with sizes, e.g. "(h h2) (w w2) c -> h w (c h2 w2)" with h2=2, w2=2.')


def _substitute(side: list[Group], replace: Callable[[int], list[str]]) -> list[Group]:
    out: list[Group] = []
    for group in side:
        if group == ELLIPSIS:
            out.append(group)
            continue
        new: list[str | int] = []
        for axis in group:
            new.extend(replace(axis) if isinstance(axis, int) else [axis])
        bare = len(group) == 1 and len(new) == 1
        out.append(new[0] if bare else tuple(new))
    return out


def _format(side: list[Any]) -> str:
    parts = []
    for group in side:
        if isinstance(group, str):
            parts.append(group)  # a bare axis name or the top-level "..."
        else:
            parts.append("(" + " ".join(str(a) for a in group) + ")")
    return " ".join(parts)


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

    >>> (SymbolicSize.of("n") * 6) // 3
    SymbolicSize(2, ('n',))
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
        return f"SymbolicSize({self.coeff}, {self.names})"

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

    def eval_node(self, value: np.ndarray, *, sizes: Any) -> np.ndarray:
        target = tuple(resolve_dim(d, sizes) for d in self.shape)
        if int(np.prod(target)) != value.size:
            raise TensorcalcError(f"rearrange: cannot reshape an axis block of shape "
                                  f"{value.shape} to {self.shape} = {target}")
        return value.reshape(target)


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

    def eval_node(self, value: np.ndarray, *, sizes: Any) -> np.ndarray:
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

    def eval_node(self, value: np.ndarray, *, sizes: Any) -> np.ndarray:
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

    def eval_node(self, value: np.ndarray, *, sizes: Any) -> np.ndarray:
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

    def eval_node(self, value: np.ndarray, *, sizes: Any) -> np.ndarray:
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

    >>> from tensorcalc.expr import var
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
    lengths = [t.shape[axis] for t in tensors]
    if any(isinstance(n, str) for n in lengths):
        raise EinopsError(f"cannot concatenate expressions along named dimensions {lengths}")
    full = list(tensors[0].shape)
    full[axis] = sum(lengths)
    pieces, start = [], 0
    for t, n in zip(tensors, lengths):
        index = (slice(None),) * axis + (slice(start, start + n),)
        index += (slice(None),) * (t.ndim - axis - 1)
        pieces.append(_functions.IndexAdjoint(t, index, tuple(full)))
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
