"""tensorcalc: tensor calculus in einsum notation.

Contract with ``einsum`` (numpy.einsum semantics, compiled kernels), differentiate einsum
expressions symbolically, rearrange with einops patterns.

>>> import numpy as np, tensorcalc as tc
>>> tc.einsum("ij,jk->ik", np.eye(2), np.ones((2, 2)))
array([[1., 1.],
       [1., 1.]])
>>> tc.grad_subscripts("ij,jk->ik", wrt=0)
'ik,jk->ij'
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

from .errors import TensorcalcError
from .version import __version__

# ``import tensorcalc`` is light (the command line's ``--version`` needs nothing more): the
# first use of any other public name imports the whole package once, layer by layer, and
# binds the names below (PEP 562). Name -> the module defining it ("" for the module itself).
_EXPORTS: dict[str, tuple[str, str]] = {
    **{name: ("contraction", name) for name in ("contract_path", "einsum_vjp", "grad_subscripts")},
    # the front doors taking any library's arrays (tensorcalc.backends.front, via api)
    "ContractExpression": ("api", "ContractExpression"),
    "contract_expression": ("api", "contract_expression"),
    "Expr": ("ir", "Expr"), "var": ("ir", "var"),
    **{name: ("ops.functions", name) for name in (
        "abs", "cos", "det", "diag", "exp", "heaviside", "inv", "log", "log1p", "log_softmax",
        "logdet", "logsumexp", "mean", "norm2", "normalize", "pow", "relu", "sigmoid", "sign",
        "sin", "softmax", "softplus", "sqrt", "stack", "sum", "tan", "tanh", "trace")},
    "simplify": ("simplify", "simplify"),
    **{name: ("differentiation", name) for name in (
        "grad", "hessian", "hvp", "jacobian", "jacfwd", "jacrev", "jvp")},
    "compile": ("evaluation", "compile"), "evaluate": ("evaluation", "evaluate"),
    **{name: ("display", name) for name in ("to_latex", "to_numpy", "to_source", "to_str")},
    "testing": ("testing", ""), "check_grad": ("testing", "check_grad"),
    "check_grads": ("testing", "check_grads"),
    "parse": ("notation", "parse"),
    **{name: ("einops_ext", name) for name in (
        "RearrangeError", "rearrange", "reduce", "repeat", "pack", "unpack", "parse_shape",
        "asnumpy")},
    "explain": ("explain.explain", "explain"),
    "einsum": ("api", "einsum"),
}
# Every layer, bottom to top: importing them installs the methods each owns on Expr.
_LAYERS = ("contraction", "backends", "ir", "ops", "simplify", "differentiation", "evaluation", "display",
           "testing", "notation", "einops_ext", "explain", "api")
_loaded = False


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    try:
        for layer in _LAYERS:
            importlib.import_module(f"{__name__}.{layer}")
    except BaseException:
        _loaded = False  # the next use raises the same clear error, not a half-loaded package
        raise
    for name, (module, attr) in _EXPORTS.items():
        found = sys.modules[f"{__name__}.{module}"]
        globals()[name] = getattr(found, attr) if attr else found


# Public functions named like a subpackage (``tc.simplify``, ``tc.explain``): importing the
# subpackage before the load binds the module to the name, where ``__getattr__`` never
# looks; reading these names loads first, so they are the functions as before.
_SHADOWED = frozenset(name for name, (module, attr) in _EXPORTS.items() if attr and name in _LAYERS)


class _Package(types.ModuleType):
    def __getattribute__(self, name: str) -> Any:
        if name in _SHADOWED:
            _load()
        return super().__getattribute__(name)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    # Only the public names load: ``from . import _core`` inside the package asks for
    # submodules by attribute first, and must not start the load halfway through a layer.
    if name in _EXPORTS:
        _load()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "TensorcalcError", "RearrangeError",
    # contraction
    "einsum", "contract_path", "contract_expression", "ContractExpression",
    # expressions and derivatives
    "Expr", "var", "grad", "jacobian", "jacfwd", "jacrev", "jvp", "hessian", "hvp",
    "grad_subscripts", "einsum_vjp",
    "evaluate", "compile", "check_grad", "check_grads", "simplify", "testing",
    # functions
    "abs", "cos", "det", "diag", "exp", "heaviside", "inv", "log", "log1p", "log_softmax",
    "logdet", "logsumexp", "mean", "norm2", "normalize", "pow", "relu", "sigmoid", "sign",
    "sin", "softmax", "softplus", "sqrt", "stack", "sum", "tan", "tanh", "trace",
    # einops
    "rearrange", "reduce", "repeat", "pack", "unpack", "parse_shape", "asnumpy",
    # reading and showing the math
    "parse", "to_latex", "to_numpy", "to_source", "to_str", "explain",
]
