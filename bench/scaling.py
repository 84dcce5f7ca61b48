"""Scaling benchmark: time against size for tensorcalc and its peers, a log-log plot, peak memory.

    python bench/scaling.py                        # every family, every peer
    python bench/scaling.py --quick                # small sizes, a few seconds
    python bench/scaling.py --out /tmp/scaling.png --json scaling.json

Three families of contractions, each over a range of sizes ``n`` (every label has size ``n``):
a matmul-like one (``ij,jk->ik``: GEMM-bound once large), a Hadamard-like one (``ij,ij->ij``:
bandwidth-bound) and a tiny multi-operand one (the 4-index transform
``ea,fb,gc,hd,abcd->efgh``: call overhead and path planning at small ``n``). tc.expr (a cached
tc.contract_expression) runs against numpy.einsum(optimize=True), a cached opt_einsum
expression, torch.einsum and jax.jit(jnp.einsum), each library in its own process and checked
against numpy first, as in ``bench/contract.py``.

Peak memory: for the largest size of each family, a fresh process per library builds the inputs
and the callable (the cached expression, the jitted function), then reports how far its resident
set peaks above what it was then over four calls (the peak, ``VmHWM``, is reset through
``/proc/self/clear_refs`` first; where that is not allowed, the growth of ``getrusage``'s
``ru_maxrss``). The first call is included: memory an allocator keeps from it (glibc's heap,
torch's and XLA's pools) serves the later calls and would otherwise not be seen; for JAX it also
holds the compilation. Unlike ``tracemalloc`` this sees memory BLAS, torch and XLA allocate
outside Python's allocator.

The plot (matplotlib, the ``bench`` extra) goes to ``--out`` (default
``bench/results/scaling.png``); without matplotlib the tables print and the plot is skipped.
"""

from __future__ import annotations

import argparse
import importlib
import os
import resource
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

if __package__ in (None, ""):  # run as a script: make `bench` and `tensorcalc` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _harness as h
from bench import contract

RESULTS_DIR = Path(__file__).resolve().parent / "results"
LIBS = {lib: contract.LIBS[lib] for lib in (*contract.PEERS, "tc-expr")}
PEERS = contract.PEERS


@dataclass(frozen=True)
class Family:
    """Contractions of one shape over a range of sizes: every label has size ``n``."""

    name: str
    subscripts: str
    sizes: tuple[int, ...]
    quick_sizes: tuple[int, ...]

    def case(self, n: int) -> contract.Case:
        labels = {label for label in self.subscripts if label.isalpha()}
        return contract.Case(point_name(self.name, n), self.subscripts,
                             {label: n for label in labels})

    def points(self, quick: bool) -> list[str]:
        return [point_name(self.name, n) for n in (self.quick_sizes if quick else self.sizes)]


FAMILIES = [
    Family("matmul", "ij,jk->ik", (16, 32, 64, 128, 256, 512, 1024, 2048), (4, 16, 64)),
    Family("hadamard", "ij,ij->ij", (16, 64, 256, 1024, 2048, 4096), (4, 16, 64)),
    Family("4index", "ea,fb,gc,hd,abcd->efgh", (2, 3, 4, 6, 8, 12, 16, 24, 32), (2, 4, 6)),
]
FAMILY_NAMES = [family.name for family in FAMILIES]
_MEMORY_CALLS = 4
# quick: short timing windows instead of contract.py's clipped sizes (the sizes are the point)
_QUICK_TARGET = 0.01


def point_name(family: str, n: int) -> str:
    """The case name of one size of a family.

    >>> point_name("matmul", 64), parse_point("matmul@64")
    ('matmul@64', ('matmul', 64))
    """
    return f"{family}@{n}"


def parse_point(name: str) -> tuple[str, int]:
    family, size = name.split("@")
    return family, int(size)


def _family(name: str) -> Family:
    return FAMILIES[FAMILY_NAMES.index(name)]


# --------------------------------------------------------------------------- workers


def timing_worker(lib: str, points: Sequence[str], budget: h.Budget) -> None:
    """Check and time every point (``family@n``) in this library's own process."""
    try:
        runner = contract.RUNNERS[lib]()
    except Exception as err:  # ImportError, or a broken install failing in other ways
        h.emit_unavailable(f"{type(err).__name__}: {err}")
        return
    h.emit_version(contract.MODULES[lib])
    for point in points:
        family, n = parse_point(point)
        h.emit_cell(point, contract.run_case(lib, runner, _family(family).case(n), budget))


def _rss_bytes() -> int:
    """The resident set now (``/proc/self/statm``; page size from sysconf)."""
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux >= 4.0); False if not allowed."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _peak_bytes(vm_hwm: bool) -> int:
    if vm_hwm:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def memory_worker(lib: str, point: str) -> None:
    """Peak growth of the resident set over calls of one point, in a fresh process."""
    try:
        runner = contract.RUNNERS[lib]()
    except Exception as err:
        h.emit_unavailable(f"{type(err).__name__}: {err}")
        return
    family, n = parse_point(point)
    case = _family(family).case(n)
    arrays = case.arrays()
    try:
        call, _ = runner(case.subscripts, arrays)
        vm_hwm = _reset_peak()
        before = _rss_bytes() if vm_hwm else _peak_bytes(False)
        for _ in range(_MEMORY_CALLS):
            result = call()
            del result
        peak = _peak_bytes(vm_hwm)
    except Exception as err:
        h.emit_cell(point, h.entry(error=f"{type(err).__name__}: {err}"))
        return
    h.emit_cell(point, h.entry(peak=max(peak - before, 0),
                               inputs=sum(a.nbytes for a in arrays),
                               output=8.0 * n ** len(case.subscripts.split("->")[1]),
                               method="VmHWM" if vm_hwm else "ru_maxrss"))


# --------------------------------------------------------------------------- parent


def run_memory(script: str, libs: Sequence[str], points: Sequence[str],
               timeout: float) -> dict[str, h.WorkerResult]:
    """One fresh process per library and point: a process's peak cannot be taken back."""
    results: dict[str, h.WorkerResult] = {}
    for lib in libs:
        merged = h.WorkerResult(lib)
        for point in points:
            print(f"measuring memory of {lib} on {point} ...", file=sys.stderr, flush=True)
            result = h.run_worker(script, lib, [point], ["--memory"], timeout)
            if result.unavailable is not None:
                merged.unavailable = result.unavailable
                break
            merged.cells.update(result.cells)
        results[lib] = merged
    return results


def time_table(results: Sequence[h.WorkerResult], points: Sequence[str],
               args: argparse.Namespace) -> str:
    rows = [(point, _family(parse_point(point)[0]).subscripts) for point in points]
    columns = [(lib, "time", label) for lib, label in LIBS.items()]
    return h.suite_table(h.title("Scaling: time against size n (every label of size n)", args),
                         rows, "subscripts", results, columns,
                         {lib: LIBS[lib] for lib in PEERS}, ["tc-expr"])


def memory_table(memory: dict[str, h.WorkerResult], points: Sequence[str]) -> str:
    """Peak extra resident memory per library on the largest points, and tc / numpy."""
    libs = [lib for lib in LIBS if lib in memory]
    rows = []
    for point in points:
        peaks = {lib: _peak(memory[lib], point) for lib in libs}
        cell = next((memory[lib].cells.get(point) for lib in libs
                     if (memory[lib].cells.get(point) or {}).get("inputs")), {}) or {}
        rows.append([point, _mb(cell.get("inputs")), _mb(cell.get("output")),
                     *(_mb(peaks[lib]) for lib in libs),
                     h.ratio_text(peaks.get("tc-expr"), peaks.get("numpy-opt"))])
    header = ["case", "inputs", "output", *(LIBS[lib] for lib in libs), "tc/np-opt"]
    method = {cell.get("method") for r in memory.values() for cell in r.cells.values()} - {None}
    return h.render_table(
        f"Peak memory of {_MEMORY_CALLS} calls, MB above the resident set before them"
        f" ({', '.join(sorted(method)) or 'n/a'}; inputs and output for reference)",
        header, rows)


def _peak(result: h.WorkerResult, point: str) -> float | None:
    if result.unavailable is not None:
        return None
    return (result.cells.get(point) or {}).get("peak")


def _mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value / 1e6:.1f}"


def plot(results: Sequence[h.WorkerResult], points: Sequence[str], out: Path) -> str:
    """Write the log-log plot (one panel per family); returns a line saying where, or why not."""
    try:
        matplotlib = importlib.import_module("matplotlib")
    except ImportError:
        return "plot skipped: matplotlib is not installed (pip install 'tensorcalc[bench]')"
    matplotlib.use("Agg")  # files only: no display on a server
    pyplot = importlib.import_module("matplotlib.pyplot")
    families = [f for f in FAMILIES if any(parse_point(p)[0] == f.name for p in points)]
    figure, axes = pyplot.subplots(1, len(families), figsize=(5 * len(families), 4),
                                   squeeze=False)
    for ax, family in zip(axes[0], families):
        sizes = [parse_point(p)[1] for p in points if parse_point(p)[0] == family.name]
        for result in results:
            times = [h.cell_time(result, point_name(family.name, n)) for n in sizes]
            shown = [(n, t) for n, t in zip(sizes, times) if t is not None]
            if shown:
                style = "-o" if result.lib == "tc-expr" else "--."
                ax.plot(*zip(*shown), style, label=LIBS[result.lib])
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(sizes, [str(n) for n in sizes], minor=False)  # the sizes run, plainly
        ax.set_xticks([], minor=True)
        ax.set_title(f"{family.name}: {family.subscripts}", fontsize=9)
        ax.set_xlabel("n (size of every label)")
        ax.set_ylabel("seconds per call (median)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    pyplot.close(figure)
    return f"plot: {out}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the scaling suite (or, with --worker, one library of it); returns the exit code."""
    parser = h.common_arguments(__doc__.splitlines()[0], FAMILY_NAMES, list(LIBS))
    parser.add_argument("--out", default=None,
                        help="file of the plot (default bench/results/scaling.png)")
    parser.add_argument("--memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:  # --cases holds the points here
        points = [p for p in args.cases.split(",") if p]
        if args.memory:
            memory_worker(args.worker, points[0])
        else:
            timing_worker(args.worker, points, _budget(args))
        return 0
    families = [_family(name) for name in h.pick(args.cases, FAMILY_NAMES, "family")]
    libs = h.pick(args.libs, list(LIBS), "library")
    points = [point for family in families for point in family.points(args.quick)]
    script, load = str(Path(__file__).resolve()), os.getloadavg()[0]
    results = h.run_suite(script, args, points, libs)
    largest = [family.points(args.quick)[-1] for family in families]
    memory = run_memory(script, libs, largest, args.timeout)
    out = Path(args.out) if args.out else RESULTS_DIR / "scaling.png"
    lines = [time_table(results, points, args), "", memory_table(memory, largest),
             plot(results, points, out), h.load_note(load)]
    extra = {"memory": h.results_payload(list(memory.values())),
             "plot": str(out) if out.exists() else None}
    return h.finish(args, "scaling", results, lines, extra=extra)


def _budget(args: argparse.Namespace) -> h.Budget:
    """quick keeps the sizes and shortens the timing (contract.py's quick clips the sizes)."""
    if args.quick:
        return h.Budget(quick=False, target=_QUICK_TARGET, min_samples=3)
    return h.Budget.from_args(args)


if __name__ == "__main__":
    sys.exit(main())
