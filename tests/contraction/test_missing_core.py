"""A source tree without the compiled core says how to build it, not "partially initialized"."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import tensorcalc

PACKAGE = Path(tensorcalc.__file__).resolve().parent

# The child must not find the real core through an editable install's import hook.
SCRIPT = """
import sys
sys.meta_path = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
import tensorcalc
assert tensorcalc.__file__.startswith({root!r}), tensorcalc.__file__
for attempt in range(2):
    try:
        tensorcalc.einsum
    except ImportError as err:
        print(err)
    else:
        print("imported")
"""


def test_missing_core_gives_a_clear_import_error(tmp_path):
    for source in PACKAGE.rglob("*.py"):  # the package's .py files, not the built core
        target = tmp_path / "tensorcalc" / source.relative_to(PACKAGE)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    assert not list((tmp_path / "tensorcalc").glob("_core*"))
    proc = subprocess.run([sys.executable, "-c", SCRIPT.format(root=str(tmp_path))],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2, proc.stdout
    for line in lines:  # the second use says the same, not "partially initialized module"
        assert line.startswith("the compiled core tensorcalc._core is not built: run "
                               "`pip install -e .` (or `python setup.py build_ext --inplace`) "
                               f"in {tmp_path}"), line
