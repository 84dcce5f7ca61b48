"""Lower an index-notation syntax tree (``tensorcalc.notation.parser``) to the expression IR.

Two passes: :func:`infer_shapes` names the dimensions of every variable (a label names one
dimension throughout the text; union-find joins labels that meet on one axis), then
:class:`_Lowering` builds the expression through the public builders, applying Einstein's
convention to every product (see the grammar in ``tensorcalc.notation.parser``).

>>> from tensorcalc.notation.parser import parse_tree
>>> infer_shapes(parse_tree("A[i,j] x[j] - b[i]"), "")
{'A': ('i', 'j'), 'x': ('j',), 'b': ('i',)}
>>> lower(parse_tree("A[i,j] x[j]"), "A[i,j] x[j]").shape
('i',)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .. import ir
from ..errors import TensorcalcError
from ..labels import fresh_names
from ..ops import functions
from ..ops.table import (ELEMENTWISE, KEEP_LABELS, SQUARE_TO_SCALAR, SQUARE_TO_SQUARE,
                         SQUARE_TO_VECTOR)
from .parser import FUNCTIONS, BinOp, Call, Indexed, Keep, Name, Neg, Node, Num, point_error, parse_tree

__all__ = ["infer_shapes", "lower", "parse"]

_SQUARE = (*SQUARE_TO_SCALAR, *SQUARE_TO_SQUARE, *SQUARE_TO_VECTOR)  # functions of square matrices
_KEEPS_LABELS = (*(n for n, b in FUNCTIONS.items() if b in ELEMENTWISE), *KEEP_LABELS,
                 *SQUARE_TO_SQUARE)


class _Dims:
    """Union-find over dimension nodes: labels ("l", name) and variable axes ("v", name, k)."""

    def __init__(self) -> None:
        self.parent: dict[tuple, tuple] = {}
        self.order: dict[tuple, int] = {}

    def add(self, node: tuple) -> None:
        if node not in self.parent:
            self.parent[node] = node
            self.order[node] = len(self.order)

    def find(self, node: tuple) -> tuple:
        self.add(node)
        while self.parent[node] != node:
            self.parent[node] = self.parent[self.parent[node]]
            node = self.parent[node]
        return node

    def union(self, a: tuple, b: tuple) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # Keep the earliest node as root so names follow the text order.
            if self.order[rb] < self.order[ra]:
                ra, rb = rb, ra
            self.parent[rb] = ra


def _walk(node: Node):
    """Every node of the tree, parents before children, left before right (no recursion:
    a long chain of sums is a deep tree)."""
    stack = [node]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, Call):
            stack.append(node.arg)
        elif isinstance(node, BinOp):
            stack += [node.right, node.left]
        elif isinstance(node, Neg):
            stack.append(node.operand)
        elif isinstance(node, Keep):
            stack.append(node.inner)


def _sum_terms(node: BinOp) -> list[tuple[str, Node, int]]:
    """The terms of a chain of ``+`` and ``-`` as ``(sign, term, column of the sign)``; the
    first term has sign ``+``. Left-nested chains are walked without recursion."""
    terms = []
    while isinstance(node, BinOp) and node.op in "+-":
        terms.append((node.op, node.right, node.col))
        node = node.left
    terms.append(("+", node, node.col))
    return terms[::-1]


def infer_shapes(tree: Node, text: str) -> dict[str, tuple[str, ...]]:
    """The shape (named dimensions) of every variable of ``tree``.

    >>> from tensorcalc.notation.parser import parse_tree
    >>> infer_shapes(parse_tree("X[i,j] X[j,k] + tr(Y)"), "")
    {'X': ('i', 'i'), 'Y': ('n', 'n')}
    """
    dims = _Dims()
    ranks: dict[str, int] = {}
    first_col: dict[str, int] = {}
    for node in _walk(tree):
        if isinstance(node, Indexed):
            rank = len(node.labels)
            if ranks.setdefault(node.name, rank) != rank:
                raise point_error(text, node.col,
                             f"{node.name} is indexed with {rank} label(s) here but "
                             f"{ranks[node.name]} at column {first_col[node.name] + 1}")
            first_col.setdefault(node.name, node.col)
            for k, lab in enumerate(node.labels):
                dims.union(("l", lab), ("v", node.name, k))
    for node in _walk(tree):
        # A square-matrix function makes the two free labels of its argument one dimension.
        if isinstance(node, Call) and node.func in _SQUARE:
            free = _free_labels(node.arg)
            if len(free) == 2:
                dims.union(("l", free[0]), ("l", free[1]))
        if isinstance(node, Call) and node.func in _SQUARE and isinstance(node.arg, Name):
            name = node.arg.name
            if ranks.setdefault(name, 2) != 2:
                raise point_error(text, node.arg.col,
                             f"{node.func} needs a square matrix but {name} has rank {ranks[name]}")
            dims.union(("v", name, 0), ("v", name, 1))
        elif isinstance(node, Name) and node.name not in ranks:
            ranks[node.name] = 0
    for node in _walk(tree):
        if isinstance(node, Name):
            first_col.setdefault(node.name, node.col)
    labels = {n.labels[k] for n in _walk(tree) if isinstance(n, Indexed) for k in range(len(n.labels))}
    names: dict[tuple, str] = {}
    fresh = fresh_names("nmpq", labels | set(ranks))
    shapes: dict[str, tuple[str, ...]] = {}
    for var in sorted(ranks, key=lambda v: first_col[v]):
        shape = []
        for k in range(ranks[var]):
            root = dims.find(("v", var, k))
            if root not in names:
                names[root] = root[1] if root[0] == "l" else next(fresh)
            shape.append(names[root])
        shapes[var] = tuple(shape)
    return shapes


def _free_labels(node: Node) -> tuple[str, ...]:
    """The free labels of a subtree, by the Einstein rules of the lowering."""
    if isinstance(node, Indexed):
        return tuple(l for l in dict.fromkeys(node.labels) if node.labels.count(l) == 1)
    if isinstance(node, Neg):
        return _free_labels(node.operand)
    if isinstance(node, Keep):
        return node.labels
    if isinstance(node, BinOp) and node.op in "+-":
        # a side whose labels are a subset of the other's broadcasts: the larger side's labels
        return max((_free_labels(t) for _, t, _ in _sum_terms(node)), key=len)
    if isinstance(node, BinOp) and node.op == "^":
        return _free_labels(node.left)
    if isinstance(node, BinOp):
        all_labels = _free_labels(node.left) + _free_labels(node.right)
        return tuple(l for l in dict.fromkeys(all_labels) if all_labels.count(l) == 1)
    if isinstance(node, Call) and node.func in _KEEPS_LABELS:
        return _free_labels(node.arg)
    if isinstance(node, Call) and node.func in SQUARE_TO_VECTOR:
        return _free_labels(node.arg)[:1]
    return ()


# ----------------------------------------------------------------------------- lowering

@dataclass
class _Value:
    """An expression and the label of each of its axes (anonymous axes start with '#')."""

    expr: Any
    labels: tuple[str, ...]
    col: int


class _Lowering:
    def __init__(self, text: str, shapes: dict[str, tuple[str, ...]]) -> None:
        self.text = text
        self.vars = {name: ir.var(name, shape) for name, shape in shapes.items()}

    def lower(self, node: Node) -> _Value:
        method: Callable[[Any], _Value] = getattr(self, "lower_" + type(node).__name__)
        try:
            return method(node)
        except TensorcalcError as err:
            if "\n  " in str(err):  # already points at a column
                raise
            raise point_error(self.text, node.col, str(err)) from None

    # atoms ---------------------------------------------------------------

    def lower_Num(self, node: Num) -> _Value:
        value = node.value
        return _Value(int(value) if value.is_integer() and abs(value) < 2**53 else value, (), node.col)

    def lower_Name(self, node: Name) -> _Value:
        var = self.vars[node.name]
        return _Value(var, tuple(f"#{k}" for k in range(len(var.shape))), node.col)

    def lower_Indexed(self, node: Indexed) -> _Value:
        return self.contract([_Value(self.vars[node.name], node.labels, node.col)], node.col)

    # operators -----------------------------------------------------------

    def lower_Keep(self, node: Keep) -> _Value:
        if len(set(node.labels)) != len(node.labels):
            dup = next(l for l in node.labels if node.labels.count(l) > 1)
            raise point_error(self.text, node.label_cols[node.labels.index(dup, node.labels.index(dup) + 1)],
                         f"label {dup!r} is repeated in the kept labels")
        inner = node.inner
        if isinstance(inner, BinOp) and inner.op in "*/":
            factors = [self.lower(f) if not inv else self.reciprocal(self.lower(f))
                       for f, inv in self.flatten_product(inner)]
        else:
            factors = [self.lower(inner)]
        present = {l for f in factors for l in f.labels}
        for lab, col in zip(node.labels, node.label_cols):
            if lab not in present:
                raise point_error(self.text, col, f"kept label {lab!r} does not occur inside the parentheses")
        if not isinstance(inner, BinOp) or inner.op not in "*/":
            value = factors[0]
            if sorted(value.labels) != sorted(node.labels):
                raise point_error(self.text, node.col,
                             f"(...)[{', '.join(node.labels)}] must list the free labels "
                             f"{_fmt(value.labels)} of a sum or function, in any order")
        return self.contract(factors, node.col, keep=node.labels)

    def lower_Neg(self, node: Neg) -> _Value:
        inner = self.lower(node.operand)
        return _Value(-inner.expr, inner.labels, node.col)

    def lower_BinOp(self, node: BinOp) -> _Value:
        if node.op in "*/":
            factors = [self.lower(f) if not inv else self.reciprocal(self.lower(f))
                       for f, inv in self.flatten_product(node)]
            return self.contract(factors, node.col)
        if node.op == "^":
            left, right = self.lower(node.left), self.lower(node.right)
            if right.labels:
                raise point_error(self.text, node.right.col,
                             f"the exponent must be a scalar but has free labels {_fmt(right.labels)}")
            return _Value(left.expr ** right.expr, left.labels, node.col)
        terms = _sum_terms(node)
        total = self.lower(terms[0][1])
        for op, term, col in terms[1:]:
            right = self.lower(term)
            try:
                left, right = self.align(total, right, op, col)
                expr = left.expr + right.expr if op == "+" else left.expr - right.expr
            except TensorcalcError as err:
                if "\n  " in str(err):
                    raise
                raise point_error(self.text, col, str(err)) from None
            total = _Value(expr, left.labels or right.labels, col)
        return total

    def flatten_product(self, node: Node, inverted: bool = False) -> list[tuple[Node, bool]]:
        """The factors of a chain of * and /, each with whether it divides (no recursion: a
        long product is a deep tree)."""
        out: list[tuple[Node, bool]] = []
        stack = [(node, inverted)]
        while stack:
            node, inv = stack.pop()
            if isinstance(node, BinOp) and node.op in "*/":
                stack += [(node.right, inv != (node.op == "/")), (node.left, inv)]
            else:
                out.append((node, inv))
        return out

    def reciprocal(self, value: _Value) -> _Value:
        if isinstance(value.expr, (int, float)):
            if value.expr == 0:
                raise point_error(self.text, value.col, "division by zero")
            return _Value(1.0 / value.expr, (), value.col)
        return _Value(value.expr ** -1, value.labels, value.col)

    def align(self, left: _Value, right: _Value, op: str, col: int) -> tuple[_Value, _Value]:
        """The two sides of ``op`` with one set of labels in one order: ``right`` permuted to
        ``left``'s order, or the side whose labels are a subset of the other's broadcast to
        the larger side (``X[n,d] W[d,m] + b[m]``), in the larger side's order."""
        if not left.labels or not right.labels or left.labels == right.labels:
            return left, right
        anonymous = any(l.startswith("#") for l in left.labels + right.labels)
        small, large = (right, left) if len(right.labels) <= len(left.labels) else (left, right)
        if anonymous or not set(small.labels) <= set(large.labels):
            raise point_error(self.text, col,
                         f"the two sides of {op!r} must have the same free labels, or one side "
                         f"a subset of the other's (broadcast): left has {_fmt(left.labels)}, "
                         f"right has {_fmt(right.labels)}")
        letters = _letters(large.labels)
        spec = "".join(letters[l] for l in small.labels) + "->" + "".join(letters[l] for l in large.labels)
        sizes = {letters[l]: d for l, d in zip(large.labels, large.expr.shape)
                 if l not in small.labels}
        moved = _Value(ir.einsum(spec, small.expr, sizes=sizes or None), large.labels, small.col)
        return (left, moved) if small is right else (moved, right)

    def contract(self, factors: list[_Value], col: int, keep: tuple[str, ...] | None = None) -> _Value:
        """One Einstein product: numbers and scalars multiply, tensors meet in one einsum.

        ``keep``: the output labels (``(...)[i]``) instead of the labels that occur once.
        """
        scale: Any = 1
        scalars: list[Any] = []
        tensors: list[_Value] = []
        for f in factors:
            if isinstance(f.expr, (int, float)):
                scale = scale * f.expr
            elif not f.labels:
                scalars.append(f.expr)
            else:
                tensors.append(f)
        result: Any = None
        labels: tuple[str, ...] = ()
        if tensors:
            result, labels = self.einsum_of(tensors, keep)
        for s in scalars:
            result = s if result is None else result * s
        if result is None:
            return _Value(scale, (), col)
        if scale != 1:
            result = scale * result
        return _Value(result, labels, col)

    def einsum_of(self, tensors: list[_Value], keep: tuple[str, ...] | None = None
                  ) -> tuple[Any, tuple[str, ...]]:
        if len(tensors) > 1:
            for t in tensors:
                if any(l.startswith("#") for l in t.labels):
                    raise point_error(self.text, t.col,
                                 "a whole tensor (no [labels]) cannot be multiplied with other "
                                 "tensors: index it, e.g. A[i,j] x[j]")
        counts: dict[str, int] = {}
        for t in tensors:
            for lab in t.labels:
                counts[lab] = counts.get(lab, 0) + 1
        free = keep if keep is not None else tuple(lab for lab in counts if counts[lab] == 1)
        if len(tensors) == 1 and free == tensors[0].labels:
            return tensors[0].expr, free
        letters = _letters(tuple(counts))
        spec = ",".join("".join(letters[l] for l in t.labels) for t in tensors)
        spec += "->" + "".join(letters[l] for l in free)
        return ir.einsum(spec, *[t.expr for t in tensors]), free

    # functions -----------------------------------------------------------

    def lower_Call(self, node: Call) -> _Value:
        if node.func not in FUNCTIONS:
            raise point_error(self.text, node.col,
                         f"unknown function {node.func!r}; known: {', '.join(sorted(FUNCTIONS))}")
        builder = getattr(functions, FUNCTIONS[node.func])
        arg = self.lower(node.arg)
        if isinstance(arg.expr, (int, float)):
            arg = _Value(ir.as_expr(float(arg.expr)), (), arg.col)
        if node.func in _SQUARE and len(arg.labels) != 2:
            raise point_error(self.text, node.arg.col,
                         f"{node.func} needs a matrix (two free labels), got {_fmt(arg.labels)}")
        if node.func in _KEEPS_LABELS:
            return _Value(builder(arg.expr), arg.labels, node.col)
        if node.func in SQUARE_TO_VECTOR:
            return _Value(builder(arg.expr), arg.labels[:1], node.col)
        return _Value(builder(arg.expr), (), node.col)


def _fmt(labels: tuple[str, ...]) -> str:
    shown = ["_" if l.startswith("#") else l for l in labels]
    return "(" + ", ".join(shown) + ")" if shown else "none (a scalar)"


def _letters(labels: tuple[str, ...]) -> dict[str, str]:
    """One einsum letter per label: single-letter labels keep their letter."""
    alphabet = "ijklmnopqrstuvwxyzabcdefghABCDEFGHIJKLMNOPQRSTUVWXYZ"
    out: dict[str, str] = {}
    taken = set()
    for lab in labels:
        if len(lab) == 1 and lab.isascii() and lab.isalpha() and lab not in taken:
            out[lab] = lab
            taken.add(lab)
    spare = (c for c in alphabet if c not in taken and c not in labels)
    for lab in labels:
        if lab not in out:
            try:
                out[lab] = next(spare)
            except StopIteration:
                raise TensorcalcError(f"too many distinct labels in one product ({len(labels)})") from None
    return out


def lower(tree: Node, text: str) -> Any:
    """The expression of a syntax tree (``text`` is the source, for error messages)."""
    shapes = infer_shapes(tree, text)
    value = _Lowering(text, shapes).lower(tree)
    if isinstance(value.expr, (int, float)):
        return ir.as_expr(float(value.expr))
    return value.expr


def parse(text: str) -> Any:
    """Build an expression from index notation text (Einstein convention).

    See the module docstring for the grammar. Errors raise :class:`TensorcalcError` with the
    text and a ``^`` under the offending column.

    >>> from tensorcalc import TensorcalcError
    >>> g = parse("sigmoid(W[i,j] x[j] + b[i])")
    >>> g.shape
    ('i',)
    >>> try:
    ...     parse("A[i,j] x[j] +")
    ... except TensorcalcError as err:
    ...     print(err)
    expected a number, a name or '(', found end of input (column 14)
      A[i,j] x[j] +
                   ^
    """
    tree = parse_tree(text)
    try:
        return lower(tree, text)
    except RecursionError:
        raise TensorcalcError("the expression is nested too deeply to build (split it into "
                              "smaller parts)") from None
