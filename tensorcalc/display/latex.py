"""LaTeX: matrix notation where the expression allows it, index notation otherwise.

>>> from tensorcalc.ir import var, einsum
>>> A = var("A", ("m", "n")); y = var("y", ("m",))
>>> print(to_latex(einsum("ji,j->i", A, y), notation="matrix"))
A^\\top y
"""

from __future__ import annotations

from ..ir import Expr
from .index import index_text
from .matrix import matrix_text


def to_latex(expr: Expr, notation: str = "index") -> str:
    """LaTeX source for ``expr`` (no surrounding ``$``).

    ``notation="index"``: the components, Einstein convention (a label written twice is
    summed; other sums are written out; a remaining diagonal shows as δ). ``"matrix"``:
    matrix notation when every part is a matrix product, a transpose, a trace, a diagonal or
    an elementwise function; otherwise the index notation.

    >>> from tensorcalc.ir import var, einsum
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
