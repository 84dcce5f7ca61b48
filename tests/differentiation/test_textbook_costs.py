"""Textbook derivatives are never asymptotically slower than their closed forms.

For every case, the derivative tensorcalc builds is compiled and its planned cost measured
the way the compiled program runs it (:func:`planned_cost`): the planner's FLOPs
(``contract_path(...).opt_cost`` on the bound shapes) of every einsum, one operation per
element of every other node, and the largest intermediate of all of them. The same measure
is taken of a closed form written by hand with ``tc``. The derivative must stay within
1.5x of the closed form's FLOPs, and build no array larger than the largest of the inputs,
the output and the closed form's own intermediates. Values are checked against the closed
form too, so a cheap wrong answer cannot pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc.contraction import contract_path
from tensorcalc.evaluation.evaluate import bind
from tensorcalc.ir import Const, Einsum, Expr, Var
from tensorcalc.ir.dims import resolve_dim

FLOPS_RATIO = 1.5


@dataclass(frozen=True)
class PlannedCost:
    flops: int          # summed over the compiled program's nodes
    largest: int        # the largest array built (intermediates of contractions included)
    inputs: int         # the largest input array
    outputs: int        # the largest output


def planned_cost(exprs: Expr | Sequence[Expr], arrays: Mapping[str, Any]) -> PlannedCost:
    """The planned cost of ``tc.compile(exprs)`` run on ``arrays`` (their shapes only).

    Walks the compiled program's nodes in order; an einsum costs ``contract_path`` on its
    operands' bound shapes (a pure transpose is a view and costs nothing, as the compiled
    program runs it) and a scale one pass over its smallest operand; any other node one
    operation per element of its result.
    """
    exprs = [exprs] if isinstance(exprs, Expr) else list(exprs)
    fn = tc.compile(exprs)
    _, sizes = bind(fn.variables, arrays)

    def shape(node: Expr) -> tuple[int, ...]:
        return tuple(resolve_dim(d, sizes) for d in node.shape)

    flops = largest = 0
    for node in fn.order:
        if isinstance(node, (Var, Const)) or not node.children:
            continue
        size = math.prod(shape(node))
        if isinstance(node, Einsum):
            scaled = node.scale != 1.0 or bool(node.factor_dims)
            labels = node.inputs[0]
            if (len(node.inputs) == 1 and len(set(labels)) == len(labels)
                    and sorted(labels) == sorted(node.output)):
                if scaled:  # a transpose is a strided view; its scale one pass over it
                    flops += size
                    largest = max(largest, size)
                continue
            if scaled:  # the compiled program scales the smallest operand
                flops += min(math.prod(shape(c)) for c in node.children)
            carried = set("".join(node.inputs))
            extra = {lab: resolve_dim(node.sizes[lab], sizes) for lab in node.output
                     if lab not in carried}
            _, info = contract_path(node.spec, *[shape(c) for c in node.children], shapes=True,
                                    sizes=extra or None)
            flops += int(info.opt_cost)
            largest = max(largest, int(info.largest_intermediate), size)
        elif len(node.children) == 1 and type(node).__name__ == "WithDims":
            continue
        else:
            flops += size
            largest = max(largest, size)
    inputs = max(np.asarray(arrays[name]).size for name in fn.names)
    outputs = max(math.prod(shape(e)) for e in fn.exprs)
    return PlannedCost(flops, largest, inputs, outputs)


def assert_as_cheap_as(derived: Expr, closed: Expr, arrays: Mapping[str, Any],
                       ratio: float = FLOPS_RATIO) -> tuple[PlannedCost, PlannedCost]:
    """``derived`` equals ``closed`` on ``arrays``, within ``ratio`` of its planned FLOPs, and
    builds no array larger than the inputs, the output or ``closed``'s own intermediates."""
    got, want = tc.compile(derived)(**arrays), tc.compile(closed)(**arrays)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * np.abs(want).max())
    ours, theirs = planned_cost(derived, arrays), planned_cost(closed, arrays)
    assert ours.flops <= ratio * theirs.flops, (
        f"{ours.flops} planned FLOPs against {theirs.flops} for the closed form\n"
        f"derived: {tc.simplify(derived)!r}")
    bound = max(ours.inputs, ours.outputs, theirs.largest)
    assert ours.largest <= bound, (
        f"an intermediate of {ours.largest} elements (inputs, output and closed form: at most "
        f"{bound})\nderived: {tc.simplify(derived)!r}")
    return ours, theirs


def _sym(rng: np.random.Generator, n: int) -> np.ndarray:
    s = rng.standard_normal((n, n))
    return s + s.T


# ----------------------------------------------------------------------------- the cases


def test_jacobian_of_outer_product_of_two_linear_maps(rng) -> None:
    # Y = (Ax)(Bx)^T; dY_ij/dx_k = A_ik (Bx)_j + (Ax)_i B_jk: n^3, never the n^4 of
    # x_l (A_ik B_jl + A_il B_jk).
    n = 40
    A, B, x = tc.var("A", (n, n)), tc.var("B", (n, n)), tc.var("x", (n,))
    Y = tc.einsum("i,j->ij", A @ x, B @ x)
    closed = tc.einsum("ik,j->ijk", A, B @ x) + tc.einsum("i,jk->ijk", A @ x, B)
    arrays = {"A": rng.standard_normal((n, n)), "B": rng.standard_normal((n, n)),
              "x": rng.standard_normal(n)}
    ours, _ = assert_as_cheap_as(tc.jacobian(Y, x), closed, arrays)
    assert ours.largest <= n ** 3


def test_gradients_of_squared_norm_of_symmetric_map(rng) -> None:
    n = 120
    S, x = tc.var("S", (n, n), symmetric=True), tc.var("x", (n,))
    f = tc.sum((S @ x) ** 2)
    arrays = {"S": _sym(rng, n), "x": rng.standard_normal(n)}
    Sx = S @ x
    assert_as_cheap_as(tc.grad(f, x), 2.0 * (S @ Sx), arrays)
    # d/dS for a symmetric S: the symmetric part of 2 (Sx) x^T; n^2, never an n^3 sum.
    closed = tc.einsum("i,j->ij", Sx, x) + tc.einsum("i,j->ij", x, Sx)
    ours, _ = assert_as_cheap_as(tc.grad(f, S), closed, arrays)
    assert ours.largest <= n * n


def test_softmax_cross_entropy_gradient(rng) -> None:
    m, n, k = 96, 48, 10
    X, W, Y = tc.var("X", (m, n)), tc.var("W", (n, k)), tc.var("Y", (m, k))
    Z = X @ W
    loss = tc.sum(tc.logsumexp(Z, axis=1)) - tc.sum(Y * Z)
    closed = tc.einsum("ij,ik->jk", X, tc.softmax(Z, axis=1) - Y)
    labels = np.eye(k)[rng.integers(0, k, m)]
    arrays = {"X": rng.standard_normal((m, n)), "W": rng.standard_normal((n, k)) / 4,
              "Y": labels}
    assert_as_cheap_as(tc.grad(loss, W), closed, arrays)


def _logistic(m: int, n: int):
    X, y, w = tc.var("X", (m, n)), tc.var("y", (m,)), tc.var("w", (n,))
    return X, y, w, tc.sum(tc.log(1.0 + tc.exp(-y * (X @ w))))


def test_logistic_regression_gradient_and_hessian(rng) -> None:
    m, n = 200, 50
    X, y, w, f = _logistic(m, n)
    arrays = {"X": rng.standard_normal((m, n)), "y": rng.choice([-1.0, 1.0], m),
              "w": rng.standard_normal(n) / np.sqrt(n)}
    z = y * (X @ w)
    s = tc.sigmoid(z)
    assert_as_cheap_as(tc.grad(f, w), tc.einsum("ij,i->j", X, -y * (1.0 - s)), arrays)
    closed = tc.einsum("ij,i,ik->jk", X, y * y * s * (1.0 - s), X)
    assert_as_cheap_as(tc.hessian(f, w), closed, arrays)


def test_least_squares_gradient_and_hessian(rng) -> None:
    m, n = 150, 60
    A, x, b = tc.var("A", (m, n)), tc.var("x", (n,)), tc.var("b", (m,))
    f = tc.sum((A @ x - b) ** 2)
    arrays = {"A": rng.standard_normal((m, n)), "x": rng.standard_normal(n),
              "b": rng.standard_normal(m)}
    assert_as_cheap_as(tc.grad(f, x), 2.0 * tc.einsum("ij,i->j", A, A @ x - b), arrays)
    assert_as_cheap_as(tc.hessian(f, x), 2.0 * tc.einsum("ij,ik->jk", A, A), arrays)


# Both activations: the sigmoid Hessian holds products like W1_cb s_c (1 - s)_c R_ac, on
# which opt_einsum 3.4's "optimal" (the planner's choice for up to 4 operands) can contract W1
# with R first, an n h n intermediate (dgasmith/opt_einsum#248, #254); simplification
# costs products in the operand order the planner will see, and keeps the nested form then.
@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_two_layer_mlp_hessian(rng, activation) -> None:
    # f(x) = 1/2 |W2 a - t|^2, a = act(W1 x + b): H = J^T J + W1^T diag(W2^T r * act'') W1
    # with J = W2 diag(act') W1 and r = W2 a - t.
    n, h, p = 40, 64, 16
    W1, W2 = tc.var("W1", (h, n)), tc.var("W2", (p, h))
    x, b, t = tc.var("x", (n,)), tc.var("b", (h,)), tc.var("t", (p,))
    a = getattr(tc, activation)(W1 @ x + b)
    f = 0.5 * tc.sum((W2 @ a - t) ** 2)
    if activation == "tanh":
        d1, d2 = 1.0 - a * a, -2.0 * a * (1.0 - a * a)
    else:
        d1 = a * (1.0 - a)
        d2 = d1 * (1.0 - 2.0 * a)
    r = W2 @ a - t
    J = tc.einsum("pi,i,ij->pj", W2, d1, W1)
    closed = (tc.einsum("pj,pk->jk", J, J)
              + tc.einsum("ij,i,ik->jk", W1, tc.einsum("pi,p->i", W2, r) * d2, W1))
    arrays = {"W1": rng.standard_normal((h, n)) / np.sqrt(n), "W2": rng.standard_normal((p, h)),
              "x": rng.standard_normal(n), "b": rng.standard_normal(h), "t": rng.standard_normal(p)}
    assert_as_cheap_as(tc.hessian(f, x), closed, arrays)


def test_matrix_factorisation_gradients(rng) -> None:
    m, n, k = 80, 60, 8
    U, V, M = tc.var("U", (m, k)), tc.var("V", (n, k)), tc.var("M", (m, n))
    R = tc.einsum("ik,jk->ij", U, V) - M
    f = tc.sum(R ** 2)
    arrays = {"U": rng.standard_normal((m, k)), "V": rng.standard_normal((n, k)),
              "M": rng.standard_normal((m, n))}
    assert_as_cheap_as(tc.grad(f, U), 2.0 * tc.einsum("ij,jk->ik", R, V), arrays)
    assert_as_cheap_as(tc.grad(f, V), 2.0 * tc.einsum("ij,ik->jk", R, U), arrays)
    both = [tc.grad(f, U), tc.grad(f, V)]  # compiled together: the residual is shared
    ours, theirs = planned_cost(both, arrays), planned_cost(
        [2.0 * tc.einsum("ij,jk->ik", R, V), 2.0 * tc.einsum("ij,ik->jk", R, U)], arrays)
    assert ours.flops <= FLOPS_RATIO * theirs.flops
