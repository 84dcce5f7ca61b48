"""What matrix and index notation share: coefficients, numbers and the two renderers.

``LATEX`` and ``UNICODE`` turn the pieces of a formula (products, transposes, sums, deltas,
powers) into text; :mod:`tensorcalc.matrix_notation` and :mod:`tensorcalc.index_notation`
decide which pieces an expression needs.

>>> sign_magnitude(-2.0)
(True, 2.0)
>>> print(LATEX.delta("i", "j"))
\\delta_{ij}
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .expr import Const, Einsum, Expr, Var

def _is_identity(node: Einsum) -> bool:
    return len(node.inputs) == 1 and node.inputs[0] == node.output and \
        len(set(node.output)) == len(node.output)


def _scalar_broadcast(node: Expr) -> Const | None:
    """The 0-d constant that ``node`` merely broadcasts (``einsum("->ij", 1)``), if any."""
    if isinstance(node, Einsum) and len(node.children) == 1 and node.inputs == ("",) \
            and isinstance(node.children[0], Const) and len(set(node.output)) == len(node.output) \
            and not node.factor_dims:
        return node.children[0]
    return None


def _leading_minus(node: Expr, text: str) -> bool:
    """Whether ``text`` is ``-`` applied to the whole of ``node`` (not a sum's first term)."""
    if not text.startswith("-"):
        return False
    if isinstance(node, Einsum):
        return node.scale < 0
    return isinstance(node, Const) and node.value.ndim == 0


def sign_magnitude(value: Any) -> tuple[bool, Any]:
    """``(negative, magnitude)`` of a coefficient; a complex one keeps its phase whole.

    >>> sign_magnitude(-2.0), sign_magnitude(2j)
    ((True, 2.0), (False, 2j))
    """
    if isinstance(value, complex) or np.iscomplexobj(value):
        value = complex(value)
        if value.imag != 0:
            return False, value
        value = value.real
    return value < 0, abs(value)


def _number(value: Any) -> str:
    if isinstance(value, complex):
        return repr(value)
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.12g}"


def _factor_dims(node: Einsum) -> tuple[list[str], list[str]]:
    """Named sizes that multiply (``n``) and divide (``(n, -1)`` entries) the einsum."""
    num, den = [], []
    for d in node.factor_dims:
        if isinstance(d, tuple):
            name, power = d
            (num if power > 0 else den).extend([str(name)] * int(abs(power)))
        else:
            num.append(str(d))
    return num, den


# ----------------------------------------------------------------------------- renderers

class _Latex:
    """Symbols for LaTeX output."""

    times = r" \odot "
    minus = " - "

    def name(self, var: Var) -> str:
        return _latex_name(var.name)

    def T(self, text: str) -> str:
        return text + r"^\top"

    def inv(self, text: str) -> str:
        return text + "^{-1}"

    def inv_T(self, text: str) -> str:
        return text + r"^{-\top}"

    def diag(self, text: str) -> str:
        return rf"\operatorname{{diag}}({text})"

    def call(self, name: str, text: str) -> str:
        known = {"exp": r"\exp", "log": r"\log", "sin": r"\sin", "cos": r"\cos", "tan": r"\tan",
                 "tanh": r"\tanh", "sigmoid": r"\sigma", "det": r"\det"}
        if name == "sqrt":
            return rf"\sqrt{{{text}}}"
        if name == "abs":
            return rf"\left|{text}\right|"
        if name == "logdet":
            return rf"\log\left|\det {text}\right|" if _atomic(text) else rf"\log\left|\det({text})\right|"
        head = known.get(name) or rf"\operatorname{{{name}}}"
        return rf"{head}\left({text}\right)" if len(text) > 12 else f"{head}({text})"

    def power(self, base: str, p: str) -> str:
        return f"{base}^{{{p}}}"

    def elementwise_power(self, base: str, p: str) -> str:
        return rf"{base}^{{\circ {p}}}"

    def trace(self, text: str) -> str:
        return rf"\operatorname{{tr}}({text})"

    def identity(self) -> str:
        return "I"

    def ones(self) -> str:
        return r"\mathbf{1}" if self is LATEX else "𝟏"

    def norm2(self, text: str, ndim: int) -> str:
        return rf"\left\lVert {text} \right\rVert{'_F' if ndim == 2 else ''}^2"

    def sum_all(self, text: str) -> str:
        return rf"\mathbf{{1}}^\top {text}"

    def product(self, parts: list[str]) -> str:
        return " ".join(parts)

    def scale(self, coeff: str, text: str) -> str:
        return f"{coeff} {text}"

    def dims(self, num: list[str], den: list[str]) -> str:
        top = " ".join(num) or "1"
        return rf"\frac{{{top}}}{{{' '.join(den)}}}" if den else top

    def frac_coeff(self, value: float) -> str:
        return _latex_number(value)

    def paren(self, text: str) -> str:
        return rf"\left({text}\right)"

    def sub(self, labels: Sequence[str]) -> str:
        return "_{" + "".join(labels) + "}" if labels else ""

    def delta(self, a: str, b: str) -> str:
        return rf"\delta_{{{a}{b}}}"

    def sum_over(self, labels: Sequence[str]) -> str:
        return r"\sum_{" + "".join(labels) + "}"

    def logsumexp(self, labels: Sequence[str], body: str) -> str:
        return rf"\log {self.sum_over(labels)} \exp\left({body}\right)"


class _Unicode(_Latex):
    """Symbols for plain-text output (the explanations of ``tensorcalc.explain``)."""

    times = " ⊙ "

    def name(self, var: Var) -> str:
        return var.name

    def T(self, text: str) -> str:
        return text + "ᵀ"

    def inv(self, text: str) -> str:
        return text + "⁻¹"

    def inv_T(self, text: str) -> str:
        return text + "⁻ᵀ"

    def diag(self, text: str) -> str:
        return f"diag({text})"

    def call(self, name: str, text: str) -> str:
        return f"{'σ' if name == 'sigmoid' else name}({text})"

    def power(self, base: str, p: str) -> str:
        sup = str.maketrans("0123456789-.", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻·")
        return base + p.translate(sup) if all(c in "0123456789-" for c in p) else f"{base}^{p}"

    def elementwise_power(self, base: str, p: str) -> str:
        return f"{base}^∘{p}" if p not in ("2", "3") else self.power(base, p)

    def trace(self, text: str) -> str:
        return f"tr({text})"

    def norm2(self, text: str, ndim: int) -> str:
        return f"‖{text}‖{'_F' if ndim == 2 else ''}²"

    def sum_all(self, text: str) -> str:
        return f"sum({text})"

    def scale(self, coeff: str, text: str) -> str:
        return f"{coeff} {text}"

    def dims(self, num: list[str], den: list[str]) -> str:
        top = " ".join(num) or "1"
        return f"{top}/{' '.join(den)}" if den else top

    def frac_coeff(self, value: float) -> str:
        return _number(value)

    def paren(self, text: str) -> str:
        return f"({text})"

    def sub(self, labels: Sequence[str]) -> str:
        return "_" + "".join(labels) if labels else ""

    def delta(self, a: str, b: str) -> str:
        return f"δ_{a}{b}"

    def sum_over(self, labels: Sequence[str]) -> str:
        return "Σ_" + "".join(labels)

    def logsumexp(self, labels: Sequence[str], body: str) -> str:
        return f"log {self.sum_over(labels)} exp({body})"


LATEX = _Latex()
UNICODE = _Unicode()


def _latex_name(name: str) -> str:
    greek = {"alpha", "beta", "gamma", "delta", "epsilon", "theta", "lambda", "mu", "nu", "xi",
             "pi", "rho", "sigma", "tau", "phi", "chi", "psi", "omega", "Gamma", "Delta",
             "Theta", "Lambda", "Sigma", "Phi", "Psi", "Omega"}
    base, _, sub = name.partition("_")
    if base in greek:
        base = "\\" + base
    elif len(base) > 1 and not (base[0].isalpha() and base[1:].isdigit()):
        base = rf"\mathrm{{{base}}}"
    elif len(base) > 1:  # W1 -> W_{1}
        base, sub = base[0], base[1:] + sub
    return f"{base}_{{{sub}}}" if sub else base


def _latex_number(value: Any) -> str:
    if isinstance(value, complex):
        re, im = _latex_number(value.real), _latex_number(abs(value.imag))
        imag = (im if im != "1" else "") + r"\mathrm{i}"
        if value.real == 0:
            return ("-" if value.imag < 0 else "") + imag
        return rf"\left({re} {'-' if value.imag < 0 else '+'} {imag}\right)"
    text = _number(value)
    return text.replace("e-", r"\cdot 10^{-").replace("e+", r"\cdot 10^{") + ("}" if "e" in text else "")


def _atomic(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += ch in "({["
        depth -= ch in ")}]"
        if depth == 0 and ch in " +-":
            return False
    return True


LABEL_POOL = "ijklmnpqrstuvwabcdefghxyz"


class Labels:
    """Fresh index labels that avoid the taken ones (``i1``, ``i2``, ... once the pool is used).

    >>> pool = Labels({"i"}, pool="ij")
    >>> pool.fresh(), pool.fresh()
    ('j', 'i1')
    """

    def __init__(self, taken: set[str] = frozenset(), pool: str = LABEL_POOL) -> None:
        self.taken = set(taken)
        self.pool = pool

    def fresh(self) -> str:
        for c in self.pool:
            if c not in self.taken:
                self.taken.add(c)
                return c
        k = 1
        while f"i{k}" in self.taken:
            k += 1
        self.taken.add(f"i{k}")
        return f"i{k}"
