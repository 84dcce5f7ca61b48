"""Long benchmarks say what they are doing: progress lines on stderr, per library pass and case.

Each script runs as a user runs it (``python bench/<suite>.py --quick``) on a couple of cases.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
if str(ROOT) not in sys.path:  # `bench` is a folder of the repository, not an installed package
    sys.path.insert(0, str(ROOT))

from bench import rearrange  # noqa: E402


def _run(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / script), "--quick", *args],
                          capture_output=True, text=True, timeout=300, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_contract_prints_progress_per_pass_and_case(tmp_path):
    proc = _run("contract.py", "--libs", "numpy,tc-einsum", "--cases", "matmul,chain3",
                cwd=tmp_path)
    err = proc.stderr.splitlines()
    assert err == ["running numpy (pass 1/1) ...", "  matmul: done", "  chain3: done",
                   "running tc-einsum (pass 1/1) ...", "  matmul: done", "  chain3: done"], err
    assert "running" not in proc.stdout  # progress never mixes into the table


def test_derivatives_prints_progress_per_pass_and_case(tmp_path):
    proc = _run("derivatives.py", "--libs", "tc,numpy", "--cases", "quadratic-256",
                "--depths", "4", cwd=tmp_path)
    err = proc.stderr
    for line in ("running tc (pass 1/1) ...", "running numpy (pass 1/1) ...",
                 "  quadratic-256: done", "  chain-4: done"):
        assert line in err.splitlines(), err
    assert err.count("  quadratic-256: done") == 2


def test_rearrange_prints_progress_per_group_and_case(tmp_path):
    proc = _run("rearrange.py", "--repeats", "3", cwd=tmp_path)
    err = proc.stderr.splitlines()
    for size in rearrange.SHAPES:
        assert any(line.startswith(f"running {size} cases") for line in err), err
        for label, *_ in rearrange.CASES:
            assert f"  {size}: {label} ..." in err, err
