"""The two renderers of formulas: ``LATEX`` and ``UNICODE`` turn the pieces of a formula
(products, transposes, sums, deltas, powers, function calls) into text; matrix and index
notation (:mod:`.matrix`, :mod:`.index`) decide which pieces an expression needs.

>>> print(LATEX.delta("i", "j"))
\\delta_{ij}
"""

from __future__ import annotations

from typing import Any, Sequence

from ..ir import Var
from ..ops import AXIS, ELEMENTWISE, MATRIX
from .format import number

# ----------------------------------------------------------------------------- renderers

class Renderer:
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
        row = ELEMENTWISE.get(name) or MATRIX.get(name) or AXIS.get(name)
        if name == "norm2":
            return self.norm(text)
        if name == "normalize":
            return rf"\frac{{{text}}}{{{self.norm(text)}}}"
        if name == "sqrt":
            return rf"\sqrt{{{text}}}"
        if name == "abs":
            return rf"\left|{text}\right|"
        if name == "logdet":
            return rf"\log\left|\det {text}\right|" if _atomic(text) else rf"\log\left|\det({text})\right|"
        head = row.latex if row is not None and row.latex else rf"\operatorname{{{name}}}"
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

    def norm(self, text: str) -> str:
        return rf"\left\lVert {text} \right\rVert"

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


class UnicodeRenderer(Renderer):
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
        if name == "norm2":
            return self.norm(text)
        if name == "normalize":
            return f"{text}/{self.norm(text)}" if _atomic(text) else f"({text})/{self.norm(text)}"
        row = ELEMENTWISE.get(name) or AXIS.get(name)
        return f"{row.unicode if row is not None and row.unicode else name}({text})"

    def power(self, base: str, p: str) -> str:
        sup = str.maketrans("0123456789-.", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻·")
        return base + p.translate(sup) if all(c in "0123456789-" for c in p) else f"{base}^{p}"

    def elementwise_power(self, base: str, p: str) -> str:
        return f"{base}^∘{p}" if p not in ("2", "3") else self.power(base, p)

    def trace(self, text: str) -> str:
        return f"tr({text})"

    def norm2(self, text: str, ndim: int) -> str:
        return f"‖{text}‖{'_F' if ndim == 2 else ''}²"

    def norm(self, text: str) -> str:
        return f"‖{text}‖"

    def sum_all(self, text: str) -> str:
        return f"{self.ones()}ᵀ{text}"

    def scale(self, coeff: str, text: str) -> str:
        return f"{coeff} {text}"

    def dims(self, num: list[str], den: list[str]) -> str:
        top = " ".join(num) or "1"
        return f"{top}/{' '.join(den)}" if den else top

    def frac_coeff(self, value: float) -> str:
        return number(value)

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


LATEX = Renderer()
UNICODE = UnicodeRenderer()


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
    text = number(value)
    return text.replace("e-", r"\cdot 10^{-").replace("e+", r"\cdot 10^{") + ("}" if "e" in text else "")


def _atomic(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += ch in "({["
        depth -= ch in ")}]"
        if depth == 0 and ch in " +-":
            return False
    return True
