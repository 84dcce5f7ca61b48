"""The one door to opt_einsum: path strategies by name, ellipsis symbols, its path report.

opt_einsum is the well-kept planner this package builds on; its private names (the table
of strategies) are read here and nowhere else, so an opt_einsum release that moves them
means one edit.

>>> sorted(strategy_names())[:3]
['auto', 'auto-hq', 'branch-1']
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import opt_einsum
from opt_einsum import paths as _paths

PathFunction = Callable[..., list]


def strategy_names() -> list[str]:
    """The names ``optimize=`` accepts as a strategy."""
    return sorted(_paths._PATH_OPTIONS)


def path_function(name: str) -> PathFunction:
    """opt_einsum's path function called ``name``; KeyError for an unknown name."""
    return _paths.get_path_fn(name)


def symbol(k: int) -> str:
    """opt_einsum's ``k``-th label (past the 52 letters: Unicode, used for ``...`` axes)."""
    return opt_einsum.get_symbol(k)


def path_report(text: str, shapes: Sequence[tuple[int, ...]], path: Any) -> tuple[list, Any]:
    """``(path, PathInfo)`` for ``text`` over operands of ``shapes``, as opt_einsum prints it."""
    return opt_einsum.contract_path(text, *shapes, shapes=True, optimize=path)


def contract_any(text: str, *operands: Any) -> Any:
    """opt_einsum's own contraction, for dtypes the compiled core does not run (object, int)."""
    return opt_einsum.contract(text, *operands)
