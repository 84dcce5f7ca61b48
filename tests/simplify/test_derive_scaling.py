"""Deriving and simplifying scales with the size of the result.

The chain ``u = t @ M; t = u * cos(u)``, repeated, has a Hessian (with respect to the first
``t``) whose size grows linearly with the number of steps; so must the time to derive it.
Before, every step's product was flattened into every later one and factoring re-simplified
whole subtrees from scratch: 2.6 s at 12 steps, 24 s at 28. The bounds here are generous
(the machine is shared); the growth bound is what catches a quadratic blow-up.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc.ir import topological


def chain(steps: int, n: int = 3):
    t0, M = tc.var("t", (n,)), tc.var("M", (n, n))
    t = t0
    for _ in range(steps):
        u = t @ M
        t = u * tc.cos(u)
    return tc.sum(t), t0, M


def random_program(seed: int, steps: int, n: int = 3):
    """A random straight-line program over vectors of ``n``: products with ``M``, elementwise
    functions, sums and products of earlier values."""
    rng = np.random.default_rng(seed)
    t0, M = tc.var("t", (n,)), tc.var("M", (n, n))
    values = [t0]
    for _ in range(steps):
        a, b = values[-1], values[rng.integers(len(values))]
        op = rng.integers(8)
        if op == 0:
            new = a @ M
        elif op == 1:
            u = a @ M
            new = u * tc.cos(u)
        elif op == 2:
            new = tc.tanh(a) + b
        elif op == 3:
            new = a * b
        elif op == 4:
            new = tc.sin(a) * tc.sum(b)
        elif op == 5:
            new = tc.sigmoid(a @ M + b)
        elif op == 6:
            new = a - 0.5 * (M.T @ b)
        else:
            new = tc.exp(0.1 * a) * b
        values.append(new)
    return tc.sum(values[-1] * values[len(values) // 2]), t0, M


def derive_time(f, wrt, repeats: int = 2) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        tc.hessian(f, wrt)
        best = min(best, time.perf_counter() - start)
    return best


def numeric_hessian(f, t0, arrays: dict, eps: float = 1e-5) -> np.ndarray:
    """Central differences of the compiled gradient."""
    g = tc.compile(tc.grad(f, t0))
    x = arrays["t"]
    cols = []
    for k in range(x.size):
        step = np.zeros_like(x)
        step[k] = eps
        cols.append((g(**{**arrays, "t": x + step}) - g(**{**arrays, "t": x - step})) / (2 * eps))
    return np.stack(cols, axis=1)


def test_thirty_step_chain_hessian_derives_fast_and_right(rng) -> None:
    f, t0, M = chain(30)
    assert derive_time(f, t0) < 3.0
    H = tc.hessian(f, t0)
    arrays = {"t": rng.standard_normal(3) * 0.3, "M": rng.standard_normal((3, 3)) * 0.5}
    np.testing.assert_allclose(tc.compile(H)(**arrays), numeric_hessian(f, t0, arrays),
                               rtol=1e-5, atol=1e-7)


def test_derive_time_grows_about_linearly_with_depth() -> None:
    times = {}
    for steps in (16, 64):
        f, t0, _ = chain(steps)
        derive_time(f, t0, repeats=1)  # warm caches (plans of the small products)
        times[steps] = derive_time(f, t0)
    # Four times the depth: linear growth is a ratio of 4, quadratic 16.
    assert times[64] / times[16] < 8, times


def test_result_size_grows_linearly_with_depth() -> None:
    sizes = {}
    for steps in (16, 32, 64):
        f, t0, _ = chain(steps)
        sizes[steps] = len(topological([tc.hessian(f, t0)]))
    assert sizes[64] / sizes[32] < 2.5 and sizes[32] / sizes[16] < 2.5, sizes


@pytest.mark.parametrize("seed", range(3))
def test_random_thirty_step_programs_derive_fast_and_right(rng, seed) -> None:
    f, t0, M = random_program(seed, 30)
    assert derive_time(f, t0, repeats=1) < 3.0
    H = tc.hessian(f, t0)
    arrays = {"t": rng.standard_normal(3) * 0.3, "M": rng.standard_normal((3, 3)) * 0.5}
    np.testing.assert_allclose(tc.compile(H)(**arrays), numeric_hessian(f, t0, arrays),
                               rtol=1e-5, atol=1e-6)
