"""A long inner product whose partial results would not fit the scratch limit is still
shared over threads (by rows or columns), not left on one thread."""

from __future__ import annotations

import numpy as np

import tensorcalc as tc
from tensorcalc import _core


def _cuts_of(subscripts, *ops):
    old = _core.set_threads(2)
    try:
        expr = tc.contract_expression(subscripts, *[op.shape for op in ops])
        _core._cuts()
        result = expr(*ops)
        return result, _core._cuts()
    finally:
        _core.set_threads(old)


def test_two_partials_within_the_limit_split_the_inner_length():
    # the logistic-regression Hessian X^T diag(d) X: 1024 x 4096 x 1024, partials of 8 MiB
    rng = np.random.default_rng(0)
    x, d = rng.standard_normal((4096, 256)), rng.standard_normal(4096)
    x = np.ascontiguousarray(np.tile(x, (1, 4)))
    result, cuts = _cuts_of("ij,i,ik->jk", x, d, x)
    assert cuts["inner"] == 1
    np.testing.assert_allclose(result, (x * d[:, None]).T @ x, rtol=1e-10, atol=1e-9)


def test_partials_beyond_the_limit_cut_rows_or_columns_instead():
    # 1200 x 2500 x 1200: the inner length is the cheapest cut, but two partials of
    # 1200 x 1200 float64 are 23 MB, over the 16 MiB scratch limit
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((1200, 2500)), rng.standard_normal((2500, 1200))
    result, cuts = _cuts_of("ij,jk->ik", a, b)
    assert cuts["inner"] == 0 and cuts["rows"] + cuts["columns"] == 1
    np.testing.assert_allclose(result, a @ b, rtol=1e-10, atol=1e-9)
