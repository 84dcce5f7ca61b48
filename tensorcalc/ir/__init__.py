"""Layer 3, the expression IR: nodes (hash-consed, one uid per structure), builders, named
dimensions and the graph walk. Imports only the contraction and backends layers (an einsum
node evaluates through them)."""

from . import build  # noqa: F401  (installs the arithmetic operators on Expr)
from .build import add, as_expr, broadcast_to, einsum, matmul, multiply, scale, var
from .graph import topological, use_counts, variables, walk
from .nodes import Add, Const, Einsum, Expr, Var, WithDims, as_coeff, is_number, nested_repr

__all__ = ["Expr", "Var", "Const", "Einsum", "Add", "WithDims", "var", "as_expr", "einsum",
           "scale", "broadcast_to", "add", "multiply", "matmul", "topological", "walk",
           "variables", "use_counts", "as_coeff", "is_number", "nested_repr"]
