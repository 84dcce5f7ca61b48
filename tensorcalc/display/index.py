"""Index notation: components with Einstein's convention, in LaTeX or Unicode.

:func:`index_text` writes a label twice for a sum (other sums are explicit) and a δ for a
diagonal that remains; matrix functions (inverses, determinants) are written in matrix form
inside it.

>>> from tensorcalc.ir import var, einsum
>>> index_text(einsum("ij,j->i", var("A", ("m", "n")), var("x", ("n",))))
'A_ij x_j'
"""

from __future__ import annotations

from typing import Any, Sequence

from ..ir import Add, Const, Einsum, Expr, Var, WithDims
from ..ir.registry import NodeRules
from ..labels import Labels
from ..ops import AxisFunc, Func, Index, LogSumExp, MatFunc
from .format import factor_dims, leading_minus, number, sign_magnitude, signed_sum
from .matrix import MatrixPrinter, NotMatrix, reading_order
from .matrix import axisfunc_matrix_text
from ..simplify import simplified
from .render import LATEX, UNICODE, Renderer
from .text import to_str

__all__ = ["index_text", "index_rule"]

# The index-notation text of each node type: ``rule(node, labels, printer) -> (text,
# precedence)`` for the node's axes named ``labels``; NotMatrix where it cannot be shown.
index_rule = NodeRules("index notation")


# ----------------------------------------------------------------------------- index notation

class IndexPrinter:
    """Render an expression in index notation (Einstein convention) with given labels."""

    def __init__(self, r: Renderer) -> None:
        self.r = r
        self.labels = Labels()

    def fresh(self) -> str:
        return self.labels.fresh()

    def sub(self, labels: Sequence[str]) -> str:
        return self.r.sub(labels)

    def fmt(self, node: Expr, labels: Sequence[str]) -> tuple[str, int]:
        rule = index_rule.lookup(type(node))
        if rule is None:
            raise NotMatrix(type(node).__name__)
        return rule(node, list(labels), self)

    def group(self, node: Expr, labels: Sequence[str], prec: int) -> str:
        # The labels are written inside the group, so it takes no subscript of its own.
        text, p = self.fmt(node, labels)
        return self.r.paren(text) if p < prec else text


@index_rule.register(Var)
def _fmt_var(node: Var, labels: list[str], p: IndexPrinter) -> tuple[str, int]:
    return p.r.name(node) + p.sub(labels), 3


@index_rule.register(WithDims)
def _fmt_withdims(node: Expr, labels: list[str], p: IndexPrinter) -> tuple[str, int]:
    return p.fmt(node.children[0], labels)


@index_rule.register(Index)
def _fmt_index(node: Any, labels: list[str], p: IndexPrinter) -> tuple[str, int]:
    # x[0, :] -> x_{0i} (numpy's 0-based positions); only ints and full slices of a variable
    x = node.children[0]
    if not isinstance(x, Var) or any(
            it is None or (isinstance(it, slice) and it != slice(None)) for it in node.index):
        raise NotMatrix("Index")
    it = iter(labels)
    subs = [next(it) if isinstance(item, slice) else str(item) for item in node.index]
    subs += list(it)  # trailing axes the index leaves untouched
    sep = "," if any(len(sub) > 1 or sub.isdigit() for sub in subs) and len(subs) > 1 else ""
    text = p.r.name(x) + (p.r.sub([sep.join(subs)]) if subs else "")
    return text, 3


@index_rule.register(Const)
def _fmt_const(node: Const, labels: list[str], p: IndexPrinter) -> tuple[str, int]:
    if node.value.ndim:
        return r"c" + p.sub(labels), 3
    return p.r.frac_coeff(node.value.item()), 3 if node.value.item() >= 0 else 0


@index_rule.register(Einsum)
def _fmt_einsum(node: Einsum, labels: list[str], p: IndexPrinter) -> tuple[str, int]:
    order = reading_order(node)
    ops = [node.children[k] for k in order]
    inputs = [node.inputs[k] for k in order]
    rename: dict[str, str] = {}
    deltas = []
    for lab, given in zip(node.output, labels):
        if lab in rename:
            deltas.append(p.r.delta(rename[lab], given))
        else:
            rename[lab] = given
    summed = []
    for lab in "".join(inputs):
        if lab not in rename:
            rename[lab] = p.fresh()
            summed.append(lab)
    counts: dict[str, int] = {}
    for lab in "".join(inputs):
        counts[lab] = counts.get(lab, 0) + 1
    explicit = [rename[l] for l in summed if counts[l] != 2]
    parts = []
    num, den = factor_dims(node)
    coeff = node.scale
    negative, magnitude = sign_magnitude(coeff)
    if magnitude != 1:
        parts.append(p.r.frac_coeff(magnitude))
    if num or den:
        parts.append(p.r.dims(num, den))
    if explicit:
        parts.append(p.r.sum_over(explicit))
    parts.extend(deltas)
    for op, ins in zip(ops, inputs):
        if isinstance(op, Const) and op.ndim == 0 and op.value.item() == 1 and parts:
            continue  # a factor 1 next to a delta or a coefficient
        parts.append(p.group(op, [rename[l] for l in ins], 1 if len(node.children) == 1 else 2))
    text = " ".join(parts)
    if negative:
        return "-" + text, 0
    return text, 1 if len(parts) > 1 else 3


@index_rule.register(Add)
def _fmt_add(node: Add, labels: list[str], p: IndexPrinter) -> tuple[str, int]:
    terms = []
    for child, c in zip(node.children, node.coeffs):
        text, prec = p.fmt(child, labels)
        if leading_minus(child, text):
            c, text = -c, text[1:]
        elif prec < 1 and (c != 1 or text.startswith("-")):
            text = p.r.paren(text)
        negative, magnitude = sign_magnitude(c)
        if magnitude != 1:
            text = f"{p.r.frac_coeff(magnitude)} {text}"
        terms.append((negative, text))
    return signed_sum(terms), 0


@index_rule.register(Func)
def _fmt_func(node: Any, labels: list[str], p: IndexPrinter) -> tuple[str, int]:
    x = node.children[0]
    if node.name == "pow":
        return p.r.power(p.group(x, labels, 3), number(node.param)), 2
    return p.r.call(node.name, p.fmt(x, labels)[0]), 3


@index_rule.register(MatFunc)
def _fmt_matfunc(node: Any, labels: list[str], p: IndexPrinter) -> tuple[str, int]:
    x = node.children[0]
    inner = MatrixPrinter(p.r)
    try:
        arg = inner.wrap(x, 3)
    except NotMatrix:
        raise NotMatrix("matrix function of a tensor expression") from None
    if node.name == "inv":
        return p.r.paren(p.r.inv(arg)) + p.sub(labels), 3
    return p.r.call(node.name, arg), 3


@index_rule.register(AxisFunc)
def _fmt_axisfunc(node: Any, labels: list[str], p: IndexPrinter) -> tuple[str, int]:
    """``softmax(z)_i``, ``‖x‖``, ``(x/‖x‖)_i``: the argument in matrix form, the node's
    labels on the result."""
    inner = MatrixPrinter(p.r)
    try:
        text, prec = axisfunc_matrix_text(node, inner)
    except NotMatrix:
        raise NotMatrix(f"{node.name} of a tensor expression") from None
    if not labels:
        return text, prec
    return (p.r.paren(text) if node.name == "normalize" else text) + p.sub(labels), 3


@index_rule.register(LogSumExp)
def _fmt_logsumexp(node: Any, labels: list[str], p: IndexPrinter) -> tuple[str, int]:
    x = node.children[0]
    it = iter(labels)
    inner = []
    summed = []
    for ax in range(x.ndim):
        if ax in node.axes:
            lab = p.fresh()
            summed.append(lab)
            inner.append(lab)
        else:
            inner.append(next(it))
    body = p.fmt(x, inner)[0]
    return p.r.logsumexp(summed, body), 3


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "_": r"\_", "#": r"\#",
                  "%": r"\%", "&": r"\&", "$": r"\$", "^": r"\^{}", "~": r"\~{}"}


def index_text(expr: Expr, latex: bool = False) -> str:
    """``expr`` in index notation, free labels ``i, j, ...`` (plain Unicode, or LaTeX).

    Nodes index notation cannot show (indexing, stacking) fall back to the einsum text.

    >>> from tensorcalc.ir import var, einsum
    >>> index_text(einsum("ii->i", var("X", ("n", "n"))), latex=True)
    'X_{ii}'
    """
    expr = simplified(expr)
    printer = IndexPrinter(LATEX if latex else UNICODE)
    labels = [printer.fresh() for _ in range(expr.ndim)]
    try:
        return printer.fmt(expr, labels)[0]
    except NotMatrix:
        text = to_str(expr)
        if not latex:
            return text
        # \text{} with LaTeX's special characters escaped, the where block on one line
        text = "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)
        return r"\text{" + text.replace("\n", "; ") + "}"
