"""Speed of ``compute_metrics`` against the plain-loop reference, at COCO val size.

    python bench/bench_metrics.py [--n 40137] [--c 80] [--repeats 3] [--loop-rows ROWS]

Random scores and targets (fixed seed) stand in for a model's output: about 2.9 positive
labels per image as in COCO, 1 % of the targets marked -1 so that the ignore path is timed
too, and scores from a noisy sigmoid so that AP is neither 0 nor 1. The vectorised
``agcn_pyg.metrics.compute_metrics`` is timed as the best of ``--repeats`` runs; the loop
implementation ``reference_metrics`` of ``tests/metrics_reference.py`` once, on all rows unless
``--loop-rows`` asks for a subset, whose time is then scaled linearly to ``--n`` rows (a
slight underestimate of the loop, whose sorts grow as n log n). Both must agree to 1e-9
before the table is printed. Goal: at least 100× faster than the loop and under 1 s.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agcn_pyg.metrics import compute_metrics

#: the plain-loop oracle lives with the tests (it is not part of the package); loaded by path
REFERENCE = Path(__file__).resolve().parents[1] / "tests" / "metrics_reference.py"


def _load_reference() -> Any:
    spec = importlib.util.spec_from_file_location("metrics_reference", REFERENCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


reference_metrics = _load_reference().reference_metrics

GOAL_SPEEDUP = 100.0
GOAL_SECONDS = 1.0
TOLERANCE = 1e-9


def make_data(n: int, c: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """N×C float32 scores and int8 targets in {-1, 0, 1}, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, c)) < 2.9 / 80).astype(np.int8)
    targets[rng.random((n, c)) < 0.01] = -1
    logits = 1.5 * rng.standard_normal((n, c)) + 3.0 * (targets == 1) - 2.5
    scores = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
    return scores, targets


def best_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Best wall time of ``repeats`` calls, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def mismatches(got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    """Names of the entries where the two results differ by more than ``TOLERANCE``."""
    bad = [k for k in want if k not in got]
    for key in want.keys() & got.keys():
        if isinstance(want[key], str):  # the protocol's name
            bad += [key] if got[key] != want[key] else []
            continue
        a = np.asarray(got[key], dtype=np.float64)
        b = np.asarray(want[key], dtype=np.float64)
        same = (np.abs(a - b) <= TOLERANCE) | (np.isnan(a) & np.isnan(b))
        if not same.all():
            bad.append(key)
    return sorted(bad)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40137, help="images (default: COCO val)")
    parser.add_argument("--c", type=int, default=80, help="labels (default: COCO)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of the vectorised code")
    parser.add_argument(
        "--loop-rows",
        type=int,
        default=None,
        help="time the loop on the first ROWS images only and scale linearly (default: all)",
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    if args.n < 1 or args.c < 1 or args.repeats < 1:
        raise SystemExit("bench_metrics: --n, --c and --repeats must be positive")
    scores, targets = make_data(args.n, args.c, args.seed)
    loop_rows = args.n if args.loop_rows is None else max(1, min(args.loop_rows, args.n))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # tiny --n may leave a class empty
        vec_s, vec = best_time(lambda: compute_metrics(scores, targets), args.repeats)
        loop_s, ref = best_time(
            lambda: reference_metrics(scores[:loop_rows], targets[:loop_rows]), 1
        )
        check = (
            vec if loop_rows == args.n else compute_metrics(scores[:loop_rows], targets[:loop_rows])
        )
    bad = mismatches(check, ref)
    if bad:
        print(f"bench_metrics: vectorised and loop results differ in {bad}", file=sys.stderr)
        return 1

    scaled = loop_rows < args.n
    loop_full = loop_s * args.n / loop_rows
    speedup = loop_full / vec_s
    loop_label = "loop (s)" + (f", scaled from {loop_rows} rows" if scaled else "")
    print(
        f"compute_metrics vs plain loops: {os.cpu_count()} CPU(s), load average {load:.1f} "
        f"before the runs, numpy {np.__version__}"
    )
    print()
    print(f"| n | C | vectorised (s) | {loop_label} | speed-up |")
    print("|---:|---:|---:|---:|---:|")
    print(f"| {args.n} | {args.c} | {vec_s:.3f} | {loop_full:.2f} | {speedup:.0f}× |")
    print()
    print(
        f"results agree to {TOLERANCE:g}; mAP {vec['mAP']:.2f}, CF1 {vec['CF1']:.2f}, "
        f"OF1 {vec['OF1']:.2f}, AP_all {vec['AP_all']:.2f}"
    )
    met = speedup >= GOAL_SPEEDUP and vec_s < GOAL_SECONDS
    print(
        f"goal: >= {GOAL_SPEEDUP:.0f}× and < {GOAL_SECONDS:g} s -> "
        f"{'met' if met else 'NOT met'} ({speedup:.0f}×, {vec_s:.3f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
