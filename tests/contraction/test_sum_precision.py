"""Long reductions in the compiled core add runs of terms, then the runs' totals.

One running total over millions of terms drifts by about 1e-12 relative; numpy stays near
1e-15 (its reductions go through 8192-element buffers), and so must we. Each case sums a
value whose low bits a long running total rounds away.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import tensorcalc as tc

VALUE = 1.0 + np.finfo(np.float64).eps * 8196
N = 2_000_000


def _relative_error(got: float, want: float) -> float:
    return abs(float(got) - want) / abs(want)


@pytest.mark.parametrize("layout", ["contiguous", "broadcast", "strided"])
def test_long_unary_sum(layout):
    if layout == "contiguous":
        x = np.full(N, VALUE)
    elif layout == "broadcast":
        x = np.broadcast_to(np.array(VALUE), N)
    else:
        x = np.full(2 * N, VALUE)[::2]
    assert _relative_error(tc.einsum("i->", x), N * VALUE) < 4e-15


@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_long_dot_with_a_broadcast_operand(dtype):
    # a dot product with a stride-0 operand runs in the core's own loops, not BLAS
    x = np.full(N, VALUE, dtype=dtype)
    y = np.broadcast_to(np.array(2.0, dtype=dtype), N)
    want = 2 * math.fsum([VALUE] * N)
    assert _relative_error(tc.einsum("i,i->", x, y).real, want) < 4e-15


def test_long_sum_over_an_axis_of_a_matrix():
    x = np.full((3, N), VALUE)
    np.testing.assert_allclose(tc.einsum("ij->i", x), N * VALUE, rtol=4e-15, atol=0)
