"""The simplified form of an expression, computed once per expression object.

Printing (``str``, LaTeX, matrix text, generated code) and evaluation show and run the
simplified form of what the user built: ``A@x + A@x`` prints ``2 * einsum("ij,j->i", A, x)``
and ``log(1 + exp(u))`` evaluates as ``softplus(u)``. :func:`simplified` caches the result
per expression (weakly: the cache never keeps an expression alive), so printing and
evaluating the same expression again costs a lookup. ``tc.simplify`` stays the explicit call.

>>> from tensorcalc.ir import var, einsum
>>> import tensorcalc.simplify
>>> A = var("A", (3, 3)); x = var("x", (3,))
>>> e = einsum("ij,j->i", A, x) + einsum("ij,j->i", A, x)
>>> simplified(e).scale, simplified(e) is simplified(e)
(2.0, True)
"""

from __future__ import annotations

import threading
import weakref
from typing import Sequence

from ..ir import Expr, topological
from .core import simplify_all

_CACHE: "weakref.WeakKeyDictionary[Expr, Expr | None]" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def simplified(expr: Expr) -> Expr:
    """``expr`` simplified (:func:`tensorcalc.simplify.simplify`), cached per expression."""
    return simplified_all([expr])[0]


def simplified_all(exprs: Sequence[Expr]) -> list[Expr]:
    """Each expression simplified on its own, each cached.

    Not in one joint simplification: there a root's form could depend on the other roots
    (a subexpression simplified first as a root of its own is flattened, where inside this
    root, sharing an operand, it would stay nested), and the cache would then show what ran
    before: ``evaluate([N, g])`` changed ``str(g)``. Structures equal across the results are
    still one node (hash-consing), so evaluation computes them once.
    """
    with _LOCK:
        cached = [_CACHE.get(e, _MISSING) for e in exprs]
    out = []
    for e, c in zip(exprs, cached):
        if c is _MISSING:
            c = _simplify_and_cache(e)
        out.append(e if c is None else c)
    return out


def _simplify_and_cache(e: Expr) -> Expr | None:
    """The simplified form of ``e`` alone, cached; None when it is ``e`` itself."""
    s = simplify_all([e])[0]
    value = None if s is e else s
    with _LOCK:
        if value is None:
            _CACHE[e] = None  # the value must not hold its (weak) key alive
        elif all(n is not e for n in topological([s])):
            _CACHE[e] = s
    return value


_MISSING = object()
