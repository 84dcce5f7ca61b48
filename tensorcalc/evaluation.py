"""Evaluation: bind arrays to variables, run the DAG once per node, compile, check gradients.

Nodes are visited children-first and keyed by ``uid``, so a subexpression that occurs several
times (in one expression or across the list given to :func:`compile`) is computed once.

>>> import numpy as np
>>> from tensorcalc.expr import var
>>> x = var("x", ("n",))
>>> evaluate(x * x + x, {"x": np.array([1.0, 2.0]), "unused": 0})
array([2., 6.])
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .contract import contract_expression
from .errors import TensorcalcError
from .expr import Add, Einsum, Expr, Var, as_expr, resolve_dim


def _order(roots: Sequence[Expr]) -> list[Expr]:
    from .expr import topological

    return topological(roots)


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
            raise TensorcalcError(f"no array given for variable {v.name!r} (shape {v.shape})")
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
        values[v.uid] = a
    return values, sizes


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
    >>> from tensorcalc.expr import var
    >>> evaluate([var("a", ()) * 2, var("b", ())], {"a": 1.0, "b": 5.0})
    [array(2.), array(5.)]
    """
    arrays = {**(arrays or {}), **named}
    single = isinstance(expr, Expr)
    roots = [as_expr(e) for e in ([expr] if single else expr)]
    order = _order(roots)
    values, sizes = bind([n for n in order if isinstance(n, Var)], arrays)
    for node in order:
        if node.uid not in values:
            args = [values[c.uid] for c in node.children]
            check_operands(node, [a.shape for a in args], sizes)
            value = node.eval_node(*args, sizes=sizes)
            # numpy turns 0-d results into scalars; keep arrays throughout
            values[node.uid] = value if type(value) is np.ndarray else np.asarray(value)
    results = [values[r.uid] for r in roots]
    return results[0] if single else results


class Compiled:
    """A callable evaluating several expressions with shared intermediates.

    The program (node order, argument slots, a ``contract_expression`` per einsum) is built
    once per signature of input shapes and dtypes and cached.
    """

    def __init__(self, exprs: Sequence[Expr], single: bool) -> None:
        from .simplify import simplify_all

        self.exprs = simplify_all([as_expr(e) for e in exprs])
        self.single = single
        self.order = _order(self.exprs)
        self.variables = [n for n in self.order if isinstance(n, Var)]
        self.names = sorted({v.name for v in self.variables})
        self._programs: dict[tuple, tuple[list, list[int]]] = {}

    def __call__(self, arrays: Mapping[str, Any] | None = None, /, **named: Any) -> Any:
        arrays = {**(arrays or {}), **named}
        try:
            inputs = [np.asarray(arrays[name]) for name in self.names]
        except KeyError as err:
            raise TensorcalcError(f"no array given for variable {err.args[0]!r}") from None
        signature = tuple((a.shape, a.dtype.char) for a in inputs)
        program = self._programs.get(signature)
        if program is None:
            program = self._programs[signature] = self._build(arrays)
        steps, outputs = program
        slots: list[Any] = [None] * len(self.order)
        for k, name_or_fn, args in steps:
            if isinstance(name_or_fn, str):
                a = arrays[name_or_fn]
                if not (isinstance(a, np.ndarray) and a.dtype.kind in "fc"):
                    a = np.asarray(a)  # lists, scalars; ints and bools become float64 as in bind()
                    a = a.astype(np.float64) if a.dtype.kind in "biu" else a
                slots[k] = a
            else:
                value = name_or_fn(*[slots[j] for j in args])
                slots[k] = value if type(value) is np.ndarray else np.asarray(value)
        results = [slots[k] for k in outputs]
        return results[0] if self.single else results

    def _build(self, arrays: Mapping[str, Any]) -> tuple[list, list[int]]:
        values, sizes = bind(self.variables, arrays)  # validates shapes once per signature
        index = {node.uid: k for k, node in enumerate(self.order)}
        shapes = {uid: np.shape(v) for uid, v in values.items()}
        steps = []
        for k, node in enumerate(self.order):
            args = [index[c.uid] for c in node.children]
            if isinstance(node, Var):
                steps.append((k, node.name, args))
                continue
            child_shapes = [shapes[c.uid] for c in node.children]
            check_operands(node, child_shapes, sizes)
            fn = _step(node, child_shapes, sizes)
            steps.append((k, fn, args))
            shapes[node.uid] = tuple(resolve_dim(d, sizes) for d in node.shape)
        return steps, [index[e.uid] for e in self.exprs]

    def __repr__(self) -> str:
        return f"<Compiled {len(self.exprs)} expression(s), {len(self.order)} nodes, inputs {self.names}>"


def _step(node: Expr, child_shapes: list[tuple], sizes: dict[str, int]) -> Callable:
    """A function of the child arrays computing ``node`` for these shapes."""
    if isinstance(node, Einsum):
        factor = node.scale
        for d, p in node.factor_dims:
            factor *= float(sizes[d]) ** p
        if _is_permutation(node):
            # A transpose (or a scale) is a strided view: no contraction to run.
            axes = tuple(node.inputs[0].index(lab) for lab in node.output)
            if factor == 1.0:
                return lambda a: a.transpose(axes)
            return lambda a: a.transpose(axes) * factor
        carried = set("".join(node.inputs))
        extra = {lab: resolve_dim(node.sizes[lab], sizes) for lab in node.output if lab not in carried}
        expr = contract_expression(node.spec, *child_shapes, sizes=extra or None)
        if factor == 1.0:
            return expr
        if not child_shapes:
            return lambda: expr() * factor
        # An einsum is linear in each operand: scale the smallest one, not the (possibly
        # much larger, e.g. diagonal-embedded) result.
        k = min(range(len(child_shapes)), key=lambda j: int(np.prod(child_shapes[j])))
        return lambda *args: expr(*args[:k], args[k] * factor, *args[k + 1:])
    if not node.children:
        value = node.eval_node(sizes=sizes)
        return lambda: value
    return lambda *args: node.eval_node(*args, sizes=sizes)


def _is_permutation(node: Einsum) -> bool:
    labels = node.inputs[0]
    return (len(node.inputs) == 1 and len(set(labels)) == len(labels)
            and sorted(labels) == sorted(node.output))


def compile(exprs: Any) -> Compiled:
    """One callable for an expression or a list of them; shared parts are computed once.

    >>> import numpy as np
    >>> from tensorcalc.expr import var
    >>> x = var("x", ("n",))
    >>> fn = compile([x * x, x + 1.0])
    >>> fn(x=np.array([1.0, 2.0]))
    [array([1., 4.]), array([2., 3.])]
    """
    single = isinstance(exprs, Expr)
    return Compiled([exprs] if single else list(exprs), single)


def check_grad(f: Expr, wrt: Any, arrays: Mapping[str, Any] | None = None, /, **named: Any) -> float:
    """Largest difference between the analytic VJP and a central-difference JVP.

    Both are projected on random vectors (autograd's ``check_grads`` idea): for direction
    ``v`` and cotangent ``u``, compare ``<u, J v>`` by finite differences with
    ``<J^T u, v>`` from the symbolic gradient.  Non-scalar ``f`` is fine, so second
    derivatives are checked with ``check_grad(grad(f, x), x, ...)``.

    >>> import numpy as np
    >>> from tensorcalc.expr import var
    >>> x = var("x", (3,))
    >>> check_grad((x * x).__getitem__(1), x, x=np.array([1.0, 2.0, 3.0])) < 1e-6
    True
    """
    from .diff import _find_var, grad
    from .expr import topological
    from .functions import sum as tsum

    arrays = {**(arrays or {}), **named}
    f = as_expr(f)
    x = _find_var(f, wrt, topological([f]))
    if x.name not in arrays:
        raise TensorcalcError(f"check_grad: no array given for {x.name!r}")
    x0 = np.asarray(arrays[x.name], dtype=float)
    rng = np.random.default_rng(0)
    u_name = "__check_grad_cotangent__"
    fval = np.asarray(evaluate(f, arrays))
    u_var = Var(u_name, f.shape)
    vjp = grad(tsum(f * u_var), x)
    worst = 0.0
    for _ in range(3):
        u = rng.standard_normal(fval.shape)
        v = rng.standard_normal(x0.shape)
        if x.symmetric:
            v = (v + v.T) / 2
        eps = 1e-6 * max(1.0, float(np.max(np.abs(x0), initial=0.0)))
        fp = np.asarray(evaluate(f, {**arrays, x.name: x0 + eps * v}))
        fm = np.asarray(evaluate(f, {**arrays, x.name: x0 - eps * v}))
        numeric = float(np.sum(u * (fp - fm))) / (2 * eps)
        analytic = float(np.sum(evaluate(vjp, {**arrays, u_name: u}) * v))
        worst = max(worst, abs(numeric - analytic))
    return worst
