"""Weak scalars: numbers written into an expression keep the precision of the arrays.

numpy treats a Python number as *weak* (NEP 50): ``1.0 - x`` has the dtype of ``x``, float32
stays float32. In an expression that number is a 0-d :class:`~tensorcalc.ir.Const` (float64),
and derivative formulas are full of them (``1 - tanh(x)²``, ``σ (1 - σ)``, the identity
seeds of Jacobians); evaluated as plain arrays they would turn every float32 result into
float64. So the evaluator keeps numpy's rule: a node computed from scalar constants only is
weak, and where a node combines weak values with values computed from variables, the weak
ones take the precision of the others first (float64 -> float32, complex128 -> complex64;
an array constant, like a numpy array, is not weak). A result computed from constants only
(the Jacobian of a linear map, ``-I`` for ``1 - x``) has no array to take a precision from
and stays float64.

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

from typing import Any, Callable, Sequence

import numpy as np

from ..ir import Const, Expr


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
    out = list(args)
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
