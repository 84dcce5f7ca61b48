"""Derivative benchmark: tensorcalc's compiled derivatives against closed forms, JAX and torch.

    python bench/derivatives.py                    # every problem, every library
    python bench/derivatives.py --quick            # tiny sizes, 3 repeats (smoke test)
    python bench/derivatives.py --cases quadratic-256 --libs numpy,jax

Per problem the table shows the warm time of each derivative and its cold cost:
``tc`` calls the callable of ``tc.compile([derivative])``; ``tc cold`` is building the
derivative (``tc.hessian`` / ``tc.grad`` / ``tc.jacobian``), compiling it and the first call.
``closed`` is the closed form written by hand in numpy. ``jax`` is ``jax.jit`` of
``jax.hessian`` / ``jax.grad`` / ``jax.jacrev`` and ``jax compile`` its trace + compile time.
``torch`` is ``torch.func.hessian`` / ``grad`` / ``jacrev`` and ``torch 1st`` its first call.
``tc/best`` divides the warm tc time by the best warm peer.
A second table times deriving (``tc.grad``, ``tc.hessian``) against the depth of a chain
``u = t @ M; t = u * cos(u)`` (``--depths``; it runs with the ``tc`` library).
``tc grad`` and ``tc hvp`` (the libraries ``tc-grad`` and ``tc-hvp``) time the compiled gradient
and Hessian-vector product (``tc.hvp``, its direction a variable) of each problem's scalar
function, against ``grad`` and ``hessian @ v`` in closed form; the lines under the table
give ``hvp/grad``, the HVP's time in gradients.

Each library runs in its own process and checks its derivative against the closed form on the
same inputs (fixed seed) before timing; a mismatch is printed loudly. Timing is adaptive
(about ``--target`` seconds per problem and library), spread over ``--rounds`` passes in which
the libraries take turns; the table shows the median of the pooled samples. The machine this usually
runs on (2 vCPU, shared with other jobs) is noisy: compare the ratios, not the absolute times.
No environment variable that changes BLAS kernels or thread counts is set here, on purpose.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

if __package__ in (None, ""):  # run as a script: make `bench` and `tensorcalc` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from bench import _harness as h

# Relative to the largest entry of the closed form; reassociated float64 sums of a few
# thousand terms stay far below it.
_TOLERANCE = 1e-8

# The tensorcalc functions the tc worker needs (the public API).
_TC_API = ("var", "einsum", "sum", "log", "exp", "tanh", "grad", "hessian", "jacobian", "compile")


# --------------------------------------------------------------------------- the problems
# Each family gives: its inputs (the variable differentiated first), the closed forms, the
# function written once for any array namespace (jax.numpy or torch), and its tensorcalc form.


def _quadratic_inputs(rng: np.random.Generator, n: int) -> dict:
    return {"x": rng.standard_normal(n), "A": rng.standard_normal((n, n))}


def _quadratic_hessian(x: np.ndarray, A: np.ndarray) -> np.ndarray:
    return A + A.T


def _quadratic_grad(x: np.ndarray, A: np.ndarray) -> np.ndarray:
    return (A + A.T) @ x


def _quadratic_fn(xp: Any) -> Callable:
    return lambda x, A: x @ A @ x


def _quadratic_tc(tc: Any, x: np.ndarray, A: np.ndarray) -> tuple[Any, Any]:
    xv, Av = tc.var("x", x.shape), tc.var("A", A.shape)
    return tc.einsum("i,ij,j->", xv, Av, xv), xv


def _logistic_inputs(rng: np.random.Generator, m: int, n: int) -> dict:
    # w ~ 1/sqrt(n) keeps y * Xw of order one, where log(1 + exp(-z)) is well conditioned.
    return {"w": rng.standard_normal(n) / np.sqrt(n), "X": rng.standard_normal((m, n)),
            "y": rng.choice([-1.0, 1.0], size=m)}


def _logistic_hessian(w: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    # d²/dz² log(1 + exp(-z)) = s (1 - s) with s = sigmoid(z), z = y * Xw, dz/dw = y X.
    s = 1.0 / (1.0 + np.exp(-y * (X @ w)))
    weights = y * y * s * (1.0 - s)
    return (X * weights[:, None]).T @ X


def _logistic_grad(w: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    s = 1.0 / (1.0 + np.exp(-y * (X @ w)))
    return -X.T @ (y * (1.0 - s))


def _logistic_fn(xp: Any) -> Callable:
    return lambda w, X, y: xp.sum(xp.log(1 + xp.exp(-y * (X @ w))))


def _logistic_tc(tc: Any, w: np.ndarray, X: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
    wv, Xv, yv = tc.var("w", w.shape), tc.var("X", X.shape), tc.var("y", y.shape)
    z = yv * tc.einsum("ij,j->i", Xv, wv)
    return tc.sum(tc.log(1 + tc.exp(-z))), wv


def _matfac_inputs(rng: np.random.Generator, m: int, n: int, k: int) -> dict:
    return {"U": rng.standard_normal((m, k)), "T": rng.standard_normal((m, n)),
            "V": rng.standard_normal((n, k))}


def _matfac_grad(U: np.ndarray, T: np.ndarray, V: np.ndarray) -> np.ndarray:
    return 2.0 * (U @ V.T - T) @ V


def _matfac_hessian(U: np.ndarray, T: np.ndarray, V: np.ndarray) -> np.ndarray:
    # H[i, a, j, b] = 2 δ_ij (VᵀV)_ab: zero except on the diagonal blocks i == j.
    m, k = U.shape
    hessian = np.zeros((m, k, m, k))
    rows = np.arange(m)
    hessian[rows, :, rows, :] = 2.0 * (V.T @ V)
    return hessian


def _matfac_fn(xp: Any) -> Callable:
    return lambda U, T, V: xp.sum((T - U @ V.T) ** 2)


def _matfac_tc(tc: Any, U: np.ndarray, T: np.ndarray, V: np.ndarray) -> tuple[Any, Any]:
    Uv, Tv, Vv = tc.var("U", U.shape), tc.var("T", T.shape), tc.var("V", V.shape)
    return tc.sum((Tv - tc.einsum("ik,jk->ij", Uv, Vv)) ** 2), Uv


def _mlp_inputs(rng: np.random.Generator, m: int, n: int) -> dict:
    return {"W": rng.standard_normal((m, n)) / np.sqrt(n), "x": rng.standard_normal(n),
            "b": rng.standard_normal(m)}


def _mlp_jacobian(W: np.ndarray, x: np.ndarray, b: np.ndarray) -> np.ndarray:
    # J[i, j, l] = δ_ij (1 - y_i²) x_l with y = tanh(W x + b): only the diagonal i == j.
    m, n = W.shape
    y = np.tanh(W @ x + b)
    jacobian = np.zeros((m, m, n))
    rows = np.arange(m)
    jacobian[rows, rows, :] = (1.0 - y * y)[:, None] * x[None, :]
    return jacobian


def _mlp_fn(xp: Any) -> Callable:
    return lambda W, x, b: xp.tanh(W @ x + b)


def _mlp_tc(tc: Any, W: np.ndarray, x: np.ndarray, b: np.ndarray) -> tuple[Any, Any]:
    Wv, xv, bv = tc.var("W", W.shape), tc.var("x", x.shape), tc.var("b", b.shape)
    return tc.tanh(tc.einsum("ij,j->i", Wv, xv) + bv), Wv


def _lstsq_inputs(rng: np.random.Generator, m: int, n: int) -> dict:
    return {"x": rng.standard_normal(n), "A": rng.standard_normal((m, n)),
            "b": rng.standard_normal(m)}


def _lstsq_grad(x: np.ndarray, A: np.ndarray, b: np.ndarray) -> np.ndarray:
    return 2.0 * A.T @ (A @ x - b)


def _lstsq_hessian(x: np.ndarray, A: np.ndarray, b: np.ndarray) -> np.ndarray:
    return 2.0 * A.T @ A


def _lstsq_fn(xp: Any) -> Callable:
    return lambda x, A, b: xp.sum((A @ x - b) ** 2)


def _lstsq_tc(tc: Any, x: np.ndarray, A: np.ndarray, b: np.ndarray) -> tuple[Any, Any]:
    xv, Av, bv = tc.var("x", x.shape), tc.var("A", A.shape), tc.var("b", b.shape)
    return tc.sum((tc.einsum("ij,j->i", Av, xv) - bv) ** 2), xv


# Cases of the issue "never asymptotically slower than the closed form": each closed form
# is what a careful hand would write; the derivative tc builds must stay within a constant.


def _outer_inputs(rng: np.random.Generator, n: int) -> dict:
    return {"x": rng.standard_normal(n), "A": rng.standard_normal((n, n)),
            "B": rng.standard_normal((n, n))}


def _outer_jacobian(x: np.ndarray, A: np.ndarray, B: np.ndarray) -> np.ndarray:
    # Y = (Ax)(Bx)^T: dY_ij/dx_k = A_ik (Bx)_j + (Ax)_i B_jk, n^3 (never the n^4 of
    # x_l (A_ik B_jl + A_il B_jk)).
    return np.einsum("ik,j->ijk", A, B @ x) + np.einsum("i,jk->ijk", A @ x, B)


def _outer_fn(xp: Any) -> Callable:
    return lambda x, A, B: xp.outer(A @ x, B @ x)


def _outer_tc(tc: Any, x: np.ndarray, A: np.ndarray, B: np.ndarray) -> tuple[Any, Any]:
    xv, Av, Bv = tc.var("x", x.shape), tc.var("A", A.shape), tc.var("B", B.shape)
    return tc.einsum("i,j->ij", tc.einsum("ij,j->i", Av, xv), tc.einsum("ij,j->i", Bv, xv)), xv


def _symnorm_inputs(rng: np.random.Generator, n: int) -> dict:
    s = rng.standard_normal((n, n))
    return {"S": (s + s.T) / 2, "x": rng.standard_normal(n)}


def _symnorm_grad(S: np.ndarray, x: np.ndarray) -> np.ndarray:
    # d |Sx|^2 / dS for a symmetric S: the symmetric part of 2 (Sx) x^T.
    sx = S @ x
    return np.outer(sx, x) + np.outer(x, sx)


def _symnorm_fn(xp: Any) -> Callable:
    # S enters through its symmetric part, so that every library's gradient is the symmetric
    # one tc returns for a variable declared symmetric.
    return lambda S, x: xp.sum((((S + S.T) / 2) @ x) ** 2)


def _symnorm_tc(tc: Any, S: np.ndarray, x: np.ndarray) -> tuple[Any, Any]:
    Sv, xv = tc.var("S", S.shape, symmetric=True), tc.var("x", x.shape)
    return tc.sum(tc.einsum("ij,j->i", Sv, xv) ** 2), Sv


def _softmax_inputs(rng: np.random.Generator, m: int, n: int, k: int) -> dict:
    return {"W": rng.standard_normal((n, k)) / np.sqrt(n), "X": rng.standard_normal((m, n)),
            "Y": np.eye(k)[rng.integers(0, k, m)]}


def _softmax_grad(W: np.ndarray, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
    Z = X @ W
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    return X.T @ (P / P.sum(axis=1, keepdims=True) - Y)


def _softmax_fn(xp: Any) -> Callable:
    # Cross-entropy of softmax(XW) against one-hot rows Y; the logits stay of order one.
    return lambda W, X, Y: (xp.sum(xp.log(xp.sum(xp.exp(X @ W), axis=1)))
                            - xp.sum(Y * (X @ W)))


def _softmax_tc(tc: Any, W: np.ndarray, X: np.ndarray, Y: np.ndarray) -> tuple[Any, Any]:
    Wv, Xv, Yv = tc.var("W", W.shape), tc.var("X", X.shape), tc.var("Y", Y.shape)
    Z = tc.einsum("ij,jk->ik", Xv, Wv)
    return tc.sum(tc.logsumexp(Z, axis=1)) - tc.sum(Yv * Z), Wv


def _mlp2_inputs(rng: np.random.Generator, n: int, hidden: int, p: int) -> dict:
    return {"x": rng.standard_normal(n), "W1": rng.standard_normal((hidden, n)) / np.sqrt(n),
            "b": rng.standard_normal(hidden), "W2": rng.standard_normal((p, hidden)) / np.sqrt(hidden),
            "t": rng.standard_normal(p)}


def _mlp2_parts(x, W1, b, W2, t):
    a = np.tanh(W1 @ x + b)
    d1 = 1.0 - a * a                 # tanh'
    return a, d1, -2.0 * a * d1, W2 @ a - t  # tanh'' and the residual


def _mlp2_grad(x: np.ndarray, W1: np.ndarray, b: np.ndarray, W2: np.ndarray,
               t: np.ndarray) -> np.ndarray:
    _, d1, _, r = _mlp2_parts(x, W1, b, W2, t)
    return W1.T @ (d1 * (W2.T @ r))


def _mlp2_hessian(x: np.ndarray, W1: np.ndarray, b: np.ndarray, W2: np.ndarray,
                  t: np.ndarray) -> np.ndarray:
    # f = |W2 tanh(W1 x + b) - t|^2 / 2: H = J^T J + W1^T diag(tanh'' W2^T r) W1, J = W2 D W1.
    _, d1, d2, r = _mlp2_parts(x, W1, b, W2, t)
    J = (W2 * d1) @ W1
    return J.T @ J + (W1.T * (d2 * (W2.T @ r))) @ W1


def _mlp2_fn(xp: Any) -> Callable:
    return lambda x, W1, b, W2, t: 0.5 * xp.sum((W2 @ xp.tanh(W1 @ x + b) - t) ** 2)


def _mlp2_tc(tc: Any, x: np.ndarray, W1: np.ndarray, b: np.ndarray, W2: np.ndarray,
             t: np.ndarray) -> tuple[Any, Any]:
    xv, W1v, bv = tc.var("x", x.shape), tc.var("W1", W1.shape), tc.var("b", b.shape)
    W2v, tv = tc.var("W2", W2.shape), tc.var("t", t.shape)
    hidden = tc.tanh(tc.einsum("ij,j->i", W1v, xv) + bv)
    return 0.5 * tc.sum((tc.einsum("ij,j->i", W2v, hidden) - tv) ** 2), xv


@dataclass(frozen=True)
class Family:
    """A function to differentiate, written for every library, and its closed forms."""

    inputs: Callable[..., dict]
    closed: dict  # derivative kind -> closed form taking the inputs as keywords
    xp_fn: Callable[[Any], Callable]
    tc_fn: Callable[..., tuple[Any, Any]]


FAMILIES = {
    "quadratic": Family(_quadratic_inputs, {"grad": _quadratic_grad, "hessian": _quadratic_hessian},
                        _quadratic_fn, _quadratic_tc),
    "logistic": Family(_logistic_inputs, {"grad": _logistic_grad, "hessian": _logistic_hessian},
                       _logistic_fn, _logistic_tc),
    "matfac": Family(_matfac_inputs, {"grad": _matfac_grad, "hessian": _matfac_hessian},
                     _matfac_fn, _matfac_tc),
    "mlp": Family(_mlp_inputs, {"jacobian": _mlp_jacobian}, _mlp_fn, _mlp_tc),
    "lstsq": Family(_lstsq_inputs, {"grad": _lstsq_grad, "hessian": _lstsq_hessian},
                    _lstsq_fn, _lstsq_tc),
}
FAMILIES.update({
    "outer": Family(_outer_inputs, {"jacobian": _outer_jacobian}, _outer_fn, _outer_tc),
    "symnorm": Family(_symnorm_inputs, {"grad": _symnorm_grad}, _symnorm_fn, _symnorm_tc),
    "softmax": Family(_softmax_inputs, {"grad": _softmax_grad}, _softmax_fn, _softmax_tc),
    "mlp2": Family(_mlp2_inputs, {"grad": _mlp2_grad, "hessian": _mlp2_hessian}, _mlp2_fn,
                   _mlp2_tc),
})


@dataclass(frozen=True)
class Problem:
    """One row: a family, the derivative taken (grad, hessian, jacobian) and the sizes."""

    name: str
    family: str
    kind: str
    sizes: tuple[int, ...]
    quick_sizes: tuple[int, ...]

    def inputs(self, quick: bool) -> dict:
        rng = np.random.default_rng(h.SEED)
        return FAMILIES[self.family].inputs(rng, *(self.quick_sizes if quick else self.sizes))

    def closed_form(self, inputs: dict) -> np.ndarray:
        return FAMILIES[self.family].closed[self.kind](**inputs)

    def detail(self, quick: bool = False) -> str:
        return f"{self.kind} {'x'.join(map(str, self.quick_sizes if quick else self.sizes))}"


PROBLEMS: list[Problem] = [
    *(Problem(f"quadratic-{n}", "quadratic", "hessian", (n,), (6,)) for n in (256, 1024, 2048)),
    *(Problem(f"logistic-{m}x{n}", "logistic", "hessian", (m, n), (12, 5))
      for m, n in ((2048, 256), (4096, 1024))),
    *(Problem(f"matfac-{kind[:4]}-{m}", "matfac", kind, (m, n, k), (6, 5, 3))
      for m, n, k in ((128, 128, 8), (256, 256, 16)) for kind in ("grad", "hessian")),
    Problem("mlp-jac-256x512", "mlp", "jacobian", (256, 512), (4, 6)),
    Problem("lstsq-grad-4096x1024", "lstsq", "grad", (4096, 1024), (10, 4)),
    *(Problem(f"outer-jac-{n}", "outer", "jacobian", (n,), (5,)) for n in (60, 120)),
    *(Problem(f"symnorm-grad-{n}", "symnorm", "grad", (n,), (5,)) for n in (200, 1000)),
    Problem("softmax-grad-4096x256x10", "softmax", "grad", (4096, 256, 10), (12, 5, 3)),
    Problem("mlp2-hess-256x512x64", "mlp2", "hessian", (256, 512, 64), (5, 6, 3)),
]
PROBLEM_NAMES = [problem.name for problem in PROBLEMS]


# --------------------------------------------------------------------------- workers


class Prepared(NamedTuple):
    """What a worker's ``prepare(problem, inputs)`` returns.

    ``call`` is what gets timed; ``cold`` (derive, compile, or first call) is reported beside
    it; ``value``, when the cold step already computed the derivative, is checked instead of
    calling once more (a torch Hessian of the larger matrix factorisation takes seconds).
    """

    cold: float | None
    call: Callable[[], Any]
    to_numpy: Callable[[Any], np.ndarray]
    value: Any = None


def _closed_prepare() -> Callable[[Problem, dict], Prepared]:
    def prepare(problem: Problem, inputs: dict) -> Prepared:
        return Prepared(None, lambda: problem.closed_form(inputs), np.asarray)
    return prepare


def _tc_prepare(tc: Any = None) -> Callable[[Problem, dict], Prepared]:
    """``tc`` defaults to the tensorcalc package; tests may pass any namespace with its API."""
    if tc is None:
        import tensorcalc as tc

    missing = [name for name in _TC_API if not hasattr(tc, name)]
    if missing:
        names = ", ".join(f"tc.{name}" for name in missing)
        raise ImportError(f"not available: tensorcalc has no {names}")

    def prepare(problem: Problem, inputs: dict) -> Prepared:
        function, wrt = FAMILIES[problem.family].tc_fn(tc, **inputs)

        def derive_compile_call() -> tuple[Callable, Any]:
            derivative = getattr(tc, problem.kind)(function, wrt)
            fn = tc.compile([derivative])
            return fn, fn(**inputs)

        cold, (fn, value) = h.time_once(derive_compile_call)
        return Prepared(cold, lambda: fn(**inputs), _first_output, value)
    return prepare


# The tc-grad and tc-hvp columns: the gradient and the HVP of the problem's function (scalar
# families only), checked against the closed gradient and the closed Hessian times ``v``.
_SCALAR_KINDS = {"tc-grad": "grad", "tc-hvp": "hvp"}


def _hvp_direction(inputs: dict) -> np.ndarray:
    """The fixed direction ``v`` of the HVP, shaped like the variable differentiated."""
    first = next(iter(inputs.values()))
    return np.random.default_rng(h.SEED + 1).standard_normal(first.shape)


def _reference(lib: str, problem: Problem, inputs: dict) -> np.ndarray:
    closed = FAMILIES[problem.family].closed
    if _SCALAR_KINDS.get(lib) == "grad":
        return closed["grad"](**inputs)
    if _SCALAR_KINDS.get(lib) == "hvp":
        v = _hvp_direction(inputs)
        return np.tensordot(closed["hessian"](**inputs), v, axes=v.ndim)
    return problem.closed_form(inputs)


def _tc_scalar_prepare(kind: str) -> Callable[[], Callable[[Problem, dict], Prepared]]:
    def factory() -> Callable[[Problem, dict], Prepared]:
        import tensorcalc as tc

        if not hasattr(tc, kind):
            raise ImportError(f"not available: tensorcalc has no tc.{kind}")

        def prepare(problem: Problem, inputs: dict) -> Prepared:
            function, wrt = FAMILIES[problem.family].tc_fn(tc, **inputs)
            args = {**inputs, "hvp_v": _hvp_direction(inputs)} if kind == "hvp" else inputs

            def derive_compile_call() -> tuple[Callable, Any]:
                derivative = (tc.hvp(function, wrt, tc.var("hvp_v", wrt.shape)) if kind == "hvp"
                              else tc.grad(function, wrt))
                fn = tc.compile([derivative])
                return fn, fn(**args)

            cold, (fn, value) = h.time_once(derive_compile_call)
            return Prepared(cold, lambda: fn(**args), _first_output, value)
        return prepare
    return factory


def _first_output(value: Any) -> np.ndarray:
    """``tc.compile([d])`` returns one value per expression: a list or tuple of one here."""
    if isinstance(value, (list, tuple)):
        value = value[0]
    return np.asarray(value)


def _jax_prepare() -> Callable[[Problem, dict], Prepared]:
    import jax

    jax.config.update("jax_enable_x64", True)  # float64, as every other column
    import jax.numpy as jnp

    transforms = {"hessian": jax.hessian, "grad": jax.grad, "jacobian": jax.jacrev}

    def prepare(problem: Problem, inputs: dict) -> Prepared:
        args = [jnp.asarray(v) for v in inputs.values()]
        derivative = transforms[problem.kind](FAMILIES[problem.family].xp_fn(jnp))
        cold, compiled = h.time_once(lambda: jax.jit(derivative).lower(*args).compile())
        return Prepared(cold, lambda: compiled(*args).block_until_ready(), np.asarray)
    return prepare


def _torch_prepare() -> Callable[[Problem, dict], Prepared]:
    import torch
    import torch.func

    transforms = {"hessian": torch.func.hessian, "grad": torch.func.grad,
                  "jacobian": torch.func.jacrev}

    def prepare(problem: Problem, inputs: dict) -> Prepared:
        args = [torch.from_numpy(v) for v in inputs.values()]
        derivative = transforms[problem.kind](FAMILIES[problem.family].xp_fn(torch))
        cold, value = h.time_once(lambda: derivative(*args))
        return Prepared(cold, lambda: derivative(*args), lambda t: t.detach().numpy(), value)
    return prepare


PREPARERS = {"tc": _tc_prepare, "numpy": _closed_prepare, "jax": _jax_prepare,
             "torch": _torch_prepare, "tc-grad": _tc_scalar_prepare("grad"),
             "tc-hvp": _tc_scalar_prepare("hvp")}
LIBS = list(PREPARERS)
PEERS = {"numpy": "closed", "jax": "jax", "torch": "torch"}
COLUMNS = [("tc", "time", "tc"), ("tc", "cold", "tc cold"), ("numpy", "time", "closed"),
           ("jax", "time", "jax"), ("jax", "cold", "jax compile"), ("torch", "time", "torch"),
           ("torch", "cold", "torch 1st"), ("tc-grad", "time", "tc grad"),
           ("tc-hvp", "time", "tc hvp")]


def run_problem(lib: str, prepare: Callable, problem: Problem, budget: h.Budget) -> dict:
    """Derive, check against the closed form, then time one library on one problem."""
    inputs = problem.inputs(budget.quick)
    if lib in _SCALAR_KINDS and "hessian" not in FAMILIES[problem.family].closed:
        return h.entry(error="skip: not a scalar function")
    with h.reference_blas():
        reference = _reference(lib, problem, inputs)
    try:
        prepared = prepare(problem, inputs)
        if prepared.value is None:
            first, value = h.time_once(prepared.call)  # also the warm-up
        else:  # the cold step included a first call: it serves as the warm-up
            first, value = prepared.cold, prepared.value
        error = h.relative_error(prepared.to_numpy(value), reference)
    except Exception as err:  # one failing problem must not hide the others
        return h.entry(error=f"{type(err).__name__}: {err}")
    if not error <= _TOLERANCE:
        return h.entry(mismatch=h.report_mismatch(lib, problem.name, error), rel_error=error)
    return h.entry(budget.measure(prepared.call, first), cold=prepared.cold, rel_error=error)


def worker(lib: str, problems: Sequence[Problem], budget: h.Budget) -> None:
    """Run in the library's own process; prints one BENCH-RESULT line per case."""
    try:
        prepare = PREPARERS[lib]()
    except Exception as err:  # ImportError, a missing tc API, or a broken install
        h.emit_unavailable(f"{type(err).__name__}: {err}")
        return
    h.emit_version("tensorcalc" if lib.startswith("tc") else lib)
    for problem in problems:
        h.emit_cell(problem.name, run_problem(lib, prepare, problem, budget))


# --------------------------------------------------------------------------- parent


def table(results: Sequence[h.WorkerResult], problems: Sequence[Problem],
          args: argparse.Namespace) -> str:
    rows = [(problem.name, problem.detail(args.quick)) for problem in problems]
    return h.suite_table(h.title("Derivatives", args), rows, "derivative", results, COLUMNS,
                         PEERS, ["tc"])


def summary(results: Sequence[h.WorkerResult], problems: Sequence[Problem]) -> list[str]:
    """How often the compiled tc derivative is at least as fast as every peer, and vs JAX."""
    by_lib = {r.lib: r for r in results}
    wins = compared = jax_wins = jax_compared = 0
    for problem in problems:
        ours = h.our_time(by_lib, problem.name, ["tc"])
        _, best = h.best_time(by_lib, problem.name, list(PEERS))
        _, jax_time = h.best_time(by_lib, problem.name, ["jax"])
        if ours is not None and best is not None:
            compared, wins = compared + 1, wins + (ours <= best)
        if ours is not None and jax_time is not None:
            jax_compared, jax_wins = jax_compared + 1, jax_wins + (ours <= jax_time)
    lines = [f"tc at or below the best peer on {wins}/{compared} problems,"
             f" at or below jax.jit on {jax_wins}/{jax_compared}"]
    ratios = [(problem.name, h.cell_time(by_lib[lib], problem.name) if lib in by_lib else None)
              for problem in problems for lib in ("tc-hvp", "tc-grad")]
    hvp_grad = [(name, hvp / grad) for (name, hvp), (_, grad) in zip(ratios[::2], ratios[1::2])
                if hvp is not None and grad]
    if hvp_grad:
        lines.append("tc hvp/grad: " + ", ".join(f"{name} {r:.2f}" for name, r in hvp_grad)
                     + f" (max {max(r for _, r in hvp_grad):.2f})")
    return lines


# --------------------------------------------------------------------------- derive time
# How the cost of *deriving* grows with the program: the chain u = t @ M; t = u * cos(u)
# repeated on a 3-vector (M a 3x3 variable), its Hessian with respect to the first t. The
# result grows linearly with the depth, and so must the time to derive and simplify it.

DEPTH_WORKER = "tc-depth"
DEPTHS = (4, 8, 16, 32, 64)
QUICK_DEPTHS = (4, 8)


def _chain(tc: Any, steps: int) -> tuple[Any, Any]:
    t0, M = tc.var("t", (3,)), tc.var("M", (3, 3))
    t = t0
    for _ in range(steps):
        u = tc.einsum("i,ij->j", t, M)
        t = u * tc.cos(u)
    return tc.sum(t), t0


def depth_worker(cases: Sequence[str], quick: bool) -> None:
    """Time ``tc.grad`` and ``tc.hessian`` of the chain at each depth (best of 3 runs)."""
    try:
        import tensorcalc as tc
    except Exception as err:
        h.emit_unavailable(f"{type(err).__name__}: {err}")
        return
    from tensorcalc.ir import topological

    h.emit_version("tensorcalc")
    tc.hessian(*_chain(tc, 2))  # warm up: imports, first plans
    for case in cases:
        f, t0 = _chain(tc, int(case.rsplit("-", 1)[1]))
        grad = min(h.time_once(lambda: tc.grad(f, t0))[0] for _ in range(1 if quick else 3))
        hess, H = h.time_once(lambda: tc.hessian(f, t0))
        for _ in range(0 if quick else 2):
            hess = min(hess, h.time_once(lambda: tc.hessian(f, t0))[0])
        h.emit_cell(case, h.entry(time=hess, grad=grad, nodes=len(topological([H]))))


def depth_table(result: h.WorkerResult, depths: Sequence[int]) -> str:
    rows, previous = [], None
    for depth in depths:
        cell = result.cells.get(f"chain-{depth}") or {}
        hess = cell.get("time")
        growth = h.ratio_text(hess, previous[1]) if previous else ""
        if previous:
            growth = f"{growth} (x{depth // previous[0]} steps)"
        rows.append([str(depth), h.cell_text(result, f"chain-{depth}", "grad"),
                     h.cell_text(result, f"chain-{depth}"), str(cell.get("nodes", "n/a")),
                     h.format_time(hess / depth) if hess else "n/a", growth])
        previous = (depth, hess)
    return h.render_table(
        "Derive time against depth: u = t @ M; t = u * cos(u) on a 3-vector, derivatives "
        "wrt the first t (best of 3 runs; 1 with --quick)",
        ["steps", "tc.grad", "tc.hessian", "hessian nodes", "hessian/step", "growth"], rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite (or, with --worker, one library of it); returns the exit code."""
    parser = h.common_arguments(__doc__.splitlines()[0], PROBLEM_NAMES, LIBS)
    parser.add_argument("--depths", default=None,
                        help="chain depths of the derive-time table (default 4,8,16,32,64; "
                             "'' for none); run with the tc library")
    args = parser.parse_args(argv)
    if args.worker == DEPTH_WORKER:
        depth_worker(args.cases.split(","), args.quick)
        return 0
    problems = [PROBLEMS[PROBLEM_NAMES.index(n)] for n in h.pick(args.cases, PROBLEM_NAMES, "case")]
    if args.worker is not None:
        worker(args.worker, problems, h.Budget.from_args(args))
        return 0
    libs = h.pick(args.libs, LIBS, "library")
    results = h.run_suite(str(Path(__file__).resolve()), args, [p.name for p in problems], libs)
    lines = [table(results, problems, args), *summary(results, problems)]
    depths = (QUICK_DEPTHS if args.quick else DEPTHS) if args.depths is None else [
        int(d) for d in args.depths.split(",") if d.strip()]
    if depths and "tc" in libs:
        print(f"running {DEPTH_WORKER} ...", file=sys.stderr, flush=True)
        depth = h.run_worker(str(Path(__file__).resolve()), DEPTH_WORKER,
                             [f"chain-{d}" for d in depths], ["--quick"] if args.quick else [],
                             args.timeout)
        results = [*results, depth]
        lines += ["", depth_table(depth, depths)]
    return h.finish(args, "derivatives", results, lines)


if __name__ == "__main__":
    sys.exit(main())
