"""The pool's workers poll briefly for the next job before they sleep (consecutive steps of
a plan follow within microseconds; waking a sleeping thread costs tens of them)."""

from __future__ import annotations

import resource
import time

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc import _core


@pytest.fixture
def spin():
    old = _core._pool_spin(30)
    yield
    _core._pool_spin(old)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def test_the_setting_round_trips_and_refuses_negatives(spin):
    assert _core._pool_spin(0) == 30
    assert _core._pool_spin(30) == 0
    with pytest.raises(ValueError, match="at least 0"):
        _core._pool_spin(-1)


def test_results_do_not_depend_on_polling(spin):
    old = _core.set_threads(2)
    try:
        ops = [np.random.default_rng(k).standard_normal((192, 192)) for k in range(3)]
        expr = tc.contract_expression("ij,jk,kl->il", *[(192, 192)] * 3)
        polled = expr(*ops)
        _core._pool_spin(0)
        slept = expr(*ops)
    finally:
        _core.set_threads(old)
    np.testing.assert_array_equal(polled, slept)
    np.testing.assert_allclose(polled, ops[0] @ ops[1] @ ops[2], rtol=1e-12)


def test_workers_go_to_sleep_after_polling(spin):
    old = _core.set_threads(2)
    try:
        a = np.random.default_rng(0).standard_normal((256, 256))
        expr = tc.contract_expression("ij,jk->ik", a.shape, a.shape)
        time.sleep(0.3)  # numpy's OpenBLAS threads poll ~0.1 s after an earlier test's a @ b
        for _ in range(50):
            expr(a, a)
        assert _core._pool_workers() >= 1
        time.sleep(0.01)
        before = _cpu_seconds()
        time.sleep(0.3)
        # a worker still polling would burn 0.3 s of CPU here
        assert _cpu_seconds() - before < 0.03
    finally:
        _core.set_threads(old)
