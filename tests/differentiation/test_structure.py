"""The form of derivative expressions: Kronecker deltas eliminated by renaming labels, like
terms collected and factored, second derivatives as single einsums."""

from __future__ import annotations

import numpy as np

from tensorcalc.differentiation import grad, hessian, jacobian
from tensorcalc.evaluation import evaluate
from tensorcalc.ir import Einsum, WithDims, einsum, var
from tensorcalc.ops import functions as F
from tensorcalc.simplify import simplify


def test_delta_elimination_by_renaming() -> None:
    A, B = var("A", ("m", "n")), var("B", ("n", "k"))
    J = jacobian(A @ B, A)
    # Only B is left in dC_ij/dA_kl = delta_ik B_lj, so A rides along to bind 'm'.
    assert isinstance(J, WithDims) and J.children[1:] == (A,)
    J = J.children[0]
    assert isinstance(J, Einsum) and J.spec == "cb->abac" and J.children == (B,)
    W = var("W", ("n", "n"))
    G = grad(F.trace(W), W)
    assert isinstance(G, WithDims) and G.children[1:] == (W,)
    G = G.children[0]
    assert isinstance(G, Einsum) and G.output == "aa"
    assert all(op.ndim == 0 for op in G.children)  # no identity matrix is built
    x = var("x", ("n",))
    ones = grad(F.trace(einsum("i->ii", x)), x)  # d tr(diag x)/dx: a broadcast 1, no diag
    assert isinstance(ones, WithDims) and ones.children[0].spec == "->a"
    np.testing.assert_array_equal(evaluate(ones, {"x": np.zeros(3)}), np.ones(3))


def test_delta_a_a_becomes_dimension_factor() -> None:
    x = var("x", ("n",))
    # d/dx sum_i sum_j x_j = n (a summed label carried by nobody).
    f = F.sum(einsum("j->ij", x, sizes={"i": "n"}))
    g = grad(f, x)
    np.testing.assert_allclose(evaluate(g, {"x": np.ones(4)}), np.full(4, 4.0))


def test_like_terms_collected_and_factored() -> None:
    A, x, b = var("A", ("m", "n")), var("x", ("n",)), var("b", ("m",))
    g = grad(F.sum((A @ x - b) ** 2), x)
    # 2 A^T (A x - b): one einsum whose second operand is the residual sum, not A^T A x - A^T b.
    assert isinstance(g, Einsum) and g.scale == 2.0
    assert sorted(type(c).__name__ for c in g.children) == ["Add", "Var"]
    twice = simplify(A @ x + A @ x)
    assert isinstance(twice, Einsum) and twice.scale == 2.0 and len(twice.children) == 2


def test_logistic_hessian_is_one_einsum() -> None:
    X, y, w = var("X", ("m", "n")), var("y", ("m",)), var("w", ("n",))
    for f in (F.sum(F.softplus(-y * (X @ w))), F.sum(F.log(1.0 + F.exp(-y * (X @ w))))):
        H = hessian(f, w)
        assert isinstance(H, Einsum) and H.shape == ("n", "n")
        assert [c for c in H.children if c.ndim == 2] == [X, X]
        assert all(c.ndim == 1 for c in H.children if c is not X)
