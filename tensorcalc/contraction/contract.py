"""Public contraction functions: ``einsum``, ``contract_path``, ``contract_expression``.

They parse (``subscripts``), plan (``plan``) and run the plan in the compiled core. Arrays
only: ``tensorcalc.einsum`` (``tensorcalc.api``) sends symbolic operands to the IR instead.

>>> import numpy as np, tensorcalc as tc
>>> a = np.arange(6.0).reshape(2, 3)
>>> tc.einsum("ij,kj->ik", a, a)
array([[ 5., 14.],
       [14., 50.]])
"""

from __future__ import annotations

import operator
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import TensorcalcError
from . import plan as _plan
from .subscripts import parse, sublists_to_subscripts


def split_args(args: Sequence[Any]) -> tuple[str, list[Any]]:
    if not args:
        raise TypeError("einsum needs subscripts and operands")
    if isinstance(args[0], str):
        return args[0], list(args[1:])
    if isinstance(args[0], bytes):  # numpy accepts ASCII bytes too
        try:
            return args[0].decode("ascii"), list(args[1:])
        except UnicodeDecodeError:
            raise TensorcalcError(f"subscripts {args[0]!r} are not ASCII") from None
    return sublists_to_subscripts(args)


def einsum(
    *args: Any,
    out: np.ndarray | None = None,
    optimize: Any = "auto",
    sizes: Mapping[str, int] | None = None,
) -> Any:
    """Evaluate an einsum exactly like ``numpy.einsum``, plus the extended output.

    Extensions: a repeated output label embeds a diagonal (``"i->ii"``); an output label no
    input carries broadcasts along it, its size given by ``sizes``.

    >>> import numpy as np, tensorcalc as tc
    >>> tc.einsum("i->ij", np.array([1.0, 2.0]), sizes={"j": 3})
    array([[1., 1., 1.],
           [2., 2., 2.]])
    """
    if sizes is None and args and type(args[0]) is str:
        # fast path: arrays only and the plan already made; the key matches _plan_key's
        key = (args[0], optimize, None,
               *[(op.shape, op.dtype) if type(op) is np.ndarray else None for op in args[1:]])
        try:
            plan = _plan.CACHE.get(key)
        except TypeError:  # an unhashable optimize (a list path): the slow path normalises it
            plan = None
        if plan is not None:
            return plan.execute(args[1:], out)
    subscripts, operands = split_args(args)
    return einsum_arrays(subscripts, operands, out, optimize, sizes)


def einsum_arrays(subscripts: str, operands: Sequence[Any], out: np.ndarray | None = None,
                  optimize: Any = "auto", sizes: Mapping[str, int] | None = None) -> Any:
    """:func:`einsum` with the subscripts already split from the operands."""
    arrays = [_as_array(op, k) for k, op in enumerate(operands)]
    shapes = [a.shape for a in arrays]
    dtypes = [a.dtype for a in arrays]

    def build() -> Any:
        return _plan.get_plan(parse(subscripts, shapes, sizes), dtypes, optimize)

    key = _plan_key(subscripts, shapes, dtypes, sizes, optimize)
    plan = build() if key is None else _plan.cached_plan(key, build)
    return plan.execute(arrays, out)


def _plan_key(subscripts: str, shapes: list, dtypes: list, sizes: Any, optimize: Any) -> tuple | None:
    """A hashable cache key, or None when an argument cannot be hashed."""
    if isinstance(optimize, list):
        optimize = tuple(tuple(s) if isinstance(s, (list, tuple)) else s for s in optimize)
    if sizes is not None and not isinstance(sizes, Mapping):
        raise TypeError(f"sizes must be a mapping from label to int, got {type(sizes).__name__}")
    try:
        size_key = tuple(sorted(sizes.items())) if sizes else None
    except TypeError:  # keys of mixed types: let the parser name the bad one
        return None
    key = (subscripts, optimize, size_key, *zip(shapes, dtypes))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def contract_path(
    subscripts: str, *operands: Any, optimize: Any = "auto", shapes: bool = False,
    sizes: Mapping[str, int] | None = None,
) -> tuple[list[tuple[int, ...]], Any]:
    """The contraction order, as ``opt_einsum.contract_path`` returns it: ``(path, info)``.

    Operands may be arrays or, with ``shapes=True`` (or when they are tuples), shapes.

    >>> import tensorcalc as tc
    >>> path, info = tc.contract_path("ij,jk,kl->il", (2, 30), (30, 40), (40, 5))
    >>> path
    [(0, 1), (0, 1)]
    """
    shape_list = [_as_shape(op, k, shapes) for k, op in enumerate(operands)]
    spec = parse(subscripts, shape_list, sizes)
    return _plan.path_info(spec, shape_list, optimize)


class ContractExpression:
    """A reusable contraction for fixed shapes; the plan is made once.

    Thread-safe: every call allocates its own intermediates.

    >>> import numpy as np, tensorcalc as tc
    >>> f = tc.contract_expression("ij,jk->ik", (2, 2), (2, 2))
    >>> f(np.eye(2), np.ones((2, 2)))
    array([[1., 1.],
           [1., 1.]])
    """

    def __init__(self, subscripts: str, shapes: Sequence[tuple[int, ...]], optimize: Any,
                 sizes: Mapping[str, int] | None, dtype: Any) -> None:
        self.subscripts = subscripts
        self.shapes = [_as_shape(s, k, True) for k, s in enumerate(shapes)]
        self.spec = parse(subscripts, self.shapes, sizes)
        self.optimize = optimize
        self._dtype = np.dtype(dtype) if dtype is not None else None
        self._plans: dict[tuple, _plan.Plan] = {}
        if self._dtype is not None:
            self._plans[(self._dtype,) * len(self.shapes)] = _plan.get_plan(
                self.spec, [self._dtype] * len(self.shapes), optimize)

    def __call__(self, *operands: Any, out: np.ndarray | None = None) -> np.ndarray:
        if len(operands) != len(self.shapes):
            raise TensorcalcError(
                f"contract_expression({self.subscripts!r}) takes {len(self.shapes)} operands, "
                f"got {len(operands)}"
            )
        try:
            plan = self._plans[tuple([op.dtype for op in operands])]
        except (KeyError, AttributeError):
            arrays = [_as_array(op, k) for k, op in enumerate(operands)]
            key = tuple(a.dtype for a in arrays)
            plan = self._plans.get(key)
            if plan is None:
                plan = self._plans[key] = _plan.get_plan(self.spec, list(key), self.optimize)
            operands = arrays
        # the compiled core checks every operand's shape against the plan
        return plan.execute(operands, out)

    def __repr__(self) -> str:
        return f"<ContractExpression({self.subscripts!r}, shapes={self.shapes})>"


def contract_expression(
    subscripts: str, *shapes: Sequence[int], optimize: Any = "auto",
    sizes: Mapping[str, int] | None = None, dtype: Any = None,
) -> ContractExpression:
    """Build a reusable contraction for operands of the given shapes.

    >>> import numpy as np, tensorcalc as tc
    >>> dot = tc.contract_expression("i,i->", (3,), (3,))
    >>> float(dot(np.ones(3), np.arange(3.0)))
    3.0
    """
    return ContractExpression(subscripts, shapes, optimize, sizes, dtype)


def _as_array(op: Any, k: int) -> np.ndarray:
    if isinstance(op, np.ndarray):
        array = op
    else:
        try:
            array = np.asarray(op)
        except Exception as err:  # numpy raises many kinds for ragged input
            raise TypeError(f"operand {k} cannot be converted to an array: {err}") from None
        if array.dtype == object and array.ndim == 0:
            raise TypeError(f"operand {k} is a {type(op).__name__}, not a number or an array")
    if array.dtype.kind in "USV":
        raise TypeError(f"operand {k} has dtype {array.dtype}; einsum needs numbers")
    return array


def _as_shape(op: Any, k: int, shapes: bool) -> tuple[int, ...]:
    if shapes or isinstance(op, tuple):
        try:
            return tuple(operator.index(d) for d in op)
        except TypeError:
            raise TypeError(f"operand {k}: {op!r} is not a shape (a tuple of ints)") from None
    return _as_array(op, k).shape
