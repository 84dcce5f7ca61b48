"""Weak scalars: numbers written into an expression keep the precision of the arrays.

numpy treats a Python number as *weak* (NEP 50): ``1.0 - x`` has the dtype of ``x``, float32
stays float32. In an expression that number is a 0-d :class:`~tensorcalc.ir.Const` (float64),
and derivative formulas are full of them (``1 - tanh(x)²``, ``σ (1 - σ)``, the identity
seeds of Jacobians); evaluated as plain arrays they would turn every float32 result into
float64. So the evaluator keeps numpy's rule: a node computed from scalar constants only is
weak, and where a node combines weak values with values computed from variables, the weak
ones take the precision of the others first (float64 -> float32, complex128 -> complex64;
an array constant, like a numpy array, is not weak). A result computed from constants only
(the Jacobian of a linear map, ``-I`` for ``1 - x``) takes the precision of the arrays the
call binds for the variables it was built or derived from (:func:`keep_call_precision`), as
if it met them: float32 in, float32 out, complex64 for complex64; with no such array it
stays float64.

>>> import numpy as np
>>> from tensorcalc.ir import Const, Var, topological
>>> x, one = Var("x", (2,)), Const(1.0)
>>> e = one + x  # the sum of x and one broadcast to (2,)
>>> weak = weak_nodes(topological([e]))
>>> one.uid in weak, e.children[0].uid in weak, x.uid in weak, e.uid in weak
(True, True, False, False)
>>> [a.dtype for a in adopt_precision([np.ones(2), np.ones(2, np.float32)], (0,))]
[dtype('float32'), dtype('float32')]
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from ..differentiation import source_names
from ..ir import Const, Expr, Var, topological


def weak_nodes(order: Sequence[Expr]) -> set[int]:
    """The uids of the weak nodes of ``order`` (children before parents): 0-d constants, and
    nodes whose children are all weak."""
    weak: set[int] = set()
    for node in order:
        if isinstance(node, Const):
            if node.ndim == 0:
                weak.add(node.uid)
        elif node.children and all(c.uid in weak for c in node.children):
            weak.add(node.uid)
    return weak


def weak_positions(node: Expr, weak: set[int]) -> tuple[int, ...]:
    """The positions of the weak children of ``node`` when it has a strong child too (else
    ``()``: nothing to adopt)."""
    positions = tuple(k for k, c in enumerate(node.children) if c.uid in weak)
    return positions if len(positions) < len(node.children) else ()


def adopt_precision(args: Sequence[Any], positions: Sequence[int]) -> list[Any]:
    """``args`` with the weak ones (at ``positions``) cast to the precision of the others,
    as numpy casts a Python float or complex met with an array."""
    strong = np.result_type(*(a.dtype for k, a in enumerate(args) if k not in positions))
    return _cast_weak(args, positions, strong)


def _cast_weak(values: Sequence[Any], positions: Sequence[int], strong: np.dtype) -> list[Any]:
    """``values`` with the float or complex ones at ``positions`` cast as numpy casts a
    Python number met with an array of dtype ``strong`` (a real value stays real)."""
    out = list(values)
    for k in positions:
        a = out[k]
        if a.dtype.kind in "fc":
            target = np.result_type(strong, 0j if a.dtype.kind == "c" else 0.0)
            if target != a.dtype:
                out[k] = a.astype(target)
    return out


def adopting(fn: Callable[..., Any], positions: Sequence[int]) -> Callable[..., Any]:
    """``fn`` taking its arguments through :func:`adopt_precision` (for compiled steps)."""
    return lambda *args: fn(*adopt_precision(args, positions))


def origin_names(exprs: Sequence[Expr]) -> frozenset[str]:
    """The names of the variables ``exprs`` (as the user built them, before simplification)
    were built from: their own, and those of the expressions they are derivatives of (the
    Jacobian of ``2 x`` holds no variable, yet derives from ``x``).

    >>> from tensorcalc.ir import var
    >>> sorted(origin_names([var("x", (2,)) * 2, var("y", ())]))
    ['x', 'y']
    """
    names: set[str] = set()
    for node in topological(list(exprs)):
        if isinstance(node, Var):
            names.add(node.name)
        names |= source_names(node)
    return frozenset(names)


def weak_roots(roots: Sequence[Expr], weak: set[int]) -> tuple[int, ...]:
    """The positions of the ``roots`` computed from numbers only (in ``weak``)."""
    return tuple(k for k, r in enumerate(roots) if r.uid in weak)


def keep_call_precision(results: Sequence[Any], positions: Sequence[int],
                        arrays: Mapping[str, Any], names: Iterable[str]) -> list[Any]:
    """``results`` with those at ``positions`` (computed from numbers only, float64) cast as
    if they met the arrays the call gives for ``names`` (:func:`origin_names`): numpy's
    result type of those (ints and bools count as float64, as binding makes them), a real
    result staying real unless an array is complex. Unchanged when no such array is given.

    >>> x32 = np.ones(2, np.float32)
    >>> [r.dtype for r in keep_call_precision([np.eye(2), x32], (0,), {"x": x32}, ["x"])]
    [dtype('float32'), dtype('float32')]
    >>> keep_call_precision([np.eye(2)], (0,), {"z": 1j * x32}, ["z"])[0].dtype
    dtype('complex64')
    >>> keep_call_precision([np.eye(2)], (0,), {"other": x32}, ["x"])[0].dtype
    dtype('float64')
    """
    dtypes = [d for d in (_bound_dtype(arrays[n]) for n in names if n in arrays) if d is not None]
    if not dtypes or not positions:
        return list(results)
    return _cast_weak(results, positions, np.result_type(*dtypes))


def _bound_dtype(value: Any) -> np.dtype | None:
    """The dtype a value takes when bound to a variable (ints and bools become float64);
    None for what has no numpy dtype."""
    try:
        dtype = np.dtype(value.dtype) if hasattr(value, "dtype") else np.asarray(value).dtype
    except TypeError:  # another library's dtype (a torch tensor given for an unused name)
        return None
    if dtype.kind in "biu":
        return np.dtype(np.float64)
    return dtype if dtype.kind in "fc" else None


def adopt_precision_array_api(xp: Any, args: Sequence[Any], positions: Sequence[int]) -> list[Any]:
    """:func:`adopt_precision` for the arrays of an array-API namespace ``xp`` (torch, JAX,
    CuPy, dask...): the weak floating ones take the precision of the others.

    >>> import array_api_compat.numpy as xp
    >>> [str(a.dtype) for a in adopt_precision_array_api(
    ...     xp, [np.ones(2), np.ones(2, np.float32), np.ones((), np.complex128)], (0, 2))]
    ['float32', 'float32', 'complex64']
    """
    strong = xp.result_type(*(a.dtype for k, a in enumerate(args) if k not in positions))
    out = list(args)
    for k in positions:
        out[k] = weak_as(xp, out[k], strong)
    return out


def weak_as(xp: Any, a: Any, strong: Any) -> Any:
    """The weak array ``a`` cast as numpy casts a Python number met with an array of dtype
    ``strong`` (an array-API dtype of ``xp``): to its precision, complex when either is."""
    if not xp.isdtype(strong, ("real floating", "complex floating")):
        return a
    if xp.isdtype(a.dtype, "complex floating"):
        target = xp.complex64 if strong in (xp.float32, xp.complex64) else xp.complex128
    elif xp.isdtype(a.dtype, "real floating"):
        target = strong  # a real number met with a complex array becomes complex, as in numpy
    else:
        return a
    return a if a.dtype == target else xp.astype(a, target)


def adopting_array_api(fn: Callable[..., Any], xp: Any, positions: Sequence[int]) -> Callable[..., Any]:
    """``fn`` taking its arguments through :func:`adopt_precision_array_api`."""
    return lambda *args: fn(*adopt_precision_array_api(xp, args, positions))
