"""The README is true: its examples print what it shows, and what it names exists.

* every ```python block is a doctest session; the blocks run in order in one namespace
  (later ones build on earlier ones), compared with ELLIPSIS and NORMALIZE_WHITESPACE;
* every ``` block that starts with ``$ tensorcalc ...`` is run through ``tensorcalc.cli.main``
  and its stdout and stderr together must be the rest of the block, exactly;
* the README points at no file outside the repository, and every file, folder, module
  (``tensorcalc.x.y``) and ``tc.name`` it mentions exists.
"""

from __future__ import annotations

import contextlib
import doctest
import importlib
import importlib.util
import io
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import tensorcalc
from tensorcalc import cli

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TEXT = README.read_text(encoding="utf-8")
LINES = TEXT.splitlines()


def fenced_blocks() -> list[tuple[str, int, list[str]]]:
    """(info string, line number of the first body line (0-based), body lines) per block."""
    blocks, i = [], 0
    while i < len(LINES):
        line = LINES[i]
        if line.startswith("```"):
            info, start = line[3:].strip(), i + 1
            end = start
            while not LINES[end].startswith("```"):
                end += 1
            blocks.append((info, start, LINES[start:end]))
            i = end + 1
        else:
            i += 1
    return blocks


BLOCKS = fenced_blocks()
PYTHON = [(start, body) for info, start, body in BLOCKS if info == "python"]
SHELL = [(start, body) for info, start, body in BLOCKS
         if info == "" and body and body[0].startswith("$ tensorcalc ")]


def test_every_python_block_is_a_doctest():
    assert PYTHON
    for start, body in PYTHON:
        assert body[0].startswith(">>> "), f"README.md:{start + 1}: write the block as >>> lines"


_IMPORT = re.compile(r">>> (?:import|from) (\w+)")


def missing_libraries(body: list[str]) -> list[str]:
    """The libraries a block imports that are not installed (its section is then skipped:
    the README's test command installs every backend, a bare environment may not have them)."""
    roots = {m.group(1) for line in body for m in [_IMPORT.match(line)] if m}
    return sorted(r for r in roots if importlib.util.find_spec(r) is None)


def run_python_blocks() -> int:
    """Run the python blocks as one doctest session; print the report, return the failures."""
    # Only the python blocks, at their own line numbers: failures point at README lines.
    keep = [""] * len(LINES)
    for start, body in PYTHON:
        missing = missing_libraries(body)
        if missing:
            print(f"README.md:{start + 1}: skipped, not installed: {', '.join(missing)}")
            continue
        keep[start:start + len(body)] = body
    text = "\n".join(keep) + "\n"
    test = doctest.DocTestParser().get_doctest(text, {}, "README.md", str(README), 0)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    result = runner.run(test)
    print(f"attempted {result.attempted}, failed {result.failed}")
    return result.failed


def test_python_blocks_print_what_the_readme_shows():
    # In a fresh interpreter, as a reader runs them: what an expression prints may depend on
    # the expressions built before it in the same process (other tests build many).
    proc = subprocess.run(
        [sys.executable, "-c",
         "import sys; from tests.test_readme import run_python_blocks; "
         "sys.exit(run_python_blocks())"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    attempted = int(re.search(r"attempted (\d+), failed 0", proc.stdout).group(1))
    assert attempted > 40, proc.stdout


@pytest.mark.parametrize("start,body", SHELL, ids=[body[0][2:60] for _, body in SHELL])
def test_shell_examples_print_what_the_readme_shows(start, body):
    argv = shlex.split(body[0][len("$ tensorcalc "):])
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        cli.main(argv)
    assert (out.getvalue() + err.getvalue()).rstrip("\n") == "\n".join(body[1:]), \
        f"README.md:{start + 1}"


def test_there_are_shell_examples():
    assert len(SHELL) >= 2


def test_no_file_outside_the_repository():
    for bad in ("shared/", "../", "~/", "/home/", "/work/"):
        assert bad not in TEXT, f"the README mentions {bad!r}, which is not in the repository"


def _exists(path: str) -> bool:
    if any((base / path).exists() for base in (ROOT, ROOT / "tensorcalc")):
        return True
    # a bare file name in the layout table (`paths.py` of `contraction/`)
    return "/" not in path and any((ROOT / "tensorcalc").rglob(path))


def test_every_path_named_exists():
    # `tensorcalc/simplify/rewrites/`, `contraction/plan.py`, `csrc/_core.pyx`, `ARCHITECTURE.md`
    paths = set(re.findall(r"[\w./-]*\w\.(?:py|pyx|pxd|pxi|md|toml)\b", TEXT))
    paths |= set(re.findall(r"`([\w./-]+/)`", TEXT))
    paths |= set(re.findall(r"\b(?:tensorcalc|tests|bench|csrc)/[\w./-]*", TEXT))
    assert paths
    missing = sorted(p for p in paths if not _exists(p.rstrip(".")))
    assert not missing, missing


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:n]))
        except ImportError:
            continue
        for attr in parts[n:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_every_module_and_name_named_exists():
    dotted = set(re.findall(r"\btensorcalc(?:\.\w+)+", TEXT))
    assert "tensorcalc._core" in dotted
    missing = sorted(d for d in dotted if not _resolves(d))
    assert not missing, missing
    names = set(re.findall(r"\btc\.(\w+)", TEXT))
    assert not sorted(n for n in names if not hasattr(tensorcalc, n))
