"""Evaluation: bind arrays to variables and run the DAG once per node.

Nodes are visited children-first and keyed by ``uid``, so a subexpression that occurs several
times (in one expression or across the list given to :func:`compile`) is computed once.

>>> import numpy as np
>>> from tensorcalc.ir import var
>>> x = var("x", ("n",))
>>> evaluate(x * x + x, {"x": np.array([1.0, 2.0]), "unused": 0})
array([2., 6.])
"""

from __future__ import annotations

import difflib
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import TensorcalcError
from ..ir import Add, Einsum, Expr, Var, as_expr, topological
from ..ir.dims import resolve_dim
from ..simplify.view import simplified_all
from .precision import adopt_precision, weak_nodes, weak_positions


def bind(variables: Sequence[Var], arrays: Mapping[str, Any]) -> tuple[dict[int, np.ndarray], dict[str, int]]:
    """Arrays for ``variables`` (by uid) and the size of every named dimension.

    Raises TensorcalcError for a missing array, a wrong number of axes, or a dimension whose
    size disagrees with an earlier binding.
    """
    values: dict[int, np.ndarray] = {}
    sizes: dict[str, int] = {}
    where: dict[str, str] = {}
    for v in variables:
        if v.name not in arrays:
            raise TensorcalcError(missing_array_message(v, variables, arrays))
        a = np.asarray(arrays[v.name])
        if a.dtype.kind in "biu":
            a = a.astype(np.float64)
        if a.ndim != len(v.shape):
            raise TensorcalcError(
                f"variable {v.name!r} has {len(v.shape)} axes {v.shape} but its array has shape {a.shape}")
        for axis, (dim, n) in enumerate(zip(v.shape, a.shape)):
            if isinstance(dim, str):
                if dim in sizes and sizes[dim] != n:
                    raise TensorcalcError(
                        f"dimension {dim!r} is {sizes[dim]} ({where[dim]}) but {n} in axis {axis} "
                        f"of {v.name!r} (shape {a.shape})")
                sizes.setdefault(dim, n)
                where.setdefault(dim, f"axis {axis} of {v.name!r}")
            elif dim != n:
                raise TensorcalcError(
                    f"axis {axis} of variable {v.name!r} has size {dim} but the array has {n} "
                    f"(shape {a.shape})")
        if v.symmetric:
            check_symmetric(v.name, a)
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
    0. Two matrix-vector products and no n×n temporary; a miss falls back to the exact check,
    which finds the entry to name."""
    if a.dtype.kind not in "fc" or a.size == 0:
        return False
    u = np.random.default_rng(a.shape[0]).uniform(0.5, 1.5, a.shape[0]).astype(a.dtype)
    left, right = a @ u, u @ a
    scale = max(abs(float(np.max(a.real))), abs(float(np.min(a.real))))
    if a.dtype.kind == "c":
        scale = max(scale, abs(float(np.max(a.imag))), abs(float(np.min(a.imag))))
    if not np.isfinite(scale):
        return False
    # entries equal to 1e-10 of the largest, summed over a row of weights below 1.5
    return bool(np.max(np.abs(left - right)) <= 1.5e-10 * scale * a.shape[0])


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


def evaluate(expr: Any, arrays: Mapping[str, Any] | None = None, /, **named: Any) -> Any:
    """Evaluate an expression (or a list of them) with arrays bound by variable name.

    Names not used by the expression are ignored, so one dict can serve many expressions.

    >>> import numpy as np
    >>> from tensorcalc.ir import var
    >>> evaluate([var("a", ()) * 2, var("b", ())], {"a": 1.0, "b": 5.0})
    [array(2.), array(5.)]
    """
    arrays = {**(arrays or {}), **named}
    single = isinstance(expr, Expr)
    # the simplified form runs: log(1 + exp u) as softplus(u), x x⁻¹ as 1 (cached per expression)
    roots = simplified_all([as_expr(e) for e in ([expr] if single else expr)])
    order = topological(roots)
    values, sizes = bind([n for n in order if isinstance(n, Var)], arrays)
    weak = weak_nodes(order)  # scalar constants keep the arrays' precision (.precision)
    for node in order:
        if node.uid not in values:
            args = [values[c.uid] for c in node.children]
            check_operands(node, [a.shape for a in args], sizes)
            positions = weak_positions(node, weak)
            if positions:
                args = adopt_precision(args, positions)
            value = node.eval_node(*args, sizes=sizes)
            # numpy turns 0-d results into scalars; keep arrays throughout
            values[node.uid] = value if type(value) is np.ndarray else np.asarray(value)
    results = [values[r.uid] for r in roots]
    return results[0] if single else results


def _evaluate_method(self: Expr, arrays: Mapping[str, Any] | None = None, /, **kwargs: Any) -> Any:
    """Evaluate with arrays bound by variable name (extra names are ignored).

    >>> import numpy as np
    >>> from tensorcalc.ir import var
    >>> (var("x", (2,)) * 3).evaluate(x=np.array([1.0, 2.0]))
    array([3., 6.])
    """
    return evaluate(self, {**(arrays or {}), **kwargs})


Expr.evaluate = _evaluate_method
