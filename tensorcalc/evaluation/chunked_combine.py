"""The combine steps of the tree reductions on dask: how the per-chunk partial results of a
node that reduces the batch axis are merged (sums are linear, ``logsumexp`` combines with
``logaddexp``, the norm with ``sqrt(Σ p²)``, max, min and product with themselves).

Each step is associative, so the tree reduction may group partials in any way.

>>> import numpy as np
>>> parts = [np.array([0.0, 1.0]), np.array([2.0, -1.0])]
>>> COMBINE["logsumexp"](parts), np.logaddexp(*parts)
(array([2.12692801, 1.12692801]), array([2.12692801, 1.12692801]))
>>> combine(("sum", "max"), [(np.ones(2), np.ones(1)), (np.ones(2), np.full(1, 5.0))])
(array([2., 2.]), array([5.]))
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import numpy as np

__all__ = ["COMBINE", "combine"]


def _sum(parts: Sequence[np.ndarray]) -> np.ndarray:
    return functools.reduce(np.add, parts)


def _norm2(parts: Sequence[np.ndarray]) -> np.ndarray:
    # a partial is sqrt(Σ x²) of a chunk (holomorphic for complex x): square, add, root
    return np.sqrt(functools.reduce(np.add, [p * p for p in parts]))


def _logsumexp(parts: Sequence[np.ndarray]) -> np.ndarray:
    if np.iscomplexobj(parts[0]):  # numpy's logaddexp is real only
        return _logsumexp_complex(parts)
    return functools.reduce(np.logaddexp, parts)


def _logsumexp_complex(parts: Sequence[np.ndarray]) -> np.ndarray:
    stacked = np.stack(parts)
    peak = np.max(stacked.real, axis=0)
    peak = np.where(np.isfinite(peak), peak, 0)
    with np.errstate(divide="ignore"):
        return np.log(np.sum(np.exp(stacked - peak), axis=0)) + peak


# How the per-chunk partials of a node that reduces the batch axis are combined. Each is
# associative, so the tree reduction may group partials in any way.
COMBINE: dict[str, Callable[[Sequence[np.ndarray]], np.ndarray]] = {
    "sum": _sum,
    "logsumexp": _logsumexp,
    "norm2": _norm2,
    "max": functools.partial(functools.reduce, np.maximum),
    "min": functools.partial(functools.reduce, np.minimum),
    "prod": functools.partial(functools.reduce, np.multiply),
}


def combine(kinds: tuple[str, ...], parts: list[tuple]) -> tuple:
    """One task of the tree reduction: the partials (tuples, one item per reduction) merged
    item by item by the steps named in ``kinds``."""
    return tuple(COMBINE[kind]([p[k] for p in parts]) for k, kind in enumerate(kinds))
