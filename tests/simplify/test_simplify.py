"""Algebraic simplification: nested einsums flattened, constants folded, like terms
collected and factored, dimension bindings kept, values unchanged."""

from __future__ import annotations

import numpy as np
import pytest

import tensorcalc as tc
from tensorcalc.evaluation import evaluate
from tensorcalc.ir import Add, Const, Einsum, einsum, var
from tensorcalc.ops import functions as F
from tensorcalc.simplify import simplify
from tests.helpers import assert_array


@pytest.fixture
def vals(rng):
    return {"A": rng.standard_normal((4, 3)), "x": rng.standard_normal(3),
            "b": rng.standard_normal(4), "M": rng.standard_normal((3, 3)) + 3 * np.eye(3)}


def symbols():
    return var("A", ("m", "n")), var("x", ("n",)), var("b", ("m",)), var("M", ("n", "n"))


def test_flatten_nested_einsums_into_one_product() -> None:
    A, x, _, M = symbols()
    e = simplify(M @ (M @ (M @ x)))
    assert isinstance(e, Einsum) and len(e.children) == 4 and e.output == "a"


def test_constant_folding() -> None:
    x = var("x", (2,))
    e = simplify(Const(2.0) * (Const(3.0) * x))
    assert isinstance(e, Einsum) and e.scale == 6.0 and e.children == (x,)
    c = simplify(Const(np.ones(2)) + Const(np.arange(2.0)))
    assert isinstance(c, Const)
    np.testing.assert_array_equal(c.value, [1.0, 2.0])
    assert simplify(x - x).children[0].value == 0.0
    assert simplify(1.0 * x) is x


def test_collect_and_factor_terms(vals) -> None:
    A, x, b, _ = symbols()
    y = var("y", ("n",))
    e = simplify(A @ x + A @ y)
    # A (x + y): one product whose second operand is the sum.
    assert isinstance(e, Einsum) and isinstance(e.children[1], Add)
    np.testing.assert_allclose(evaluate(e, {**vals, "y": vals["x"] * 2}), 3 * vals["A"] @ vals["x"])
    three = simplify(A @ x + 2.0 * (A @ x))
    assert isinstance(three, Einsum) and three.scale == 3.0


def test_simplified_value_unchanged(vals) -> None:
    A, x, b, M = symbols()
    e = F.sum((A @ (M @ x) - b) ** 2) + F.trace(M.T @ M) - x @ (M.T @ x)
    np.testing.assert_allclose(evaluate(simplify(e), vals), evaluate(e, vals), rtol=1e-12)


def test_dimension_bindings_survive_simplification(rng) -> None:
    from tensorcalc.differentiation import jacobian
    from tensorcalc.ir import WithDims

    A, x, b, _ = symbols()
    J = jacobian(A @ x - b, A)  # holds only x; A binds 'm'
    doubled = simplify(2.0 * J)
    assert isinstance(doubled, WithDims) and isinstance(doubled.children[0], Einsum)
    assert doubled.children[0].scale == 2.0 and doubled.children[0].children == (x,)
    x0 = rng.standard_normal(3)
    got = evaluate(doubled, {"A": np.ones((2, 3)), "x": x0})
    np.testing.assert_allclose(got, 2 * np.einsum("iu,v->iuv", np.eye(2), x0))


def test_index_simplifications_and_iteration() -> None:
    x = var("x", (3,))
    first, second, third = x
    assert (first.index, third.index) == ((0,), (2,))
    s = F.stack([first * second, third])
    assert simplify(s[1]) is third
    assert simplify(s[0]).uid == simplify(first * second).uid
    assert isinstance(simplify(Const(np.arange(3.0))[1]), Const)
    with pytest.raises(TypeError, match="iterate"):
        iter(var("y", ("n",)))


def _random_einsum(rng, ops):
    """A random einsum over 1-2 of ``ops``, its output possibly extended (repeats, broadcasts)."""
    chosen = [ops[i] for i in rng.integers(0, len(ops), rng.integers(1, 3))]
    sizes, terms = {}, []
    for op in chosen:
        term = ""
        for d in op.shape:
            fits = [lab for lab in "abcd" if sizes.get(lab, d) == d]
            lab = fits[rng.integers(len(fits))]
            sizes[lab] = d
            term += lab
        terms.append(term)
    out, extra = "", {}
    for _ in range(rng.integers(0, 4)):
        lab = "abcd"[rng.integers(4)]
        if lab not in sizes:
            extra[lab] = sizes[lab] = 3
        out += lab
    return einsum(",".join(terms) + "->" + out, *chosen, sizes=extra or None)


def test_simplify_preserves_values_of_random_nested_einsums(rng) -> None:
    x, M = var("x", (3,)), var("M", (3, 3))
    vals = {"x": rng.standard_normal(3), "M": rng.standard_normal((3, 3))}
    for _ in range(150):
        ops = [x, M]
        for _ in range(3):
            ops.append(_random_einsum(rng, ops))
        e = ops[-1]
        np.testing.assert_allclose(evaluate(simplify(e), vals), evaluate(e, vals), rtol=1e-10,
                                   atol=1e-10, err_msg=repr(e))


def test_simplify_preserves_values_of_random_sums(rng) -> None:
    x, y, M, N = var("x", (3,)), var("y", (3,)), var("M", (3, 3)), var("N", (3, 3))
    S = var("S", (3, 3), symmetric=True)
    vectors = [x, y, M @ x, M.T @ x, N @ x, S @ x, S.T @ y, F.exp(x), M @ (N @ x), x * y]
    s0 = rng.standard_normal((3, 3))
    vals = {"x": rng.standard_normal(3), "y": rng.standard_normal(3),
            "M": rng.standard_normal((3, 3)), "N": rng.standard_normal((3, 3)), "S": s0 + s0.T}
    for _ in range(150):
        picks = [vectors[i] for i in rng.integers(0, len(vectors), rng.integers(2, 5))]
        e = picks[0] * float(rng.integers(-2, 3))
        for p in picks[1:]:
            e = e + p * float(rng.integers(-2, 3)) if rng.random() < 0.5 else e - M @ p
        np.testing.assert_allclose(evaluate(simplify(e), vals), evaluate(e, vals), rtol=1e-10,
                                   atol=1e-10, err_msg=repr(e))


def test_simplify_keeps_the_variables_that_bind_named_dimensions() -> None:
    # regression: simplify((N - N) * 2 + y) dropped N, the only binding of 'm':
    # "dimension 'm' is not bound by any input array"
    N, y = tc.var("N", ("m", 3)), tc.var("y", (3,))
    N0, y0 = np.ones((2, 3)), np.array([0.5, -1.0, 2.0])
    e = (N - N) * 2.0 + y
    s = tc.simplify(e)
    assert s.shape == ("m", 3)
    assert_array(s.evaluate(N=N0, y=y0), np.broadcast_to(y0, (2, 3)), shape=(2, 3))
    assert_array(tc.compile(e)(N=N0, y=y0), np.broadcast_to(y0, (2, 3)), shape=(2, 3))


def test_complex_coefficients_survive_simplify() -> None:
    # regression: simplify(x + 1j * y) raised TypeError (sum coefficients forced to float)
    x, y = tc.var("x", (2,)), tc.var("y", (2,))
    x0, y0 = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    e = tc.simplify(x * 2j - y * 1j + x)
    np.testing.assert_allclose(e.evaluate(x=x0, y=y0), x0 * 2j - y0 * 1j + x0, rtol=1e-15)
    g = tc.grad(tc.sum((x + 1j * y) ** 2), x).evaluate(x=x0, y=y0)
    assert g.dtype == np.complex128
    np.testing.assert_allclose(g, 2 * (x0 + 1j * y0), rtol=1e-15)
    H = tc.hessian(tc.sum((x * (1 + 2j) + 1j * y) ** 3), x).evaluate(x=x0, y=y0)
    np.testing.assert_allclose(H, np.diag(6 * (x0 * (1 + 2j) + 1j * y0) * (1 + 2j) ** 2), rtol=1e-14)
    assert isinstance(tc.simplify(x * (2 + 0j) + y).coeffs[0], float)  # a real complex is a float
