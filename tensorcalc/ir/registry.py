"""Registries of operations on nodes: one per operation (a printer, the code generator...),
looked up by node type along the class hierarchy; a new node type joins each from its own
module with ``@rules.register(NodeType)``.

>>> from tensorcalc.ir.nodes import Expr, Var
>>> shown = NodeRules("show")
>>> @shown.register(Var)
... def _(node, prefix):
...     return prefix + node.name
>>> shown(Var("x", ()), "var ")
'var x'
>>> shown.lookup(Expr) is None
True
"""

from __future__ import annotations

import functools
from typing import Any, Callable


class NodeRules:
    """One operation on nodes, by node type (``functools.singledispatch`` underneath)."""

    def __init__(self, operation: str) -> None:
        self.operation = operation
        self._dispatch = functools.singledispatch(self._missing)

    def _missing(self, node: Any, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"{self.operation}: no rule for {type(node).__name__} nodes")

    def register(self, cls: type) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: the rule of ``cls`` (and of its subclasses without a rule of their own)."""
        return self._dispatch.register(cls)

    def lookup(self, cls: type) -> Callable[..., Any] | None:
        """The rule of ``cls``, or None when it has none."""
        rule = self._dispatch.dispatch(cls)
        return None if rule is self._dispatch.registry[object] else rule

    def __call__(self, node: Any, *args: Any, **kwargs: Any) -> Any:
        return self._dispatch.dispatch(type(node))(node, *args, **kwargs)
