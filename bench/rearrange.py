"""Benchmark: tensorcalc's rearrange/reduce/repeat against einops on numpy arrays.

Small arrays (4x4x3) measure per-call overhead, large ones (64x256x256) throughput. Each
row reports the median over many timed calls of both libraries, the throughput of the large
cases (bytes read + written per second) and the ratio tensorcalc / einops (1.00 = same
speed; tensorcalc adds an isinstance check, a cached pattern rewrite and error conversion).

Run: ``PYTHONPATH=. python bench/rearrange.py [--quick]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any, Callable

import einops
import numpy as np

import tensorcalc
from tensorcalc.einops_ext.rearrange import rearrange, reduce, repeat

# tc.rearrange once the lead exports it (until then the attribute is the submodule)
tc = tensorcalc if callable(getattr(tensorcalc, "rearrange", None)) else None
OURS = {"rearrange": rearrange, "reduce": reduce, "repeat": repeat}

# (label, operation, pattern, extra positional args, sizes)
CASES = [
    ("transpose (view)", "rearrange", "b h w -> w h b", (), {}),
    ("merge after transpose", "rearrange", "b h w -> b (w h)", (), {}),
    ("space-to-depth", "rearrange", "(h h2) (w w2) c -> h w (c h2 w2)", (), {"h2": 2, "w2": 2}),
    ("sum over h w", "reduce", "b h w -> b", ("sum",), {}),
    ("mean over b", "reduce", "b h w -> h w", ("mean",), {}),
    ("2x2 max-pool", "reduce", "(h h2) (w w2) c -> h w c", ("max",), {"h2": 2, "w2": 2}),
    ("repeat new axis", "repeat", "b h w -> b h w r", (), {"r": 2}),
]

SHAPES = {"small": (4, 4, 3), "large": (64, 256, 256)}


def _median_seconds(call: Callable[[], Any], repeats: int, inner: int) -> float:
    call()  # warm caches (einops recipes, our pattern rewrite)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            call()
        samples.append((time.perf_counter() - start) / inner)
    return statistics.median(samples)


def _bytes_moved(x: np.ndarray, y: np.ndarray) -> int:
    # a view moves nothing; otherwise the input is read and the result written once
    return 0 if np.shares_memory(x, y) else x.nbytes + y.nbytes


def run(repeats: int, quick: bool) -> list[tuple]:
    rng = np.random.default_rng(0)
    rows = []
    for size_name, shape in SHAPES.items():
        x = rng.standard_normal(shape)
        inner = 200 if size_name == "small" else 1
        reps = repeats if size_name == "small" else max(5, repeats // (10 if quick else 4))
        print(f"running {size_name} cases {shape} ({len(CASES)} cases, tensorcalc then einops "
              "on each) ...", file=sys.stderr, flush=True)
        for label, op, pattern, extra, sizes in CASES:
            print(f"  {size_name}: {label} ...", file=sys.stderr, flush=True)
            ours = getattr(tc, op) if tc is not None else OURS[op]
            theirs = getattr(einops, op)
            want = theirs(x, pattern, *extra, **sizes)
            got = ours(x, pattern, *extra, **sizes)
            assert np.array_equal(got, want) and got.dtype == want.dtype, label
            t_ours = _median_seconds(lambda: ours(x, pattern, *extra, **sizes), reps, inner)
            t_eo = _median_seconds(lambda: theirs(x, pattern, *extra, **sizes), reps, inner)
            moved = _bytes_moved(x, want)
            rows.append((size_name, label, t_ours, t_eo, moved))
    return rows


def _format(rows: list[tuple]) -> str:
    head = f"{'size':6} {'case':24} {'tensorcalc':>12} {'einops':>12} {'GB/s (tc)':>10} {'ratio':>6}"
    lines = [head, "-" * len(head)]
    for size_name, label, t_ours, t_eo, moved in rows:
        rate = f"{moved / t_ours / 1e9:10.2f}" if moved and size_name == "large" else f"{'-':>10}"
        lines.append(f"{size_name:6} {label:24} {_time(t_ours):>12} {_time(t_eo):>12} "
                     f"{rate} {t_ours / t_eo:6.2f}")
    return "\n".join(lines)


def _time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} us"
    return f"{seconds * 1e3:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=41, help="timed samples per case")
    parser.add_argument("--quick", action="store_true", help="fewer samples for large arrays")
    args = parser.parse_args()
    print(f"einops {einops.__version__}, numpy {np.__version__}; median of {args.repeats} "
          "samples (small: 200 calls per sample)")
    print(_format(run(args.repeats, args.quick)))


if __name__ == "__main__":
    main()
