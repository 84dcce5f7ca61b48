"""Random einops patterns whose axes have equal (repeated) sizes, where einops' own tests are
weak: an implementation that mixes up two axes of one size keeps every shape right.

For each drawn case: tensorcalc on arrays against einops (exactly: same values, shape and
dtype, list input too), tensorcalc on expressions evaluated against the array result (some
axes of the expression get *named* sizes, bound at evaluation), and the gradient of the
expression version against finite differences with :func:`tensorcalc.check_grad`.

Patterns have compositions on both sides, ``...`` (top level or inside a group, reduced or
kept), unit axes ``1``/``()``, anonymous axes where einops allows them (reduced on the left
of ``reduce``, new on the right of ``repeat``), sizes given or inferred, and multi-letter
axis names. The number of examples follows the hypothesis profile of ``tests/conftest.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import einops
import numpy as np
from hypothesis import given, strategies as st

import tensorcalc as tc
from tensorcalc.ir import var

#: Axis sizes drawn per case: the one-value pools make every axis the same size.
POOLS = [(2,), (3,), (1,), (2, 3), (1, 2), (2, 2, 3)]
NAMES = ["ax", "b", "chan", "d2", "e_x"]


@dataclass
class Case:
    op: str
    pattern: str
    shape: tuple
    extra: tuple = ()
    sizes: dict = field(default_factory=dict)
    named: dict = field(default_factory=dict)  # input axis position -> dimension name

    def expr_shape(self) -> tuple:
        return tuple(self.named.get(k, d) for k, d in enumerate(self.shape))


def _groups(draw, items):
    """Split ``items`` into consecutive groups (lists)."""
    groups, i = [], 0
    while i < len(items):
        k = draw(st.integers(1, len(items) - i))
        groups.append(list(items[i:i + k]))
        i += k
    return groups


def _text(parts):
    out = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)  # "...", "1", "()"
        elif len(part) == 1 and part[0] != "...":
            out.append(str(part[0]))
        else:
            out.append("(" + " ".join(str(a) for a in part) + ")")
    return " ".join(out)


@st.composite
def cases(draw, op):
    pool = draw(st.sampled_from(POOLS))
    n = draw(st.integers(1, 4))
    names = NAMES[:n]
    size = {a: draw(st.sampled_from(pool)) for a in names}
    # left side
    left = _groups(draw, names)
    anonymous_left = op == "reduce" and draw(st.booleans())
    if anonymous_left:  # "(ax 2)": an anonymous axis, reduced
        left[draw(st.integers(0, len(left) - 1))].append(2)
    ellipsis = draw(st.booleans())
    ellipsis_shape = tuple(draw(st.lists(st.sampled_from(pool), max_size=2))) if ellipsis else ()
    left_parts: list = list(left)
    if ellipsis:
        left_parts.insert(draw(st.integers(0, len(left))), "...")
    # right side
    new: list[str] = []
    if op == "rearrange":
        right_names = list(draw(st.permutations(names)))
    elif op == "reduce":
        right_names = list(draw(st.permutations(names)))[: draw(st.integers(0, n))]
    else:
        new = [f"new{k}" for k in range(draw(st.integers(1, 2)))]
        right_names = list(draw(st.permutations(names + new)))
        if draw(st.booleans()):  # an anonymous new axis
            right_names.insert(draw(st.integers(0, len(right_names))), 2)
    right_parts: list = _groups(draw, right_names) if right_names else []
    if ellipsis and (op != "reduce" or draw(st.booleans())):
        where = draw(st.sampled_from(["top", "group"] if right_parts else ["top"]))
        if where == "top":
            right_parts.insert(draw(st.integers(0, len(right_parts))), "...")
        else:
            group = right_parts[draw(st.integers(0, len(right_parts) - 1))]
            group.insert(draw(st.integers(0, len(group))), "...")
    for _ in range(draw(st.integers(0, 1))):
        unit = draw(st.sampled_from(["1", "()"]))
        right_parts.insert(draw(st.integers(0, len(right_parts))), unit)
    pattern = f"{_text(left_parts)} -> {_text(right_parts)}"
    # the input and the sizes einops needs (at most one unknown per left group)
    shape = []
    for part in left_parts:
        if part == "...":
            shape.extend(ellipsis_shape)
        else:
            shape.append(int(np.prod([size.get(a, a) for a in part])))
    sizes = {}
    for group in left:
        axes = [a for a in group if isinstance(a, str)]
        unknown = draw(st.sampled_from(axes + [None])) if len(group) > 1 else None
        for a in axes:
            if a != unknown and (len(group) > 1 or draw(st.booleans())):
                sizes[a] = size[a]
    for a in new:
        sizes[a] = draw(st.sampled_from(pool))
    reductions = ["sum", "mean", "max", "min", "prod"]
    extra = (draw(st.sampled_from(reductions)),) if op == "reduce" else ()
    # named sizes for the expression: axes alone on the left that stay alone or go away
    alone_right = {p[0] for p in right_parts if isinstance(p, list) and len(p) == 1}
    named = {}
    position = 0
    for part in left_parts:
        if part == "...":
            position += len(ellipsis_shape)
            continue
        a = part[0]
        if len(part) == 1 and (a in alone_right or a not in right_names) and a not in sizes:
            if draw(st.booleans()):
                named[position] = f"n_{a}"
        position += 1
    return Case(op, pattern, tuple(shape), extra, sizes, named)


def _input(case: Case, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if case.extra == ("prod",):
        return rng.uniform(0.5, 1.5, case.shape)
    return rng.standard_normal(case.shape)  # no ties: max/min gradients are defined


def _check(case: Case, seed: int) -> None:
    x0 = _input(case, seed)
    theirs = getattr(einops, case.op)
    ours = getattr(tc, case.op)
    want = np.asarray(theirs(x0, case.pattern, *case.extra, **case.sizes))
    # arrays: exactly einops
    got = ours(x0, case.pattern, *case.extra, **case.sizes)
    assert got.shape == want.shape and got.dtype == want.dtype, (case, got.shape, want.shape)
    np.testing.assert_array_equal(got, want, err_msg=case.pattern)
    if x0.ndim and x0.shape[0]:  # a list of arrays, stacked along a new first axis (einops
        # itself refuses a list of 0-d numpy scalars, tensorcalc takes it as an array-like)
        np.testing.assert_array_equal(ours(list(x0), case.pattern, *case.extra, **case.sizes),
                                      want)
    # expressions: evaluated against the array result, and differentiated
    x = var("x", case.expr_shape())
    y = ours(x, case.pattern, *case.extra, **case.sizes)
    value = y.evaluate(x=x0)
    assert value.shape == want.shape, (case, value.shape, want.shape)
    np.testing.assert_allclose(value, want, rtol=1e-12, atol=1e-12, err_msg=case.pattern)
    scale = max(1.0, float(np.max(np.abs(want), initial=0.0))) ** 2
    assert tc.check_grad(y * y, x, x=x0) < 1e-6 * scale, case


SEEDS = st.integers(0, 2**32 - 1)


@given(cases("rearrange"), SEEDS)
def test_rearrange_with_equal_sizes(case, seed):
    _check(case, seed)


@given(cases("reduce"), SEEDS)
def test_reduce_with_equal_sizes(case, seed):
    _check(case, seed)


@given(cases("repeat"), SEEDS)
def test_repeat_with_equal_sizes(case, seed):
    _check(case, seed)


@st.composite
def einsum_cases(draw):
    """einops.einsum patterns (pattern last) over multi-letter names of one size."""
    pool = draw(st.sampled_from(POOLS))
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
    size = {a: draw(st.sampled_from(pool)) for a in names}
    k = draw(st.integers(1, 3))
    terms = [draw(st.lists(st.sampled_from(names), min_size=0, max_size=3)) for _ in range(k)]
    used = sorted({a for t in terms for a in t}, key=names.index)
    out = list(draw(st.permutations(used)))[: draw(st.integers(0, len(used)))]
    pattern = ", ".join(" ".join(t) for t in terms) + " -> " + " ".join(out)
    shapes = [tuple(size[a] for a in t) for t in terms]
    return pattern, shapes


@given(einsum_cases(), SEEDS)
def test_einsum_pattern_last_with_equal_sizes(case, seed):
    pattern, shapes = case
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    want = np.asarray(einops.einsum(*arrays, pattern))
    np.testing.assert_allclose(tc.einsum(*arrays, pattern), want, rtol=1e-10, atol=1e-12)
    exprs = [var(f"t{k}", s) for k, s in enumerate(shapes)]
    values = {f"t{k}": a for k, a in enumerate(arrays)}
    y = tc.einsum(*exprs, pattern)
    np.testing.assert_allclose(y.evaluate(**values), want, rtol=1e-10, atol=1e-12)
    scale = max(1.0, float(np.max(np.abs(want), initial=0.0))) ** 2
    assert tc.check_grad(y * y, exprs[0], **values) < 1e-6 * scale
