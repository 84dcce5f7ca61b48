"""The machine's limits, measured here and now: GEMM rate and memory bandwidth (a roofline).

    python bench/limits.py            # print this machine's limits
    python bench/limits.py --quick    # small sizes, a second or two

``bench/contract.py`` runs :func:`case_limits` in a process of its own before and after it times
the libraries (:func:`best_of_runs` keeps the better figures) and prints, per case, whether the
contraction is GEMM-bound or bandwidth-bound and the fraction of that limit tensorcalc reaches.
The model is the roofline: a contraction cannot take less than ``flops / GEMM rate`` nor less
than ``bytes read / read bandwidth + bytes written / write bandwidth``; the larger of the two
names the bound. FLOPs are those of opt_einsum's path (a multiply and an add per term of an inner
product); bytes are the inputs read once and the output written once (intermediates of
multi-operand cases are not counted: a limit, not a model).
Bandwidths are measured at the size of the case's own data, so cache-resident cases are held to
cache bandwidth, never below :data:`_MIN_STREAM_BYTES` (below it a numpy call's overhead, not
memory, would be measured). The best sample of each kernel is taken: a limit is what the machine
can do, not what it usually does.

>>> bound = roofline(flops=2e9, read_bytes=8e6, write_bytes=8e6,
...                  gemm_rate=1e11, read_bw=2e10, write_bw=1e10)
>>> bound["bound"], round(bound["limit"] * 1e3, 2)
('GEMM', 20.0)
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import math
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from bench import _harness as h

_ITEMSIZE = 8  # float64, as the contraction suite
_CACHE_LINE = 64
# Below this a stream kernel times numpy's call overhead (about 1 µs), not memory.
_MIN_STREAM_BYTES = 256 * 1024
# The GEMM rate comes from many short products (about 20 ms each at n = 1024) rather than a few
# long ones: on a shared machine the best of many short samples is the one that found the cores
# free. Stream kernels leave every cache at the DRAM size (L3 here: 32 MiB).
_GEMM_N, _QUICK_GEMM_N = 1024, 256
_DRAM_BYTES, _QUICK_DRAM_BYTES = 256 * 2**20, 8 * 2**20
# seconds of samples per figure: the machine-level ones, and each case's two bandwidths
_MACHINE_TARGET, _CASE_TARGET, _QUICK_TARGET = 1.0, 0.2, 0.01


def _best_seconds(fn: Callable[[], Any], quick: bool, target: float = _CASE_TARGET) -> float:
    """The fastest call of ``fn`` after a warm-up (adaptive repeats, as the suite's cells)."""
    return h.measure(fn, quick=False, target=_QUICK_TARGET if quick else target).best


def _blas_threads(threads: int | None) -> contextlib.AbstractContextManager:
    """A context limiting the BLAS pools to ``threads`` (None: leave them as they are)."""
    if threads is None:
        return contextlib.nullcontext()
    threadpoolctl = importlib.import_module("threadpoolctl")
    return threadpoolctl.threadpool_limits(limits=threads, user_api="blas")


def gemm_rate(n: int, dtype: Any = np.float64, threads: int | None = None,
              quick: bool = False) -> float:
    """FLOP/s of ``n`` x ``n`` matrix products through numpy's BLAS (2 n^3 FLOPs per call).

    >>> gemm_rate(64, quick=True) > 1e8
    True
    """
    rng = np.random.default_rng(h.SEED)
    a, b = (rng.standard_normal((n, n)).astype(dtype) for _ in range(2))
    out = np.empty((n, n), dtype)
    with _blas_threads(threads):
        seconds = _best_seconds(lambda: np.matmul(a, b, out=out), quick, _MACHINE_TARGET)
    return 2.0 * n**3 / seconds


def read_bandwidth(nbytes: float, quick: bool = False, target: float = _CASE_TARGET) -> float:
    """Bytes/s reading ``nbytes`` of float64: the best of a sum (one thread, SIMD), a
    matrix-vector product and a dot product of the two halves (BLAS, every thread), each
    reading the array once.

    >>> read_bandwidth(2**20, quick=True) > 1e8
    True
    """
    count = max(int(max(nbytes, _MIN_STREAM_BYTES)) // _ITEMSIZE, 256)
    rows = count // 256
    a = np.ones((rows, 256))
    x = np.ones(256)
    y = np.empty(rows)
    first, second = np.split(a.reshape(-1), 2)  # 256 * rows entries: an even count
    best = min(_best_seconds(lambda: a.sum(), quick, target),
               _best_seconds(lambda: np.matmul(a, x, out=y), quick, target),
               _best_seconds(lambda: np.dot(first, second), quick, target))
    return a.nbytes / best


def write_bandwidth(nbytes: float, quick: bool = False, target: float = _CASE_TARGET) -> float:
    """Bytes/s writing ``nbytes`` of float64 (``fill``: no read stream beside it).

    >>> write_bandwidth(2**20, quick=True) > 1e8
    True
    """
    a = np.empty(max(int(max(nbytes, _MIN_STREAM_BYTES)) // _ITEMSIZE, 1))
    return a.nbytes / _best_seconds(lambda: a.fill(0.5), quick, target)


def copy_bandwidth(nbytes: float, quick: bool = False, target: float = _CASE_TARGET) -> float:
    """Bytes/s moved by a copy of ``nbytes`` (read and write counted: 2 ``nbytes`` per call)."""
    src = np.ones(max(int(nbytes) // _ITEMSIZE, 1))
    dst = np.empty_like(src)
    return 2.0 * src.nbytes / _best_seconds(lambda: np.copyto(dst, src), quick, target)


def machine_limits(quick: bool = False) -> dict:
    """GEMM rates (float64 on every and on one BLAS thread, float32) and DRAM bandwidths."""
    n = _QUICK_GEMM_N if quick else _GEMM_N
    dram = _QUICK_DRAM_BYTES if quick else _DRAM_BYTES
    limits: dict[str, Any] = {"gemm_n": n, "dram_bytes": dram, "error": None}
    limits["dgemm"] = gemm_rate(n, quick=quick)
    try:
        limits["dgemm_1thread"] = gemm_rate(n, threads=1, quick=quick)
    except ImportError:  # threadpoolctl is in the bench extra; without it, one figure less
        limits["dgemm_1thread"] = None
    limits["sgemm"] = gemm_rate(n, np.float32, quick=quick)
    limits["read_bw"] = read_bandwidth(dram, quick, _MACHINE_TARGET)
    limits["write_bw"] = write_bandwidth(dram, quick, _MACHINE_TARGET)
    limits["copy_bw"] = copy_bandwidth(dram, quick, _MACHINE_TARGET)
    return limits


# --------------------------------------------------------------------------- per case


def _operand_bytes(term: str, shape: Sequence[int]) -> float:
    """Bytes of an operand a contraction must read: every entry once, or, for a term with a
    repeated label (a diagonal), one cache line per entry on the diagonal once the entries lie
    a line or more apart."""
    if len(set(term)) == len(term):
        return float(math.prod(shape)) * _ITEMSIZE
    strides = np.cumprod([1, *shape[::-1]])[:-1][::-1] * _ITEMSIZE  # C order, bytes
    step: dict[str, int] = {}
    size: dict[str, int] = {}
    for label, extent, stride in zip(term, shape, strides):
        step[label] = step.get(label, 0) + int(stride)
        size[label] = extent
    entries = math.prod(size.values())
    return float(entries) * min(_CACHE_LINE, max(_ITEMSIZE, min(step.values())))


def case_counts(subscripts: str, shapes: Sequence[Sequence[int]]) -> dict:
    """FLOPs (opt_einsum's path) and the bytes read and written by one contraction.

    >>> c = case_counts("ij,jk->ik", [(4, 4), (4, 4)])
    >>> c["flops"], c["read_bytes"], c["write_bytes"]
    (128.0, 256.0, 128.0)
    >>> case_counts("ii->i", [(100, 100)])["read_bytes"]  # one line per diagonal entry
    6400.0
    """
    opt_einsum = importlib.import_module("opt_einsum")
    inputs, output = subscripts.split("->")
    terms = inputs.split(",")
    _, info = opt_einsum.contract_path(subscripts, *shapes, shapes=True)
    sizes = {label: extent for term, shape in zip(terms, shapes)
             for label, extent in zip(term, shape)}
    return {"flops": float(info.opt_cost),
            "read_bytes": sum(_operand_bytes(t, s) for t, s in zip(terms, shapes)),
            "write_bytes": float(math.prod(sizes[label] for label in output)) * _ITEMSIZE}


def roofline(flops: float, read_bytes: float, write_bytes: float, gemm_rate: float,
             read_bw: float, write_bw: float) -> dict:
    """The shortest time the machine allows for a contraction, and which limit sets it."""
    compute = flops / gemm_rate
    memory = read_bytes / read_bw + write_bytes / write_bw
    return {"bound": "GEMM" if compute >= memory else "bandwidth",
            "limit": max(compute, memory), "t_gemm": compute, "t_memory": memory}


MACHINE = "_machine"  # the cell of the machine-level figures among the per-case cells
_RATES = ("dgemm", "dgemm_1thread", "sgemm", "read_bw", "write_bw", "copy_bw")


def best_of_runs(runs: Sequence[dict[str, dict]]) -> dict[str, dict]:
    """Cells of several measurements of the limits as one: every rate the best one measured
    (load from other jobs only ever lowers a rate), every roofline recomputed from them.

    >>> run = lambda rate: {MACHINE: {"dgemm": rate, "dgemm_1thread": None},
    ...     "mm": {"flops": 2e9, "read_bytes": 0.0, "write_bytes": 0.0,
    ...            "read_bw": 1e10, "write_bw": 1e10}}
    >>> round(best_of_runs([run(5e10), run(1e11)])["mm"]["limit"], 3)
    0.02
    """
    runs = [run for run in runs if (run.get(MACHINE) or {}).get("dgemm")]
    if not runs:
        return {}
    merged = {name: dict(cell) for name, cell in runs[0].items()}
    for run in runs[1:]:
        for name, cell in run.items():
            for key in _RATES:
                if cell.get(key) is not None and key in merged.get(name, {}):
                    merged[name][key] = max(merged[name][key] or 0.0, cell[key])
    gemm = gemm_limit(merged[MACHINE])
    for name, cell in merged.items():
        if name != MACHINE and cell.get("flops") is not None:
            cell.update(roofline(cell["flops"], cell["read_bytes"], cell["write_bytes"], gemm,
                                 cell["read_bw"], cell["write_bw"]))
    return merged


def gemm_limit(machine: dict) -> float:
    """The machine's float64 GEMM rate: the better of every BLAS thread and one thread (on a
    busy machine, threads waiting for a core can make the pool slower than one thread)."""
    return max(rate for rate in (machine["dgemm"], machine.get("dgemm_1thread")) if rate)


def case_limits(cases: Sequence[tuple[str, str, Sequence[Sequence[int]]]], quick: bool,
                emit: Callable[[str, dict], None]) -> None:
    """Measure the machine, then each case's roofline: ``emit(name, cell)`` per case, first
    ``emit(MACHINE, limits)``. ``cases`` are ``(name, subscripts, shapes)``."""
    machine = machine_limits(quick)
    emit(MACHINE, machine)
    reads: dict[int, float] = {}
    writes: dict[int, float] = {}
    for name, subscripts, shapes in cases:
        counts = case_counts(subscripts, shapes)
        read_key = int(max(counts["read_bytes"], _MIN_STREAM_BYTES))
        write_key = int(max(counts["write_bytes"], _MIN_STREAM_BYTES))
        if read_key not in reads:
            reads[read_key] = read_bandwidth(read_key, quick)
        if write_key not in writes:
            writes[write_key] = write_bandwidth(write_key, quick)
        cell = {"error": None, **counts, "read_bw": reads[read_key],
                "write_bw": writes[write_key]}
        cell.update(roofline(counts["flops"], counts["read_bytes"], counts["write_bytes"],
                             gemm_limit(machine), reads[read_key], writes[write_key]))
        emit(name, cell)


# --------------------------------------------------------------------------- printing


def machine_lines(machine: dict) -> list[str]:
    """The machine's limits as text lines for the notes under a table."""
    def rate(key: str, unit: float, suffix: str) -> str:
        value = machine.get(key)
        return "n/a" if value is None else f"{value / unit:.1f} {suffix}"

    n, dram = machine["gemm_n"], machine["dram_bytes"] / 2**20
    return [f"machine limits (best measured in this run): dgemm {n}^3"
            f" {rate('dgemm', 1e9, 'GFLOP/s')} on every BLAS thread,"
            f" {rate('dgemm_1thread', 1e9, 'GFLOP/s')} on one;"
            f" sgemm {rate('sgemm', 1e9, 'GFLOP/s')}",
            f"  memory ({dram:.0f} MiB arrays): read {rate('read_bw', 1e9, 'GB/s')},"
            f" write {rate('write_bw', 1e9, 'GB/s')}, copy {rate('copy_bw', 1e9, 'GB/s')}"
            " (read+write); per case, read and write bandwidth are measured at the case's size"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a second or two)")
    args = parser.parse_args(argv)
    print("\n".join(machine_lines(machine_limits(args.quick))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
