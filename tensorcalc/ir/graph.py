"""Graph walks over the IR: the one place that visits a DAG of nodes.

Nodes are keyed by structural ``uid`` (hash-consing), so a subexpression that occurs many
times is visited once.

>>> from tensorcalc.ir.build import var
>>> x = var("x", 2)
>>> [type(n).__name__ for n in topological([x * x])]
['Var', 'Einsum']
"""

from __future__ import annotations

from typing import Container, Sequence

from .nodes import Expr, Var


def topological(roots: Sequence[Expr], done: Container[int] = ()) -> list[Expr]:
    """Every node reachable from ``roots``, children before parents, one per ``uid``.

    Nodes whose ``uid`` is in ``done`` are left out and not looked into (a walk that resumes
    where an earlier one stopped, e.g. past the nodes a memo already holds).
    """
    order: list[Expr] = []
    seen: set[int] = set()
    if done:
        roots = [r for r in roots if r.uid not in done]
    for root in roots:
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if node.uid in seen:
                continue
            if expanded:
                seen.add(node.uid)
                order.append(node)
                continue
            stack.append((node, True))
            stack.extend((c, False) for c in reversed(node.children)
                         if c.uid not in seen and c.uid not in done)
    return order


def walk(expr: Expr) -> list[Expr]:
    """Every distinct node of ``expr`` (by structural uid), children before parents."""
    return topological([expr])


def variables(expr: Expr) -> list[Var]:
    """The variables of ``expr``, sorted by name.

    >>> from tensorcalc.ir.build import var
    >>> [v.name for v in variables(var("b", 2) + var("a", 2))]
    ['a', 'b']
    """
    found = {n.name: n for n in walk(expr) if isinstance(n, Var)}
    return [found[k] for k in sorted(found)]


def use_counts(order: Sequence[Expr]) -> dict[int, int]:
    """How many parents in ``order`` use each node (by uid)."""
    counts: dict[int, int] = {}
    for node in order:
        for child in node.children:
            counts[child.uid] = counts.get(child.uid, 0) + 1
    return counts
