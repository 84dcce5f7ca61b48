"""Shared machinery of the benchmark scripts: timing, the worker protocol, the result table.

Every library runs in its own Python process (torch's and XLA's thread pools slow numpy's
BLAS by large factors when they share a process on a 2-core machine). The parent process
spawns ``python <script> --worker LIB ...`` once per library and pass (``--rounds``), the
worker prints one line ``BENCH-RESULT {json}`` on stdout per case as soon as it is done, and
the parent pools the passes and prints one table.

>>> from bench._harness import format_time
>>> format_time(1.5e-6), format_time(2.5e-3), format_time(3.0)
('1.50µs', '2.50ms', '3.00s')
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

MARKER = "BENCH-RESULT "
SEED = 20260125

# A sample must last long enough for perf_counter's resolution and the loop overhead to vanish.
_MIN_SAMPLE_SECONDS = 2e-3
_MAX_SAMPLES = 200
# A call this slow twice in a row (warm-up, probe) is not timed further: the median of a few
# multi-second samples tells nothing a single one does not, and the suite must finish.
_SLOW_CALL_SECONDS = 1.0
# A first call this slow is taken as the measurement (an upper bound, if it included a compile
# step): one more such call would cost the suite minutes and change nothing in the table.
_VERY_SLOW_CALL_SECONDS = 10.0


@dataclass
class Timing:
    """Seconds per call of a function: every sample, their median and the fastest one.

    The table shows the median (``--stat best``: the fastest sample); the JSON output holds
    every sample, so that how much of a median is contention on a shared machine can be seen.
    """

    times: list[float]
    calls: int

    @property
    def median(self) -> float:
        return float(np.median(self.times))

    @property
    def best(self) -> float:
        return min(self.times)

    @property
    def samples(self) -> int:
        return len(self.times)


def measure(fn: Callable[[], Any], quick: bool = False, target: float = 0.3,
            min_samples: int = 3, first: float | None = None) -> Timing:
    """Seconds per call of ``fn`` after a warm-up, with an adaptive repeat count.

    The samples fill about ``target`` seconds (at least ``min_samples`` of them); fast calls
    are grouped ``number`` per sample so that each sample lasts at least 2 ms. ``quick``
    takes 3 single-call samples. ``first`` is the duration of a call the caller already made
    (it then serves as the warm-up).

    >>> t = measure(lambda: sum(range(100)), quick=True)
    >>> t.samples, t.median > 0
    (3, True)
    """
    if first is None:
        first, _ = time_once(fn)  # warm-up: caches, lazy plans, page faults of the output
    if quick:
        return _sample(fn, number=1, samples=3)
    if first > _VERY_SLOW_CALL_SECONDS:  # e.g. torch.func.hessian of matfac-hess-256: 30 s
        return Timing([first], calls=1)
    if first > _SLOW_CALL_SECONDS:
        probe = _sample(fn, number=1, samples=1)
        if probe.median > _SLOW_CALL_SECONDS:
            return probe
    estimate = _estimate(fn, budget=target / 2)
    number = max(1, math.ceil(_MIN_SAMPLE_SECONDS / max(estimate, 1e-9)))
    samples = int(target / max(estimate * number, 1e-9))
    return _sample(fn, number=number, samples=min(max(samples, min_samples), _MAX_SAMPLES))


def _estimate(fn: Callable[[], Any], budget: float) -> float:
    """The fastest of up to 3 calls (fewer if they exceed ``budget``): the seconds per call
    that size the samples. One call alone could fall into a burst of load from other jobs and
    shrink the repeat count to nothing."""
    times: list[float] = []
    while len(times) < 3 and sum(times) < budget:
        times += _sample(fn, number=1, samples=1).times
    return min(times)


def _sample(fn: Callable[[], Any], number: int, samples: int) -> Timing:
    # Collections triggered by earlier garbage would land inside a random sample.
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        times = []
        for _ in range(samples):
            start = time.perf_counter()
            for _ in range(number):
                fn()
            times.append((time.perf_counter() - start) / number)
    finally:
        if gc_was_enabled:
            gc.enable()
    return Timing(times, number * samples)


@dataclass(frozen=True)
class Budget:
    """How long a worker times each case: set by the parent from --quick, --target, --rounds."""

    quick: bool = False
    target: float = 0.3
    min_samples: int = 3

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "Budget":
        return cls(args.quick, args.target, args.min_samples)

    def measure(self, fn: Callable[[], Any], first: float | None = None) -> Timing:
        return measure(fn, self.quick, self.target, self.min_samples, first)


def time_once(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds one call of ``fn`` takes, and its value: for cold steps (derive, compile)."""
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def reference_blas() -> contextlib.AbstractContextManager:
    """Where a worker computes its check value: numpy's BLAS on one thread.

    Threads a multithreaded BLAS call wakes keep polling for work afterwards (OpenBLAS for
    about 0.1 s), on the cores the library timed next needs: a reference computed with them
    slowed tensorcalc's two-thread steps in the 50 ms after it by 1.2-1.8x (measured on the
    chain3 case), and a pass of the contraction suite times each case for 50-100 ms.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def relative_error(result: Any, reference: np.ndarray) -> float:
    """max |result - reference| / max |reference|: one number comparable across sizes."""
    result = np.asarray(result, dtype=np.result_type(reference, np.float64))
    if result.shape != reference.shape:
        return math.inf
    scale = float(np.max(np.abs(reference))) if reference.size else 0.0
    diff = float(np.max(np.abs(result - reference))) if reference.size else 0.0
    return diff / scale if scale > 0 else diff


def report_mismatch(lib: str, case: str, error: float) -> str:
    """Print a mismatch to stderr at once (so it is seen even if the table never prints)."""
    message = f"MISMATCH {lib} on {case}: relative error {error:.3g}"
    print("!" * 8, message, file=sys.stderr, flush=True)
    return message


# --------------------------------------------------------------------------- worker side


def emit_cell(case: str, cell: Mapping[str, Any]) -> None:
    """One result line on stdout, written as soon as the case is done.

    One line per case, not one per run: if the library crashes the process on a later case,
    the parent still has every earlier result.
    """
    print(MARKER + json.dumps({"case": case, "cell": cell}), flush=True)
    status = "done" if cell.get("error") is None else f"failed: {cell['error']}"
    print(f"  {case}: {status}", file=sys.stderr, flush=True)  # progress, as each case ends


def emit_version(module: str) -> None:
    """The version of the library timed, for the notes under the table."""
    version = getattr(sys.modules.get(module), "__version__", "?")
    print(MARKER + json.dumps({"version": f"{module} {version}"}), flush=True)


def emit_unavailable(reason: str) -> None:
    """The library cannot run at all here (not installed, API missing)."""
    print(MARKER + json.dumps({"unavailable": reason}), flush=True)


def entry(timing: Timing | None = None, error: str | None = None, **extra: Any) -> dict:
    """One cell of a worker's results: a median, or the reason there is none."""
    cell: dict[str, Any] = {"error": error}
    if timing is not None:
        cell.update(time=timing.median, best=timing.best, calls=timing.calls,
                    samples=timing.samples, times=timing.times)
    cell.update(extra)
    return cell


# --------------------------------------------------------------------------- parent side


@dataclass
class WorkerResult:
    """What one library's process reported: per-case cells, or why it reported nothing."""

    lib: str
    cells: dict[str, dict] = field(default_factory=dict)
    unavailable: str | None = None
    version: str | None = None


def run_worker(script: str, lib: str, cases: Sequence[str], args: Sequence[str],
               timeout: float) -> WorkerResult:
    """Run ``python script --worker lib --cases ... *args`` and parse its result lines.

    The worker's stderr goes straight to ours so that mismatches show while they happen. A
    case the worker never reported (crash, timeout) gets an error cell saying why.
    """
    command = [sys.executable, script, "--worker", lib, "--cases", ",".join(cases), *args]
    try:
        proc = subprocess.run(command, stdout=subprocess.PIPE, text=True, timeout=timeout)
        stdout, failure = proc.stdout, (f"worker exited with code {proc.returncode}"
                                        if proc.returncode else "worker did not report it")
    except subprocess.TimeoutExpired as err:
        stdout = err.stdout.decode() if isinstance(err.stdout, bytes) else (err.stdout or "")
        failure = f"worker timed out after {timeout:.0f} s"
    result = WorkerResult(lib)
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            payload = json.loads(line[len(MARKER):])
            if "unavailable" in payload:
                result.unavailable = payload["unavailable"]
            elif "version" in payload:
                result.version = payload["version"]
            else:
                result.cells[payload["case"]] = payload["cell"]
    if result.unavailable is None:
        for case in cases:
            result.cells.setdefault(case, entry(error=failure))
    return result


def run_suite(script: str, args: argparse.Namespace, case_names: Sequence[str],
              libs: Sequence[str]) -> list[WorkerResult]:
    """Run every library's worker, one process at a time, in ``--rounds`` passes.

    Contention on a shared machine comes in bursts of seconds to minutes; one long window per
    library would hand whole bursts to whichever library happened to run then. Each pass times
    every library for ``target / rounds`` per case, and the samples of all passes are pooled.
    """
    return run_phases(script, args, case_names, libs, busy=False)[QUIET]


QUIET, BUSY = "quiet", "busy"

# The neighbour of --busy: numpy matrix products in a loop, with numpy's own multi-threaded BLAS
# (every thread it wants, as a user's other job would take), until the parent ends it. Its
# "ready" line tells the parent that the loop runs (imports and inputs done).
_NEIGHBOUR_CODE = """
import sys
import numpy as np
n = int(sys.argv[1])
rng = np.random.default_rng(0)
a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
c = np.empty((n, n))
print("ready", flush=True)
while True:
    np.matmul(a, b, out=c)
"""


@contextlib.contextmanager
def busy_neighbour(size: int = 1024) -> Iterator[subprocess.Popen]:
    """A process doing ``size`` x ``size`` float64 matrix products for as long as the block runs.

    It is ended by its own process id (terminate, then kill if it lingers), also when the
    block raises.
    """
    proc = subprocess.Popen([sys.executable, "-c", _NEIGHBOUR_CODE, str(size)],
                            stdout=subprocess.PIPE, text=True)
    try:
        if proc.stdout is not None and proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"busy neighbour failed to start (exit code {proc.poll()})")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_phases(script: str, args: argparse.Namespace, case_names: Sequence[str],
               libs: Sequence[str], busy: bool) -> dict[str, list[WorkerResult]]:
    """``run_suite`` on a quiet machine and, with ``busy``, beside a :func:`busy_neighbour`.

    Every round runs a quiet pass and then a busy pass over all libraries, so that slow drifts
    of the background load fall on both phases alike. Returns the results per phase.
    """
    rounds = 1 if args.quick else max(1, args.rounds)
    forwarded = ["--quick"] if args.quick else [
        "--target", f"{args.target / rounds:.6g}", "--min-samples", str(-(-3 // rounds))]
    phases = (QUIET, BUSY) if busy else (QUIET,)
    passes = {(phase, lib): [] for phase in phases for lib in libs}
    for round_ in range(1, rounds + 1):
        for phase in phases:
            load = (busy_neighbour(getattr(args, "busy_size", 1024)) if phase == BUSY
                    else contextlib.nullcontext())
            with load:
                for lib in libs:
                    done = passes[phase, lib]
                    if done and done[-1].unavailable is not None:
                        continue  # not installed: asking again will not change the answer
                    suffix = ", busy" if phase == BUSY else ""
                    print(f"running {lib} (pass {round_}/{rounds}{suffix}) ...",
                          file=sys.stderr, flush=True)
                    done.append(run_worker(script, lib, case_names, forwarded, args.timeout))
    return {phase: [use_statistic(merge_passes(passes[phase, lib], case_names), args.stat)
                    for lib in libs] for phase in phases}


def use_statistic(result: WorkerResult, stat: str) -> WorkerResult:
    """Make ``time`` the statistic the table shows: the median, or the fastest sample."""
    if stat == "best":
        for cell in result.cells.values():
            if cell.get("best") is not None:
                cell.update(time=cell["best"], median=cell["time"])
    return result


def merge_passes(passes: Sequence[WorkerResult], case_names: Sequence[str]) -> WorkerResult:
    """One library's passes as one result: samples pooled, the first failure kept."""
    first = passes[0]
    if first.unavailable is not None or len(passes) == 1:
        return first
    merged = WorkerResult(first.lib, version=first.version)
    for case in case_names:
        merged.cells[case] = merge_cells([p.cells[case] for p in passes if case in p.cells])
    return merged


def merge_cells(cells: Sequence[dict]) -> dict:
    """Pool the samples of one case over passes; a pass that failed makes the case fail."""
    for cell in cells:
        if cell.get("mismatch") or cell.get("time") is None:
            return cell
    times = [t for cell in cells for t in cell["times"]]
    merged = dict(cells[0])
    merged.update(time=float(np.median(times)), best=min(times), times=times,
                  samples=len(times), calls=sum(cell["calls"] for cell in cells),
                  passes=len(cells), rel_error=max(cell.get("rel_error", 0.0) for cell in cells))
    colds = [cell["cold"] for cell in cells if cell.get("cold") is not None]
    if colds:
        merged["cold"] = float(np.median(colds))
    return merged


def load_note(before: float) -> str:
    """The machine's 1-minute load average when the run began and now, against its cores: the
    context a reader needs to judge the table on a shared machine."""
    return (f"load average (1 min) at start {before:.2f}, at end {os.getloadavg()[0]:.2f},"
            f" on {os.cpu_count()} cores; finished {time.strftime('%Y-%m-%d %H:%M %Z')}")


def finish(args: argparse.Namespace, suite: str, results: Sequence[WorkerResult],
           lines: Sequence[str], phases: Mapping[str, Sequence[WorkerResult]] | None = None,
           extra: Mapping[str, Any] | None = None) -> int:
    """Print the table and notes, write --json; the exit code is 1 when any check failed.

    ``phases`` are further runs of the suite (``{"busy": results}``): their mismatches count
    and their results go into the JSON under the phase's name, as ``extra`` does.
    """
    print("\n".join(lines))
    versions = sorted({r.version for r in results if r.version})
    if versions:
        print("versions: " + ", ".join(versions))
    notes = unavailable_notes(results)
    for phase, phase_results in (phases or {}).items():
        notes += [f"  ({phase}) {note.strip()}" for note in unavailable_notes(phase_results)
                  if note not in notes]
    if notes:
        print("notes:\n" + "\n".join(notes))
    bad = mismatches(results)
    for phase, phase_results in (phases or {}).items():
        bad += [f"({phase}) {line}" for line in mismatches(phase_results)]
    payload = {"suite": suite, "quick": args.quick, "results": results_payload(results),
               "mismatches": bad}
    payload.update({phase: results_payload(r) for phase, r in (phases or {}).items()})
    payload.update(extra or {})
    write_json(args.json, payload)
    if bad:
        print("MISMATCHES:\n  " + "\n  ".join(bad))
        return 1
    return 0


def common_arguments(description: str, cases: Sequence[str],
                     libs: Sequence[str]) -> argparse.ArgumentParser:
    """The options both scripts share: --quick, --cases, --libs, --json, --timeout, --worker."""
    parser = argparse.ArgumentParser(description=description,
                                     epilog="cases: " + ", ".join(cases))
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes and 3 repeats (smoke tests)")
    parser.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    parser.add_argument("--libs", default=",".join(libs),
                        help=f"comma-separated libraries (default: {','.join(libs)})")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--target", type=float, default=0.3,
                        help="seconds of timed calls per case and library (default 0.3)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="passes over the libraries the timing is spread over (default 3)")
    parser.add_argument("--stat", choices=("median", "best"), default="median",
                        help="what the table shows per cell (the JSON holds every sample)")
    parser.add_argument("--min-samples", type=int, default=3, help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="seconds allowed per library process")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return parser


def pick(requested: str, known: Sequence[str], what: str) -> list[str]:
    """The names of a comma-separated option, checked against the known ones."""
    if not requested:
        return list(known)
    names = [name.strip() for name in requested.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)}; known: {', '.join(known)}")
    return names


def write_json(path: str | None, payload: Any) -> None:
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2)


def results_payload(results: Sequence[WorkerResult]) -> dict:
    return {r.lib: {"unavailable": r.unavailable, "version": r.version, "cells": r.cells}
            for r in results}


def mismatches(results: Sequence[WorkerResult]) -> list[str]:
    """Every cell whose check against the reference failed, as printable lines."""
    found = []
    for result in results:
        for case, cell in result.cells.items():
            if cell.get("mismatch"):
                found.append(f"{result.lib} on {case}: {cell['mismatch']}")
    return found


# --------------------------------------------------------------------------- table


def format_time(seconds: float | None) -> str:
    """Seconds as a short string with a unit: µs below 1 ms, ms below 1 s."""
    if seconds is None or not math.isfinite(seconds):
        return "n/a"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f}µs" if seconds < 1e-4 else f"{seconds * 1e6:.1f}µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.2f}ms" if seconds < 0.1 else f"{seconds * 1e3:.1f}ms"
    return f"{seconds:.2f}s"


def cell_text(result: WorkerResult, case: str, key: str = "time") -> str:
    """A table cell: the time, or a short reason (n/a, skip, ERR, MISMATCH)."""
    if result.unavailable is not None:
        return "n/a"
    cell = result.cells.get(case)
    if cell is None:
        return "-"
    if cell.get("mismatch"):
        return "MISMATCH"
    if cell.get(key) is not None:
        return format_time(cell[key])
    error = cell.get("error") or ""
    if error.startswith("skip"):
        return "skip"
    if error.startswith("not available"):
        return "n/a"
    return "ERR"


def cell_time(result: WorkerResult, case: str, key: str = "time") -> float | None:
    """The seconds of a cell, or None when it holds no trustworthy time."""
    if result.unavailable is not None:
        return None
    cell = result.cells.get(case) or {}
    if cell.get("mismatch"):
        return None
    return cell.get(key)


def ratio_text(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or denominator is None or denominator <= 0:
        return "n/a"
    return f"{numerator / denominator:.2f}"


def title(suite: str, args: argparse.Namespace) -> str:
    """The first line of a table: what was timed and how."""
    stat = "fastest sample" if args.stat == "best" else "median"
    return f"{suite}, float64, {stat} per call" + (" (--quick sizes)" if args.quick else "")


def render_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Fixed-width text table: first column left-aligned, the others right-aligned.

    >>> print(render_table("T", ["case", "lib"], [["a", "1.00µs"]]))
    T
    case     lib
    ----  ------
    a     1.00µs
    """
    widths = [max(len(str(row[k])) for row in [header, *rows]) for k in range(len(header))]

    def line(row: Sequence[str]) -> str:
        parts = [str(row[0]).ljust(widths[0])]
        parts += [str(v).rjust(w) for v, w in zip(row[1:], widths[1:])]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([title, line(header), rule, *(line(row) for row in rows)])


def best_time(by_lib: Mapping[str, WorkerResult], case: str,
              libs: Sequence[str]) -> tuple[str | None, float | None]:
    """The fastest of ``libs`` on ``case`` (warm time), ignoring missing and failed cells."""
    times = {lib: cell_time(by_lib[lib], case) for lib in libs if lib in by_lib}
    times = {lib: t for lib, t in times.items() if t is not None}
    if not times:
        return None, None
    lib = min(times, key=times.get)
    return lib, times[lib]


def suite_table(title: str, cases: Sequence[tuple[str, str]], detail: str,
                results: Sequence[WorkerResult], columns: Sequence[tuple[str, str, str]],
                peers: Mapping[str, str], ours: Sequence[str]) -> str:
    """The table of a suite: one row per case, one column per ``(lib, cell key, label)``.

    ``cases`` are ``(name, detail)`` pairs, ``detail`` heading the second column; ``peers``
    maps the peer libraries to their short names for the "best peer" column. The ratio divides
    the warm time of the first of ``ours`` that has one by the best peer's warm time.
    """
    by_lib = {r.lib: r for r in results}
    shown = [column for column in columns if column[0] in by_lib]
    header = ["case", detail, *(label for _, _, label in shown), "best peer", "tc/best"]
    rows = []
    for name, text in cases:
        best_lib, best = best_time(by_lib, name, list(peers))
        rows.append([name, text, *(cell_text(by_lib[lib], name, key) for lib, key, _ in shown),
                     peers.get(best_lib, "n/a"), ratio_text(our_time(by_lib, name, ours), best)])
    return render_table(title, header, rows)


def our_time(by_lib: Mapping[str, WorkerResult], case: str, ours: Sequence[str]) -> float | None:
    """The warm time of the first of ``ours`` (tensorcalc's variants) that has one."""
    for lib in ours:
        if lib in by_lib and cell_time(by_lib[lib], case) is not None:
            return cell_time(by_lib[lib], case)
    return None


def unavailable_notes(results: Sequence[WorkerResult]) -> list[str]:
    """One line per library that could not run, and per cell that failed, with the reason."""
    notes = []
    for result in results:
        if result.unavailable is not None:
            notes.append(f"  {result.lib}: n/a ({result.unavailable})")
            continue
        for case, cell in result.cells.items():
            error = cell.get("error")
            if error and not error.startswith("skip"):
                notes.append(f"  {result.lib} on {case}: {error}")
    return notes
