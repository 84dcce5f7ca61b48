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

import numbers
import operator
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..errors import TensorcalcError
from . import plan as _plan
from .subscripts import parse, sublists_to_subscripts

ORDERS = ("C", "F", "A", "K")
CASTINGS = ("no", "equiv", "safe", "same_kind", "unsafe")
_K, _SAFE = "K", "safe"  # the defaults; the fast paths test them by identity


def split_args(args: Sequence[Any]) -> tuple[str, list[Any]]:
    if not args:
        raise TensorcalcError("must specify the einstein sum subscripts string and at least one "
                              "operand, or at least one operand and its subscripts list")
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
    dtype: Any = None,
    order: str = _K,
    casting: str = _SAFE,
) -> Any:
    """Evaluate an einsum exactly like ``numpy.einsum``, plus the extended output.

    ``out``, ``dtype``, ``order`` and ``casting`` mean what they mean for ``numpy.einsum``:
    the computation runs in ``dtype`` if given, else in the result type of the operands and
    ``out``; every cast (operands to that dtype, the result into ``out``) must be allowed by
    ``casting`` (``numpy.can_cast``); ``order`` lays out a new result ("K" as it comes, "C",
    "F", or "A": "F" when every operand is Fortran-contiguous). ``optimize`` is anything
    ``numpy.einsum`` or ``opt_einsum`` takes: a bool, a strategy name, ``(name,
    memory_limit)``, a path (``["einsum_path", (0, 1), ...]`` too) or a path function.

    Extensions: a repeated output label embeds a diagonal (``"i->ii"``); an output label no
    input carries broadcasts along it, its size given by ``sizes``.

    >>> import numpy as np, tensorcalc as tc
    >>> tc.einsum("i->ij", np.array([1.0, 2.0]), sizes={"j": 3})
    array([[1., 1., 1.],
           [2., 2., 2.]])
    >>> tc.einsum("i,i->", np.array([1, 2]), np.array([3, 4]), dtype=np.float64)
    np.float64(11.0)
    """
    if (out is None and sizes is None and dtype is None and order is _K and casting is _SAFE
            and args and type(args[0]) is str):
        plan = lookup_plan(args, optimize)
        if plan is not None:
            return plan.execute(args[1:])
    subscripts, operands = split_args(args)
    return einsum_arrays(subscripts, operands, out, optimize, sizes, dtype, order, casting)


def lookup_plan(args: Sequence[Any], optimize: Any) -> Any:
    """The plan cached for ``einsum(*args, optimize=optimize)`` (``args[0]`` a str, every other
    option at its default), or None: the fast path, no parsing and no checks.

    Only plans for arrays (a non-array operand never matches) and for names and bools
    (``optimize=1.0`` equals ``True`` but is refused: it must not find ``True``'s plan; other
    values are checked on the way in) are found here. The key matches :func:`_plan_key`.
    """
    if type(optimize) is not str and type(optimize) is not bool:
        return None
    return _plan.CACHE.get((args[0], optimize, None, *[
        (op.shape, op.dtype) if type(op) is np.ndarray else None for op in args[1:]]))


def einsum_arrays(subscripts: str, operands: Sequence[Any], out: np.ndarray | None = None,
                  optimize: Any = "auto", sizes: Mapping[str, int] | None = None,
                  dtype: Any = None, order: str = _K, casting: str = _SAFE) -> Any:
    """:func:`einsum` with the subscripts already split from the operands."""
    dtype, order, casting = check_options(out, dtype, order, casting)
    arrays = [_as_array(op, k) for k, op in enumerate(operands)]
    optimize = _plan.optimize_key(optimize, len(arrays))  # refused before any cache lookup
    shapes = [a.shape for a in arrays]

    def plan_for(dtypes: list) -> Any:
        def build() -> Any:
            return _plan.get_plan(parse(subscripts, shapes, sizes), dtypes, optimize)

        key = _plan_key(subscripts, shapes, dtypes, sizes, optimize)
        return build() if key is None else _plan.cached_plan(key, build)

    return run(arrays, plan_for, out, dtype, order, casting)


def check_options(out: Any, dtype: Any, order: Any, casting: Any) -> tuple[Any, str, str]:
    """numpy.einsum's ``out``, ``dtype``, ``order`` and ``casting``, checked as numpy checks
    them (TypeError for a wrong type or an unknown dtype, ValueError for an unknown value):
    ``(dtype or None, order, casting)`` with ``order`` upper-case."""
    if out is not None and not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy array, got {type(out).__name__}")
    if dtype is not None:
        dtype = np.dtype(dtype)
    if order is not _K:
        order = "K" if order is None else _option("order", order, ORDERS, upper=True)
    if casting is not _SAFE:
        casting = _option("casting", casting, CASTINGS, upper=False)
    return dtype, order, casting


def _option(name: str, value: Any, choices: tuple[str, ...], upper: bool) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        raise TypeError(f"{name} must be str, not {type(value).__name__}")
    key = value.upper() if upper else value
    if key not in choices:
        shown = ", ".join(repr(c) for c in choices)
        raise TensorcalcError(f"{name} must be one of {shown} (got {value!r})")
    return key


def run(arrays: list[np.ndarray], plan_for: Callable[[list], Any], out: np.ndarray | None,
        dtype: np.dtype | None, order: str, casting: str) -> Any:
    """Run the plan ``plan_for(dtypes)`` gives on ``arrays`` under numpy.einsum's rules for
    ``out``, ``dtype``, ``order`` and ``casting`` (already checked by :func:`check_options`)."""
    inputs = arrays
    if arrays and (dtype is not None or out is not None or casting is not _SAFE):
        dtypes = [a.dtype for a in arrays]
        natural = np.result_type(*dtypes)
        target = dtype if dtype is not None else (
            natural if out is None else np.result_type(natural, out.dtype))
        for k, dt in enumerate(dtypes):
            if not np.can_cast(dt, target, casting):
                raise TypeError(f"cannot cast operand {k} from {dt} to {target} "
                                f"according to casting={casting!r}")
        if out is not None and not np.can_cast(target, out.dtype, casting):
            raise TypeError(f"cannot write the {target} result into out of dtype {out.dtype} "
                            f"according to casting={casting!r}")
        if target != natural:
            # the plan runs in the dtype of its operands (the core casts only to their result type)
            inputs = [a if a.dtype == target else a.astype(target) for a in arrays]
    plan = plan_for([a.dtype for a in inputs])
    result = plan.execute(inputs)
    if out is not None:
        shape = np.shape(result)
        if out.shape != shape:
            raise TensorcalcError(f"out has shape {out.shape} but the result has shape {shape}")
        np.copyto(out, result, casting="unsafe")  # the cast was checked against casting= above
        return out
    if not isinstance(result, np.ndarray):
        return result
    if dtype is not None and result.dtype != dtype:  # a non-native byte order
        result = result.astype(dtype)
    if order == "K" or (isinstance(plan, _plan.ViewPlan) and inputs is arrays):
        return result  # a relabelling is a view of the operand whatever the order (numpy too)
    if order == "A":
        order = "F" if all(a.flags.f_contiguous for a in arrays) else "C"
    if order == "C":
        return result if result.flags.c_contiguous else np.ascontiguousarray(result)
    return result if result.flags.f_contiguous else np.asfortranarray(result)


def _plan_key(subscripts: str, shapes: list, dtypes: list, sizes: Any, optimize: Any) -> tuple | None:
    """A hashable cache key, or None when an argument cannot be hashed."""
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
    ``optimize`` takes what :func:`einsum` takes; a path is checked, a callable's included.

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

    Thread-safe: every call allocates its own intermediates. A call takes ``out=`` with
    numpy.einsum's rule (its dtype takes part in choosing the computation dtype, and the result
    must cast to it safely); ``dtype=``, ``order=`` and ``casting=`` are :func:`einsum`'s, kept
    off the call so that it stays as cheap as it can be. The ``dtype`` given to
    :func:`contract_expression` only plans ahead for operands of that dtype.

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
        self.optimize = _plan.optimize_key(optimize, len(self.shapes))
        self._dtype = np.dtype(dtype) if dtype is not None else None
        self._plans: dict[tuple, _plan.Plan] = {}
        if self._dtype is not None:
            self._plans[(self._dtype,) * len(self.shapes)] = _plan.get_plan(
                self.spec, [self._dtype] * len(self.shapes), self.optimize)

    def __call__(self, *operands: Any, out: np.ndarray | None = None) -> Any:
        if len(operands) != len(self.shapes):
            raise TensorcalcError(
                f"contract_expression({self.subscripts!r}) takes {len(self.shapes)} operands, "
                f"got {len(operands)}"
            )
        if out is None:
            try:
                plan = self._plans[tuple([op.dtype for op in operands])]
            except (KeyError, AttributeError):
                pass
            else:
                # the compiled core checks every operand's shape against the plan
                return plan.execute(operands)
        check_options(out, None, _K, _SAFE)
        arrays = [_as_array(op, k) for k, op in enumerate(operands)]
        return run(arrays, self._plan_for, out, None, _K, _SAFE)

    def _plan_for(self, dtypes: list) -> Any:
        key = tuple(dtypes)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = _plan.get_plan(self.spec, list(key), self.optimize)
        return plan

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
        if array.dtype == object and array.ndim == 0 and not isinstance(op, numbers.Number):
            # a Python number (2**100, a Fraction, a Decimal) is an object array, as in numpy
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
