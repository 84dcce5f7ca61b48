"""numpy's own einsum tests, run against ``tc.einsum``.

numpy ships its tests: ``numpy/_core/tests/test_einsum.py`` is read from the installed numpy
and executed with ``np`` bound to numpy except that ``np.einsum`` is ``tc.einsum``; everything
else (``np.einsum_path``, ``np.dot``, ``assert_equal``, ...) stays numpy's, so each test checks
tensorcalc against numpy's own expectations.

Verdicts other than "passes", each with its reason:

* ``NOT_APPLICABLE`` (skipped): tests of ``numpy.einsum_path``, numpy's own function, which
  the proxy leaves in place (tensorcalc's ``contract_path`` reports in opt_einsum's format);
* ``DIFFERENCES`` (strict xfail: a fix shows up as an XPASS): where tensorcalc deliberately
  differs from numpy or has a known limitation;
* ``EDITED``: a test whose only failing statements are such differences also runs as a copy
  with exactly those statements removed (checked by count), so the rest of it still runs.
"""

from __future__ import annotations

import ast
import copy
import pathlib
import types

import numpy
import pytest

import tensorcalc as tc

_SOURCE = pathlib.Path(numpy.__file__).parent / "_core" / "tests" / "test_einsum.py"
if not _SOURCE.exists():  # a numpy installed without its tests
    pytest.skip(f"numpy's einsum tests are not installed ({_SOURCE})", allow_module_level=True)

_EINSUM_PATH = "tests numpy.einsum_path (numpy's function, not tc.einsum)"
NOT_APPLICABLE = {
    "test_einsum_errors[einsum_path-True]": _EINSUM_PATH,
    "test_einsum_errors[einsum_path-False]": _EINSUM_PATH,
    "test_einsum_errors_except_extended_outputs[einsum_path-True]": _EINSUM_PATH,
    "test_einsum_errors_except_extended_outputs[einsum_path-False]": _EINSUM_PATH,
    "test_einsum_sorting_behavior": _EINSUM_PATH,
    "test_memory_contraints": _EINSUM_PATH,
    "test_long_paths": _EINSUM_PATH,
    "test_edge_paths": _EINSUM_PATH,
}

_EXTENDED = ("tensorcalc's extended einsum: a repeated output label ('ij->jij') embeds a "
             "diagonal where numpy raises ValueError; the rest runs in "
             "test_einsum_errors_except_extended_outputs")
DIFFERENCES = {
    "test_einsum_errors[einsum-True]": _EXTENDED,
    "test_einsum_errors[einsum-False]": _EXTENDED,
    "test_output_order": (
        "order='K' (the default) keeps the layout the plan produces; the test asserts numpy's "
        "iterator's particular choice (neither C- nor F-contiguous). The 'C', 'F' and 'A' "
        "assertions run in test_output_order_except_order_k"),
    "test_einsum_0d_out": (
        "the test writes a float64 result into an int64 out; only numpy's optimize= path allows "
        "that (its default optimize=False raises TypeError under casting='safe'); tensorcalc "
        "applies casting='safe' whatever optimize is (a 0-d out works: test_numpy_compat)"),
}

# test -> (what its copy is called, the statements removed: their source contains this text,
# how many there are)
EDITED = {
    "test_einsum_errors": ("test_einsum_errors_except_extended_outputs", '"ij->jij"', 1),
    "test_output_order": ("test_output_order_except_order_k", " is False)", 4),
}


class _NumpyWithTcEinsum(types.ModuleType):
    """numpy, with ``einsum`` replaced by ``tc.einsum``."""

    einsum = staticmethod(tc.einsum)

    def __getattr__(self, name: str):
        return getattr(numpy, name)


def _load() -> dict:
    text = _SOURCE.read_text()
    tree = ast.parse(text, str(_SOURCE))
    imports = [node for node in tree.body if isinstance(node, ast.Import)
               and [(a.name, a.asname) for a in node.names] == [("numpy", "np")]]
    assert len(imports) == 1, "numpy's test module no longer does 'import numpy as np'"
    # np = _np instead of the import, at the same place
    tree.body[tree.body.index(imports[0])] = ast.copy_location(
        ast.parse("np = _np").body[0], imports[0])
    for cls in (node for node in tree.body if isinstance(node, ast.ClassDef)):
        for func in [f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name in EDITED]:
            name, marker, count = EDITED[func.name]
            edited = copy.deepcopy(func)
            edited.name = name
            removed = _remove(edited, lambda stmt: marker in ast.get_source_segment(text, stmt))
            assert removed == count, f"{func.name}: {removed} statements match {marker!r}, not {count}"
            cls.body.insert(cls.body.index(func) + 1, edited)
    namespace = {"__name__": __name__, "__file__": str(_SOURCE), "_np": _NumpyWithTcEinsum("numpy")}
    exec(compile(ast.fix_missing_locations(tree), str(_SOURCE), "exec"), namespace)
    return namespace


def _remove(node: ast.AST, match) -> int:
    """Remove the statements ``match`` accepts from every statement list under ``node``."""
    removed = 0
    for field in ("body", "orelse", "finalbody"):
        stmts = getattr(node, field, None)
        if not isinstance(stmts, list):
            continue
        kept = []
        for stmt in stmts:
            if isinstance(stmt, ast.Expr) and match(stmt):
                removed += 1
            else:
                removed += _remove(stmt, match)
                kept.append(stmt)
        setattr(node, field, kept or [ast.Pass()])
    return removed


_namespace = _load()
TestEinsum = _namespace["TestEinsum"]
TestEinsumPath = _namespace["TestEinsumPath"]
test_overlap = _namespace["test_overlap"]
test_einsum_chunking_precision = _namespace["test_einsum_chunking_precision"]


@pytest.fixture(autouse=True)
def _verdict(request: pytest.FixtureRequest) -> None:
    """Skip what does not test tc.einsum; expect the listed differences to fail."""
    name = request.node.name
    if name in NOT_APPLICABLE:
        pytest.skip(NOT_APPLICABLE[name])
    if name in DIFFERENCES:
        request.applymarker(pytest.mark.xfail(reason=DIFFERENCES[name], strict=True))


def test_every_numpy_test_is_collected() -> None:
    """The loader found numpy's test classes and functions, and the lists name real tests."""
    names = {n for n, v in _namespace.items() if n.startswith("test") and callable(v)}
    for cls in (TestEinsum, TestEinsumPath):
        names |= {n for n in vars(cls) if n.startswith("test")}
    listed = {n.split("[")[0] for n in [*NOT_APPLICABLE, *DIFFERENCES]}
    assert listed <= names, listed - names
    assert {new for new, _, _ in EDITED.values()} <= names
    assert len(names) >= 50
