"""The builders of the primitives: elementwise functions (one per row of
:mod:`tensorcalc.ops.table`), reductions, matrix functions, functions along axes (softmax,
log_softmax, logsumexp, norm2, normalize), indexing, stacking.

Each builder takes expressions (or arrays, computed at once with numpy) and returns an
expression. Linear operations (sum, mean, trace, diag) are einsums. This module also
installs ``/``, ``**`` and indexing on :class:`~tensorcalc.ir.Expr`.

>>> import numpy as np
>>> from tensorcalc.ir import var
>>> x = var("x", (3,))
>>> float(sum(exp(x)).evaluate(x=np.zeros(3)))
3.0
"""

from __future__ import annotations

import builtins
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import TensorcalcError
from ..ir import (Const, Einsum, Expr, Var, WithDims, as_expr, broadcast_to, einsum, is_number, multiply,
                  scale, topological)
from ..ir.dims import broadcast_shapes
from ..labels import LETTERS
from . import table
from .nodes import AxisFunc, Func, Index, LogSumExp, MatFunc, PowArray, Stack, square_dim
from .table import ELEMENTWISE


def _as_array(x: Any) -> np.ndarray:
    """An array for numpy's functions: ints and bools become float64, complex stays complex."""
    a = np.asarray(x)
    return a.astype(np.float64) if a.dtype.kind in "biu" else a


def _elementwise(name: str) -> Callable[[Any], Any]:
    numpy_fn = ELEMENTWISE[name].numpy

    def build(x: Any) -> Any:
        if not isinstance(x, Expr):
            return numpy_fn(_as_array(x))
        if isinstance(x, Const):
            return Const(numpy_fn(x.value))
        return Func(name, x)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"Elementwise ``{name}`` (numpy result for arrays, an expression otherwise)."
    return build


# One builder per row of the table (tc.exp, tc.log, ...); the ones this module and the
# derivative rules call are also named here for readers and linters.
ELEMENTWISE_BUILDERS: dict[str, Callable[[Any], Any]] = {name: _elementwise(name) for name in ELEMENTWISE}
globals().update(ELEMENTWISE_BUILDERS)
exp, log, sqrt, sin, cos, sigmoid, sign, heaviside = (
    ELEMENTWISE_BUILDERS[n] for n in ("exp", "log", "sqrt", "sin", "cos", "sigmoid", "sign", "heaviside"))


def pow(x: Any, p: Any) -> Any:
    """``x ** p``; ``p`` a number (elementwise power) or an expression (``exp(p log x)``).

    >>> import numpy as np
    >>> from tensorcalc.ir import var
    >>> pow(var("x", (2,)), 3).evaluate(x=np.array([1.0, 2.0]))
    array([1., 8.])
    """
    if not isinstance(x, Expr) and not isinstance(p, Expr):
        return np.power(_as_array(x), p)
    return power(as_expr(x), p)


def power(x: Expr, p: Any) -> Expr:
    """``x ** p`` for an expression ``x`` (the ``**`` operator)."""
    if not isinstance(p, Expr) and np.ndim(p) > 0:
        exponent = _as_array(p)
        if isinstance(x, Const):
            return Const(np.power(x.value, exponent))
        return PowArray(broadcast_to(x, broadcast_shapes(x.shape, exponent.shape)), exponent)
    if isinstance(p, Expr) or np.iscomplexobj(p) and complex(p).imag:
        p = as_expr(p)
        if isinstance(x, Const) and x.ndim == 0:
            return exp(scale(p, np.log(x.value).item()))
        return exp(p * log(x))
    p = float(np.real(p))
    if p == 1.0:
        return x
    if p == 0.0:
        return ones_like(x)
    if isinstance(x, Const):
        return Const(np.power(x.value, p))
    return Func("pow", x, p)


def ones_like(x: Expr) -> Expr:
    """Ones of ``x``'s shape that keep ``x``'s variables attached (:class:`WithDims`), so the
    result still binds ``x``'s named dimensions and still has ``x``'s variables (``x ** 0``
    is 1, and its derivative by ``x`` is 0, not an error)."""
    ones = broadcast_to(Const(1.0), x.shape)
    if isinstance(x, Const):
        return ones
    variables = list({n.uid: n for n in topological([x]) if isinstance(n, Var)}.values())
    return WithDims(ones, variables) if variables else ones


def _axes(x: Expr, axis: Any, what: str) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(x.ndim))
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    for a in items:
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool):
            raise TypeError(f"{what}: axis must be an int or tuple of ints, got {a!r}")
        if not -x.ndim <= a < x.ndim:
            raise TensorcalcError(f"{what}: axis {a} is out of range for shape {x.shape}")
        out.append(int(a) % x.ndim)
    if len(set(out)) != len(out):
        raise TensorcalcError(f"{what}: axis {axis!r} repeats an axis")
    return tuple(sorted(out))


def sum(x: Any, axis: Any = None) -> Any:
    """Sum over ``axis`` (all axes by default), as an einsum.

    >>> import numpy as np
    >>> from tensorcalc.ir import var
    >>> sum(var("A", (2, 3)), axis=0).evaluate(A=np.ones((2, 3)))
    array([2., 2., 2.])
    """
    if not isinstance(x, Expr):
        return np.sum(x, axis=axis)
    axes = _axes(x, axis, "sum")
    labels = LETTERS[: x.ndim]
    out = "".join(lab for ax, lab in enumerate(labels) if ax not in axes)
    return einsum(labels + "->" + out, x)


def mean(x: Any, axis: Any = None) -> Any:
    """Mean over ``axis``; named dimensions divide at evaluation. The mean over no entries
    is NaN (0 / 0, numpy's value), silently and on every backend.

    >>> import numpy as np
    >>> from tensorcalc.ir import var
    >>> mean(var("A", ("m", "n")), axis=1).evaluate(A=np.ones((2, 0)))
    array([nan, nan])
    >>> mean(var("A", (2, 0)), axis=1).evaluate(A=np.ones((2, 0)))
    array([nan, nan])
    """
    if not isinstance(x, Expr):
        return np.mean(x, axis=axis)
    axes = _axes(x, axis, "mean")
    total = sum(x, axis)
    count = 1
    named = []
    for ax in axes:
        d = x.shape[ax]
        if isinstance(d, str):
            named.append((d, -1))
        else:
            count *= d
    scale = 1.0 / count if count else float("nan")  # no entries: 0 / 0, as ir.size_power
    labels = LETTERS[: total.ndim]
    return Einsum([labels], labels, [total], dict(zip(labels, total.shape)), scale, named)


def trace(x: Any) -> Any:
    """Sum of the diagonal over the first two axes (numpy.trace)."""
    if not isinstance(x, Expr):
        return np.trace(x)
    # ('n', 3) is square once n is bound to 3; the einsum checks it at evaluation
    if x.ndim < 2 or square_dim(x.shape[:2]) is None:
        raise TensorcalcError(f"trace needs equal first two axes, got shape {x.shape}")
    return einsum("ii...->...", x)


def diag(x: Any) -> Any:
    """numpy.diag: a vector becomes a diagonal matrix, a matrix gives its diagonal."""
    if not isinstance(x, Expr):
        return np.diag(x)
    if x.ndim == 1:
        return einsum("i->ii", x)
    if x.ndim == 2 and square_dim(x.shape) is not None:
        return einsum("ii->i", x)
    raise TensorcalcError(f"diag needs a vector or a square matrix, got shape {x.shape}")


def inv(x: Any) -> Any:
    """Matrix inverse (batched over leading axes)."""
    return table.MATRIX["inv"].numpy(x) if not isinstance(x, Expr) else MatFunc("inv", x)


def det(x: Any) -> Any:
    """Determinant (batched over leading axes)."""
    return table.MATRIX["det"].numpy(x) if not isinstance(x, Expr) else MatFunc("det", x)


def logdet(x: Any) -> Any:
    """``log |det x|`` (batched over leading axes)."""
    return table.MATRIX["logdet"].numpy(x) if not isinstance(x, Expr) else MatFunc("logdet", x)


def norm2(x: Any) -> Any:
    """Euclidean (Frobenius) norm of all entries, ``‖x‖ = sqrt(sum(x * x))``: a node of its
    own, so it prints as ``‖x‖`` and its derivative is ``normalize(x) = x / ‖x‖`` (0 at 0)."""
    if not isinstance(x, Expr):
        return np.sqrt(np.sum(np.square(np.abs(x))))  # |x|: the norm of a complex array
    if isinstance(x, Const):
        return Const(table.norm2_numpy(x.value))
    return AxisFunc("norm2", x, tuple(range(x.ndim)))


def normalize(x: Any) -> Any:
    """``x / ‖x‖`` over all entries, and 0 where ``x`` is 0 (the derivative of :func:`norm2`,
    whose subgradient at 0 it picks)."""
    if not isinstance(x, Expr):
        return table.normalize_numpy(x)
    if isinstance(x, Const):
        return Const(table.normalize_numpy(x.value))
    return AxisFunc("normalize", x, tuple(range(x.ndim)))


def logsumexp(x: Any, axis: Any = None) -> Any:
    """``log(sum(exp(x), axis))``, evaluated stably."""
    if not isinstance(x, Expr):
        return table.logsumexp_numpy(x, axis=axis)
    return LogSumExp(x, _axes(x, axis, "logsumexp"))


def expand(x: Expr, axes: Sequence[int], shape: Sequence[Any]) -> Expr:
    """Broadcast ``x`` (``shape`` without ``axes``) back along ``axes`` to ``shape``."""
    full = LETTERS[: len(shape)]
    kept = "".join(lab for ax, lab in enumerate(full) if ax not in axes)
    return Einsum([kept], full, [x], dict(zip(full, shape)))


def softmax(x: Any, axis: Any = -1) -> Any:
    """``exp(x - logsumexp(x, axis))`` along ``axis``, evaluated with the max shifted out; a
    node of its own (printed ``softmax(x)``; VJP ``g s - s Σ g s``)."""
    if not isinstance(x, Expr):
        return table.softmax_numpy(x, axis=axis)
    return AxisFunc("softmax", x, _axes(x, axis, "softmax"))


def log_softmax(x: Any, axis: Any = -1) -> Any:
    """``x - logsumexp(x, axis)`` along ``axis``: ``log(softmax(x))`` without its underflow
    (finite wherever ``x`` is); VJP ``g - softmax(x) Σ g``."""
    if not isinstance(x, Expr):
        return table.log_softmax_numpy(x, axis=axis)
    return AxisFunc("log_softmax", x, _axes(x, axis, "log_softmax"))


def stack(items: Sequence[Any], axis: int = 0) -> Expr:
    """Stack expressions (broadcast to one shape) along a new ``axis``.

    >>> import numpy as np
    >>> from tensorcalc.ir import var
    >>> x = var("x", (2,))
    >>> stack([x[0] * x[1], x[0] + 1.0]).evaluate(x=np.array([2.0, 3.0]))
    array([6., 3.])
    """
    exprs = [as_expr(it) for it in items]
    if not exprs:
        raise TensorcalcError("stack needs at least one item")
    shape = broadcast_shapes(*(e.shape for e in exprs))
    exprs = [broadcast_to(e, shape) for e in exprs]
    if not -len(shape) - 1 <= axis <= len(shape):
        raise TensorcalcError(f"stack: axis {axis} is out of range for items of shape {shape}")
    return Stack(exprs, axis % (len(shape) + 1))


# ---------------------------------------------------------------------------------------
# Indexing



def index(x: Expr, key: Any) -> Expr:
    """``x[key]`` for ints, slices, ``None`` and ``...`` (basic numpy indexing)."""
    items = key if isinstance(key, tuple) else (key,)
    n_real = builtins.sum(1 for it in items if it is not None and it is not Ellipsis)
    if builtins.sum(1 for it in items if it is Ellipsis) > 1:
        raise TensorcalcError("an index can only have a single ellipsis ('...')")
    if n_real > x.ndim:
        raise TensorcalcError(f"too many indices ({n_real}) for shape {x.shape}")
    out: list[Any] = []
    ax = 0
    for it in items:
        if it is Ellipsis:
            for _ in range(x.ndim - n_real):
                out.append(slice(None))
                ax += 1
        elif it is None:
            out.append(None)
        elif isinstance(it, slice):
            out.append(_norm_slice(it, x.shape[ax], ax))
            ax += 1
        elif isinstance(it, (int, np.integer)) and not isinstance(it, bool):
            out.append(_norm_int(int(it), x.shape[ax], ax))
            ax += 1
        else:
            raise TypeError(f"index entries must be ints, slices, None or '...', got {it!r}")
    out.extend(slice(None) for _ in range(x.ndim - ax))
    index_ = tuple(out)
    if all(isinstance(s, slice) and s == slice(None) for s in index_):
        return x
    return Index(x, index_)


def _norm_int(i: int, dim: Any, ax: int) -> int:
    if isinstance(dim, str):
        return i
    if not -dim <= i < dim:
        raise TensorcalcError(f"index {i} is out of bounds for axis {ax} with size {dim}")
    return i % dim


def _norm_slice(s: slice, dim: Any, ax: int) -> slice:
    if isinstance(dim, str):
        if s != slice(None) and s != slice(None, None, 1):
            raise TensorcalcError(
                f"slicing axis {ax} of named size {dim!r} is not supported; only ':' is")
        return slice(None)
    start, stop, step = s.indices(dim)
    if step == 1 and start == 0 and stop == dim:
        return slice(None)
    # slice.indices gives stop -1 for "before index 0" when stepping down; numpy would read -1
    # as the last element, so say None.
    return slice(start, None if stop < 0 else stop, step)


# ---------------------------------------------------------------------------------------
# Operators: installed here, where their builders live.


def _truediv(self: Expr, other: Any) -> Expr:
    if is_number(other):
        return scale(self, 1.0 / other)
    return multiply(self, pow(as_expr(other), -1.0))


Expr.__truediv__ = _truediv
Expr.__rtruediv__ = lambda self, other: multiply(other, pow(self, -1.0))
Expr.__pow__ = lambda self, other: power(self, other)
Expr.__rpow__ = lambda self, other: power(as_expr(other), self)
Expr.__getitem__ = lambda self, key: index(self, key)
