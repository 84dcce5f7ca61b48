"""Shared test helpers: hypothesis strategies, numpy references, and derivative helpers.

Contraction cases. The strategies build einsum cases that numpy.einsum accepts: repeated
labels within an operand (diagonals), labels only one operand carries (sums), scalars,
implicit and explicit output, ``...`` with broadcasting (size-1 and missing batch
dimensions), upper and lower case labels, whitespace. Shapes include size-0 and size-1 axes;
operands come in every dtype numpy einsum handles and in many memory layouts (Fortran,
transposed and negative-stride views, strided slices, read-only, zero-stride broadcast,
byte-swapped and unaligned arrays, and arbitrary strides on size-1 axes).

The contraction oracle is ``numpy.einsum(..., optimize=False)`` (numpy's greedy path when that
loop would be too long): tensorcalc must return the same shape and dtype, and values within a
rounding bound that grows with the number of summed terms.

Derivatives. Every derivative in the suite is checked by the one gradient oracle,
:func:`tensorcalc.testing.check_grads` (finite differences by random projection), by an
exact closed form, or by JAX. :func:`oracle_grad`, :func:`oracle_jacobian` and
:func:`oracle_hessian` run the oracle and then assemble the full gradient (Jacobian,
Hessian) exactly from the VJP it has vouched for, so that ``tc.grad``, ``tc.jacobian`` and
``tc.hessian`` are compared entry by entry;
:func:`einsum_pullback` is the exact pullback of a map linear in one operand (an einsum).

>>> from hypothesis import given
>>> @given(einsum_cases())
... def check(case):
...     assert len(case.operands) == len(case.terms)
>>> check()
"""

from __future__ import annotations

import os
import signal
import string
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st

LETTERS = string.ascii_lowercase + string.ascii_uppercase

FLOAT_DTYPES = (np.float32, np.float64)
COMPLEX_DTYPES = (np.complex64, np.complex128)
INT_DTYPES = (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint32)
ALL_DTYPES = FLOAT_DTYPES + COMPLEX_DTYPES + INT_DTYPES + (np.bool_,)
INEXACT_DTYPES = FLOAT_DTYPES + COMPLEX_DTYPES

LAYOUTS = ("C", "F", "transposed", "negative", "sliced", "readonly", "broadcast",
           "byteswapped", "unaligned", "size1strides")

ELLIPSIS = "..."


# The "ci" profile (tests/conftest.py) runs 40 examples per property; other profiles scale
# every property's own count by the same factor.
_BASE_EXAMPLES = 40


def examples(n: int) -> settings:
    """``settings(max_examples=...)``: ``n`` under the ci profile, scaled under the others."""
    return settings(max_examples=max(1, n * settings.default.max_examples // _BASE_EXAMPLES))


# ---------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------


@dataclass
class EinsumCase:
    """One einsum call: the terms (lists of labels and ``"..."``), output and operands."""

    terms: list[list[str]]
    output: list[str] | None  # None: implicit output
    operands: list[np.ndarray]
    spaces: list[int] = field(default_factory=list)  # where whitespace goes in the text

    @property
    def subscripts(self) -> str:
        """The string form, with whitespace inserted between tokens where ``spaces`` says."""
        tokens: list[str] = []
        for k, term in enumerate(self.terms):
            if k:
                tokens.append(",")
            tokens.extend(term)
        if self.output is not None:
            tokens.append("->")
            tokens.extend(self.output)
        text = ""
        for k, tok in enumerate(tokens):
            text += tok
            if k in self.spaces:
                text += " "
        return text

    @property
    def plain_subscripts(self) -> str:
        """The string form without whitespace."""
        return "".join(self.subscripts.split())

    def sublist_args(self) -> list[Any]:
        """numpy's interleaved form: ``op0, sub0, op1, sub1, ..., [out]``."""
        args: list[Any] = []
        for op, term in zip(self.operands, self.terms):
            args.extend([op, [label_to_int(t) for t in term]])
        if self.output is not None:
            args.append([label_to_int(t) for t in self.output])
        return args

    def __repr__(self) -> str:  # hypothesis prints this on failure: make it a reproducer
        ops = ", ".join(
            f"<{op.dtype} {op.shape} strides={op.strides} C={op.flags.c_contiguous} "
            f"W={op.flags.writeable}>"
            for op in self.operands
        )
        return f"EinsumCase({self.subscripts!r}, {ops})"


def label_to_int(label: str) -> Any:
    """numpy's sublist integer for a label: 0-25 are 'A'-'Z', 26-51 are 'a'-'z'."""
    if label == ELLIPSIS:
        return Ellipsis
    if label.isupper():
        return ord(label) - ord("A")
    return ord(label) - ord("a") + 26


# ---------------------------------------------------------------------------------------------
# Arrays
# ---------------------------------------------------------------------------------------------


def random_values(rng: np.random.Generator, shape: Sequence[int], dtype: Any) -> np.ndarray:
    """Small values of ``dtype``: exact for ints (no overflow on small specs), signed floats.

    Always an ndarray, also for shape ``()`` where numpy's generators return scalars.
    """
    dt = np.dtype(dtype)
    if dt.kind == "b":
        values = rng.random(shape) < 0.5
    elif dt.kind == "u":
        values = rng.integers(0, 4, size=shape)
    elif dt.kind == "i":
        values = rng.integers(-3, 4, size=shape)
    elif dt.kind == "c":
        values = rng.uniform(-1, 1, shape) + 1j * rng.uniform(-1, 1, shape)
    else:
        values = rng.uniform(-1, 1, shape)
    return np.array(values, dtype=dt)


def make_array(rng: np.random.Generator, shape: Sequence[int], dtype: Any, layout: str) -> np.ndarray:
    """An array of ``shape`` and ``dtype`` whose memory follows ``layout``."""
    shape = tuple(shape)
    ndim = len(shape)
    if layout == "F":
        # np.asfortranarray would turn a 0-d array into a 1-d one.
        return np.array(random_values(rng, shape, dtype), order="F")
    if layout == "transposed" and ndim >= 2:
        perm = rng.permutation(ndim)
        base = random_values(rng, tuple(shape[p] for p in perm), dtype)
        return base.transpose(np.argsort(perm))
    if layout == "negative" and ndim >= 1:
        base = random_values(rng, shape, dtype)
        flip = tuple(slice(None, None, -1) if rng.random() < 0.6 else slice(None) for _ in shape)
        return base[flip]
    if layout == "sliced" and ndim >= 1:
        # A strided view into a bigger buffer, with an offset so the data pointer moves too.
        big = random_values(rng, tuple(2 * d + 1 for d in shape), dtype)
        return big[tuple(slice(1, 1 + 2 * d, 2) for d in shape)]
    if layout == "readonly":
        arr = random_values(rng, shape, dtype)
        arr.setflags(write=False)
        return arr
    if layout == "byteswapped":
        # Non-native byte order: compiled kernels must not read the raw bytes as native.
        arr = random_values(rng, shape, dtype)
        return arr.astype(arr.dtype.newbyteorder())
    if layout == "unaligned":
        # Data pointer one byte past an aligned address (numpy's `aligned` flag is False).
        arr = random_values(rng, shape, dtype)
        raw = np.zeros(arr.nbytes + 1, np.uint8)[1:]
        view = raw.view(arr.dtype).reshape(shape) if arr.nbytes else np.empty(shape, arr.dtype)
        view[...] = arr
        return view
    if layout == "size1strides" and 1 in shape:
        # numpy never steps along a size-1 axis, so its stride may be anything (0, negative,
        # huge); a kernel passing it to BLAS as a leading dimension would be refused.
        base = random_values(rng, shape, dtype)
        odd = (0, -base.itemsize, 10**6 * max(base.itemsize, 1))
        strides = [int(odd[rng.integers(0, 3)]) if d == 1 else st_ for d, st_ in zip(shape, base.strides)]
        return np.lib.stride_tricks.as_strided(base, shape, strides, writeable=False)
    if layout == "broadcast" and ndim >= 1:
        # Zero strides: the same values repeated along a random subset of axes.
        small = tuple(1 if rng.random() < 0.5 else d for d in shape)
        return np.broadcast_to(random_values(rng, small, dtype), shape)
    return random_values(rng, shape, dtype)


dtypes = st.sampled_from(ALL_DTYPES)
inexact_dtypes = st.sampled_from(INEXACT_DTYPES)
layouts = st.sampled_from(LAYOUTS)
seeds = st.integers(0, 2**32 - 1)
# Size 0 is rare but present; 1 is common because broadcasting hides there.
dims = st.sampled_from((0, 1, 1, 2, 2, 3, 3, 4))
nonzero_dims = st.sampled_from((1, 2, 2, 3, 3, 4))
# Big enough that a compiled engine leaves its small-loop kernels for GEMM and blocked paths.
medium_dims = st.sampled_from((1, 2, 5, 7, 9, 16, 17, 33))

# The numpy oracle loops over every label combination: keep that product bounded.
MAX_VOLUME = 60_000


@st.composite
def operand_dtypes(draw: Callable, n: int, pool: Sequence[Any] = ALL_DTYPES) -> list[np.dtype]:
    """Either one dtype for all operands or an independent draw for each (mixed)."""
    if draw(st.booleans()):
        return [np.dtype(draw(st.sampled_from(pool)))] * n
    return [np.dtype(draw(st.sampled_from(pool))) for _ in range(n)]


# ---------------------------------------------------------------------------------------------
# Subscripts
# ---------------------------------------------------------------------------------------------


@st.composite
def einsum_cases(
    draw: Callable,
    min_operands: int = 1,
    max_operands: int = 4,
    max_rank: int = 4,
    ellipsis: bool = True,
    broadcast: bool = True,
    allow_zero: bool = True,
    dtype_pool: Sequence[Any] = ALL_DTYPES,
    layout_pool: Sequence[str] = LAYOUTS,
    implicit: bool | None = None,
    dim_strategy: st.SearchStrategy[int] | None = None,
) -> EinsumCase:
    """A random einsum that numpy.einsum accepts, with operands built to match.

    ``dim_strategy`` draws axis sizes (default: 0-4, or 1-4 without ``allow_zero``); sizes
    are then capped so that the product over all labels stays under ``MAX_VOLUME``.
    """
    if dim_strategy is None:
        dim_strategy = dims if allow_zero else nonzero_dims
    n_ops = draw(st.integers(min_operands, max_operands))
    pool = draw(st.lists(st.sampled_from(LETTERS), min_size=1, max_size=6, unique=True))
    size_of = {lab: draw(dim_strategy) for lab in pool}
    ell_shape: list[int] = []
    if ellipsis and draw(st.booleans()):
        ell_shape = draw(st.lists(dim_strategy, min_size=0, max_size=2))
        ell_on = True
    else:
        ell_on = False

    _cap_volume(size_of, ell_shape)

    terms: list[list[str]] = []
    shapes: list[tuple[int, ...]] = []
    for _ in range(n_ops):
        rank = draw(st.integers(0, max_rank))
        labels = draw(st.lists(st.sampled_from(pool), min_size=rank, max_size=rank))
        # A label repeated within one operand is a diagonal: every occurrence has one size.
        own = {}
        for lab in labels:
            if lab not in own:
                own[lab] = 1 if broadcast and draw(st.integers(0, 4)) == 0 else size_of[lab]
        term, shape = list(labels), [own[lab] for lab in labels]
        if ell_on and draw(st.booleans()):
            # Missing leading batch dimensions and size-1 batch dimensions both broadcast.
            keep = draw(st.integers(0, len(ell_shape)))
            batch = [
                1 if broadcast and draw(st.integers(0, 3)) == 0 else d
                for d in ell_shape[len(ell_shape) - keep :]
            ]
            pos = draw(st.integers(0, len(term)))
            term.insert(pos, ELLIPSIS)
            shape[pos:pos] = batch
        terms.append(term)
        shapes.append(tuple(shape))

    used = list(dict.fromkeys(lab for term in terms for lab in term if lab != ELLIPSIS))
    any_ell = any(ELLIPSIS in term for term in terms)
    explicit = draw(st.booleans()) if implicit is None else not implicit
    output: list[str] | None = None
    if explicit:
        chosen = draw(st.permutations(used))
        chosen = chosen[: draw(st.integers(0, len(chosen)))]
        output = list(chosen)
        if any_ell:
            output.insert(draw(st.integers(0, len(output))), ELLIPSIS)

    n_tokens = sum(len(t) for t in terms) + (n_ops - 1) + (0 if output is None else 1 + len(output))
    spaces = draw(st.lists(st.integers(0, max(n_tokens, 1)), max_size=3)) if draw(st.booleans()) else []

    kinds = draw(operand_dtypes(n_ops, dtype_pool))
    seed = draw(seeds)
    rng = np.random.default_rng(seed)
    operands = [
        make_array(rng, shape, dt, draw(st.sampled_from(layout_pool)))
        for shape, dt in zip(shapes, kinds)
    ]
    return EinsumCase(terms, output, operands, spaces)


def _cap_volume(size_of: dict[str, int], ell_shape: list[int]) -> None:
    """Halve the largest sizes (in place) until the product over all axes is small enough."""
    def volume() -> int:
        return int(np.prod(list(size_of.values()) + ell_shape, dtype=np.float64))

    while volume() > MAX_VOLUME:
        candidates = [(d, lab) for lab, d in size_of.items()] + [(d, k) for k, d in enumerate(ell_shape)]
        d, key = max(candidates, key=lambda c: c[0])
        if isinstance(key, str):
            size_of[key] = max(1, d // 2)
        else:
            ell_shape[key] = max(1, d // 2)


@st.composite
def contraction_paths(draw: Callable, n_operands: int, singles: bool = True) -> list[tuple[int, ...]]:
    """A random valid opt_einsum-style path for ``n_operands`` operands.

    Each step removes the listed positions from the current operand list and appends the
    result; single-operand steps (a pure reduction) are allowed when ``singles``.
    """
    path: list[tuple[int, ...]] = []
    alive = n_operands
    while alive > 1:
        i, j = sorted(draw(st.lists(st.integers(0, alive - 1), min_size=2, max_size=2, unique=True)))
        path.append((i, j))
        alive -= 1
    if singles and n_operands >= 1 and draw(st.integers(0, 3)) == 0:
        path.insert(0, (draw(st.integers(0, n_operands - 1)),))
    if not path:
        path.append((0,))
    return path


# ---------------------------------------------------------------------------------------------
# Oracles
# ---------------------------------------------------------------------------------------------


def repeats_an_output_label(text: str) -> bool:
    """True for extended einsum (a repeated output label): valid here, refused by numpy."""
    if text.count("->") != 1:
        return False
    out = text.split("->")[1].replace("...", "").replace(" ", "")
    return len(set(out)) != len(out)


def _numpy_optimize(subscripts: str, operands: Sequence[np.ndarray]) -> Any:
    """``False`` (the plain definition) unless its nested loop would be too long to wait for.

    The plain loop runs over every combination of every label; for big networks (an MPS
    overlap at bond 12) numpy's own greedy path, a BLAS-based evaluation that shares no code
    with tensorcalc, is the oracle instead.
    """
    text = "".join(subscripts.split())
    if "..." in text:
        return False
    size_of: dict[str, int] = {}
    for term, op in zip(text.split("->")[0].split(","), operands):
        for lab, d in zip(term, np.shape(op)):
            size_of[lab] = max(size_of.get(lab, 1), d)
    volume = float(np.prod(list(size_of.values()), dtype=np.float64))
    return False if volume <= 2e6 else "greedy"


def reference(subscripts: str, *operands: np.ndarray) -> np.ndarray:
    """numpy.einsum without path optimisation: the definition tensorcalc must match."""
    return np.asarray(np.einsum(subscripts, *operands, optimize=_numpy_optimize(subscripts, operands)))


def rounding_tolerance(subscripts: str, operands: Sequence[np.ndarray], dtype: np.dtype) -> np.ndarray:
    """Per-element error bound: ``c * eps * (terms + operands) * sum |products|``.

    The number of summed terms per output element is the einsum of all-ones arrays; the
    magnitude is the einsum of absolute values. Both are evaluated in float64 so that the
    bound does not itself suffer the rounding it measures.
    """
    eps = np.finfo(dtype).eps
    how = _numpy_optimize(subscripts, operands)
    ones = [np.ones(op.shape) for op in operands]
    terms = np.einsum(subscripts, *ones, optimize=how)
    mags = [np.abs(op).astype(np.float64) for op in operands]
    magnitude = np.einsum(subscripts, *mags, optimize=how)
    return 8 * eps * (terms + len(operands) + 1) * (magnitude + np.finfo(np.float64).tiny)


def native(dtype: np.dtype) -> np.dtype:
    """``dtype`` in native byte order."""
    return np.dtype(dtype).newbyteorder("=")


def assert_matches(
    actual: Any,
    expected: np.ndarray,
    subscripts: str,
    operands: Sequence[np.ndarray],
    precision: Any = None,
) -> None:
    """Same type, shape and dtype as numpy; exact for ints and bools, bounded error otherwise.

    ``precision`` is the dtype the sums may be computed in when it is coarser than the
    result's (an ``out`` wider than the operands' common type).
    """
    # numpy returns a numpy scalar for a full contraction; a 0-d array is as good.
    assert isinstance(actual, (np.ndarray, np.generic)), f"expected an ndarray, got {type(actual)}"
    actual = np.asarray(actual)
    assert actual.shape == expected.shape, f"shape {actual.shape} != numpy's {expected.shape}"
    # Byte order is representation, not type: numpy returns views (keeping a non-native
    # order) for pure transpositions, where a copy in native order is as good.
    assert native(actual.dtype) == native(expected.dtype), (
        f"dtype {actual.dtype} != numpy's {expected.dtype}"
    )
    if expected.dtype.kind in "biu":
        np.testing.assert_array_equal(actual, expected)
        return
    tol = rounding_tolerance(subscripts, operands, precision or expected.dtype)
    err = np.abs(actual.astype(np.complex128) - expected.astype(np.complex128))
    bad = ~(err <= tol)
    if np.any(bad):
        idx = tuple(np.argwhere(bad)[0])
        raise AssertionError(
            f"{int(bad.sum())} of {bad.size} elements differ beyond rounding; first at {idx}: "
            f"got {actual[idx]!r}, numpy {expected[idx]!r}, tolerance {tol[idx]:.3g}"
        )


# ---------------------------------------------------------------------------------------------
# Array checks and small numpy references
# ---------------------------------------------------------------------------------------------

RTOL = 1e-5
ATOL = 1e-6


def assert_array(result: Any, expected: Any, *, shape: tuple[int, ...] | None = None,
                 rtol: float = RTOL, atol: float = ATOL, dtype: Any = np.float64) -> None:
    """Check dtype, shape and values of a computed array against a reference.

    >>> assert_array(np.array([1.0, 2.0]), [1.0, 2.0 + 1e-9], shape=(2,))
    """
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


# ---------------------------------------------------------------------------------------------
# String-level gradients: the tables every layer agrees on
# ---------------------------------------------------------------------------------------------

# (forward spec, wrt, gradient spec): the table of section A of the seed examples, plus the
# other operand of the two-operand rows, which the rule "G first, then the other operands in
# order" fixes uniquely.
SEED_GRAD_SPECS = [
    ("ij,jk->ik", 0, "ik,jk->ij"),
    ("ij,jk->ik", 1, "ik,ij->jk"),
    ("nd,dm->nm", 1, "nm,nd->dm"),
    ("nd,dm->nm", 0, "nm,dm->nd"),
    ("ij,jk,k->i", 1, "i,ij,k->jk"),
    ("ilk,jlk->", 0, ",jlk->ilk"),
    ("ilk,jlk->", 1, ",ilk->jlk"),
    ("ii->", 0, "->ii"),
    ("ii->i", 0, "i->ii"),
    ("ij->i", 0, "i->ij"),
    ("i,j->ij", 0, "ij,j->i"),
    ("i,j->ij", 1, "ij,i->j"),
    ("...ij,...jk->...ik", 0, "...ik,...jk->...ij"),
    ("...ij,...jk->...ik", 1, "...ik,...ij->...jk"),
]

# The forms beyond the seed table: implicit output, repeated labels inside an operand,
# whitespace, negative wrt.
MORE_GRAD_SPECS = [
    ("ij,jk", 0, "ik,jk->ij"),
    ("iij,jk->ik", 0, "ik,jk->iij"),
    ("ijj,i->", 0, ",i->ijj"),
    (" ij , jk -> ik ", 1, "ik,ij->jk"),
    ("ij,jk->ik", -1, "ik,ij->jk"),
]

# Extended forward specs (an output label repeated, or carried by no operand).
EXTENDED_GRAD_SPECS = [
    ("i->ij", 0, "ij->i"),          # regression: raised "output label 'j' ... has no size"
    ("i->ii", 0, "ii->i"),
    ("ij->iij", 0, "iij->ij"),
    ("ij->jki", 0, "jki->ij"),
    ("...i->...ij", 0, "...ij->...i"),
    ("->i", 0, "i->"),
    ("i,j->ijk", 1, "ijk,i->j"),
    ("ij,jk->ikl", 0, "ikl,jk->ij"),
]


# ---------------------------------------------------------------------------------------------
# Derivatives: the gradient oracle, and exact references built on it
# ---------------------------------------------------------------------------------------------


def einsum_pullback(forward: Callable[..., Any], operands: Sequence[Any], upstream: Any,
                    k: int) -> np.ndarray:
    """Exact cotangent of operand ``k`` of a map linear in that operand (an einsum).

    Entry ``idx`` is ``<upstream, forward(..., e_idx, ...)>`` with the basis tensor ``e_idx``
    in place ``k``: for a linear map that is the adjoint, i.e. the VJP, by definition -- no
    step size, no conjugation (JAX's convention for complex values). For one array used in
    several places, the total cotangent is the sum over those places (product rule).

    >>> a, b = np.array([[1.0, 2.0]]), np.array([3.0, 4.0])
    >>> einsum_pullback(lambda x, y: np.einsum("ij,j->i", x, y), [a, b], np.array([2.0]), 1)
    array([2., 4.])
    """
    ops = [np.asarray(op) for op in operands]
    upstream = np.asarray(upstream)
    target = ops[k]
    basis_dtype = np.result_type(target.dtype, np.float64)
    out = np.zeros(target.shape, np.result_type(upstream.dtype, basis_dtype, *[op.dtype for op in ops]))
    for idx in np.ndindex(*target.shape):
        basis = np.zeros(target.shape, basis_dtype)
        basis[idx] = 1.0
        args = list(ops)
        args[k] = basis
        out[idx] = np.sum(upstream * np.asarray(forward(*args)))
    return out


def oracle_jacobian(y: Any, wrt: Any, arrays: dict, layout: str = "numerator",
                    **tolerance: float) -> np.ndarray:
    """The Jacobian of ``y`` with respect to ``wrt`` that the gradient oracle vouches for.

    :func:`tensorcalc.testing.check_grads` first checks the VJP of ``y`` against finite
    differences; the Jacobian is then assembled from that VJP exactly, one basis cotangent
    (one entry of ``y``) at a time. Comparing ``tc.jacobian`` with it checks every entry.
    ``layout`` is ``"numerator"`` (``y.shape + x.shape``) or ``"denominator"``.

    >>> import tensorcalc as tc
    >>> x = tc.var("x", (2,))
    >>> oracle_jacobian(x * x, x, {"x": np.array([1.0, 3.0])})
    array([[2., 0.],
           [0., 6.]])
    """
    import tensorcalc as tc
    from tensorcalc.differentiation import find_var
    from tensorcalc.ir import as_expr, topological

    y = as_expr(y)
    x = find_var(y, wrt, topological([y]), allow_unused=True)
    tc.check_grads(y, x, 1, arrays, **tolerance)
    value = np.asarray(tc.evaluate(y, arrays))
    cotangent = tc.var("__oracle_cotangent__", y.shape)
    vjp = tc.grad(tc.sum(y * cotangent), x, allow_unused=True)
    x_shape = np.shape(arrays[x.name])
    rows = []
    for idx in np.ndindex(*value.shape):
        basis = np.zeros(value.shape)
        basis[idx] = 1.0
        rows.append(np.asarray(tc.evaluate(vjp, {**arrays, cotangent.name: basis})))
    jac = np.array(rows, dtype=np.float64).reshape(value.shape + x_shape)
    if layout == "denominator":
        ny = value.ndim
        jac = np.moveaxis(jac, list(range(ny)), list(range(len(x_shape), len(x_shape) + ny)))
    elif layout != "numerator":
        raise ValueError(f"layout {layout!r}")
    return jac


def oracle_grad(f: Any, wrt: Any, arrays: dict, **tolerance: float) -> np.ndarray:
    """The gradient of the scalar ``f`` that the gradient oracle vouches for.

    The one-row case of :func:`oracle_jacobian`: ``check_grads`` checks the VJP of ``f``,
    whose value at the cotangent 1 is the gradient.

    >>> import tensorcalc as tc
    >>> x = tc.var("x", (2,))
    >>> oracle_grad(tc.sum(x ** 2), x, {"x": np.array([1.0, -2.0])})
    array([ 2., -4.])
    """
    return oracle_jacobian(f, wrt, arrays, **tolerance)


def oracle_hessian(f: Any, wrt: Any, arrays: dict, **tolerance: float) -> np.ndarray:
    """The Hessian of the scalar ``f`` that the gradient oracle vouches for.

    The oracle checks the gradient of ``f`` and then the VJP of that gradient (second order,
    as ``check_grads(f, wrt, order=2)`` does); the Hessian is assembled from the latter.

    >>> import tensorcalc as tc
    >>> x = tc.var("x", (2,))
    >>> oracle_hessian(tc.sum(x ** 3), x, {"x": np.array([1.0, 2.0])})
    array([[ 6.,  0.],
           [ 0., 12.]])
    """
    import tensorcalc as tc
    from tensorcalc.differentiation import find_var
    from tensorcalc.ir import as_expr, topological

    f = as_expr(f)
    x = find_var(f, wrt, topological([f]), allow_unused=True)
    tc.check_grads(f, x, 1, arrays, **tolerance)
    return oracle_jacobian(tc.grad(f, x, allow_unused=True), x, arrays, **tolerance)


# ---------------------------------------------------------------------------------------------
# Random einsums with an upstream gradient (float64, small): the VJP properties
# ---------------------------------------------------------------------------------------------

VJP_ALPHABET = "abcdef"


@dataclass
class VjpCase:
    """An ordinary einsum, its float64 operands and an upstream gradient of its output."""

    spec: str
    operands: list[np.ndarray]
    upstream: np.ndarray

    def pullback(self, k: int) -> np.ndarray:
        """The exact cotangent of operand ``k`` (see :func:`einsum_pullback`)."""
        return einsum_pullback(lambda *ops: np.einsum(self.spec, *ops), self.operands,
                               self.upstream, k)


def _batch_shape_for(draw: Callable, batch: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that broadcasts to ``batch``: leading dims may be missing, others may be 1."""
    keep = draw(st.integers(0, len(batch)))
    tail = batch[len(batch) - keep:]
    return tuple(draw(st.sampled_from([size, 1])) for size in tail)


@st.composite
def vjp_cases(draw: Callable, allow_ellipsis: bool = True) -> VjpCase:
    """1-3 operands over labels a-d of sizes 1-3, ``...`` with broadcasting, any output."""
    sizes = {c: draw(st.integers(1, 3)) for c in VJP_ALPHABET}
    n_ops = draw(st.integers(1, 3))
    use_ellipsis = allow_ellipsis and draw(st.booleans())
    batch = tuple(draw(st.lists(st.integers(1, 3), max_size=2))) if use_ellipsis else ()
    terms, shapes = [], []
    for _ in range(n_ops):
        labels = draw(st.lists(st.sampled_from(VJP_ALPHABET[:4]), max_size=3))
        ellipsis = use_ellipsis and draw(st.booleans())
        batch_shape = _batch_shape_for(draw, batch) if ellipsis else ()
        terms.append(("..." if ellipsis else "") + "".join(labels))
        shapes.append(batch_shape + tuple(sizes[c] for c in labels))
    present = sorted({c for t in terms for c in t.replace("...", "")})
    output = draw(st.permutations(present).flatmap(
        lambda perm: st.integers(0, len(perm)).map(lambda k: "".join(perm[:k]))))
    has_ellipsis = any("..." in t for t in terms)
    spec = ",".join(terms) + "->" + ("..." if has_ellipsis else "") + output
    gen = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    operands = [gen.standard_normal(shape) for shape in shapes]
    out_shape = np.einsum(spec, *operands).shape
    return VjpCase(spec, operands, gen.standard_normal(out_shape))


@st.composite
def same_array_cases(draw: Callable) -> VjpCase:
    """Two operands that are one array, read with possibly different labels of equal size."""
    sizes = {c: draw(st.sampled_from([2, 3])) for c in VJP_ALPHABET[:4]}
    first = draw(st.lists(st.sampled_from(VJP_ALPHABET[:4]), min_size=1, max_size=3))
    second = [draw(st.sampled_from([c for c in VJP_ALPHABET[:4] if sizes[c] == sizes[p]])) for p in first]
    present = sorted(set(first) | set(second))
    output = "".join(draw(st.permutations(present))[: draw(st.integers(0, len(present)))])
    spec = f"{''.join(first)},{''.join(second)}->{output}"
    gen = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = gen.standard_normal(tuple(sizes[c] for c in first))
    upstream = gen.standard_normal(np.einsum(spec, x, x).shape)
    return VjpCase(spec, [x, x], upstream)


# ---------------------------------------------------------------------------------------------
# Example expressions shared by the printers' tests
# ---------------------------------------------------------------------------------------------


def rearranged_example() -> Any:
    """``2 * rearrange(T, "a b (c c2) -> (a c) b c2", c2=2)`` with ``T`` of shape (2, 3, 4)."""
    from tensorcalc.einops_ext.rearrange import rearrange
    from tensorcalc.ir import var

    T = var("T", (2, 3, 4))
    return rearrange(T, "a b (c c2) -> (a c) b c2", c2=2) * 2.0


def reduced_example(op: str) -> Any:
    """``reduce(T, "a b c -> a c", op)`` with ``T`` of shape (2, 3, 4)."""
    from tensorcalc.einops_ext.rearrange import reduce
    from tensorcalc.ir import var

    return reduce(var("T", (2, 3, 4)), "a b c -> a c", op)


REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_script(body: str, tmp_path: Any, timeout: float = 120) -> str:
    """Run ``body`` in a new interpreter with ``tmp_path`` as its working directory and its
    ``sys.argv[1]``; return its stdout. It gets its own session, so a hung (forked) child
    dies with it; a non-zero exit, a timeout or BLAS's xerbla complaint fails the test."""
    script = tmp_path / "case.py"
    script.write_text(textwrap.dedent(body))
    env = dict(os.environ, PYTHONPATH=REPO_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path)], cwd=str(tmp_path),
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"timed out after {timeout}s\nstdout:\n{out}\nstderr:\n{err}")
    assert proc.returncode == 0, f"exit code {proc.returncode}\nstdout:\n{out}\nstderr:\n{err}"
    assert "illegal value" not in out + err, out + err   # BLAS's xerbla complaint
    return out


def record_operand_counts(monkeypatch: Any, module: Any, name: str = "einsum") -> list[int]:
    """Wrap ``module.name`` (dask.array's einsum) for this test: the returned list gets the
    number of operands of every call, so a test can show that contractions ran pairwise."""
    counts: list[int] = []
    real = getattr(module, name)

    def recording(spec: Any, *ops: Any, **kw: Any) -> Any:
        counts.append(len(ops))
        return real(spec, *ops, **kw)

    monkeypatch.setattr(module, name, recording)
    return counts
