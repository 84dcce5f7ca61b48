"""The rewrite table: rules that replace a simplified node by a simpler expression equal to it.

A rule is keyed by the node type it applies to and, for the primitives, the function's name
(``(Func, "log")``, ``(AxisFunc, "softmax")``; ``None`` for every node of the type). It gets a
node whose children are simplified and returns the replacement (built from those children,
not yet simplified itself) or ``None`` when it does not apply. :func:`tensorcalc.simplify.simplify`
applies the first rule that matches after the node's own ``simplify_rule``, simplifies the
replacement (its new nodes meet the rules in turn) and keeps the variables the node had
attached for their named dimensions. Every rule makes the expression strictly smaller or
more named (``log(softmax z)`` -> ``log_softmax(z)``), so rewriting ends.

Each rule states its condition: most hold everywhere; some hold where the expression is
defined and remove a removable singularity (``x x⁻¹ -> 1`` where ``x ≠ 0``; at ``x = 0`` the
product was ``0 · ∞ = nan``, the rewrite gives its limit); a few assume real arguments. The
families live beside their primitives in :mod:`tensorcalc.simplify.rewrites`.

>>> from tensorcalc.ir import var
>>> import tensorcalc.simplify  # registers the families
>>> sorted({r.family for r in rewrite_rules()})
['log-exp', 'norms', 'powers', 'softmax']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..ir import Expr

Rule = Callable[[Expr], "Expr | None"]


@dataclass(frozen=True)
class Rewrite:
    """One rule: what it rewrites, when it holds, its family, and the function."""

    rule: str        # "log(exp u) -> u"
    condition: str   # "" when it holds everywhere
    family: str      # the module (primitive family) defining it
    node_type: type
    name: str | None  # the primitive's name, None for every node of the type
    fn: Rule


_TABLE: dict[tuple[type, str | None], list[Rewrite]] = {}


def rewrite_rule(node_type: type, name: str | None = None, *, rule: str, condition: str = "",
                 family: str = "") -> Callable[[Rule], Rule]:
    """Register a rewrite of ``node_type`` nodes (of the primitive ``name``, if given)."""
    def register(fn: Rule) -> Rule:
        fam = family or fn.__module__.rsplit(".", 1)[-1].replace("_", "-")
        _TABLE.setdefault((node_type, name), []).append(
            Rewrite(rule, condition, fam, node_type, name, fn))
        return fn
    return register


def rewrite(e: Expr) -> Expr | None:
    """The replacement of ``e`` by the first rule that applies, or None."""
    name = getattr(e, "name", None)
    for cls in type(e).__mro__:
        for key in ((cls, name), (cls, None)) if isinstance(name, str) else ((cls, None),):
            for r in _TABLE.get(key, ()):
                out = r.fn(e)
                if out is not None:
                    return out
    return None


def rewrite_rules() -> list[Rewrite]:
    """Every registered rule (for documentation and tests)."""
    return [r for rules in _TABLE.values() for r in rules]
