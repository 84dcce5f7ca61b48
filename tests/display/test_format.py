"""Numbers in every output form: complex coefficients and array exponents print as text,
LaTeX and runnable numpy source (tensorcalc.display.format)."""

from __future__ import annotations

import numpy as np

import tensorcalc as tc


def test_complex_coefficients_print_in_every_form() -> None:
    x, y = tc.var("x", (2,)), tc.var("y", (2,))
    assert str(x + 1j * y) == "x + 1j * y"
    assert tc.to_latex(x + 1j * y) == r"x_{i} + \mathrm{i} y_{i}"
    assert tc.to_latex(x - (2 + 3j) * y) == r"x_{i} - \left(2 + 3\mathrm{i}\right) y_{i}"
    assert tc.to_latex(x + 1j * y, notation="matrix") == r"x + \mathrm{i} y"
    namespace: dict = {}
    exec(tc.to_numpy(x - (2 + 3j) * y), namespace)
    a, b = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    np.testing.assert_allclose(namespace["f"](x=a, y=b), a - (2 + 3j) * b)


def test_array_exponent_prints_and_generates_code() -> None:
    x = tc.var("x", (2,))
    e = x ** np.array([2.0, 3.0])
    assert str(e) == "x ** [2.0, 3.0]"
    namespace: dict = {}
    exec(tc.to_numpy(e), namespace)
    np.testing.assert_allclose(namespace["f"](x=np.array([-2.0, -2.0])), [4.0, -8.0])
