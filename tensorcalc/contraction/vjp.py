"""Einsum gradients at the string level: the gradient spec of each operand, and its VJP.

The gradient of operand ``k`` of ``inputs -> output`` is the einsum of the upstream gradient
(labelled like the output) and the other operands, whose output is operand ``k``'s labels.
Repeated labels and labels carried by one operand only need nothing more: the result is an
*extended* einsum (a repeated output label embeds a diagonal, an output label no input
carries broadcasts), which ``tensorcalc.einsum`` evaluates.

>>> grad_subscripts("ij,jk->ik", 1)
'ik,ij->jk'
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import TensorcalcError
from ..labels import LETTERS
from .contract import einsum as tc_einsum
from .subscripts import parse


def grad_subscripts(subscripts: str, wrt: int) -> str:
    """The einsum spec of operand ``wrt``'s gradient: upstream gradient first, then the others.

    The result may be an extended einsum (repeated output label: diagonal embedding; output
    label no input carries: broadcast); evaluate it with ``tensorcalc.einsum(..., sizes=...)``.

    >>> grad_subscripts("ij,jk->ik", 0)
    'ik,jk->ij'
    >>> grad_subscripts("ii->", 0)
    '->ii'
    >>> grad_subscripts("i->ij", 0)  # an extended forward spec: its gradient sums j away
    'ij->i'
    """
    if not isinstance(subscripts, str):
        raise TypeError(f"subscripts must be a str, got {type(subscripts).__name__}")
    text = subscripts.replace(" ", "")  # spaces only, as parse and numpy
    lhs, _, rhs = text.partition("->")
    terms = lhs.split(",")
    k = _check_wrt(wrt, len(terms), subscripts)
    # Stand-in shapes: size 2 everywhere, one axis for '...'.  Only the labels matter here;
    # an output label no input carries (a broadcast of an extended spec) gets size 2 too.
    shapes = [(2,) * (len(t.replace("...", "")) + ("..." in t)) for t in terms]
    spec = parse(text, shapes, {lab: 2 for lab in set(rhs) - set(lhs) if lab in LETTERS})
    ell = spec.ellipsis

    def show(labels: str) -> str:
        return labels.replace(ell, "...") if ell else labels

    parts = [show(spec.output)] + [show(s) for j, s in enumerate(spec.inputs) if j != k]
    return ",".join(parts) + "->" + show(spec.inputs[k])


def _check_wrt(wrt: Any, n: int, subscripts: str) -> int:
    if not isinstance(wrt, (int, np.integer)) or isinstance(wrt, bool):
        raise TypeError(f"wrt must be an operand position (int), got {wrt!r}")
    if not -n <= wrt < n:
        raise TensorcalcError(f"wrt={wrt} but subscripts {subscripts!r} have {n} operand(s)")
    return int(wrt) % n


def einsum_vjp(subscripts: str, *operands: Any, grad: Any) -> tuple[np.ndarray, ...]:
    """The gradient of every operand given the upstream gradient ``grad`` (shaped like the output).

    Handles repeated labels, labels only one operand carries, ``...`` with broadcasting (size-1
    and missing batch axes are summed back), scalars and the same array passed twice (each
    position gets its own gradient; add them for the total).  Extended forward specs work
    too (``"i->ii"``, ``"i->ij"``): the sizes of output labels no input carries are read off
    ``grad``.

    Complex operands follow JAX's convention: nothing is conjugated.  An einsum is linear
    (so holomorphic) in each operand, and the result is the vector-Jacobian product ``G J``,
    what ``jax.vjp`` returns: ``sum(G * einsum(..., dX, ...)) == sum(result[k] * dX)``.
    (PyTorch's gradient of a real loss is the complex conjugate of this.)

    >>> import numpy as np
    >>> gA, gB = einsum_vjp("ij,jk->ik", np.eye(2), np.ones((2, 3)), grad=np.ones((2, 3)))
    >>> gA
    array([[3., 3.],
           [3., 3.]])
    """
    arrays = [np.asarray(op) for op in operands]
    g = np.asarray(grad)
    spec = parse(subscripts, [a.shape for a in arrays], _broadcast_sizes(subscripts, g.shape))
    out_shape = tuple(spec.sizes[lab] for lab in spec.output)
    if g.shape != out_shape:
        raise TensorcalcError(
            f"grad has shape {g.shape} but the output of {subscripts!r} has shape {out_shape}")
    labels = "".join(dict.fromkeys("".join(spec.inputs) + spec.output))
    if len(labels) > len(LETTERS):
        raise TensorcalcError(f"einsum_vjp: {subscripts!r} uses more than {len(LETTERS)} labels")
    rename = str.maketrans({lab: LETTERS[k] for k, lab in enumerate(labels)})
    inputs = [s.translate(rename) for s in spec.inputs]
    output = spec.output.translate(rename)
    sizes = {lab.translate(rename): n for lab, n in spec.sizes.items() if lab in labels}
    squeezed = [_squeeze(a, drop) for a, drop in zip(arrays, spec.squeeze)]
    result = []
    for k, a in enumerate(arrays):
        others = [s for j, s in enumerate(squeezed) if j != k]
        terms = [output] + [s for j, s in enumerate(inputs) if j != k]
        carried = set("".join(terms))
        extra = {lab: sizes[lab] for lab in inputs[k] if lab not in carried}
        ct = tc_einsum(",".join(terms) + "->" + inputs[k], g, *others, sizes=extra or None)
        result.append(np.reshape(ct, a.shape))
    return tuple(result)


def _broadcast_sizes(subscripts: Any, grad_shape: tuple[int, ...]) -> dict[str, int] | None:
    """Sizes, read off ``grad``, of the output labels no input carries (extended specs).

    Labels before a ``...`` in the output count from the first axis of ``grad``, labels after
    it from the last.  Shape mismatches are left to the parser and the shape check.
    """
    if not isinstance(subscripts, str):
        return None
    lhs, arrow, rhs = subscripts.replace(" ", "").partition("->")
    if not arrow:
        return None
    head, _, tail = rhs.partition("...")
    sizes: dict[str, int] = {}
    for labels, axes in ((head, range(len(head))),
                         (tail, range(len(grad_shape) - len(tail), len(grad_shape)))):
        for lab, ax in zip(labels, axes):
            if lab in LETTERS and lab not in lhs and 0 <= ax < len(grad_shape):
                sizes.setdefault(lab, grad_shape[ax])
    return sizes or None


def _squeeze(a: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    return a[tuple(0 if ax in axes else slice(None) for ax in range(a.ndim))] if axes else a
