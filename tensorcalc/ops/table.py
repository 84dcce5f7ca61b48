"""One row per primitive: everything every layer needs to know about a function.

A row holds the numpy implementation, the derivative (an IR builder), the numpy source
template of generated code, the LaTeX and Unicode symbols, what an explanation prints for
the derivative, and the names index-notation text may use. The builders (``tc.exp``...), the
VJP rule, the code generator, the printers, the explanations and the parser all read these
rows; adding an elementwise function is one row here plus its tests (``tests/ops`` checks
every row against finite differences and against the code it generates).

``derivative(f, node, x, y)`` returns ``f'(x)`` as an expression, given the builders ``f``
(:mod:`tensorcalc.ops.functions`, passed in because they are made from these rows), the
node, its input ``x`` and its value ``y``; ``None`` is a derivative that is zero almost
everywhere.

>>> ELEMENTWISE["sigmoid"].unicode, ELEMENTWISE["sigmoid"].code.format("x")
('σ', 'np.exp(-np.logaddexp(0.0, -x))')
>>> sorted(name for name, row in ELEMENTWISE.items() if "log" in name)
['log', 'log1p']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

Derivative = Callable[[Any, Any, Any, Any], Any]


@dataclass(frozen=True)
class Primitive:
    """The facts of one function (see the module docstring)."""

    name: str                        # builder, node and default parser name
    numpy: Callable[..., Any]        # numpy implementation
    derivative: Derivative | None    # f'(x) from (builders, node, x, y); None: zero a.e.
    code: str                        # numpy source, "{}" is the argument
    latex: str = ""                  # LaTeX head; "" writes \operatorname{name}
    unicode: str = ""                # Unicode head; "" writes the name
    prime: str = ""                  # f' in explanations ("σ'"); "" writes name'
    legend: str = ""                 # the line explaining f' under a derivation
    parser: tuple[str, ...] = ()     # extra names accepted in index notation

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.parser)


def _real_or_complex(real: Callable[[np.ndarray], np.ndarray],
                     complex_: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    # logaddexp, the stable form, has no complex loop
    return lambda x: complex_(x) if np.iscomplexobj(x) else real(x)


def _rows(*rows: Primitive) -> dict[str, Primitive]:
    return {row.name: row for row in rows}


ELEMENTWISE: dict[str, Primitive] = _rows(
    Primitive("exp", np.exp, lambda f, n, x, y: y, "np.exp({})", r"\exp", prime="exp"),
    Primitive("log", np.log, lambda f, n, x, y: f.power(x, -1.0), "np.log({})", r"\log",
              legend="log'(z) = 1/z"),
    Primitive("log1p", np.log1p, lambda f, n, x, y: f.power(1.0 + x, -1.0), "np.log1p({})",
              legend="log1p'(z) = 1 / (1 + z)"),
    Primitive("sin", np.sin, lambda f, n, x, y: f.cos(x), "np.sin({})", r"\sin", prime="cos"),
    Primitive("cos", np.cos, lambda f, n, x, y: -f.sin(x), "np.cos({})", r"\cos",
              legend="cos'(z) = -sin(z)"),
    Primitive("tan", np.tan, lambda f, n, x, y: 1.0 + f.power(y, 2.0), "np.tan({})", r"\tan",
              legend="tan'(z) = 1 + tan²(z)"),
    Primitive("tanh", np.tanh, lambda f, n, x, y: 1.0 - f.power(y, 2.0), "np.tanh({})", r"\tanh",
              legend="tanh'(z) = 1 - tanh²(z)"),
    # exp(-log(1 + exp(-x))): no overflow for large |x|, and the same formula in generated code
    Primitive("sigmoid",
              _real_or_complex(lambda x: np.exp(-np.logaddexp(0.0, -x)),
                               lambda x: 1.0 / (1.0 + np.exp(-x))),
              lambda f, n, x, y: y * (1.0 - y), "np.exp(-np.logaddexp(0.0, -{}))", r"\sigma",
              "σ", "σ'", "σ'(z) = σ(z) (1 - σ(z))"),
    Primitive("relu", lambda x: np.maximum(x, 0), lambda f, n, x, y: f.heaviside(x),
              "np.maximum({}, 0.0)", legend="relu'(z) = 1 if z > 0 else 0"),
    Primitive("softplus",
              _real_or_complex(lambda x: np.logaddexp(0.0, x), lambda x: np.log1p(np.exp(x))),
              lambda f, n, x, y: f.sigmoid(x), "np.logaddexp(0.0, {})", prime="σ",
              legend="softplus' = σ (the logistic sigmoid)"),
    Primitive("sqrt", np.sqrt, lambda f, n, x, y: 0.5 * f.power(y, -1.0), "np.sqrt({})",
              legend="sqrt'(z) = 1 / (2 sqrt(z))"),
    Primitive("abs", np.abs, lambda f, n, x, y: f.sign(x), "np.abs({})", prime="sign"),
    Primitive("sign", np.sign, None, "np.sign({})"),
    Primitive("heaviside", lambda x: (x > 0).astype(x.dtype), None, "np.heaviside({}, 0.0)"),
)

# ``x ** p`` for a number ``p`` (the node's ``param``); its code is written by the generator
# (x * x, 1.0 / x, np.sqrt(x) for the common exponents).
POW = Primitive("pow", np.power, lambda f, n, x, y: n.param * f.power(x, n.param - 1.0),
                "{} ** {}")


def power_numpy(x: np.ndarray, p: float) -> np.ndarray:
    """``x ** p`` the way generated code writes it (exact for the common exponents)."""
    if p == 2:
        return x * x
    if p == -1:
        return 1.0 / x
    if p == 0.5:
        return np.sqrt(x)
    return np.power(x, p)


# Matrix functions of the last two axes (leading axes batch); derivatives in the VJP rules.
MATRIX: dict[str, Primitive] = _rows(
    Primitive("inv", np.linalg.inv, None, "np.linalg.inv({})"),
    Primitive("det", lambda x: np.asarray(np.linalg.det(x)), None, "np.linalg.det({})", r"\det"),
    Primitive("logdet", lambda x: np.asarray(np.linalg.slogdet(x)[1]), None,
              "np.linalg.slogdet({})[1]"),
)


# Index-notation names of the other builders, by what they do to their argument's labels.
REDUCE_TO_SCALAR = ("sum", "mean", "norm2", "logsumexp")
SQUARE_TO_SCALAR = {"tr": "trace", "trace": "trace", "det": "det", "logdet": "logdet"}
SQUARE_TO_SQUARE = ("inv",)
SQUARE_TO_VECTOR = ("diag",)
KEEP_LABELS = ("softmax",)


def parser_names() -> dict[str, str]:
    """Every function name index-notation text may call, mapped to its builder's name."""
    names = {alias: row.name for row in ELEMENTWISE.values() for alias in row.names}
    names.update({n: n for n in REDUCE_TO_SCALAR + SQUARE_TO_SQUARE + SQUARE_TO_VECTOR + KEEP_LABELS})
    names.update(SQUARE_TO_SCALAR)
    return names
