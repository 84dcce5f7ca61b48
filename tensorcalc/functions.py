"""Elementwise functions, reductions, matrix functions, indexing and stacking.

Each builder takes expressions (or arrays, computed at once with numpy) and returns an
expression.  Linear operations (sum, mean, trace, diag) are einsums; the rest are the node
classes below, whose derivative rules live in ``tensorcalc.diff``.

>>> import numpy as np
>>> from tensorcalc.expr import var
>>> x = var("x", (3,))
>>> float(sum(exp(x)).evaluate(x=np.zeros(3)))
3.0
"""

from __future__ import annotations

import builtins
from typing import Any, Mapping, Sequence

import numpy as np
from scipy import special

from .errors import TensorcalcError
from .expr import (LETTERS, Const, Einsum, Expr, as_expr, broadcast_shapes, broadcast_to,
                   einsum, nested_repr, resolve_dim, scale)


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def _heaviside(x: np.ndarray) -> np.ndarray:
    return (x > 0).astype(x.dtype)


def _softplus(x: np.ndarray) -> np.ndarray:
    # logaddexp is stable for large real x but has no complex loop
    return np.log1p(np.exp(x)) if np.iscomplexobj(x) else np.logaddexp(0, x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x)) if np.iscomplexobj(x) else special.expit(x)


# name -> numpy implementation; ``pow`` takes the exponent as its parameter.
UFUNCS = {
    "exp": np.exp, "log": np.log, "log1p": np.log1p, "sin": np.sin, "cos": np.cos,
    "tan": np.tan, "tanh": np.tanh, "sigmoid": _sigmoid, "relu": _relu,
    "softplus": _softplus, "sqrt": np.sqrt, "abs": np.abs, "sign": np.sign,
    "heaviside": _heaviside,
}


class Func(Expr):
    """Elementwise function ``name`` (a key of ``UFUNCS``, or ``"pow"`` with ``param``)."""

    __slots__ = ("name", "param")

    def __init__(self, name: str, x: Expr, param: float | None = None) -> None:
        self.name = name
        self.param = param
        super().__init__((x,), x.shape, x.dtype)

    def params(self) -> tuple:
        return (self.name, self.param)

    def eval_node(self, x: np.ndarray, sizes: Mapping[str, int]) -> np.ndarray:
        if self.name == "pow":
            p = self.param
            if p == 2:
                return x * x
            if p == -1:
                return 1.0 / x
            if p == 0.5:
                return np.sqrt(x)
            return np.power(x, p)
        return UFUNCS[self.name](x)

    def __repr__(self) -> str:
        extra = "" if self.param is None else f", {self.param!r}"
        return f"{self.name}({nested_repr(self.children[0])}{extra})"


class PowArray(Expr):
    """``x ** exponent`` for a constant exponent array, numpy's ``power`` (a negative base with
    an integer exponent is fine, unlike ``exp(p log x)``); ``exponent`` broadcasts to ``x``."""

    __slots__ = ("exponent", "_key")

    def __init__(self, x: Expr, exponent: np.ndarray) -> None:
        self.exponent = exponent
        # by value when small (readable when printed), by identity when large, as constants
        values = tuple(exponent.ravel().tolist()) if exponent.size <= 64 else ("id", id(exponent))
        self._key = (exponent.shape, exponent.dtype.str, values)
        super().__init__((x,), x.shape, x.dtype)

    def params(self) -> tuple:
        return self._key

    def eval_node(self, x: np.ndarray, sizes: Mapping[str, int]) -> np.ndarray:
        return np.power(x, self.exponent)

    def __repr__(self) -> str:
        return f"pow({nested_repr(self.children[0])}, <exponent {self.exponent.shape}>)"


class MatFunc(Expr):
    """``inv``, ``det`` or ``logdet`` (log |det|) of the last two axes (leading axes batch)."""

    __slots__ = ("name",)

    def __init__(self, name: str, x: Expr) -> None:
        if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
            raise TensorcalcError(f"{name} needs square matrices in the last two axes, got shape {x.shape}")
        self.name = name
        shape = x.shape if name == "inv" else x.shape[:-2]
        super().__init__((x,), shape, x.dtype)

    def params(self) -> tuple:
        return (self.name,)

    def eval_node(self, x: np.ndarray, sizes: Mapping[str, int]) -> np.ndarray:
        if self.name == "inv":
            return np.linalg.inv(x)
        if self.name == "det":
            return np.asarray(np.linalg.det(x))
        return np.asarray(np.linalg.slogdet(x)[1])


class LogSumExp(Expr):
    """``log(sum(exp(x), axes))``, evaluated stably."""

    __slots__ = ("axes",)

    def __init__(self, x: Expr, axes: tuple[int, ...]) -> None:
        self.axes = axes
        shape = tuple(d for ax, d in enumerate(x.shape) if ax not in axes)
        super().__init__((x,), shape, x.dtype)

    def params(self) -> tuple:
        return self.axes

    def eval_node(self, x: np.ndarray, sizes: Mapping[str, int]) -> np.ndarray:
        return np.asarray(special.logsumexp(x, axis=self.axes))


class Index(Expr):
    """Basic indexing ``x[index]``; ``index`` is normalised to ints, slices and ``None``."""

    __slots__ = ("index",)

    def __init__(self, x: Expr, index: tuple) -> None:
        self.index = index
        super().__init__((x,), _indexed_shape(x.shape, index), x.dtype)

    def params(self) -> tuple:
        return _index_key(self.index)

    def eval_node(self, x: np.ndarray, sizes: Mapping[str, int]) -> np.ndarray:
        try:
            return x[self.index]
        except IndexError as err:  # an int index into a named dim bound too small
            raise TensorcalcError(f"index {_show_index(self.index)} into shape {x.shape}: {err}") from None


class IndexAdjoint(Expr):
    """Zeros of ``full_shape`` with ``g`` written at ``index`` (the adjoint of :class:`Index`)."""

    __slots__ = ("index", "full_shape")

    def __init__(self, g: Expr, index: tuple, full_shape: tuple) -> None:
        self.index = index
        self.full_shape = tuple(full_shape)
        super().__init__((g,), full_shape, g.dtype)

    def params(self) -> tuple:
        return (_index_key(self.index), self.full_shape)

    def eval_node(self, g: np.ndarray, sizes: Mapping[str, int]) -> np.ndarray:
        out = np.zeros(tuple(resolve_dim(d, sizes) for d in self.full_shape), dtype=g.dtype)
        try:
            out[self.index] = g
        except IndexError as err:
            raise TensorcalcError(f"index {_show_index(self.index)} into shape {out.shape}: {err}") from None
        return out


class Stack(Expr):
    """``numpy.stack(children, axis)``; the children share one shape."""

    __slots__ = ("axis",)

    def __init__(self, items: Sequence[Expr], axis: int) -> None:
        self.axis = axis
        shape = list(items[0].shape)
        shape.insert(axis, len(items))
        super().__init__(items, shape, None)

    def params(self) -> tuple:
        return (self.axis,)

    def eval_node(self, *values: np.ndarray, sizes: Mapping[str, int]) -> np.ndarray:
        return np.stack(values, axis=self.axis)


# ---------------------------------------------------------------------------------------
# Builders


def _as_array(x: Any) -> np.ndarray:
    """An array for numpy's functions: ints and bools become float64, complex stays complex."""
    a = np.asarray(x)
    return a.astype(np.float64) if a.dtype.kind in "biu" else a


def _elementwise(name: str):
    def build(x: Any) -> Any:
        if not isinstance(x, Expr):
            return UFUNCS[name](_as_array(x))
        if isinstance(x, Const):
            return Const(UFUNCS[name](x.value))
        return Func(name, x)

    build.__name__ = name
    build.__doc__ = f"Elementwise ``{name}`` (numpy result for arrays, an expression otherwise)."
    return build


exp = _elementwise("exp")
log = _elementwise("log")
log1p = _elementwise("log1p")
sin = _elementwise("sin")
cos = _elementwise("cos")
tan = _elementwise("tan")
tanh = _elementwise("tanh")
sigmoid = _elementwise("sigmoid")
relu = _elementwise("relu")
softplus = _elementwise("softplus")
sqrt = _elementwise("sqrt")
abs = _elementwise("abs")
sign = _elementwise("sign")
heaviside = _elementwise("heaviside")


def pow(x: Any, p: Any) -> Any:
    """``x ** p``; ``p`` a number (elementwise power) or an expression (``exp(p log x)``).

    >>> import numpy as np
    >>> from tensorcalc.expr import var
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
        return broadcast_to(Const(1.0), x.shape)
    if isinstance(x, Const):
        return Const(np.power(x.value, p))
    return Func("pow", x, p)


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
    >>> from tensorcalc.expr import var
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
    """Mean over ``axis``; named dimensions divide at evaluation."""
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
    if count == 0:
        raise TensorcalcError(f"mean over an empty axis of shape {x.shape}")
    labels = LETTERS[: total.ndim]
    return Einsum([labels], labels, [total], dict(zip(labels, total.shape)), 1.0 / count, named)


def trace(x: Any) -> Any:
    """Sum of the diagonal over the first two axes (numpy.trace)."""
    if not isinstance(x, Expr):
        return np.trace(x)
    if x.ndim < 2 or x.shape[0] != x.shape[1]:
        raise TensorcalcError(f"trace needs equal first two axes, got shape {x.shape}")
    return einsum("ii...->...", x)


def diag(x: Any) -> Any:
    """numpy.diag: a vector becomes a diagonal matrix, a matrix gives its diagonal."""
    if not isinstance(x, Expr):
        return np.diag(x)
    if x.ndim == 1:
        return einsum("i->ii", x)
    if x.ndim == 2 and x.shape[0] == x.shape[1]:
        return einsum("ii->i", x)
    raise TensorcalcError(f"diag needs a vector or a square matrix, got shape {x.shape}")


def inv(x: Any) -> Any:
    """Matrix inverse (batched over leading axes)."""
    return np.linalg.inv(x) if not isinstance(x, Expr) else MatFunc("inv", x)


def det(x: Any) -> Any:
    """Determinant (batched over leading axes)."""
    return np.linalg.det(x) if not isinstance(x, Expr) else MatFunc("det", x)


def logdet(x: Any) -> Any:
    """``log |det x|`` (batched over leading axes)."""
    return np.linalg.slogdet(x)[1] if not isinstance(x, Expr) else MatFunc("logdet", x)


def norm2(x: Any) -> Any:
    """Euclidean (Frobenius) norm of all entries: ``sqrt(sum(x * x))``."""
    if not isinstance(x, Expr):
        return np.sqrt(np.sum(np.square(np.abs(x))))  # |x|: the norm of a complex array
    return sqrt(sum(pow(x, 2)))


def logsumexp(x: Any, axis: Any = None) -> Any:
    """``log(sum(exp(x), axis))``, evaluated stably."""
    if not isinstance(x, Expr):
        return special.logsumexp(x, axis=axis)
    return LogSumExp(x, _axes(x, axis, "logsumexp"))


def expand(x: Expr, axes: Sequence[int], shape: Sequence[Any]) -> Expr:
    """Broadcast ``x`` (``shape`` without ``axes``) back along ``axes`` to ``shape``."""
    full = LETTERS[: len(shape)]
    kept = "".join(lab for ax, lab in enumerate(full) if ax not in axes)
    return Einsum([kept], full, [x], dict(zip(full, shape)))


def softmax(x: Any, axis: Any = -1) -> Any:
    """``exp(x - logsumexp(x, axis))`` along ``axis``."""
    if not isinstance(x, Expr):
        return special.softmax(x, axis=axis)
    axes = _axes(x, axis, "softmax")
    return exp(x - expand(LogSumExp(x, axes), axes, x.shape))


def stack(items: Sequence[Any], axis: int = 0) -> Expr:
    """Stack expressions (broadcast to one shape) along a new ``axis``.

    >>> import numpy as np
    >>> from tensorcalc.expr import var
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


def _indexed_shape(shape: tuple, index: tuple) -> tuple:
    out = []
    ax = 0
    for it in index:
        if it is None:
            out.append(1)
            continue
        dim = shape[ax]
        ax += 1
        if isinstance(it, slice):
            out.append(dim if it == slice(None) else len(range(*it.indices(dim))))
    return tuple(out)


def _show_index(index: tuple) -> str:
    def one(it: Any) -> str:
        if isinstance(it, slice):
            parts = ("" if v is None else str(v) for v in (it.start, it.stop, it.step))
            return ":".join(parts).rstrip(":") or ":"
        return "None" if it is None else str(it)

    return "[" + ", ".join(one(it) for it in index) + "]"


def _index_key(index: tuple) -> tuple:
    return tuple(("s", it.start, it.stop, it.step) if isinstance(it, slice) else it
                 for it in index)

