"""The derivative suite on torch, JAX and array-API arrays agrees with numpy.

Every case of :mod:`tests.backends.support` (the rule cases of forward mode, the JAX
agreement cases, the seed examples, every row of the ops table, the extreme inputs of the
stable forms) is evaluated as value, gradient and Hessian on each library and compared with
the numpy backend: float64 to 1e-9, float32 looser; the result is an array of the input's
library, in the input's dtype. The compiled path runs on every case; the node-by-node
``evaluate`` too (on JAX, where every node dispatches on its own, on a sample: the compiled
JAX program is one ``jax.jit`` call).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc.ir import Expr

from .support import CASES, NAMES, derived, library

LIBS = ["torch", "jax", "array_api_strict"]
# JAX compiles every program with XLA (a second or so per case node by node, where each node
# is one XLA call), so float32 and node-by-node run on JAX for a sample of the cases
JAX_SAMPLE = {"float32": NAMES[::6], "evaluate": NAMES[::16]}

PROMOTED = {"rule:pow_array"}  # a float64 exponent array: numpy's result is float64 too
TOL = {np.float64: dict(rtol=1e-9, atol=1e-11), np.float32: dict(rtol=2e-4, atol=2e-4)}


def _params(jax_sample: str | None = None) -> list[Any]:
    return [pytest.param(lib, name, id=f"{lib}-{name}") for lib in LIBS for name in NAMES
            if not (jax_sample and lib == "jax" and name not in JAX_SAMPLE[jax_sample])]


def _inputs(values: dict[str, np.ndarray], dtype: Any) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, dtype) for k, v in values.items()}


def _compare(lib: Any, results: list[Any], expected: list[np.ndarray], dtype: type, what: str) -> None:
    assert len(results) == len(expected)
    for k, (got, want) in enumerate(zip(results, expected)):
        assert isinstance(got, lib.array_type), f"{what}[{k}] is a {type(got).__name__}"
        got = lib.to_numpy(got)
        # numpy's dtype: float32 stays float32, except where numpy promotes too (a float64
        # constant array: the weights of a non-scalar case, an exponent array)
        assert got.dtype == want.dtype, (what, k, got.dtype, want.dtype)
        assert got.shape == want.shape, (what, k, got.shape, want.shape)
        tol = TOL[dtype]
        scale = max(1.0, float(np.nanmax(np.abs(want), initial=0.0)))
        np.testing.assert_allclose(got, want, rtol=tol["rtol"], atol=tol["atol"] * scale,
                                   equal_nan=True, err_msg=f"{what}[{k}]")


@pytest.mark.parametrize("lib_name, name", _params())
def test_compiled_value_gradient_hessian_float64(lib_name: str, name: str) -> None:
    lib = library(lib_name)
    exprs, values = derived(name)
    fn = tc.compile(exprs)
    expected = fn(values)
    got = fn({k: lib.asarray(v) for k, v in values.items()})
    _compare(lib, got, expected, np.float64, f"{lib_name} compiled")


@pytest.mark.parametrize("lib_name, name", _params("float32"))
def test_compiled_float32_stays_float32(lib_name: str, name: str) -> None:
    lib = library(lib_name)
    exprs, values = derived(name)
    fn = tc.compile(exprs)
    arrays = _inputs(values, np.float32)
    expected = fn(arrays)
    got = fn({k: lib.asarray(v) for k, v in arrays.items()})
    assert expected[0].dtype == np.float32 or name in PROMOTED  # the value itself
    _compare(lib, got, expected, np.float32, f"{lib_name} float32")


@pytest.mark.parametrize("lib_name, name", _params("evaluate"))
def test_evaluate_node_by_node_float64(lib_name: str, name: str) -> None:
    lib = library(lib_name)
    exprs, values = derived(name)
    expected = tc.evaluate(exprs, values)
    got = tc.evaluate(exprs, {k: lib.asarray(v) for k, v in values.items()})
    _compare(lib, got, expected, np.float64, f"{lib_name} evaluate")


def test_the_cases_come_from_every_source_and_reach_every_node_type() -> None:
    """A source that stops contributing (a renamed table, a skipped import) fails here, not
    silently; so does a node type no case evaluates."""
    sources = {name.split(":")[0] for name in NAMES}
    assert {"rule", "jax", "seed", "row", "stable"} <= sources, sources
    assert len(NAMES) >= 90
    # the nodes that run: the compiled (simplified) programs' ones
    reached = {type(node).__name__ for name in NAMES for node in tc.compile(derived(name)[0]).order}
    node_types = {cls.__name__ for cls in _subclasses(Expr)}
    assert node_types <= reached, sorted(node_types - reached)
    assert all(CASES[name].values for name in NAMES)


def _subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        if sub.__module__.startswith("tensorcalc."):
            out.add(sub)
        out |= _subclasses(sub)
    return out
