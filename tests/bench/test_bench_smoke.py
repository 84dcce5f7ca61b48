"""Smoke tests of the benchmark scripts: every case runs, prints, and agrees with numpy.

The scripts run as a user runs them (``python bench/<suite>.py --quick``) in a subprocess,
only with numpy and tensorcalc columns so that the test needs no torch or JAX and stays fast.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]  # the repository
if str(ROOT) not in sys.path:  # `bench` is a folder of the repository, not an installed package
    sys.path.insert(0, str(ROOT))

from bench import _harness as h  # noqa: E402
from bench import contract, derivatives  # noqa: E402
from tests.helpers import oracle_hessian, oracle_jacobian  # noqa: E402


def _run(script: str, libs: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--quick", "--libs", libs,
         "--json", str(out)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc, json.loads(out.read_text())


def _assert_timed(cells: dict, names: list[str], tolerance: float) -> None:
    assert sorted(cells) == sorted(names)
    for name, cell in cells.items():
        assert cell["error"] is None, (name, cell["error"])
        assert 0 < cell["time"] < 10, (name, cell)
        assert cell["samples"] == 3
        assert cell["rel_error"] <= tolerance, (name, cell["rel_error"])


def test_contract_quick_runs_every_case_and_agrees(tmp_path):
    proc, payload = _run("contract.py", "numpy,numpy-opt,tc-einsum,tc-expr", tmp_path)
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("Contractions, float64")
    assert lines[1].split() == ["case", "subscripts", "np", "np-opt", "tc.einsum", "tc.expr",
                                "best", "peer", "tc/best"]
    for case in contract.CASES:
        row = next(line for line in lines if line.startswith(case.name + " "))
        assert case.subscripts in row
        assert "MISMATCH" not in row and "ERR" not in row
    assert any(line.startswith("tc.expr at or below") for line in lines)
    assert payload["mismatches"] == []
    for lib in ("numpy", "numpy-opt", "tc-einsum", "tc-expr"):
        assert payload["results"][lib]["unavailable"] is None
        _assert_timed(payload["results"][lib]["cells"], contract.CASE_NAMES, 1e-9)


def test_derivatives_quick_runs_every_problem_and_agrees(tmp_path):
    proc, payload = _run("derivatives.py", "numpy,tc", tmp_path)
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("Derivatives, float64")
    for name in derivatives.PROBLEM_NAMES:
        row = next(line for line in lines if line.startswith(name + " "))
        assert "MISMATCH" not in row and "ERR" not in row
    assert payload["mismatches"] == []
    _assert_timed(payload["results"]["numpy"]["cells"], derivatives.PROBLEM_NAMES, 0.0)
    tc_result = payload["results"]["tc"]
    if tc_result["unavailable"] is not None:
        # The expression layer is still being written: the worker must say so cleanly.
        assert "not available: tensorcalc has no tc." in tc_result["unavailable"]
    else:
        _assert_timed(tc_result["cells"], derivatives.PROBLEM_NAMES, 1e-8)
        assert all(cell["cold"] > 0 for cell in tc_result["cells"].values())


def test_unknown_case_is_rejected():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "contract.py"), "--cases", "matmul,nope"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode != 0
    assert "unknown case: nope" in proc.stderr


@pytest.mark.parametrize("problem", derivatives.PROBLEMS, ids=derivatives.PROBLEM_NAMES)
def test_closed_forms_pass_the_gradient_oracle(problem):
    """The reference every worker is checked against is itself right: the family's function,
    built in tensorcalc, has numpy's value; its derivatives pass the gradient oracle; and the
    closed form equals the derivative the oracle vouches for, entry by entry."""
    import tensorcalc

    inputs = problem.inputs(quick=True)
    function, wrt = derivatives.FAMILIES[problem.family].tc_fn(tensorcalc, **inputs)
    np.testing.assert_allclose(function.evaluate(**inputs), _value(problem, inputs),
                               rtol=1e-12, atol=1e-12)
    if problem.kind == "hessian":
        reference = oracle_hessian(function, wrt, inputs)
    else:  # grad of a scalar or Jacobian of a vector function
        reference = oracle_jacobian(function, wrt, inputs)
    closed = problem.closed_form(inputs)
    assert closed.shape == reference.shape
    np.testing.assert_allclose(closed, reference, rtol=1e-8, atol=1e-8)


def _value(problem, inputs: dict) -> np.ndarray:
    fn = derivatives.FAMILIES[problem.family].xp_fn(np)
    return np.asarray(fn(*inputs.values()))


def test_measure_reports_median_of_adaptive_samples():
    calls = []
    timing = h.measure(lambda: calls.append(1), target=0.01)
    assert timing.samples >= 3
    assert len(calls) == timing.calls + 4  # the warm-up and 3 estimate calls are not counted
    assert 0 < timing.best <= timing.median < 1e-3


def test_relative_error_and_format_time():
    ref = np.array([1.0, -4.0])
    assert h.relative_error(ref + [0.0, 2e-3], ref) == pytest.approx(5e-4)
    assert h.relative_error(np.zeros(3), ref) == math.inf
    assert [h.format_time(t) for t in (5e-7, 2.5e-4, 0.5, 12.0, None)] == \
        ["0.50µs", "250.0µs", "500.0ms", "12.00s", "n/a"]


def test_run_worker_keeps_results_reported_before_a_crash(tmp_path):
    script = tmp_path / "dying_worker.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from bench import _harness as h\n"
        "h.emit_cell('first', h.entry(error=None, time=1e-3))\n"
        "sys.exit(3)\n"
    )
    result = h.run_worker(str(script), "lib", ["first", "second"], [], timeout=60)
    assert result.unavailable is None
    assert result.cells["first"]["time"] == 1e-3
    assert result.cells["second"]["error"] == "worker exited with code 3"
    assert h.cell_text(result, "first") == "1.00ms"
    assert h.cell_text(result, "second") == "ERR"


def _tc_package():
    import tensorcalc

    missing = [name for name in derivatives._TC_API if not hasattr(tensorcalc, name)]
    if missing:
        pytest.skip(f"tensorcalc does not export {missing} yet")
    return tensorcalc


@pytest.mark.parametrize("problem", derivatives.PROBLEMS, ids=derivatives.PROBLEM_NAMES)
def test_tc_worker_derivatives_match_closed_forms(problem):
    prepare = derivatives._tc_prepare(_tc_package())
    cell = derivatives.run_problem("tc", prepare, problem, h.Budget(quick=True))
    assert cell["error"] is None and "mismatch" not in cell, cell
    assert cell["rel_error"] <= 1e-8
    assert cell["cold"] > 0 and cell["time"] > 0


def test_rounds_pool_the_samples_of_every_pass(tmp_path):
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "contract.py"), "--cases", "small-matmul,trace",
         "--libs", "numpy-opt,tc-expr", "--rounds", "2", "--target", "0.02", "--json", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr.count("(pass 2/2)") == 2
    for lib, result in json.loads(out.read_text())["results"].items():
        for case, cell in result["cells"].items():
            assert cell["passes"] == 2 and cell["samples"] == len(cell["times"]) >= 4, (lib, case)
            assert cell["time"] == pytest.approx(float(np.median(cell["times"])))


def test_merge_cells_keeps_a_failure_and_pools_samples():
    ok = [h.entry(h.Timing([1.0, 3.0], calls=2), cold=1.0, rel_error=0.0),
          h.entry(h.Timing([2.0, 5.0, 6.0], calls=3), cold=3.0, rel_error=1e-12)]
    merged = h.merge_cells(ok)
    assert (merged["time"], merged["best"], merged["calls"]) == (3.0, 1.0, 5)
    assert merged["samples"] == 5 and merged["cold"] == 2.0 and merged["rel_error"] == 1e-12
    failed = h.entry(mismatch="MISMATCH x", rel_error=1.0)
    assert h.merge_cells([ok[0], failed]) is failed


def test_stat_best_shows_the_fastest_sample():
    result = h.WorkerResult("lib", {"case": h.entry(h.Timing([3.0, 1.0, 2.0], calls=3))})
    h.use_statistic(result, "best")
    assert result.cells["case"]["time"] == 1.0 and result.cells["case"]["median"] == 2.0
    assert h.cell_text(result, "case") == "1.00s"
