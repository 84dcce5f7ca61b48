"""Reverse mode over the DAG: push a cotangent from the output to one variable.

>>> from tensorcalc.ir import Const, var
>>> x = var("x", (2,))
>>> backprop(x * x, x, var("g", (2,))).shape
(2,)
"""

from __future__ import annotations

from typing import Any

from ..errors import TensorcalcError
from ..ir import Add, Expr, Var, einsum, topological
from ..labels import LETTERS
from ..simplify import zeros
from .rules import vjp_rule



def find_var(y: Expr, wrt: Any, order: list[Expr]) -> Var:
    if isinstance(wrt, Var):
        return wrt
    if isinstance(wrt, str):
        for node in order:
            if isinstance(node, Var) and node.name == wrt:
                return node
        names = sorted({n.name for n in order if isinstance(n, Var)})
        raise TensorcalcError(f"the expression has no variable {wrt!r} (its variables: {names})")
    raise TypeError(f"wrt must be a variable or its name, got {type(wrt).__name__}")


def backprop(y: Expr, wrt: Var, seed: Expr) -> Expr:
    """The cotangent of ``wrt`` given the cotangent ``seed`` of ``y`` (unsimplified)."""
    order = topological([y])
    depends: set[int] = set()
    for node in order:
        if node.uid == wrt.uid or any(c.uid in depends for c in node.children):
            depends.add(node.uid)
    nb = seed.ndim - y.ndim
    if y.uid not in depends:
        return zeros(seed.shape[:nb] + wrt.shape)
    cotangents: dict[int, list[Expr]] = {y.uid: [seed]}
    for node in reversed(order):
        if node.uid not in depends or node.uid == wrt.uid:
            continue
        parts = cotangents.pop(node.uid, None)
        if parts is None:  # every path from y runs through a zero derivative (sign, relu')
            continue
        g = parts[0] if len(parts) == 1 else Add(parts)
        for child, ct in zip(node.children, vjp_rule(node, g)):
            if ct is not None and child.uid in depends:
                cotangents.setdefault(child.uid, []).append(ct)
    parts = cotangents.get(wrt.uid) or [zeros(seed.shape[:nb] + wrt.shape)]
    return parts[0] if len(parts) == 1 else Add(parts)


def symmetrize(e: Expr, var_: Var) -> Expr:
    """Average over the two (trailing) axes of a symmetric variable."""
    if not var_.symmetric:
        return e
    labels = LETTERS[: e.ndim]
    swapped = labels[:-2] + labels[-1] + labels[-2]
    return 0.5 * (e + einsum(f"{labels}->{swapped}", e))
