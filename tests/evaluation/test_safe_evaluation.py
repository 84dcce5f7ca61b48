"""Evaluation refuses what the expression did not promise, with messages that name it:

* a ``symmetric=True`` variable bound to a non-symmetric array (relative tolerance);
* a missing variable (and the given names no variable uses: likely misspellings);
* ``inv`` of a singular matrix (numpy's LinAlgError becomes a TensorcalcError);
* a matrix declared ``('n', 3)`` is square only once ``n`` is 3: accepted when building,
  checked when ``n`` is bound.

Both ``evaluate`` and compiled functions check.
"""

from __future__ import annotations

import numpy as np
import pytest

import tensorcalc as tc

NOT_SYMMETRIC = np.array([[1.0, 2.0, 0.0], [2.5, 1.0, 0.0], [0.0, 0.0, 1.0]])


def _both(expr, **arrays):
    """The value by ``evaluate`` and by ``compile`` (each may raise)."""
    return [lambda: tc.evaluate(expr, arrays), lambda: tc.compile(expr)(**arrays)]


@pytest.mark.parametrize("way", [0, 1], ids=["evaluate", "compile"])
def test_symmetric_variable_needs_a_symmetric_array(way: int) -> None:
    S = tc.var("S", (3, 3), symmetric=True)
    f = tc.trace(S @ S)
    with pytest.raises(tc.TensorcalcError, match=r"'S' is declared symmetric.*\[0, 1\] is 2.0.*\[1, 0\] is 2.5"):
        _both(f, S=NOT_SYMMETRIC)[way]()
    # the tolerance is relative to the entries: rounding noise on huge entries is fine
    big = 1e12 * (NOT_SYMMETRIC + NOT_SYMMETRIC.T)
    noisy = big.copy()
    noisy[0, 1] += 1e-1  # 1e-13 relative
    assert np.isfinite(_both(f, S=noisy)[way]())
    with pytest.raises(tc.TensorcalcError, match="declared symmetric"):
        tiny = 1e-12 * NOT_SYMMETRIC  # asymmetric however small the entries
        _both(f, S=tiny)[way]()


def test_compiled_function_checks_symmetry_on_every_call() -> None:
    S = tc.var("S", (3, 3), symmetric=True)
    fn = tc.compile(tc.trace(S))
    assert fn(S=np.eye(3)) == 3.0
    with pytest.raises(tc.TensorcalcError, match="declared symmetric"):
        fn(S=NOT_SYMMETRIC)  # same signature: the cached program must not skip the check


@pytest.mark.parametrize("way", [0, 1], ids=["evaluate", "compile"])
def test_missing_variable_names_the_unused_given_names(way: int) -> None:
    x, b = tc.var("x", (3,)), tc.var("b", (3,))
    f = tc.sum(x * b)
    with pytest.raises(tc.TensorcalcError) as info:
        _both(f, xx=np.ones(3), b=np.ones(3))[way]()
    message = str(info.value)
    assert "no array given for variable 'x'" in message
    assert "given but unused: 'xx'" in message


def test_unused_names_are_listed_closest_first() -> None:
    x = tc.var("weights", (3,))
    with pytest.raises(tc.TensorcalcError, match="given but unused: 'wieghts', 'bias'"):
        tc.evaluate(tc.sum(x), {"bias": 1.0, "wieghts": np.ones(3)})


@pytest.mark.parametrize("fn", ["inv", "det", "logdet"])
def test_singular_inverse_names_the_node(fn: str) -> None:
    A = tc.var("A", (3, 3))
    singular = np.ones((3, 3))
    with pytest.raises(tc.TensorcalcError, match=r"^inv\(A\): matrix is singular$"):
        tc.inv(A).evaluate(A=singular)
    # det and logdet of a singular matrix have values (0 and -inf); their gradients need
    # the inverse, and say so in the same words
    with pytest.raises(tc.TensorcalcError, match=r"inv\(A\): matrix is singular"):
        tc.grad(getattr(tc, fn)(A) if fn != "inv" else tc.sum(tc.inv(A)), A).evaluate(A=singular)


def test_singular_inverse_of_an_expression() -> None:
    A = tc.var("A", (2, 2))
    with pytest.raises(tc.TensorcalcError, match=r"^inv\(…\): matrix is singular$"):
        tc.inv(A @ A.T).evaluate(A=np.array([[1.0, 2.0], [2.0, 4.0]]))


@pytest.mark.parametrize("build, expected", [
    (tc.inv, np.eye(3) / 2), (tc.det, 8.0), (tc.logdet, np.log(8.0)), (tc.trace, 6.0),
    (tc.diag, np.full(3, 2.0)),
])
def test_a_matrix_with_a_named_side_is_square_once_bound(build, expected) -> None:
    A = tc.var("A", ("n", 3))
    e = build(A)  # no longer refused when building
    np.testing.assert_allclose(e.evaluate(A=2 * np.eye(3)), expected)
    np.testing.assert_allclose(tc.compile(e)(A=2 * np.eye(3)), expected)
    with pytest.raises(tc.TensorcalcError, match=r"\(4, 3\)|'n' has size 4"):
        e.evaluate(A=np.ones((4, 3)))


def test_symmetric_variable_with_a_named_side() -> None:
    S = tc.var("S", ("n", 3), symmetric=True)
    f = tc.trace(S @ S)
    np.testing.assert_allclose(tc.grad(f, S).evaluate(S=np.eye(3)), 2 * np.eye(3))
    with pytest.raises(tc.TensorcalcError, match="declared symmetric .* shape \\(4, 3\\)"):
        f.evaluate(S=np.ones((4, 3)))


def test_two_different_names_are_still_not_square() -> None:
    with pytest.raises(tc.TensorcalcError, match="square"):
        tc.inv(tc.var("A", ("n", "m")))
    with pytest.raises(tc.TensorcalcError, match="square"):
        tc.var("S", ("n", "m"), symmetric=True)
    with pytest.raises(tc.TensorcalcError, match="square"):
        tc.var("S", (3, 4), symmetric=True)
