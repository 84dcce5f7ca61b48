"""Fails loudly when einops moves or changes the private names tensorcalc relies on."""

from __future__ import annotations

import importlib
import inspect

import einops
import numpy as np
import pytest

from tensorcalc.einops_ext import adapter


def _version(text):
    return tuple(int(part) for part in text.split(".")[:2])


def test_einops_version_is_in_the_pinned_range():
    assert (0, 8) <= _version(einops.__version__) < (0, 10), einops.__version__


@pytest.mark.parametrize("module, name", adapter.PRIVATE_NAMES)
def test_private_name_still_exists(module, name):
    assert hasattr(importlib.import_module(module), name), f"einops moved {module}.{name}"


@pytest.mark.parametrize("method, params", sorted(adapter.BACKEND_METHODS.items()))
def test_backend_method_signature_unchanged(method, params):
    from einops._backends import AbstractBackend

    function = getattr(AbstractBackend, method)
    names = tuple(inspect.signature(function).parameters)[1:]  # drop self
    assert names == params, f"AbstractBackend.{method}{names} changed"


def test_einops_discovers_backends_by_framework_name():
    """The discovery rule define_backend relies on: an imported module's name."""
    from einops._backends import get_backend

    from tensorcalc.ir import var
    from tensorcalc.einops_ext.rearrange import ExprBackend

    backend = get_backend(var("x", (2, 3)))
    assert isinstance(backend, ExprBackend)
    assert backend.framework_name == "tensorcalc.ir.nodes"
    assert type(get_backend(np.zeros(2))).__name__ == "NumpyBackend"


def test_ellipsis_marker_is_a_single_symbol():
    from einops.parsing import _ellipsis

    assert isinstance(_ellipsis, str) and len(_ellipsis) == 1


@pytest.mark.parametrize("text, groups", [
    ("a b c", [("a",), ("b",), ("c",)]),
    ("(h w) c", [("h", "w"), ("c",)]),
    ("b ... c", [("b",), "...", ("c",)]),
    ("(b ...) c", [("b", "..."), ("c",)]),
    ("a () 1 (b 1)", [("a",), (), (), ("b",)]),
    ("(h 2) 3", [("h", 2), (3,)]),
    ("", []),
])
def test_parse_side(text, groups):
    assert adapter.parse_side(text) == groups


@pytest.mark.parametrize("text, message", [
    ("a a", "duplicate dimension"),
    ("(a (b))", "one-level"),
    ("a..", "dots only inside ellipsis"),
    ("a-b", "Unknown character"),
    ("_a", "underscore"),
])
def test_parse_side_raises_einops_errors(text, message):
    with pytest.raises(einops.EinopsError, match=message):
        adapter.parse_side(text)


def test_define_backend_rejects_unknown_methods():
    with pytest.raises(ValueError, match="not einops backend methods"):
        adapter.define_backend("tensorcalc.unused", lambda t: False, {"tile": lambda *a: 0})


def test_define_backend_checks_parameter_names():
    """einops passes some arguments by keyword: a renamed parameter would break at call time."""
    with pytest.raises(ValueError, match=r"add_axes\('x', 'n', 'pos2len'\)"):
        adapter.define_backend("tensorcalc.unused", lambda t: False,
                               {"add_axes": lambda x, n, pos2len: x})
