"""Index notation: components with Einstein's convention, in LaTeX or Unicode.

:func:`index_text` writes a label twice for a sum (other sums are explicit) and a δ for a
diagonal that remains; matrix functions (inverses, determinants) are written in matrix form
inside it.

>>> from tensorcalc.expr import var, einsum
>>> index_text(einsum("ij,j->i", var("A", ("m", "n")), var("x", ("n",))))
'A_ij x_j'
"""

from __future__ import annotations

from typing import Any, Sequence

from .expr import Add, Const, Einsum, Expr, Var
from .matrix_notation import _Matrix, _NotMatrix
from .notation import (LATEX, UNICODE, Labels, _factor_dims, _Latex, _leading_minus, _number,
                       sign_magnitude)

__all__ = ["index_text"]


# ----------------------------------------------------------------------------- index notation

class _Index:
    """Render an expression in index notation (Einstein convention) with given labels."""

    def __init__(self, r: _Latex) -> None:
        self.r = r
        self.labels = Labels(pool="ijklmnpqrstuvwabcdefgh")

    def fresh(self) -> str:
        return self.labels.fresh()

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
