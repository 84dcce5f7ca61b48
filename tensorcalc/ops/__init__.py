"""Layer 3, the primitives: one table row per function (:mod:`.table`), the node classes
(:mod:`.nodes`) and their builders (:mod:`.functions`, which also installs ``/``, ``**`` and
indexing on expressions)."""

from . import functions  # noqa: F401  (installs the operators)
from .nodes import Func, Index, IndexAdjoint, LogSumExp, MatFunc, PowArray, Stack
from .table import ELEMENTWISE, MATRIX, POW, Primitive

__all__ = ["ELEMENTWISE", "MATRIX", "POW", "Primitive", "Func", "Index", "IndexAdjoint",
           "LogSumExp", "MatFunc", "PowArray", "Stack", "functions"]
