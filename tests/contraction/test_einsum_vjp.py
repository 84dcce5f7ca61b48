"""``einsum_vjp``: the VJP of every operand of an einsum, on arrays.

An einsum is linear in each operand, so the reference is exact: the pullback assembled from
basis directions (``tests.helpers.einsum_pullback``), closed forms, or JAX.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings

import tensorcalc as tc
from tensorcalc.contraction import einsum_vjp
from tensorcalc.errors import TensorcalcError
from tests.helpers import (VjpCase, assert_array, einsum_pullback, random_einsum_spec,
                           same_array_cases, vjp_cases)

EXACT = dict(rtol=1e-10, atol=1e-12)

# (spec, operand shapes): the seed examples' section A, repeated labels, one-operand labels,
# scalars, and '...' with size-1 and missing batch dimensions.
VJP_CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("nd,dm->nm", [(3, 2), (2, 4)]),
    ("ij,jk,k->i", [(2, 3), (3, 4), (4,)]),
    ("ilk,jlk->", [(2, 5, 4), (3, 5, 4)]),
    ("ii->", [(3, 3)]),
    ("ii->i", [(3, 3)]),
    ("ij->i", [(2, 3)]),
    ("i,j->ij", [(2,), (3,)]),
    ("...ij,...jk->...ik", [(2, 3, 2, 3), (2, 3, 3, 4)]),
    ("...ij,...jk->...ik", [(1, 2, 3), (5, 3, 4)]),
    ("...ij,...jk->...ik", [(2, 3), (5, 3, 4)]),
    ("...ij,...jk->...ik", [(4, 1, 2, 3), (5, 3, 4)]),
    ("iij,jk->ik", [(2, 2, 3), (3, 4)]),
    ("ijj,i->", [(2, 3, 3), (2,)]),
    (",i->i", [(), (3,)]),
    ("ij,ij->", [(2, 3), (2, 3)]),
    ("bij,bjk", [(2, 2, 3), (2, 3, 2)]),
    ("ij,jk->", [(2, 3), (3, 4)]),          # every label summed
    ("ij,k->ik", [(2, 3), (4,)]),           # j only in one operand
    (",ij->ij", [(), (2, 3)]),              # a scalar operand
    ("i,->", [(3,), ()]),
    ("->", [()]),
    ("iii->i", [(3, 3, 3)]),
    ("ii,i->i", [(3, 3), (3,)]),
    ("...ij,...j->...i", [(2, 1, 3, 4), (5, 4)]),   # size-1 and missing batch dims
    ("i...,i->...", [(3, 2, 4), (3,)]),
    ("ab,bc,cd,da->", [(2, 3), (3, 4), (4, 2), (2, 2)]),
]


def check_vjp(case: VjpCase) -> None:
    grads = tc.einsum_vjp(case.spec, *case.operands, grad=case.upstream)
    assert isinstance(grads, tuple) and len(grads) == len(case.operands)
    for k, operand in enumerate(case.operands):
        assert_array(grads[k], case.pullback(k), shape=operand.shape, **EXACT)


@pytest.mark.parametrize("spec, shapes", VJP_CASES)
def test_einsum_vjp_is_the_exact_pullback(spec: str, shapes: list) -> None:
    gen = np.random.default_rng(len(spec) + len(shapes))
    operands = [gen.standard_normal(s) for s in shapes]
    upstream = gen.standard_normal(np.einsum(spec, *operands).shape)
    check_vjp(VjpCase(spec, operands, upstream))


@settings(max_examples=40, deadline=None)
@given(vjp_cases())
def test_einsum_vjp_random_specs(case: VjpCase) -> None:
    check_vjp(case)


@settings(max_examples=40, deadline=None)
@given(same_array_cases())
def test_einsum_vjp_same_array_twice_random(case: VjpCase) -> None:
    g0, g1 = tc.einsum_vjp(case.spec, *case.operands, grad=case.upstream)
    x = case.operands[0]
    assert_array(g0 + g1, case.pullback(0) + case.pullback(1), shape=x.shape, **EXACT)


# --------------------------------------------------------------------------------------------
# Closed forms (seed examples, section A)
# --------------------------------------------------------------------------------------------

def test_trace_gradient_is_identity_times_upstream() -> None:
    x = np.random.default_rng(1).standard_normal((4, 4))
    (g,) = tc.einsum_vjp("ii->", x, grad=np.array(2.5))
    assert_array(g, 2.5 * np.eye(4), rtol=0, atol=1e-15)


def test_diagonal_gradient_is_diagonal_embedding() -> None:
    x = np.random.default_rng(2).standard_normal((3, 3))
    upstream = np.array([1.0, -2.0, 3.0])
    (g,) = tc.einsum_vjp("ii->i", x, grad=upstream)
    assert_array(g, np.diag(upstream), rtol=0, atol=1e-15)


def test_row_sum_gradient_broadcasts_along_j() -> None:
    x = np.random.default_rng(3).standard_normal((2, 5))
    upstream = np.array([0.5, -1.5])
    (g,) = tc.einsum_vjp("ij->i", x, grad=upstream)
    assert_array(g, np.repeat(upstream[:, None], 5, axis=1), rtol=0, atol=1e-15)


def test_same_array_twice_total_gradient() -> None:
    """L = sum_i sum_j tr(X_i^T X_j): the total gradient is 2 sum_j X_j, broadcast over i."""
    x = np.random.default_rng(4).standard_normal((3, 2, 4))
    g0, g1 = tc.einsum_vjp("ilk,jlk->", x, x, grad=np.array(1.0))
    closed_form = np.broadcast_to(2.0 * x.sum(axis=0), x.shape)
    assert_array(g0 + g1, closed_form, rtol=1e-12, atol=1e-12)


def test_batched_matmul_vjp_sums_broadcast_dims_back() -> None:
    """'...' batch dims that broadcast (size 1, missing) are summed back to each operand."""
    spec = "...ij,...jk->...ik"
    gen = np.random.default_rng(5)
    a = gen.standard_normal((2, 1, 3, 4))
    b = gen.standard_normal((5, 4, 2))
    upstream = gen.standard_normal((2, 5, 3, 2))
    ga, gb = tc.einsum_vjp(spec, a, b, grad=upstream)
    assert_array(ga, np.einsum("...ik,...jk->...ij", upstream, b).sum(axis=1, keepdims=True),
                 shape=(2, 1, 3, 4), rtol=1e-12, atol=1e-12)
    assert_array(gb, np.einsum("...ik,...ij->...jk", upstream, a).sum(axis=0),
                 shape=(5, 4, 2), rtol=1e-12, atol=1e-12)


def test_implicit_and_spaced_subscripts() -> None:
    gen = np.random.default_rng(34)
    A, B = gen.standard_normal((2, 3)), gen.standard_normal((3, 4))
    G = gen.standard_normal((2, 4))
    expected = (G @ B.T, A.T @ G)
    for spec in ("ij,jk", "ij, jk -> ik", "ij,jk->ik"):
        got = tc.einsum_vjp(spec, A, B, grad=G)
        for g, e in zip(got, expected):
            assert_array(g, e, rtol=1e-12, atol=1e-12)


def test_einsum_vjp_keeps_float32() -> None:
    gen = np.random.default_rng(35)
    A = gen.standard_normal((3, 4)).astype(np.float32)
    x = gen.standard_normal(4).astype(np.float32)
    G = gen.standard_normal(3).astype(np.float32)
    gA, gx = tc.einsum_vjp("ij,j->i", A, x, grad=G)
    assert_array(gA, np.outer(G, x), dtype=np.float32, rtol=1e-5, atol=1e-6)
    assert_array(gx, A.T @ G, dtype=np.float32, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------------
# Extended forward specs
# --------------------------------------------------------------------------------------------

def test_einsum_vjp_of_extended_forward_specs_closed_forms() -> None:
    """The extended outputs are differentiable too: 'i->ii' pulls back the diagonal."""
    gen = np.random.default_rng(41)
    x, G = gen.standard_normal(3), gen.standard_normal((3, 3))
    (gx,) = tc.einsum_vjp("i->ii", x, grad=G)
    assert_array(gx, np.diag(G), shape=(3,), rtol=0, atol=0)
    X = gen.standard_normal((3, 3))
    (gX,) = tc.einsum_vjp("ii->ii", X, grad=G)
    assert_array(gX, np.diag(np.diag(G)), shape=(3, 3), rtol=0, atol=0)


EXTENDED = [
    ("i->ij", [(3,)], {"j": 4}),
    ("i->ii", [(3,)], None),
    ("ij->iij", [(2, 3)], None),
    ("ij->ii", [(2, 3)], None),
    ("...i->...ij", [(2, 3)], {"j": 2}),
    ("...i->ij...", [(2, 3)], {"j": 2}),
    ("i,j->ijk", [(2,), (3,)], {"k": 2}),
    ("->i", [()], {"i": 3}),
    ("ij,jk->ikl", [(2, 3), (3, 2)], {"l": 2}),
    ("ii->iij", [(3, 3)], {"j": 2}),
]


@pytest.mark.parametrize("spec, shapes, sizes", EXTENDED, ids=[c[0] for c in EXTENDED])
def test_einsum_vjp_of_extended_specs_is_the_exact_pullback(spec: str, shapes: list,
                                                            sizes: dict | None) -> None:
    # regression: einsum_vjp("i->ij", x, grad=G) raised; sizes now come from grad's shape
    gen = np.random.default_rng(20261125)
    ops = [gen.standard_normal(s) for s in shapes]
    out = tc.einsum(spec, *ops, sizes=sizes)
    G = gen.standard_normal(out.shape)
    grads = tc.einsum_vjp(spec, *ops, grad=G)
    assert len(grads) == len(ops)
    for k, op in enumerate(ops):
        expected = einsum_pullback(lambda *a: tc.einsum(spec, *a, sizes=sizes), ops, G, k)
        assert_array(grads[k], expected, shape=op.shape, **EXACT)
        # the string-level spec gives the same array
        gspec = tc.grad_subscripts(spec, k)
        others = [o for j, o in enumerate(ops) if j != k]
        lhs = gspec.split("->")[0]
        out_labels = gspec.split("->")[1].replace("...", "")
        extra = {lab: op.shape[-len(out_labels) + i] for i, lab in enumerate(out_labels)
                 if lab not in lhs}
        via_spec = tc.einsum(gspec, G, *others, sizes=extra or None)
        assert_array(via_spec, grads[k], shape=op.shape, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------

VJP_ERRORS = {
    "grad transposed": (lambda: einsum_vjp("ij,jk->ik", np.ones((2, 3)), np.ones((3, 4)),
                                           grad=np.ones((4, 2))), "grad has shape"),
    "grad of wrong size": (lambda: tc.einsum_vjp("ij,jk->ik", np.ones((2, 3)), np.ones((3, 4)),
                                                 grad=np.ones((2, 5))), "grad has shape"),
    "message names the shape": (lambda: tc.einsum_vjp("ij->i", np.ones((2, 3)), grad=np.ones(3)),
                                r"\(3,\)"),
    "extended diagonal": (lambda: tc.einsum_vjp("i->ii", np.ones(3), grad=np.ones((3, 4))),
                          "grad has shape"),
    "extended broadcast": (lambda: tc.einsum_vjp("i->ij", np.ones(3), grad=np.ones((2, 4))),
                           "grad has shape"),
}


@pytest.mark.parametrize("name", list(VJP_ERRORS))
def test_einsum_vjp_rejects_a_grad_of_the_wrong_shape(name: str) -> None:
    call, match = VJP_ERRORS[name]
    with pytest.raises(TensorcalcError, match=match):
        call()


# --------------------------------------------------------------------------------------------
# Complex inputs: JAX's convention (no conjugation; the VJP of a holomorphic map is g J)
# --------------------------------------------------------------------------------------------

COMPLEX_SPECS = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ii->i", [(3, 3)]),
    ("i,i->", [(4,), (4,)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
    ("...ij,...jk->...ik", [(1, 2, 3), (3, 3, 2)]),
]


def _complex(shape: tuple[int, ...], gen: np.random.Generator) -> np.ndarray:
    return gen.standard_normal(shape) + 1j * gen.standard_normal(shape)


@pytest.mark.parametrize("spec, shapes", COMPLEX_SPECS, ids=[s for s, _ in COMPLEX_SPECS])
def test_complex_einsum_vjp_is_g_times_jacobian(spec: str, shapes: list) -> None:
    gen = np.random.default_rng(11)
    ops = [_complex(s, gen) for s in shapes]
    G = _complex(np.einsum(spec, *ops).shape, gen)
    grads = tc.einsum_vjp(spec, *ops, grad=G)
    for k, op in enumerate(ops):
        assert grads[k].dtype == np.complex128 and grads[k].shape == op.shape
        # einsum is linear in each operand: <G, f(..., dX, ...)> = <vjp_k, dX>, no conjugates
        expected = einsum_pullback(lambda *a: np.einsum(spec, *a), ops, G, k)
        np.testing.assert_allclose(grads[k], expected, rtol=1e-12, atol=1e-12)


def _jax() -> Any:
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


@pytest.mark.parametrize("spec, shapes", COMPLEX_SPECS, ids=[s for s, _ in COMPLEX_SPECS])
def test_complex_einsum_vjp_agrees_with_jax(spec: str, shapes: list) -> None:
    jax = _jax()
    jnp = jax.numpy
    gen = np.random.default_rng(12)
    ops = [_complex(s, gen) for s in shapes]
    G = _complex(np.einsum(spec, *ops).shape, gen)
    _, pullback = jax.vjp(lambda *a: jnp.einsum(spec, *a), *[jnp.asarray(o) for o in ops])
    expected = pullback(jnp.asarray(G))
    for got, want in zip(tc.einsum_vjp(spec, *ops, grad=G), expected):
        assert got.dtype == np.complex128
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------------
# Against JAX's pullback of jnp.einsum (float64)
# --------------------------------------------------------------------------------------------

JAX_TOL = dict(rtol=1e-9, atol=1e-11)


def jax_einsum_vjp(spec: str, operands: list[np.ndarray], upstream: np.ndarray) -> list[np.ndarray]:
    """JAX's pullback of jnp.einsum, compiled once as a whole (eager JAX is slow per op)."""
    jax = _jax()
    jnp = jax.numpy

    def pullback(ops: list[Any], g: Any) -> Any:
        return jax.vjp(lambda *a: jnp.einsum(spec, *a), *ops)[1](g)

    result = jax.jit(pullback)([jnp.asarray(o) for o in operands], jnp.asarray(upstream))
    return [np.asarray(r) for r in result]


@pytest.mark.parametrize("seed", range(30))
def test_einsum_vjp_agrees_with_jax(seed: int) -> None:
    gen = np.random.default_rng(1000 + seed)
    spec, shapes = random_einsum_spec(gen)
    operands = [gen.standard_normal(s) for s in shapes]
    upstream = gen.standard_normal(np.einsum(spec, *operands).shape)
    reference = jax_einsum_vjp(spec, operands, upstream)
    grads = tc.einsum_vjp(spec, *operands, grad=upstream)
    assert isinstance(grads, tuple) and len(grads) == len(operands), spec
    for got, ref, op in zip(grads, reference, operands):
        assert_array(got, ref, shape=op.shape, **JAX_TOL)


@pytest.mark.parametrize("spec, shapes", [
    ("iij,jk->ik", [(2, 2, 3), (3, 4)]),
    ("ijj,i->", [(3, 2, 2), (3,)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),
    ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),
    ("pa,aqb,brc,cs,pA,AqB,BrC,Cs->", [(2, 3), (3, 2, 3), (3, 2, 3), (3, 2)] * 2),
])
def test_einsum_vjp_named_specs_agree_with_jax(spec: str, shapes: list[tuple[int, ...]]) -> None:
    gen = np.random.default_rng(len(spec))
    operands = [gen.standard_normal(s) for s in shapes]
    upstream = gen.standard_normal(np.einsum(spec, *operands).shape)
    grads = tc.einsum_vjp(spec, *operands, grad=upstream)
    assert isinstance(grads, tuple) and len(grads) == len(operands), spec
    for got, ref, op in zip(grads, jax_einsum_vjp(spec, operands, upstream), operands):
        assert_array(got, ref, shape=op.shape, **JAX_TOL)
