"""Compile expressions into one callable: shared intermediates, a cached program per input
signature, a planned contraction per einsum.

>>> import numpy as np
>>> from tensorcalc.ir import var
>>> fn = compile(var("x", ("n",)) * 2)
>>> fn(x=np.array([1.0, 2.0]))
array([2., 4.])
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..contraction import contract_expression
from ..errors import TensorcalcError
from ..ir import Einsum, Expr, Var, as_expr, topological
from ..ir.dims import resolve_dim
from ..simplify import simplify_all
from .evaluate import bind, check_operands, check_symmetric, missing_array_message
from .precision import adopting, weak_nodes, weak_positions


class Compiled:
    """A callable evaluating several expressions with shared intermediates.

    The program (node order, argument slots, a ``contract_expression`` per einsum) is built
    once per signature of input shapes and dtypes and cached.
    """

    def __init__(self, exprs: Sequence[Expr], single: bool) -> None:
        self.exprs = simplify_all([as_expr(e) for e in exprs])
        self.single = single
        self.order = topological(self.exprs)
        self.variables = [n for n in self.order if isinstance(n, Var)]
        self.names = sorted({v.name for v in self.variables})
        self.symmetric = sorted({v.name for v in self.variables if v.symmetric})
        self._programs: dict[tuple, tuple[list, list[int]]] = {}

    def __call__(self, arrays: Mapping[str, Any] | None = None, /, **named: Any) -> Any:
        arrays = {**(arrays or {}), **named}
        try:
            inputs = [np.asarray(arrays[name]) for name in self.names]
        except KeyError as err:
            missing = next(v for v in self.variables if v.name == err.args[0])
            raise TensorcalcError(missing_array_message(missing, self.variables, arrays)) from None
        for name in self.symmetric:  # checked on every call: the values change, not the shapes
            check_symmetric(name, inputs[self.names.index(name)])
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
        weak = weak_nodes(self.order)  # scalar constants keep the arrays' precision (.precision)
        steps = []
        for k, node in enumerate(self.order):
            args = [index[c.uid] for c in node.children]
            if isinstance(node, Var):
                steps.append((k, node.name, args))
                continue
            child_shapes = [shapes[c.uid] for c in node.children]
            check_operands(node, child_shapes, sizes)
            fn = _step(node, child_shapes, sizes)
            positions = weak_positions(node, weak)
            steps.append((k, adopting(fn, positions) if positions else fn, args))
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
    >>> from tensorcalc.ir import var
    >>> x = var("x", ("n",))
    >>> fn = compile([x * x, x + 1.0])
    >>> fn(x=np.array([1.0, 2.0]))
    [array([1., 4.]), array([2., 3.])]
    """
    single = isinstance(exprs, Expr)
    return Compiled([exprs] if single else list(exprs), single)
