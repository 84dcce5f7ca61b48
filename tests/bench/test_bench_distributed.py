"""Smoke test of ``bench/distributed.py --quick``: a LocalCluster of worker processes, every
problem by the three variants, the same results, the task-count target, and the
out-of-memory case completing without a restarted worker."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("distributed", reason="dask.distributed is not installed")
pytest.importorskip("zarr", reason="zarr is not installed")
pytest.importorskip("opt_einsum", reason="opt_einsum is not installed")

ROOT = Path(__file__).resolve().parents[2]
PROBLEMS = ("logistic-grad", "logistic-hessian", "logistic-hvp", "lstsq-grad")


def test_distributed_quick_runs_every_problem_and_agrees(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "distributed.py"), "--quick", "--json", str(out),
         "--dir", str(tmp_path)],
        capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("dask, X of 200000 x 16 float64")
    assert lines[1].split()[:4] == ["problem", "tc", "tasks", "hand"]
    payload = json.loads(out.read_text())
    problems = payload["main"]["problems"]
    assert sorted(problems) == sorted(PROBLEMS)
    for name in PROBLEMS:
        row = next(line for line in lines if line.startswith(name + " "))
        assert "nan" not in row
        cells = problems[name]
        for variant in ("tc", "hand", "oe"):
            assert cells[variant]["rel_error"] <= 1e-12, (name, variant, cells[variant])
            assert cells[variant]["wall"] > 0 and cells[variant]["tasks"] > 0
        # the fused graph: at most a third of the one-op-at-a-time graph's tasks
        assert 3 * cells["tc"]["tasks"] <= cells["oe"]["tasks"], (name, cells)
    big = payload["big"]
    assert big["restarts"] == 0 and max(big["rel_errors"]) < 1e-10
    assert any(line.startswith("out of memory:") and line.endswith("OK") for line in lines)
    assert not list(tmp_path.glob("tc-bench-*"))  # the zarr stores are removed
