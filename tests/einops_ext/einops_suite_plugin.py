"""A pytest plugin that runs einops' own test suite with einops' functions replaced by
tensorcalc's.

einops ships its tests in the wheel (``einops.tests``). With this plugin loaded, from the
repository root (on ``PYTHONPATH``)::

    EINOPS_TEST_BACKENDS=numpy,torch,jax python -m pytest -p no:cacheprovider \\
        -p tests.einops_ext.einops_suite_plugin --pyargs einops.tests

every test of einops that calls ``rearrange``, ``reduce``, ``repeat``, ``einsum``, ``pack``,
``unpack``, ``parse_shape`` or ``asnumpy`` calls tensorcalc's instead
(:data:`REPLACEMENTS`). einops' own code is left alone: the names are replaced in the
``einops`` package and in the namespaces of the test modules (which import them by name,
``from einops.einops import rearrange``), and einops' doctests of ``einops.einops`` run with
tensorcalc's functions in their globals (tensorcalc hands torch, JAX and other libraries'
arrays to einops itself, so the backends of ``EINOPS_TEST_BACKENDS`` all run through it).
Tests that exercise nothing tensorcalc replaces (einops' layers, symbolic backends, einops
internals) are skipped with the reason given in :data:`NOT_APPLICABLE`; those that need a
backend's arrays (:data:`NEEDS_BACKEND`) are skipped, as not tested, when that backend is not
in ``EINOPS_TEST_BACKENDS``; :data:`KNOWN_DIFFERENCES` are expected failures.

Importing this module changes nothing; the hooks do, when pytest loads it as a plugin. With
``TC_EINOPS_SUITE_REPORT=<path>`` the plugin writes, per test, its outcome and how many times
it called each tensorcalc function and on which backends' arrays (``numpy``, ``torch``,
``jax``...; ``tests/einops_ext/test_einops_suite.py`` reads it).
"""

from __future__ import annotations

import collections
import doctest
import functools
import json
import os
import sys
from typing import Any, Callable

import einops
import pytest

import tensorcalc as tc
from tensorcalc.backends import detect

#: einops' name -> tensorcalc's function run in its place.
REPLACEMENTS: dict[str, Callable[..., Any]] = {
    "rearrange": tc.rearrange, "reduce": tc.reduce, "repeat": tc.repeat, "einsum": tc.einsum,
    "pack": tc.pack, "unpack": tc.unpack, "parse_shape": tc.parse_shape, "asnumpy": tc.asnumpy,
}

_LAYERS = "tests einops' layers (Rearrange/Reduce/EinMix for torch, flax, keras), which call " \
          "einops' internals, not the functions tensorcalc replaces"
_NO_SYMBOLIC = "loops over einops' symbolic backends (pytensor, tf.keras), none installed; " \
               "tensorcalc expressions are covered by tests/einops_ext"

#: einops test (``module::name``) -> why it does not apply; these are skipped in the run.
NOT_APPLICABLE: dict[str, str] = {
    "test_einsum.py::test_layer": _LAYERS,
    "test_einsum.py::test_functional_symbolic": _NO_SYMBOLIC,
    "test_layers.py::test_rearrange_imperative": _LAYERS,
    "test_layers.py::test_rearrange_symbolic": _LAYERS,
    "test_layers.py::test_reduce_imperative": _LAYERS,
    "test_layers.py::test_reduce_symbolic": _LAYERS,
    "test_layers.py::test_torch_layer": _LAYERS,
    "test_layers.py::test_torch_layers_scripting": _LAYERS,
    "test_layers.py::test_keras_layer": _LAYERS,
    "test_layers.py::test_flax_layers": _LAYERS,
    "test_layers.py::test_einmix_decomposition": _LAYERS,
    "test_layers.py::test_einmix_restrictions": _LAYERS,
    "test_ops.py::test_reduction_symbolic": _NO_SYMBOLIC,
    "test_ops.py::test_repeat_symbolic": _NO_SYMBOLIC,
    "test_ops.py::test_tiling_symbolic": _NO_SYMBOLIC,
    "test_ops.py::test_tiling_imperatives":
        "tests the tile method of einops' numpy backend object, no public function",
    "test_ops.py::test_enumerating_directions":
        "tests einops' private _enumerate_directions through its backend objects",
    "test_other.py::testmod":
        "doctest.testmod, imported into test_other's namespace and collected by accident; it "
        "runs no einops test",
    "test_other.py::test_backends_installed":
        "checks that einops' backend classes for EINOPS_TEST_BACKENDS instantiate",
    "test_other.py::test_optimize_transformations_numpy":
        "tests einops' private _optimize_transformation",
    "test_other.py::test_parse_shape_symbolic[NOTSET]": _NO_SYMBOLIC,
    "test_other.py::test_parse_shape_symbolic_ellipsis[NOTSET]": _NO_SYMBOLIC,
    "test_other.py::test_is_float_type": "tests is_float_type of einops' backend objects",
    "test_other.py::test_torch_compile_for_layers": _LAYERS,
    "test_other.py::test_einops_threading":
        "runs einops itself on torch and numpy in a subprocess (einops issue #391)",
    "test_parsing.py::test_anonymous_axes":
        "tests einops.parsing directly (tensorcalc reuses that parser; "
        "tests/einops_ext/test_adapter.py pins it)",
    "test_parsing.py::test_elementary_axis_name": "tests einops.parsing directly",
    "test_parsing.py::test_invalid_expressions": "tests einops.parsing directly",
    "test_parsing.py::test_parse_expression": "tests einops.parsing directly",
}

#: einops test -> the backend whose arrays it needs; skipped (as einops skips it, but with
#: this reason) when that backend is not in EINOPS_TEST_BACKENDS.
NEEDS_BACKEND: dict[str, str] = {
    "test_examples.py::test_pytorch_yolo_fragment": "torch",
    # compares the gradients of backends whose tensors have .grad: only torch among those
    # installed; without it the test calls nothing
    "test_ops.py::test_gradients_imperatives": "torch",
    "test_ops.py::test_torch_compile_with_dynamic_shape": "torch",
    "test_other.py::test_torch_compile_for_functions": "torch",
}

#: einops test -> why tensorcalc differs on purpose; run as strict expected failures.
KNOWN_DIFFERENCES: dict[str, str] = {
    "test_einsum.py::test_functional_errors":
        "its last checks expect einsum('i j k -> i', x) and einsum('i j k -> i') to be "
        "rejected (pattern first); tc.einsum is also numpy.einsum, for which that is the "
        "subscripts-first form (the spaced pattern is accepted, as numpy does). Every other "
        "check of this test is repeated against tc.einsum in "
        "tests/einops_ext/test_einops_compat.py",
}

_ORIGINALS: dict[str, Any] = {}
_CALLS: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
_LIBRARIES: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
_OUTCOMES: dict[str, dict[str, Any]] = {}
_CURRENT = ["<collection>"]


def short_id(nodeid: str) -> str:
    """``einops/tests/test_ops.py::test_x`` (as pytest names it) -> ``test_ops.py::test_x``."""
    return nodeid.rsplit("/", 1)[-1]


def tested_backends() -> list[str]:
    """The backends of ``EINOPS_TEST_BACKENDS`` (einops' own parsing of it: comma-separated)."""
    return [b.strip() for b in os.environ.get("EINOPS_TEST_BACKENDS", "numpy").split(",")
            if b.strip()]


def _library(args: tuple) -> str:
    """The backend (tensorcalc's name: ``numpy``, ``torch``, ``jax``...) of a call's first
    array argument (a list's first element for ``pack``; numpy's einsum form puts the
    subscripts first)."""
    for arg in args:
        if isinstance(arg, (list, tuple)) and arg:
            arg = arg[0]
        if not isinstance(arg, str):
            row = detect(arg)
            return "numpy" if row is None else row.name
    return "none"


def _note(test: str, name: str, library: str) -> None:
    """Count one call. With torch tested, torch.compile runs this as it is while it traces
    (``assume_constant_result``, see :func:`pytest_configure`): traced, the counts would be
    guarded values, a new graph at every call."""
    _CALLS[test][name] += 1
    _LIBRARIES[test][library] += 1


def _counting(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _note(_CURRENT[0], name, _library(args))
        return function(*args, **kwargs)

    return wrapper


_WRAPPED = {name: _counting(name, function) for name, function in REPLACEMENTS.items()}


def _testmod_with_tensorcalc(m: Any = None, *args: Any, extraglobs: Any = None,
                             **kwargs: Any) -> Any:
    """doctest.testmod, with tensorcalc's functions in the globals of einops.einops' doctests."""
    if m is sys.modules.get("einops.einops"):
        extraglobs = {**(extraglobs or {}), **_WRAPPED}
    return doctest.testmod(m, *args, extraglobs=extraglobs, **kwargs)


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("EINOPS_TEST_BACKENDS", "numpy")
    if "torch" in tested_backends():
        import torch

        torch.compiler.assume_constant_result(_note)
    for name, wrapper in _WRAPPED.items():
        _ORIGINALS[name] = getattr(einops, name)
        setattr(einops, name, wrapper)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    # the test modules are imported now: rebind the names they imported from einops
    for module_name, module in list(sys.modules.items()):
        if not module_name.startswith("einops.tests") or module is None:
            continue
        for name, wrapper in _WRAPPED.items():
            if getattr(module, name, None) is _ORIGINALS[name]:
                setattr(module, name, wrapper)
        if getattr(module, "testmod", None) is doctest.testmod:
            module.testmod = _testmod_with_tensorcalc
    tested = tested_backends()
    for item in items:
        key = short_id(item.nodeid)
        if key in NOT_APPLICABLE:
            item.add_marker(pytest.mark.skip(reason=f"not applicable: {NOT_APPLICABLE[key]}"),
                            append=False)  # before pytest's own skip of empty parameter sets
        elif key in NEEDS_BACKEND and NEEDS_BACKEND[key] not in tested:
            item.add_marker(pytest.mark.skip(reason=f"backend not tested: needs "
                                                    f"{NEEDS_BACKEND[key]}, not in "
                                                    f"EINOPS_TEST_BACKENDS={','.join(tested)}"))
        elif key in KNOWN_DIFFERENCES:
            item.add_marker(pytest.mark.xfail(reason=KNOWN_DIFFERENCES[key], strict=True))


def pytest_unconfigure(config: pytest.Config) -> None:
    for name, original in _ORIGINALS.items():
        setattr(einops, name, original)


def pytest_runtest_setup(item: pytest.Item) -> None:
    _CURRENT[0] = short_id(item.nodeid)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    key = short_id(report.nodeid)
    if hasattr(report, "wasxfail"):
        outcome = "xfailed" if report.skipped else "xpassed"
    elif report.when != "call" and report.passed:
        return
    else:
        outcome = report.outcome
    entry = _OUTCOMES.setdefault(key, {"outcome": outcome})
    if entry["outcome"] == "passed" or outcome != "passed":
        entry["outcome"] = outcome  # a failing teardown overrides a passing call
    if report.skipped and not hasattr(report, "wasxfail"):
        entry["reason"] = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else ""
    if report.failed:
        entry["error"] = str(report.longrepr)[-2000:]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get("TC_EINOPS_SUITE_REPORT")
    if not path:
        return
    for key, entry in _OUTCOMES.items():
        entry["calls"] = dict(_CALLS.get(key, {}))
        entry["libraries"] = dict(_LIBRARIES.get(key, {}))
    with open(path, "w", encoding="utf-8") as stream:
        json.dump(_OUTCOMES, stream, indent=1, sort_keys=True)
