"""Matrix notation: ``A x``, ``Aᵀ (A x − b)``, ``X⁻ᵀ``, ``diag``, traces, in LaTeX or Unicode.

:func:`matrix_chain` recognises an einsum that is a product of matrices, transposes,
column/row vectors and diagonals (``"ij,j->i"`` is ``A x``, ``"ji,j->i"`` is ``Aᵀ x``,
``"ij,i,ik->jk"`` is ``Aᵀ diag(s) A``); :func:`matrix_text` writes a whole expression that way
(traces, diagonals, inverses, norms, elementwise functions and ``⊙``) or returns ``None``.

>>> from tensorcalc.ir import var, einsum
>>> A = var("A", ("m", "n"))
>>> matrix_text(einsum("ji,j->i", A, var("y", ("m",))))
'Aᵀ y'
"""

from __future__ import annotations

import itertools
from typing import Any, Sequence

from ..ir import Add, Const, Einsum, Expr, Var, WithDims
from ..ir.registry import NodeRules
from ..ops import AxisFunc, Func, MatFunc
from .format import (factor_dims, is_identity, leading_minus, number, scalar_broadcast,
                     sign_magnitude, signed_sum)
from .format import shared_names as _shared_names
from ..simplify import simplified
from .render import LATEX, UNICODE, Renderer

__all__ = ["matrix_chain", "trace_chain", "reading_order", "matrix_text", "matrix_rule", "MatrixPrinter", "NotMatrix"]

# The matrix-notation text of each node type: ``rule(node, printer) -> (text, precedence)``;
# a rule raises NotMatrix where matrix notation cannot show the node.
matrix_rule = NodeRules("matrix notation")


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


def trace_chain(inputs: Sequence[str]) -> list[tuple[int, str]] | None:
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


# ----------------------------------------------------------------------------- matrix form

class NotMatrix(Exception):
    """An einsum or node that matrix notation cannot show."""


class MatrixPrinter:
    """Render an expression in matrix notation; raises NotMatrix when it cannot."""

    def __init__(self, r: Renderer, names: dict[int, str] | None = None) -> None:
        self.r = r
        self.names = names or {}

    def fmt(self, node: Expr) -> tuple[str, int]:
        if node.uid in self.names:
            return self.names[node.uid], 3
        rule = matrix_rule.lookup(type(node))
        if rule is None or node.ndim > 2 and not isinstance(node, Add):
            raise NotMatrix(type(node).__name__)
        return rule(node, self)

    def wrap(self, node: Expr, prec: int) -> str:
        text, p = self.fmt(node)
        return self.r.paren(text) if p < prec else text

    def operand(self, node: Expr, form: str) -> str:
        # X^{-T}: the transpose of an inverse prints as one symbol.
        if form == "T" and isinstance(node, MatFunc) and node.name == "inv" \
                and node.uid not in self.names:
            return self.r.inv_T(self.wrap(node.children[0], 3))
        if form == "scalar":  # (𝟏ᵀy) s: a scalar that is a product shows as one factor
            return self.wrap(node, 2)
        if form in ("M", "col"):
            # an elementwise product is one operand of the chain: A (x ⊙ y)
            return self.wrap(node, 2 if is_hadamard(node) and node.uid not in self.names else 1)
        if form in ("T", "row"):
            return self.r.T(self.wrap(node, 3))
        return self.r.diag(self.fmt(node)[0])

    def einsum_core(self, node: Einsum) -> tuple[str, int]:
        ins, out, ops = node.inputs, node.output, node.children
        if is_identity(node) or scalar_broadcast(node) is not None:
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
            if len(lab) == 2 and lab[0] != lab[1] and out == lab[1]:
                return self.r.sum_all(self.wrap(ops[0], 3)), 1  # column sums: 𝟏ᵀG
            if out == "" and len(set(lab)) == len(lab) and ops[0].ndim <= 2:
                op = ops[0]
                if isinstance(op, Func) and op.name == "pow" and op.param == 2 \
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
        scalars = self.scalar_factors(node)
        if scalars is not None:
            return scalars
        grouped = group_vectors(node)
        if grouped is not None:
            return self.einsum_core(grouped)
        chain = matrix_chain(ins, out)
        if chain is None and out == "":
            cyclic = trace_chain(ins)
            if cyclic is not None:
                return self.r.trace(self.render_chain(ops, cyclic)), 3
        if chain is None:
            raise NotMatrix(node.spec)
        return self.render_chain(ops, chain), 1

    def scalar_factors(self, node: Einsum) -> tuple[str, int] | None:
        """An einsum whose operands fall into groups sharing no label, some of them summed
        to a scalar (``Σ_j y_j s_i``), as those scalars times the rest: ``(𝟏ᵀy) s``."""
        parts = components(node)
        labels_of = [set("".join(node.inputs[k] for k in part)) for part in parts]
        if len(parts) < 2 or not any(labels and not labels & set(node.output) for labels in labels_of):
            return None
        texts, rest = [], []
        for part in parts:
            labels = set("".join(node.inputs[k] for k in part))
            if labels & set(node.output) or not labels:
                rest.extend(part)
                continue
            scalar = Einsum([node.inputs[k] for k in part], "", [node.children[k] for k in part],
                            node.sizes)
            text, prec = self.fmt(scalar)
            texts.append(text if prec >= 3 else self.r.paren(text))
        if rest:
            rest.sort()
            body = Einsum([node.inputs[k] for k in rest], node.output, [node.children[k] for k in rest],
                          node.sizes)
            texts.append(self.wrap(body, 1))
        return self.r.product(texts), 1

    def render_chain(self, ops: Sequence[Expr], chain: list[tuple[int, str]]) -> str:
        parts: list[str] = []
        run: list[Expr] = []  # consecutive diagonals merge: diag(a) diag(b) = diag(a ⊙ b)
        for k, form in chain + [(-1, "end")]:
            if form == "diag":
                run.append(ops[k])
                continue
            if run:
                texts = [self.fmt(run[0])[0]] if len(run) == 1 else [self.wrap(n, 2) for n in run]
                parts.append(self.r.diag(self.r.times.join(texts)))
                run = []
            if form != "end":
                parts.append(self.operand(ops[k], form))
        return self.r.product(parts)


def reading_order(node: Einsum) -> list[int]:
    """The operands of ``node`` in the order a textbook writes them: along the matrix chain
    when the product is one (``b_i A_ij x_j``, ``A_ki b_k A_kj``), else as they are."""
    chain = matrix_chain(node.inputs, node.output)
    if chain is None and not node.output:
        chain = trace_chain(node.inputs)
    if chain is None or len(chain) != len(node.inputs):
        return list(range(len(node.inputs)))
    return [k for k, _ in chain]


def is_hadamard(node: Expr) -> bool:
    """True when ``node`` prints as an elementwise product ``a ⊙ b`` (operands of one shape)."""
    return isinstance(node, Einsum) and len(node.children) > 1 and node.output != "" \
        and len(set(node.output)) == len(node.output) and all(l == node.output for l in node.inputs)


def components(node: Einsum) -> list[list[int]]:
    """The operand positions of ``node`` in groups joined by shared labels (operands without
    labels each alone)."""
    parent = list(range(len(node.inputs)))

    def find(k: int) -> int:
        while parent[k] != k:
            k = parent[k]
        return k

    owner: dict[str, int] = {}
    for k, labels in enumerate(node.inputs):
        for lab in labels:
            if lab in owner:
                parent[find(k)] = find(owner[lab])
            else:
                owner[lab] = k
    groups: dict[int, list[int]] = {}
    for k in range(len(node.inputs)):
        groups.setdefault(find(k), []).append(k)
    return list(groups.values())


def group_vectors(node: Einsum) -> Einsum | None:
    """``node`` with the vectors that share their label with a matrix operand multiplied
    into one operand (``"j,ji,j->i"`` is ``Xᵀ (y ⊙ s)``, ``"k,ki,kj,k->ij"`` is
    ``Xᵀ diag(a ⊙ b) X``), or None when no two such vectors share a label."""
    for lab in dict.fromkeys("".join(node.inputs)):
        vectors = [k for k, labels in enumerate(node.inputs) if labels == lab]
        if len(vectors) < 2 or not any(len(labels) == 2 and lab in labels for labels in node.inputs):
            continue
        product = Einsum([lab] * len(vectors), lab, [node.children[k] for k in vectors], node.sizes)
        rest = [k for k in range(len(node.inputs)) if k not in vectors]
        return Einsum([node.inputs[k] for k in rest] + [lab], node.output,
                      [node.children[k] for k in rest] + [product], node.sizes)
    return None


@matrix_rule.register(Var)
def _fmt_var(node: Var, p: MatrixPrinter) -> tuple[str, int]:
    if node.ndim > 2:
        raise NotMatrix(node.name)
    return p.r.name(node), 3


@matrix_rule.register(WithDims)
def _fmt_withdims(node: Expr, p: MatrixPrinter) -> tuple[str, int]:
    return p.fmt(node.children[0])


@matrix_rule.register(Const)
def _fmt_const(node: Const, p: MatrixPrinter) -> tuple[str, int]:
    if node.value.ndim:
        raise NotMatrix("array constant")
    return p.r.frac_coeff(node.value.item()), 3 if node.value.item() >= 0 else 0


@matrix_rule.register(Einsum)
def _fmt_einsum(node: Einsum, p: MatrixPrinter) -> tuple[str, int]:
    core, prec = p.einsum_core(node)
    num, den = factor_dims(node)
    coeff = node.scale
    if coeff == 1 and not num and not den:
        return core, prec
    body = core if prec >= 1 else p.r.paren(core)
    negative, magnitude = sign_magnitude(coeff)
    lead = "-" if negative else ""
    mag = [] if magnitude == 1 else [p.r.frac_coeff(magnitude)]
    if num or den:
        mag.append(p.r.dims(num, den))
    text = lead + (p.r.scale(" ".join(mag), body) if mag else body)
    return text, 1 if not lead else 0


@matrix_rule.register(Add)
def _fmt_add(node: Add, p: MatrixPrinter) -> tuple[str, int]:
    terms = []
    for child, c in zip(node.children, node.coeffs):
        if isinstance(child, Einsum) and not child.factor_dims and child.uid not in p.names:
            c *= child.scale
            text, prec = p.einsum_core(child)
        else:
            text, prec = p.fmt(child)
        if leading_minus(child, text):  # the minus of a negative term joins the sign
            c, text, prec = -c, text[1:], 1
        if prec < 1 and (c != 1 or text.startswith("-")):
            text = p.r.paren(text)
        negative, magnitude = sign_magnitude(c)
        if magnitude != 1:
            text = p.r.scale(p.r.frac_coeff(magnitude), text)
        terms.append((negative, text))
    return signed_sum(terms), 0


@matrix_rule.register(Func)
def _fmt_func(node: Any, p: MatrixPrinter) -> tuple[str, int]:
    x = node.children[0]
    if node.name == "pow":
        exponent = number(node.param)
        if x.ndim == 0:
            return p.r.power(p.wrap(x, 3), exponent), 2
        return p.r.elementwise_power(p.wrap(x, 3), exponent), 2
    return p.r.call(node.name, p.fmt(x)[0]), 3


@matrix_rule.register(MatFunc)
def _fmt_matfunc(node: Any, p: MatrixPrinter) -> tuple[str, int]:
    x = node.children[0]
    if node.name == "inv":
        return p.r.inv(p.wrap(x, 3)), 3
    return p.r.call(node.name, p.fmt(x)[0]), 3


@matrix_rule.register(AxisFunc)
def axisfunc_matrix_text(node: Any, p: MatrixPrinter) -> tuple[str, int]:
    """``softmax(z)`` and ``log_softmax(z)`` of a vector (or along the rows of a matrix),
    ``logsumexp(z)`` over every entry, ``‖x‖`` and ``x/‖x‖``."""
    x = node.children[0]
    if node.name in ("softmax", "log_softmax") and tuple(node.axes) != (x.ndim - 1,):
        raise NotMatrix(f"{node.name} along axes {node.axes}")
    if node.name == "logsumexp" and not node.all_axes:
        raise NotMatrix("logsumexp along some axes")
    if node.name == "normalize":
        return p.r.call(node.name, p.wrap(x, 2)), 1
    return p.r.call(node.name, p.fmt(x)[0]), 3


def matrix_text(expr: Expr, unicode: bool = True, shared_names: bool = False) -> str | None:
    """``expr`` in matrix notation (plain Unicode by default, else LaTeX), or ``None``.

    With ``shared_names``, subexpressions used twice are written with the names ``to_str``
    gives them in its ``where`` block.

    >>> from tensorcalc.ir import var, einsum
    >>> A = var("A", ("m", "n")); B = var("B", ("n", "k"))
    >>> matrix_text(einsum("ij,jk->ik", A, B) * 2)
    '2 A B'
    """
    expr = simplified(expr)
    names = _shared_names(expr)[1] if shared_names else {}
    try:
        return MatrixPrinter(UNICODE if unicode else LATEX, names).fmt(expr)[0]
    except NotMatrix:
        return None
