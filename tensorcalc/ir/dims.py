"""Symbolic dimensions: ints or names bound at evaluation.

A named dimension matches itself, 1 (numpy broadcasting) or an int: the int wins and the name
is checked against it when arrays are bound (``tensorcalc.evaluation.check_operands``).  Two
different names never match.  The einsum parser only knows ints, so symbolic shapes reach it
through stand-in sizes (:func:`fake_sizes`).

>>> broadcast_shapes(("n", 1), (3,))
('n', 3)
>>> broadcast_shapes(("n",), (3,))
(3,)
>>> resolve_dim("n", {"n": 4}), resolve_dim(2, {})
(4, 2)
"""

from __future__ import annotations

import numbers
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..errors import TensorcalcError
from ..contraction.subscripts import parse


def resolve_dim(dim: Any, sizes: Mapping[str, int]) -> int:
    """The int value of a dimension (named dims looked up in ``sizes``)."""
    if isinstance(dim, str):
        try:
            return sizes[dim]
        except KeyError:
            raise TensorcalcError(f"dimension {dim!r} is not bound by any input array") from None
    return dim


def check_dim(d: Any) -> Any:
    """``d`` as a dimension: a non-empty name, or a non-negative int (numpy ints accepted)."""
    if isinstance(d, str):
        if not d:
            raise TensorcalcError("a dimension name must not be empty")
        return d
    if isinstance(d, (numbers.Integral, np.integer)) and not isinstance(d, bool) and d >= 0:
        return int(d)
    raise TypeError(f"dimensions must be non-negative ints or names, got {d!r}")


def broadcast_shapes(*shapes: Sequence[Any]) -> tuple:
    """numpy broadcasting of symbolic shapes.

    A named dim matches itself, 1, or an int (the int wins; the name is checked against it
    when arrays are bound).  Two different names do not match.
    """
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for ax in range(ndim):
        dim: Any = 1
        for s in shapes:
            d = s[ax - ndim + len(s)] if ax - ndim + len(s) >= 0 else 1
            if d == 1 or d == dim:
                continue
            if isinstance(d, str) and isinstance(dim, int) and dim != 1:
                continue
            if isinstance(dim, str) and isinstance(d, int):
                dim = d
                continue
            if dim != 1:
                raise TensorcalcError(
                    f"shapes {[tuple(x) for x in shapes]} do not broadcast: axis {ax - ndim} "
                    f"has sizes {dim!r} and {d!r}")
            dim = d
        out.append(dim)
    return tuple(out)


def unify_shapes(shapes: Sequence[Sequence[Any]]) -> tuple | None:
    """The common shape of same-rank shapes whose dims are equal or a name against an int
    (the int wins, as in :func:`broadcast_shapes`, but no size-1 stretching); None otherwise."""
    first = tuple(shapes[0])
    out = list(first)
    for shape in shapes[1:]:
        if len(shape) != len(first):
            return None
        for ax, d in enumerate(shape):
            if d == out[ax]:
                continue
            if isinstance(d, str) == isinstance(out[ax], str):
                return None
            if isinstance(d, int):
                out[ax] = d
    return tuple(out)


def pinned_names(subscripts: Any, shapes: Sequence[Sequence[Any]],
                 sizes: Mapping[str, Any] | None) -> dict[str, int]:
    """Named dims that share a label with an int size other than 1: name -> that int.

    numpy-style broadcasting lets a named dim meet an int (the int wins, the name is checked
    when arrays are bound); an einsum label joining ``n`` and ``3`` is the same promise.
    """
    if not any(isinstance(d, str) for shape in shapes for d in shape):
        return {}
    where = _label_dims(subscripts, shapes, sizes)
    if where is None:
        return {}  # the real parse reports the fault
    dims = {lab: {d for _, d in found} for lab, found in where.items()}
    pins: dict[str, set] = {}
    for found in dims.values():
        ints = {d for d in found if isinstance(d, int) and d != 1}
        if len(ints) == 1:
            for d in found:
                if isinstance(d, str):
                    pins.setdefault(d, set()).update(ints)
    return {name: next(iter(v)) for name, v in pins.items() if len(v) == 1}


def _label_dims(subscripts: Any, shapes: Sequence[Sequence[Any]],
                sizes: Mapping[str, Any] | None) -> dict[str, list[tuple[str, Any]]] | None:
    """label -> ``(where, dim)`` for every axis it names (``where``: ``"operand k"`` or
    ``"sizes"``); None when the subscripts do not parse."""
    try:  # the labels only: every axis a stand-in 2, so nothing is squeezed
        spec = parse(subscripts, [(2,) * len(shape) for shape in shapes],
                     {lab: 2 for lab in (sizes or {})} or None)
    except (TensorcalcError, TypeError):
        return None
    dims: dict[str, list[tuple[str, Any]]] = {}
    for k, (labels, shape) in enumerate(zip(spec.inputs, shapes)):
        for lab, d in zip(labels, shape):
            dims.setdefault(lab, []).append((f"operand {k}", d))
    for lab, d in (sizes or {}).items():
        dims.setdefault(lab, []).append(("sizes", d))
    return dims


def label_conflict(subscripts: Any, shapes: Sequence[Sequence[Any]],
                   sizes: Mapping[str, Any] | None) -> str | None:
    """A message for a label whose dims cannot agree (two names, or two ints other than 1),
    in plain sizes (``'n'``, ``3``); None when every label's dims can agree.

    >>> label_conflict("ij,jk->ik", [(3, "n"), ("m", 2)], None)
    "label 'j' has size 'n' in operand 0 but 'm' in operand 1 (subscripts 'ij,jk->ik', shapes [(3, 'n'), ('m', 2)])"
    """
    where = _label_dims(subscripts, shapes, sizes)
    for lab, found in (where or {}).items():
        for (w1, d1) in found:
            for (w2, d2) in found:
                if d1 != d2 and d1 != 1 and d2 != 1 and isinstance(d1, str) == isinstance(d2, str):
                    return (f"label {lab!r} has size {d1!r} in {w1} but {d2!r} in {w2} "
                            f"(subscripts {subscripts!r}, shapes {plain_shapes(shapes)})")
    return None


def plain_shape(shape: Sequence[Any]) -> str:
    """A shape as written: ``('n', 3)``, ``(3,)``, ``()``."""
    return "(" + ", ".join(repr(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def plain_shapes(shapes: Iterable[Sequence[Any]]) -> str:
    return "[" + ", ".join(plain_shape(s) for s in shapes) + "]"


def fake_sizes(shapes: Iterable[Sequence[Any]], sizes: Mapping[str, Any] | None,
               pins: Mapping[str, int] | None = None) -> tuple[dict[Any, int], dict[int, Any]]:
    """Stand-in ints for named dims, distinct from every int present (so parse can check).

    Returns ``(fake, back)``: dimension -> stand-in int, and stand-in int -> dimension.

    A pinned name (see :func:`pinned_names`) stands in as its int; the way back maps that
    int to the int, so the einsum node records the int size.
    """
    pins = pins or {}
    dims = [d for s in shapes for d in s] + [check_dim(d) for d in (sizes or {}).values()]
    ints = {d for d in dims if isinstance(d, int)}
    fake: dict[Any, int] = {d: d for d in ints}
    back: dict[int, Any] = {d: d for d in ints}
    nxt = 2
    for d in dims:
        if isinstance(d, str) and d not in fake:
            if d in pins:
                fake[d] = pins[d]
                continue
            while nxt in ints:
                nxt += 1
            fake[d] = nxt
            back[nxt] = d
            nxt += 1
    return fake, back
