"""Hash-consing: one uid per structure among the live expression nodes.

:class:`tensorcalc.ir.Expr` keys every node by ``(class, params, child uids)``; nodes with
equal keys share a uid while any of them is alive, which is what common-subexpression
elimination and the collection of like terms compare.  The table holds weak references only,
so it does not grow for the life of the process.

>>> a, b = intern(("demo", 1)), intern(("demo", 1))
>>> a is b, a.value == b.value
(True, True)
>>> del a, b
>>> intern(("demo", 1)).value > 0  # a new structure: a fresh uid, never an old one
True
"""

from __future__ import annotations

import gc
import itertools
import threading
import weakref


class _Uid:
    """The uid shared by the live nodes of one structure; each such node holds it."""

    __slots__ = ("value", "__weakref__")

    def __init__(self, value: int) -> None:
        self.value = value


# Hash-consing table: structural key -> weak reference to the shared :class:`_Uid`.  While any
# node of a structure is alive it holds the token, so every live node of that structure gets the
# same uid.  Entries of dead structures are swept, not removed one by one (a callback per node
# would cost more than building it): after every full garbage collection and whenever the
# table has doubled since the last sweep, so it stays within twice the live structures and
# the sweeps cost O(1) per node.  Uids come from a counter and are never reused, so a dict
# keyed by the uid of a dead node cannot be confused with a new node.  ``dict.setdefault``
# is atomic, so threads building one structure agree on one token; the re-entrant lock guards
# replacing a dead entry against a sweep (re-entrant: a sweep may start, from the garbage
# collector, while this thread holds it).
UIDS: dict[tuple, "weakref.ref[_Uid]"] = {}
_COUNTER = itertools.count()
_LOCK = threading.RLock()
_MIN_SWEEP = 4096
_next_sweep = _MIN_SWEEP


def intern(key: tuple) -> _Uid:
    """The uid token of structure ``key``: the live one, or a new one."""
    token = _Uid(next(_COUNTER))
    ref = weakref.ref(token)
    old = UIDS.setdefault(key, ref)
    if old is not ref:
        with _LOCK:  # another thread's token, or a dead entry not swept yet
            old = UIDS.get(key)
            live = old() if old is not None else None
            if live is not None:
                return live
            UIDS[key] = ref
    if len(UIDS) >= _next_sweep:
        sweep_uids()
    return token


def sweep_uids() -> int:
    """Drop the table entries of structures no live node has; returns how many."""
    global _next_sweep
    with _LOCK:
        # dict.copy is one C call: the garbage collector (which may sweep too) cannot run
        # in the middle of it and change the table under the iteration
        dead = [(key, ref) for key, ref in UIDS.copy().items() if ref() is None]
        for key, ref in dead:
            if UIDS.get(key) is ref:
                del UIDS[key]
        _next_sweep = max(_MIN_SWEEP, 2 * len(UIDS))
    return len(dead)


def _sweep_after_full_collection(phase: str, info: dict) -> None:
    # A full collection already walks every object, so a sweep is in proportion; skip it if
    # another thread holds the lock (the next one will do).
    if phase == "stop" and info.get("generation") == 2 and _LOCK.acquire(blocking=False):
        try:
            sweep_uids()
        finally:
            _LOCK.release()


gc.callbacks.append(_sweep_after_full_collection)
