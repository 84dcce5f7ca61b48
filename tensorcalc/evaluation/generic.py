"""Evaluation on arrays of other libraries (torch, JAX, CuPy, dask, array-API libraries).

The numpy path (:mod:`.evaluate`, :mod:`.compile`) runs the compiled core; here every node
computes with the array-API namespace of the call's arrays (``eval_node(..., xp=xp)``), each
einsum in the planned pairwise order on the backend's own einsum (or lowered by hand, for
array-API libraries: :mod:`tensorcalc.backends`). Numbers and numpy arrays (constants, and
inputs given as numpy) become arrays of the backend on the device of the call's arrays;
dtypes are kept, and scalar constants are weak as on numpy (:mod:`.precision`).

>>> import numpy as np
>>> from tensorcalc.ir import var
>>> x = var("x", ("n",))
>>> r = evaluate_on(get_backend("array_api"), [x * 2.0], {"x": np.array([1.0, 2.0], np.float32)})
>>> r[0], r[0].dtype
(array([2., 4.], dtype=float32), dtype('float32'))
"""

from __future__ import annotations

import functools
import importlib
import inspect
from typing import Any, Callable, Mapping, Sequence

import array_api_compat
import numpy as np

from ..backends import (Backend, backend_of, detect, device_of, get_backend, is_neutral,
                        pairwise_plan)
from ..errors import TensorcalcError
from ..ir import Einsum, Expr, Var, topological
from ..ir.dims import resolve_dim
from .binding import bind, check_operands, program_steps
from .precision import (adopt_precision_array_api, adopting_array_api, weak_as, weak_nodes,
                        weak_positions, weak_roots)

__all__ = ["backend_of", "get_backend", "evaluate_on", "build_program", "signature_of",
           "converter", "check_symmetric_array_api"]


def converter(backend: Backend, like: Any) -> Callable[[Any], Any]:
    """A function making a variable's value an array of ``backend``: neutral values (numpy,
    numbers) on the device of ``like``; ints and bools become float64 (as on numpy)."""
    def convert(value: Any) -> Any:
        if is_neutral(value) or detect(value) is None:
            a = np.asarray(value)
            return backend.from_numpy(a.astype(np.float64) if a.dtype.kind in "biu" else a, like)
        xp = backend.namespace([value])
        if xp.isdtype(value.dtype, ("integral", "bool")):
            return xp.astype(value, xp.float64)
        return value
    return convert


def _like(values: Sequence[Any]) -> Any:
    """The first of ``values`` that is not neutral: the array whose device the numbers and
    numpy arrays of a call take (None when all are neutral)."""
    return next((v for v in values if detect(v) is not None), None)


def check_symmetric_array_api(name: str, a: Any) -> None:
    """:func:`~.binding.check_symmetric` for any backend's array (entries within 1e-10 of
    the largest finite entry, NaNs and infinities equal to themselves)."""
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise TensorcalcError(f"variable {name!r} is declared symmetric but its array has shape "
                              f"{tuple(a.shape)}, not a square matrix")
    if a.shape[0] == 0:
        return
    xp = array_api_compat.array_namespace(a)
    t = xp.permute_dims(a, (1, 0))
    size = xp.abs(a)
    scale = xp.max(xp.where(xp.isfinite(size), size, xp.zeros_like(size)))
    close = xp.abs(a - t) <= 1e-10 * scale + 1e-10 * xp.abs(t)
    ok = close | (a == t) | (xp.isnan(a) & xp.isnan(t))
    if bool(xp.all(ok)):
        return
    rows, cols = xp.nonzero(~ok)
    i, j = int(rows[0]), int(cols[0])
    value = complex if xp.isdtype(a.dtype, "complex floating") else float
    raise TensorcalcError(
        f"variable {name!r} is declared symmetric but its array is not: entry [{i}, {j}] is "
        f"{value(a[i, j])} and entry [{j}, {i}] is {value(a[j, i])}")


def _bind(backend: Backend, variables: Sequence[Var], arrays: Mapping[str, Any]) -> tuple[dict, dict, Any]:
    given = [arrays[v.name] for v in variables if v.name in arrays]
    like = _like(given)
    values, sizes = bind(variables, arrays, converter(backend, like), check_symmetric_array_api)
    like = like if like is not None else next(iter(values.values()), None)
    return values, sizes, like


def evaluate_on(backend: Backend, roots: Sequence[Expr], arrays: Mapping[str, Any],
                origins: frozenset[str] = frozenset()) -> list[Any]:
    """The values of ``roots`` (already simplified) on ``backend``'s arrays; a root computed
    from numbers only takes the precision of the arrays given for ``origins`` (the variables
    it was derived from, :func:`~.precision.keep_call_precision`)."""
    order = topological(list(roots))
    values, sizes, like = _bind(backend, [n for n in order if isinstance(n, Var)], arrays)
    if like is None:  # numbers only: the device of the arrays they derive from
        like = _like([arrays[n] for n in origins if n in arrays])
    xp = backend.namespace([like] if like is not None else [])
    weak = weak_nodes(order)  # scalar constants keep the arrays' precision (.precision)
    for node in order:
        if node.uid not in values:
            args = [values[c.uid] for c in node.children]
            check_operands(node, [tuple(a.shape) for a in args], sizes)
            positions = weak_positions(node, weak)
            if positions:
                args = adopt_precision_array_api(xp, args, positions)
            value = eval_with(node, args, sizes, xp)
            values[node.uid] = _placed(backend, value, like)
    results = [values[r.uid] for r in roots]
    return keep_call_precision_array_api(xp, results, weak_roots(roots, weak), arrays, origins)


def keep_call_precision_array_api(xp: Any, results: Sequence[Any], positions: Sequence[int],
                                  arrays: Mapping[str, Any], names: Any) -> list[Any]:
    """:func:`~.precision.keep_call_precision` for the arrays of ``xp``: the results at
    ``positions`` cast as if they met the arrays given for ``names``."""
    if not positions:
        return list(results)
    dtypes = [d for d in (_bound_dtype(xp, arrays[n]) for n in names if n in arrays) if d is not None]
    if not dtypes:
        return list(results)
    strong = xp.result_type(*dtypes)
    out = list(results)
    for k in positions:
        out[k] = weak_as(xp, out[k], strong)
    return out


def _bound_dtype(xp: Any, value: Any) -> Any:
    """The dtype of ``xp`` a value takes when bound (ints and bools: float64), or None."""
    if is_neutral(value) or detect(value) is None:
        kind = np.asarray(value).dtype
        name = "float64" if kind.kind in "biu" else kind.name
        return getattr(xp, name, None) if kind.kind in "biufc" else None
    dtype = value.dtype
    if xp.isdtype(dtype, ("integral", "bool")):
        return xp.float64
    return dtype if xp.isdtype(dtype, ("real floating", "complex floating")) else None


def _placed(backend: Backend, value: Any, like: Any) -> Any:
    """A node's value as an array of the backend (constants are numpy)."""
    return backend.from_numpy(value, like) if is_neutral(value) else value


def signature_of(backend: Backend, inputs: Sequence[Any]) -> tuple:
    """The cache key of a compiled program: the backend, and each input's shape, dtype and
    device."""
    return (backend.name, *((tuple(a.shape), str(a.dtype), str(device_of(a))) for a in inputs))


def build_program(backend: Backend, order: Sequence[Expr], outputs: Sequence[Expr],
                  arrays: Mapping[str, Any], origins: Mapping[str, Any] | None = None,
                  ) -> Callable[[Mapping[str, Any]], list[Any]]:
    """A function of the arrays (by variable name) computing ``outputs`` on ``backend``,
    for inputs of the shapes, dtypes and device of ``arrays``: shapes checked and einsum
    orders planned once, constants placed once (an output of numbers only in the precision
    of the arrays ``origins`` of the variables it derives from, as :func:`evaluate_on`)."""
    origins = origins or {}
    variables = [n for n in order if isinstance(n, Var)]
    values, sizes, like = _bind(backend, variables, arrays)
    if like is None:
        like = _like(list(origins.values()))
    xp = backend.namespace([like] if like is not None else [])
    shapes = {uid: tuple(v.shape) for uid, v in values.items()}
    steps, index, weak = program_steps(
        order, shapes, sizes,
        lambda node, child_shapes: _step(backend, xp, node, child_shapes, sizes, like),
        lambda fn, positions: adopting_array_api(fn, xp, positions))
    out_slots = [index[e.uid] for e in outputs]
    convert = converter(backend, like)
    constant = weak_roots(outputs, weak)
    if constant:  # fixed by the signature: cast once, here
        targets = keep_call_precision_array_api(
            xp, [_placed(backend, np.zeros(()), like)] * len(outputs), constant, origins, origins)
        casts = {k: targets[k].dtype for k in constant}
    else:
        casts = {}

    def run(given: Mapping[str, Any]) -> list[Any]:
        slots: list[Any] = [None] * len(order)
        for k, name_or_fn, args in steps:
            if isinstance(name_or_fn, str):
                slots[k] = convert(given[name_or_fn])
            else:
                slots[k] = name_or_fn(*[slots[j] for j in args])
        results = [slots[k] for k in out_slots]
        for k, dtype in casts.items():
            if results[k].dtype != dtype:
                results[k] = xp.astype(results[k], dtype)
        return results

    return JIT.get(backend.name, _no_jit)(run, [v.name for v in variables])


def _no_jit(run: Callable[[Mapping[str, Any]], list[Any]], names: list[str]) -> Callable:
    return run


def _jax_jit(run: Callable[[Mapping[str, Any]], list[Any]], names: list[str]) -> Callable:
    """The whole program as one ``jax.jit`` function: traced once per signature (a program
    is made per signature), then one XLA call instead of one dispatch per node."""
    jax = importlib.import_module("jax")
    names = list(dict.fromkeys(names))
    jitted = jax.jit(lambda *inputs: run(dict(zip(names, inputs))))
    return lambda given: jitted(*[given[n] for n in names])


# Backends whose programs are compiled as a whole: name -> (run, variable names) -> run.
JIT: dict[str, Callable[[Callable, list[str]], Callable]] = {"jax": _jax_jit}


def _step(backend: Backend, xp: Any, node: Expr, child_shapes: list[tuple], sizes: Mapping[str, int],
          like: Any) -> Callable[..., Any]:
    """A function of the child arrays computing ``node`` for these shapes."""
    if not node.children:  # a constant: placed on the device once
        value = _placed(backend, eval_with(node, [], sizes, xp), like)
        return lambda: value
    if isinstance(node, Einsum):
        factor = node.factor(sizes)
        carried = set("".join(node.inputs))
        extra = {lab: resolve_dim(node.sizes[lab], sizes) for lab in node.output if lab not in carried}
        plan = pairwise_plan(node.spec, child_shapes, extra or None)
        if factor == 1.0:
            return lambda *args: plan.run(args, xp, backend)
        return lambda *args: plan.run(args, xp, backend) * factor
    if not _takes_xp(node):
        eval_with(node, [], sizes, xp)  # the error naming the node
    return lambda *args: _placed(backend, node.eval_node(*args, sizes=sizes, xp=xp), like)


def _takes_xp(node: Expr) -> bool:
    return _class_takes_xp(type(node))


@functools.lru_cache(maxsize=None)
def _class_takes_xp(cls: type) -> bool:
    try:
        parameters = inspect.signature(cls.eval_node).parameters
    except (TypeError, ValueError):
        return True
    return "xp" in parameters or any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def eval_with(node: Expr, args: Sequence[Any], sizes: Mapping[str, int], xp: Any) -> Any:
    """``node.eval_node(*args, sizes=sizes, xp=xp)``; TensorcalcError for a node class whose
    ``eval_node`` takes no ``xp`` (it computes on numpy arrays only)."""
    if not _takes_xp(node):
        raise TensorcalcError(
            f"{type(node).__name__}.eval_node takes no xp= keyword, so the node evaluates on numpy "
            f"arrays only; to run it on {getattr(xp, '__name__', xp)} arrays, accept xp (the "
            f"array-API namespace of the arrays) and compute with its functions")
    return node.eval_node(*args, sizes=sizes, xp=xp)
