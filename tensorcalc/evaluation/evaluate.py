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

from typing import Any, Mapping

import numpy as np

from ..backends import backend_of
from ..ir import Expr, Var, as_expr, topological
from ..simplify.view import simplified_all
from .binding import (as_input, bind, check_operands, check_symmetric,  # noqa: F401 - re-exported
                      missing_array_message)
from .compile import Compiled
from .generic import evaluate_on
from .precision import (adopt_precision, keep_call_precision, origin_names, weak_nodes,
                        weak_positions, weak_roots)


def evaluate(expr: Any, arrays: Mapping[str, Any] | None = None, /, *, backend: str | None = None,
             batch: str | None = None, **named: Any) -> Any:
    """Evaluate an expression (or a list of them) with arrays bound by variable name.

    Names not used by the expression are ignored, so one dict can serve many expressions.
    The arrays may be numpy arrays or torch tensors, JAX, CuPy, dask or array-API arrays
    (one library per call, numbers and numpy arrays mix with any): the results are arrays
    of that library, on the same device, in the same precision. ``backend=`` ("numpy",
    "torch", "jax", "cupy", "dask", "array_api") chooses the library when the arrays do not
    (a variable called ``backend`` or ``batch`` is given in the dict).

    dask arrays run as :func:`~.compile.compile` runs them: chunked along ``batch`` (a named
    dimension; by default the one the inputs are split into the most chunks along), the
    whole graph as one fused task per chunk and a tree reduction (:mod:`.chunked`).

    >>> import numpy as np
    >>> from tensorcalc.ir import var
    >>> evaluate([var("a", ()) * 2, var("b", ())], {"a": 1.0, "b": 5.0})
    [array(2.), array(5.)]
    """
    arrays = {**(arrays or {}), **named}
    single = isinstance(expr, Expr)
    # the simplified form runs: log(1 + exp u) as softplus(u), x x⁻¹ as 1 (cached per expression)
    exprs = [as_expr(e) for e in ([expr] if single else expr)]
    roots = simplified_all(exprs)
    order = topological(roots)
    variables = [n for n in order if isinstance(n, Var)]
    chosen = backend_of([arrays[v.name] for v in variables if v.name in arrays], backend)
    if chosen.name == "numpy" and not variables and backend is None:
        # numbers only (the Hessian of a linear map): the library of the variables it derives from
        chosen = backend_of([arrays[n] for n in origin_names(exprs) if n in arrays])
    if chosen.name == "dask":  # the fused per-chunk plan, as compile runs it (.chunked)
        return Compiled(exprs, single, backend, batch)(arrays)
    if chosen.name != "numpy":  # torch, JAX, ...: node by node on the library (.generic)
        results = evaluate_on(chosen, roots, arrays, origin_names(exprs))
        return results[0] if single else results
    values, sizes = bind(variables, arrays)
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
    constant = weak_roots(roots, weak)  # numbers only: the precision of the call's arrays
    if constant:
        results = keep_call_precision(results, constant, arrays, origin_names(exprs))
    return results[0] if single else results


def _evaluate_method(self: Expr, arrays: Mapping[str, Any] | None = None, /, *,
                     backend: str | None = None, batch: str | None = None, **kwargs: Any) -> Any:
    """Evaluate with arrays bound by variable name (extra names are ignored); arrays of
    other libraries and ``backend=`` as for :func:`evaluate`.

    >>> import numpy as np
    >>> from tensorcalc.ir import var
    >>> (var("x", (2,)) * 3).evaluate(x=np.array([1.0, 2.0]))
    array([3., 6.])
    """
    return evaluate(self, {**(arrays or {}), **kwargs}, backend=backend, batch=batch)


Expr.evaluate = _evaluate_method
