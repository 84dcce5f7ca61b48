"""Layer 7 (beside evaluation; neither imports the other), output: einsum text
(:mod:`.text`), matrix and index notation (:mod:`.matrix`, :mod:`.index`) in Unicode or LaTeX
(:mod:`.latex`), and generated source for numpy, torch, JAX and the array API (:mod:`.codegen`;
the spelling of each library is the ``source`` column of :data:`tensorcalc.backends.BACKENDS`).
Each printer is a registry by
node type (``str_rule``, ``matrix_rule``, ``index_rule``, ``code_rule``). This package
installs ``str(expr)`` and the notebook's ``_repr_latex_`` on expressions.
"""

from ..ir import Expr
from .codegen import code_rule, to_numpy, to_source
from .format import display_spec
from .index import index_rule, index_text
from .latex import to_latex
from .matrix import matrix_chain, matrix_rule, matrix_text
from .text import str_rule, to_str

Expr.__str__ = lambda self: to_str(self)
Expr._repr_latex_ = lambda self: "$" + to_latex(self, notation="matrix") + "$"

__all__ = ["to_str", "to_latex", "to_numpy", "to_source", "index_text", "matrix_text", "matrix_chain",
           "display_spec", "str_rule", "matrix_rule", "index_rule", "code_rule"]
