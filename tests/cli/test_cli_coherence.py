"""A coherent command line: options honoured together, expressions that start with '-',
values at numbers, quiet ends (closed pipes, deep nesting, empty input), a bench that says
why it cannot run, and a fast ``--version``."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import tensorcalc
from tensorcalc import cli

ROOT = Path(tensorcalc.__file__).resolve().parent.parent


def env() -> dict:
    e = dict(os.environ, PYTHONIOENCODING="utf-8")
    e["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), e.get("PYTHONPATH", "")) if p)
    return e


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


# ----------------------------------------------------------------------------- --explain

LSQ = "sum((A[i,j] x[j] - b[i])^2)"
LAYER = "sigmoid(W[i,j] x[j] + b[i])"


def test_explain_honours_the_layout(capsys) -> None:
    _, jax, _ = run(capsys, "diff", LAYER, "--wrt", "x", "--explain")
    status, den, err = run(capsys, "diff", LAYER, "--wrt", "x", "--explain", "--layout", "denominator")
    assert status == 0, err
    assert "Result (tc.jacobian, simplified)" in jax
    assert "Result (tc.jacobian, layout='denominator', simplified)" in den
    assert den.splitlines()[-1] == "  matrix form: Wᵀ diag(σ(W x + b) ⊙ (1 - σ(W x + b)))"
    assert jax.splitlines()[-1] == "  matrix form: diag(σ(W x + b) ⊙ (1 - σ(W x + b))) W"


def test_explain_honours_latex_and_numpy(capsys) -> None:
    status, out, err = run(capsys, "diff", LSQ, "--wrt", "x", "--explain", "--latex")
    assert status == 0, err
    assert out.splitlines()[-1] == r"  LaTeX: 2 A^\top \left(A x - b\right)"
    status, out, err = run(capsys, "diff", LSQ, "--wrt", "x", "--explain", "--numpy")
    assert status == 0, err
    code = out[out.index("  numpy:\n") + len("  numpy:\n"):]
    namespace: dict = {}
    exec("\n".join(line[4:] for line in code.splitlines()), namespace)
    A, b, x = np.arange(6.0).reshape(3, 2), np.ones(3), np.array([1.0, -1.0])
    np.testing.assert_allclose(namespace["f"](A, b, x), 2 * A.T @ (A @ x - b))


def test_explain_covers_the_hessian(capsys) -> None:
    status, out, err = run(capsys, "diff", LSQ, "--wrt", "x", "--explain", "--hessian")
    assert status == 0, err
    lines = out.splitlines()
    assert "Gradient (tc.grad, simplified)" in lines
    assert "  matrix form: 2 Aᵀ (A x - b)" in lines  # the gradient's derivation and result
    assert any("Jacobian of the gradient" in line for line in lines)
    assert "∂g_i/∂x_j = 2 Σ_k A_ki A_kj" in out  # the second derivation
    assert lines[-1] == "  matrix form: 2 Aᵀ A"
    status, out, _ = run(capsys, "diff", LSQ, "--wrt", "x", "--explain", "--hessian", "--latex")
    assert out.splitlines()[-1] == r"  LaTeX: 2 A^\top A"


def test_layout_choices_and_default(capsys) -> None:
    _, default, _ = run(capsys, "diff", "sum(X[i,j]^2)", "--wrt", "X", "--jacobian", "--numpy")
    _, numerator, _ = run(capsys, "diff", "sum(X[i,j]^2)", "--wrt", "X", "--jacobian", "--numpy",
                          "--layout", "numerator")
    assert "return 2 * X\n" in default and "X.T" not in default and "X.T" in numerator
    status, _, err = run(capsys, "diff", "x[i]", "--wrt", "x", "--layout", "rows")
    assert status == 2 and "'jax', 'numerator', 'denominator'" in err


# ----------------------------------------------------------------------------- arguments

@pytest.mark.parametrize("argv", [
    ["diff", "-sum(x[i]*x[i])", "--wrt", "x"],
    ["diff", "--wrt", "x", "-sum(x[i]*x[i])"],
    ["diff", "--wrt", "x", "--", "-sum(x[i]*x[i])"],
    ["diff", "--", "-sum(x[i]*x[i])", "--wrt", "x"],      # options after -- still count
    ["diff", "-sum(x[i]*x[i])", "--wrt=x"],
    ["diff", "-sum(x[i]*x[i])", "--wr", "x"],              # an abbreviation, as argparse allows
])
def test_expressions_may_start_with_a_minus(capsys, argv) -> None:
    status, out, err = run(capsys, *argv)
    assert (status, err) == (0, "")
    assert out.splitlines() == ["-2 * x", "= -2 x"]


def test_options_after_the_separator_are_not_lost(capsys) -> None:
    status, out, err = run(capsys, "diff", "--wrt", "x", "--", "-sum(x[i]*x[i])", "--hessian", "--latex")
    assert status == 0, err
    assert "I" in out and "x" not in out.replace(r"\mathrm", "")  # the Hessian, -2 I, in LaTeX
    status, _, err = run(capsys, "diff", "-x[i]", "--wrt", "x", "--bogus")
    assert status == 2 and "--bogus" in err


def test_affine_layer_from_the_notes(capsys) -> None:
    # L = Σ (X W + b)², X = [[0,1],[2,3]], W = ones, b = [1,2]: X W + b = [[2,3],[6,7]]
    status, out, err = run(capsys, "diff", "sum((X[n,d] W[d,m] + b[m])^2)", "--wrt", "b",
                           "--at", "X=[[0,1],[2,3]]", "--at", "W=[[1,1],[1,1]]", "--at", "b=[1,2]")
    assert status == 0, err
    assert out.splitlines()[-2:] == ["  f = 98", "  ∂f/∂b = [16, 20]"]


@pytest.mark.parametrize("text, column", [("sum x[i]", 0), ("x[i] exp[i]", 5)])
def test_function_name_as_a_variable(capsys, text: str, column: int) -> None:
    status, out, err = run(capsys, "diff", text, "--wrt", "x")
    assert status == 2 and out == ""
    lines = err.splitlines()
    assert "is a function" in lines[0] and lines[-1] == "  " + " " * column + "^"


@pytest.mark.parametrize("subscripts", ["", "   "])
def test_empty_subscripts(capsys, subscripts: str) -> None:
    status, out, err = run(capsys, "grad", subscripts)
    assert status == 2 and out == ""
    assert len(err.splitlines()) == 1 and "empty" in err


@pytest.mark.parametrize("depth", [500, 10000])
def test_deep_nesting_is_one_line_exit_2(depth: int) -> None:
    text = "sum(" + "(" * depth + "x[i]" + ")" * depth + ")"
    proc = subprocess.run([sys.executable, "-m", "tensorcalc", "diff", text, "--wrt", "x"],
                          capture_output=True, text=True, env=env(), cwd=str(ROOT), timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and "levels deep" in proc.stderr
    assert "Traceback" not in proc.stderr


# ----------------------------------------------------------------------------- --at

def test_values_at_numbers_the_notes_exercise(capsys) -> None:
    # y = X W, L = Σ y², X = [[0,1],[2,3]], W = ones: L = 52, ∂L/∂W = 2 Xᵀ X W
    status, out, err = run(capsys, "diff", "sum((X[n,d] W[d,m])^2)", "--wrt", "W",
                           "--at", "X=[[0,1],[2,3]]", "--at", "W=[[1,1],[1,1]]")
    assert status == 0, err
    lines = out.splitlines()
    at = lines.index("at X=[[0,1],[2,3]], W=[[1,1],[1,1]]:")
    assert lines[at + 1] == "  f = 52"
    assert lines[at + 2:] == ["  ∂f/∂W = [[20, 20],", "           [32, 32]]"]
    X = np.array([[0.0, 1.0], [2.0, 3.0]])
    np.testing.assert_allclose(2 * X.T @ X @ np.ones((2, 2)), [[20, 20], [32, 32]])


def test_values_with_numpy_output_stay_valid_python(capsys) -> None:
    status, out, err = run(capsys, "diff", "sum(x[i]^3)", "--wrt", "x", "--hessian", "--numpy",
                           "--at", "x=[1, 2]")
    assert status == 0, err
    namespace: dict = {}
    exec(out, namespace)
    np.testing.assert_allclose(namespace["f"](np.array([1.0, 2.0])), [[6, 0], [0, 12]])
    assert "#   ∂²f/∂x² = [[6, 0]," in out


@pytest.mark.parametrize("at, message", [
    ("x", "NAME=VALUE"), ("x=[1,[2]]", "nested list of numbers"), ("x='a'", "number"),
    ("x=__import__('os')", "number"),
])
def test_bad_values_are_usage_errors(capsys, at: str, message: str) -> None:
    status, out, err = run(capsys, "diff", "sum(x[i])", "--wrt", "x", "--at", at)
    assert status == 2 and message in err and len(err.splitlines()) == 1


def test_a_missing_value_names_the_variable(capsys) -> None:
    status, _, err = run(capsys, "diff", "sum(x[i] y[i])", "--wrt", "x", "--at", "x=[1,2]",
                         "--at", "yy=[1,2]")
    assert status == 2
    assert "no array given for variable 'y'" in err and "given but unused: 'yy'" in err


# ----------------------------------------------------------------------------- quiet ends

def test_closed_pipe_ends_quietly() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "tensorcalc", "demo"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env(), cwd=str(ROOT))
    proc.stdout.close()  # the reader goes away before the first line (like head -0)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode in (0, 141)
    assert err == b""


def test_head_reads_three_lines_quietly() -> None:
    script = ("import subprocess, sys\n"
              "p = subprocess.Popen([sys.executable, '-m', 'tensorcalc', 'demo'], stdout=subprocess.PIPE, stderr=subprocess.PIPE)\n"
              "first = [p.stdout.readline() for _ in range(3)]\n"
              "p.stdout.close()\n"
              "err = p.stderr.read()\n"
              "p.wait()\n"
              "print(p.returncode, len(first), len(err))\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env(), cwd=str(ROOT), timeout=300)
    code, lines, err = proc.stdout.split()
    assert code in ("0", "141") and lines == "3" and err == "0"


def test_bench_without_an_importable_tensorcalc(tmp_path, monkeypatch, capsys) -> None:
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "_harness.py").write_text("")
    (bench / "contract.py").write_text("print('ran')\n")
    (tmp_path / "tensorcalc").mkdir()
    (tmp_path / "tensorcalc" / "__init__.py").write_text("raise ImportError('the core is not built')\n")
    monkeypatch.setattr(cli, "find_bench_dir", lambda: bench)
    status, out, err = run(capsys, "bench", "contract", "--quick")
    assert status == 2 and "ran" not in out
    assert len(err.splitlines()) == 1
    assert "cannot import tensorcalc" in err and "the core is not built" in err


# ----------------------------------------------------------------------------- start-up

def _median_seconds(argv: list[str]) -> float:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True, env=env(), cwd=str(ROOT), check=True, timeout=120)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def test_import_is_light_until_a_name_is_used() -> None:
    code = ("import sys, tensorcalc as tc\n"
            "before = 'tensorcalc._core' in sys.modules or 'scipy' in sys.modules\n"
            "tc.var\n"
            "print(before, 'tensorcalc.explain' in sys.modules, 'tensorcalc.evaluation' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env(),
                          cwd=str(ROOT), timeout=120)
    assert proc.stdout.split() == ["False", "True", "True"], proc.stderr


def test_public_functions_named_like_subpackages_stay_functions() -> None:
    # importing the subpackage first must not leave tc.simplify / tc.explain the module
    code = ("import types\n"
            "from tensorcalc.simplify import simplify_only\n"
            "from tensorcalc.explain import explain_diff\n"
            "import tensorcalc as tc\n"
            "print(all(callable(f) and not isinstance(f, types.ModuleType)\n"
            "          for f in (tc.simplify, tc.explain)))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env(),
                          cwd=str(ROOT), timeout=120)
    assert proc.stdout.split() == ["True"], proc.stderr


def test_version_starts_fast() -> None:
    numpy = _median_seconds([sys.executable, "-c", "import numpy"])
    version = _median_seconds([sys.executable, "-m", "tensorcalc", "--version"])
    assert version < 3 * numpy, (version, numpy)
