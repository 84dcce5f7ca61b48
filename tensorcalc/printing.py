"""Show an expression: compact einsum text, LaTeX, and runnable NumPy source.

* :func:`to_str` (what ``str(expr)`` prints): one line in einsum form; a subexpression used
  twice or more is named once (``t1``, ``t2``, ...) in a ``where`` block. Einsum labels are
  renamed for display, deterministically: output labels are ``i, j, k, ...`` in order,
  summed labels continue the alphabet.
* :func:`to_latex`: ``notation="index"`` (Einstein convention: a label written twice is
  summed, other sums are explicit; a δ shows a diagonal) or ``"matrix"`` (``A^\\top x``,
  ``X^{-\\top}``, ``\\operatorname{diag}``...), which falls back to index notation when some
  einsum is not a matrix product.
* :func:`to_numpy`: the source of one self-contained function computing the expression with
  plain numpy, the contraction order of every einsum baked in as pairwise steps.

Matrix and index notation live in ``tensorcalc.notation`` (the explanations of
``tensorcalc.explain`` reuse them); the code generator behind :func:`to_numpy` is
``tensorcalc.codegen``.

>>> from tensorcalc.expr import var, einsum
>>> A = var("A", ("m", "n")); x = var("x", ("n",))
>>> print(to_str(einsum("ij,j->i", A, x)))
einsum("ij,j->i", A, x)
>>> print(to_latex(einsum("ji,j->i", A, var("y", ("m",))), notation="matrix"))
A^\\top y
"""

from __future__ import annotations

import itertools
from typing import Any, Sequence

from .expr import Add, Const, Einsum, Expr, Var, topological
from .index_notation import index_text
from .matrix_notation import matrix_chain, matrix_text
from .notation import _factor_dims, _is_identity, _number, _scalar_broadcast, sign_magnitude

__all__ = ["to_str", "to_latex", "to_numpy", "matrix_chain", "display_spec", "variables",
           "matrix_text"]

DISPLAY_LETTERS = "ijklmnpqrstuvwxyzabcdefghoABCDEFGHIJKLMNOPQRSTUVWXYZ"


# ----------------------------------------------------------------------------- walking

def walk(expr: Expr) -> list[Expr]:
    """Every distinct node (by structural uid), children before parents."""
    return topological([expr])


def variables(expr: Expr) -> list[Var]:
    """The variables of ``expr``, sorted by name.

    >>> from tensorcalc.expr import var
    >>> [v.name for v in variables(var("b", 2) + var("a", 2))]
    ['a', 'b']
    """
    found = {n.name: n for n in walk(expr) if isinstance(n, Var)}
    return [found[k] for k in sorted(found)]


def _use_counts(order: list[Expr]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for node in order:
        for child in node.children:
            counts[child.uid] = counts.get(child.uid, 0) + 1
    return counts


def _is_leaf(node: Expr) -> bool:
    """Short enough to repeat rather than name: variables, constants, ``x[0]``."""
    if type(node).__name__ == "Index":
        return isinstance(node.children[0], Var)
    return isinstance(node, (Var, Const))


def _shared(expr: Expr) -> tuple[list[Expr], dict[int, str]]:
    """Nodes used twice or more (leaves excepted) and their display names t1, t2, ..."""
    order = walk(expr)
    counts = _use_counts(order)
    taken = {v.name for v in order if isinstance(v, Var)}
    names: dict[int, str] = {}
    shared: list[Expr] = []
    fresh = (f"t{k}" for k in itertools.count(1))
    for node in order:
        if node is not expr and counts.get(node.uid, 0) >= 2 and not _is_leaf(node):
            name = next(fresh)
            while name in taken:
                name = next(fresh)
            names[node.uid] = name
            shared.append(node)
    return shared, names


# ----------------------------------------------------------------------------- labels

def display_spec(inputs: Sequence[str], output: str) -> tuple[list[str], str]:
    """Rename einsum labels for display: output labels ``i, j, k...``, then summed labels.

    >>> display_spec(["ab", "a"], "b")
    (['ji', 'j'], 'i')
    """
    rename: dict[str, str] = {}
    letters = iter(DISPLAY_LETTERS)
    for lab in list(output) + [lab for labels in inputs for lab in labels]:
        if lab not in rename:
            rename[lab] = next(letters)
    return ["".join(rename[c] for c in labels) for labels in inputs], "".join(rename[c] for c in output)


# ----------------------------------------------------------------------------- to_str

# Precedences: 0 sum, 1 product, 2 power, 3 atom.
def to_str(expr: Expr) -> str:
    """Compact einsum text; shared subexpressions are named once in a ``where`` block.

    >>> from tensorcalc.expr import var, einsum
    >>> A = var("A", ("m", "n")); x = var("x", ("n",)); b = var("b", ("m",))
    >>> r = einsum("ij,j->i", A, x) - b
    >>> print(to_str(einsum("i,i->", r, r)))
    einsum("i,i->", t1, t1)
    where
      t1 = einsum("ij,j->i", A, x) - b
    """
    shared, names = _shared(expr)
    lines = [_Str(names).text(expr, top=True)]
    if shared:
        lines.append("where")
        fmt = _Str(names)
        lines.extend(f"  {names[n.uid]} = {fmt.text(n, top=True)}" for n in shared)
    return "\n".join(lines)


class _Str:
    def __init__(self, names: dict[int, str]) -> None:
        self.names = names

    def text(self, node: Expr, top: bool = False) -> str:
        return self.fmt(node, top)[0]

    def wrap(self, node: Expr, prec: int) -> str:
        text, p = self.fmt(node)
        return f"({text})" if p < prec else text

    def fmt(self, node: Expr, top: bool = False) -> tuple[str, int]:
        if not top and node.uid in self.names:
            return self.names[node.uid], 3
        method = getattr(self, "fmt_" + type(node).__name__, None)
        if method is None:
            return self.generic(node), 3
        return method(node)

    def generic(self, node: Expr) -> str:
        params = [repr(p) for p in node.params()]
        args = [self.text(c) for c in node.children] + params
        return f"{type(node).__name__.lower()}({', '.join(args)})"

    def fmt_Var(self, node: Var) -> tuple[str, int]:
        return node.name, 3

    def fmt_WithDims(self, node: Expr) -> tuple[str, int]:
        return self.fmt(node.children[0])  # the attached variables only bind sizes

    def fmt_Const(self, node: Const) -> tuple[str, int]:
        if node.value.ndim == 0:
            text = _number(node.value.item())
            return text, 3 if not text.startswith("-") else 0
        if node.value.size <= 6:
            return f"const({node.value.tolist()})", 3
        return f"const(shape={node.value.shape})", 3

    def einsum_core(self, node: Einsum) -> tuple[str, int]:
        """The einsum without its scale."""
        if _is_identity(node) or _scalar_broadcast(node) is not None:
            return self.fmt(node.children[0])
        if len(node.children) > 1 and all(labels == node.output for labels in node.inputs) \
                and len(set(node.output)) == len(node.output):
            # scalars, or operands of one shape multiplied elementwise: numpy's a * b
            return " * ".join(self.wrap(c, 2) for c in node.children), 1
        inputs, output = display_spec(node.inputs, node.output)
        ops = ", ".join(self.text(c) for c in node.children)
        text = f'einsum("{",".join(inputs)}->{output}", {ops})'
        carried = set("".join(node.inputs))
        extra = {lab: node.sizes[lab] for lab in node.output if lab not in carried}
        if extra:
            rename = dict(zip(node.output, output))
            text = text[:-1] + ", sizes={" + ", ".join(
                f'"{rename[k]}": ' + (f'"{v}"' if isinstance(v, str) else str(v))
                for k, v in extra.items()) + "})"
        return text, 3

    def fmt_Einsum(self, node: Einsum) -> tuple[str, int]:
        core, prec = self.einsum_core(node)
        num, den = _factor_dims(node)
        if node.scale == 1 and not num and not den:
            return core, prec
        mag = abs(node.scale)
        factors = ([_number(mag)] if mag != 1 else []) + num
        body = core if prec >= 2 else f"({core})"
        text = " * ".join(factors + [body]) + "".join(f" / {d}" for d in den)
        if node.scale < 0:
            return "-" + text, 0 if factors or den else 1
        return text, 1

    def term(self, node: Expr, coeff: float) -> tuple[float, str]:
        """A term of a sum with its sign pulled out: (sign-carrying coeff, text)."""
        if isinstance(node, Einsum) and not node.factor_dims and node.uid not in self.names:
            coeff *= node.scale
            core, prec = self.einsum_core(node)
        else:
            core, prec = self.fmt(node)
        # a sum inside a sum needs no parentheses unless something multiplies or negates it
        inner = core if prec >= 1 or (coeff == 1 and not core.startswith("-")) else f"({core})"
        magnitude = sign_magnitude(coeff)[1]
        if magnitude != 1:
            inner = f"{_number(magnitude)} * {inner}"
        return coeff, inner

    def fmt_Add(self, node: Add) -> tuple[str, int]:
        parts = []
        for k, (child, c) in enumerate(zip(node.children, node.coeffs)):
            coeff, text = self.term(child, c)
            negative = sign_magnitude(coeff)[0]
            if k == 0:
                parts.append(("-" if negative else "") + text)
            else:
                parts.append((" - " if negative else " + ") + text)
        return "".join(parts), 0

    def fmt_Func(self, node: Any) -> tuple[str, int]:
        if node.name == "pow":
            return f"{self.wrap(node.children[0], 3)} ** {_number(node.param)}", 2
        return f"{node.name}({self.text(node.children[0])})", 3

    def fmt_PowArray(self, node: Any) -> tuple[str, int]:
        return f"{self.wrap(node.children[0], 3)} ** {node.exponent.tolist()!r}", 2

    def fmt_MatFunc(self, node: Any) -> tuple[str, int]:
        return f"{node.name}({self.text(node.children[0])})", 3

    def fmt_LogSumExp(self, node: Any) -> tuple[str, int]:
        x = node.children[0]
        if tuple(node.axes) == tuple(range(x.ndim)):
            return f"logsumexp({self.text(x)})", 3
        return f"logsumexp({self.text(x)}, axis={tuple(node.axes)})", 3

    def fmt_Index(self, node: Any) -> tuple[str, int]:
        return f"{self.wrap(node.children[0], 3)}[{_index_text(node.index)}]", 3

    # rearrange / reduce nodes of tensorcalc.rearrange
    def fmt_Reshape(self, node: Any) -> tuple[str, int]:
        return f"reshape({self.text(node.children[0])}, {_shape_text(node.shape)})", 3

    def fmt_ReduceExtremum(self, node: Any) -> tuple[str, int]:
        return f"{node.kind}({self.text(node.children[0])}, axis={node.axes})", 3

    def fmt_ExtremumMask(self, node: Any) -> tuple[str, int]:
        return f"arg{node.kind}_mask({self.text(node.children[0])}, axis={node.axes})", 3

    def fmt_ReduceProd(self, node: Any) -> tuple[str, int]:
        return f"prod({self.text(node.children[0])}, axis={node.axes})", 3

    def fmt_ProdExcept(self, node: Any) -> tuple[str, int]:
        return f"prod_except({self.text(node.children[0])}, axis={node.axes})", 3

    def fmt_Stack(self, node: Any) -> tuple[str, int]:
        items = ", ".join(self.text(c) for c in node.children)
        return f"stack([{items}], axis={node.axis})", 3


def _shape_text(shape: Sequence[Any]) -> str:
    parts = [f'"{d}"' if isinstance(d, str) else str(d) for d in shape]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def _index_text(index: tuple) -> str:
    parts = []
    for it in index:
        if it is None:
            parts.append("None")
        elif isinstance(it, slice):
            start = "" if it.start is None else str(it.start)
            stop = "" if it.stop is None else str(it.stop)
            step = "" if it.step in (None, 1) else f":{it.step}"
            parts.append(f"{start}:{stop}{step}")
        else:
            parts.append(str(it))
    return ", ".join(parts) if parts else "()"


def to_latex(expr: Expr, notation: str = "index") -> str:
    """LaTeX source for ``expr`` (no surrounding ``$``).

    ``notation="index"``: the components, Einstein convention (a label written twice is
    summed; other sums are written out; a remaining diagonal shows as δ). ``"matrix"``:
    matrix notation when every part is a matrix product, a transpose, a trace, a diagonal or
    an elementwise function; otherwise the index notation.

    >>> from tensorcalc.expr import var, einsum
    >>> A = var("A", ("m", "n")); x = var("x", ("n",)); b = var("b", ("m",))
    >>> r = einsum("ij,j->i", A, x) - b
    >>> to_latex(2 * einsum("ji,j->i", A, r), notation="matrix")
    '2 A^\\\\top \\\\left(A x - b\\\\right)'
    >>> to_latex(2 * einsum("ji,j->i", A, r))
    '2 A_{ji} \\\\left(A_{jk} x_{k} - b_{j}\\\\right)'
    """
    if notation not in ("index", "matrix"):
        raise ValueError(f"notation must be 'index' or 'matrix', got {notation!r}")
    if not isinstance(expr, Expr):
        raise TypeError(f"to_latex expects an expression, got {type(expr).__name__}")
    if notation == "matrix":
        text = matrix_text(expr, unicode=False)
        if text is not None:
            return text
    return index_text(expr, latex=True)


# ----------------------------------------------------------------------------- to_numpy

def to_numpy(expr: Expr, name: str = "f", sizes: dict[str, int] | None = None) -> str:
    """Source of one self-contained function computing ``expr`` with numpy only.

    Its parameters are the variables (sorted by name). Every einsum runs as pairwise
    ``np.einsum``/``@`` steps in the order ``tc.contract_path`` chooses for the sizes in
    ``sizes`` (named dimensions without a size count as 64); extended einsums (diagonal
    embedding, broadcast) are written with ``np.zeros`` and diagonal views.

    >>> from tensorcalc.expr import var, einsum
    >>> print(to_numpy(einsum("ij,j->i", var("A", ("m", "n")), var("x", ("n",)))), end="")
    import numpy as np
    <BLANKLINE>
    <BLANKLINE>
    def f(A, x):
        return A @ x
    """
    from .codegen import generate

    return generate(expr, name, sizes or {})
