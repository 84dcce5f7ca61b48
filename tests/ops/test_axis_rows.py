"""Every row of the functions along axes (``tensorcalc.ops.table.AXIS``: softmax, log_softmax,
logsumexp, norm2, normalize) against its own facts, as ``test_table.py`` checks the
elementwise and matrix rows:

* the builder ``tc.<name>`` exists and is exported, and takes arrays too;
* the derivative (``tc.grad`` of ``Σ w ⊙ f(x)``) agrees with central differences of the row's
  numpy implementation, along the default axes and along others;
* the generated code (``tc.to_numpy``), ``evaluate`` and ``compile`` compute what the numpy
  implementation computes, in float64, float32 (staying float32) and complex;
* every parser name of the row reads back (``tc.parse``) to the same values;
* the printers use the row's heads (``softmax(z)``, ``‖x‖``, ``x/‖x‖``).

A new row needs an entry in ``POINTS`` below (the test fails until it has one).
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

import tensorcalc as tc
from tensorcalc.display import index_text, matrix_text
from tensorcalc.ops.table import AXIS, parser_names

# Sample arguments (a matrix: the default axes and axis 0 are both exercised).
POINTS: dict[str, np.ndarray] = {
    "softmax": np.array([[0.3, -1.2, 2.0], [1.5, 0.1, -0.7]]),
    "log_softmax": np.array([[0.3, -1.2, 2.0], [1.5, 0.1, -0.7]]),
    "logsumexp": np.array([[0.3, -1.2, 2.0], [1.5, 0.1, -0.7]]),
    "norm2": np.array([[0.3, -1.2, 2.0], [1.5, 0.1, -0.7]]),
    "normalize": np.array([[0.3, -1.2, 2.0], [1.5, 0.1, -0.7]]),
}
TAKES_AXIS = ("softmax", "log_softmax", "logsumexp")
NAMES = sorted(AXIS)


def points(name: str) -> np.ndarray:
    if name not in POINTS:
        pytest.fail(f"the row {name!r} has no sample points: add it to POINTS in {__file__}")
    return POINTS[name]


def build(name: str, x, axis=None):
    fn = getattr(tc, name)
    return fn(x) if axis is None else fn(x, axis=axis)


def numpy_of(name: str, x0: np.ndarray, axis=None) -> np.ndarray:
    node = build(name, tc.var("x", x0.shape), axis)
    return np.asarray(AXIS[name].numpy(x0, node.axes))


def run_code(expr, **arrays):
    namespace: dict = {}
    exec(compile(tc.to_numpy(expr), "<to_numpy>", "exec"), namespace)
    return np.asarray(namespace["f"](**arrays))


def axes_cases(name: str) -> list:
    return [None, 0] if name in TAKES_AXIS else [None]


def test_every_row_has_points_and_no_points_are_stale() -> None:
    assert set(POINTS) == set(AXIS)


@pytest.mark.parametrize("name", NAMES)
def test_builder_exists_is_exported_and_takes_arrays(name: str) -> None:
    assert callable(getattr(tc, name, None)) and name in tc.__all__
    x0 = points(name)
    for axis in axes_cases(name):
        expected = numpy_of(name, x0, axis)
        got = getattr(tc, name)(x0) if axis is None else getattr(tc, name)(x0, axis=axis)
        assert_allclose(got, expected, rtol=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_derivative_agrees_with_central_differences(name: str) -> None:
    x0 = points(name)
    x = tc.var("x", x0.shape)
    for axis in axes_cases(name):
        y = build(name, x, axis)
        w0 = np.random.default_rng(7).standard_normal(y.shape)
        f = tc.sum(y * w0) if y.ndim else y * float(w0)
        g = tc.grad(f, x).evaluate(x=x0)
        numeric = np.zeros_like(x0)
        h = 1e-6
        for k in np.ndindex(x0.shape):
            step = np.zeros_like(x0)
            step[k] = h
            numeric[k] = (np.sum(w0 * numpy_of(name, x0 + step, axis))
                          - np.sum(w0 * numpy_of(name, x0 - step, axis))) / (2 * h)
        assert_allclose(g, numeric, rtol=1e-6, atol=1e-8, err_msg=f"{name} axis={axis}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
@pytest.mark.parametrize("name", NAMES)
def test_code_evaluate_and_compile_match_numpy(name: str, dtype) -> None:
    x0 = points(name).astype(dtype)
    if np.iscomplexobj(x0):
        x0 = x0 + 0.25j
    for axis in axes_cases(name):
        f = build(name, tc.var("x", x0.shape), axis)
        expected = numpy_of(name, x0, axis)
        assert expected.dtype == dtype
        rtol = 1e-5 if dtype == np.float32 else 1e-13
        for how, value in (("code", run_code(f, x=x0)), ("evaluate", tc.evaluate(f, x=x0)),
                           ("compile", tc.compile(f)(x=x0))):
            assert value.dtype == dtype, (how, value.dtype)
            assert_allclose(value, expected, rtol=rtol, err_msg=how)


def test_extreme_arguments_stay_finite() -> None:
    z0 = np.array([1000.0, 0.0, -1000.0])
    z = tc.var("z", (3,))
    for name in NAMES:
        f = getattr(tc, name)(z)
        for how, value in (("code", run_code(f, z=z0)), ("evaluate", tc.evaluate(f, z=z0))):
            assert np.all(np.isfinite(value)), (name, how)
    assert tc.normalize(np.zeros(3)).tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("alias,name", [(a, n) for a, n in parser_names().items() if n in AXIS])
def test_parser_name_reads_back_to_the_row(alias: str, name: str) -> None:
    x0 = points(name)[0]
    parsed = tc.parse(f"{alias}(x[i])")
    assert_allclose(tc.evaluate(parsed, x=x0), numpy_of(name, x0), rtol=1e-15)


@pytest.mark.parametrize("name,text,matrix,latex", [
    ("softmax", "softmax(z)", "softmax(z)", r"\operatorname{softmax}(z)"),
    ("log_softmax", "log_softmax(z)", "log_softmax(z)", r"\log\operatorname{softmax}(z)"),
    ("logsumexp", "logsumexp(z)", "logsumexp(z)", r"\operatorname{logsumexp}(z)"),
    ("norm2", "norm2(z)", "‖z‖", r"\left\lVert z \right\rVert"),
    ("normalize", "z / norm2(z)", "z/‖z‖", r"\frac{z}{\left\lVert z \right\rVert}"),
])
def test_printers_use_the_heads_of_the_row(name, text, matrix, latex) -> None:
    f = getattr(tc, name)(tc.var("z", (3,)))
    assert str(f) == text
    assert matrix_text(f) == matrix
    assert tc.to_latex(f, notation="matrix") == latex
    assert index_text(f)  # index notation writes it too (no fallback to einsum text needed)


def test_axes_other_than_the_default_are_printed() -> None:
    M = tc.var("M", (2, 3))
    assert str(tc.softmax(M, axis=0)) == "softmax(M, axis=(0,))"
    assert matrix_text(tc.softmax(M, axis=0)) is None  # not a matrix-notation function
    assert matrix_text(tc.softmax(M)) == "softmax(M)"


def test_every_row_explains_its_derivative() -> None:
    for name, row in AXIS.items():
        assert row.legend, name
    text = tc.explain("-sum(y[i] log_softmax(z[i]))", "z")
    assert "∂log_softmax(z)_i/∂z_k = δ_ik - softmax(z)_k" in text
    assert "matrix form: (𝟏ᵀy) softmax(z) - y" in text
