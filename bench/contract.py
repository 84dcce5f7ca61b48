"""Contraction benchmark: tensorcalc against numpy, opt_einsum, torch and JAX (float64).

    python bench/contract.py                       # the whole suite, every library
    python bench/contract.py --quick               # tiny sizes, 3 repeats (smoke test)
    python bench/contract.py --cases matmul,trace --libs numpy-opt,oe-expr,tc-expr
    python bench/contract.py --json results.json

Each library runs in its own process (torch's and XLA's thread pools disturb numpy's BLAS when
they share one). Every worker first checks its result against ``numpy.einsum`` on the same
inputs (fixed seed) and reports a mismatch loudly; then it times warm calls with an adaptive
repeat count (about ``--target`` seconds per case and library). The libraries take turns in
``--rounds`` passes and the table shows the median of the pooled samples, so that a burst of
load from other jobs does not land on one library only. The machine this usually runs on
(2 vCPU, shared with other jobs) is noisy: compare the ratios, not the absolute times. No
environment variable that changes BLAS kernels or thread counts is set here, on purpose.

Columns: ``np`` numpy.einsum(optimize=False), ``np-opt`` optimize=True, ``oe``
opt_einsum.contract, ``oe-expr`` a cached opt_einsum.contract_expression, ``torch``
torch.einsum, ``jax`` jax.jit(jnp.einsum), ``tc.einsum`` and ``tc.expr`` (a cached
tc.contract_expression). ``tc/best`` is tc.expr divided by the best peer.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

if __package__ in (None, ""):  # run as a script: make `bench` and `tensorcalc` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from bench import _harness as h

# numpy.einsum without optimize loops over every label at once: beyond this many index
# combinations one call takes minutes (MPS overlap: 4^4 * 256^6), so that cell is skipped.
_NAIVE_LIMIT = 5e9
# Relative to the largest entry of the reference; float64 sums of a few thousand products
# stay far below it, a float32 or a wrong result far above.
_TOLERANCE = 1e-9
_QUICK_SIZE = 4


@dataclass(frozen=True)
class Case:
    """One contraction of the suite: subscripts and the size of every label."""

    name: str
    subscripts: str
    sizes: dict

    def label_sizes(self, quick: bool) -> dict:
        if not quick:
            return self.sizes
        return {label: min(size, _QUICK_SIZE) for label, size in self.sizes.items()}

    def shapes(self, quick: bool = False) -> list[tuple[int, ...]]:
        sizes = self.label_sizes(quick)
        inputs = self.subscripts.split("->")[0].split(",")
        return [tuple(sizes[label] for label in term) for term in inputs]

    def arrays(self, quick: bool = False) -> list[np.ndarray]:
        rng = np.random.default_rng(h.SEED)
        return [rng.standard_normal(shape) for shape in self.shapes(quick)]

    def naive_cost(self, quick: bool = False) -> float:
        return float(math.prod(self.label_sizes(quick).values()))


def _sizes(labels: str, *values: int) -> dict:
    if len(values) == 1:
        values = values * len(labels)
    return dict(zip(labels, values))


_MPS = "pa,aqb,brc,cs,pA,AqB,BrC,Cs->"


def _mps_sizes(physical: int, bond: int) -> dict:
    return {**_sizes("pqrs", physical), **_sizes("abcABC", bond)}


CASES: list[Case] = [
    Case("matmul", "ij,jk->ik", _sizes("ijk", 1024)),
    Case("batched-matmul", "bij,bjk->bik", {"b": 64, **_sizes("ijk", 128)}),
    Case("chain3", "ij,jk,kl->il", _sizes("ijkl", 192)),
    Case("bilinear", "i,ij,j->", _sizes("ij", 2048)),
    Case("trace", "ii->", _sizes("i", 2048)),
    Case("diagonal", "ii->i", _sizes("i", 2048)),
    Case("hadamard-sum", "ij,ij->", _sizes("ij", 2048)),
    Case("hadamard-rowsum", "ij,ij->i", _sizes("ij", 2048)),
    Case("outer", "i,j->ij", _sizes("ij", 2048)),
    Case("batched-matvec", "bij,bj->bi", {"b": 1024, **_sizes("ij", 64)}),
    Case("transpose-contract", "abcd,cdef->afbe", {**_sizes("abef", 32), **_sizes("cd", 40)}),
    Case("three-operand", "ijk,jl,kl->il", {**_sizes("il", 192), **_sizes("jk", 96)}),
    Case("mps-overlap", _MPS, _mps_sizes(4, 256)),
    Case("attention-scores", "bhqd,bhkd->bhqk",
         {**_sizes("bh", 8), **_sizes("qk", 256), "d": 64}),
    Case("small-matmul", "ij,jk->ik", _sizes("ijk", 4)),
    Case("small-three-operand", "ijk,jl,kl->il", _sizes("ijkl", 3, 5, 6, 4)),
    Case("small-4index", "ea,fb,gc,hd,abcd->efgh", _sizes("abcdefgh", 4, 5, 6, 4, 3, 8, 2, 7)),
    Case("small-mps", _MPS, _mps_sizes(2, 8)),
]
CASE_NAMES = [case.name for case in CASES]

# column name in the table for every library a worker can run
LIBS = {
    "numpy": "np",
    "numpy-opt": "np-opt",
    "opt_einsum": "oe",
    "oe-expr": "oe-expr",
    "torch": "torch",
    "jax": "jax",
    "tc-einsum": "tc.einsum",
    "tc-expr": "tc.expr",
}
TC_LIBS = ("tc-einsum", "tc-expr")
MODULES = {"numpy": "numpy", "numpy-opt": "numpy", "opt_einsum": "opt_einsum",
           "oe-expr": "opt_einsum", "torch": "torch", "jax": "jax", "tc-einsum": "tensorcalc",
           "tc-expr": "tensorcalc"}
PEERS = tuple(lib for lib in LIBS if lib not in TC_LIBS)

# A runner takes (subscripts, arrays) and returns (call, to_numpy): `call` is what is timed.
Runner = Callable[[str, Sequence[np.ndarray]], tuple[Callable[[], Any], Callable[[Any], Any]]]


def _numpy_runner(optimize: bool) -> Runner:
    def make(subscripts, arrays):
        return (lambda: np.einsum(subscripts, *arrays, optimize=optimize)), np.asarray
    return make


def _opt_einsum_runner(cached: bool) -> Runner:
    import opt_einsum

    def make(subscripts, arrays):
        if cached:
            expr = opt_einsum.contract_expression(subscripts, *[a.shape for a in arrays])
            return (lambda: expr(*arrays)), np.asarray
        return (lambda: opt_einsum.contract(subscripts, *arrays)), np.asarray
    return make


def _torch_runner() -> Runner:
    import torch

    def make(subscripts, arrays):
        tensors = [torch.from_numpy(a) for a in arrays]
        return (lambda: torch.einsum(subscripts, *tensors)), lambda t: t.numpy()
    return make


def _jax_runner() -> Runner:
    import jax

    jax.config.update("jax_enable_x64", True)  # float64, as every other column
    import jax.numpy as jnp

    def make(subscripts, arrays):
        fn = jax.jit(partial(jnp.einsum, subscripts))
        device_arrays = [jnp.asarray(a) for a in arrays]
        return (lambda: fn(*device_arrays).block_until_ready()), np.asarray
    return make


def _tc_runner(cached: bool) -> Runner:
    import tensorcalc as tc

    def make(subscripts, arrays):
        if cached:
            expr = tc.contract_expression(subscripts, *[a.shape for a in arrays])
            return (lambda: expr(*arrays)), np.asarray
        return (lambda: tc.einsum(subscripts, *arrays)), np.asarray
    return make


RUNNERS: dict[str, Callable[[], Runner]] = {
    "numpy": partial(_numpy_runner, False),
    "numpy-opt": partial(_numpy_runner, True),
    "opt_einsum": partial(_opt_einsum_runner, False),
    "oe-expr": partial(_opt_einsum_runner, True),
    "torch": _torch_runner,
    "jax": _jax_runner,
    "tc-einsum": partial(_tc_runner, False),
    "tc-expr": partial(_tc_runner, True),
}


# --------------------------------------------------------------------------- worker


def run_case(lib: str, runner: Runner, case: Case, budget: h.Budget) -> dict:
    """Check one library on one case against numpy.einsum, then time it."""
    quick = budget.quick
    if lib == "numpy" and case.naive_cost(quick) > _NAIVE_LIMIT:
        return h.entry(error=f"skip: {case.naive_cost(quick):.1e} index combinations unoptimized")
    arrays = case.arrays(quick)
    reference = np.einsum(case.subscripts, *arrays, optimize=True)
    try:
        call, to_numpy = runner(case.subscripts, arrays)
        first, value = h.time_once(call)  # also the warm-up (and JAX's compile)
        error = h.relative_error(to_numpy(value), np.asarray(reference))
    except Exception as err:  # a peer failing on one case must not hide the others
        return h.entry(error=f"{type(err).__name__}: {err}")
    if not error <= _TOLERANCE:
        return h.entry(mismatch=h.report_mismatch(lib, case.name, error), rel_error=error)
    return h.entry(budget.measure(call, first), rel_error=error)


def worker(lib: str, cases: Sequence[Case], budget: h.Budget) -> None:
    """Run in the library's own process; prints one BENCH-RESULT line per case."""
    try:
        runner = RUNNERS[lib]()
    except Exception as err:  # ImportError, or a broken install failing in other ways
        h.emit_unavailable(f"{type(err).__name__}: {err}")
        return
    h.emit_version(MODULES[lib])
    for case in cases:
        h.emit_cell(case.name, run_case(lib, runner, case, budget))


# --------------------------------------------------------------------------- parent


def table(results: Sequence[h.WorkerResult], cases: Sequence[Case],
          args: argparse.Namespace) -> str:
    rows = [(case.name, case.subscripts) for case in cases]
    columns = [(lib, "time", label) for lib, label in LIBS.items()]
    return h.suite_table(h.title("Contractions", args), rows, "subscripts", results, columns,
                         {lib: LIBS[lib] for lib in PEERS}, ["tc-expr", "tc-einsum"])


def summary(results: Sequence[h.WorkerResult], cases: Sequence[Case]) -> list[str]:
    """The headline numbers: wins against the CPU bar, batched speedups, small-call overhead."""
    by_lib = {r.lib: r for r in results}

    def t(lib: str, case: str) -> float | None:
        return h.cell_time(by_lib[lib], case) if lib in by_lib else None

    names = [case.name for case in cases]
    wins, compared = 0, 0
    for name in names:
        tc_time = t("tc-expr", name)
        bar = [x for x in (t("numpy-opt", name), t("oe-expr", name)) if x is not None]
        if tc_time is None or not bar:
            continue
        compared += 1
        wins += tc_time <= min(bar)
    lines = [f"tc.expr at or below min(np-opt, oe-expr) on {wins}/{compared} cases"
             f" ({len(names)} run)"]
    speedups = [f"{name} {_speedup(t('oe-expr', name), t('tc-expr', name))}"
                f" (vs oe.contract {_speedup(t('opt_einsum', name), t('tc-expr', name))})"
                for name in ("batched-matmul", "attention-scores") if name in names]
    if speedups:
        lines.append("speedup of tc.expr vs cached opt_einsum: " + ", ".join(speedups))
    if "small-matmul" in names:
        small = [f"{LIBS[lib]} {h.format_time(t(lib, 'small-matmul'))}" for lib in TC_LIBS]
        lines.append("small-matmul per call: " + ", ".join(small))
    return lines


def _speedup(peer: float | None, ours: float | None) -> str:
    if peer is None or ours is None or ours <= 0:
        return "n/a"
    return f"{peer / ours:.2f}x"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite (or, with --worker, one library of it); returns the exit code."""
    args = h.common_arguments(__doc__.splitlines()[0], CASE_NAMES, list(LIBS)).parse_args(argv)
    cases = [CASES[CASE_NAMES.index(n)] for n in h.pick(args.cases, CASE_NAMES, "case")]
    if args.worker is not None:
        worker(args.worker, cases, h.Budget.from_args(args))
        return 0
    libs = h.pick(args.libs, list(LIBS), "library")
    results = h.run_suite(str(Path(__file__).resolve()), args, [c.name for c in cases], libs)
    return h.finish(args, "contract", results,
                    [table(results, cases, args), *summary(results, cases)])


if __name__ == "__main__":
    sys.exit(main())
