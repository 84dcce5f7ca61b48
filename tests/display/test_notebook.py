"""In a notebook: an expression renders as math (``_repr_latex_``), an explanation as an
HTML table of its steps (``_repr_html_``), and ``tc.explain`` is the one entry point."""

from __future__ import annotations

import html

import pytest

import tensorcalc as tc
from tensorcalc.explain import Explanation, explain_diff, explain_grad_subscripts


def test_expression_renders_as_latex() -> None:
    A, x = tc.var("A", ("m", "n")), tc.var("x", ("n",))
    e = A.T @ (A @ x)
    latex = e._repr_latex_()
    assert latex == "$" + tc.to_latex(e, notation="matrix") + "$"
    assert latex.startswith("$") and latex.endswith("$") and r"A^\top" in latex


def test_explanations_are_strings_with_an_html_table() -> None:
    f = tc.parse("sum((A[i,j] x[j] - b[i])^2)")
    for text in (explain_diff(f, "x"), explain_grad_subscripts("ij,jk->ik"),
                 tc.explain("ij,jk->ik", 0), tc.explain(f, "x")):
        assert isinstance(text, Explanation) and isinstance(text, str)
        assert str(text) == text and print(text) is None  # str behaviour unchanged
        table = text._repr_html_()
        assert table.startswith('<table class="tensorcalc-explanation">')
        assert table.endswith("</table>")
        headings = [line for line in text.splitlines() if line and not line.startswith(" ")]
        steps = [line for line in text.splitlines() if line.startswith(" ")]
        assert table.count("<th") == len(headings) and table.count("<tr>") == len(headings) + len(steps)
        for line in steps[:5]:
            assert html.escape(line[2:]) in table


def test_html_is_escaped() -> None:
    table = Explanation("Forward <b>:\n  Y & X < Z")._repr_html_()
    assert "<b>" not in table and "&lt;b&gt;" in table and "Y &amp; X &lt; Z" in table


def test_explain_entry_point() -> None:
    by_subscripts = tc.explain("ij,jk->ik")
    assert by_subscripts == explain_grad_subscripts("ij,jk->ik")
    assert tc.explain("ij,jk->ik", 1) == explain_grad_subscripts("ij,jk->ik", 1)
    text = tc.explain("sum((A[i,j] x[j] - b[i])^2)", "x", kind="hessian")
    assert text.splitlines()[-1] == "  matrix form: 2 Aᵀ A"
    assert "Jacobian of the gradient" in text
    assert "explain" in tc.__all__
    with pytest.raises(TypeError):
        tc.explain("ij,jk->ik", 0, kind="hessian")
