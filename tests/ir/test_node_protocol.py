"""The node protocol, from outside the package: a new node type joins every registry.

``Cube`` (``x ** 3`` elementwise) is defined here, not in tensorcalc, the way a user or a
new subpackage would add a node (compare ``tensorcalc/einops_ext/nodes.py``): subclass
``Expr``, implement ``params`` and ``eval_node``, then register a derivative (``defvjp``), a
simplification (``simplify_rule``), the printers (``str_rule``, ``matrix_rule``,
``index_rule``) and the code generator (``code_rule``). The tests show each layer then
handles it: evaluation, compilation, gradients and Hessians, simplification, every printed
form and generated code.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import pytest
from numpy.testing import assert_allclose

import tensorcalc as tc
from tensorcalc.differentiation import defvjp, hadamard, vjp_rule
from tensorcalc.display import code_rule, index_rule, index_text, matrix_rule, matrix_text, str_rule
from tensorcalc.ir import Const, Expr, walk
from tensorcalc.simplify import simplify_rule
from tensorcalc.testing import check_grads


class Cube(Expr):
    """``x ** 3`` elementwise."""

    __slots__ = ()

    def __init__(self, x: Expr) -> None:
        super().__init__((x,), x.shape, x.dtype)

    def params(self) -> tuple:
        return ()

    def eval_node(self, x: np.ndarray, *, sizes: Mapping[str, Any]) -> np.ndarray:
        return x * x * x


# ----------------------------------------------------------------------------- registrations

@defvjp(Cube)
def _vjp_cube(node: Cube, g: Expr) -> list[Expr]:
    x = node.children[0]
    return [hadamard(g, 3.0 * tc.pow(x, 2))]  # g has leading Jacobian axes: hadamard batches


@simplify_rule.register(Cube)
def _simplify_cube(e: Cube, kids: list[Expr]) -> Expr:
    x = kids[0]
    if isinstance(x, Const):
        return Const(x.value ** 3)  # fold constants
    return e if x is e.children[0] else Cube(x)


@str_rule.register(Cube)
def _str_cube(node: Cube, p: Any) -> tuple[str, int]:
    # numpy's spelling, a power (precedence 2); the generic fallback would write "cube(x)"
    return f"{p.wrap(node.children[0], 3)} ** 3", 2


@matrix_rule.register(Cube)
def _matrix_cube(node: Cube, p: Any) -> tuple[str, int]:
    return p.r.elementwise_power(p.wrap(node.children[0], 3), "3"), 2


@index_rule.register(Cube)
def _index_cube(node: Cube, labels: list[str], p: Any) -> tuple[str, int]:
    return p.r.power(p.group(node.children[0], labels, 3), "3"), 2


@code_rule.register(Cube)
def _code_cube(node: Cube, args: list[str], w: Any) -> str:
    return w.emit(f"np.power({args[0]}, 3)")


# ----------------------------------------------------------------------------- fixtures

X0 = np.array([-1.5, -0.2, 0.4, 1.3])
A0 = np.array([[0.5, -1.0, 0.2, 0.1], [0.3, 0.8, -0.4, 1.1], [-0.6, 0.2, 0.9, 0.0]])


def x_var() -> Expr:
    return tc.var("x", ("n",))


def run_code(expr: Expr, **arrays: np.ndarray) -> np.ndarray:
    source = tc.to_numpy(expr)
    namespace: dict = {}
    exec(compile(source, "<to_numpy>", "exec"), namespace)
    return np.asarray(namespace["f"](**arrays))


def test_every_registry_has_the_rules_registered_here() -> None:
    assert vjp_rule.dispatch(Cube) is _vjp_cube
    assert simplify_rule.dispatch(Cube) is _simplify_cube
    assert str_rule.lookup(Cube) is _str_cube
    assert matrix_rule.lookup(Cube) is _matrix_cube
    assert index_rule.lookup(Cube) is _index_cube
    assert code_rule.lookup(Cube) is _code_cube


def test_hash_consing_covers_the_new_node() -> None:
    x = x_var()
    assert Cube(x).uid == Cube(x).uid
    assert Cube(x).uid != Cube(tc.var("y", ("n",))).uid
    assert Cube(x).shape == ("n",)


# ----------------------------------------------------------------------------- evaluation

def test_evaluated_and_compiled() -> None:
    x = x_var()
    f = tc.sin(Cube(x)) + 2.0 * Cube(x)
    expected = np.sin(X0 ** 3) + 2.0 * X0 ** 3
    assert_allclose(tc.evaluate(f, x=X0), expected, rtol=1e-14)
    assert_allclose(f.evaluate(x=X0), expected, rtol=1e-14)
    fn = tc.compile([f, Cube(x)])
    value, cube = fn(x=X0)
    assert_allclose(value, expected, rtol=1e-14)
    assert_allclose(cube, X0 ** 3, rtol=1e-14)
    x32 = X0.astype(np.float32)
    assert tc.evaluate(Cube(x), x=x32).dtype == np.float32


# ----------------------------------------------------------------------------- derivatives

def test_gradient_jacobian_and_hessian() -> None:
    x = x_var()
    f = tc.sum(Cube(x))
    assert_allclose(tc.evaluate(tc.grad(f, x), x=X0), 3 * X0 ** 2, rtol=1e-14)
    assert_allclose(tc.evaluate(tc.jacobian(Cube(x), x), x=X0), np.diag(3 * X0 ** 2), rtol=1e-14)
    assert_allclose(tc.evaluate(tc.hessian(f, x), x=X0), np.diag(6 * X0), rtol=1e-14)


def test_derivatives_to_second_order_agree_with_finite_differences() -> None:
    x = tc.var("x", X0.shape)
    A = tc.var("A", A0.shape)
    composite = tc.sum(tc.sin(Cube(tc.einsum("ij,j->i", A, x))) * tc.exp(Cube(0.5 * x)[:3]))
    check_grads(tc.sum(Cube(x)), x, order=2, x=X0)
    check_grads(Cube(x), x, order=2, x=X0)
    check_grads(composite, x, order=2, x=X0, A=A0)
    check_grads(composite, A, order=2, x=X0, A=A0)
    # and the Hessian itself, against a central difference of the gradient
    g = tc.grad(composite, x)
    hessian = tc.evaluate(tc.hessian(composite, x), x=X0, A=A0)
    h = 1e-6
    numeric = np.stack([(tc.evaluate(g, x=X0 + h * e, A=A0) - tc.evaluate(g, x=X0 - h * e, A=A0))
                        / (2 * h) for e in np.eye(X0.size)], axis=1)
    assert_allclose(hessian, numeric, rtol=1e-6, atol=1e-7)
    assert_allclose(hessian, hessian.T, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- simplification

def test_simplify_applies_the_registered_rule() -> None:
    folded = tc.simplify(Cube(Const(np.array([1.0, -2.0, 0.5]))))
    assert isinstance(folded, Const)
    assert_allclose(folded.value, [1.0, -8.0, 0.125])

    x = x_var()
    f = tc.sum(Cube(x)) * Cube(Const(2.0)) + tc.sum(Cube(x + 0.0))
    out = tc.simplify(f)
    cubes = [n for n in walk(out) if isinstance(n, Cube)]
    assert cubes and all(not isinstance(c.children[0], Const) for c in cubes), tc.to_str(out)
    assert_allclose(tc.evaluate(out, x=X0), 9 * np.sum(X0 ** 3), rtol=1e-14)


def test_derivatives_of_constant_cubes_are_folded() -> None:
    x = x_var()
    g = tc.grad(tc.sum(Cube(x) * Cube(Const(3.0))), x)
    assert not any(isinstance(n, Cube) for n in walk(g)), tc.to_str(g)
    assert_allclose(tc.evaluate(g, x=X0), 81 * X0 ** 2, rtol=1e-14)


# ----------------------------------------------------------------------------- printing

def test_printed_in_every_notation() -> None:
    x = x_var()
    assert str(Cube(x)) == "x ** 3"
    assert str(tc.sum(Cube(x))) == 'einsum("i->", x ** 3)'
    assert str(Cube(x + 1.0)) == "(x + 1) ** 3"
    assert tc.to_latex(Cube(x), notation="matrix") == r"x^{\circ 3}"
    assert tc.to_latex(Cube(x), notation="index") == "x_{i}^{3}"
    assert tc.to_latex(Cube(x)) == "x_{i}^{3}"
    assert matrix_text(Cube(x)) == "x³"
    assert index_text(Cube(x)) == "x_i³"
    assert index_text(Cube(x), latex=True) == "x_{i}^{3}"


def test_printed_inside_larger_expressions() -> None:
    x = x_var()
    A = tc.var("A", ("m", "n"))
    f = tc.einsum("ij,j->i", A, Cube(x))
    assert str(f) == 'einsum("ij,j->i", A, x ** 3)'
    assert str(tc.sin(Cube(x))) == "sin(x ** 3)"
    assert matrix_text(f) == "A x³"
    assert tc.to_latex(f, notation="matrix") == r"A x^{\circ 3}"
    assert index_text(f) == "A_ij x_j³"
    assert tc.to_latex(tc.einsum("i,i->", Cube(x), Cube(x))) == "x_{i}^{3} x_{i}^{3}"


# ----------------------------------------------------------------------------- generated code

def test_compiled_to_numpy_source() -> None:
    x = x_var()
    source = tc.to_numpy(Cube(x))
    assert "np.power(x, 3)" in source
    assert_allclose(run_code(Cube(x), x=X0), X0 ** 3, rtol=1e-14)

    x, A = tc.var("x", X0.shape), tc.var("A", A0.shape)
    f = tc.sum(tc.sin(Cube(tc.einsum("ij,j->i", A, x))) * tc.exp(Cube(0.5 * x)[:3]))
    expected = np.sum(np.sin((A0 @ X0) ** 3) * np.exp((0.5 * X0[:3]) ** 3))
    assert_allclose(run_code(f, x=X0, A=A0), expected, rtol=1e-13)
    for expr in (f, tc.grad(f, x), tc.hessian(f, x)):
        assert any(isinstance(n, Cube) for n in walk(expr))
        assert_allclose(run_code(expr, x=X0, A=A0), tc.evaluate(expr, x=X0, A=A0),
                        rtol=1e-12, atol=1e-14)


def test_code_keeps_float32() -> None:
    x32 = X0.astype(np.float32)
    out = run_code(Cube(x_var()), x=x32)
    assert out.dtype == np.float32
    assert_allclose(out, x32 ** 3, rtol=1e-6)


@pytest.mark.parametrize("printer", [str, tc.to_latex, index_text, matrix_text, tc.to_numpy])
def test_a_node_without_rules_is_refused_or_shown_generically(printer) -> None:
    # the registries are per type: an unregistered subclass of Expr does not borrow Cube's
    class Square(Expr):
        __slots__ = ()

        def __init__(self, x: Expr) -> None:
            super().__init__((x,), x.shape, x.dtype)

        def params(self) -> tuple:
            return ()

        def eval_node(self, x: np.ndarray, *, sizes: Any) -> np.ndarray:
            return x * x

    node = Square(x_var())
    if printer is tc.to_numpy:
        with pytest.raises(tc.TensorcalcError, match="cannot write a Square node"):
            printer(node)
    elif printer is matrix_text:
        assert printer(node) is None
    else:
        assert "square(x)" in printer(node)
    with pytest.raises(tc.TensorcalcError, match="no derivative rule for Square"):
        tc.grad(tc.sum(node), "x")
