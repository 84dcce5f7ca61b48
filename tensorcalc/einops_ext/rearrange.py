"""einops-style ``rearrange``, ``reduce`` and ``repeat`` on arrays and on expressions.

The pattern language is einops' own: compositions ``(h w)``, decompositions sized by keywords,
``...``, unit axes ``()``/``1``, anonymous axes where einops allows them (reduced on the left
of ``reduce``, new on the right of ``repeat``). einops parses and validates every pattern, so
results and messages are exactly einops'; errors are re-raised as :class:`RearrangeError`
(a :class:`~tensorcalc.errors.TensorcalcError`, hence a ``ValueError``) with einops' text,
which quotes the pattern, the input shape and the keyword sizes. :class:`RearrangeError` is also
an ``einops.EinopsError``, so code written against einops catches it unchanged.

The signatures are einops': ``reduce(x, pattern, reduction, **axes_lengths)`` (``reduction``
may be passed by keyword), a list or tuple of tensors is stacked along a new first axis.

* On numpy arrays (and array-likes, converted with ``numpy.asarray``) the call is delegated
  to einops' numpy backend.
* On torch, JAX and CuPy arrays (or lists of them, numpy arrays in the list moved to that
  library) the call is delegated to einops itself, so the result is einops' own: the
  library's array, autograd and ``jax.jit`` intact. Other array-API libraries go through
  einops' array-API path (:data:`.adapter.ARRAY_API`). See :data:`EINOPS_MODULES`; dask
  arrays, which einops cannot run, still go through ``numpy.asarray``.
* On expressions (:class:`~tensorcalc.ir.Expr`) einops drives tensorcalc's own backend
  (see :mod:`tensorcalc.einops_ext.adapter`): einops parses, validates and computes the shape
  arithmetic, and each step it asks for becomes a differentiable IR node:

  - a pure **permutation** becomes an :class:`~tensorcalc.ir.Einsum` with permuted labels,
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
  - a **callable** reduction ``f(x, axes)`` (einops' form) receives the expression and the
    tuple of axes to reduce; built from tensorcalc functions (``tc.logsumexp(x, axis=axes)``,
    ``tc.sum``, ``tc.mean``, ...) it is differentiable like any expression. It must return an
    expression shaped like ``x`` without ``axes``; anything else is a :class:`ReductionError`.

  einops' other functions work on expressions too, through the same backend:
  ``einops.einsum`` (an einsum node) and ``einops.pack``/``unpack`` (concatenation is a sum
  of zero-padded embeddings, :class:`~tensorcalc.ops.IndexAdjoint`; slicing is
  indexing), along axes of int size; :mod:`tensorcalc.einops_ext.functions` wraps them
  (``tc.pack``, ``tc.unpack``, ``tc.parse_shape``, ``tc.einsum`` with the pattern last).

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
>>> from tensorcalc.einops_ext.rearrange import rearrange, reduce
>>> from tensorcalc.ir import var
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
import types
from typing import Any, Callable, Union

import einops
import numpy as np
from einops import rearrange as einops_rearrange, reduce as einops_reduce, repeat as einops_repeat

from ..backends import backend_of, detect
from ..errors import TensorcalcError
from ..ir import Expr, as_expr
from .adapter import ARRAY_API, ELLIPSIS, EinopsError, Group, parse_side
from .nodes import (EXPR_REDUCTIONS, ExprBackend, ExtremumMask, ProdExcept,  # noqa: F401  (re-exported)
                           ReduceExtremum, ReduceProd, Reshape, SymbolicSize, reshape)

__all__ = ["EINOPS_MODULES", "RearrangeError", "ReductionDtypeError", "ReductionError",
           "expand_anonymous_folds", "foreign_input", "rearrange", "reduce", "repeat", "reshape",
           "stack_input"]

Reduction = Union[str, Callable[[np.ndarray, tuple], np.ndarray]]


class RearrangeError(TensorcalcError, EinopsError):
    """A pattern that does not fit the input: einops' message, quoting pattern, shape, sizes.

    Both a :class:`~tensorcalc.errors.TensorcalcError` (a ``ValueError``) and an
    ``einops.EinopsError`` (a ``RuntimeError``): ``except einops.EinopsError`` keeps working
    when ``einops.rearrange`` is replaced by ``tc.rearrange``.

    >>> import numpy as np
    >>> from tensorcalc.einops_ext.rearrange import RearrangeError, rearrange
    >>> try:
    ...     rearrange(np.zeros((2, 3)), "a b -> a c")
    ... except RearrangeError as err:
    ...     print(err)  # doctest: +ELLIPSIS
    Error while processing rearrange-reduction pattern "a b -> a c".
     Input tensor shape: (2, 3). Additional info: {}.
     Identifiers only on one side of expression (should be on both): {...}
    >>> issubclass(RearrangeError, EinopsError)
    True
    """


class RearrangeNotImplementedError(RearrangeError, NotImplementedError):
    """What einops raises as ``NotImplementedError`` (``einsum`` patterns with ``()``,
    compositions or anonymous axes), still a :class:`RearrangeError`."""


class ReductionDtypeError(TypeError, NotImplementedError):
    """A reduction einops refuses for the input's dtype (``"mean"`` of integers): a
    ``TypeError``, and the ``NotImplementedError`` einops raises there."""


class ReductionError(TensorcalcError, TypeError):
    """A reduction that expressions cannot take: not one of :data:`EXPR_REDUCTIONS`, or a
    callable that does not build an expression of the reduced shape.

    A :class:`~tensorcalc.errors.TensorcalcError` and a ``TypeError`` (a wrong argument).
    """


def rearrange(x: Any, pattern: str, /, **sizes: Any) -> Any:
    """Reorder, split, merge, squeeze or unsqueeze axes, exactly as ``einops.rearrange``.

    Also accepts the anonymous-axes folding shorthand of the module docstring.

    >>> import numpy as np
    >>> from tensorcalc.einops_ext.rearrange import rearrange
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
    return _run(einops_rearrange, x, named, pattern, (), sizes)


def reduce(x: Any, pattern: str, /, reduction: Reduction, **sizes: Any) -> Any:
    """Rearrange and reduce the axes missing on the right, exactly as ``einops.reduce``.

    ``reduction`` (positional or keyword, as in einops) is one of ``"sum"``, ``"mean"``,
    ``"max"``, ``"min"``, ``"prod"``, or a callable ``f(tensor, axes)`` that reduces ``tensor``
    over the tuple ``axes``; arrays also take ``"any"`` and ``"all"``. On expressions the
    callable receives the expression and must build the result from tensorcalc functions,
    e.g. ``lambda x, axes: tc.logsumexp(x, axis=axes)``.

    >>> import numpy as np
    >>> from tensorcalc.einops_ext.rearrange import reduce
    >>> reduce(np.arange(6.0).reshape(2, 3), "a b -> a", "sum")
    array([ 3., 12.])
    >>> reduce(np.arange(8.0), "(a 2) -> a", "max")   # an anonymous axis is reduced
    array([1., 3., 5., 7.])
    >>> reduce(np.arange(6.0).reshape(2, 3), "a b -> b", reduction=lambda t, axes: t.sum(axes))
    array([3., 5., 7.])
    """
    _check_pattern(pattern)
    if not (isinstance(reduction, str) or callable(reduction)):
        raise TypeError(f"reduce: the reduction op must be a reduction name or a callable "
                        f"f(tensor, axes), got {reduction!r}")
    return _run(einops_reduce, x, pattern, pattern, (reduction,), sizes)


def repeat(x: Any, pattern: str, /, **sizes: Any) -> Any:
    """Broadcast along new axes and tile, exactly as ``einops.repeat``.

    On expressions a new axis may have a named size (``c="n"``), bound at evaluation by a
    variable that has that dimension.

    >>> import numpy as np
    >>> from tensorcalc.einops_ext.rearrange import repeat
    >>> repeat(np.array([1, 2]), "h -> h c", c=3)
    array([[1, 1, 1],
           [2, 2, 2]])
    >>> repeat(np.array([1, 2]), "h -> (2 h)")
    array([1, 2, 1, 2])
    """
    _check_pattern(pattern)
    return _run(einops_repeat, x, pattern, pattern, (), sizes)


def _with_fold_sizes(pattern: str, sizes: dict[str, Any], folded: dict[str, int]) -> dict:
    clash = sorted(set(folded) & set(sizes))
    if clash:  # a user size can only name an axis of the pattern, never a generated name
        raise RearrangeError(f'rearrange pattern "{pattern}": axis {clash[0]!r} is not used in '
                             "the pattern (it names one of its numbers once rewritten)")
    return {**sizes, **folded}


def _check_pattern(pattern: Any) -> None:
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be a str like 'a b -> b a', got {type(pattern).__name__}")


#: The einops module that runs each backend's arrays, so that results are exactly einops'
#: (the library's arrays, its autograd and tracing intact): einops' own backends for the
#: libraries it knows, ``einops.array_api`` (driven by ``__array_namespace__``; see
#: :data:`.adapter.ARRAY_API`) for the other array-API libraries. dask has neither (no einops
#: backend, no ``__array_namespace__``): its arrays go through ``numpy.asarray``, as before.
#: einops' own functions, bound at import (a caller that later replaces ``einops.rearrange`` by
#: ``tc.rearrange``, as code migrating to tensorcalc may, must not send us back to ourselves).
EINOPS = types.SimpleNamespace(
    __name__="einops", rearrange=einops_rearrange, reduce=einops_reduce, repeat=einops_repeat,
    pack=einops.pack, unpack=einops.unpack, asnumpy=einops.asnumpy)
EINOPS_MODULES: dict[str, Any] = {"torch": EINOPS, "jax": EINOPS, "cupy": EINOPS,
                                  "array_api": ARRAY_API}


def foreign_input(x: Any) -> tuple[Any, Any] | None:
    """``(einops module, tensor)`` for another library's array (or a list or tuple holding
    one, numpy arrays in it moved to that library, a tuple made a list as einops wants), or
    None for numpy values, expressions and libraries einops cannot run.

    >>> foreign_input([np.zeros(2), np.ones(2)]) is None   # numpy keeps its own path
    True
    """
    items = list(x) if isinstance(x, (list, tuple)) else None
    if items is None:
        row = detect(x)
        module = EINOPS_MODULES.get(row.name) if row is not None else None
        return None if module is None else (module, x)
    own = [t for t in items if detect(t) is not None]
    if not own or any(_is_expression(t) for t in items):
        return None
    row = backend_of(own)  # two libraries in one list: TensorcalcError naming both
    module = EINOPS_MODULES.get(row.name)
    if module is None:
        return None
    return module, [t if detect(t) is not None else row.from_numpy(t, own[0]) for t in items]


def _run(function: Callable[..., Any], x: Any, pattern: str, original: str,
         extra: tuple, sizes: dict[str, Any]) -> Any:
    foreign = None if isinstance(x, np.ndarray) else foreign_input(x)
    if isinstance(x, np.ndarray) or foreign is not None:  # checks only what einops would not
        tensor = x
        if sizes:
            _checked_sizes(sizes, symbolic=False)
        if foreign is not None:
            module, tensor = foreign
            function = getattr(module, function.__name__)
    else:
        tensor = stack_input(x)
        symbolic = not isinstance(tensor, np.ndarray)
        sizes = _checked_sizes(sizes, symbolic)
        if symbolic and extra:
            extra = (_expression_reduction(extra[0]),)
    try:
        return function(tensor, pattern, *extra, **sizes)
    except EinopsError as err:
        message = str(err).strip()
        if pattern != original:
            message = f"{message}\n (pattern {original!r} was rewritten to {pattern!r})"
        raise RearrangeError(message) from None
    except ReductionError:
        raise
    except NotImplementedError as err:
        # einops refuses "mean" of an integer array: a dtype (argument type) problem
        raise ReductionDtypeError(f"{err}; pattern {original!r}, input dtype "
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


def _expression_reduction(reduction: Reduction) -> Reduction:
    """The reduction einops gets for an expression: a name of :data:`EXPR_REDUCTIONS`, or
    the user's callable wrapped to check that it builds an expression of the reduced shape."""
    if isinstance(reduction, str):
        if reduction not in EXPR_REDUCTIONS:
            raise ReductionError(
                f"reduce on expressions: the reduction op must be one of {EXPR_REDUCTIONS} or a "
                f"callable f(expr, axes) built from tensorcalc functions, got {reduction!r}")
        return reduction
    try:
        return _checked_callable(reduction)
    except TypeError:  # an unhashable callable: wrap it anew
        return _checked_callable.__wrapped__(reduction)


@functools.lru_cache(64)  # one wrapper per callable: einops caches its recipes by reduction
def _checked_callable(function: Callable[..., Any]) -> Callable[[Expr, tuple], Expr]:
    def reduction(tensor: Expr, axes: tuple) -> Expr:
        want = tuple(d for ax, d in enumerate(tensor.shape) if ax not in axes)
        advice = (f"on expressions the reduction op must be one of {EXPR_REDUCTIONS} or a "
                  f"callable f(expr, axes) that builds, from tensorcalc functions (e.g. "
                  f"lambda x, axes: tc.logsumexp(x, axis=axes)), an expression of shape {want} "
                  f"(the expression it receives, of shape {tensor.shape}, without axes {axes})")
        try:
            out = function(tensor, axes)
        except (TypeError, AttributeError) as err:  # e.g. a numpy function given an Expr
            raise ReductionError(f"reduce: the callable {_name(function)} failed on an "
                                 f"expression ({err}); {advice}") from err
        if not isinstance(out, Expr) or out.shape != want:
            got = (f"an expression of shape {out.shape}" if isinstance(out, Expr)
                   else f"a {type(out).__name__}")
            raise ReductionError(f"reduce: the callable {_name(function)} returned {got}; "
                                 f"{advice}")
        return out

    return reduction


def _name(function: Any) -> str:
    return getattr(function, "__qualname__", None) or repr(function)


def _shape_text(tensor: Any) -> str:
    if isinstance(tensor, list):
        return f"list of {len(tensor)} x {tuple(tensor[0].shape)}"
    return str(tuple(tensor.shape))


def stack_input(x: Any) -> Any:
    """The tensor einops should see for ``x``: an array, an expression, or a list of
    expressions of one shape (einops stacks a list along a new first axis).

    A list or tuple holding an expression becomes a list of expressions (arrays in it become
    constants); one of arrays only becomes one array, stacked along a new first axis as
    einops does (tuples too, which einops refuses). Array-likes go through ``numpy.asarray``.

    >>> import numpy as np
    >>> stack_input((np.zeros(2), np.ones(2))).shape
    (2, 2)
    """
    if isinstance(x, np.ndarray) or _is_expression(x):
        return x
    if isinstance(x, (list, tuple)):
        if not x:
            raise TypeError(f"rearrange/reduce/repeat can't be applied to an empty "
                            f"{type(x).__name__}: einops stacks a list of tensors along a new "
                            f"first axis")
        if any(_is_expression(e) for e in x):
            items = [as_expr(e if _is_expression(e) else _as_array(e)) for e in x]
            shapes = {e.shape for e in items}
            if len(shapes) > 1:
                raise RearrangeError(f"cannot stack a {type(x).__name__} of tensors of "
                                     f"different shapes {[e.shape for e in items]}: einops "
                                     f"stacks a list along a new first axis")
            return items
    if isinstance(x, (str, bytes, dict, set)) or x is None:
        raise TypeError(f"rearrange/reduce/repeat need an array or an expression, "
                        f"got {type(x).__name__}")
    return _as_array(x)


def _as_array(x: Any) -> np.ndarray:
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
