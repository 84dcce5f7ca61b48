"""The array front doors on other libraries' arrays: ``tc.einsum`` and
``tc.contract_expression(...)(*arrays)`` on torch, JAX, CuPy, dask or array-API arrays return
that library's arrays (same dtype and device, differentiable by that library), as
``numpy.einsum``/``opt_einsum.contract`` code expects when it is handed such arrays.

The contraction runs in the order :mod:`tensorcalc.contraction` plans (``optimize=`` chooses
the path), each step by the library's einsum or lowered to array-API functions
(:mod:`.pairwise`). numpy arrays and Python numbers mix with one library's arrays: they move to
its device, numpy arrays keeping their dtype and Python numbers taking the arrays' (weak, as
numpy treats them). numpy operands never come here: they keep the compiled core.

>>> import numpy as np
>>> from tensorcalc.backends import BACKENDS
>>> a = np.arange(6.0).reshape(2, 3)   # run on numpy's array-API namespace, by hand
>>> einsum_foreign("ij,kj->ik", [a, a], BACKENDS["array_api"])
array([[ 5., 14.],
       [14., 50.]])
>>> f = contract_expression("ij,j->i", (2, 3), (3,))
>>> f(a, np.ones(3), backend="array_api")
array([ 3., 12.])
"""

from __future__ import annotations

import operator
from typing import Any, Mapping, Sequence

import numpy as np

from ..contraction import contract as _contract
from ..contraction.plan import optimize_key
from ..errors import TensorcalcError
from .pairwise import PairwisePlan, pairwise_plan
from .table import Backend, backend_of, detect

_AUTO = "auto"
_K, _SAFE = "K", "safe"
_PY_NUMBERS = (bool, int, float, complex)


def foreign_backend(operands: Sequence[Any]) -> Backend | None:
    """The backend of the operands when one is not numpy's (a torch tensor, a JAX array...),
    else None. Cheap for numpy operands: only a value that is not an ndarray or a number is
    looked at. Raises TensorcalcError for arrays of two libraries."""
    if all(type(op) is np.ndarray or type(op) in _PY_NUMBERS for op in operands):
        return None
    found = [op for op in operands if detect(op) is not None]
    if not found:
        return None
    return backend_of(found)


def einsum_foreign(subscripts: str, operands: Sequence[Any], backend: Backend,
                   optimize: Any = "auto", sizes: Mapping[str, int] | None = None,
                   dtype: Any = None, out: Any = None, order: Any = _K,
                   casting: Any = _SAFE) -> Any:
    """``numpy.einsum(subscripts, *operands)`` on ``backend``'s arrays, returning its array.

    ``dtype`` casts the operands first (in the library); the numpy-only keywords that cannot
    apply raise: ``out=`` (the library's einsum writes no output array), ``order=`` other than
    ``"K"`` (memory layout is the library's); ``casting=`` is checked as numpy checks it,
    on the dtypes' numpy names.
    """
    _refuse_numpy_only(backend, out, order)
    xp = backend.namespace(operands)
    arrays = _own_arrays(operands, backend, xp)
    target = _library_dtype(xp, dtype, backend) if dtype is not None else None
    if casting is not _SAFE or target is not None:
        _check_casting(xp, arrays, target, casting, backend)
    if target is not None:
        arrays = [a if a.dtype == target else xp.astype(a, target) for a in arrays]
    key = optimize_key(optimize, len(arrays))
    # while torch.compile traces, plan on the sizes that are 1 only (where numpy broadcasts):
    # the library's einsum takes the others at run time, so one graph serves every size
    unsized = backend.einsum is not None and backend.tracing is not None and backend.tracing()
    shapes = [_shape(a, unsized) for a in arrays]
    if sizes:  # plain ints (torch.compile may pass symbols), for the plan's key
        sizes = {lab: _plain(n) for lab, n in sizes.items()}
    plan = pairwise_plan(subscripts, shapes, sizes, key)
    if unsized and plan.reduced != plan.spec.output:
        # extended outputs are built to the planned sizes: those must be the real ones
        plan = pairwise_plan(subscripts, [_shape(a) for a in arrays], sizes, key)
    # the class's function on the plan, not ``plan.run(...)``: under torch.compile the plan is
    # a constant of the graph (see pairwise_plan), on which dynamo cannot guard a method lookup
    return PairwisePlan.run(plan, arrays, xp, backend)


def _shape(a: Any, unsized: bool = False) -> tuple[int | None, ...]:
    """The shape as Python ints by ``operator.index`` (torch.compile makes a size a guarded
    constant by it, where ``int()`` keeps a symbol the plan cannot use); ``unsized``: None
    for every size but 1."""
    if unsized:
        return tuple(1 if d == 1 else None for d in a.shape)
    try:
        return tuple(operator.index(d) for d in a.shape)
    except TypeError:
        raise TensorcalcError(f"einsum: an operand of shape {a.shape} has sizes that are not "
                              f"known integers (a dask array with unknown chunks needs "
                              f"compute_chunk_sizes())") from None


def _plain(n: Any) -> Any:
    try:
        return operator.index(n)
    except TypeError:
        return n  # not a size: the parser names it


def _refuse_numpy_only(backend: Backend, out: Any, order: Any) -> None:
    if out is not None:
        raise TypeError(f"einsum: out= is numpy's; it cannot take the result on {backend.name} "
                        f"arrays (use the returned {backend.name} array)")
    if order is not _K and order is not None and str(order).upper() != "K":
        _contract.check_options(None, None, order, _SAFE)  # numpy's message for a bad value
        raise TensorcalcError(f"einsum: order={order!r} lays out numpy memory; {backend.name} "
                              f"arrays take only order='K' (the library's own layout)")


def _own_arrays(operands: Sequence[Any], backend: Backend, xp: Any) -> list[Any]:
    """The operands as the library's arrays: numpy arrays keep their dtype, Python numbers
    take the dtype of the library's arrays when of a kind that holds them (numpy's weak
    scalars), all on the device of the first of its arrays."""
    own = [op for op in operands if detect(op) is not None]
    like = own[0] if own else None  # none: numpy values run on an explicit backend=
    weak = xp.result_type(*own) if own else None
    arrays = []
    for k, op in enumerate(operands):
        if detect(op) is not None:
            arrays.append(op)
            continue
        value = _contract._as_array(op, k)  # numpy's checks and messages (ragged, strings)
        arrays.append(backend.from_numpy(value, like))
        if weak is not None and type(op) in _PY_NUMBERS and _holds(xp, weak, op):
            arrays[-1] = xp.astype(arrays[-1], weak)
    return arrays


def _holds(xp: Any, dtype: Any, number: Any) -> bool:
    kinds = {bool: ("bool", "integral", "real floating", "complex floating"),
             int: ("integral", "real floating", "complex floating"),
             float: ("real floating", "complex floating"), complex: ("complex floating",)}
    return any(xp.isdtype(dtype, kind) for kind in kinds[type(number)])


def _library_dtype(xp: Any, dtype: Any, backend: Backend) -> Any:
    """``dtype=`` as the library's dtype: a numpy spelling (``np.float32``, ``"f8"``) by name,
    or the library's own dtype object (``torch.float32``) as it is."""
    try:
        name = np.dtype(dtype).name
    except TypeError:
        return dtype
    found = getattr(xp, name, None)
    if found is None:
        raise TensorcalcError(f"einsum: dtype={dtype!r} has no {backend.name} counterpart "
                              f"({name})")
    return found


def _numpy_dtype(dtype: Any) -> np.dtype | None:
    try:
        return np.dtype(str(dtype).rpartition(".")[2])  # torch.float32 -> float32
    except TypeError:
        return None


def _check_casting(xp: Any, arrays: list[Any], target: Any, casting: Any,
                   backend: Backend) -> None:
    """numpy.einsum's casting rule, on the numpy dtypes of the same names."""
    _, _, casting = _contract.check_options(None, None, _K, casting)
    target = xp.result_type(*arrays) if target is None else target
    to = _numpy_dtype(target)
    for k, a in enumerate(arrays):
        frm = _numpy_dtype(a.dtype)
        if to is None or frm is None:
            if casting == "safe" or a.dtype == target:
                continue
            raise TensorcalcError(f"einsum: casting={casting!r} cannot be checked for "
                                  f"{backend.name} dtype {a.dtype}")
        if not np.can_cast(frm, to, casting):
            raise TypeError(f"cannot cast operand {k} from {a.dtype} to {target} according to "
                            f"casting={casting!r}")


class ContractExpression(_contract.ContractExpression):
    """:class:`tensorcalc.contraction.ContractExpression` that also runs on other libraries'
    arrays, with opt_einsum's ``backend=``: ``"auto"`` (the operands' library), or a name of
    :data:`~tensorcalc.backends.BACKENDS`. numpy operands with another ``backend`` run on
    that library and come back as numpy arrays (opt_einsum's conversion); a backend that
    does not match the operands' library raises TensorcalcError.

    >>> import numpy as np
    >>> f = ContractExpression("i,i->", [(3,), (3,)], "auto", None, None)
    >>> float(f(np.ones(3), np.arange(3.0), backend="array_api"))
    3.0
    """

    def __init__(self, subscripts: str, shapes: Sequence[tuple[int, ...]], optimize: Any,
                 sizes: Mapping[str, int] | None, dtype: Any) -> None:
        super().__init__(subscripts, shapes, optimize, sizes, dtype)
        self._sizes = dict(sizes) if sizes else None

    def __call__(self, *operands: Any, out: Any = None, backend: str = _AUTO) -> Any:
        if out is None and backend is _AUTO:
            # numpy arrays of a planned dtype: straight to the plan (a JAX array has a numpy
            # dtype too, hence the exact type test; None never matches a key)
            plan = self._plans.get(tuple([op.dtype if type(op) is np.ndarray else None
                                          for op in operands]))
            if plan is not None:
                return plan.execute(operands)
        if backend is _AUTO:
            row = foreign_backend(operands)
            if row is None:
                return super().__call__(*operands, out=out)
        else:
            row = backend_of(operands, None if backend == _AUTO else backend)
            if row.name == "numpy":
                return super().__call__(*operands, out=out)
        if len(operands) != len(self.shapes):
            return super().__call__(*operands, out=out)  # the count error, worded once
        converted = all(detect(op) is None for op in operands)  # opt_einsum's to/from conversion
        if out is not None and not converted:
            _refuse_numpy_only(row, out, _K)
        arrays = [row.from_numpy(_contract._as_array(op, k)) if converted else op
                  for k, op in enumerate(operands)]
        shapes = [_shape(a) for a in arrays]
        if shapes != self.shapes:
            raise TensorcalcError(f"contract_expression({self.subscripts!r}) was made for shapes "
                                  f"{self.shapes}, got {shapes}")
        result = einsum_foreign(self.subscripts, arrays, row, self.optimize, self._sizes)
        if not converted:
            return result
        result = np.asarray(result)
        if out is None:
            return result
        _contract.check_options(out, None, _K, _SAFE)
        if out.shape != result.shape:
            raise TensorcalcError(f"out has shape {out.shape} but the result has shape "
                                  f"{result.shape}")
        np.copyto(out, result, casting="safe")
        return out


def contract_expression(subscripts: str, *shapes: Sequence[int], optimize: Any = "auto",
                        sizes: Mapping[str, int] | None = None,
                        dtype: Any = None) -> ContractExpression:
    """Build a reusable contraction for operands of the given shapes: numpy arrays run the
    compiled plan, other libraries' arrays the same order on that library (see
    :class:`ContractExpression`).

    >>> import numpy as np, tensorcalc as tc
    >>> dot = tc.contract_expression("i,i->", (3,), (3,))
    >>> float(dot(np.ones(3), np.arange(3.0)))
    3.0
    """
    return ContractExpression(subscripts, shapes, optimize, sizes, dtype)


__all__ = ["ContractExpression", "contract_expression", "einsum_foreign", "foreign_backend"]
