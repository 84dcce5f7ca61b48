"""``grad_subscripts``: the gradient spec of each operand of an einsum, as a string.

One table (the seed examples' section A, the forms beyond it, extended forward specs) is
checked twice: the spec text itself, and that ``tc.einsum`` on the spec reproduces the exact
pullback of the forward einsum.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

import tensorcalc as tc
from tensorcalc.contraction import grad_subscripts
from tensorcalc.errors import TensorcalcError
from tests.helpers import (EXTENDED_GRAD_SPECS, MORE_GRAD_SPECS, SEED_GRAD_SPECS, VjpCase,
                           assert_array, einsum_pullback, vjp_cases)

GRAD_SPECS = SEED_GRAD_SPECS + MORE_GRAD_SPECS + EXTENDED_GRAD_SPECS
IDS = [f"{spec.strip()}@{wrt}" for spec, wrt, _ in GRAD_SPECS]

SIZES = {"i": 2, "j": 3, "k": 4, "l": 5, "n": 3, "d": 2, "m": 4}
BATCH = (2, 3)


@pytest.mark.parametrize("spec, wrt, expected", GRAD_SPECS, ids=IDS)
def test_grad_subscripts(spec: str, wrt: int, expected: str) -> None:
    got = grad_subscripts(spec, wrt)
    assert isinstance(got, str)
    assert got == expected


def _shape(labels: str) -> tuple[int, ...]:
    batch = BATCH if "..." in labels else ()
    return batch + tuple(SIZES[c] for c in labels.replace("...", ""))


@pytest.mark.parametrize("spec, wrt, expected", GRAD_SPECS, ids=IDS)
def test_gradient_spec_evaluates_to_the_pullback(spec: str, wrt: int, expected: str) -> None:
    """tc.einsum on the (possibly extended) gradient spec is operand ``wrt``'s exact VJP."""
    plain = "".join(spec.split())
    inputs = plain.split("->")[0].split(",")
    carried = set("".join(inputs))
    new = {c: SIZES[c] for c in plain.split("->")[1] if c not in carried and c != "."} if "->" in plain else {}
    gen = np.random.default_rng(10 + wrt % len(inputs))
    operands = [gen.standard_normal(_shape(term)) for term in inputs]

    def forward(*ops: np.ndarray) -> np.ndarray:
        return tc.einsum(plain, *ops, sizes=new or None)

    upstream = gen.standard_normal(np.shape(forward(*operands)))
    k = wrt % len(operands)
    g_inputs, g_output = expected.split("->")
    extra = {c: SIZES[c] for c in g_output.replace("...", "") if c not in g_inputs}
    others = [op for j, op in enumerate(operands) if j != k]
    got = tc.einsum(expected, upstream, *others, sizes=extra or None)
    assert_array(got, einsum_pullback(forward, operands, upstream, k), shape=operands[k].shape,
                 rtol=1e-10, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(vjp_cases(allow_ellipsis=False))
def test_gradient_spec_of_random_einsums_reproduces_the_pullback(case: VjpCase) -> None:
    """tc.einsum(grad_subscripts(spec, k), G, *others) is operand k's gradient."""
    k = len(case.operands) - 1
    grad_spec = tc.grad_subscripts(case.spec, wrt=k)
    assert isinstance(grad_spec, str)
    inputs, output = grad_spec.replace(" ", "").split("->")
    assert len(inputs.split(",")) == len(case.operands)
    assert len(output) == case.operands[k].ndim
    labels_in = case.spec.split("->")[0].split(",")[k]
    sizes = {c: n for c, n in zip(labels_in, case.operands[k].shape) if c not in inputs}
    others = [op for j, op in enumerate(case.operands) if j != k]
    got = tc.einsum(grad_spec, case.upstream, *others, sizes=sizes or None)
    assert_array(got, case.pullback(k), shape=case.operands[k].shape, rtol=1e-10, atol=1e-12)


GRAD_SUBSCRIPTS_ERRORS = {
    "wrt out of range": (lambda: grad_subscripts("ij,jk->ik", 2), TensorcalcError, "wrt=2"),
    "wrt a digit string": (lambda: grad_subscripts("ij,jk->ik", "0"), TypeError, None),
    "wrt a letter": (lambda: tc.grad_subscripts("ij->i", wrt="a"), TypeError, None),
    "subscripts a list": (lambda: grad_subscripts(["ij"], 0), TypeError, None),
    "invalid label": (lambda: grad_subscripts("i$,jk->ik", 0), TensorcalcError, None),
}


@pytest.mark.parametrize("name", list(GRAD_SUBSCRIPTS_ERRORS))
def test_grad_subscripts_errors(name: str) -> None:
    call, error, match = GRAD_SUBSCRIPTS_ERRORS[name]
    with pytest.raises(error, match=match):
        call()
