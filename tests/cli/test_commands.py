"""The ``tensorcalc`` command, run as ``python -m tensorcalc.cli`` in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tensorcalc import cli

ROOT = Path(__file__).resolve().parents[2]  # the repository


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONIOENCODING="utf-8")
    return subprocess.run([sys.executable, "-m", "tensorcalc.cli", *args], capture_output=True,
                          text=True, env=env, timeout=timeout, cwd=str(ROOT), encoding="utf-8")


def test_grad_prints_every_operand():
    proc = run("grad", "ij,jk->ik")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "ij,jk->ik",
        "  operand 0 (A): ik,jk->ij    G Bᵀ",
        "  operand 1 (B): ik,ij->jk    Aᵀ G",
    ]
    assert proc.stderr == ""


def test_grad_extended_outputs_and_ellipsis():
    proc = run("grad", "ii->")
    assert proc.stdout.splitlines()[1] == "  operand 0 (A): ->ii    G I"
    proc = run("grad", "...ij,...jk->...ik", "--wrt", "0")
    assert proc.returncode == 0
    assert proc.stdout.splitlines()[1] == "  operand 0 (A): ...ik,...jk->...ij"


def test_grad_explain():
    proc = run("grad", "ij,jk->ik", "--explain")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Y_ik = Σ_j A_ij B_jk" in out
    assert out.count("rename") >= 4  # two deltas eliminated per operand
    assert 'einsum: "ik,jk->ij" (G, B)' in out and 'einsum: "ik,ij->jk" (G, A)' in out
    assert "matrix form: G Bᵀ" in out and "matrix form: Aᵀ G" in out


def test_diff_gradient_einsum_and_matrix_form():
    proc = run("diff", "sum((A[i,j] x[j] - b[i])^2)", "--wrt", "x")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        '2 * einsum("ji,j->i", A, einsum("ij,j->i", A, x) - b)',
        "= 2 Aᵀ (A x - b)",
    ]


def test_diff_hessian_latex():
    proc = run("diff", "sum((A[i,j] x[j] - b[i])^2)", "--wrt", "x", "--hessian", "--latex")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == r"2 A^\top A"
    proc = run("diff", "sum((A[i,j] x[j] - b[i])^2)", "--wrt", "x", "--latex", "--notation", "index")
    assert proc.stdout.strip() == r"2 A_{ji} \left(A_{jk} x_{k} - b_{j}\right)"


def test_diff_numpy_source_runs(rng):
    proc = run("diff", "sum((A[i,j] x[j] - b[i])^2)", "--wrt", "x", "--numpy")
    assert proc.returncode == 0, proc.stderr
    namespace: dict = {}
    exec(proc.stdout, namespace)
    A, b, x = rng.normal(size=(5, 3)), rng.normal(size=5), rng.normal(size=3)
    got = namespace["f"](A, b, x)
    assert got.shape == (3,) and got.dtype == np.float64
    assert np.allclose(got, 2 * A.T @ (A @ x - b))


def test_diff_jacobian_layouts():
    num = run("diff", "sigmoid(W[i,j] x[j] + b[i])", "--wrt", "x")
    den = run("diff", "sigmoid(W[i,j] x[j] + b[i])", "--wrt", "x", "--layout", "denominator")
    assert num.returncode == den.returncode == 0
    where = ["where", '  t1 = sigmoid(einsum("ij,j->i", W, x) + b)']
    assert num.stdout.splitlines() == ['einsum("ij,i,i->ij", W, t1, 1 - t1)'] + where + [
        "= diag(t1 ⊙ (1 - t1)) W"]
    assert den.stdout.splitlines() == ['einsum("ji,j,j->ij", W, t1, 1 - t1)'] + where + [
        "= Wᵀ diag(t1 ⊙ (1 - t1))"]


def test_diff_explain():
    proc = run("diff", "sum((A[i,j] x[j] - b[i])^2)", "--wrt", "x", "--explain")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for step in ["f = Σ_i r_i²", "r_i = Σ_j A_ij x_j - b_i", "rename", "∂r_i/∂x_j = A_ij",
                 "∂f/∂x_j = 2 Σ_i r_i A_ij", "matrix form: 2 Aᵀ (A x - b)"]:
        assert step in out, step


def test_parse_error_is_one_message_with_a_column_marker():
    proc = run("diff", "sum((A[i,j] x[j] - b[i])^2", "--wrt", "x")
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("tensorcalc: error: expected ')' to close the call of sum")
    assert lines[1] == "  sum((A[i,j] x[j] - b[i])^2"
    assert lines[2] == "  " + " " * len("sum((A[i,j] x[j] - b[i])^2") + "^"
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("args, fragment", [
    (["diff", "sum(x[i])", "--wrt", "y"], "no variable 'y'"),
    (["diff", "sum(x[i])"], "required: --wrt"),
    (["grad", "ij,jk->ik", "--wrt", "5"], "wrt=5"),
    (["grad", "i1,jk->ik"], "invalid label"),
    (["diff", "x[i]", "--wrt", "x", "--hessian"], "--hessian needs a scalar"),
    (["bench", "nope"], "unknown suite 'nope'"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_exits_2_without_traceback(args, fragment, capsys):
    # In-process (same code path as the console script) to keep the suite fast.
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err


def test_bad_input_through_the_subprocess():
    proc = run("grad", "ij,jk->iq,")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("tensorcalc: error:")


def test_demo_runs_every_section_quickly():
    proc = run("demo", timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "skipped" not in out, out
    assert "L      = 52.0" in out
    assert "∂L/∂y  = [[2.0, 2.0], [10.0, 10.0]]" in out
    assert "∂L/∂X  = [[4.0, 4.0], [20.0, 20.0]]" in out
    assert "∂L/∂W  = [[20.0, 20.0], [32.0, 32.0]]" in out
    assert "ik,jk->ij    = G Bᵀ" in out
    assert r"2 A^\top \left(A x - b\right)" in out and r"2 A^\top A" in out
    assert "same result: True" in out


def test_demo_survives_a_missing_feature(monkeypatch, capsys):
    from tensorcalc import demo

    def broken() -> None:
        raise NotImplementedError("tensorcalc.hessian is not available in this build")

    monkeypatch.setitem(demo.SECTIONS, "least-squares", broken)
    assert demo.run(["least-squares", "gradients"]) == 0
    out = capsys.readouterr().out
    assert "(section 'least-squares' skipped: NotImplementedError" in out
    assert "ik,jk->ij" in out  # the next section still ran


def test_bench_without_a_checkout_says_so(monkeypatch, capsys):
    monkeypatch.setattr(cli, "find_bench_dir", lambda: None)
    assert cli.main(["bench", "contract"]) == 2
    assert "source checkout" in capsys.readouterr().err


def test_bench_runs_the_scripts_of_the_checkout(monkeypatch, tmp_path, capsys):
    # A stand-in checkout: the command must run bench/<name>.py with the repo on the path.
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "_harness.py").write_text("")
    (bench / "contract.py").write_text("import sys\nprint('TABLE', sys.argv[1:])\n")
    monkeypatch.setattr(cli, "find_bench_dir", lambda: bench)
    outputs = []

    def call(cmd, **kw):
        result = subprocess.run(cmd, capture_output=True, text=True, **kw)
        outputs.append((result.stdout, kw["cwd"], kw["env"]["PYTHONPATH"].split(os.pathsep)[0]))
        return result.returncode

    monkeypatch.setattr(cli.subprocess, "call", call)
    assert cli.main(["bench", "contract", "--quick"]) == 0
    assert outputs == [("TABLE ['--quick']\n", str(tmp_path), str(tmp_path))]
    assert "$ python bench/contract.py --quick" in capsys.readouterr().out


def test_the_real_bench_directory_is_found():
    found = cli.find_bench_dir()
    assert found is not None and (found / "contract.py").is_file()


def test_demo_warms_up_before_timing(monkeypatch):
    from tensorcalc import demo

    events: list[str] = []
    clock = iter(range(1000))

    def fake_clock() -> float:
        events.append("clock")
        return float(next(clock))

    monkeypatch.setattr(demo.time, "perf_counter", fake_clock)
    demo._median_time(lambda: events.append("call"), repeat=3)
    assert events[0] == "call"  # the first call is not timed
    assert events.count("call") == 4 and events[1:] == ["clock", "call", "clock"] * 3


def test_demo_times_every_contraction_warm_and_shows_the_planner(monkeypatch, capsys):
    from tensorcalc import demo

    timed: list[int] = []
    real = demo._median_time

    def spy(fn, repeat=7):
        timed.append(repeat)
        return real(fn, repeat)

    monkeypatch.setattr(demo, "_median_time", spy)
    assert demo.run(["contraction", "planner"]) == 0
    out = capsys.readouterr().out
    assert "skipped" not in out, out
    assert len(timed) == 5  # every timing goes through the warm-up
    assert '5. Where the planner matters: the chain "ij,jk,kl->il"' in out
    assert "planned order [(1, 2), (0, 1)]" in out
    assert "numpy.einsum(optimize=False)" in out and "tensorcalc is" in out
    assert out.count("same result: True") == 2
