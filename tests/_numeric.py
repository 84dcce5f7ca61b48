"""Shared helpers for the derivative tests: finite differences, array checks, random specs.

Finite differences here never call tensorcalc: the reference functions are plain numpy, so a
test compares tensorcalc's derivative with something computed independently of it.

>>> import numpy as np
>>> g = numeric_grad(lambda v: float(np.sum(v ** 2)), np.array([1.0, -2.0]))
>>> np.allclose(g, [2.0, -4.0])
True
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

STEP = 1e-6
RTOL = 1e-5
ATOL = 1e-6


def numeric_grad(fun: Callable[[np.ndarray], Any], x: np.ndarray, step: float = STEP) -> np.ndarray:
    """Central-difference gradient of a scalar function of one float64 array."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += step
        minus[index] -= step
        grad[index] = (float(fun(plus)) - float(fun(minus))) / (2.0 * step)
    return grad


def numeric_jacobian(fun: Callable[[np.ndarray], Any], x: np.ndarray, step: float = STEP) -> np.ndarray:
    """Central-difference Jacobian in numerator layout: ``out.shape + x.shape``."""
    x = np.array(x, dtype=np.float64)
    out_shape = np.shape(fun(x))
    jac = np.zeros(out_shape + x.shape)
    for index in np.ndindex(*x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += step
        minus[index] -= step
        diff = (np.asarray(fun(plus), dtype=np.float64) - np.asarray(fun(minus), dtype=np.float64))
        jac[(Ellipsis,) + index] = diff / (2.0 * step)
    return jac


def assert_array(result: Any, expected: Any, *, shape: tuple[int, ...] | None = None,
                 rtol: float = RTOL, atol: float = ATOL, dtype: Any = np.float64) -> None:
    """Check dtype, shape and values of a computed array against a reference."""
    expected = np.asarray(expected, dtype=np.float64)
    shape = expected.shape if shape is None else shape
    assert hasattr(result, "dtype"), f"expected a numpy array, got {type(result).__name__}"
    assert result.dtype == dtype, f"dtype {result.dtype} != {dtype}"
    assert np.shape(result) == shape, f"shape {np.shape(result)} != {shape}"
    np.testing.assert_allclose(np.asarray(result), expected, rtol=rtol, atol=atol)


def random_einsum_spec(gen: np.random.Generator, max_operands: int = 3) -> tuple[str, list[tuple[int, ...]]]:
    """A random ordinary einsum spec and operand shapes numpy accepts.

    Covers repeated labels in one operand, labels only one operand carries, scalars, and
    ``...`` with size-1 and missing batch dimensions.
    """
    letters = "abcd"
    sizes = {c: int(gen.integers(1, 4)) for c in letters}
    use_ellipsis = bool(gen.integers(0, 2))
    batch = tuple(int(s) for s in gen.integers(1, 4, size=int(gen.integers(0, 3)))) if use_ellipsis else ()
    terms, shapes = [], []
    for _ in range(int(gen.integers(1, max_operands + 1))):
        labels = "".join(gen.choice(list(letters), size=int(gen.integers(0, 4))))
        ellipsis = use_ellipsis and bool(gen.integers(0, 2))
        batch_shape: tuple[int, ...] = ()
        if ellipsis:
            tail = batch[len(batch) - int(gen.integers(0, len(batch) + 1)):]
            batch_shape = tuple(1 if gen.integers(0, 2) else s for s in tail)
        terms.append(("..." if ellipsis else "") + labels)
        shapes.append(batch_shape + tuple(sizes[c] for c in labels))
    present = sorted({c for t in terms for c in t.replace("...", "")})
    output = "".join(gen.permutation(present)[: int(gen.integers(0, len(present) + 1))]) if present else ""
    prefix = "..." if any("..." in t for t in terms) else ""
    return ",".join(terms) + "->" + prefix + output, shapes


def grad_reference(fn: Callable[[dict], float], values: dict, wrt: str) -> np.ndarray:
    """Central-difference gradient of ``fn(values)`` with respect to the entry ``values[wrt]``."""
    return numeric_grad(lambda p: fn({**values, wrt: p}), values[wrt])
