"""The printed form of an expression depends on the expression only, not on the process.

Printing shows the simplified form, whose products list their operands in a canonical order.
That order was the nodes' ``uid``: a counter, and a structure keeps the uid it got first
while any node of it is alive (hash-consing), so ``einsum("ij,j->i", A, sin(x))`` printed
``sin(x)`` first once an earlier ``sin(x)`` was alive (held by a compiled function, or
garbage not yet collected) and ``A`` first in a fresh process. The order is now structural
(``tensorcalc.simplify.order``): every printer gives the same text whatever ran before,
and the same as a new interpreter. And ``evaluate`` of several expressions cached each one's
form from one joint simplification, where a root could take the form another root gave a
shared subexpression; each is now simplified (and cached) on its own.
"""

from __future__ import annotations

import json

import numpy as np
from numpy.testing import assert_allclose

import tensorcalc as tc
from tensorcalc.display import index_text, matrix_text
from tensorcalc.ir import Const
from tensorcalc.simplify.order import order_key

from ..helpers import run_script

# Every printed form of the same expression, built the same way (A before the product's
# other operand), as a function of a fresh set of variables.
BUILD = """
import tensorcalc as tc
from tensorcalc.display import index_text, matrix_text


def build():
    x = tc.var("x", ("n",))
    A = tc.var("A", ("m", "n"))
    B = tc.var("B", ("n", "n"))
    f = tc.einsum("ij,j->i", A, tc.sin(x))
    g = tc.sum(tc.exp(B @ x) * x) + tc.sum(x * tc.exp(B @ x))
    return f, g


def forms(expr):
    return [str(expr), tc.to_latex(expr), tc.to_latex(expr, notation="matrix"),
            tc.to_latex(expr, notation="index"), matrix_text(expr), index_text(expr),
            tc.to_source(expr), tc.to_source(expr, backend="array_api")]
"""

_NAMESPACE: dict = {}
exec(compile(BUILD, "<build>", "exec"), _NAMESPACE)
build, forms = _NAMESPACE["build"], _NAMESPACE["forms"]


def _fresh_forms(tmp_path) -> list[list[str]]:
    body = BUILD + "\nimport json\nprint(json.dumps([forms(e) for e in build()]))\n"
    return json.loads(run_script(body, tmp_path))


def test_the_operands_print_in_the_order_built() -> None:
    f, _ = build()
    assert str(f) == 'einsum("ij,j->i", A, sin(x))'
    assert matrix_text(f) == "A sin(x)"


def test_a_structure_alive_from_before_does_not_reorder_the_print() -> None:
    # sin(x) built (and kept) before A: it kept an older uid than A, which came first
    x = tc.var("x", ("n",))
    held = tc.sin(x)
    A = tc.var("A", ("m", "n"))
    f = tc.einsum("ij,j->i", A, tc.sin(x))
    assert str(f) == 'einsum("ij,j->i", A, sin(x))'
    assert forms(f) == forms(build()[0])
    assert held.uid == f.children[1].uid  # the structure really was shared


def test_evaluating_and_compiling_first_does_not_change_the_print(tmp_path) -> None:
    fresh = _fresh_forms(tmp_path)
    x = tc.var("x", ("n",))
    first = tc.sin(x) + 2.0 * tc.sin(x)
    X0 = np.array([0.3, -1.2, 2.0])
    assert_allclose(tc.evaluate(first, x=X0), 3 * np.sin(X0))
    fn = tc.compile([first, tc.sin(x), tc.exp(tc.var("B", ("n", "n")) @ x)])  # holds them
    fn(x=X0, B=np.eye(3))
    printed = [forms(e) for e in build()]
    assert printed == fresh
    assert [forms(e) for e in build()] == printed  # and the same again
    del fn


def test_equal_products_built_in_either_order_are_one_node() -> None:
    # the canonical form still merges products equal up to the order of their operands
    form = str(build()[1])
    assert form.startswith("2 * ") and form.count("exp(") == 1, form
    x, B = tc.var("x", ("n",)), tc.var("B", ("n", "n"))
    assert tc.simplify(tc.exp(B @ x) * x).uid == tc.simplify(x * tc.exp(B @ x)).uid


def test_the_order_key_holds_no_identity_and_no_recursion() -> None:
    big = np.linspace(0.0, 1.0, 300)  # past the size constants are keyed by identity
    assert order_key(Const(big)) == order_key(Const(big.copy()))
    assert order_key(Const(big)) != order_key(Const(big + 1.0))
    x = tc.var("x", (2,))
    deep = x
    for _ in range(5000):  # far past the recursion limit
        deep = tc.sin(deep)
    assert order_key(deep)[0] == 5000


def test_evaluating_several_expressions_together_does_not_change_the_print() -> None:
    # N alone is one flat product; inside g, which shares B x, it stays nested. Simplified
    # together (one memo), g took N's flat form, and evaluate cached it for printing.
    def exprs():
        A, B, x = tc.var("A", (3, 3)), tc.var("B", (3, 3)), tc.var("x", (3,))
        N = A @ (B @ x)
        return N, N + tc.exp(B @ x)

    alone = str(exprs()[1])
    N, g = exprs()
    value = tc.evaluate([N, g], A=np.eye(3), B=2 * np.eye(3), x=np.ones(3))[1]
    assert_allclose(value, 2 + np.exp(2.0) * np.ones(3))
    assert str(g) == alone
    assert "t1 = " in alone  # B x, shared, computed once
