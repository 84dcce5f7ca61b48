"""Builders of the IR: variables, constants, einsum terms, sums, products, broadcasting.

This module also installs the arithmetic operators on :class:`Expr` (``+ - * @``, unary
minus, ``.T``): they are builders, and ``tensorcalc.ir.nodes`` stays free of them.

>>> import numpy as np
>>> x = var("x", ("n",)); A = var("A", ("m", "n"))
>>> y = einsum("ij,j->i", A, x)
>>> y.shape
('m',)
>>> (A @ x).uid == y.uid
True
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..contraction.subscripts import parse
from ..errors import TensorcalcError
from ..labels import LETTERS
from .dims import broadcast_shapes, fake_sizes, label_conflict, pinned_names, plain_shapes
from .nodes import Const, Einsum, Add, Expr, Var, is_number


def var(name: str, shape: Sequence[Any] | int | str = (), symmetric: bool = False,
        dtype: Any = None) -> Var:
    """A symbolic input; dims are ints or dimension names bound at evaluation.

    >>> var("A", ("m", 3)).shape
    ('m', 3)
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"variable name must be a non-empty str, got {name!r}")
    if isinstance(shape, (int, str)):
        shape = (shape,)
    shape = tuple(shape)
    # ('n', 3) is square once n is bound to 3: checked with the symmetry at evaluation
    if symmetric and (len(shape) != 2 or shape[0] != shape[1] and (
            isinstance(shape[0], str) == isinstance(shape[1], str))):
        raise TensorcalcError(f"symmetric variable {name!r} must be square, got shape {shape}")
    return Var(name, shape, symmetric, dtype)


def as_expr(value: Any) -> Expr:
    """Wrap arrays and Python numbers as :class:`Const`; pass expressions through."""
    if isinstance(value, Expr):
        return value
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"cannot use {type(value).__name__} {value!r} in an expression")
    return Const(value)


def einsum(subscripts: str, *operands: Any, sizes: Mapping[str, Any] | None = None) -> Expr:
    """An einsum term over symbolic operands (arrays and scalars become constants).

    Accepts what ``tensorcalc.einsum`` accepts (implicit output, ``...``, broadcasting of
    size-1 axes, extended outputs sized by ``sizes``, whose values may be dimension names).

    >>> einsum("ij,jk->ik", var("A", ("m", "n")), var("B", ("n", 2))).shape
    ('m', 2)
    """
    ops = [as_expr(op) for op in operands]
    try:
        spec, back = _parse_symbolic(subscripts, ops, sizes, {})
    except TensorcalcError as err:
        # A label may join a named dim with an int (numpy-style: the int wins); only then
        # is the extra pass over the labels worth it.
        pins = pinned_names(subscripts, [op.shape for op in ops], sizes)
        if not pins:
            raise err from None
        spec, back = _parse_symbolic(subscripts, ops, sizes, pins)
    all_labels = "".join(dict.fromkeys("".join(spec.inputs) + spec.output))
    if len(all_labels) > len(LETTERS):
        raise TensorcalcError(f"einsum {subscripts!r} uses more than {len(LETTERS)} labels")
    rename = {lab: LETTERS[k] for k, lab in enumerate(all_labels)}
    inputs = ["".join(rename[lab] for lab in labels) for labels in spec.inputs]
    ops = [_squeeze(op, drop) for op, drop in zip(ops, spec.squeeze)]
    out = "".join(rename[lab] for lab in spec.output)
    lab_sizes = {rename[lab]: back[dim] for lab, dim in spec.sizes.items() if lab in rename}
    return Einsum(inputs, out, ops, lab_sizes)


def _parse_symbolic(subscripts: str, ops: Sequence[Expr], sizes: Mapping[str, Any] | None,
                    pins: Mapping[str, int]) -> tuple[Any, dict[int, Any]]:
    """Parse with stand-in ints for named dims; the spec and the way back to dimensions."""
    fake, back = fake_sizes([op.shape for op in ops], sizes, pins)
    shapes = [tuple(fake[d] for d in op.shape) for op in ops]
    user_sizes = {k: fake[v] for k, v in (sizes or {}).items()}
    try:
        return parse(subscripts, shapes, user_sizes or None), back
    except TensorcalcError as err:
        if not any(isinstance(d, str) for d in fake):
            raise
        # The parser saw stand-in ints for the named dims: say it in the user's sizes.
        symbolic = [op.shape for op in ops]
        conflict = label_conflict(subscripts, symbolic, sizes)
        if conflict is not None:
            raise TensorcalcError(conflict) from None
        text = str(err).replace(str([tuple(s) for s in shapes]), plain_shapes(symbolic))
        if plain_shapes(symbolic) not in text:
            text += f" (operand shapes {plain_shapes(symbolic)})"
        raise TensorcalcError(text) from None


def _squeeze(op: Expr, axes: Sequence[int]) -> Expr:
    """Drop size-1 axes (summing over a size-1 label is exactly a squeeze)."""
    if not axes:
        return op
    labels = LETTERS[: op.ndim]
    keep = "".join(lab for ax, lab in enumerate(labels) if ax not in axes)
    return Einsum([labels], keep, [op], dict(zip(labels, op.shape)))


def scale(x: Any, factor: float) -> Expr:
    """``factor * x`` as an einsum scale."""
    x = as_expr(x)
    labels = LETTERS[: x.ndim]
    return Einsum([labels], labels, [x], dict(zip(labels, x.shape)), scale=factor)


def broadcast_to(x: Any, shape: Sequence[Any]) -> Expr:
    """Broadcast ``x`` to ``shape`` as an extended einsum (no copy until evaluation)."""
    x = as_expr(x)
    shape = tuple(shape)
    if x.shape == shape:
        return x
    broadcast_shapes(x.shape, shape)
    out = LETTERS[: len(shape)]
    lead = len(shape) - x.ndim
    labels = ""
    sizes = dict(zip(out, shape))
    for ax, d in enumerate(x.shape):
        if d != 1 or shape[lead + ax] == 1:
            labels += out[lead + ax]
        else:  # a size-1 axis: a private label of size 1, summed away
            lab = LETTERS[len(shape) + ax]
            labels += lab
            sizes[lab] = 1
    return Einsum([labels], out, [x], sizes)


def add(a: Any, b: Any, coeffs: Sequence[float] = (1.0, 1.0)) -> Expr:
    """``coeffs[0] * a + coeffs[1] * b`` with numpy broadcasting."""
    a, b = as_expr(a), as_expr(b)
    shape = broadcast_shapes(a.shape, b.shape)
    return Add([broadcast_to(a, shape), broadcast_to(b, shape)], coeffs)


def multiply(a: Any, b: Any) -> Expr:
    """Elementwise product with numpy broadcasting, as one einsum."""
    if is_number(a) and isinstance(b, Expr):
        return scale(b, a)
    if is_number(b) and isinstance(a, Expr):
        return scale(a, b)
    a, b = as_expr(a), as_expr(b)
    shape = broadcast_shapes(a.shape, b.shape)
    out = LETTERS[: len(shape)]
    sizes = dict(zip(out, shape))
    inputs = []
    spare = iter(LETTERS[len(shape):])
    for op in (a, b):
        lead = len(shape) - op.ndim
        labels = ""
        for ax, d in enumerate(op.shape):
            if d != 1 or shape[lead + ax] == 1:
                labels += out[lead + ax]
            else:
                lab = next(spare)
                labels += lab
                sizes[lab] = 1
        inputs.append(labels)
    return Einsum(inputs, out, [a, b], sizes)


def matmul(a: Any, b: Any) -> Expr:
    """numpy ``@``: vectors, matrices and batched stacks."""
    a, b = as_expr(a), as_expr(b)
    if a.ndim == 0 or b.ndim == 0:
        raise TensorcalcError("matmul: operands must have at least one dimension (use * for scalars)")
    left = "...ij" if a.ndim >= 2 else "j"
    right = "...jk" if b.ndim >= 2 else "j"
    out = ("..." if a.ndim >= 2 or b.ndim >= 2 else "") + ("i" if a.ndim >= 2 else "") + (
        "k" if b.ndim >= 2 else "")
    inner_a, inner_b = a.shape[-1], b.shape[-2 if b.ndim >= 2 else 0]
    # Equal, or a name against an int (the int wins, checked when arrays are bound).
    if inner_a != inner_b and isinstance(inner_a, str) == isinstance(inner_b, str):
        raise TensorcalcError(f"matmul: shapes {a.shape} and {b.shape} do not align "
                              f"({inner_a} != {inner_b})")
    return einsum(f"{left},{right}->{out}", a, b)


# ---------------------------------------------------------------------------------------
# Operators: installed here, where their builders live.


def _transpose(self: Expr) -> Expr:
    """Reverse the axes (numpy's ``.T``)."""
    labels = LETTERS[: self.ndim]
    return einsum(labels + "->" + labels[::-1], self)


Expr.__add__ = lambda self, other: add(self, other)
Expr.__radd__ = lambda self, other: add(other, self)
Expr.__sub__ = lambda self, other: add(self, other, coeffs=(1.0, -1.0))
Expr.__rsub__ = lambda self, other: add(other, self, coeffs=(1.0, -1.0))
Expr.__neg__ = lambda self: scale(self, -1.0)
Expr.__pos__ = lambda self: self
Expr.__mul__ = lambda self, other: multiply(self, other)
Expr.__rmul__ = lambda self, other: multiply(other, self)
Expr.__matmul__ = lambda self, other: matmul(self, other)
Expr.__rmatmul__ = lambda self, other: matmul(other, self)
Expr.T = property(_transpose)
