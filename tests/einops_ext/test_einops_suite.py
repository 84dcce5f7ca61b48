"""einops' own test suite, run with einops' functions replaced by tensorcalc's.

The suite ships in the einops wheel (``einops.tests``). A subprocess runs it on the backends
installed here (:data:`BACKENDS`: numpy, plus torch and JAX when importable) with
:mod:`tests.einops_ext.einops_suite_plugin`, which puts ``tc.rearrange``, ``tc.reduce``,
``tc.repeat``, ``tc.einsum``, ``tc.pack``, ``tc.unpack``, ``tc.parse_shape`` and
``tc.asnumpy`` in place of einops' and records, per test, its outcome and its calls to
tensorcalc with the backend of their arrays. Every applicable test must pass *and* must have
called tensorcalc on exactly the backends it runs (a test that loops over absent backends
would otherwise pass vacuously); the others are skipped with the reasons in
``NOT_APPLICABLE`` of the plugin, or, needing an absent backend (``NEEDS_BACKEND``), as not
tested.

The lists below are einops 0.8.2's tests; a new einops release that adds, renames or drops a
test fails here first: re-classify it in the plugin and here.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.einops_ext.einops_suite_plugin import KNOWN_DIFFERENCES, NEEDS_BACKEND, NOT_APPLICABLE

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "tests.einops_ext.einops_suite_plugin"

#: The backends the suite runs on: numpy, and torch and JAX where installed (found, not
#: imported: this process need not load them).
BACKENDS = ["numpy"] + [b for b in ("torch", "jax") if importlib.util.find_spec(b) is not None]

#: The einops tests that must pass with tensorcalc's functions on every set of backends
#: (einops 0.8.2); the tests of NEEDS_BACKEND pass too when their backend is tested.
ALWAYS_PASSED = {
    "test_einsum.py::test_functional",
    "test_examples.py::test_rearrange_examples",
    "test_ops.py::test_anonymous_axes",
    "test_ops.py::test_collapsed_ellipsis_errors_out",
    "test_ops.py::test_concatenations_and_stacking",
    "test_ops.py::test_ellipsis_ops_imperative",
    "test_ops.py::test_ellipsis_ops_numpy",
    "test_ops.py::test_list_inputs",
    "test_ops.py::test_rearrange_array_api",
    "test_ops.py::test_rearrange_consistency_numpy",
    "test_ops.py::test_rearrange_permutations_numpy",
    "test_ops.py::test_reduce_array_api",
    "test_ops.py::test_reduction_imperatives",
    "test_ops.py::test_reduction_imperatives_booleans",
    "test_ops.py::test_reduction_stress_imperatives",
    "test_ops.py::test_reduction_with_callable_imperatives",
    "test_ops.py::test_repeat_array_api",
    "test_ops.py::test_repeat_imperatives",
    "test_ops.py::test_repeat_numpy",
    "test_other.py::test_doctests_examples",
    "test_other.py::test_ellipsis",
    "test_other.py::test_failures",
    "test_other.py::test_parse_shape_imperative",
    "test_other.py::test_parse_with_anonymous_axes",
    "test_other.py::test_repeating",
    "test_other.py::test_underscore",
    "test_other.py::test_underscore_one",
    "test_other.py::test_underscore_several",
    "test_packing.py::test_numpy_trivial",
    "test_packing.py::test_pack_unpack_against_numpy",
    "test_packing.py::test_pack_unpack_array_api",
    "test_packing.py::test_pack_unpack_with_numpy",
}
EXPECTED_PASSED = ALWAYS_PASSED | {k for k, b in NEEDS_BACKEND.items() if b in BACKENDS}
UNTESTED = {k for k, b in NEEDS_BACKEND.items() if b not in BACKENDS}

_ALL = {"numpy", "torch", "jax"}
#: The backends whose arrays a passing test hands tensorcalc, of those tested (numpy only
#: when not listed): the tests looping over einops' imperative backends reach every one.
REACHES: dict[str, set[str]] = {
    **dict.fromkeys([
        "test_einsum.py::test_functional",
        "test_examples.py::test_rearrange_examples",
        "test_ops.py::test_concatenations_and_stacking",
        "test_ops.py::test_ellipsis_ops_imperative",
        "test_ops.py::test_reduction_imperatives",
        "test_ops.py::test_reduction_imperatives_booleans",
        "test_ops.py::test_reduction_stress_imperatives",
        "test_ops.py::test_repeat_imperatives",
        "test_other.py::test_ellipsis",
        "test_other.py::test_failures",
        "test_other.py::test_parse_shape_imperative",
        "test_other.py::test_parse_with_anonymous_axes",
        "test_other.py::test_repeating",
        "test_other.py::test_underscore",
        "test_other.py::test_underscore_one",
        "test_other.py::test_underscore_several",
        "test_packing.py::test_pack_unpack_against_numpy"], _ALL),
    # einops runs a callable reduction on numpy and torch only
    "test_ops.py::test_reduction_with_callable_imperatives": {"numpy", "torch"},
    **{k: {b} for k, b in NEEDS_BACKEND.items()},
}

#: Functions each group of tests must have reached through tensorcalc.
MUST_CALL = {
    "test_einsum.py::test_functional": {"einsum"},
    "test_other.py::test_doctests_examples": {"rearrange", "reduce", "repeat", "einsum",
                                              "parse_shape"},
    "test_ops.py::test_reduction_with_callable_imperatives": {"reduce"},
    "test_ops.py::test_list_inputs": {"rearrange", "reduce", "repeat"},
    "test_packing.py::test_pack_unpack_against_numpy": {"pack", "unpack", "asnumpy"},
    "test_examples.py::test_pytorch_yolo_fragment": {"rearrange"},
    "test_ops.py::test_gradients_imperatives": {"reduce"},
    "test_ops.py::test_torch_compile_with_dynamic_shape": {"rearrange", "reduce"},
    "test_other.py::test_torch_compile_for_functions": {"einsum", "pack", "unpack", "rearrange",
                                                        "reduce", "repeat"},
}


@pytest.fixture(scope="module")
def einops_suite(tmp_path_factory: pytest.TempPathFactory) -> dict:
    if importlib.util.find_spec("einops.tests") is None:  # found, not imported: its
        pytest.skip("this einops wheel ships no tests")  # modules need EINOPS_TEST_BACKENDS
    work = tmp_path_factory.mktemp("einops_suite")
    report = work / "report.json"
    env = {**os.environ,
           "EINOPS_TEST_BACKENDS": ",".join(BACKENDS),
           "TC_EINOPS_SUITE_REPORT": str(report),
           "PYTHONDONTWRITEBYTECODE": "1",  # nothing written into site-packages
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("PYTEST_ADDOPTS", None)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", PLUGIN,
               "--pyargs", "einops.tests"]
    run = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True,
                         timeout=900)
    assert report.exists(), (f"einops' suite did not run:\n{run.stdout[-4000:]}\n"
                             f"{run.stderr[-4000:]}")
    results = json.loads(report.read_text())
    results["__run__"] = {"returncode": run.returncode, "stdout": run.stdout[-6000:]}
    return results


def _by_outcome(results: dict, outcome: str) -> set[str]:
    return {k for k, v in results.items() if k != "__run__" and v["outcome"] == outcome}


def test_einops_suite_passes_with_tensorcalc(einops_suite):
    failed = {k: einops_suite[k].get("error", "")
              for k in _by_outcome(einops_suite, "failed") | _by_outcome(einops_suite, "xpassed")}
    assert not failed, "einops tests failing with tensorcalc:\n" + "\n\n".join(
        f"{k}:\n{v}" for k, v in sorted(failed.items()))
    assert einops_suite["__run__"]["returncode"] == 0, einops_suite["__run__"]["stdout"]
    passed = _by_outcome(einops_suite, "passed")
    assert passed == EXPECTED_PASSED, (sorted(passed - EXPECTED_PASSED),
                                       sorted(EXPECTED_PASSED - passed))
    assert len(ALWAYS_PASSED) == 32 and len(NEEDS_BACKEND) == 4  # the lists as reviewed


def test_einops_suite_ran_every_installed_backend(einops_suite):
    """Each backend reached tensorcalc in exactly the tests that run it (torch and JAX arrays
    go through tensorcalc's functions, not around them)."""
    for key in _by_outcome(einops_suite, "passed"):
        assert set(einops_suite[key]["libraries"]) == REACHES.get(key, {"numpy"}) & set(BACKENDS), \
            (key, einops_suite[key]["libraries"], BACKENDS)


def test_every_passing_einops_test_ran_tensorcalc(einops_suite):
    """No vacuous passes: each passing test called tensorcalc's functions."""
    for key in _by_outcome(einops_suite, "passed"):
        assert einops_suite[key]["calls"], f"{key} passed without calling tensorcalc"
    for key, names in MUST_CALL.items():
        if key in EXPECTED_PASSED:
            assert names <= set(einops_suite[key]["calls"]), (key, einops_suite[key]["calls"])


def test_non_applicable_einops_tests_are_exactly_the_listed_ones(einops_suite):
    skipped = _by_outcome(einops_suite, "skipped")
    expected = set(NOT_APPLICABLE) | UNTESTED
    assert skipped == expected, (sorted(skipped - expected), sorted(expected - skipped))
    for key in skipped:
        why = "not applicable" if key in NOT_APPLICABLE else "backend not tested"
        assert why in einops_suite[key]["reason"], einops_suite[key]
    assert _by_outcome(einops_suite, "xfailed") == set(KNOWN_DIFFERENCES)
    assert len(NOT_APPLICABLE) == 29  # the list as reviewed
