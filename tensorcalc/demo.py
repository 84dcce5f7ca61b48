"""``tensorcalc demo``: a short tour on built-in examples (a few seconds).

1. the gradient einsum of each operand of ``"ij,jk->ik"``, checked against numbers;
2. the backward pass of a tiny network, with its exact numbers;
3. ``‖Ax − b‖²`` parsed from text: its gradient and Hessian as einsum, matrix and LaTeX;
4. one contraction timed against ``numpy.einsum``;
5. a three-operand chain where the planned order beats numpy.einsum's unplanned loop.

Every timed function is called once before it is timed (plans and caches are warm).

Each section runs on its own: if a feature it needs is missing from this build, the section
prints one line saying so and the tour continues.

>>> run(sections=["gradients"])  # doctest: +ELLIPSIS
tensorcalc demo: tensor calculus in einsum notation
<BLANKLINE>
1. Gradient einsums of "ij,jk->ik" (C = A B; G = ∂L/∂C comes first)
   ∂L/∂A: ik,jk->ij    = G Bᵀ   (numbers agree with the matrix form: True)
...
0
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import numpy as np

import tensorcalc as tc
from .display import matrix_text
from .explain import spec_matrix_text


def _matrix(expr: Any) -> str:
    text = matrix_text(expr)
    return text if text is not None else "(no matrix form)"


def section_gradients() -> None:
    print('\n1. Gradient einsums of "ij,jk->ik" (C = A B; G = ∂L/∂C comes first)')
    grad_subscripts = tc.grad_subscripts
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(3, 4)), rng.normal(size=(4, 5))
    G = rng.normal(size=(3, 5))
    expected = {0: G @ B.T, 1: A.T @ G}
    for k, others in ((0, [B]), (1, [A])):
        spec = grad_subscripts("ij,jk->ik", k)
        got = tc.einsum(spec, G, *others)
        names = ["G", "B"] if k == 0 else ["G", "A"]
        ok = np.allclose(got, expected[k])
        print(f"   ∂L/∂{'AB'[k]}: {spec:<12} = {spec_matrix_text(spec, names)}   "
              f"(numbers agree with the matrix form: {ok})")
    print('   trace "ii->" gives', repr(grad_subscripts("ii->", 0)),
          '(G times the identity); row sum "ij->i" gives', repr(grad_subscripts("ij->i", 0)),
          "(G broadcast along j)")


def section_network() -> None:
    print("\n2. Backward pass of a tiny network: y = X W, f = y², L = Σ f")
    var, einsum, tsum, grad = tc.var, tc.einsum, tc.sum, tc.grad
    X0 = np.array([[0.0, 1.0], [2.0, 3.0]])
    W0 = np.ones((2, 2))
    X, W = var("X", (2, 2)), var("W", (2, 2))
    y = einsum("ij,jk->ik", X, W)
    L = tsum(y ** 2)
    Y = var("y", (2, 2))
    values = {"X": X0, "W": W0, "y": X0 @ W0}
    rows = [("L", L.evaluate(values)),
            ("∂L/∂y", grad(tsum(Y ** 2), Y).evaluate(values)),
            ("∂L/∂X", grad(L, X).evaluate(values)),
            ("∂L/∂W", grad(L, W).evaluate(values))]
    print("   X = [[0, 1], [2, 3]], W = [[1, 1], [1, 1]]")
    for name, value in rows:
        print(f"   {name:<6} = {np.asarray(value).tolist()}")
    print("   ∂L/∂X is", str(grad(L, X)).splitlines()[0], " =", _matrix(grad(L, X)))


def section_least_squares() -> None:
    text = "sum((A[i,j] x[j] - b[i])^2)"
    print(f"\n3. Least squares, parsed from index notation: f = {text}")
    f = tc.parse(text)
    g = tc.grad(f, "x")
    H = tc.hessian(f, "x")
    to_latex = tc.to_latex
    print(f"   gradient  einsum: {g}")
    print(f"             matrix: {_matrix(g)}")
    print(f"             LaTeX : {to_latex(g, notation='matrix')}")
    print(f"             index : {to_latex(g, notation='index')}")
    print(f"   Hessian   einsum: {H}")
    print(f"             LaTeX : {to_latex(H, notation='matrix')}")
    rng = np.random.default_rng(1)
    A0, x0, b0 = rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=5)
    exact = 2 * A0.T @ (A0 @ x0 - b0)
    got = g.evaluate(A=A0, x=x0, b=b0)
    print(f"   at random A (5×3), x, b: matches 2 Aᵀ(Ax − b) in numpy: {np.allclose(got, exact)}")
    source = tc.to_numpy(g)
    print("   as numpy code (tc.to_numpy):")
    for line in source.strip().splitlines()[3:]:
        print("     " + line)


def _median_time(fn: Callable[[], Any], repeat: int = 7) -> float:
    fn()  # warm up (plans, caches) before the clock starts
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _versus(ours: float, theirs: float) -> str:
    if 0.9 <= theirs / ours <= 1.1:
        return "about the same"
    if theirs >= ours:
        return f"tensorcalc is {theirs / ours:.1f}x faster"
    return f"tensorcalc is {ours / theirs:.1f}x slower"


def section_contraction() -> None:
    spec, b, n = "bij,bjk->bik", 32, 64
    print(f'\n4. A contraction timed: batched matmul "{spec}", b={b}, i=j=k={n} (median of 7)')
    einsum = tc.einsum
    rng = np.random.default_rng(2)
    ops = [rng.normal(size=(b, n, n)), rng.normal(size=(b, n, n))]
    ours = _median_time(lambda: einsum(spec, *ops))
    base = _median_time(lambda: np.einsum(spec, *ops))
    opt = _median_time(lambda: np.einsum(spec, *ops, optimize=True))
    same = np.allclose(einsum(spec, *ops), np.einsum(spec, *ops, optimize=True))
    print(f"   tensorcalc.einsum            {ours * 1e3:8.3f} ms")
    print(f"   numpy.einsum                 {base * 1e3:8.3f} ms   ({_versus(ours, base)})")
    print(f"   numpy.einsum(optimize=True)  {opt * 1e3:8.3f} ms   ({_versus(ours, opt)})")
    print(f"   same result: {same}")


def section_planner() -> None:
    spec, big, small = "ij,jk,kl->il", 400, 8
    print(f'\n5. Where the planner matters: the chain "{spec}", i=k={big}, j=l={small} '
          "(median of 5)")
    rng = np.random.default_rng(3)
    ops = [rng.normal(size=(big, small)), rng.normal(size=(small, big)),
           rng.normal(size=(big, small))]
    path, info = tc.contract_path(spec, *ops)
    print(f"   planned order {path}: {int(info.opt_cost):,} FLOPs instead of "
          f"{int(info.naive_cost):,} for one loop over i, j, k, l")
    ours = _median_time(lambda: tc.einsum(spec, *ops), repeat=5)
    naive = _median_time(lambda: np.einsum(spec, *ops, optimize=False), repeat=5)
    same = np.allclose(tc.einsum(spec, *ops), np.einsum(spec, *ops, optimize=False))
    print(f"   tensorcalc.einsum (planned)   {ours * 1e3:8.3f} ms")
    print(f"   numpy.einsum(optimize=False)  {naive * 1e3:8.3f} ms   "
          f"({_versus(ours, naive)})")
    print(f"   same result: {same}")


SECTIONS: dict[str, Callable[[], None]] = {
    "gradients": section_gradients,
    "network": section_network,
    "least-squares": section_least_squares,
    "contraction": section_contraction,
    "planner": section_planner,
}


def run(sections: Sequence[str] | None = None) -> int:
    """Run the tour (all sections by default); returns 0 (missing features are reported)."""
    print("tensorcalc demo: tensor calculus in einsum notation")
    for name in sections or list(SECTIONS):
        try:
            SECTIONS[name]()
        except Exception as err:  # noqa: BLE001 -- a tour must survive a missing feature
            # A feature of this section is missing or broken in this build: say so, go on.
            print(f"   (section '{name}' skipped: {type(err).__name__}: {err})")
    print("\nMore: tensorcalc grad --explain \"ij,jk->ik\"; "
          "tensorcalc diff \"sum((A[i,j] x[j] - b[i])^2)\" --wrt x --explain")
    return 0
