"""Hash-consing: one uid per structure among the live nodes; the table does not leak."""

from __future__ import annotations

import gc
import threading
from typing import Any

import numpy as np

import tensorcalc as tc
from tensorcalc.ir import Const, uids as uid_table, var


def test_structural_hashing_shares_equal_subtrees() -> None:
    # uids are equal among *live* nodes of one structure: keep both operands of each
    # comparison alive (the table forgets a structure once its last node is gone).
    A, x = var("A", ("m", "n")), var("x", ("n",))
    first, second = A @ x, A @ x
    assert first.uid == second.uid
    assert var("A", ("m", "n")).uid == A.uid
    other = A @ var("y", ("n",))
    assert first.uid != other.uid
    c1, c2 = Const(np.ones(3)), Const(np.ones(3))
    assert c1.uid == c2.uid
    assert Const(np.zeros(3)).uid != c1.uid


# --------------------------------------------------------------------------------------------
# 2. Hash-consing table does not leak
# --------------------------------------------------------------------------------------------

def test_hash_consing_table_shrinks_when_expressions_are_dropped() -> None:
    # regression: the structural-key table only grew for the life of the process
    gc.collect()
    before = len(uid_table.UIDS)
    x = tc.var("leak_probe_x", ("n",))
    kept = [tc.tanh(x * float(k)) + float(k) for k in range(1500)]
    grown = len(uid_table.UIDS)
    assert grown >= before + 3 * 1500
    del kept
    gc.collect()
    assert len(uid_table.UIDS) <= before + 5, (before, grown, len(uid_table.UIDS))


def test_hash_consing_table_stays_bounded_without_explicit_collection() -> None:
    # dead entries are swept whenever the table doubles, not only after gc.collect()
    gc.collect()
    base = len(uid_table.UIDS)
    x = tc.var("bounded_probe_x", (2,))
    peak = 0
    for k in range(30000):
        tc.sin(x * float(k))  # dropped at once
        peak = max(peak, len(uid_table.UIDS))
    assert peak <= 2 * base + 2 * uid_table._MIN_SWEEP, (base, peak)
    gc.collect()
    assert len(uid_table.UIDS) <= base + 5
    assert uid_table.sweep_uids() == 0  # nothing left to sweep


def test_uids_shared_while_alive_and_never_reused() -> None:
    x = tc.var("uid_probe_x", (3,))
    a = tc.exp(x) * 2.0
    b = tc.exp(x) * 2.0
    assert a.uid == b.uid and a is not b
    old = a.uid
    del a  # b still holds the structure: a new equal node gets the same uid
    c = tc.exp(x) * 2.0
    assert c.uid == old
    del b, c
    gc.collect()
    d = tc.exp(x) * 2.0  # the structure died: a fresh uid, never an old one
    assert d.uid != old and d.uid > old


def test_uids_agree_across_threads() -> None:
    x = tc.var("uid_thread_x", (4,))
    results: list[Any] = []
    barrier = threading.Barrier(4)

    def build() -> None:
        barrier.wait()
        nodes = [tc.sin(x + float(k)) for k in range(200)]
        results.append(nodes)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    uids = [[n.uid for n in nodes] for nodes in results]
    assert len(uids) == 4 and all(u == uids[0] for u in uids)
    assert len(set(uids[0])) == 200
