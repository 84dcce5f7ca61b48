"""The primitive node classes: elementwise functions, matrix functions, log-sum-exp, basic
indexing and its adjoint, stacking. Their facts (numpy implementation, derivative, symbols,
code) are rows of :mod:`tensorcalc.ops.table`.

>>> import numpy as np
>>> from tensorcalc.ir import var
>>> Func("exp", var("x", (2,))).eval_node(np.zeros(2), sizes={})
array([1., 1.])
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from scipy import special

from ..errors import TensorcalcError
from ..ir import Expr, nested_repr
from ..ir.dims import resolve_dim
from .table import ELEMENTWISE, MATRIX, power_numpy


class Func(Expr):
    """Elementwise function ``name`` (a row of ``ELEMENTWISE``, or ``"pow"`` with ``param``)."""

    __slots__ = ("name", "param")

    def __init__(self, name: str, x: Expr, param: float | None = None) -> None:
        self.name = name
        self.param = param
        super().__init__((x,), x.shape, x.dtype)

    def params(self) -> tuple:
        return (self.name, self.param)

    def eval_node(self, x: np.ndarray, sizes: Mapping[str, int]) -> np.ndarray:
        if self.name == "pow":
            return power_numpy(x, self.param)
        return ELEMENTWISE[self.name].numpy(x)

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
        return MATRIX[self.name].numpy(x)


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
        super().__init__((x,), indexed_shape(x.shape, index), x.dtype)

    def params(self) -> tuple:
        return index_key(self.index)

    def eval_node(self, x: np.ndarray, sizes: Mapping[str, int]) -> np.ndarray:
        try:
            return x[self.index]
        except IndexError as err:  # an int index into a named dim bound too small
            raise TensorcalcError(f"index {show_index(self.index)} into shape {x.shape}: {err}") from None


class IndexAdjoint(Expr):
    """Zeros of ``full_shape`` with ``g`` written at ``index`` (the adjoint of :class:`Index`)."""

    __slots__ = ("index", "full_shape")

    def __init__(self, g: Expr, index: tuple, full_shape: tuple) -> None:
        self.index = index
        self.full_shape = tuple(full_shape)
        super().__init__((g,), full_shape, g.dtype)

    def params(self) -> tuple:
        return (index_key(self.index), self.full_shape)

    def eval_node(self, g: np.ndarray, sizes: Mapping[str, int]) -> np.ndarray:
        out = np.zeros(tuple(resolve_dim(d, sizes) for d in self.full_shape), dtype=g.dtype)
        try:
            out[self.index] = g
        except IndexError as err:
            raise TensorcalcError(f"index {show_index(self.index)} into shape {out.shape}: {err}") from None
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


def indexed_shape(shape: tuple, index: tuple) -> tuple:
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


def show_index(index: tuple) -> str:
    def one(it: Any) -> str:
        if isinstance(it, slice):
            parts = ("" if v is None else str(v) for v in (it.start, it.stop, it.step))
            return ":".join(parts).rstrip(":") or ":"
        return "None" if it is None else str(it)

    return "[" + ", ".join(one(it) for it in index) + "]"


def index_key(index: tuple) -> tuple:
    return tuple(("s", it.start, it.stop, it.step) if isinstance(it, slice) else it
                 for it in index)
