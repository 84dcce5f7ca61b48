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

# The tensorcalc functions the tc worker needs (design.md's public API).
_TC_API = ("var", "einsum", "sum", "log", "exp", "tanh", "grad", "hessian", "jacobian", "compile")


# --------------------------------------------------------------------------- the problems
# Each family gives: its inputs (the variable differentiated first), the closed forms, the
# function written once for any array namespace (jax.numpy or torch), and its tensorcalc form.


def _quadratic_inputs(rng: np.random.Generator, n: int) -> dict:
    return {"x": rng.standard_normal(n), "A": rng.standard_normal((n, n))}


def _quadratic_hessian(x: np.ndarray, A: np.ndarray) -> np.ndarray:
    return A + A.T


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


def _lstsq_fn(xp: Any) -> Callable:
    return lambda x, A, b: xp.sum((A @ x - b) ** 2)


def _lstsq_tc(tc: Any, x: np.ndarray, A: np.ndarray, b: np.ndarray) -> tuple[Any, Any]:
    xv, Av, bv = tc.var("x", x.shape), tc.var("A", A.shape), tc.var("b", b.shape)
    return tc.sum((tc.einsum("ij,j->i", Av, xv) - bv) ** 2), xv


@dataclass(frozen=True)
class Family:
    """A function to differentiate, written for every library, and its closed forms."""

    inputs: Callable[..., dict]
    closed: dict  # derivative kind -> closed form taking the inputs as keywords
    xp_fn: Callable[[Any], Callable]
    tc_fn: Callable[..., tuple[Any, Any]]


FAMILIES = {
    "quadratic": Family(_quadratic_inputs, {"hessian": _quadratic_hessian},
                        _quadratic_fn, _quadratic_tc),
    "logistic": Family(_logistic_inputs, {"hessian": _logistic_hessian},
                       _logistic_fn, _logistic_tc),
    "matfac": Family(_matfac_inputs, {"grad": _matfac_grad, "hessian": _matfac_hessian},
                     _matfac_fn, _matfac_tc),
    "mlp": Family(_mlp_inputs, {"jacobian": _mlp_jacobian}, _mlp_fn, _mlp_tc),
    "lstsq": Family(_lstsq_inputs, {"grad": _lstsq_grad}, _lstsq_fn, _lstsq_tc),
}


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
             "torch": _torch_prepare}
LIBS = list(PREPARERS)
PEERS = {"numpy": "closed", "jax": "jax", "torch": "torch"}
COLUMNS = [("tc", "time", "tc"), ("tc", "cold", "tc cold"), ("numpy", "time", "closed"),
           ("jax", "time", "jax"), ("jax", "cold", "jax compile"), ("torch", "time", "torch"),
           ("torch", "cold", "torch 1st")]


def run_problem(lib: str, prepare: Callable, problem: Problem, budget: h.Budget) -> dict:
    """Derive, check against the closed form, then time one library on one problem."""
    inputs = problem.inputs(budget.quick)
    reference = problem.closed_form(inputs)
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
    h.emit_version("tensorcalc" if lib == "tc" else lib)
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
    return [f"tc at or below the best peer on {wins}/{compared} problems,"
            f" at or below jax.jit on {jax_wins}/{jax_compared}"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite (or, with --worker, one library of it); returns the exit code."""
    args = h.common_arguments(__doc__.splitlines()[0], PROBLEM_NAMES, LIBS).parse_args(argv)
    problems = [PROBLEMS[PROBLEM_NAMES.index(n)] for n in h.pick(args.cases, PROBLEM_NAMES, "case")]
    if args.worker is not None:
        worker(args.worker, problems, h.Budget.from_args(args))
        return 0
    libs = h.pick(args.libs, LIBS, "library")
    results = h.run_suite(str(Path(__file__).resolve()), args, [p.name for p in problems], libs)
    lines = [table(results, problems, args), *summary(results, problems)]
    return h.finish(args, "derivatives", results, lines)


if __name__ == "__main__":
    sys.exit(main())
