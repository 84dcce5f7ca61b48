"""Shared by the backend tests: the libraries under test, and the derivative cases of the
suite collected from where they live.

A *case* is a scalar-valued loss ``s`` of variables (a non-scalar function ``f`` of the
suite becomes ``s = sum(W * f)`` for fixed random weights ``W``), the variable ``wrt`` and
numpy values; what the backends must reproduce is ``[f, grad(s, wrt), hessian(s, wrt)]``
(the Hessian where it can be derived).

Sources: every rule case of ``tests/differentiation/test_forward_mode.py`` (they reach every
node type, einops nodes included), the cases of ``test_jax_agreement.py``, the seed examples'
functions (``tests/examples``), every elementwise, matrix and axis row of the ops table at
the sample points of ``tests/ops``, and the extreme inputs of ``test_stable_derivatives.py``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc.errors import TensorcalcError
from tensorcalc.ir.dims import resolve_dim
from tensorcalc.ops.table import AXIS, ELEMENTWISE, MATRIX


# ----------------------------------------------------------------------------- libraries

@dataclass(frozen=True)
class Library:
    """How a test makes and reads one library's arrays."""

    name: str                          # the backend's name in tensorcalc
    asarray: Callable[[np.ndarray], Any]
    to_numpy: Callable[[Any], np.ndarray]
    array_type: type


def _torch() -> Library:
    torch = pytest.importorskip("torch")
    return Library("torch", torch.as_tensor, lambda t: t.detach().cpu().numpy(), torch.Tensor)


def _jax() -> Library:
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)  # float64 as numpy (the suite's jax tests do too)
    return Library("jax", jax.numpy.asarray, np.asarray, jax.Array)


def _strict() -> Library:
    xp = pytest.importorskip("array_api_strict")
    return Library("array_api", xp.asarray, np.from_dlpack, type(xp.asarray(0.0)))


LIBRARIES: dict[str, Callable[[], Library]] = {
    "torch": _torch, "jax": _jax, "array_api_strict": _strict}


def library(name: str) -> Library:
    """The library called ``name`` (the test skips with a reason when it is not installed)."""
    return LIBRARIES[name]()


# ----------------------------------------------------------------------------- the cases

@dataclass
class Case:
    build: Callable[[], tuple[Any, str, dict[str, Any]]]  # () -> (f, wrt, {name: var})
    values: dict[str, np.ndarray]
    sizes: dict[str, int]


CASES: dict[str, Case] = {}


def _add(name: str, build: Callable[[], tuple[Any, str, dict]], values: dict[str, np.ndarray],
         sizes: dict[str, int] | None = None) -> None:
    assert name not in CASES, name
    CASES[name] = Case(build, values, sizes or {})


def _import_suite(module: str) -> Any:
    """A test module of the suite (its jax import may skip: then its cases are left out)."""
    try:
        return __import__(module, fromlist=["CASES"])
    except pytest.skip.Exception:
        return None


def _from_forward_mode() -> None:
    mod = _import_suite("tests.differentiation.test_forward_mode")
    if mod is None:
        return
    for name, case in mod.CASES.items():
        def build(case: Any = case) -> tuple:
            vs = case.variables()
            return case.tc_fn(vs), case.wrt, vs
        _add(f"rule:{name}", build, case.values(0), dict(case.sizes))


def _from_jax_agreement() -> None:
    mod = _import_suite("tests.differentiation.test_jax_agreement")
    if mod is None:
        return
    for name, (fn, shapes, wrt) in mod.CASES.items():
        def build(fn: Any = fn, shapes: Any = shapes, wrt: str = wrt) -> tuple:
            vs = {k: tc.var(k, s) for k, s in shapes.items()}
            return fn(tc, vs), wrt, vs
        _add(f"jax:{name}", build, mod.case_values(name, shapes))


def _seed_examples() -> None:
    """The seed examples of ``tests/examples`` (their closed forms are checked there)."""
    gen = np.random.default_rng(5)

    def tiny_network() -> tuple:
        vs = {"X": tc.var("X", (2, 2)), "W": tc.var("W", (2, 2)), "y": tc.var("y", (2,))}
        z = tc.sigmoid(vs["X"] @ vs["W"])
        return tc.sum((tc.sum(z, axis=1) - vs["y"]) ** 2), "W", vs

    _add("seed:tiny_network", tiny_network,
         {"X": np.array([[0.0, 1.0], [2.0, 3.0]]), "W": np.ones((2, 2)), "y": np.array([0.5, -1.0])})

    def affine() -> tuple:
        vs = {"W": tc.var("W", ("m", "n")), "x": tc.var("x", ("n",)), "b": tc.var("b", ("m",))}
        return tc.sum(tc.tanh(vs["W"] @ vs["x"] + vs["b"]) ** 2), "W", vs

    _add("seed:affine_named", affine, {"W": gen.normal(size=(3, 4)), "x": gen.normal(size=4),
                                       "b": gen.normal(size=3)})

    def norm_ax() -> tuple:
        vs = {"A": tc.var("A", (4, 3)), "x": tc.var("x", (3,))}
        return tc.norm2(vs["A"] @ vs["x"]), "x", vs

    _add("seed:norm_Ax", norm_ax, {"A": gen.normal(size=(4, 3)), "x": gen.normal(size=3)})

    def symmetric_quadratic() -> tuple:
        vs = {"S": tc.var("S", ("n", "n"), symmetric=True), "x": tc.var("x", ("n",))}
        return vs["x"] @ vs["S"] @ vs["x"] + tc.trace(vs["S"] @ vs["S"]), "S", vs

    s = gen.normal(size=(3, 3))
    _add("seed:symmetric_quadratic", symmetric_quadratic, {"S": s + s.T, "x": gen.normal(size=3)})


def _table_rows() -> None:
    """Every row of the ops table, at the sample points of ``tests/ops``."""
    domains = __import__("tests.ops.test_table", fromlist=["DOMAINS"])
    axis_rows = __import__("tests.ops.test_axis_rows", fromlist=["POINTS"])
    for name in ELEMENTWISE:
        def build(name: str = name) -> tuple:
            vs = {"x": tc.var("x", (len(domains.DOMAINS[name]),))}
            return getattr(tc, name)(vs["x"]), "x", vs
        _add(f"row:{name}", build, {"x": np.array(domains.DOMAINS[name])})
    for name in ("pow",):
        def build_pow() -> tuple:
            vs = {"x": tc.var("x", (5,))}
            return vs["x"] ** 2.5 + vs["x"] ** -1.0 + vs["x"] ** 0.5 + vs["x"] ** 2, "x", vs
        _add(f"row:{name}", build_pow, {"x": np.array(domains.POSITIVE)})
    for name in MATRIX:
        for label, m in domains.MATRICES.items():
            def build_m(name: str = name, shape: tuple = m.shape) -> tuple:
                vs = {"X": tc.var("X", shape)}
                return getattr(tc, name)(vs["X"]), "X", vs
            _add(f"row:{name}:{label}", build_m, {"X": m})
    for name in AXIS:
        for axis in ((None, 0) if name in axis_rows.TAKES_AXIS else (None,)):
            def build_a(name: str = name, axis: Any = axis) -> tuple:
                vs = {"x": tc.var("x", axis_rows.POINTS[name].shape)}
                return axis_rows.build(name, vs["x"], axis), "x", vs
            _add(f"row:{name}:axis={axis}", build_a, {"x": axis_rows.POINTS[name]})


def _stable() -> None:
    """Extreme logits (the stable forms must survive on every backend)."""
    logits = np.array([[50.0, 0.0, -800.0], [1000.0, 0.0, -1000.0], [-1000.0, 1000.0, 999.0]])

    def cross_entropy() -> tuple:
        vs = {"z": tc.var("z", (3, 3)), "t": tc.var("t", (3, 3))}
        return -tc.sum(vs["t"] * tc.log_softmax(vs["z"], axis=1)), "z", vs

    _add("stable:cross_entropy", cross_entropy, {"z": logits, "t": np.eye(3)})

    def logistic() -> tuple:
        vs = {"X": tc.var("X", (4, 2)), "y": tc.var("y", (4,)), "w": tc.var("w", (2,))}
        return tc.sum(tc.softplus(-vs["y"] * (vs["X"] @ vs["w"]))), "w", vs

    _add("stable:logistic", logistic, {"X": np.array([[1000.0, 1.0], [-1000.0, 2.0],
                                                      [3.0, -800.0], [0.5, 0.5]]),
                                       "y": np.array([1.0, -1.0, 1.0, -1.0]),
                                       "w": np.array([1.0, 1.0])})


_from_forward_mode()
_from_jax_agreement()
_seed_examples()
_table_rows()
_stable()
NAMES = sorted(CASES)


@functools.lru_cache(maxsize=None)
def derived(name: str) -> tuple[list[Any], dict[str, np.ndarray]]:
    """``([f, grad, hessian], values)`` of a case (the Hessian left out where the package
    cannot derive it)."""
    case = CASES[name]
    f, wrt, vs = case.build()
    values = dict(case.values)
    x = vs[wrt]
    if f.shape:  # a scalar loss of f: fixed random weights
        shape = tuple(resolve_dim(d, case.sizes) for d in f.shape)
        weights = np.random.default_rng(len(name)).uniform(0.5, 1.5, shape)
        loss = tc.sum(f * weights)
    else:
        loss = f
    exprs = [f, tc.grad(loss, x)]
    try:
        exprs.append(tc.hessian(loss, x))
    except TensorcalcError:
        pass
    return exprs, values
