"""to_numpy: an expression as the source of one self-contained numpy function, which
computes what ``evaluate`` does."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tensorcalc.contraction import einsum as tc_einsum
from tensorcalc.differentiation import grad, hessian, jacobian
from tensorcalc.display import to_numpy
from tensorcalc.errors import TensorcalcError
from tensorcalc.ir import einsum, var, variables
from tensorcalc.ops import functions as F
from tests.helpers import rearranged_example, reduced_example

A = var("A", ("m", "n"))
B = var("B", ("n", "p"))
x = var("x", ("n",))
b = var("b", ("m",))
X = var("X", ("n", "n"))
r = einsum("ij,j->i", A, x) - b


def run_source(expr, arrays, **dims):
    source = to_numpy(expr)
    assert "import numpy as np" in source
    # Self-contained: the only import is numpy, nothing from tensorcalc.
    assert "tensorcalc" not in source
    assert [l for l in source.splitlines() if "import" in l] == ["import numpy as np"]
    namespace: dict = {}
    exec(compile(source, "<to_numpy>", "exec"), namespace)
    params = [v.name for v in variables(expr)]
    return namespace["f"](*[arrays[p] for p in params], **dims)


@pytest.fixture
def arrays(rng):
    m, n, p = 5, 4, 3
    return {"A": rng.normal(size=(m, n)), "B": rng.normal(size=(n, p)), "x": rng.normal(size=n),
            "b": rng.normal(size=m), "X": rng.normal(size=(n, n)) + 4 * np.eye(n),
            "W": rng.normal(size=(m, n)), "T": rng.normal(size=(2, 3, 4))}


CASES = {
    "gradient": lambda: 2 * einsum("ji,j->i", A, r),
    "shared": lambda: einsum("i,i->", r, r),
    "chain3": lambda: einsum("ij,jk,kl->il", A, B, einsum("ij->ji", B)),
    "three-way": lambda: einsum("ij,i,ik->jk", A, b, A),
    "diag-embed": lambda: einsum("i->ii", x),
    "broadcast": lambda: einsum("i->ij", x, sizes={"j": "m"}) + einsum("ji->ij", A),
    "trace-grad": lambda: grad(F.trace(X), X) + X,
    "logdet-hessian": lambda: hessian(F.logdet(X), X),
    "sigmoid-jacobian": lambda: jacobian(F.sigmoid(einsum("ij,j->i", A, x) + b), A),
    "functions": lambda: F.sum(F.tanh(x) + F.softplus(x) + F.relu(x) * F.exp(x) + F.log1p(x ** 2)),
    "sqrt-abs": lambda: F.sqrt(F.abs(x)) + F.sign(x) + F.cos(x) - F.sin(x),
    "matfuncs": lambda: F.det(X) * F.inv(X) + F.logdet(X),
    "mean": lambda: F.mean(A, axis=0) * 3.0,
    "logsumexp": lambda: F.logsumexp(A, axis=1) + F.softmax(A)[:, 0],
    "index-stack": lambda: F.stack([x[0] * x[1], x[2] + 1.0]),
    "index-grad": lambda: grad(x[1] * x[2], x),
    "tensor3": lambda: einsum("abc,ca->b", var("T", (2, 3, 4)), var("B", (4, 2))),
    "rearrange": lambda: rearranged_example(),
    "reduce-max": lambda: grad(F.sum(reduced_example("max") ** 2), "T"),
    "reduce-prod": lambda: grad(F.sum(reduced_example("prod")), "T") + reduced_example("min")[0, 0],
    "pow": lambda: x ** 3 + x ** -1 + x ** 0.5 * 0 + 1.0 / (x * x + 1.0),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_to_numpy_matches_evaluate(name, arrays):
    expr = CASES[name]()
    if name == "tensor3":
        arrays = dict(arrays, B=np.random.default_rng(0).normal(size=(4, 2)))
    if name == "pow":
        arrays = dict(arrays, x=np.abs(arrays["x"]) + 0.5)
    if name == "sqrt-abs":
        arrays = dict(arrays, x=arrays["x"] + 0.1)
    dims = {}
    source = to_numpy(expr)
    for param in re.search(r"def f\((.*)\):", source).group(1).split(", "):
        if param and param not in arrays and param != "*":
            dims[param] = {"m": 5, "n": 4}[param]
    expected = expr.evaluate(arrays)
    got = run_source(expr, arrays, **dims)
    assert np.shape(got) == np.shape(expected)
    assert np.asarray(got).dtype == np.asarray(expected).dtype
    assert np.allclose(got, expected)


def test_to_numpy_writes_pairwise_steps_along_the_path():
    from tensorcalc import contract_path

    shapes = [(50, 2), (2, 50), (50, 3)]
    path, _ = contract_path("ij,jk,kl->il", *shapes)
    assert path[0] == (1, 2)
    source = to_numpy(einsum("ij,jk,kl->il", *[var(n, s) for n, s in zip("PQR", shapes)]))
    # the code follows the path: (Q, R) first, one product per line
    assert "t1 = Q @ R" in source and "return P @ t1" in source
    assert "np.einsum" not in source


def test_to_numpy_batched_pairs_use_matmul(rng):
    q, k = var("q", (2, 3, 4, 5)), var("k", (2, 3, 6, 5))
    source = to_numpy(einsum("bhqd,bhkd->bhqk", q, k))
    assert "return q @ k.mT" in source
    arrays = {"q": rng.normal(size=(2, 3, 4, 5)), "k": rng.normal(size=(2, 3, 6, 5))}
    got = run_source(einsum("bhqd,bhkd->bhqk", q, k), arrays)
    assert got.shape == (2, 3, 4, 6)
    assert np.allclose(got, np.einsum("bhqd,bhkd->bhqk", arrays["q"], arrays["k"]))


def test_to_numpy_extended_einsums_use_plain_numpy():
    diag = to_numpy(einsum("i->ii", x))
    assert "np.zeros" in diag and 'np.einsum("aa->a", t1)[...] = x' in diag
    bcast = to_numpy(einsum("i->ij", x, sizes={"j": 3}))
    assert "np.broadcast_to(x[:, None], (n, 3))" in bcast


def test_to_numpy_dimensions_come_from_the_variables():
    source = to_numpy(grad(F.trace(X), X))  # the gradient holds no X, but its size is X's
    assert "def f(X):" in source and "n = X.shape[0]" in source
    ns: dict = {}
    exec(source, ns)
    got = ns["f"](np.zeros((3, 3)))
    assert got.dtype == np.float64 and np.array_equal(got, np.eye(3))


def test_to_numpy_unbound_dimension_is_a_keyword_parameter():
    source = to_numpy(einsum("i->ij", x, sizes={"j": "m"}))
    assert "def f(x, *, m):" in source
    ns: dict = {}
    exec(source, ns)
    assert np.array_equal(ns["f"](np.arange(2.0), m=3), [[0.0] * 3, [1.0] * 3])


def test_to_numpy_checks_its_name():
    with pytest.raises(TensorcalcError):
        to_numpy(x, name="not valid")
    with pytest.raises(TypeError):
        to_numpy(np.ones(3))


SIZES = {"a": 2, "b": 3, "c": 4, "d": 1, "e": 2}


@st.composite
def einsum_specs(draw):
    """Explicit specs over a few labels, with diagonals, sums, and extended outputs."""
    n_ops = draw(st.integers(1, 4))
    terms = [draw(st.lists(st.sampled_from("abcde"), min_size=0, max_size=3)) for _ in range(n_ops)]
    carried = sorted(set("".join("".join(t) for t in terms)))
    pool = carried + ["e"]  # "e" may be absent from the inputs: a broadcast label
    out = draw(st.lists(st.sampled_from(pool), max_size=3))
    return [("".join(t)) for t in terms], "".join(out)


@settings(max_examples=60, deadline=None)
@given(spec=einsum_specs(), seed=st.integers(0, 2**16))
def test_to_numpy_runs_every_einsum(spec, seed):
    inputs, output = spec
    rng = np.random.default_rng(seed)
    arrays = {f"v{k}": rng.normal(size=[SIZES[c] for c in labels]) for k, labels in enumerate(inputs)}
    ops = [var(f"v{k}", tuple(SIZES[c] for c in labels)) for k, labels in enumerate(inputs)]
    subscripts = ",".join(inputs) + "->" + output
    sizes = {c: SIZES[c] for c in output if c not in "".join(inputs)}
    expr = einsum(subscripts, *ops, sizes=sizes or None)
    expected = tc_einsum(subscripts, *arrays.values(), sizes=sizes or None)
    got = run_source(expr, arrays)
    assert np.shape(got) == expected.shape
    assert np.allclose(got, expected)
