"""dask benchmark: compiled derivatives on data chunked by rows, on a LocalCluster.

    python bench/distributed.py                  # X of 1e7 x 64 float64 (5.1 GB), 2 workers
    python bench/distributed.py --quick          # small sizes, well under a minute
    python bench/distributed.py --json out.json  # also the numbers as JSON

The data is written once to a zarr store in a temporary directory (uncompressed, one zarr
chunk per dask chunk) and every variant reads it lazily with ``da.from_zarr``. Four problems:
the logistic-regression gradient, Hessian and Hessian-vector product
(``f(w) = Σ softplus(Xw) - y·Xw``) and the least-squares gradient (``½‖Xw - t‖²``), each
computed by three variants on a LocalCluster of 2 worker processes with 1 thread each:

* ``tc``: ``tc.compile(derivative)`` called with the dask arrays (one fused numpy kernel per
  chunk, a tree reduction, ``tensorcalc/evaluation/chunked.py``);
* ``hand``: the dask code one writes by hand (``X.T @ (sigmoid(X @ w) - y)``, ...);
* ``oe``: the same derivative graph one operation at a time on dask, every einsum through
  ``opt_einsum.contract(..., backend="dask")`` (pairwise ``tensordot``/``einsum``), the other
  nodes blockwise.

Columns: ``tasks`` in the graph the scheduler receives (after dask's optimization, the zarr
reads included; ``(built)``: the ratio on the graphs as built, before it), ``wall`` the best of
``--repeat`` runs of ``client.compute`` to the numpy result (the variants take turns, so a
burst of load from other jobs falls on all of them), ``peak`` (the best of the runs too) the
largest increase of a worker process's resident memory (RSS, psutil sampled every 2 ms in a
thread of each worker; baseline taken right before the run) divided by the size of one chunk
of X. Ratios: tc/oe tasks (target at most 1/3), tc/hand wall time (target at most 1.2); tc's
peak memory has the target of at most 2 chunks. The line above the table measures reading X
alone (``X.sum(0)``): zarr reads a chunk's bytes and then decodes them into the array, so a
read by itself raises the RSS by about 2 chunks, the floor of every variant.

Last, the out-of-memory case: a zarr store of about 4 GiB (``--big-gib``), workers limited to
1 GiB each, the logistic gradient, Hessian and HVP together by ``tc``; it must finish without a
worker being restarted or a task failing, and agree with a streaming numpy reference.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

if __package__ in (None, ""):  # run as a script: make `bench` and `tensorcalc` importable
    # ...and not this file's folder: this script would shadow the `distributed` package
    _here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
    sys.path.insert(0, str(_here.parent))

import numpy as np

SEED = 20261130
VARIANTS = ("tc", "hand", "oe")
PROBLEM_NAMES = ("logistic-grad", "logistic-hessian", "logistic-hvp", "lstsq-grad")


# ----------------------------------------------------------------------------- data

def write_store(path: Path, rows: int, cols: int, chunk: int) -> None:
    """X (rows x cols), labels y in {0, 1} and targets t, chunk by chunk (never all in memory)."""
    import zarr

    rng = np.random.default_rng(SEED)
    root = zarr.open_group(str(path), mode="w")
    X = root.create_array("X", shape=(rows, cols), chunks=(chunk, cols), dtype="f8", compressors=None)
    y = root.create_array("y", shape=(rows,), chunks=(chunk,), dtype="f8", compressors=None)
    t = root.create_array("t", shape=(rows,), chunks=(chunk,), dtype="f8", compressors=None)
    truth = rng.standard_normal(cols) / math.sqrt(cols)
    for start in range(0, rows, chunk):
        stop = min(start + chunk, rows)
        block = rng.standard_normal((stop - start, cols))
        z = block @ truth
        X[start:stop] = block
        y[start:stop] = (rng.random(stop - start) < 1 / (1 + np.exp(-z))).astype(float)
        t[start:stop] = z + 0.1 * rng.standard_normal(stop - start)


def parameters(cols: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED + 1)
    return {"w": rng.standard_normal(cols) / math.sqrt(cols), "v": rng.standard_normal(cols)}


# ----------------------------------------------------------------------------- the variants

def tc_problems(tc: Any) -> dict[str, Any]:
    X, y, t = tc.var("X", ("N", "d")), tc.var("y", ("N",)), tc.var("t", ("N",))
    w, v = tc.var("w", ("d",)), tc.var("v", ("d",))
    z = X @ w
    logistic = tc.sum(tc.softplus(z) - y * z)
    r = X @ w - t
    return {"logistic-grad": tc.grad(logistic, w), "logistic-hessian": tc.hessian(logistic, w),
            "logistic-hvp": tc.hvp(logistic, w, v), "lstsq-grad": tc.grad(tc.sum(r * r) / 2, w)}


def hand_written(name: str, X: Any, y: Any, t: Any, w: np.ndarray, v: np.ndarray) -> Any:
    """What one writes with dask.array directly."""
    import dask.array as da

    if name == "lstsq-grad":
        return X.T @ (X @ w - t)
    s = 1 / (1 + da.exp(-(X @ w)))
    if name == "logistic-grad":
        return X.T @ (s - y)
    if name == "logistic-hessian":
        return (X * (s * (1 - s))[:, None]).T @ X
    return X.T @ (s * (1 - s) * (X @ v))


def one_op_at_a_time(fn: Any, arrays: dict[str, Any]) -> list[Any]:
    """The compiled graph node by node on dask: einsums by opt_einsum's dask backend."""
    import dask.array as da
    import opt_einsum

    from tensorcalc.evaluation.chunked import pairwise_rule
    from tensorcalc.evaluation.precision import adopt_precision, weak_nodes, weak_positions
    from tensorcalc.ir import Einsum, Var

    sizes = {d: n for v in fn.variables for d, n in zip(v.shape, arrays[v.name].shape)
             if isinstance(d, str)}
    weak = weak_nodes(fn.order)
    values: dict[int, Any] = {}
    for node in fn.order:
        if isinstance(node, Var):
            values[node.uid] = arrays[node.name]
            continue
        args = [values[c.uid] for c in node.children]
        positions = weak_positions(node, weak)
        if positions:
            args = adopt_precision(args, positions)
        if not any(isinstance(a, da.Array) for a in args):
            volume = math.prod(sizes[d] if isinstance(d, str) else d for d in node.shape)
            if not args or volume <= 2**16:
                values[node.uid] = np.asarray(node.eval_node(*args, sizes=sizes))
                continue
            args = [da.asarray(a) for a in args]  # ones broadcast along the rows: lazily
        if isinstance(node, Einsum) and set(node.output) <= set("".join(node.inputs)) \
                and len(set(node.output)) == len(node.output):
            out = opt_einsum.contract(node.spec, *args, backend="dask")
            factor = node.scale * math.prod(float(sizes[d]) ** p for d, p in node.factor_dims)
            values[node.uid] = out if factor == 1.0 else out * factor
        else:
            values[node.uid] = pairwise_rule(node, args, sizes, da)
    return [values[e.uid] for e in fn.exprs]


# ----------------------------------------------------------------------------- measuring

def _warm_up(store: str) -> None:
    """In a worker: import tensorcalc and zarr, read a little of the store and plan one small
    compiled call before any timing."""
    import dask.array as da
    import zarr

    import tensorcalc as tc

    zarr.open_group(store, mode="r")["X"][:1]
    da.from_zarr(store, component="X")[:1].compute(scheduler="sync")

    x = tc.var("x", ("n",))
    tc.compile(tc.grad(tc.sum(tc.softplus(x * x)), x))(x=np.ones(3))


def _start_sampler(dask_worker: Any = None) -> int:
    """In a worker: a thread recording the peak RSS of the process until stopped."""
    import psutil

    proc = psutil.Process()
    state = {"base": proc.memory_info().rss, "peak": 0, "stop": False}
    state["peak"] = state["base"]

    def loop() -> None:
        while not state["stop"]:
            state["peak"] = max(state["peak"], proc.memory_info().rss)
            time.sleep(0.002)

    thread = threading.Thread(target=loop, daemon=True)
    state["thread"] = thread
    dask_worker._tc_sampler = state
    thread.start()
    return state["base"]


def _stop_sampler(dask_worker: Any = None) -> tuple[int, int]:
    state = dask_worker._tc_sampler
    state["stop"] = True
    state["thread"].join()
    return state["base"], state["peak"]


@dataclass
class Cell:
    tasks: int  # in the graph the scheduler runs (after dask's optimization)
    built: int  # in the graph as built (one task per operation and chunk for oe and hand)
    wall: float
    peak: int  # bytes above the baseline, the largest over the workers
    result: np.ndarray


def task_count(outs: list[Any], optimize: bool = True) -> int:
    import dask.base

    return len(dask.base.collections_to_expr(outs, optimize_graph=optimize).__dask_graph__())


def measure(client: Any, build: Callable[[], list[Any]]) -> tuple[float, int, np.ndarray]:
    """One run: (wall seconds, peak RSS increase over the workers, the first result)."""
    import gc

    outs = build()
    client.run(gc.collect)
    client.run(_start_sampler)
    start = time.perf_counter()
    result = client.compute(outs, sync=True)
    wall = time.perf_counter() - start
    samples = client.run(_stop_sampler)
    return wall, max(peak - base for base, peak in samples.values()), np.asarray(result[0])


def run_variants(client: Any, builds: dict[str, Callable[[], list[Any]]], repeat: int) -> dict[str, Cell]:
    """Every variant ``repeat`` times, taking turns (a burst of load from other jobs on the
    machine then falls on all of them), the best wall time and peak of each."""
    runs: dict[str, list] = {v: [] for v in builds}
    for _ in range(repeat):
        for variant, build in builds.items():
            runs[variant].append(measure(client, build))
    return {v: Cell(task_count(build()), task_count(build(), optimize=False),
                    min(r[0] for r in runs[v]), min(r[1] for r in runs[v]), runs[v][-1][2])
            for v, build in builds.items()}


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


# ----------------------------------------------------------------------------- the suites

def main_suite(client: Any, store: Path, args: argparse.Namespace) -> dict:
    import dask.array as da

    import tensorcalc as tc

    X = da.from_zarr(str(store), component="X")
    y = da.from_zarr(str(store), component="y")
    t = da.from_zarr(str(store), component="t")
    params = parameters(args.cols)
    chunk_bytes = X.chunksize[0] * X.chunksize[1] * X.dtype.itemsize
    arrays = {"X": X, "y": y, "t": t, **params}
    problems = tc_problems(tc)
    read = run_variants(client, {"read": lambda: [X.sum(axis=0)]}, args.repeat)["read"]
    print(f"{'read X (X.sum(0))':<18}{read.tasks:>11d}{'':>22}{read.wall:>10.2f}s{'':>22}"
          f"{read.peak / chunk_bytes:>9.2f}ch", flush=True)
    rows = {}
    for name in args.problems:
        fn = tc.compile(problems[name])
        builds = {
            "tc": lambda: [fn(arrays)],
            "hand": lambda: [hand_written(name, X, y, t, params["w"], params["v"])],
            "oe": lambda: one_op_at_a_time(fn, arrays),
        }
        cells = run_variants(client, builds, args.repeat)
        reference = cells["hand"].result
        rows[name] = {
            variant: {"tasks": c.tasks, "built": c.built, "wall": c.wall, "peak_bytes": c.peak,
                      "peak_chunks": c.peak / chunk_bytes,
                      "rel_error": relative_error(c.result, reference)}
            for variant, c in cells.items()}
        print_row(name, rows[name])
    return {"chunk_bytes": chunk_bytes, "chunks": len(X.chunks[0]), "problems": rows,
            "read": {"tasks": read.tasks, "wall": read.wall, "peak_bytes": read.peak,
                     "peak_chunks": read.peak / chunk_bytes}}


def big_suite(store: Path, args: argparse.Namespace, cols: int) -> dict:
    """The logistic derivatives of a store larger than the workers' memory limits together."""
    import dask.array as da
    import zarr
    from distributed import Client, LocalCluster

    import tensorcalc as tc

    problems = tc_problems(tc)
    fn = tc.compile([problems[n] for n in ("logistic-grad", "logistic-hessian", "logistic-hvp")])
    params = parameters(cols)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit=args.big_limit,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        X = da.from_zarr(str(store), component="X")
        y = da.from_zarr(str(store), component="y")
        start = time.perf_counter()
        workers_before = _workers(client)
        client.run(_warm_up, str(store))
        client.run(_start_sampler)
        result = client.compute(fn({"X": X, "y": y, **params}), sync=True)
        samples = client.run(_stop_sampler)
        wall = time.perf_counter() - start
        restarts = len(workers_before - _workers(client))
        spilled = sum(client.run(_spilled_bytes).values())
    # a streaming numpy reference, one zarr chunk at a time
    group = zarr.open_group(str(store), mode="r")
    chunk = group["X"].chunks[0]
    reference = [np.zeros(cols), np.zeros((cols, cols)), np.zeros(cols)]
    for start_row in range(0, group["X"].shape[0], chunk):
        xb, yb = group["X"][start_row:start_row + chunk], group["y"][start_row:start_row + chunk]
        s = 1 / (1 + np.exp(-(xb @ params["w"])))
        reference[0] += xb.T @ (s - yb)
        reference[1] += (xb * (s * (1 - s))[:, None]).T @ xb
        reference[2] += xb.T @ (s * (1 - s) * (xb @ params["v"]))
    errors = [relative_error(np.asarray(r), ref) for r, ref in zip(result, reference)]
    peak = max(p - b for b, p in samples.values())
    return {"bytes": X.nbytes, "limit": args.big_limit, "chunk_bytes": X.chunksize[0] * cols * 8,
            "wall": wall, "peak_bytes": peak, "restarts": restarts, "spilled_bytes": spilled,
            "rel_errors": errors, "tasks": task_count(fn({"X": X, "y": y, **params}))}


def _workers(client: Any) -> set[str]:
    """The live workers' addresses: a worker the nanny restarts comes back on a new port."""
    return set(client.scheduler_info()["workers"])


def _spilled_bytes(dask_worker: Any = None) -> int:
    spilled = getattr(dask_worker.data, "spilled_total", None)  # (memory, disk) of the spill buffer
    return int(getattr(spilled, "disk", 0) or 0)


# ----------------------------------------------------------------------------- printing

def print_header(info: str) -> None:
    print(info)
    print(f"{'problem':<18}" + "".join(f"{v + ' tasks':>11}" for v in VARIANTS)
          + "".join(f"{v + ' wall':>11}" for v in VARIANTS)
          + "".join(f"{v + ' peak':>11}" for v in VARIANTS)
          + f"{'tc/oe tasks':>12}{'(built)':>8}{'tc/hand wall':>13}{'max err':>9}")


def print_row(name: str, row: dict) -> None:
    tasks = "".join(f"{row[v]['tasks']:>11d}" for v in VARIANTS)
    walls = "".join(f"{row[v]['wall']:>10.2f}s" for v in VARIANTS)
    peaks = "".join(f"{row[v]['peak_chunks']:>9.2f}ch" for v in VARIANTS)
    task_ratio = row["tc"]["tasks"] / row["oe"]["tasks"]
    built_ratio = row["tc"]["built"] / row["oe"]["built"]
    wall_ratio = row["tc"]["wall"] / row["hand"]["wall"]
    err = max(row[v]["rel_error"] for v in VARIANTS)
    print(f"{name:<18}{tasks}{walls}{peaks}{task_ratio:>12.3f}{built_ratio:>8.3f}{wall_ratio:>13.2f}"
          f"{err:>9.1e}",
          flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (well under a minute)")
    parser.add_argument("--rows", type=float, default=None, help="rows of X (default 1e7)")
    parser.add_argument("--cols", type=int, default=64)
    parser.add_argument("--chunk", type=int, default=None, help="rows per chunk (default 250000)")
    parser.add_argument("--repeat", type=int, default=None, help="timed runs per cell (default 3)")
    parser.add_argument("--problems", default=",".join(PROBLEM_NAMES))
    parser.add_argument("--big-gib", type=float, default=None,
                        help="size of the out-of-memory store in GiB (default 4; 0 skips it)")
    parser.add_argument("--big-limit", default="1GiB", help="memory limit of each worker there")
    parser.add_argument("--dir", default=None, help="where the zarr stores go (default: a temp dir)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    rows = int(args.rows or (200_000 if args.quick else 10_000_000))
    args.cols = 16 if args.quick and args.cols == 64 else args.cols
    chunk = args.chunk or (12_500 if args.quick else 250_000)
    args.repeat = args.repeat or (1 if args.quick else 3)
    big_gib = args.big_gib if args.big_gib is not None else (0.05 if args.quick else 4.0)
    args.problems = [p for p in args.problems.split(",") if p]
    unknown = [p for p in args.problems if p not in PROBLEM_NAMES]
    if unknown:
        parser.error(f"unknown problem: {', '.join(unknown)}")

    from distributed import Client, LocalCluster

    workdir = Path(tempfile.mkdtemp(prefix="tc-bench-", dir=args.dir))
    payload: dict[str, Any] = {"rows": rows, "cols": args.cols, "chunk": chunk}
    try:
        store = workdir / "main.zarr"
        start = time.perf_counter()
        write_store(store, rows, args.cols, chunk)
        print(f"wrote {rows * args.cols * 8 / 1e9:.2f} GB to {store} in "
              f"{time.perf_counter() - start:.1f}s", file=sys.stderr, flush=True)
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            client.run(_warm_up, str(store))
            print_header(f"dask, X of {rows} x {args.cols} float64 ({rows * args.cols * 8 / 1e9:.2f} GB) "
                         f"in chunks of {chunk} rows ({chunk * args.cols * 8 / 2**20:.0f} MiB), "
                         f"2 workers x 1 thread; wall and peak: best of {args.repeat} runs; "
                         f"peak: worker RSS increase in chunks of X")
            payload["main"] = main_suite(client, store, args)
        shutil.rmtree(store)
        if big_gib > 0:
            big_rows = int(big_gib * 2**30 / (args.cols * 8))
            big_chunk = max(1, min(chunk, big_rows // 16, 2**26 // (args.cols * 8)))
            big_store = workdir / "big.zarr"
            write_store(big_store, big_rows, args.cols, big_chunk)
            big = big_suite(big_store, args, args.cols)
            payload["big"] = big
            ok = big["restarts"] == 0 and max(big["rel_errors"]) < 1e-8
            print(f"\nout of memory: {big['bytes'] / 2**30:.2f} GiB of X from zarr, workers limited to "
                  f"{args.big_limit} each (2 workers), logistic grad+Hessian+HVP by tc: "
                  f"{big['tasks']} tasks, {big['wall']:.1f}s, peak worker RSS increase "
                  f"{big['peak_bytes'] / 2**20:.0f} MiB (chunk {big['chunk_bytes'] / 2**20:.0f} MiB), "
                  f"spilled {big['spilled_bytes'] / 2**20:.0f} MiB, "
                  f"max rel error {max(big['rel_errors']):.1e}: {'OK' if ok else 'FAILED'}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
