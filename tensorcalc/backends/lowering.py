"""Einsum steps written with array-API functions only (the standard has no einsum).

One pairwise step ``x, y -> keep`` becomes: the diagonal of a label repeated in one operand
(``reshape`` + ``take``), a ``sum`` over the labels only one operand carries and the result
does not keep, then ``permute_dims`` + ``reshape`` to ``(batch, free, contracted)`` and one
``matmul`` (a broadcast product when nothing is contracted). The extended outputs (a repeated
output label, an output label no input carries) are made by :func:`expand_output`, for every
backend. Also basic indexing with negative steps, which torch refuses.

>>> import numpy as np
>>> import array_api_compat.numpy as xp
>>> x, y = np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)
>>> z, labels = pair(xp, x, "ij", y, "jk", {"i", "k"}, {"i": 2, "j": 3, "k": 4})
>>> labels, bool(np.allclose(z, x @ y))
('ik', True)
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import array_api_compat


def device_of(x: Any) -> Any:
    """The device of ``x`` (None where the library has no such notion, e.g. a JAX trace)."""
    try:
        return array_api_compat.device(x)
    except Exception:
        return None


def permute(xp: Any, x: Any, labels: str, order: str) -> Any:
    """``x`` (one axis per label of ``labels``) with its axes in the order of ``order``."""
    if labels == order:
        return x
    return xp.permute_dims(x, tuple(labels.index(lab) for lab in order))


def diagonal(xp: Any, x: Any, labels: str) -> tuple[Any, str]:
    """``x`` with every repeated label taken once (the diagonal), and its labels."""
    while len(set(labels)) != len(labels):
        lab = next(lab for k, lab in enumerate(labels) if lab in labels[k + 1:])
        first = labels.index(lab)
        second = labels.index(lab, first + 1)
        others = [k for k in range(len(labels)) if k not in (first, second)]
        rest = "".join(labels[k] for k in others)
        x = xp.permute_dims(x, tuple(others) + (first, second))
        n = x.shape[-1]
        flat = xp.reshape(x, tuple(x.shape[:-2]) + (n * n,))
        # entries (0, 0), (1, 1), ...: every (n + 1)-th of the flattened pair of axes
        picks = xp.arange(0, n * n, n + 1, device=device_of(x))
        x, labels = xp.take(flat, picks, axis=flat.ndim - 1), rest + lab
    return x, labels


def reduce(xp: Any, x: Any, labels: str, keep: set[str]) -> tuple[Any, str]:
    """Diagonals, then the sum over labels not in ``keep``."""
    x, labels = diagonal(xp, x, labels)
    summed = tuple(k for k, lab in enumerate(labels) if lab not in keep)
    if summed:
        x = xp.sum(x, axis=summed)
        labels = "".join(lab for lab in labels if lab in keep)
    return x, labels


def pair(xp: Any, x: Any, lx: str, y: Any, ly: str, keep: set[str],
         sizes: Mapping[str, int]) -> tuple[Any, str]:
    """Contract ``x`` and ``y`` keeping the labels in ``keep``: ``(result, its labels)``,
    ordered batch, free of ``x``, free of ``y`` (what ``matmul`` gives)."""
    x, lx = reduce(xp, x, lx, keep | set(ly))
    y, ly = reduce(xp, y, ly, keep | set(lx))
    batch = "".join(lab for lab in lx if lab in ly and lab in keep)
    inner = "".join(lab for lab in lx if lab in ly and lab not in keep)
    fx = "".join(lab for lab in lx if lab not in ly)
    fy = "".join(lab for lab in ly if lab not in lx)
    nb, nx, ny, nc = (math.prod(sizes[lab] for lab in part) for part in (batch, fx, fy, inner))
    if inner:
        a = xp.reshape(permute(xp, x, lx, batch + fx + inner), (nb, nx, nc))
        b = xp.reshape(permute(xp, y, ly, batch + inner + fy), (nb, nc, ny))
        z = xp.matmul(a, b)
    else:  # an outer or elementwise product: broadcasting, no matmul of 1 x 1 blocks
        a = xp.reshape(permute(xp, x, lx, batch + fx), (nb, nx, 1))
        b = xp.reshape(permute(xp, y, ly, batch + fy), (nb, 1, ny))
        z = xp.multiply(a, b)
    out = batch + fx + fy
    return xp.reshape(z, tuple(sizes[lab] for lab in out)), out


def expand_output(xp: Any, result: Any, labels: str, output: str, sizes: Mapping[str, int]) -> Any:
    """Place ``result`` (one axis per label of ``labels``) into ``output``: a repeated output
    label puts the values on that diagonal (zeros elsewhere), an output label absent from
    ``labels`` broadcasts the values along it."""
    unique = "".join(dict.fromkeys(output))
    for lab in unique:
        if lab not in labels:  # a broadcast axis, size 1 until the end
            result = xp.expand_dims(result, axis=result.ndim)
            labels += lab
    result = permute(xp, result, labels, unique)
    axes = list(unique)
    for lab in _repeats(output):
        # a new axis for the repeat, and the identity on (first axis of lab, new axis)
        first = axes.index(lab)
        n = sizes[lab]
        eye_shape = [1] * (len(axes) + 1)
        eye_shape[first] = eye_shape[-1] = n
        eye = xp.reshape(xp.eye(n, dtype=result.dtype, device=device_of(result)), tuple(eye_shape))
        result = xp.multiply(xp.expand_dims(result, axis=result.ndim), eye)
        axes.append(lab)
    # each output position takes the next unused axis of its label
    order, used = [], set()
    for lab in output:
        k = next(k for k, a in enumerate(axes) if a == lab and k not in used)
        used.add(k)
        order.append(k)
    result = xp.broadcast_to(result, tuple(sizes[lab] for lab in axes))
    return xp.permute_dims(result, tuple(order)) if order != sorted(order) else result


def _repeats(output: str) -> list[str]:
    """The labels of ``output`` past their first occurrence, in order."""
    seen: set[str] = set()
    out = []
    for lab in output:
        if lab in seen:
            out.append(lab)
        seen.add(lab)
    return out


def forward_index(index: tuple) -> tuple[tuple, tuple[int, ...]]:
    """``index`` with every negative-step slice marked to run forward, and the axes of the
    result to flip afterwards: ``x[index] == flip(x[forward], flipped)`` once
    :func:`resolve_index` has the shape (torch refuses negative steps)."""
    if not any(isinstance(it, slice) and it.step is not None and it.step < 0 for it in index):
        return index, ()
    out, flipped, result_axis = [], [], 0
    for it in index:
        if isinstance(it, slice) and it.step is not None and it.step < 0:
            out.append(_Reversed(it))
            flipped.append(result_axis)
        else:
            out.append(it)
        if it is None or isinstance(it, slice):  # an int drops its axis from the result
            result_axis += 1
    return tuple(out), tuple(flipped)


class _Reversed:
    """A negative-step slice, resolved against the axis length by :func:`resolve_index`."""

    def __init__(self, s: slice) -> None:
        self.slice = s

    def forward(self, n: int) -> slice:
        picked = range(*self.slice.indices(n))
        if not picked:
            return slice(0, 0)
        return slice(picked[-1], picked[0] + 1, -picked.step)


def resolve_index(index: tuple, shape: tuple) -> tuple:
    """Turn the :class:`_Reversed` entries of ``index`` into slices for ``shape``, and name
    every axis (the standard wants a full index: ``x[0]`` of a matrix is ``x[0, :]``)."""
    out, axis = [], 0
    for it in index:
        if it is None:
            out.append(None)
            continue
        out.append(it.forward(shape[axis]) if isinstance(it, _Reversed) else it)
        axis += 1
    out.extend([slice(None)] * (len(shape) - axis))
    return tuple(out)


def take_index(xp: Any, x: Any, index: tuple) -> Any:
    """``x[index]`` for basic ``index`` (ints, slices of any step, None) on any backend."""
    forward, flipped = forward_index(index)
    value = x[resolve_index(forward, tuple(x.shape))]
    return xp.flip(value, axis=flipped) if flipped else value


def put_index(xp: Any, put: Any, out: Any, index: tuple, value: Any) -> Any:
    """``out`` with ``out[index] = value`` (``put`` writes, as the backend can)."""
    forward, flipped = forward_index(index)
    if flipped:
        value = xp.flip(value, axis=flipped)
    # a new axis (None) is a size-1 axis of the value, not a place to write (the standard
    # refuses None in a write)
    new_axes, result_axis = [], 0
    for it in forward:
        if it is None:
            new_axes.append(result_axis)
        if it is None or not isinstance(it, int):
            result_axis += 1
    if new_axes:
        value = xp.squeeze(value, axis=tuple(new_axes))
        forward = tuple(it for it in forward if it is not None)
    return put(out, resolve_index(forward, tuple(out.shape)), value)
