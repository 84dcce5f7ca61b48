"""A constant is the value it had when the expression was built, whatever the caller does to
the array afterwards (equal small constants merge by value, so an alias would corrupt the
node they share)."""

from __future__ import annotations

import numpy as np

import tensorcalc as tc


def test_mutating_the_array_after_building_changes_nothing():
    x = tc.var("x", (2,))
    a = np.array([1.0, 2.0])
    f1 = x * a
    a[:] = [10.0, 20.0]
    f = tc.sum(f1) + tc.sum(x * np.array([1.0, 2.0]))
    assert float(f.evaluate(x=np.ones(2))) == 6.0
    assert float(tc.compile(f)(x=np.ones(2))) == 6.0


def test_large_constants_too():
    x = tc.var("x", (1000,))
    a = np.ones(1000)
    f = tc.sum(x * a)
    a[:] = 5.0
    assert float(f.evaluate(x=np.ones(1000))) == 1000.0
    assert float(tc.grad(f, x).evaluate(x=np.ones(1000))[0]) == 1.0


def test_the_stored_value_is_read_only_and_int_becomes_float():
    x = tc.var("x", (3,))
    f = x * np.arange(3)
    const = [n for n in f.children if isinstance(n, tc.Expr) and type(n).__name__ == "Const"]
    assert const and not const[0].value.flags.writeable
    assert const[0].value.dtype == np.float64
