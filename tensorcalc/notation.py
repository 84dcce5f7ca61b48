"""Matrix notation and index notation of expressions, in LaTeX or plain Unicode.

* :func:`matrix_chain` recognises an einsum that is a product of matrices, transposes,
  column/row vectors and diagonals (``"ij,j->i"`` is ``A x``, ``"ji,j->i"`` is ``Aᵀ x``,
  ``"ij,i,ik->jk"`` is ``Aᵀ diag(s) A``); :func:`matrix_text` writes a whole expression that
  way (traces, diagonals, inverses ``X⁻ᵀ``, norms, elementwise functions and ``⊙``) or
  returns ``None``;
* :func:`index_text` writes the components with Einstein's convention (a label written twice
  is summed, other sums are explicit) and a δ for a remaining diagonal.

``tensorcalc.printing.to_latex`` and the explanations of ``tensorcalc.explain`` use both.

>>> from tensorcalc.expr import var, einsum
>>> A = var("A", ("m", "n")); x = var("x", ("n",))
>>> matrix_text(einsum("ji,j->i", A, var("y", ("m",))))
'Aᵀ y'
>>> index_text(einsum("ij,j->i", A, x))
'A_ij x_j'
"""

from __future__ import annotations

import itertools
from typing import Any, Sequence

import numpy as np

from .expr import Add, Const, Einsum, Expr, Var

__all__ = ["matrix_chain", "matrix_text", "index_text"]


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


# ----------------------------------------------------------------------------- matrix chains

def matrix_chain(inputs: Sequence[str], output: str) -> list[tuple[int, str]] | None:
    """Write ``einsum(inputs -> output)`` as a product of matrices, if it is one.

    Returns the operands in product order, each with its form: ``"M"`` (as is), ``"T"``
    (transposed matrix), ``"col"`` (column vector), ``"row"`` (transposed vector), ``"diag"``
    (vector on a diagonal) or ``"scalar"`` (0-d factor, listed first); ``None`` when the einsum
    is not a matrix product (ranks above 2, a label summed inside one operand, an extended
    output...). Among valid orders the one with the fewest transposes wins.

    >>> matrix_chain(["ij", "j"], "i")
    [(0, 'M'), (1, 'col')]
    >>> matrix_chain(["ji", "j"], "i")
    [(0, 'T'), (1, 'col')]
    >>> matrix_chain(["ij", "i", "ik"], "jk")
    [(0, 'T'), (1, 'diag'), (2, 'M')]
    >>> matrix_chain(["ij", "ij"], "i") is None
    True
    """
    if len(output) > 2 or len(set(output)) != len(output):
        return None
    if any(len(lab) > 2 or len(set(lab)) != len(lab) for lab in inputs):
        return None
    if not set(output) <= set("".join(inputs)):
        return None
    scalars = [(k, "scalar") for k, lab in enumerate(inputs) if not lab]
    tensors = [k for k, lab in enumerate(inputs) if lab]
    if not tensors or len(tensors) > 5:  # the search is over orders and forms: keep it small
        return None if tensors else scalars
    best: tuple[int, list[tuple[int, str]]] | None = None
    for perm in itertools.permutations(tensors):
        options = [_forms(inputs[k]) for k in perm]
        for forms in itertools.product(*options):
            if best is not None and _cost(forms) >= best[0]:
                continue
            if _valid_chain([f[1] for f in forms], output):
                best = (_cost(forms), [(k, f[0]) for k, f in zip(perm, forms)])
        if best is not None and best[0] == 0:
            break
    return None if best is None else scalars + best[1]


def _trace_chain(inputs: Sequence[str]) -> list[tuple[int, str]] | None:
    """A full contraction that is the trace of a matrix product (``"ij,ji->"`` = tr(A B)).

    Cut the cycle at one label: its second occurrence becomes a fresh label, and the
    product must then run from the label to its copy.
    """
    text = "".join(inputs)
    for lab in dict.fromkeys(text):
        if text.count(lab) != 2:
            continue
        first = next(k for k, l in enumerate(inputs) if lab in l)
        second = next(k for k, l in enumerate(inputs) if lab in l and k != first) \
            if inputs[first].count(lab) == 1 else None
        if second is None:
            continue
        cut = list(inputs)
        cut[second] = cut[second].replace(lab, "#")
        chain = matrix_chain(cut, lab + "#")
        if chain is not None:
            return chain
    return None


def _forms(labels: str) -> list[tuple[str, tuple[str, str]]]:
    if len(labels) == 2:
        return [("M", (labels[0], labels[1])), ("T", (labels[1], labels[0]))]
    c = labels
    return [("col", (c, "1")), ("row", ("1", c)), ("diag", (c, c))]


def _cost(forms: Sequence[tuple[str, Any]]) -> int:
    return sum(f[0] in ("T", "row") for f in forms) + sum(2 * (f[0] == "diag") for f in forms)


def _valid_chain(pairs: Sequence[tuple[str, str]], output: str) -> bool:
    for (_, col), (row, _) in zip(pairs, pairs[1:]):
        if col != row:
            return False
    bounds = [pairs[0][0]] + [p[1] for p in pairs]
    ends = {1: (output, "1"), 2: tuple(output), 0: ("1", "1")}[len(output)]
    if (bounds[0], bounds[-1]) != tuple(ends):
        return False
    # Each label's boundaries must be one contiguous run: one sum per label (diagonals
    # between repeat it), and an output label runs out to its end of the chain.
    for lab in set(bounds) - {"1"}:
        where = [k for k, b in enumerate(bounds) if b == lab]
        if where[-1] - where[0] + 1 != len(where):
            return False
    return True


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


# ----------------------------------------------------------------------------- matrix form

class _NotMatrix(Exception):
    """An einsum or node that matrix notation cannot show."""


class _Matrix:
    """Render an expression in matrix notation; raises _NotMatrix when it cannot."""

    def __init__(self, r: _Latex, names: dict[int, str] | None = None) -> None:
        self.r = r
        self.names = names or {}

    def fmt(self, node: Expr) -> tuple[str, int]:
        if node.uid in self.names:
            return self.names[node.uid], 3
        method = getattr(self, "fmt_" + type(node).__name__, None)
        if method is None or node.ndim > 2 and not isinstance(node, Add):
            raise _NotMatrix(type(node).__name__)
        return method(node)

    def wrap(self, node: Expr, prec: int) -> str:
        text, p = self.fmt(node)
        return self.r.paren(text) if p < prec else text

    def fmt_Var(self, node: Var) -> tuple[str, int]:
        if node.ndim > 2:
            raise _NotMatrix(node.name)
        return self.r.name(node), 3

    def fmt_WithDims(self, node: Expr) -> tuple[str, int]:
        return self.fmt(node.children[0])

    def fmt_Const(self, node: Const) -> tuple[str, int]:
        if node.value.ndim:
            raise _NotMatrix("array constant")
        return self.r.frac_coeff(node.value.item()), 3 if node.value.item() >= 0 else 0

    def operand(self, node: Expr, form: str) -> str:
        # X^{-T}: the transpose of an inverse prints as one symbol.
        if form == "T" and type(node).__name__ == "MatFunc" and node.name == "inv" \
                and node.uid not in self.names:
            return self.r.inv_T(self.wrap(node.children[0], 3))
        if form in ("M", "col", "scalar"):
            return self.wrap(node, 1)
        if form in ("T", "row"):
            return self.r.T(self.wrap(node, 3))
        return self.r.diag(self.fmt(node)[0])

    def einsum_core(self, node: Einsum) -> tuple[str, int]:
        ins, out, ops = node.inputs, node.output, node.children
        if _is_identity(node) or _scalar_broadcast(node) is not None:
            return self.fmt(ops[0])
        if ins == ("",) and len(out) == 2 and out[0] == out[1]:  # c * identity
            text, prec = self.fmt(ops[0])
            return (self.r.identity() if text == "1" else self.r.scale(text, self.r.identity())), 1
        if len(ops) == 1:
            lab = ins[0]
            if len(lab) == 2 and lab[0] == lab[1] and out == "":
                return self.r.trace(self.fmt(ops[0])[0]), 3
            if len(lab) == 2 and lab[0] == lab[1] and out == lab[0]:
                return self.r.diag(self.fmt(ops[0])[0]), 3
            if len(lab) == 1 and out == lab + lab:
                return self.r.diag(self.fmt(ops[0])[0]), 3
            if len(lab) == 1 and len(out) == 2 and len(set(out)) == 2 and lab in out:
                # broadcast of a vector along a new axis: x 1ᵀ or 1 xᵀ
                x = self.wrap(ops[0], 3)
                if out[0] == lab:
                    return self.r.product([x, self.r.T(self.r.ones())]), 1
                return self.r.product([self.r.ones(), self.r.T(x)]), 1
            if out == "" and len(set(lab)) == len(lab) and ops[0].ndim <= 2:
                op = ops[0]
                if type(op).__name__ == "Func" and op.name == "pow" and op.param == 2 \
                        and op.uid not in self.names:
                    return self.r.norm2(self.fmt(op.children[0])[0], op.ndim), 2
                return self.r.sum_all(self.wrap(op, 3)), 1
        if len(ops) == 2 and ops[0].uid == ops[1].uid and ins[0] == ins[1] and out == "" \
                and len(set(ins[0])) == len(ins[0]) <= 2:
            return self.r.norm2(self.fmt(ops[0])[0], ops[0].ndim), 2
        if len(set(out)) == len(out) and all(sorted(l) == sorted(out) for l in ins) \
                and len(ops) > 1 and len(out) <= 2:
            parts = [self.operand(op, "M" if l == out else "T") for op, l in zip(ops, ins)]
            # scalars multiply by juxtaposition; arrays of one shape elementwise (⊙)
            return (self.r.times.join(parts) if out else self.r.product(parts)), 1
        chain = matrix_chain(ins, out)
        if chain is None and out == "":
            cyclic = _trace_chain(ins)
            if cyclic is not None:
                return self.r.trace(self.render_chain(ops, cyclic)), 3
        if chain is None:
            raise _NotMatrix(node.spec)
        return self.render_chain(ops, chain), 1

    def render_chain(self, ops: Sequence[Expr], chain: list[tuple[int, str]]) -> str:
        parts: list[str] = []
        run: list[str] = []  # consecutive diagonals merge: diag(a) diag(b) = diag(a ⊙ b)
        for k, form in chain + [(-1, "end")]:
            if form == "diag":
                run.append(self.wrap(ops[k], 2) if len(chain) > 1 else self.fmt(ops[k])[0])
                continue
            if run:
                parts.append(self.r.diag(self.r.times.join(run)))
                run = []
            if form != "end":
                parts.append(self.operand(ops[k], form))
        return self.r.product(parts)

    def fmt_Einsum(self, node: Einsum) -> tuple[str, int]:
        core, prec = self.einsum_core(node)
        num, den = _factor_dims(node)
        coeff = node.scale
        if coeff == 1 and not num and not den:
            return core, prec
        body = core if prec >= 1 else self.r.paren(core)
        negative, magnitude = sign_magnitude(coeff)
        lead = "-" if negative else ""
        mag = [] if magnitude == 1 else [self.r.frac_coeff(magnitude)]
        if num or den:
            mag.append(self.r.dims(num, den))
        text = lead + (self.r.scale(" ".join(mag), body) if mag else body)
        return text, 1 if not lead else 0

    def fmt_Add(self, node: Add) -> tuple[str, int]:
        out = ""
        for k, (child, c) in enumerate(zip(node.children, node.coeffs)):
            if isinstance(child, Einsum) and not child.factor_dims and child.uid not in self.names:
                c *= child.scale
                text, prec = self.einsum_core(child)
            else:
                text, prec = self.fmt(child)
            if _leading_minus(child, text):  # the minus of a negative term joins the sign
                c, text, prec = -c, text[1:], 1
            if prec < 1 and (c != 1 or text.startswith("-")):
                text = self.r.paren(text)
            negative, magnitude = sign_magnitude(c)
            if magnitude != 1:
                text = self.r.scale(self.r.frac_coeff(magnitude), text)
            sign = "-" if negative else "+"
            out += (("-" if sign == "-" else "") if k == 0 else f" {sign} ") + text
        return out, 0

    def fmt_Func(self, node: Any) -> tuple[str, int]:
        x = node.children[0]
        if node.name == "pow":
            p = _number(node.param)
            if x.ndim == 0:
                return self.r.power(self.wrap(x, 3), p), 2
            return self.r.elementwise_power(self.wrap(x, 3), p), 2
        return self.r.call(node.name, self.fmt(x)[0]), 3

    def fmt_MatFunc(self, node: Any) -> tuple[str, int]:
        x = node.children[0]
        if node.name == "inv":
            return self.r.inv(self.wrap(x, 3)), 3
        return self.r.call(node.name, self.fmt(x)[0]), 3


def matrix_text(expr: Expr, unicode: bool = True, shared_names: bool = False) -> str | None:
    """``expr`` in matrix notation (plain Unicode by default, else LaTeX), or ``None``.

    With ``shared_names``, subexpressions used twice are written with the names ``to_str``
    gives them in its ``where`` block.

    >>> from tensorcalc.expr import var, einsum
    >>> A = var("A", ("m", "n")); B = var("B", ("n", "k"))
    >>> matrix_text(einsum("ij,jk->ik", A, B) * 2)
    '2 A B'
    """
    from .printing import _shared

    names = _shared(expr)[1] if shared_names else {}
    try:
        return _Matrix(UNICODE if unicode else LATEX, names).fmt(expr)[0]
    except _NotMatrix:
        return None


# ----------------------------------------------------------------------------- index notation

class _Index:
    """Render an expression in index notation (Einstein convention) with given labels."""

    def __init__(self, r: _Latex) -> None:
        self.r = r
        self.pool = "ijklmnpqrstuvwabcdefgh"
        self.used: set[str] = set()

    def fresh(self) -> str:
        for c in self.pool:
            if c not in self.used:
                self.used.add(c)
                return c
        k = 1
        while f"i{k}" in self.used:
            k += 1
        self.used.add(f"i{k}")
        return f"i{k}"

    def sub(self, labels: Sequence[str]) -> str:
        return self.r.sub(labels)

    def fmt(self, node: Expr, labels: Sequence[str]) -> tuple[str, int]:
        method = getattr(self, "fmt_" + type(node).__name__, None)
        if method is None:
            raise _NotMatrix(type(node).__name__)
        return method(node, list(labels))

    def group(self, node: Expr, labels: Sequence[str], prec: int) -> str:
        # The labels are written inside the group, so it takes no subscript of its own.
        text, p = self.fmt(node, labels)
        return self.r.paren(text) if p < prec else text

    def fmt_Var(self, node: Var, labels: list[str]) -> tuple[str, int]:
        return self.r.name(node) + self.sub(labels), 3

    def fmt_WithDims(self, node: Expr, labels: list[str]) -> tuple[str, int]:
        return self.fmt(node.children[0], labels)

    def fmt_Index(self, node: Any, labels: list[str]) -> tuple[str, int]:
        # x[0, :] -> x_{0i} (numpy's 0-based positions); only ints and full slices of a variable
        x = node.children[0]
        if not isinstance(x, Var) or any(
                it is None or (isinstance(it, slice) and it != slice(None)) for it in node.index):
            raise _NotMatrix("Index")
        it = iter(labels)
        subs = [next(it) if isinstance(item, slice) else str(item) for item in node.index]
        subs += list(it)  # trailing axes the index leaves untouched
        sep = "," if any(len(sub) > 1 or sub.isdigit() for sub in subs) and len(subs) > 1 else ""
        text = self.r.name(x) + (self.r.sub([sep.join(subs)]) if subs else "")
        return text, 3

    def fmt_Const(self, node: Const, labels: list[str]) -> tuple[str, int]:
        if node.value.ndim:
            return r"c" + self.sub(labels), 3
        return self.r.frac_coeff(node.value.item()), 3 if node.value.item() >= 0 else 0

    def fmt_Einsum(self, node: Einsum, labels: list[str]) -> tuple[str, int]:
        rename: dict[str, str] = {}
        deltas = []
        for lab, given in zip(node.output, labels):
            if lab in rename:
                deltas.append(self.r.delta(rename[lab], given))
            else:
                rename[lab] = given
        summed = []
        for lab in "".join(node.inputs):
            if lab not in rename:
                rename[lab] = self.fresh()
                summed.append(lab)
        counts: dict[str, int] = {}
        for lab in "".join(node.inputs):
            counts[lab] = counts.get(lab, 0) + 1
        explicit = [rename[l] for l in summed if counts[l] != 2]
        parts = []
        num, den = _factor_dims(node)
        coeff = node.scale
        negative, magnitude = sign_magnitude(coeff)
        if magnitude != 1:
            parts.append(self.r.frac_coeff(magnitude))
        if num or den:
            parts.append(self.r.dims(num, den))
        if explicit:
            parts.append(self.r.sum_over(explicit))
        parts.extend(deltas)
        for op, ins in zip(node.children, node.inputs):
            if isinstance(op, Const) and op.ndim == 0 and op.value.item() == 1 and parts:
                continue  # a factor 1 next to a delta or a coefficient
            parts.append(self.group(op, [rename[l] for l in ins], 1 if len(node.children) == 1 else 2))
        text = " ".join(parts)
        if negative:
            return "-" + text, 0
        return text, 1 if len(parts) > 1 else 3

    def fmt_Add(self, node: Add, labels: list[str]) -> tuple[str, int]:
        out = ""
        for k, (child, c) in enumerate(zip(node.children, node.coeffs)):
            text, prec = self.fmt(child, labels)
            if _leading_minus(child, text):
                c, text = -c, text[1:]
            elif prec < 1 and (c != 1 or text.startswith("-")):
                text = self.r.paren(text)
            negative, magnitude = sign_magnitude(c)
            if magnitude != 1:
                text = f"{self.r.frac_coeff(magnitude)} {text}"
            if k == 0:
                out += ("-" if negative else "") + text
            else:
                out += (" - " if negative else " + ") + text
        return out, 0

    def fmt_Func(self, node: Any, labels: list[str]) -> tuple[str, int]:
        x = node.children[0]
        if node.name == "pow":
            return self.r.power(self.group(x, labels, 3), _number(node.param)), 2
        return self.r.call(node.name, self.fmt(x, labels)[0]), 3

    def fmt_MatFunc(self, node: Any, labels: list[str]) -> tuple[str, int]:
        x = node.children[0]
        inner = _Matrix(self.r)
        try:
            arg = inner.wrap(x, 3)
        except _NotMatrix:
            raise _NotMatrix("matrix function of a tensor expression") from None
        if node.name == "inv":
            return self.r.paren(self.r.inv(arg)) + self.sub(labels), 3
        return self.r.call(node.name, arg), 3

    def fmt_LogSumExp(self, node: Any, labels: list[str]) -> tuple[str, int]:
        x = node.children[0]
        it = iter(labels)
        inner = []
        summed = []
        for ax in range(x.ndim):
            if ax in node.axes:
                lab = self.fresh()
                summed.append(lab)
                inner.append(lab)
            else:
                inner.append(next(it))
        body = self.fmt(x, inner)[0]
        return self.r.logsumexp(summed, body), 3


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "_": r"\_", "#": r"\#",
                  "%": r"\%", "&": r"\&", "$": r"\$", "^": r"\^{}", "~": r"\~{}"}


def index_text(expr: Expr, latex: bool = False) -> str:
    """``expr`` in index notation, free labels ``i, j, ...`` (plain Unicode, or LaTeX).

    Nodes index notation cannot show (indexing, stacking) fall back to the einsum text.

    >>> from tensorcalc.expr import var, einsum
    >>> index_text(einsum("ii->i", var("X", ("n", "n"))), latex=True)
    'X_{ii}'
    """
    printer = _Index(LATEX if latex else UNICODE)
    labels = [printer.fresh() for _ in range(expr.ndim)]
    try:
        return printer.fmt(expr, labels)[0]
    except _NotMatrix:
        from .printing import to_str

        text = to_str(expr)
        if not latex:
            return text
        # \text{} with LaTeX's special characters escaped, the where block on one line
        text = "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)
        return r"\text{" + text.replace("\n", "; ") + "}"
