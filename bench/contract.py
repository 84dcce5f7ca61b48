"""Contraction benchmark: tensorcalc against numpy, opt_einsum, torch and JAX (float64).

    python bench/contract.py                       # the whole suite, every library
    python bench/contract.py --quick               # tiny sizes, 3 repeats (smoke test)
    python bench/contract.py --cases matmul,trace --libs numpy-opt,oe-expr,tc-expr
    python bench/contract.py --json results.json
    python bench/contract.py --busy                # also beside a neighbour doing matmuls

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
tc.contract_expression). ``tc/best`` is tc.expr divided by the best peer, the peers being
np-opt, oe-expr, torch and jax (np and oe are shown, not compared against).

Machine limits: before and after the libraries, a process of its own measures the machine's GEMM
rate and memory bandwidth (``bench/limits.py``; the better figure counts); a second table
classifies every case as GEMM-bound or bandwidth-bound (roofline: FLOPs against bytes moved) and
shows the fraction of that limit tc.expr and the best peer reach (``--no-limits`` skips it;
``--quick`` does too, unless ``--limits``).

``--busy``: every round times the libraries once on the quiet machine and once beside a
neighbour process doing ``--busy-size`` square float64 matrix products with numpy's own
multi-threaded BLAS; it prints the quiet and the busy table, then the slowdown under load
(busy / quiet) of every library and the check of issue 12: no tc.expr case slows down more than
the slowest peer on it, none falls more than 1.5x behind the best peer. Without ``--libs`` it
runs the peers and tc.expr only.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

if __package__ in (None, ""):  # run as a script: make `bench` and `tensorcalc` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from bench import _harness as h
from bench import limits as lim

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
# What tc.expr is compared with (issue 12); np and oe are shown beside them, not compared.
PEERS = ("numpy-opt", "oe-expr", "torch", "jax")
BUSY_LIBS = (*PEERS, "tc-expr")
LIMITS = "limits"  # the worker measuring the machine (bench/limits.py), not a library
# Issue 12: within this factor of the machine's limit, and under load never more than this
# factor behind the best peer.
_LIMIT_FACTOR = 1.3
_BUSY_BEHIND = 1.5
# A case whose limit is below this is bound by per-call overhead, whatever its roofline says.
_TINY_LIMIT = 10e-6

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
    with h.reference_blas():
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
    if lib == LIMITS:
        specs = [(case.name, case.subscripts, case.shapes(budget.quick)) for case in cases]
        lim.case_limits(specs, budget.quick, h.emit_cell)
        return
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
          args: argparse.Namespace, phase: str = "") -> str:
    rows = [(case.name, case.subscripts) for case in cases]
    columns = [(lib, "time", label) for lib, label in LIBS.items()]
    heading = h.title("Contractions", args) + (f", {phase}" if phase else "")
    return h.suite_table(heading, rows, "subscripts", results, columns,
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
    behind = []
    for name in names:
        _, best = h.best_time(by_lib, name, list(PEERS))
        ratio = _ratio(t("tc-expr", name), best)
        if ratio is not None and ratio > 1:
            behind.append(f"{name} {ratio:.2f}x")
    lines.append(f"tc.expr behind the best peer ({', '.join(LIBS[p] for p in PEERS)}) on"
                 f" {len(behind)} cases" + (": " + ", ".join(behind) if behind else ""))
    speedups = [f"{name} {_speedup(t('oe-expr', name), t('tc-expr', name))}"
                f" (vs oe.contract {_speedup(t('opt_einsum', name), t('tc-expr', name))})"
                for name in ("batched-matmul", "attention-scores") if name in names]
    if speedups:
        lines.append("speedup of tc.expr vs cached opt_einsum: " + ", ".join(speedups))
    if "small-matmul" in names:
        small = [f"{LIBS[lib]} {h.format_time(t(lib, 'small-matmul'))}" for lib in TC_LIBS]
        lines.append("small-matmul per call: " + ", ".join(small))
    return lines


def measure_limits(script: str, names: Sequence[str],
                   args: argparse.Namespace) -> h.WorkerResult:
    """The limits worker's cells (bench/limits.py), in a process of its own."""
    print("measuring the machine's limits ...", file=sys.stderr, flush=True)
    return h.run_worker(script, LIMITS, names, ["--quick"] if args.quick else [], args.timeout)


def limits_table(measured: Sequence[h.WorkerResult], results: Sequence[h.WorkerResult],
                 cases: Sequence[Case]) -> list[str]:
    """The roofline of every case and the fraction of it tc.expr and the best peer reach;
    ``measured`` are the limits worker's runs (before and after the suite: the best counts)."""
    cells = lim.best_of_runs([r.cells for r in measured if r.unavailable is None])
    if not cells:
        reasons = [r.unavailable or (r.cells.get(lim.MACHINE) or {}).get("error") or "failed"
                   for r in measured]
        return [f"machine limits: n/a ({'; '.join(reasons)})"]
    machine = cells[lim.MACHINE]
    by_lib = {r.lib: r for r in results}
    rows, reached, tiny, above = [], 0, [], []
    for case in cases:
        cell = cells.get(case.name) or {}
        if cell.get("limit") is None:
            rows.append([case.name, "n/a", *["-"] * 8])
            continue
        limit, ours = cell["limit"], h.our_time(by_lib, case.name, ["tc-expr"])
        _, best = h.best_time(by_lib, case.name, list(PEERS))
        check = "-" if ours is None else ("yes" if ours <= _LIMIT_FACTOR * limit else "no")
        reached += check == "yes"
        fastest = min((x for x in (ours, best) if x is not None), default=math.inf)
        if limit < _TINY_LIMIT:
            check += " (tiny)"
            tiny.append(case.name)
        elif fastest < limit:
            above.append(case.name)
        rows.append([case.name, cell["bound"], f"{cell['flops'] / 1e9:.3g}",
                     f"{(cell['read_bytes'] + cell['write_bytes']) / 1e6:.3g}",
                     f"{cell['flops'] / (cell['read_bytes'] + cell['write_bytes']):.3g}",
                     h.format_time(limit), h.format_time(ours), _fraction(limit, ours),
                     _fraction(limit, best), check])
    header = ["case", "bound", "GFLOP", "MB", "FLOP/B", "limit", "tc.expr", "tc frac",
              "peer frac", f"<={_LIMIT_FACTOR}x"]
    title = ("Fraction of the machine's limit reached (limit time / measured time; 1 = at the"
             " limit)")
    lines = [h.render_table(title, header, rows), *lim.machine_lines(machine),
             f"tc.expr within {_LIMIT_FACTOR}x of its limit on {reached}/{len(cases)} cases"]
    if tiny:
        lines.append(f"  limit below {h.format_time(_TINY_LIMIT)} (bound by per-call overhead,"
                     f" not by the machine): {', '.join(tiny)}")
    if above:
        lines.append("  faster than the measured limit (a fraction above 1: load from other jobs"
                     " lowered every measurement of the limit): " + ", ".join(above))
    return lines


def load_table(quiet: Sequence[h.WorkerResult], busy: Sequence[h.WorkerResult],
               cases: Sequence[Case], size: int) -> list[str]:
    """Slowdown under load (busy / quiet) per library, and issue 12's check per case."""
    quiet_by, busy_by = {r.lib: r for r in quiet}, {r.lib: r for r in busy}
    libs = [lib for lib in LIBS if lib in quiet_by]
    rows, passed, slower, behind = [], 0, [], []
    for case in cases:
        slowdown = {lib: _ratio(h.cell_time(busy_by[lib], case.name),
                                h.cell_time(quiet_by[lib], case.name)) for lib in libs}
        peer_slowdowns = [slowdown[lib] for lib in PEERS if slowdown.get(lib) is not None]
        worst = max(peer_slowdowns, default=None)
        ours = h.our_time(busy_by, case.name, ["tc-expr"])
        _, best = h.best_time(busy_by, case.name, list(PEERS))
        gap = _ratio(ours, best)
        verdict = []
        if slowdown.get("tc-expr") is not None and worst is not None \
                and slowdown["tc-expr"] > worst:
            verdict.append("slows more")
            slower.append(case.name)
        if gap is not None and gap > _BUSY_BEHIND:
            verdict.append(f">{_BUSY_BEHIND}x behind")
            behind.append(case.name)
        if slowdown.get("tc-expr") is None or worst is None or gap is None:
            verdict = ["n/a"]
        passed += not verdict
        rows.append([case.name, *(_x(slowdown[lib]) for lib in libs), _x(worst),
                     h.ratio_text(ours, best), ", ".join(verdict) or "ok"])
    header = ["case", *(LIBS[lib] for lib in libs), "worst peer", "tc/best busy", "check"]
    title = (f"Slowdown under load (busy / quiet median) beside a numpy {size}x{size} float64"
             " matmul loop on every BLAS thread")
    lines = [h.render_table(title, header, rows),
             f"under load: tc.expr passes (slows no more than the slowest peer, at most"
             f" {_BUSY_BEHIND}x behind the best) on {passed}/{len(cases)} cases"]
    if slower:
        lines.append("  slows down more than the slowest peer: " + ", ".join(slower))
    if behind:
        lines.append(f"  more than {_BUSY_BEHIND}x behind the best peer: " + ", ".join(behind))
    return lines


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def _fraction(limit: float, measured: float | None) -> str:
    """limit / measured: two decimals, or two digits of a far smaller fraction (tiny cases)."""
    value = _ratio(limit, measured)
    if value is None:
        return "n/a"
    return f"{value:.2f}" if value >= 0.01 else f"{value:.1e}"


def _x(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def _speedup(peer: float | None, ours: float | None) -> str:
    if peer is None or ours is None or ours <= 0:
        return "n/a"
    return f"{peer / ours:.2f}x"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite (or, with --worker, one library of it); returns the exit code."""
    args = _parser().parse_args(argv)
    cases = [CASES[CASE_NAMES.index(n)] for n in h.pick(args.cases, CASE_NAMES, "case")]
    if args.worker is not None:
        worker(args.worker, cases, h.Budget.from_args(args))
        return 0
    default_libs = BUSY_LIBS if args.busy else tuple(LIBS)
    libs = h.pick(args.libs, list(LIBS), "library") if args.libs else list(default_libs)
    script, names = str(Path(__file__).resolve()), [c.name for c in cases]
    load = os.getloadavg()[0]
    # The limits are measured before and after the libraries, and the better figure kept: a
    # burst of load from other jobs during one measurement would otherwise lower the bar.
    with_limits = args.limits if args.limits is not None else not args.quick
    measured = [measure_limits(script, names, args)] if with_limits else []
    phases = h.run_phases(script, args, names, libs, busy=args.busy)
    if measured:
        measured.append(measure_limits(script, names, args))
    extra = {"limits": lim.best_of_runs([r.cells for r in measured])} if measured else {}
    busy = {h.BUSY: phases[h.BUSY]} if args.busy else None
    lines = [*report(phases, measured, cases, args), h.load_note(load)]
    return h.finish(args, "contract", phases[h.QUIET], lines, busy, extra)


def report(phases: dict[str, list[h.WorkerResult]], measured: Sequence[h.WorkerResult],
           cases: Sequence[Case], args: argparse.Namespace) -> list[str]:
    """The lines printed: the quiet table, the limits, and with --busy the busy tables."""
    quiet = phases[h.QUIET]
    lines = [table(quiet, cases, args, "quiet machine" if args.busy else ""),
             *summary(quiet, cases)]
    if measured:
        lines += ["", *limits_table(measured, quiet, cases)]
    if args.busy:
        busy, size = phases[h.BUSY], args.busy_size
        lines += ["", table(busy, cases, args, f"busy (numpy {size}^2 matmul neighbour)"),
                  "", *load_table(quiet, busy, cases, size)]
    return lines


def _parser() -> argparse.ArgumentParser:
    parser = h.common_arguments(__doc__.splitlines()[0], CASE_NAMES, list(LIBS))
    parser.set_defaults(libs="")  # the default depends on --busy
    parser.add_argument("--busy", action="store_true",
                        help="also time beside a neighbour process doing numpy matrix products"
                             " and print the slowdown under load (default libs: peers, tc-expr)")
    parser.add_argument("--busy-size", type=int, default=1024,
                        help="side of the neighbour's square float64 matrices (default 1024)")
    parser.add_argument("--limits", action=argparse.BooleanOptionalAction, default=None,
                        help="measure the machine's GEMM rate and memory bandwidth and print"
                             " the fraction reached per case (default: on, off with --quick)")
    return parser


if __name__ == "__main__":
    sys.exit(main())
