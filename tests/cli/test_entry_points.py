"""The ways to start the command line, each in a fresh interpreter: ``python -m tensorcalc``,
the ``tensorcalc`` console script (the installed one when it is on PATH, and the entry point
the packaging declares), and ``tensorcalc.cli.main``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import tensorcalc

ROOT = Path(tensorcalc.__file__).resolve().parent.parent  # the checkout (or site-packages)


def run(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env["PYTHONIOENCODING"] = "utf-8"
    return subprocess.run(list(argv), capture_output=True, text=True, encoding="utf-8",
                          cwd=str(ROOT), env=env, timeout=timeout)


# The entry point as pip's console-script wrapper calls it, read from pyproject.toml so the
# declared target is what runs (not an installed copy that may be stale).
CONSOLE_SCRIPT = """
import sys, tomllib
scripts = tomllib.load(open("pyproject.toml", "rb"))["project"]["scripts"]
module, _, attr = scripts["tensorcalc"].partition(":")
main = getattr(__import__(module, fromlist=[attr]), attr)
sys.argv = ["tensorcalc", *sys.argv[1:]]
sys.exit(main())
"""

PYTHON_M = (sys.executable, "-m", "tensorcalc")
DECLARED_SCRIPT = (sys.executable, "-c", CONSOLE_SCRIPT)
CLI_MAIN = (sys.executable, "-c", "import sys; from tensorcalc.cli import main; sys.exit(main(sys.argv[1:]))")

WAYS = {"python -m tensorcalc": PYTHON_M, "declared console script": DECLARED_SCRIPT,
        "tensorcalc.cli.main": CLI_MAIN}
INSTALLED = shutil.which("tensorcalc")
if INSTALLED is not None:
    WAYS["tensorcalc (on PATH)"] = (INSTALLED,)


@pytest.fixture(params=sorted(WAYS))
def command(request) -> tuple[str, ...]:
    if request.param == "declared console script":
        if not (ROOT / "pyproject.toml").is_file():
            pytest.skip("no pyproject.toml beside the package (not a source checkout)")
        pytest.importorskip("tomllib")  # Python 3.11+
    return WAYS[request.param]


def test_version(command) -> None:
    done = run(*command, "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"tensorcalc {tensorcalc.__version__}\n"
    assert done.stderr == ""


def test_version_is_the_packaged_version() -> None:
    pyproject = ROOT / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("no pyproject.toml beside the package (not a source checkout)")
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    declared = tomllib.loads(pyproject.read_text("utf-8"))["project"]
    assert declared["version"] == tensorcalc.__version__
    assert declared["scripts"]["tensorcalc"] == "tensorcalc.cli:main"


def test_grad(command) -> None:
    done = run(*command, "grad", "ij,jk->ik")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "ij,jk->ik"
    assert lines[1].split()[:4] == ["operand", "0", "(A):", "ik,jk->ij"]
    assert lines[2].split()[:4] == ["operand", "1", "(B):", "ik,ij->jk"]
    assert "G Bᵀ" in lines[1] and "Aᵀ G" in lines[2]


def test_no_arguments_is_a_usage_error(command) -> None:
    done = run(*command)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "usage: tensorcalc" in done.stderr


def test_a_bad_spec_exits_2_with_a_message_pointing_at_it() -> None:
    done = run(*PYTHON_M, "grad", "ij,j1->i")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("tensorcalc: error: ")
    assert done.stderr.splitlines()[1:] == ["  ij,j1->i", "      ^"]
