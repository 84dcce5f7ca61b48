"""Smoke tests of issue 12's benchmark parts: ``--busy``, the machine limits, the scaling script.

Scripts run as a user runs them, ``--quick`` and with numpy and tensorcalc columns only, so that
no test needs torch or JAX; together they take about 15 s.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]  # the repository
if str(ROOT) not in sys.path:  # `bench` is a folder of the repository, not an installed package
    sys.path.insert(0, str(ROOT))

from bench import _harness as h  # noqa: E402
from bench import contract, limits, scaling  # noqa: E402


def _script(script: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args],
                          capture_output=True, text=True, timeout=120, cwd=cwd)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _rows(lines: list[str], title: str, names: list[str]) -> dict[str, list[str]]:
    """The rows of the table whose title line starts with ``title``, split on blanks."""
    start = next(k for k, line in enumerate(lines) if line.startswith(title))
    rows = {}
    for line in lines[start + 3:]:
        if not line.strip() or line.split()[0] not in names:
            break
        rows[line.split()[0]] = line.split()
    assert sorted(rows) == sorted(names), (title, lines[start:start + 3 + len(names)])
    return rows


def test_busy_prints_quiet_busy_and_slowdown_tables(tmp_path):
    names = ["matmul", "small-mps"]
    out = tmp_path / "busy.json"
    proc = _script("contract.py", "--quick", "--busy", "--busy-size", "128", "--libs",
                   "numpy-opt,tc-expr", "--cases", ",".join(names), "--json", str(out),
                   cwd=tmp_path)
    lines = proc.stdout.splitlines()
    assert lines[0].endswith("quiet machine")
    busy = _rows(lines, "Contractions, float64, median per call (--quick sizes), busy", names)
    load = _rows(lines, "Slowdown under load", names)
    header = lines[next(k for k, line in enumerate(lines) if line.startswith("Slowdown")) + 1]
    assert header.split() == ["case", "np-opt", "tc.expr", "worst", "peer", "tc/best", "busy",
                              "check"]
    for name in names:
        assert busy[name][-2] == "np-opt" and float(busy[name][-1]) > 0
        np_slowdown, tc_slowdown, worst = (float(v.rstrip("x")) for v in load[name][1:4])
        assert worst == np_slowdown > 0 and tc_slowdown > 0  # numpy-opt is the only peer
        assert " ".join(load[name][5:]) in ("ok", "slows more", ">1.5x behind",
                                            "slows more, >1.5x behind"), load[name]
    assert any(line.startswith("under load: tc.expr passes") for line in lines)
    assert "running tc-expr (pass 1/1, busy) ..." in proc.stderr.splitlines()
    payload = json.loads(out.read_text())
    assert payload["mismatches"] == []
    for phase in ("results", "busy"):
        for lib in ("numpy-opt", "tc-expr"):
            cells = payload[phase][lib]["cells"]
            assert all(cells[name]["time"] > 0 for name in names), (phase, lib)


def test_busy_neighbour_runs_while_the_block_runs_and_ends_after():
    psutil = pytest.importorskip("psutil")
    with h.busy_neighbour(64) as proc:
        assert proc.poll() is None
        process = psutil.Process(proc.pid)
        before = process.cpu_times().user
        time.sleep(0.3)
        assert process.cpu_times().user > before  # it computes, it does not sleep
    assert proc.poll() is not None


def test_limits_table_classifies_every_case(tmp_path):
    out = tmp_path / "limits.json"
    proc = _script("contract.py", "--quick", "--limits", "--libs", "tc-expr", "--json",
                   str(out), cwd=tmp_path)
    lines = proc.stdout.splitlines()
    rows = _rows(lines, "Fraction of the machine's limit", contract.CASE_NAMES)
    for name, row in rows.items():
        assert row[1] in ("GEMM", "bandwidth"), row
        assert 0 < float(row[7]) < 100, row  # tc frac: limit / measured time
    assert any(line.startswith("machine limits (best measured in this run): dgemm 256^3")
               for line in lines)
    machine = json.loads(out.read_text())["limits"]["_machine"]
    assert machine["dgemm"] > 1e8 and machine["read_bw"] > 1e8 and machine["write_bw"] > 1e8


def test_full_size_cases_fall_on_the_expected_side_of_the_roofline():
    """On a machine of 100 GFLOP/s and 20 GB/s (balance 5 FLOP/byte) the GEMM-like cases are
    GEMM-bound and the elementwise, diagonal and matrix-vector ones bandwidth-bound (the tiny
    cases are left out: per-call overhead bounds them, whatever side they fall on)."""
    gemm = {"matmul", "batched-matmul", "chain3", "transpose-contract", "three-operand",
            "attention-scores"}
    # the MPS overlap contracts bond-256 matrices with physical-4 vectors: about 1 FLOP/byte
    bandwidth = {"bilinear", "trace", "diagonal", "hadamard-sum", "hadamard-rowsum", "outer",
                 "batched-matvec", "mps-overlap"}
    for case in contract.CASES:
        if case.name not in gemm | bandwidth:
            continue
        counts = limits.case_counts(case.subscripts, case.shapes())
        bound = limits.roofline(**counts, gemm_rate=1e11, read_bw=2e10, write_bw=2e10)
        assert bound["bound"] == ("GEMM" if case.name in gemm else "bandwidth"), case.name
    matmul = limits.case_counts("ij,jk->ik", [(1024, 1024)] * 2)
    assert matmul == {"flops": 2 * 1024.0**3, "read_bytes": 2 * 8 * 1024.0**2,
                      "write_bytes": 8 * 1024.0**2}
    # a diagonal reads one cache line per entry, not the whole matrix
    assert limits.case_counts("ii->", [(2048, 2048)])["read_bytes"] == 2048 * 64


def test_scaling_quick_writes_table_memory_and_plot(tmp_path):
    pytest.importorskip("matplotlib")
    plot, out = tmp_path / "plots" / "scaling.png", tmp_path / "scaling.json"
    proc = _script("scaling.py", "--quick", "--libs", "numpy-opt,tc-expr", "--cases",
                   "matmul,4index", "--out", str(plot), "--json", str(out), cwd=tmp_path)
    lines = proc.stdout.splitlines()
    points = [p for f in ("matmul", "4index") for p in scaling._family(f).points(quick=True)]
    rows = _rows(lines, "Scaling: time against size", points)
    assert all("MISMATCH" not in row and "ERR" not in row for row in rows.values())
    largest = ["matmul@64", "4index@6"]
    _rows(lines, "Peak memory of 4 calls", largest)
    assert f"plot: {plot}" in lines
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    payload = json.loads(out.read_text())
    assert payload["plot"] == str(plot) and payload["mismatches"] == []
    for lib in ("numpy-opt", "tc-expr"):
        assert sorted(payload["memory"][lib]["cells"]) == sorted(largest)
        assert all(cell["peak"] >= 0 for cell in payload["memory"][lib]["cells"].values())


def test_memory_worker_sees_the_output_of_every_call():
    """An 8 MB result per call must show as at least 8 MB of peak growth (numpy allocates it
    outside the Python heap, where tracemalloc would not look), and four calls that free their
    result must not add up to four results."""
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "scaling.py"), "--worker",
                           "numpy-opt", "--memory", "--cases", "hadamard@1024"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    line = next(line for line in proc.stdout.splitlines() if line.startswith(h.MARKER))
    cell = json.loads(line[len(h.MARKER):])["cell"]
    assert cell["output"] == 8 * 1024**2
    assert cell["output"] * 0.95 <= cell["peak"] < 2.5 * cell["output"], cell


def test_plot_is_skipped_with_a_note_without_matplotlib(tmp_path, monkeypatch):
    real = scaling.importlib.import_module

    def no_matplotlib(name, *args):
        if name.startswith("matplotlib"):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args)

    monkeypatch.setattr(scaling.importlib, "import_module", no_matplotlib)
    result = h.WorkerResult("tc-expr", {"matmul@4": h.entry(h.Timing([1e-6], calls=1))})
    note = scaling.plot([result], ["matmul@4"], tmp_path / "p.png")
    assert note.startswith("plot skipped: matplotlib is not installed")
    assert not (tmp_path / "p.png").exists()
