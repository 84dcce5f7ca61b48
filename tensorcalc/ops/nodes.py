"""The primitive node classes: elementwise functions, matrix functions, functions along axes
(softmax, log-softmax, log-sum-exp, the norm and x/‖x‖), basic indexing and its adjoint,
stacking. Their facts (numpy implementation, derivative, symbols,
code) are rows of :mod:`tensorcalc.ops.table`.

>>> import numpy as np
>>> from tensorcalc.ir import var
>>> Func("exp", var("x", (2,))).eval_node(np.zeros(2), sizes={})
array([1., 1.])
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..backends import backend_of_namespace, device_of, put_index, take_index
from ..errors import TensorcalcError
from ..ir import Expr, Var, nested_repr
from ..ir.dims import resolve_dim
from .table import (AXIS, ELEMENTWISE, MATRIX, array_api_axis_function, array_api_function,
                    logsumexp_numpy, power_array_api, power_numpy, softmax_numpy)  # noqa: F401

# The array-API column of the table as functions of ``(xp, x)`` (``(xp, x, axes)``), made
# once: the evaluator on torch, JAX, CuPy, dask and array-API arrays runs these.
_ELEMENTWISE_XP = {name: array_api_function(row) for name, row in ELEMENTWISE.items()}
_MATRIX_XP = {name: array_api_function(row) for name, row in MATRIX.items()}
_AXIS_XP = {name: array_api_axis_function(row) for name, row in AXIS.items()}


class Func(Expr):
    """Elementwise function ``name`` (a row of ``ELEMENTWISE``, or ``"pow"`` with ``param``)."""

    __slots__ = ("name", "param")

    def __init__(self, name: str, x: Expr, param: float | None = None) -> None:
        self.name = name
        self.param = param
        super().__init__((x,), x.shape, x.dtype)

    def params(self) -> tuple:
        return (self.name, self.param)

    def eval_node(self, x: np.ndarray, sizes: Mapping[str, int], xp: Any = np) -> np.ndarray:
        if self.name == "pow":
            return power_array_api(xp, x, self.param)
        if xp is not np:
            return _ELEMENTWISE_XP[self.name](xp, x)
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

    def eval_node(self, x: np.ndarray, sizes: Mapping[str, int], xp: Any = np) -> np.ndarray:
        if xp is not np:
            return xp.pow(x, xp.asarray(self.exponent, device=device_of(x)))
        return np.power(x, self.exponent)

    def __repr__(self) -> str:
        return f"pow({nested_repr(self.children[0])}, <exponent {self.exponent.shape}>)"


class MatFunc(Expr):
    """``inv``, ``det`` or ``logdet`` (log |det|) of the last two axes (leading axes batch)."""

    __slots__ = ("name",)

    def __init__(self, name: str, x: Expr) -> None:
        side = square_dim(x.shape) if x.ndim >= 2 else None
        if side is None:
            raise TensorcalcError(f"{name} needs square matrices in the last two axes, got shape "
                                  f"{plain_shape(x.shape)}")
        self.name = name
        # A name against an int ('n', 3) is square once n is bound to 3 (checked at evaluation).
        shape = x.shape[:-2] + (side, side) if name == "inv" else x.shape[:-2]
        super().__init__((x,), shape, x.dtype)

    def params(self) -> tuple:
        return (self.name,)

    def eval_node(self, x: np.ndarray, sizes: Mapping[str, int], xp: Any = np) -> np.ndarray:
        what = f"{self.name}({operand_name(self.children[0])})"
        if x.shape[-1] != x.shape[-2]:
            raise TensorcalcError(
                f"{what}: needs square matrices in the last two axes, but the array has shape "
                f"{x.shape} (declared {plain_shape(self.children[0].shape)})")
        if xp is not np:
            return self._eval_array_api(x, xp, what)
        try:
            return MATRIX[self.name].numpy(x)
        except np.linalg.LinAlgError as err:
            reason = "matrix is singular" if "singular" in str(err).lower() else str(err)
            raise TensorcalcError(f"{what}: {reason}") from None

    def _eval_array_api(self, x: Any, xp: Any, what: str) -> Any:
        try:
            return _MATRIX_XP[self.name](xp, x)
        except Exception as err:  # each library has its own error (torch: LinAlgError)
            if "singular" not in str(err).lower():
                raise
            raise TensorcalcError(f"{what}: matrix is singular") from None


def square_dim(shape: Sequence[Any]) -> Any:
    """The side of a square matrix in the last two axes of ``shape``: equal dims, or a name
    against an int (the int; the name is checked when bound); None when not square."""
    a, b = shape[-2], shape[-1]
    if a == b:
        return a
    if isinstance(a, str) != isinstance(b, str):
        return b if isinstance(a, str) else a
    return None


def operand_name(node: Expr) -> str:
    """A variable's name, or ``…`` for any other expression (in error messages)."""
    return node.name if isinstance(node, Var) else "…"


def plain_shape(shape: Sequence[Any]) -> str:
    """A shape as the user wrote it: ``('n', 3)``, ``(3,)``."""
    return "(" + ", ".join(repr(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


class AxisFunc(Expr):
    """Function ``name`` (a row of ``AXIS``: softmax, log_softmax, logsumexp, norm2,
    normalize) of ``x`` along ``axes`` (sorted ints); the other axes batch. A row that
    ``reduces`` drops ``axes`` from the shape."""

    __slots__ = ("name", "axes")

    def __init__(self, name: str, x: Expr, axes: Sequence[int]) -> None:
        self.name = name
        self.axes = tuple(axes)
        shape = x.shape
        if AXIS[name].reduces:
            shape = tuple(d for ax, d in enumerate(x.shape) if ax not in self.axes)
        super().__init__((x,), shape, x.dtype)

    def params(self) -> tuple:
        return (self.name, self.axes)

    @property
    def all_axes(self) -> bool:
        """True when the function acts on every axis of its argument."""
        return self.axes == tuple(range(self.children[0].ndim))

    def eval_node(self, x: np.ndarray, sizes: Mapping[str, int], xp: Any = np) -> np.ndarray:
        if xp is not np:
            with np.errstate(divide="ignore"):  # as the numpy rows: log(0) of an empty sum
                return _AXIS_XP[self.name](xp, x, self.axes)
        return np.asarray(AXIS[self.name].numpy(x, self.axes))

    def __repr__(self) -> str:
        return f"{self.name}({nested_repr(self.children[0])}, axes={self.axes})"


class LogSumExp(AxisFunc):
    """``log(sum(exp(x), axes))``, evaluated stably (the ``logsumexp`` row of ``AXIS``)."""

    __slots__ = ()

    def __init__(self, x: Expr, axes: tuple[int, ...]) -> None:
        super().__init__("logsumexp", x, axes)


class Index(Expr):
    """Basic indexing ``x[index]``; ``index`` is normalised to ints, slices and ``None``."""

    __slots__ = ("index",)

    def __init__(self, x: Expr, index: tuple) -> None:
        self.index = index
        super().__init__((x,), indexed_shape(x.shape, index), x.dtype)

    def params(self) -> tuple:
        return index_key(self.index)

    def eval_node(self, x: np.ndarray, sizes: Mapping[str, int], xp: Any = np) -> np.ndarray:
        try:
            return x[self.index] if xp is np else take_index(xp, x, self.index)
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

    def eval_node(self, g: np.ndarray, sizes: Mapping[str, int], xp: Any = np) -> np.ndarray:
        shape = tuple(resolve_dim(d, sizes) for d in self.full_shape)
        if xp is not np:
            out = xp.zeros(shape, dtype=g.dtype, device=device_of(g))
            return put_index(xp, backend_of_namespace(xp).put, out, self.index, g)
        out = np.zeros(shape, dtype=g.dtype)
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

    def eval_node(self, *values: np.ndarray, sizes: Mapping[str, int], xp: Any = np) -> np.ndarray:
        if xp is not np:  # the children may differ in precision: stack promotes as numpy
            return xp.stack(_one_dtype(xp, values), axis=self.axis)
        return np.stack(values, axis=self.axis)


def _one_dtype(xp: Any, values: Sequence[Any]) -> list[Any]:
    dtype = xp.result_type(*values)
    return [v if v.dtype == dtype else xp.astype(v, dtype) for v in values]


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
