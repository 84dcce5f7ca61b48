"""A structural order of expressions: the order canonical products list their operands in.

A product in canonical form (:mod:`.einsum`) sorts its operands, so that products equal up
to the order of their factors become one node (collected as like terms, computed once). The
sort key must depend on the structure of the operand only: ordering by ``uid`` (a counter,
and a structure keeps its first uid while any node of it is alive) made the printed form
depend on what the process had built and kept before (``einsum("j,ij->i", x ** 3, A)``
after an earlier ``compile`` held ``x ** 3``, ``einsum("ij,j->i", A, x ** 3)`` in a fresh
process).

:func:`order_key` is ``(height, name, digest)``: leaves first (variables by name, so ``A x``
prints ``A`` before ``x``), then deeper subexpressions, ties broken by a digest of the
whole structure (class, parameters, children in order), the same in every process. It is
computed once per structure (without recursion: deep chains are fine).

>>> from tensorcalc.ir import var
>>> import tensorcalc
>>> A, x = var("A", (3, 3)), var("x", (3,))
>>> sorted([tensorcalc.sin(x), x, A], key=order_key)
[Var('A', (3, 3)), Var('x', (3,)), sin(Var('x', (3,)))]
"""

from __future__ import annotations

import hashlib
from typing import Any

from ..ir import Const, Expr, Var

OrderKey = tuple[int, str, bytes]

# uid -> key. A uid names one structure for good (uids are never reused), so an entry can
# never be wrong, only stale: the table is emptied when it grows past its limit (keys are
# cheap to compute again), which bounds it without a callback per node.
_KEYS: dict[int, OrderKey] = {}
_LIMIT = 1 << 17


def order_key(expr: Expr) -> OrderKey:
    """The structural sort key of ``expr``: equal for equal structures, in every process."""
    known = _KEYS.get(expr.uid)
    if known is not None:
        return known
    if len(_KEYS) >= _LIMIT:
        _KEYS.clear()
    # this walk's keys, so that another thread emptying the table cannot lose one midway
    keys: dict[int, OrderKey] = {}

    stack = [(expr, False)]
    while stack:  # children first, stopping at nodes already keyed
        node, expanded = stack.pop()
        if node.uid in keys:
            continue
        if not expanded:
            cached = _KEYS.get(node.uid)
            if cached is not None:
                keys[node.uid] = cached
                continue
            stack.append((node, True))
            stack.extend((c, False) for c in reversed(node.children) if c.uid not in keys)
            continue
        key = _key_of(node, [keys[c.uid] for c in node.children])
        keys[node.uid] = _KEYS[node.uid] = key
    return keys[expr.uid]


def _key_of(node: Expr, kids: list[OrderKey]) -> OrderKey:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{type(node).__module__}.{type(node).__qualname__}".encode())
    digest.update(_params_text(node).encode())
    for _, _, child in kids:
        digest.update(child)
    height = 1 + max((h for h, _, _ in kids), default=-1)
    return height, node.name if isinstance(node, Var) else "", digest.digest()


def _params_text(node: Expr) -> str:
    """The node's parameters as text that does not depend on the process: a large constant
    is keyed by identity in ``params`` (``("id", id(array))``), so it is hashed by value."""
    if isinstance(node, Const):
        return f"{node.value.dtype.str}{node.value.shape}" + hashlib.blake2b(
            node.value.tobytes(), digest_size=16).hexdigest()
    return repr(_without_ids(node.params()))


def _without_ids(value: Any) -> Any:
    """``value`` with identity keys (``("id", n)``, large arrays elsewhere) left out: such
    operands then tie on the parameters and keep their order as built."""
    if isinstance(value, tuple):
        if len(value) == 2 and isinstance(value[0], str) and value[0] == "id" and isinstance(value[1], int):
            return ("id",)
        return tuple(_without_ids(v) for v in value)
    return value
