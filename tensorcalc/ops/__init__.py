"""Layer 4, the primitives: one table row per function (:mod:`.table`: elementwise, matrix and
along-axes functions), the node classes (:mod:`.nodes`) and their builders (:mod:`.functions`, which also installs ``/``, ``**`` and
indexing on expressions)."""

from . import functions  # noqa: F401  (installs the operators)
from .nodes import AxisFunc, Func, Index, IndexAdjoint, LogSumExp, MatFunc, PowArray, Stack
from .table import AXIS, ELEMENTWISE, MATRIX, POW, Primitive

__all__ = ["AXIS", "ELEMENTWISE", "MATRIX", "POW", "Primitive", "AxisFunc", "Func", "Index", "IndexAdjoint",
           "LogSumExp", "MatFunc", "PowArray", "Stack", "functions"]
