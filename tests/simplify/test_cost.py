"""Cost-aware simplification: the planned cost (FLOPs and largest intermediate) of an
expression never rises under simplification; factoring and flattening are kept only when
the planner says they do not cost more. An intermediate no larger than an array the rewrite
reads anyway (``A + Aᵀ`` beside ``A``) does not count as a larger one."""

from __future__ import annotations

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc.contraction import contract_path
from tensorcalc.evaluation import evaluate
from tensorcalc.ir import Add, Einsum, einsum, topological, var, variables
from tensorcalc.simplify import simplify
from tensorcalc.simplify.cost import (DEFAULT_DIM, Cost, einsum_cost, expr_cost, node_cost,
                                      planning_sizes)


# ----------------------------------------------------------------------------- the measure


def test_einsum_cost_is_the_planners() -> None:
    A, B, x = var("A", (30, 20)), var("B", (20, 10)), var("x", (10,))
    e = einsum("ij,jk,k->i", A, B, x)
    _, info = contract_path("ij,jk,k->i", (30, 20), (20, 10), (10,), shapes=True)
    assert einsum_cost(e) == Cost(info.opt_cost, info.largest_intermediate)


def test_named_dimensions_default_to_64_or_the_hint() -> None:
    A, x = var("A", ("m", "n")), var("x", ("n",))
    e = einsum("ij,j->i", A, x)
    assert einsum_cost(e) == Cost(2 * DEFAULT_DIM ** 2, DEFAULT_DIM)
    assert einsum_cost(e, {"m": 10, "n": 3}) == Cost(60, 10)
    with planning_sizes({"m": 10}):
        assert einsum_cost(e) == Cost(2 * 10 * DEFAULT_DIM, 10)
    assert expr_cost([e], {"m": 10, "n": 3}) == Cost(60, 10)


def test_views_are_free_and_embeddings_are_written() -> None:
    A, x = var("A", (5, 7)), var("x", (6,))
    assert einsum_cost(einsum("ij->ji", A)) == Cost(0, 0)
    diag = einsum_cost(einsum("i->ii", x))
    assert diag.peak == 36 and diag.flops >= 36
    assert node_cost(tc.cos(x)) == Cost(6, 6)
    assert node_cost(Add([x, x, x])) == Cost(12, 6)


# ----------------------------------------------------------------------------- factoring


def test_factoring_is_kept_when_it_lowers_the_cost() -> None:
    A, x, y = var("A", ("m", "n")), var("x", ("n",)), var("y", ("n",))
    e = simplify(A @ x + A @ y)
    assert isinstance(e, Einsum) and any(isinstance(c, Add) for c in e.children)
    assert expr_cost([e]).flops < expr_cost([simplify(A @ x) + simplify(A @ y)]).flops
    # (A + A^T) x: an n x n sum, no larger than A, saves a matrix-vector product
    B = var("B", ("n", "n"))
    g = tc.grad(tc.einsum("i,ij,j->", x, B, x), x)
    assert isinstance(g, Einsum) and any(isinstance(c, Add) for c in g.children)


def test_factoring_that_would_build_a_bigger_intermediate_is_refused() -> None:
    # x_l (A_ik B_jl + A_il B_jk) holds an n^4 sum; the two products never pass n^3.
    n = 30
    A, B, x = var("A", (n, n)), var("B", (n, n)), var("x", (n,))
    e = einsum("l,ik,jl->ijk", x, A, B) + einsum("k,il,jk->ijl", x, A, B)
    s = simplify(e)
    assert all(node.ndim <= 3 for node in topological([s]))
    assert expr_cost([s]).peak <= n ** 3
    # the same for the Jacobian of (Ax)(Bx)^T, which used to be built that way
    J = tc.jacobian(einsum("i,j->ij", A @ x, B @ x), x)
    assert all(node.ndim <= 3 for node in topological([J]))
    assert expr_cost([J]).flops < 3 * n ** 3 + 6 * n ** 2


def test_symmetric_gradient_is_not_factored_through_a_cube() -> None:
    n = 50
    S, x = var("S", (n, n), symmetric=True), var("x", (n,))
    G = tc.grad(tc.sum((S @ x) ** 2), S)
    assert all(node.ndim <= 2 for node in topological([G]))
    assert expr_cost([G]).peak <= n * n


# ----------------------------------------------------------------------------- flattening


def test_a_product_used_elsewhere_is_not_inlined() -> None:
    # u = t M feeds both cos(u) and u * cos(u): inlining it would compute t M twice, and a
    # chain of such steps would flatten into products of every earlier step.
    t, M = var("t", (3,)), var("M", (3, 3))
    u = t @ M
    e = simplify(u * tc.cos(u))
    assert isinstance(e, Einsum) and len(e.children) == 2
    assert simplify(u).uid in [c.uid for c in e.children]


def test_an_unshared_chain_still_flattens() -> None:
    M, x = var("M", ("n", "n")), var("x", ("n",))
    e = simplify(M @ (M @ (M @ x)))
    assert isinstance(e, Einsum) and len(e.children) == 4
    # and a bad association is fixed by the planner: (A B) x costs n^3, A (B x) n^2
    A, B = var("A", (40, 40)), var("B", (40, 40))
    AB_x = simplify(einsum("ij,j->i", einsum("ik,kj->ij", A, B), var("y", (40,))))
    assert expr_cost([AB_x]).flops <= 2 * 2 * 40 * 40


def test_a_scaled_product_used_twice_is_computed_once() -> None:
    n = 40
    S, x = var("S", (n, n), symmetric=True), var("x", (n,))
    G = tc.grad(tc.sum((S @ x) ** 2), S)
    products = [node for node in topological([G]) if isinstance(node, Einsum)
                and len(node.children) > 1]
    assert len(products) == 1


# ----------------------------------------------------------------------------- never worse


def _random_expression(rng: np.random.Generator, steps: int):
    n, m = 7, 5
    A, B = var("A", (n, m)), var("B", (n, m))
    x, y, z = var("x", (m,)), var("y", (m,)), var("z", (n,))
    vm, vn, mats = [x, y], [z], [A, B]

    def pick(items):
        return items[rng.integers(len(items))]

    for _ in range(steps):
        op = rng.integers(9)
        if op == 0:
            vn.append(pick(mats) @ pick(vm))
        elif op == 1:
            vm.append(pick(mats).T @ pick(vn))
        elif op == 2:
            vn.append(pick(vn) * pick(vn))
        elif op == 3:
            vm.append(pick(vm) + 2.0 * pick(vm))
        elif op == 4:
            vn.append(tc.cos(pick(vn)))
        elif op == 5:
            mats.append(einsum("i,j->ij", pick(vn), pick(vm)))
        elif op == 6:
            mats.append(pick(mats) + einsum("i,j->ij", pick(vn), pick(vm)))
        elif op == 7:
            vm.append(pick(vm) * tc.sum(pick(vn)))
        else:
            mats.append(einsum("ij,j->ij", pick(mats), pick(vm)))
    return tc.sum(vn[-1]) + tc.sum(vm[-1]) + tc.sum(mats[-1] * mats[-2])


@pytest.mark.parametrize("seed", range(0, 300, 30))
def test_simplification_never_raises_the_planned_cost(seed) -> None:
    rng = np.random.default_rng(seed)
    arrays = {"A": rng.standard_normal((7, 5)), "B": rng.standard_normal((7, 5)),
              "x": rng.standard_normal(5), "y": rng.standard_normal(5),
              "z": rng.standard_normal(7)}
    for k in range(30):
        e = _random_expression(rng, 8)
        exprs = [e] + [tc.grad(e, v) for v in variables(e)]
        for d in exprs:
            s = simplify(d)
            before, after = expr_cost([d]), expr_cost([s])
            # an intermediate no larger than an input (A + A^T) counts as that input
            floor = max(np.size(v) for v in arrays.values())
            assert after.flops <= before.flops, (k, d, s)
            assert max(after.peak, floor) <= max(before.peak, floor), (k, d, s)
        np.testing.assert_allclose(evaluate(simplify(e), arrays), evaluate(e, arrays),
                                   rtol=1e-10)


def test_sizes_hint_reaches_the_rewrites() -> None:
    A, x, y = var("A", ("m", "n")), var("x", ("n",)), var("y", ("n",))
    for sizes in (None, {"m": 2, "n": 1000}, {"m": 1000, "n": 2}):
        e = simplify(A @ x + A @ y, sizes=sizes)
        vals = {"A": np.ones((3, 4)), "x": np.arange(4.0), "y": np.ones(4)}
        np.testing.assert_allclose(evaluate(e, vals), vals["A"] @ (vals["x"] + vals["y"]))
    assert tc.simplify(A @ x, sizes={"n": 5}).shape == ("m",)
