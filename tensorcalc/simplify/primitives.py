"""Simplification rules of the primitives (elementwise functions, functions along axes,
indexing). The rewrites that replace a primitive by a simpler expression (``log(exp u) -> u``)
are the families of :mod:`tensorcalc.simplify.rewrites`."""

from __future__ import annotations

import numpy as np

from ..ir import Const, Einsum, Expr
from ..ops import AxisFunc, Func, Index, IndexAdjoint, Stack
from ..ops.functions import power
from .core import rebuild, simplify_rule



@simplify_rule.register(Func)
def _func(e: Func, kids: list[Expr]) -> Expr:
    x = kids[0]
    if isinstance(x, Const):
        return Const(e.eval_node(x.value, sizes={}))
    if _scalar_broadcast(x):  # f of a broadcast number: the broadcast of f(number)
        value = e.eval_node(np.asarray(x.scale * x.children[0].value), sizes={})
        return Einsum([""], x.output, [Const(value)], x.sizes)
    if e.name == "pow":
        return power(x, e.param)
    return e if x is e.children[0] else Func(e.name, x, e.param)


@simplify_rule.register(AxisFunc)
def _axisfunc(e: AxisFunc, kids: list[Expr]) -> Expr:
    """Constants folded; otherwise the node on its simplified argument."""
    x = kids[0]
    if isinstance(x, Const):
        return Const(e.eval_node(x.value, sizes={}))
    return e if x is e.children[0] else rebuild(e, [x])


@simplify_rule.register(Index)
def _index(e: Index, kids: list[Expr]) -> Expr:
    """``stack(items)[k] -> items[k]``; ``adjoint(g, idx)[idx] -> g``; constants folded."""
    x = kids[0]
    full = slice(None)
    if isinstance(x, Stack):
        picks = [k for k, it in enumerate(e.index) if not (isinstance(it, slice) and it == full)]
        if picks == [x.axis] and isinstance(e.index[x.axis], int) and None not in e.index:
            return x.children[e.index[x.axis]]
    if isinstance(x, IndexAdjoint) and _same_index(x.index, e.index):
        return x.children[0]
    if isinstance(x, Const):
        return Const(x.value[e.index])
    return e if x is e.children[0] else Index(x, e.index)


def _scalar_broadcast(x: Expr) -> bool:
    return isinstance(x, Einsum) and len(x.children) == 1 and x.inputs == ("",) \
        and isinstance(x.children[0], Const) and not x.factor_dims and len(set(x.output)) == len(x.output)


def _same_index(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(
        (isinstance(p, slice) and isinstance(q, slice) and p == q)
        or (not isinstance(p, slice) and not isinstance(q, slice) and p == q and type(p) is type(q))
        for p, q in zip(a, b))
