"""The slow, general path: numpy.einsum plus the two output extensions.

Used for dtypes the compiled core does not handle (ints, bool, object, float16, ...), and as
the reference the extended outputs are defined by.

>>> import numpy as np
>>> from tensorcalc.contraction.subscripts import parse
>>> x = np.array([1, 2])
>>> einsum_numpy(parse("i->ii", [x.shape]), [x])
array([[1, 0],
       [0, 2]])
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..labels import LETTERS
from .paths import contract_any
from .subscripts import Spec


def squeeze_operands(spec: Spec, operands: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Drop the size-1 broadcast axes the spec lists (a view, never a copy)."""
    out = []
    for op, drop in zip(operands, spec.squeeze):
        if drop:
            index = tuple(0 if ax in drop else slice(None) for ax in range(op.ndim))
            op = op[index]
        out.append(op)
    return out


def einsum_numpy(spec: Spec, operands: Sequence[np.ndarray]) -> np.ndarray:
    """Evaluate ``spec`` with numpy.einsum, then embed/broadcast for extended outputs."""
    ops = squeeze_operands(spec, operands)
    carried = set("".join(spec.inputs))
    reduced = "".join(dict.fromkeys(lab for lab in spec.output if lab in carried))
    labels = sorted(set("".join(spec.inputs)) | set(spec.output))
    if len(labels) <= len(LETTERS):
        rename = str.maketrans({lab: LETTERS[k] for k, lab in enumerate(labels)})
        text = ",".join(t.translate(rename) for t in spec.inputs) + "->" + reduced.translate(rename)
        result = _as_array(np.einsum(text, *ops))
    else:
        text = ",".join(spec.inputs) + "->" + reduced
        result = _as_array(contract_any(text, *ops))
    if reduced == spec.output:
        return result
    return expand_output(result, reduced, spec.output, spec.sizes)


def _as_array(value: object) -> np.ndarray:
    """numpy.einsum's return value as an array. A full contraction of object arrays returns
    the Python object itself, which must stay one (``np.asarray(3)`` would make it int64)."""
    if isinstance(value, (np.ndarray, np.generic)):
        return np.asarray(value)
    array = np.empty((), dtype=object)
    array[()] = value
    return array


def expand_output(result: np.ndarray, labels: str, output: str, sizes: dict) -> np.ndarray:
    """Place ``result`` (one axis per label of ``labels``) into ``output``.

    Repeated output labels put the values on the diagonal (zeros elsewhere); output labels
    absent from ``labels`` broadcast the values along them.
    """
    shape = tuple(sizes[lab] for lab in output)
    full = np.zeros(shape, dtype=result.dtype)
    unique = "".join(dict.fromkeys(output))
    strides = [sum(full.strides[ax] for ax, lab in enumerate(output) if lab == u) for u in unique]
    diag = np.lib.stride_tricks.as_strided(
        full, shape=tuple(sizes[u] for u in unique), strides=strides, writeable=True
    )
    src = result
    for lab in unique:
        if lab not in labels:
            src = src[..., None]
    src_labels = labels + "".join(u for u in unique if u not in labels)
    src = np.transpose(src, [src_labels.index(u) for u in unique])
    np.copyto(diag, src)
    return full
