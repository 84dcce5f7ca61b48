"""Smoke test of the HVP columns of ``bench/derivatives.py``: the compiled gradient and
Hessian-vector product of every scalar problem run and agree with their closed forms."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import derivatives  # noqa: E402


def test_grad_and_hvp_columns_run_and_agree(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "derivatives.py"), "--quick", "--libs",
         "tc-grad,tc-hvp", "--json", str(out)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert "tc grad" in lines[1] and "tc hvp" in lines[1]
    payload = json.loads(out.read_text())
    assert payload["mismatches"] == []
    scalar = [p.name for p in derivatives.PROBLEMS if "hessian" in derivatives.FAMILIES[p.family].closed]
    # every problem whose closed form has a Hessian takes part (the Jacobians and the
    # gradient-only problems do not): at least the quadratic, logistic and lstsq families
    assert {"quadratic", "logistic", "lstsq"} <= {
        p.family for p in derivatives.PROBLEMS if p.name in scalar}
    for lib in ("tc-grad", "tc-hvp"):
        cells = payload["results"][lib]["cells"]
        for name in derivatives.PROBLEM_NAMES:
            if name in scalar:
                assert cells[name]["error"] is None, (lib, name, cells[name]["error"])
                assert cells[name]["rel_error"] <= 1e-8
            else:
                assert cells[name]["error"].startswith("skip")
    summary = next(line for line in lines if line.startswith("tc hvp/grad:"))
    assert all(name in summary for name in scalar)
