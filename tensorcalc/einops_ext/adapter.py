"""The one module that touches einops' private names.

tensorcalc reuses einops (pinned ``einops>=0.8.2,<0.10``) for its pattern language instead of
writing a second parser. Its public functions (``einops.rearrange``/``reduce``/``repeat``) do
the work; two private pieces are needed besides:

* ``einops._backends.AbstractBackend``: einops picks the backend of a tensor among the
  subclasses of this class whose ``framework_name`` is an imported module. Subclassing it lets
  einops' own parser and recipe drive tensorcalc expressions through a handful of methods
  (``shape``, ``reshape``, ``transpose``, ``reduce``, ``add_axes``, ...). In einops issue
  #120 the maintainer confirms that subclasses defined outside einops are picked up. In 2025
  (PR #385) he steers *new frameworks* towards the Array API instead (``einops.array_api``,
  driven by ``__array_namespace__``): that is the fallback route should subclass discovery
  ever go, and the adapter test would be the first to fail.
* ``einops.parsing.ParsedExpression`` / ``AnonymousAxis`` / ``_ellipsis``: einops' parser of
  one side of a pattern, used to rewrite the space-to-depth shorthand of
  :mod:`tensorcalc.einops_ext.rearrange` into named axes.
* ``einops.einops._compactify_pattern_for_einsum``: the translation of ``einops.einsum``'s
  pattern (``"batch d, d out -> batch out"``) into numpy subscripts, so that
  ``tc.einsum(x, w, pattern)`` accepts and rejects exactly what ``einops.einsum`` does
  (:func:`einsum_subscripts`).
* ``einops.packing.analyze_pattern``: the position of ``*`` in a pack/unpack pattern, with
  einops' checks (:func:`pack_axes`); public in name but not exported by einops.
* ``einops.einops._prepare_transformation_recipe`` / ``_apply_recipe_array_api``: the body of
  ``einops.array_api.reduce``, run by :data:`ARRAY_API` on a namespace that takes the list
  shapes einops 0.8 passes to ``reshape``/``broadcast_to`` (the standard, and
  ``array_api_strict``, want tuples).

Everything else in tensorcalc sees plain Python data (:func:`parse_side`) or einops' public
API. ``tests/test_einops_adapter.py`` imports each name of :data:`PRIVATE_NAMES` and checks the
signatures of :data:`BACKEND_METHODS`, so an einops release that moves them fails loudly.

>>> parse_side("b (h 2) ... ()")
[('b',), ('h', 2), '...', ()]
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping, Union

from einops import EinopsError
from einops._backends import AbstractBackend
from einops import array_api as einops_array_api
from einops.einops import (_apply_recipe_array_api, _compactify_pattern_for_einsum,
                           _prepare_transformation_recipe)
from einops.packing import analyze_pattern
from einops.parsing import AnonymousAxis, ParsedExpression, _ellipsis

#: (module, name) of every private einops name used here; the adapter test imports each one.
PRIVATE_NAMES: tuple[tuple[str, str], ...] = (
    ("einops._backends", "AbstractBackend"),
    ("einops.parsing", "ParsedExpression"),
    ("einops.parsing", "AnonymousAxis"),
    ("einops.parsing", "_ellipsis"),
    ("einops.einops", "_compactify_pattern_for_einsum"),
    ("einops.packing", "analyze_pattern"),
    ("einops.einops", "_prepare_transformation_recipe"),
    ("einops.einops", "_apply_recipe_array_api"),
)

#: Backend methods einops 0.8 calls for rearrange/reduce/repeat/einsum/pack, with the parameter
#: names (after ``self``) it passes; checked against ``AbstractBackend`` by the adapter test.
BACKEND_METHODS: dict[str, tuple[str, ...]] = {
    "is_appropriate_type": ("tensor",),
    "shape": ("x",),
    "reshape": ("x", "shape"),
    "transpose": ("x", "axes"),
    "reduce": ("x", "operation", "axes"),
    "add_axes": ("x", "n_axes", "pos2len"),
    "is_float_type": ("x",),
    "stack_on_zeroth_dimension": ("tensors",),
    "concat": ("tensors", "axis"),
    "einsum": ("pattern", "x"),
}

ELLIPSIS = "..."

#: One element of a parsed side: a top-level ``...`` or a group (tuple) of axes, where an axis
#: is a name, an anonymous size (int >= 2) or ``"..."`` (an ellipsis inside parentheses).
Group = Union[str, tuple[Union[str, int], ...]]

__all__ = ["ARRAY_API", "BACKEND_METHODS", "ELLIPSIS", "EinopsError", "PRIVATE_NAMES",
           "define_backend", "einsum_subscripts", "pack_axes", "parse_side"]


def _axis(item: Any) -> str | int:
    if isinstance(item, AnonymousAxis):
        return item.value
    return ELLIPSIS if item == _ellipsis else item


def parse_side(text: str) -> list[Group]:
    """One side of an einops pattern as plain data, parsed by einops itself.

    Raises ``einops.EinopsError`` exactly where einops would. A bare ``1`` and ``()`` both
    become the empty group; a ``1`` inside parentheses disappears (as in einops).

    >>> parse_side("(h h2) 3 c")
    [('h', 'h2'), (3,), ('c',)]
    """
    parsed = ParsedExpression(text)
    return [ELLIPSIS if group == _ellipsis else tuple(_axis(a) for a in group)
            for group in parsed.composition]


def einsum_subscripts(pattern: str) -> str:
    """``einops.einsum``'s pattern as numpy einsum subscripts, translated by einops itself.

    Axis names map to letters in order of first appearance. Raises what ``einops.einsum``
    raises: ``EinopsError`` (bad axis name, unknown output axis), ``NotImplementedError``
    (``()``, compositions, anonymous axes), ``ValueError`` (no ``->``), ``RuntimeError``
    (more than 52 axes).

    >>> einsum_subscripts("batch d, d out -> batch out")
    'ab,bc->ac'
    >>> einsum_subscripts("... i, i ->...")
    '...a,a->...'
    """
    return _compactify_pattern_for_einsum(pattern)


def pack_axes(pattern: str, opname: str) -> tuple[int, int, int]:
    """``(axes before *, axes after *, minimum rank)`` of a pack/unpack pattern, by einops.

    Raises ``EinopsError`` as ``einops.pack``/``unpack`` would (no ``*``, two ``*``, ``...``).

    >>> pack_axes("i j * k", "pack")
    (2, 1, 3)
    """
    return analyze_pattern(pattern, opname)


def define_backend(framework_name: str, is_tensor: Callable[[Any], bool],
                   methods: Mapping[str, Callable[..., Any]]) -> type:
    """Create (once per framework) the einops backend for a tensor type of ours.

    ``framework_name`` must be the name of the module defining the tensor type: einops only
    instantiates backends whose module is in ``sys.modules``. ``methods`` maps names of
    :data:`BACKEND_METHODS` (without ``is_appropriate_type``) to plain functions taking the
    same arguments minus ``self``, under the same names (einops passes some by keyword:
    ``add_axes(x, n_axes=..., pos2len=...)``). Methods not given keep einops' default, which raises
    ``NotImplementedError`` with einops' own message. (No doctest: every subclass of
    ``AbstractBackend`` stays registered with einops for the life of the process.)
    """
    unknown = set(methods) - set(BACKEND_METHODS)
    if unknown:
        raise ValueError(f"not einops backend methods: {sorted(unknown)}")
    for name, function in methods.items():
        _check_parameters(name, function)
    namespace: dict[str, Any] = {
        "framework_name": framework_name,
        "is_appropriate_type": lambda self, tensor: is_tensor(tensor),
    }
    for name, function in methods.items():
        namespace[name] = _as_method(function)
    name = "Backend_" + framework_name.replace(".", "_")
    return type(name, (AbstractBackend,), namespace)


def _check_parameters(name: str, function: Callable[..., Any]) -> None:
    params = list(inspect.signature(function).parameters.values())
    fixed = tuple(p.name for p in params if p.kind is not p.VAR_POSITIONAL)
    expected = BACKEND_METHODS[name]
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        expected = expected[:-1]  # einsum(pattern, *x)
    if fixed != expected:
        raise ValueError(f"backend method {name}{fixed} must take parameters {expected}")


def _as_method(function: Callable[..., Any]) -> Callable[..., Any]:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return function(*args, **kwargs)  # einops passes some arguments by keyword

    method.__name__ = getattr(function, "__name__", "method")
    return method


class _TupleShapes:
    """An array-API namespace whose ``reshape``/``broadcast_to`` also take list shapes."""

    def __init__(self, xp: Any) -> None:
        self._xp = xp

    def __getattr__(self, name: str) -> Any:
        return getattr(self._xp, name)

    def reshape(self, x: Any, shape: Any) -> Any:
        return self._xp.reshape(x, tuple(shape))

    def broadcast_to(self, x: Any, shape: Any) -> Any:
        return self._xp.broadcast_to(x, tuple(shape))


def _array_api_reduce(tensor: Any, pattern: str, reduction: Any, **axes_lengths: Any) -> Any:
    """``einops.array_api.reduce``, its namespace taking list shapes (same messages)."""
    if isinstance(tensor, list):
        if not tensor:
            raise TypeError("Einops can't be applied to an empty list")
        xp = tensor[0].__array_namespace__()
        tensor = xp.stack(tensor)
    else:
        xp = tensor.__array_namespace__()
    try:
        recipe = _prepare_transformation_recipe(pattern, reduction, axes_names=tuple(axes_lengths),
                                                ndim=tensor.ndim)
        return _apply_recipe_array_api(_TupleShapes(xp), recipe=recipe, tensor=tensor,
                                       reduction_type=reduction,
                                       axes_lengths=tuple(axes_lengths.items()))
    except EinopsError as err:
        raise EinopsError(f' Error while processing {reduction}-reduction pattern "{pattern}".\n'
                          f" Input tensor shape: {tensor.shape}. Additional info: "
                          f"{axes_lengths}.\n {err}") from None


def _array_api_rearrange(tensor: Any, pattern: str, **axes_lengths: Any) -> Any:
    return _array_api_reduce(tensor, pattern, "rearrange", **axes_lengths)


def _array_api_repeat(tensor: Any, pattern: str, **axes_lengths: Any) -> Any:
    return _array_api_reduce(tensor, pattern, "repeat", **axes_lengths)


class _ArrayApiEinops:
    """einops' functions for array-API libraries (driven by ``__array_namespace__``): those of
    ``einops.array_api``, rearrange/reduce/repeat on a namespace that takes list shapes."""

    rearrange = staticmethod(_array_api_rearrange)
    reduce = staticmethod(_array_api_reduce)
    repeat = staticmethod(_array_api_repeat)
    pack = staticmethod(einops_array_api.pack)
    unpack = staticmethod(einops_array_api.unpack)
    asnumpy = staticmethod(einops_array_api.asnumpy)
    __name__ = "einops.array_api"


#: einops' functions for array-API libraries, as a module-like object (``ARRAY_API.rearrange``).
ARRAY_API = _ArrayApiEinops()
