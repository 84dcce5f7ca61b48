"""Binding arrays to variables: conversion, shape checks, named-dimension sizes, the
symmetric-variable check, and the check of operand sizes an expression was built with.

>>> import numpy as np
>>> from tensorcalc.ir import var
>>> x = var("x", ("n",))
>>> bind([x], {"x": [1, 2]})[1]
{'n': 2}
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..errors import TensorcalcError
from ..ir import Add, Einsum, Expr, Var
from ..ir.dims import resolve_dim
from .precision import weak_nodes, weak_positions


def as_input(value: Any) -> np.ndarray:
    """A variable's value as a numpy array (ints and bools as float64)."""
    a = np.asarray(value)
    return a.astype(np.float64) if a.dtype.kind in "biu" else a


def bind(variables: Sequence[Var], arrays: Mapping[str, Any],
         convert: Callable[[Any], Any] = as_input,
         symmetric: Callable[[str, Any], None] | None = None,
         ) -> tuple[dict[int, np.ndarray], dict[str, int]]:
    """Arrays for ``variables`` (by uid) and the size of every named dimension.

    ``convert`` makes each given value an array (numpy by default; another backend's
    arrays for the other backends), ``symmetric`` checks a variable declared symmetric
    (:func:`check_symmetric` by default). Raises TensorcalcError for a missing array, a wrong
    number of axes, or a dimension whose size disagrees with an earlier binding.
    """
    values: dict[int, np.ndarray] = {}
    sizes: dict[str, int] = {}
    where: dict[str, str] = {}
    for v in variables:
        if v.name not in arrays:
            raise TensorcalcError(missing_array_message(v, variables, arrays))
        a = convert(arrays[v.name])
        shape = tuple(a.shape)
        if len(shape) != len(v.shape):
            raise TensorcalcError(
                f"variable {v.name!r} has {len(v.shape)} axes {v.shape} but its array has shape {shape}")
        for axis, (dim, n) in enumerate(zip(v.shape, shape)):
            if isinstance(dim, str):
                if dim in sizes and sizes[dim] != n:
                    raise TensorcalcError(
                        f"dimension {dim!r} is {sizes[dim]} ({where[dim]}) but {n} in axis {axis} "
                        f"of {v.name!r} (shape {shape})")
                sizes.setdefault(dim, n)
                where.setdefault(dim, f"axis {axis} of {v.name!r}")
            elif dim != n:
                raise TensorcalcError(
                    f"axis {axis} of variable {v.name!r} has size {dim} but the array has {n} "
                    f"(shape {shape})")
        if v.symmetric:
            (symmetric or check_symmetric)(v.name, a)
        values[v.uid] = a
    return values, sizes


def missing_array_message(v: Var, variables: Sequence[Var], arrays: Mapping[str, Any]) -> str:
    """``no array given for variable 'x' ...``, listing the given names no variable uses
    (likely misspellings), the closest first."""
    text = f"no array given for variable {v.name!r} (shape {_plain(v.shape)})"
    names = {u.name for u in variables}
    unused = [k for k in arrays if k not in names]
    if unused:
        close = difflib.get_close_matches(v.name, [str(k) for k in unused], n=len(unused), cutoff=0.0)
        text += "; given but unused: " + ", ".join(repr(k) for k in close)
    return text


def check_symmetric(name: str, a: np.ndarray) -> None:
    """Raise unless ``a`` is a square matrix equal to its transpose (up to 1e-10 of its
    largest entry): what ``symmetric=True`` promised for the variable ``name``."""
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise TensorcalcError(f"variable {name!r} is declared symmetric but its array has shape "
                              f"{a.shape}, not a square matrix")
    if _symmetric_by_projection(a):
        return
    finite = np.abs(a[np.isfinite(a)])
    scale = float(finite.max()) if finite.size else 0.0
    bad = np.argwhere(~np.isclose(a, a.T, rtol=1e-10, atol=1e-10 * scale, equal_nan=True))
    if len(bad):
        i, j = bad[0]
        raise TensorcalcError(
            f"variable {name!r} is declared symmetric but its array is not: entry [{i}, {j}] is "
            f"{a[i, j]} and entry [{j}, {i}] is {a[j, i]}")


def _symmetric_by_projection(a: np.ndarray) -> bool:
    """A cheap first test, run on every call of a compiled function: ``(A - Aᵀ) u`` for a fixed
    random ``u`` is zero for a symmetric ``A`` and, for any other ``A``, zero with probability
    0. Two matrix-vector products (two passes over ``A``, its largest entry is not sought) and
    no n×n temporary; a miss (an asymmetric or non-finite ``A``) falls back to the exact check,
    which finds the entry to name."""
    if a.dtype.kind not in "fc" or a.size == 0:
        return False
    key = (a.shape[0], a.dtype.str)
    probe = _PROBES.get(key)
    if probe is None:  # drawing u costs as much as the products for n = 200: one per size and dtype
        if len(_PROBES) >= 64:
            _PROBES.clear()
        probe = _PROBES[key] = _draw_probe(a.shape[0], a.dtype)
    u, tolerance = probe
    if a.shape[0] > 256:
        # numpy's own loops, not BLAS: from about this size BLAS runs matrix-vector products on
        # its thread pool, and waking it between the compiled program's other steps costs
        # milliseconds on a busy machine (0.6 ms against 10-30 ms at n = 1000)
        left, right = np.einsum("ij,j->i", a, u), np.einsum("j,ji->i", u, a)
    else:
        left, right = a @ u, u @ a
    scale = max(float(np.max(np.abs(left))), float(np.max(np.abs(right))))
    if not scale < 1e300:  # inf or NaN somewhere (or near overflow): the exact check decides
        return False
    return bool(np.max(np.abs(left - right)) <= tolerance * scale)


def _draw_probe(n: int, dtype: np.dtype) -> tuple[np.ndarray, float]:
    """The probe vector for ``n``×``n`` matrices of ``dtype`` and the tolerance of its test,
    relative to the larger projection.

    1e-10 where the dtype's rounding allows it (float64, longdouble): |(Au)_i| <= 1.5 n max|A|,
    so never looser than entries equal to 1e-10 of the largest summed over a row of weights
    below 1.5. In float32 or complex64 the two orders of summation of A u and uᵀ A round apart
    by up to 4.3 eps of the projection at n = 5 and about 0.04 n eps at large n (measured to
    n = 5000; Laplacians, whose rows cancel, are the worst), which 1e-10 refuses for every
    matrix: (n + 16) eps is that rounding with a margin of 4 or more, and no more, since a
    larger tolerance lets through more of what the exact check refuses (one entry of a random
    20×20 float32 matrix off by 3e-5 of the largest is still caught, 1e-2 at n = 1000).
    """
    u = np.random.default_rng(n).uniform(0.5, 1.5, n).astype(dtype)
    return u, max(1e-10, (n + 16) * float(np.finfo(dtype).eps))


_PROBES: dict[tuple[int, str], tuple[np.ndarray, float]] = {}


def _plain(shape: Sequence[Any]) -> str:
    return "(" + ", ".join(repr(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def check_operands(node: Expr, shapes: Sequence[tuple[int, ...]], sizes: Mapping[str, int]) -> None:
    """Raise if an operand's actual shape breaks a size an einsum or a sum was built with.

    Broadcasting a named dim against an int (``x + c`` with ``x: (n,)``, ``c: (3,)``)
    promises ``n == 3``; this is where that promise is checked.  Only axes whose declared
    dim differs from the one the node needs can break it; they are found once per node.
    """
    pins = node._pins
    if pins is None:
        pins = node._pins = _pinned_axes(node)
    for k, axis, dim in pins:
        n, want = shapes[k][axis], resolve_dim(dim, sizes)
        if n != want:
            declared = node.children[k].shape[axis]
            what = f"dimension {declared!r} has size {n}" if isinstance(declared, str) else (
                f"axis {axis} of operand {k} has size {n}")
            where = f"einsum {node.spec!r}" if isinstance(node, Einsum) else "a sum"
            raise TensorcalcError(
                f"{what} but the expression needs {want} there (it was broadcast or "
                f"contracted against an axis of size {want}; {where})")


def _pinned_axes(node: Expr) -> tuple[tuple[int, int, Any], ...]:
    """``(operand, axis, needed dim)`` wherever an operand declares another dim than needed."""
    if isinstance(node, Einsum):
        wanted = [[node.sizes[lab] for lab in labels] for labels in node.inputs]
    elif isinstance(node, Add):
        wanted = [node.shape] * len(node.children)
    else:
        return ()
    return tuple((k, axis, dim) for k, (dims, child) in enumerate(zip(wanted, node.children))
                 for axis, (dim, declared) in enumerate(zip(dims, child.shape)) if dim != declared)


Step = tuple  # (slot, variable name or function of the argument slots' values, argument slots)


def program_steps(order: Sequence[Expr], shapes: dict[int, tuple], sizes: Mapping[str, int],
                  make_step: Callable[[Expr, list[tuple]], Callable[..., Any]],
                  adopt: Callable[[Callable[..., Any], tuple[int, ...]], Callable[..., Any]],
                  ) -> tuple[list[Step], dict[int, int], set[int]]:
    """The steps of a compiled program over ``order`` (children first), for every backend.

    A variable's step is its name; another node's is ``make_step(node, child_shapes)``,
    wrapped by ``adopt(fn, positions)`` where weak arguments must take the others'
    precision. Operand shapes are checked once here; ``shapes`` (by uid, the variables'
    given) gains every node's. Returns the steps, the slot of each uid and the weak uids.
    """
    index = {node.uid: k for k, node in enumerate(order)}
    weak = weak_nodes(order)
    steps: list[Step] = []
    for k, node in enumerate(order):
        args = [index[c.uid] for c in node.children]
        if isinstance(node, Var):
            steps.append((k, node.name, args))
            continue
        child_shapes = [shapes[c.uid] for c in node.children]
        check_operands(node, child_shapes, sizes)
        fn = make_step(node, child_shapes)
        positions = weak_positions(node, weak)
        steps.append((k, adopt(fn, positions) if positions else fn, args))
        shapes[node.uid] = tuple(resolve_dim(d, sizes) for d in node.shape)
    return steps, index, weak
