"""The package's layering, checked on the source (nothing is imported).

The package is a stack of layers; a module imports its own layer and the ones below, never
one above, and the modules import each other without cycles. Two layers hold siblings that
must not import each other (``evaluation`` and ``display``). Imports between the package's
own modules are written at the top of the module, where they show the dependency, except in
``tensorcalc/cli.py``, whose deferred imports keep ``tensorcalc --version`` fast.

An import under a module-level ``if TYPE_CHECKING:`` is exempt from the nesting and cycle
rules (it never runs), not from the direction of the layers.

The checker works on plain data (module name -> its imports), so the self-tests at the
end feed it fake packages and show that it catches what it should.
"""

from __future__ import annotations

import ast
import importlib.machinery
import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import pytest

PACKAGE = "tensorcalc"

# Bottom to top. Each layer maps a group name to its modules (a package name covers its
# submodules; the top package "tensorcalc" itself is its __init__.py only). Groups of one
# layer are siblings: they may not import each other. A module may import its own group and
# any lower layer.
LAYERS: list[dict[str, tuple[str, ...]]] = [
    {"base": ("tensorcalc.errors", "tensorcalc.labels", "tensorcalc.version", "tensorcalc._core")},
    {"contraction": ("tensorcalc.contraction",)},
    {"backends": ("tensorcalc.backends",)},
    {"ir": ("tensorcalc.ir",)},
    {"ops": ("tensorcalc.ops",)},
    {"simplify": ("tensorcalc.simplify",)},
    {"differentiation": ("tensorcalc.differentiation",)},
    {"evaluation": ("tensorcalc.evaluation",), "display": ("tensorcalc.display",)},
    {"testing": ("tensorcalc.testing",)},
    {"notation": ("tensorcalc.notation",)},
    {"einops_ext": ("tensorcalc.einops_ext",)},
    {"explain": ("tensorcalc.explain",)},
    {"api": ("tensorcalc.api",)},
    {"top": ("tensorcalc", "tensorcalc.__main__", "tensorcalc.cli", "tensorcalc.demo")},
]

# Modules whose function-level imports of the package are intended.
DEFERRED_IMPORTS_ALLOWED = {"tensorcalc.cli"}


# ----------------------------------------------------------------------------- the checker

@dataclass(frozen=True)
class Import:
    """One import of a package module by another."""

    target: str          # the imported module (a submodule when ``from pkg import submodule``)
    line: int
    text: str            # the import statement as written
    nested: bool         # inside a function or class body
    type_checking: bool  # under a module-level ``if TYPE_CHECKING:``


@dataclass(frozen=True)
class Source:
    module: str
    path: str            # for messages
    text: str
    is_package: bool     # an __init__.py


def package_sources(root: Path, package: str = PACKAGE) -> tuple[list[Source], set[str]]:
    """Every module of the package under ``root``: the Python sources, and the names of all
    modules (compiled extensions included, they can be imported but not read)."""
    sources = []
    names = set()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        parts = [package, *rel.with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        module = ".".join(parts)
        names.add(module)
        sources.append(Source(module, str(path.relative_to(root.parent)), path.read_text("utf-8"),
                              is_package))
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        for path in root.rglob("*" + suffix):
            rel = path.relative_to(root)
            stem = rel.name[: -len(suffix)]
            names.add(".".join([package, *rel.parent.parts, stem]))
    return sources, names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def scan_imports(src: Source, modules: set[str], package: str = PACKAGE) -> tuple[list[Import], list[str]]:
    """The imports of ``src`` that name a module of the package, and the errors found on
    the way (an import of a package module that does not exist)."""
    tree = ast.parse(src.text, filename=src.path)
    lines = src.text.splitlines()
    own_package = src.module if src.is_package else src.module.rpartition(".")[0]
    found: list[Import] = []
    errors: list[str] = []

    def text_of(node: ast.stmt) -> str:
        segment = ast.get_source_segment(src.text, node)
        return " ".join((segment or lines[node.lineno - 1]).split())

    def record(node: ast.stmt, targets: Iterable[str], nested: bool, type_checking: bool) -> None:
        for target in targets:
            if target == package or target.startswith(package + "."):
                if target not in modules:
                    errors.append(f"{src.path}:{node.lineno}: {text_of(node)!r} imports "
                                  f"{target}, which is not a module of the package")
                    continue
                found.append(Import(target, node.lineno, text_of(node), nested, type_checking))

    def resolve_from(node: ast.ImportFrom) -> list[str]:
        if node.level:
            base = own_package.split(".")
            if node.level - 1 > len(base) - 1:
                errors.append(f"{src.path}:{node.lineno}: {text_of(node)!r} goes above the package")
                return []
            base = base[: len(base) - (node.level - 1)]
            origin = ".".join(base + ([node.module] if node.module else []))
        else:
            origin = node.module or ""
        out = []
        for alias in node.names:
            sub = f"{origin}.{alias.name}"
            # "from pkg import submodule" depends on the submodule, "from mod import name" on mod
            out.append(sub if alias.name != "*" and sub in modules else origin)
        return out

    def visit(node: ast.AST, nested: bool, type_checking: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                record(child, [a.name for a in child.names], nested, type_checking)
            elif isinstance(child, ast.ImportFrom):
                record(child, resolve_from(child), nested, type_checking)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                visit(child, True, type_checking)
            elif isinstance(child, ast.If) and not nested and _is_type_checking(child.test):
                for stmt in child.body:
                    visit(ast.Module(body=[stmt], type_ignores=[]), nested, True)
                for stmt in child.orelse:
                    visit(ast.Module(body=[stmt], type_ignores=[]), nested, type_checking)
            else:
                visit(child, nested, type_checking)

    visit(tree, False, False)
    return found, errors


def layer_of(module: str, layers: list[dict[str, tuple[str, ...]]] = LAYERS,
             package: str = PACKAGE) -> tuple[int, str] | None:
    """(layer number, group) of ``module``: the most specific entry of the table naming it."""
    best: tuple[int, int, str] | None = None
    for rank, groups in enumerate(layers):
        for group, entries in groups.items():
            for entry in entries:
                covers = module == entry or (entry != package and module.startswith(entry + "."))
                if covers and (best is None or len(entry) > best[0]):
                    best = (len(entry), rank, group)
    return None if best is None else (best[1], best[2])


def nesting_violations(imports: Mapping[str, list[Import]], paths: Mapping[str, str],
                       allowed: set[str] = DEFERRED_IMPORTS_ALLOWED) -> list[str]:
    return [f"{paths[m]}:{imp.line}: {m} imports {imp.target} inside a function or class body "
            f"({imp.text!r}); move it to the top of the module"
            for m, imps in sorted(imports.items()) if m not in allowed
            for imp in imps if imp.nested and not imp.type_checking]


def unplaced_modules(modules: Iterable[str], layers: list[dict[str, tuple[str, ...]]] = LAYERS) -> list[str]:
    return sorted(m for m in modules if layer_of(m, layers) is None)


def layer_violations(imports: Mapping[str, list[Import]], paths: Mapping[str, str],
                     layers: list[dict[str, tuple[str, ...]]] = LAYERS) -> list[str]:
    """An import of a higher layer, or of a sibling group of the same layer."""
    out = []
    for m, imps in sorted(imports.items()):
        here = layer_of(m, layers)
        for imp in imps:
            there = layer_of(imp.target, layers)
            if here is None or there is None:
                continue  # reported by unplaced_modules
            if there[0] > here[0]:
                why = (f"goes up from layer {here[0]} ({here[1]}) to layer {there[0]} "
                       f"({there[1]})")
            elif there[0] == here[0] and there[1] != here[1]:
                why = f"crosses between sibling groups {here[1]} and {there[1]} of layer {here[0]}"
            else:
                continue
            out.append(f"{paths[m]}:{imp.line}: {m} imports {imp.target}: {why} ({imp.text!r})")
    return out


def cycles(imports: Mapping[str, list[Import]], paths: Mapping[str, str]) -> list[str]:
    """Every import cycle (one per strongly connected component), each edge with its line."""
    edges: dict[str, dict[str, Import]] = {}
    for m, imps in imports.items():
        for imp in imps:
            if not imp.type_checking:
                edges.setdefault(m, {}).setdefault(imp.target, imp)
    # Tarjan's strongly connected components, iteratively
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    nodes = sorted(set(edges) | {t for ts in edges.values() for t in ts})
    counter = 0
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, {}))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges.get(w, {})))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1 or v in edges.get(v, {}):
                    components.append(sorted(comp))
    out = []
    for comp in components:
        members = set(comp)
        # one concrete cycle through the first member, by breadth-first search
        first = comp[0]
        parent: dict[str, str] = {}
        queue = [first]
        found = None
        while queue and found is None:
            v = queue.pop(0)
            for w in sorted(edges.get(v, {})):
                if w == first:
                    found = v
                    break
                if w in members and w not in parent:
                    parent[w] = v
                    queue.append(w)
        path = [first]
        v = found
        while v is not None and v != first:
            path.insert(1, v)
            v = parent[v]
        path.append(first)
        steps = [f"{a} -> {b} ({paths.get(a, a)}:{edges[a][b].line} {edges[a][b].text!r})"
                 for a, b in zip(path, path[1:])]
        out.append(f"import cycle among {', '.join(comp)}: " + "; ".join(steps))
    return out


# ----------------------------------------------------------------------------- the package

def _package_root() -> Path:
    spec = importlib.util.find_spec(PACKAGE)  # finds the package without importing it
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).parent


@pytest.fixture(scope="module")
def scanned() -> tuple[dict[str, list[Import]], dict[str, str], set[str], list[str]]:
    sources, modules = package_sources(_package_root())
    imports: dict[str, list[Import]] = {}
    errors: list[str] = []
    for src in sources:
        found, errs = scan_imports(src, modules)
        imports[src.module] = found
        errors.extend(errs)
    paths = {src.module: src.path for src in sources}
    return imports, paths, modules, errors


def _report(problems: list[str]) -> str:
    return "\n".join(["", *problems])


def test_the_package_is_found_and_scanned(scanned) -> None:
    imports, paths, modules, errors = scanned
    # the scan reads the real package: its layers' modules and their imports are there
    assert {"tensorcalc", "tensorcalc.cli", "tensorcalc.ir.nodes", "tensorcalc.ops.table",
            "tensorcalc._core"} <= modules
    assert any(imp.target == "tensorcalc.ops.table" for imp in imports["tensorcalc.ops.nodes"])
    assert any(imp.nested for imp in imports["tensorcalc.cli"])  # its deferred imports


def test_every_import_names_an_existing_module(scanned) -> None:
    errors = scanned[3]
    assert not errors, _report(errors)


def test_every_module_has_a_layer(scanned) -> None:
    modules = scanned[2]
    missing = unplaced_modules(modules)
    assert not missing, "place these modules in the LAYERS table of tests/test_layers.py:" + \
        _report(missing)


def test_every_layer_entry_names_a_module(scanned) -> None:
    modules = scanned[2]
    stale = [entry for groups in LAYERS for entries in groups.values() for entry in entries
             if not any(m == entry or m.startswith(entry + ".") for m in modules)]
    assert not stale, "the LAYERS table names modules that do not exist:" + _report(stale)


def test_layer_numbers_agree_with_the_subpackage_docstrings(scanned) -> None:
    # each subpackage's __init__ docstring starts "Layer N, ..."; the table must say the same
    sources, _ = package_sources(_package_root())
    problems = []
    for src in sources:
        if not src.is_package or src.module == PACKAGE:
            continue
        doc = ast.get_docstring(ast.parse(src.text)) or ""
        said = re.match(r"Layer (\d+)\b", doc)
        if said is None:
            problems.append(f"{src.path}: the docstring does not start with 'Layer N'")
            continue
        placed = layer_of(src.module)
        if placed is None or placed[0] != int(said.group(1)):
            problems.append(f"{src.path}: the docstring says layer {said.group(1)}, the table "
                            f"{None if placed is None else placed[0]}")
    assert not problems, _report(problems)


def test_no_deferred_imports_of_the_package(scanned) -> None:
    imports, paths, _, _ = scanned
    problems = nesting_violations(imports, paths)
    assert not problems, _report(problems)


def test_imports_go_down_the_layers(scanned) -> None:
    imports, paths, _, _ = scanned
    problems = layer_violations(imports, paths)
    assert not problems, _report(problems)


def test_no_import_cycles(scanned) -> None:
    imports, paths, _, _ = scanned
    problems = cycles(imports, paths)
    assert not problems, _report(problems)


# ----------------------------------------------------------------------------- self-tests

FAKE_MODULES = {"tensorcalc", "tensorcalc.errors", "tensorcalc.ir", "tensorcalc.ir.nodes",
                "tensorcalc.ir.build", "tensorcalc.display", "tensorcalc.display.text",
                "tensorcalc.evaluation", "tensorcalc.evaluation.evaluate", "tensorcalc.cli",
                "tensorcalc.api"}


def _scan_fake(files: dict[str, str]) -> tuple[dict[str, list[Import]], dict[str, str], list[str]]:
    imports, errors = {}, []
    for module, text in files.items():
        is_package = module in ("tensorcalc", "tensorcalc.ir", "tensorcalc.display",
                                "tensorcalc.evaluation")
        path = module.replace(".", "/") + ("/__init__.py" if is_package else ".py")
        found, errs = scan_imports(Source(module, path, text, is_package), FAKE_MODULES)
        imports[module] = found
        errors.extend(errs)
    return imports, {m: m.replace(".", "/") + ".py" for m in files}, errors


def test_self_test_catches_a_cycle_and_an_upward_import() -> None:
    imports, paths, errors = _scan_fake({
        # a cycle inside one layer: nodes -> build -> nodes
        "tensorcalc.ir.nodes": "from ..errors import TensorcalcError\nfrom .build import var\n",
        "tensorcalc.ir.build": "import numpy as np\n\nfrom .nodes import Expr\n"
                               "from tensorcalc.display import text\n",  # upward, line 4
        "tensorcalc.display.text": "from ..errors import TensorcalcError\n",
        "tensorcalc.api": "from .ir import nodes\nfrom .ir import var\n",
        "tensorcalc.errors": "",
    })
    assert not errors
    # "from .ir import nodes" depends on the submodule, "from .ir import var" on the package
    assert [imp.target for imp in imports["tensorcalc.api"]] == ["tensorcalc.ir.nodes",
                                                                "tensorcalc.ir"]

    found = cycles(imports, paths)
    assert len(found) == 1
    assert found[0].startswith("import cycle among tensorcalc.ir.build, tensorcalc.ir.nodes: ")
    assert "tensorcalc/ir/nodes.py:2 'from .build import var'" in found[0]
    assert "tensorcalc/ir/build.py:3 'from .nodes import Expr'" in found[0]

    upward = layer_violations(imports, paths)
    assert upward == [
        "tensorcalc/ir/build.py:4: tensorcalc.ir.build imports tensorcalc.display.text: goes up "
        "from layer 3 (ir) to layer 7 (display) ('from tensorcalc.display import text')"]


def test_self_test_catches_a_longer_cycle_across_layers() -> None:
    imports, paths, _ = _scan_fake({
        "tensorcalc.errors": "from .api import einsum\n",
        "tensorcalc.api": "from . import cli\n",
        "tensorcalc.cli": "from .errors import TensorcalcError\n",
    })
    (found,) = cycles(imports, paths)
    assert found.startswith("import cycle among tensorcalc.api, tensorcalc.cli, tensorcalc.errors")
    assert found.count("->") == 3
    assert any("errors imports tensorcalc.api: goes up" in v for v in layer_violations(imports, paths))


def test_self_test_catches_siblings_and_nested_imports() -> None:
    imports, paths, _ = _scan_fake({
        "tensorcalc.evaluation.evaluate": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n"
            "    from ..ir.build import var\n"                    # exempt from nesting
            "def f():\n"
            "    from ..ir import nodes\n"                        # nested, line 5
            "    return nodes\n"
            "class C:\n"
            "    from tensorcalc.display.text import x\n"         # nested and sideways, line 8
        ),
        "tensorcalc.cli": "def main():\n    from .api import einsum\n",  # allowed in cli
        "tensorcalc.ir.nodes": "if True:\n    from ..errors import E\n",  # module level
    })
    nested = nesting_violations(imports, paths)
    assert nested == [
        "tensorcalc/evaluation/evaluate.py:5: tensorcalc.evaluation.evaluate imports "
        "tensorcalc.ir.nodes inside a function or class body ('from ..ir import nodes'); move "
        "it to the top of the module",
        "tensorcalc/evaluation/evaluate.py:8: tensorcalc.evaluation.evaluate imports "
        "tensorcalc.display.text inside a function or class body ('from "
        "tensorcalc.display.text import x'); move it to the top of the module"]
    (sideways,) = layer_violations(imports, paths)
    assert "crosses between sibling groups evaluation and display of layer 7" in sideways
    assert [imp.type_checking for imp in imports["tensorcalc.evaluation.evaluate"]] == [True, False, False]


def test_self_test_type_checking_imports_make_no_cycle_but_keep_the_direction() -> None:
    imports, paths, _ = _scan_fake({
        "tensorcalc.ir.nodes": "from .build import var\n",
        "tensorcalc.ir.build": "import typing\nif typing.TYPE_CHECKING:\n"
                               "    from .nodes import Expr\n    from ..display import text\n",
    })
    assert cycles(imports, paths) == []
    (up,) = layer_violations(imports, paths)
    assert "tensorcalc/ir/build.py:4" in up and "goes up from layer 3 (ir) to layer 7" in up


def test_self_test_reports_unknown_modules_and_unplaced_ones() -> None:
    _, _, errors = _scan_fake({"tensorcalc.api": "from .contraction.nowhere import f\n"})
    assert errors == ["tensorcalc/api.py:1: 'from .contraction.nowhere import f' imports "
                      "tensorcalc.contraction.nowhere, which is not a module of the package"]
    assert unplaced_modules(["tensorcalc.newlayer.mod", "tensorcalc.ir.x", "tensorcalc"]) == \
        ["tensorcalc.newlayer.mod"]
    assert layer_of("tensorcalc") == (13, "top")
    assert layer_of("tensorcalc.display.codegen") == (7, "display")
