"""The rewrite table (tensorcalc.simplify.rewrite) and its families (tensorcalc.simplify.rewrites):
each rule rewrites its pattern to the stated form, keeps the value where its condition holds,
and leaves what does not match alone; user-built expressions print and evaluate simplified."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

import tensorcalc as tc
from tensorcalc.ir import Add, Const, Einsum, Var, WithDims
from tensorcalc.ops import AxisFunc, Func
from tensorcalc.simplify import rewrite_rules, simplify

x = tc.var("x", (4,))
y = tc.var("y", (4,))
X = tc.var("X", (3, 3))
X0 = np.array([[2.0, 0.3, -0.5], [0.1, 1.7, 0.4], [-0.2, 0.6, 2.4]])
POS = np.array([0.3, 1.2, 2.5, 0.8])
MIXED = np.array([-1.5, 0.4, 2.0, -0.3])


def same_value(a, b, **arrays) -> None:
    np.testing.assert_allclose(tc.evaluate(a, arrays), tc.evaluate(b, arrays), rtol=1e-12, atol=1e-14)


def is_func(e, name: str) -> bool:
    return isinstance(e, Func) and e.name == name


def is_axis(e, name: str) -> bool:
    return isinstance(e, AxisFunc) and e.name == name


# ----------------------------------------------------------------------------- the table

def test_every_rule_states_its_family_and_the_families_are_the_modules() -> None:
    rules = rewrite_rules()
    assert {r.family for r in rules} == {"powers", "log-exp", "softmax", "norms"}
    assert all(r.rule and "->" in r.rule for r in rules)
    conditional = {r.rule: r.condition for r in rules if r.condition}
    assert conditional["exp(log u) -> u"] == "u > 0"
    assert "x ≠ 0" in conditional["x^a ⊙ x^b -> x^(a+b); x ⊙ x⁻¹ -> 1"]


# ----------------------------------------------------------------------------- powers

def test_x_times_its_reciprocal_is_one() -> None:
    e = simplify(x * x ** -1.0)
    assert isinstance(e, Einsum) and isinstance(e.children[0], Const) and e.children[0].value == 1.0
    np.testing.assert_array_equal(tc.evaluate(x * x ** -1.0, x=MIXED), np.ones(4))
    # the same x only: x / y stays
    assert any(is_func(n, "pow") for n in simplify(x * y ** -1.0).children)


def test_x_over_x_at_zero_is_the_limit_one_not_nan() -> None:
    np.testing.assert_array_equal(tc.evaluate(x / x, x=np.zeros(4)), np.ones(4))


def test_powers_of_one_base_merge() -> None:
    t = tc.softmax(x)
    e = simplify(t * t * t ** -1.0)  # the cross-entropy pattern: t t t⁻¹ -> t
    assert e.uid == simplify(t).uid
    assert simplify(tc.exp(x) * tc.exp(x) ** -1.0).children[0].value == 1.0
    assert simplify(x ** 2.0 * x ** -3.0).uid == simplify(x ** -1.0).uid
    same_value(x ** 2.0 * x ** -3.0, x ** -1.0, x=MIXED)
    # x ⊙ x has no power in it: it stays a product (x·x sums to ‖x‖², a BLAS dot)
    assert isinstance(simplify(x * x), Einsum)


def test_summed_reciprocals_leave_the_size() -> None:
    e = tc.sum(x * x ** -1.0)
    assert float(tc.evaluate(e, x=MIXED)) == 4.0
    n = tc.var("v", ("n",))
    assert float(tc.evaluate(tc.sum(n * n ** -1.0), v=np.arange(1.0, 6.0))) == 5.0


def test_power_of_power_with_an_integer_exponent() -> None:
    assert simplify((x ** 0.5) ** 4.0).uid == simplify(x ** 2.0).uid
    same_value((x ** 3.0) ** -2.0, x ** -6.0, x=MIXED)
    # (x²)^0.5 is |x|, not x: a fractional outer exponent is left alone
    assert is_func(simplify((x ** 2.0) ** 0.5).children[0], "pow")
    same_value((x ** 2.0) ** 0.5, tc.abs(x), x=MIXED)


def test_sign_times_self_is_abs_and_the_log_abs_det_gradient_is_x_inverse_transposed() -> None:
    e = simplify(tc.sign(x) * x)
    assert is_func(e, "abs")
    same_value(tc.sign(x) * x, tc.abs(x), x=MIXED)
    t = tc.det(X)
    one = simplify(tc.abs(t) ** -1.0 * tc.sign(t) * t)  # where det X ≠ 0
    assert isinstance(one, Const) and one.value == 1.0
    g = tc.grad(tc.log(tc.abs(tc.det(X))), X)
    assert str(g) == 'einsum("ji->ij", inv(X))'
    np.testing.assert_allclose(g.evaluate(X=X0), np.linalg.inv(X0).T, rtol=1e-12)


def test_abs_of_a_function_is_left_alone() -> None:
    # |exp(u)| = exp(u) for real u only: |exp(iθ)| = 1
    assert is_func(simplify(tc.abs(tc.exp(x))), "abs")
    z = tc.var("z", (2,), dtype=np.complex128)
    theta = np.array([0.5, 2.0])
    np.testing.assert_allclose(tc.evaluate(tc.abs(tc.exp(z)), z=1j * theta), [1.0, 1.0])


# ----------------------------------------------------------------------------- log / exp

def test_log_of_exp_and_exp_of_log() -> None:
    assert simplify(tc.log(tc.exp(x))) is x
    assert simplify(tc.exp(tc.log(x))) is x
    same_value(tc.exp(tc.log(x)), x, x=POS)  # the condition: u > 0


def test_log_of_one_plus_exp_is_softplus() -> None:
    for e in (tc.log(1.0 + tc.exp(x)), tc.log(tc.exp(x) + 1.0), tc.log1p(tc.exp(x))):
        s = simplify(e)
        assert is_func(s, "softplus") and s.children[0] is x
    big = np.array([-800.0, -1.0, 30.0, 800.0])
    np.testing.assert_allclose(tc.evaluate(tc.log(1.0 + tc.exp(x)), x=big), np.logaddexp(0.0, big),
                               rtol=1e-15)
    # 2 + exp(x) is not the pattern
    assert is_func(simplify(tc.log(2.0 + tc.exp(x))), "log")


def test_log_sigmoid_and_exp_minus_softplus() -> None:
    e = simplify(tc.log(tc.sigmoid(x)))
    same_value(e, -tc.softplus(-x), x=MIXED)
    assert "softplus" in str(e) and "log" not in str(e)
    assert str(simplify(tc.exp(-tc.softplus(x)))) == "sigmoid(-x)"


def test_one_over_one_plus_exp_is_a_sigmoid() -> None:
    e = simplify((1.0 + tc.exp(-x)) ** -1.0)
    assert is_func(e, "sigmoid") and e.children[0] is x
    same_value((1.0 + tc.exp(x)) ** -2.0, tc.sigmoid(-x) ** 2.0, x=MIXED)


def test_exp_over_one_plus_exp_is_a_sigmoid() -> None:
    e = simplify(tc.exp(-x) / (1.0 + tc.exp(-x)))
    assert is_func(e, "sigmoid")
    same_value(e, tc.sigmoid(-x), x=MIXED)
    assert str(e) == "sigmoid(-x)"
    assert str(simplify(tc.exp(x) * tc.sigmoid(-x))) == "sigmoid(x)"
    # a sigmoid of something else stays a product
    assert isinstance(simplify(tc.exp(x) * tc.sigmoid(y)), Einsum)


def test_exp_powers_cancel_and_products_of_exps_stay() -> None:
    assert simplify(tc.exp(x) * tc.exp(x) ** -1.0).children[0].value == 1.0
    assert is_func(simplify(tc.exp(x) ** -1.0), "pow")
    assert isinstance(simplify(tc.exp(x) * tc.exp(y)), Einsum)


# ----------------------------------------------------------------------------- softmax family

def test_log_of_softmax_is_log_softmax() -> None:
    Z = tc.var("Z", (2, 4))
    e = simplify(tc.log(tc.softmax(Z, axis=0)))
    assert is_axis(e, "log_softmax") and e.axes == (0,)
    z0 = np.array([[1000.0, 0.0, -1000.0, 3.0], [0.0, 1000.0, 5.0, -3.0]])
    value = tc.evaluate(tc.log(tc.softmax(Z, axis=0)), Z=z0)
    assert np.all(np.isfinite(value))
    np.testing.assert_allclose(value, special.log_softmax(z0, axis=0), rtol=1e-14)


def test_exp_of_log_softmax_and_of_the_shifted_logits_is_softmax() -> None:
    assert is_axis(simplify(tc.exp(tc.log_softmax(x))), "softmax")
    e = simplify(tc.exp(x - tc.logsumexp(x)))
    assert is_axis(e, "softmax") and str(e) == "softmax(x)"
    e = simplify(x - tc.logsumexp(x))
    assert is_axis(e, "log_softmax")
    M = tc.var("M", (2, 3))
    from tensorcalc.ops.functions import expand

    e = simplify(M - expand(tc.logsumexp(M, axis=1), (1,), M.shape))
    assert is_axis(e, "log_softmax") and e.axes == (1,)
    # the logsumexp must be of the same argument
    assert isinstance(simplify(x - tc.logsumexp(y)), Add)


# ----------------------------------------------------------------------------- norms

def test_sqrt_of_a_sum_of_squares_is_the_norm() -> None:
    for e in (tc.sqrt(tc.sum(x ** 2.0)), tc.sqrt(tc.sum(x * x)), tc.sqrt(x @ x), tc.norm2(x)):
        s = simplify(e)
        assert is_axis(s, "norm2") and s.children[0] is x
        assert str(e) == "norm2(x)"
    # a weighted sum of squares is not a norm
    assert is_func(simplify(tc.sqrt(tc.sum(y * x ** 2.0))), "sqrt")


def test_norm_squared_is_the_sum_of_squares() -> None:
    e = simplify(tc.norm2(x) ** 2.0)
    assert isinstance(e, Einsum) and e.output == "" and len(e.children) == 2
    assert tc.display.matrix_text(e) == "‖x‖²"
    same_value(tc.norm2(x) ** 4.0, tc.sum(x * x) ** 2.0, x=MIXED)
    assert is_func(simplify(tc.norm2(x) ** 3.0), "pow")


def test_norm_times_the_unit_vector_is_x() -> None:
    assert simplify(tc.norm2(x) * tc.normalize(x)) is x
    assert simplify(2.0 * tc.normalize(x) * tc.norm2(x)).children == (x,)
    np.testing.assert_array_equal(tc.evaluate(tc.norm2(x) * tc.normalize(x), x=np.zeros(4)), np.zeros(4))


# ----------------------------------------------------------------------------- user expressions

def test_user_expressions_print_simplified() -> None:
    A = tc.var("A", (3, 3))
    S = tc.var("S", (3, 3), symmetric=True)
    v = tc.var("v", (3,))
    assert str(A @ v + A @ v) == '2 * einsum("ij,j->i", A, v)'
    assert str(S @ v + S.T @ v) == '2 * einsum("ij,j->i", S, v)'
    assert str(tc.sum(v * 2 * 3)) == '6 * einsum("i->", v)'
    assert tc.display.matrix_text(A @ v + A @ v) == "2 A v"
    assert tc.to_latex(S @ v + S.T @ v, notation="matrix") == "2 S v"
    # tc.simplify stays explicit and agrees with what prints
    assert str(tc.simplify(A @ v + A @ v)) == str(A @ v + A @ v)


def test_printing_caches_the_simplified_form() -> None:
    from tensorcalc.simplify import simplified

    e = tc.sum(tc.log(1.0 + tc.exp(x)))
    assert simplified(e) is simplified(e)
    assert "softplus" in str(e)


def test_rewrites_keep_the_variables_that_bind_named_dimensions() -> None:
    v = tc.var("v", ("n",))
    e = tc.sum(v * v ** -1.0)  # v is gone after the rewrite, its dimension n is not
    s = tc.simplify(e)
    assert any(isinstance(node, Var) and node.name == "v" for node in tc.ir.walk(s))
    assert float(tc.evaluate(e, v=np.ones(7))) == 7.0
    assert float(tc.compile(e)(v=np.ones(3))) == 3.0


@pytest.mark.parametrize("build", [
    lambda: tc.log(tc.exp(x) * tc.exp(y)),
    lambda: x * x ** -1.0 + tc.log(tc.sigmoid(y)),
    lambda: tc.softmax(x) * tc.softmax(x) ** -1.0 * tc.exp(tc.log_softmax(y)),
    lambda: tc.normalize(x) * tc.norm2(x) + tc.sqrt(tc.sum(y ** 2.0)),
    lambda: tc.exp(x) ** 2.0 * tc.sign(y) * y * tc.exp(x) ** -1.0,
])
def test_rewrites_keep_values(build) -> None:
    e = build()
    s = simplify(e)
    values = {"x": MIXED, "y": np.array([0.7, -1.3, 2.2, 0.1])}
    # evaluate runs the simplified form; the unsimplified graph is evaluated node by node
    expected = _evaluate_as_built(e, values)
    np.testing.assert_allclose(tc.evaluate(s, values), expected, rtol=1e-12)


def _evaluate_as_built(e, values):
    """The value of ``e`` node by node, without simplification (the reference)."""
    out = {}
    for node in tc.ir.walk(e):
        if isinstance(node, Var):
            out[node.uid] = values[node.name]
        else:
            out[node.uid] = node.eval_node(*(out[c.uid] for c in node.children), sizes={})
    return out[e.uid]


def test_nothing_to_rewrite_is_left_as_is() -> None:
    for e in (tc.log(x), tc.exp(x), tc.sqrt(x), x ** 2.0, tc.softmax(x), tc.sigmoid(x) * (1.0 - tc.sigmoid(x))):
        assert simplify(simplify(e)).uid == simplify(e).uid
    assert not isinstance(simplify(x), WithDims)
