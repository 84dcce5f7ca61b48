"""Every row of the primitives' table (``tensorcalc.ops.table``) against its own facts.

For each elementwise row, the ``pow`` row at several exponents and each matrix row:

* the builder ``tc.<name>`` exists and is exported;
* the derivative (``tc.grad`` of ``tc.sum(f(x))``) agrees with central differences of the
  row's numpy implementation inside the function's domain; a row without a derivative is
  piecewise constant there;
* the generated code (``tc.to_numpy``) computes what the numpy implementation computes, in
  float64, float32 (staying float32) and complex where the implementation takes complex;
* every parser name of the row reads back (``tc.parse``) to the same values;
* the LaTeX and Unicode heads of the row are what the printers write.

A new row needs an entry in ``DOMAINS`` below (the test fails until it has one).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import special

import tensorcalc as tc
from tensorcalc.display import index_text, matrix_text
from tensorcalc.ops.table import ELEMENTWISE, MATRIX, POW, parser_names

# Sample points inside each function's domain, away from kinks and poles.
DOMAINS: dict[str, list[float]] = {
    "exp": [-2.3, -0.4, 0.0, 0.7, 1.9],
    "log": [0.15, 0.8, 1.0, 2.5, 7.0],
    "log1p": [-0.7, -0.2, 0.0, 0.6, 4.0],
    "sin": [-3.0, -1.1, 0.0, 0.5, 2.2],
    "cos": [-3.0, -1.1, 0.0, 0.5, 2.2],
    "tan": [-1.3, -0.6, 0.0, 0.4, 1.2],
    "tanh": [-3.0, -0.9, 0.0, 0.3, 2.5],
    "sigmoid": [-6.0, -1.5, 0.0, 0.8, 5.0],
    "relu": [-2.0, -0.3, 0.25, 1.4],        # kink at 0
    "softplus": [-6.0, -1.5, 0.0, 0.8, 5.0],
    "sqrt": [0.05, 0.6, 1.0, 3.3, 9.0],
    "abs": [-2.0, -0.3, 0.25, 1.4],         # kink at 0
    "sign": [-2.0, -0.3, 0.25, 1.4],        # jump at 0
    "heaviside": [-2.0, -0.3, 0.25, 1.4],   # jump at 0
}

# Rows whose numpy implementation takes complex input (the generated code must as well).
COMPLEX_ROWS = ("exp", "log", "sin", "cos", "tan", "tanh", "sqrt", "sigmoid", "softplus", "log1p")
COMPLEX_POINTS = np.array([0.3 + 0.4j, -0.7 + 0.2j, 1.1 - 0.5j, 0.05 - 1.2j])

# Exponents of the pow row; every exponent is sampled on positive bases, integer ones on
# negative bases as well.
EXPONENTS = [2.0, 3.0, -1.0, -2.0, 0.5, -0.5, 1.5, 2.5, 0.3]
POSITIVE = [0.2, 0.7, 1.0, 1.6, 3.1]
NEGATIVE = [-2.4, -1.0, -0.45]

# Square matrices for the matrix rows: well conditioned, with both signs of determinant.
MATRICES = {
    "positive det": np.array([[2.0, 0.3, -0.5], [0.1, 1.7, 0.4], [-0.2, 0.6, 2.4]]),
    "negative det": np.array([[0.4, 2.1, 0.2], [1.9, 0.3, -0.6], [0.1, -0.5, 1.6]]),
    "batched": np.stack([np.array([[1.5, -0.2], [0.7, 2.0]]), np.array([[0.3, 1.8], [1.2, -0.4]])]),
}

ELEMENTWISE_NAMES = sorted(ELEMENTWISE)
MATRIX_NAMES = sorted(MATRIX)


def points(name: str) -> np.ndarray:
    if name not in DOMAINS:
        pytest.fail(f"the row {name!r} has no sample domain: add it to DOMAINS in {__file__}")
    return np.array(DOMAINS[name])


def run_code(expr: tc.Expr, **arrays: np.ndarray) -> np.ndarray:
    """Execute the source ``tc.to_numpy(expr)`` writes and call its function."""
    source = tc.to_numpy(expr)
    namespace: dict = {}
    exec(compile(source, f"<to_numpy {expr!r}>", "exec"), namespace)
    return np.asarray(namespace["f"](**arrays))


def central_difference(fn, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Derivative of an elementwise function, entry by entry."""
    return (fn(x + h) - fn(x - h)) / (2 * h)


def assert_close(actual, expected, *, rtol: float, atol: float = 0.0, dtype=None) -> None:
    actual = np.asarray(actual)
    if dtype is not None:
        assert actual.dtype == dtype, f"dtype {actual.dtype}, expected {dtype}"
    assert_allclose(actual, expected, rtol=rtol, atol=atol)


# ----------------------------------------------------------------------------- the table itself

def test_every_elementwise_row_has_a_domain_and_no_domain_is_stale() -> None:
    assert set(DOMAINS) == set(ELEMENTWISE)


def test_row_names_are_unique_across_the_table() -> None:
    names = [n for row in ELEMENTWISE.values() for n in row.names] + list(MATRIX) + [POW.name]
    assert len(names) == len(set(names)), names


@pytest.mark.parametrize("name", ELEMENTWISE_NAMES + [POW.name] + MATRIX_NAMES)
def test_builder_exists_and_is_exported(name: str) -> None:
    builder = getattr(tc, name, None)
    assert callable(builder), f"tc.{name} is missing"
    assert name in tc.__all__, f"{name!r} is not in tensorcalc.__all__"


# ----------------------------------------------------------------------------- derivatives

@pytest.mark.parametrize("name", ELEMENTWISE_NAMES)
def test_derivative_agrees_with_central_differences(name: str) -> None:
    row = ELEMENTWISE[name]
    x0 = points(name)
    x = tc.var("x", x0.shape)
    g = tc.evaluate(tc.grad(tc.sum(getattr(tc, name)(x)), x), x=x0)
    numeric = central_difference(row.numpy, x0)
    if row.derivative is None:
        # zero almost everywhere: the function is constant around every sample point
        for h in (1e-6, 1e-3):
            assert np.array_equal(row.numpy(x0 + h), row.numpy(x0 - h)), name
        assert_close(g, np.zeros_like(x0), rtol=0.0, atol=0.0)
    else:
        assert_close(g, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("p", EXPONENTS)
def test_pow_derivative_agrees_with_central_differences(p: float) -> None:
    x0 = np.array(POSITIVE + (NEGATIVE if float(p).is_integer() else []))
    x = tc.var("x", x0.shape)
    g = tc.evaluate(tc.grad(tc.sum(tc.pow(x, p)), x), x=x0)
    assert_close(g, central_difference(lambda a: POW.numpy(a, p), x0), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("case", sorted(MATRICES))
@pytest.mark.parametrize("name", MATRIX_NAMES)
def test_matrix_derivative_agrees_with_central_differences(name: str, case: str) -> None:
    row = MATRIX[name]
    X0 = MATRICES[case]
    X = tc.var("X", X0.shape)
    g = tc.evaluate(tc.grad(tc.sum(getattr(tc, name)(X)), X), X=X0)
    h = 1e-6
    numeric = np.zeros_like(X0)
    for k in np.ndindex(X0.shape):
        step = np.zeros_like(X0)
        step[k] = h
        numeric[k] = (np.sum(row.numpy(X0 + step)) - np.sum(row.numpy(X0 - step))) / (2 * h)
    assert_close(g, numeric, rtol=1e-6, atol=1e-8)


# ----------------------------------------------------------------------------- generated code

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ELEMENTWISE_NAMES)
def test_code_template_matches_numpy(name: str, dtype) -> None:
    row = ELEMENTWISE[name]
    x0 = points(name).astype(dtype)
    f = getattr(tc, name)(tc.var("x", x0.shape))
    expected = row.numpy(x0)
    rtol = 1e-13 if dtype == np.float64 else 2e-6
    assert_close(run_code(f, x=x0), expected, rtol=rtol, atol=rtol * 1e-3, dtype=dtype)
    assert_close(tc.evaluate(f, x=x0), expected, rtol=rtol, dtype=dtype)
    assert_close(tc.compile(f)(x=x0), expected, rtol=rtol, dtype=dtype)


@pytest.mark.parametrize("name", COMPLEX_ROWS)
def test_code_template_matches_numpy_on_complex_input(name: str) -> None:
    row = ELEMENTWISE[name]
    f = getattr(tc, name)(tc.var("x", COMPLEX_POINTS.shape))
    expected = row.numpy(COMPLEX_POINTS)
    assert expected.dtype == np.complex128
    assert_close(run_code(f, x=COMPLEX_POINTS), expected, rtol=1e-13, dtype=np.complex128)
    assert_close(tc.evaluate(f, x=COMPLEX_POINTS), expected, rtol=1e-13, dtype=np.complex128)
    assert_close(getattr(tc, name)(COMPLEX_POINTS), expected, rtol=1e-13, dtype=np.complex128)


def test_the_complex_implementations_agree_with_their_formulas() -> None:
    z = COMPLEX_POINTS
    assert_allclose(ELEMENTWISE["sigmoid"].numpy(z), 1.0 / (1.0 + np.exp(-z)), rtol=1e-13)
    assert_allclose(ELEMENTWISE["softplus"].numpy(z), np.log(1.0 + np.exp(z)), rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("p", EXPONENTS)
def test_pow_code_matches_numpy(p: float, dtype) -> None:
    x0 = np.array(POSITIVE + (NEGATIVE if float(p).is_integer() else []), dtype=dtype)
    f = tc.pow(tc.var("x", x0.shape), p)
    rtol = 1e-13 if dtype == np.float64 else 2e-6
    assert_close(run_code(f, x=x0), POW.numpy(x0, p), rtol=rtol, dtype=dtype)
    assert_close(tc.evaluate(f, x=x0), POW.numpy(x0, p), rtol=rtol, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", sorted(MATRICES))
@pytest.mark.parametrize("name", MATRIX_NAMES)
def test_matrix_code_matches_numpy(name: str, case: str, dtype) -> None:
    X0 = MATRICES[case].astype(dtype)
    f = getattr(tc, name)(tc.var("X", X0.shape))
    expected = MATRIX[name].numpy(X0)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    assert_close(run_code(f, X=X0), expected, rtol=rtol, dtype=dtype)
    assert_close(tc.evaluate(f, X=X0), expected, rtol=rtol, dtype=dtype)


# ----------------------------------------------------------------------------- parser names

def test_every_row_name_is_a_parser_name() -> None:
    names = parser_names()
    for row in ELEMENTWISE.values():
        for alias in row.names:
            assert names.get(alias) == row.name, alias
    for name in MATRIX:
        assert names.get(name) == name


@pytest.mark.parametrize("alias,name", [(a, r.name) for r in ELEMENTWISE.values() for a in r.names])
def test_parser_name_reads_back_to_the_row(alias: str, name: str) -> None:
    x0 = points(name)
    parsed = tc.parse(f"{alias}(x[i])")
    assert_close(tc.evaluate(parsed, x=x0), ELEMENTWISE[name].numpy(x0), rtol=1e-15)
    assert tc.simplify(parsed).uid == tc.simplify(getattr(tc, name)(tc.var("x", ("i",)))).uid


@pytest.mark.parametrize("p", EXPONENTS)
def test_power_reads_back_from_index_notation(p: float) -> None:
    x0 = np.array(POSITIVE)
    parsed = tc.parse(f"x[i]^({p!r})")
    assert_close(tc.evaluate(parsed, x=x0), POW.numpy(x0, p), rtol=1e-15)


@pytest.mark.parametrize("name", MATRIX_NAMES)
def test_matrix_parser_name_reads_back_to_the_row(name: str) -> None:
    X0 = MATRICES["negative det"]
    parsed = tc.parse(f"{name}(X[i,j])")
    assert_close(tc.evaluate(parsed, X=X0), MATRIX[name].numpy(X0), rtol=1e-15)


# ----------------------------------------------------------------------------- printed heads

SPECIAL_LATEX = {"sqrt": r"\sqrt{", "abs": r"\left|"}  # written without a function head


@pytest.mark.parametrize("name", ELEMENTWISE_NAMES)
def test_printers_use_the_heads_of_the_row(name: str) -> None:
    row = ELEMENTWISE[name]
    f = getattr(tc, name)(tc.var("x", (3,)))
    for notation in ("index", "matrix"):
        latex = tc.to_latex(f, notation=notation)
        if row.latex:
            assert latex.startswith(row.latex + "("), (notation, latex)
        else:
            assert latex.startswith(SPECIAL_LATEX.get(name, rf"\operatorname{{{name}}}(")), latex
    head = row.unicode or row.name
    assert matrix_text(f) == f"{head}(x)"
    assert index_text(f) == f"{head}(x_i)"
    # str() is the einsum text, numpy's spelling: the builder's name, whatever the symbol
    assert str(f) == f"{name}(x)"


@pytest.mark.parametrize("name", MATRIX_NAMES)
def test_matrix_printers_use_the_heads_of_the_row(name: str) -> None:
    row = MATRIX[name]
    f = getattr(tc, name)(tc.var("X", (3, 3)))
    latex = tc.to_latex(f, notation="matrix")
    if row.latex:
        assert row.latex in latex
    assert str(f) == f"{name}(X)"
    assert matrix_text(f) == {"inv": "X⁻¹"}.get(name, f"{name}(X)")


@pytest.mark.parametrize("p,latex_index,latex_matrix,unicode,text", [
    (3.0, "x_{i}^{3}", r"x^{\circ 3}", "x³", "x ** 3"),
    (-1.0, "x_{i}^{-1}", r"x^{\circ -1}", "x^∘-1", "x ** -1"),
    (2.5, "x_{i}^{2.5}", r"x^{\circ 2.5}", "x^∘2.5", "x ** 2.5"),
])
def test_pow_printed_with_its_exponent(p, latex_index, latex_matrix, unicode, text) -> None:
    f = tc.pow(tc.var("x", (3,)), p)
    assert tc.to_latex(f) == latex_index
    assert tc.to_latex(f, notation="matrix") == latex_matrix
    assert matrix_text(f) == unicode
    assert str(f) == text


def test_sigmoid_symbols() -> None:
    # the one row with every symbol set: check they reach the output literally
    f = tc.sigmoid(tc.var("x", (3,)))
    assert tc.to_latex(f) == r"\sigma(x_{i})"
    assert tc.to_latex(f, notation="matrix") == r"\sigma(x)"
    assert matrix_text(f) == "σ(x)"


# ----------------------------------------------------------------------------- extreme inputs

EXTREME = np.array([-1000.0, -40.0, -1.0, 0.0, 1.0, 40.0, 1000.0])


def stable_sigmoid(x: np.ndarray) -> np.ndarray:
    return special.expit(x)


def stable_softplus(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


@pytest.mark.parametrize("name,reference,derivative", [
    ("sigmoid", stable_sigmoid, lambda x: special.expit(x) * special.expit(-x)),
    ("softplus", stable_softplus, stable_sigmoid),
])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_and_softplus_at_extreme_inputs(name, reference, derivative, dtype) -> None:
    x0 = EXTREME.astype(dtype)
    expected = reference(EXTREME)
    x = tc.var("x", x0.shape)
    f = getattr(tc, name)(x)
    rtol = 1e-13 if dtype == np.float64 else 1e-6
    tiny = np.finfo(dtype).tiny  # exp(-1000) underflows to zero, as it should
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", divide="raise", invalid="raise"):
            results = {
                "array": getattr(tc, name)(x0),
                "table": ELEMENTWISE[name].numpy(x0),
                "evaluate": tc.evaluate(f, x=x0),
                "compile": tc.compile(f)(x=x0),
                "generated code": run_code(f, x=x0),
            }
            gradient = tc.evaluate(tc.grad(tc.sum(f), x), x=x0)
    for how, value in results.items():
        assert np.all(np.isfinite(value)), how
        assert value.dtype == dtype, how
        assert_allclose(value, expected.astype(dtype), rtol=rtol, atol=tiny, err_msg=how)
    assert np.all(np.isfinite(gradient))
    # y (1 - y) is exact to the precision of the peak value 1/4 (not relative in the tail)
    assert_allclose(gradient, derivative(EXTREME), rtol=rtol * 10, atol=np.finfo(dtype).eps / 4)
    assert results["generated code"][0] == 0.0 and results["generated code"][-1] > 0.5
