"""einops' other public functions on arrays and expressions: ``pack``, ``unpack``,
``parse_shape``, ``asnumpy``, and ``einsum``'s pattern-last form for ``tc.einsum``.

Each takes what its einops namesake takes and returns the same thing; einops does the work
(on expressions through the backend of :mod:`tensorcalc.einops_ext.nodes`, so the results
are differentiable; on torch, JAX, CuPy and array-API arrays by einops' own backends, so the
results are that library's arrays, see :func:`~tensorcalc.einops_ext.rearrange.foreign_input`). Mistakes raise :class:`~tensorcalc.einops_ext.rearrange.RearrangeError`
with einops' message, which is both a ``TensorcalcError`` and an ``einops.EinopsError``.

* :func:`pack` / :func:`unpack`: on expressions, joining is a sum of zero-padded embeddings
  and splitting is indexing. Named dimensions may sit anywhere outside ``*``; inside ``*``
  only when nothing is joined to them (one tensor packed, one piece unpacked), since a
  dimension of an expression is an int or one name, never ``n + 3``. Packed shapes name such
  dimensions by their names.
* :func:`parse_shape`: named dimensions of expressions come back as their names, which
  ``rearrange``/``repeat`` accept as sizes on expressions.
* :func:`asnumpy`: an array for arrays and array-likes; an expression without variables is
  evaluated.
* :func:`einops_einsum_args`: ``(x, w, "batch d, d out -> batch out")`` to
  ``("ab,bc->ac", x, w)``, translated by einops itself; ``tc.einsum`` calls it when its last
  argument is a str.

>>> import numpy as np
>>> from tensorcalc.ir import var
>>> packed, shapes = pack([np.zeros((2, 3)), np.ones((2, 4, 5))], "i *")
>>> packed.shape, shapes
((2, 23), [(3,), (4, 5)])
>>> [t.shape for t in unpack(packed, shapes, "i *")]
[(2, 3), (2, 4, 5)]
>>> packed, shapes = pack([var("a", ("n", 3)), var("b", ("n",))], "n *")
>>> packed.shape, shapes
(('n', 4), [(3,), ()])
>>> parse_shape(var("x", ("batch", 3)), "b c")
{'b': 'batch', 'c': 3}
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from einops import EinopsError, pack as einops_pack, parse_shape as einops_parse_shape
from einops import unpack as einops_unpack

from ..errors import TensorcalcError
from ..evaluation import evaluate
from ..ir import Expr, as_expr, variables
from .adapter import einsum_subscripts, pack_axes
from .nodes import SymbolicSize, reshape
from .rearrange import RearrangeError, RearrangeNotImplementedError, foreign_input, stack_input

__all__ = ["asnumpy", "einops_einsum_args", "pack", "parse_shape", "unpack"]

Shape = tuple


def pack(tensors: Sequence[Any], pattern: str) -> tuple[Any, list[Shape]]:
    """Pack tensors into one along the ``*`` of ``pattern``, exactly as ``einops.pack``.

    Returns ``(packed, packed_shapes)``; ``unpack(packed, packed_shapes, pattern)`` inverts
    it. Arrays give an array; if any input is an expression, all become expressions (arrays
    as constants) and the result is an expression.

    >>> import numpy as np
    >>> packed, shapes = pack([np.zeros((2, 3, 5)), np.zeros((2, 3, 7, 5))], "i j * k")
    >>> packed.shape, shapes
    ((2, 3, 8, 5), [(), (7,)])
    """
    _check_pattern(pattern, "pack")
    if isinstance(tensors, (Expr, str, bytes)) or not hasattr(tensors, "__iter__"):
        raise TypeError(f"pack needs a list of tensors, got {type(tensors).__name__}")
    items = list(tensors)
    if not items:
        raise TypeError("pack needs at least one tensor")
    function = einops_pack
    foreign = foreign_input(items)  # another library's arrays: einops packs them as they are
    if foreign is not None:
        function = foreign[0].pack
        items = foreign[1]
    elif any(isinstance(t, Expr) for t in items):
        items = [as_expr(t if isinstance(t, Expr) else stack_input(t)) for t in items]
    else:
        items = [stack_input(t) for t in items]
    try:
        packed, shapes = function(items, pattern)
    except (EinopsError, ValueError) as err:  # ValueError: numpy's concatenate
        raise RearrangeError(_message(err, f'pack(..., "{pattern}") of shapes '
                                           f"{[_shape(t) for t in items]}")) from None
    except (RuntimeError, TypeError) as err:  # another library's concatenate (torch.cat...)
        if foreign is None:
            raise
        raise RearrangeError(_message(err, f'pack(..., "{pattern}") of shapes '
                                           f"{[_shape(t) for t in items]}")) from None
    return packed, [tuple(_dim(d) for d in shape) for shape in shapes]


def unpack(tensor: Any, packed_shapes: Sequence[Sequence[Any]], pattern: str) -> list[Any]:
    """Split ``tensor`` along the ``*`` of ``pattern`` into tensors of the ``packed_shapes``,
    exactly as ``einops.unpack`` (one entry of a packed shape may be ``-1``).

    On expressions a packed shape may name a dimension (``("n",)``): the packed axis must then
    be that named dimension, unpacked into one piece.

    >>> import numpy as np
    >>> [t.shape for t in unpack(np.zeros((2, 8)), [(3,), (-1,)], "i *")]
    [(2, 3), (2, 5)]
    """
    _check_pattern(pattern, "unpack")
    if isinstance(tensor, (list, tuple)):
        raise TypeError(f"unpack needs one tensor (the packed one), got a "
                        f"{type(tensor).__name__}")
    foreign = foreign_input(tensor)
    function = einops_unpack if foreign is None else foreign[0].unpack
    tensor = stack_input(tensor) if foreign is None else tensor
    shapes = [tuple(shape) for shape in packed_shapes]
    try:
        if isinstance(tensor, Expr):
            named = _unpack_named(tensor, shapes, pattern)
            if named is not None:
                return named
            shapes = [tuple(SymbolicSize.of(d) for d in shape) for shape in shapes]
        return function(tensor, shapes, pattern)
    except EinopsError as err:
        raise RearrangeError(_message(err, "")) from None
    except RuntimeError as err:  # einops' failed split of a library's array (bare RuntimeError)
        if foreign is None:
            raise  # numpy's path unchanged
        raise RearrangeError(_message(err, "")) from None


def _unpack_named(tensor: Expr, shapes: list[Shape], pattern: str) -> list[Expr] | None:
    """``unpack`` of an expression where a named size is involved, or ``None`` (einops'
    own path) when none is. Raises ``EinopsError`` for what the IR cannot do."""
    before, after, _ = pack_axes(pattern, "unpack")
    if tensor.ndim != before + 1 + after:
        return None  # einops reports the wrong rank
    axis = tensor.shape[before]
    names = [d for shape in shapes for d in shape if isinstance(d, str)]
    if not isinstance(axis, str):
        if names:
            raise EinopsError(f'unpack(..., "{pattern}"): packed shapes {shapes} name '
                              f"dimensions {names}, but the packed axis has size {axis}")
        return None
    pieces = [[d for d in shape if d != 1] for shape in shapes]
    if len(shapes) != 1 or pieces[0] not in ([axis], [-1]):
        raise EinopsError(
            f'unpack(..., "{pattern}") of an expression of shape {tensor.shape}: the packed '
            f"axis is the named dimension {axis!r}, which can only be unpacked whole, into "
            f"one packed shape ({axis!r},) or (-1,) (with any 1s), not {shapes}")
    shape = tuple(axis if d == -1 else d for d in shapes[0])
    return [reshape(tensor, tensor.shape[:before] + shape + tensor.shape[before + 1:])]


def parse_shape(x: Any, pattern: str) -> dict[str, Any]:
    """The sizes of the axes named in ``pattern``, exactly as ``einops.parse_shape``
    (``_`` skips an axis, ``...`` skips several). Named dimensions of an expression come
    back as their names.

    >>> import numpy as np
    >>> parse_shape(np.zeros((2, 3, 5, 7)), "batch _ h w")
    {'batch': 2, 'h': 5, 'w': 7}
    """
    _check_pattern(pattern, "parse_shape")
    # another library's array: only its shape is read (no copy to numpy, a traced JAX value
    # too), through a zero-stride numpy view of that shape
    tensor = stack_input(x) if foreign_input(x) is None else np.broadcast_to(
        np.empty(()), tuple(x.shape))
    try:
        parsed = einops_parse_shape(tensor, pattern)
    except RuntimeError as err:  # einops raises EinopsError and bare RuntimeErrors here
        raise RearrangeError(_message(err, "")) from None
    return {name: _dim(size) for name, size in parsed.items()}


def asnumpy(x: Any) -> np.ndarray:
    """``x`` as a numpy array, as ``einops.asnumpy``: arrays come back as they are,
    array-likes through ``numpy.asarray``, an expression without variables is evaluated.

    >>> from tensorcalc.ir import as_expr
    >>> asnumpy(as_expr(np.arange(3.0)) * 2.0)
    array([0., 2., 4.])
    """
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, Expr):
        free = sorted({v.name for v in variables(x)})
        if free:
            raise TensorcalcError(f"asnumpy of an expression with variables {free}: evaluate "
                                  f"it with arrays for them, e.g. expr.evaluate({free[0]}=...)")
        return evaluate(x)
    foreign = foreign_input(x)
    if foreign is not None:  # einops' own conversion (torch: detached, moved to the CPU)
        module, tensor = foreign
        if isinstance(tensor, list):
            return np.stack([module.asnumpy(t) for t in tensor])
        return np.asarray(module.asnumpy(tensor))
    tensor = stack_input(x)
    if isinstance(tensor, list):  # a list holding expressions: stacked, as einops would
        return np.stack([asnumpy(item) for item in tensor])
    return tensor


def einops_einsum_args(args: Sequence[Any], sizes: Mapping[str, Any] | None = None) -> tuple:
    """``einops.einsum``'s arguments ``(*tensors, pattern)`` as ``(subscripts, *tensors)``.

    The pattern is translated by einops (multi-letter axis names, spaces, ``...``), so what
    ``einops.einsum`` rejects raises here with its message, as a :class:`RearrangeError`
    (``RearrangeNotImplementedError`` where einops raises ``NotImplementedError``).

    >>> einops_einsum_args(["x", "w", "batch d, d out -> batch out"])
    ('ab,bc->ac', 'x', 'w')
    """
    *tensors, pattern = args
    if sizes is not None:
        raise TypeError("einsum: sizes= is not supported with einops' pattern-last form "
                        "(einops.einsum allows no output axis that no input has)")
    try:
        subscripts = einsum_subscripts(pattern)
    except NotImplementedError as err:
        raise RearrangeNotImplementedError(str(err)) from None
    except (EinopsError, ValueError, RuntimeError) as err:
        raise RearrangeError(str(err)) from None
    return (subscripts, *tensors)


def _check_pattern(pattern: Any, what: str) -> None:
    if not isinstance(pattern, str):
        raise TypeError(f"{what}: pattern must be a str like 'i *', got "
                        f"{type(pattern).__name__}")


def _dim(size: Any) -> Any:
    """A size einops computed, as the user sees it: an int or a dimension name."""
    if isinstance(size, SymbolicSize):
        return size.as_dim("a size")
    return size


def _shape(tensor: Any) -> tuple:
    return tuple(tensor.shape)


def _message(err: BaseException, context: str) -> str:
    message = str(err).strip()
    return f"{context}: {message}" if context else message
