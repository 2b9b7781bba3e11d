"""Wall time of ``python -m agcn_pyg demo`` against its goal: five minutes on 2 CPU cores.

    python bench/bench_demo.py [--out DIR] [--goal 300] [-- demo options ...]

Runs the demo exactly as ``make demo`` does (a fresh process, ``--out`` a new temporary
folder unless given, so nothing is cached: data, weights conversion and features are built
from scratch) and prints a Markdown table of its stages (from ``<out>/timings.json``) and the
total wall time of the process, start-up and imports included, against the goal.

The machine is part of the measurement. The table states the CPU count and how much of the
run some task spent waiting for a CPU (Linux pressure stall information,
``/proc/pressure/cpu``, ``some``): near 0 % on an idle machine; on a shared one, other jobs
slow the demo down and the figure says by how much.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_SECONDS = 300.0
PRESSURE = Path("/proc/pressure/cpu")


def cpu_stall_us() -> float | None:
    """Total microseconds some task waited for a CPU since boot, or ``None`` if unknown."""
    try:
        for line in PRESSURE.read_text().splitlines():
            if line.startswith("some"):
                return float(line.rsplit("total=", 1)[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def run_demo(out: Path, extra: Sequence[str]) -> tuple[float, float | None, int]:
    """``(wall seconds, stall fraction or None, exit code)`` of one demo process."""
    cmd = [sys.executable, "-m", "agcn_pyg", "demo", "--out", str(out), "--no-progress", *extra]
    print("$ " + " ".join(cmd), file=sys.stderr, flush=True)
    stall = cpu_stall_us()
    start = time.perf_counter()
    code = subprocess.run(cmd, cwd=ROOT, check=False).returncode
    seconds = time.perf_counter() - start
    after = cpu_stall_us()
    fraction = None if stall is None or after is None else (after - stall) / 1e6 / seconds
    return seconds, fraction, code


def table(out: Path, seconds: float, stall: float | None, goal: float) -> str:
    timings = json.loads((out / "timings.json").read_text())
    stages = dict(timings["stages"])
    inner = stages.pop("total")
    lines = [
        "## The demo's wall time",
        "",
        "`python bench/bench_demo.py` (`python -m agcn_pyg demo` in a fresh process and folder)",
        "",
        "| stage | seconds |",
        "|:---|---:|",
        f"| process start and imports | {seconds - inner:.1f} |",
    ]
    lines += [f"| {name} | {value:.1f} |" for name, value in stages.items()]
    lines.append(f"| **total** | **{seconds:.1f}** |")
    lines += ["", "| row | mode | labels | seconds | mAP |", "|:---|:---|:---|---:|---:|"]
    for row in timings["rows"]:
        setting = row.get("setting", "clean")  # timings written before Table 2 have none
        lines.append(
            f"| {row['row']} | {row['mode']} | {setting} | {row['seconds']:.1f} "
            f"| {row['mAP']:.2f} |"
        )
    waited = "unknown" if stall is None else f"{100 * stall:.0f} % of the run"
    verdict = "met" if seconds <= goal else "missed"
    lines += [
        "",
        f"machine: {os.cpu_count()} CPU cores; some task waited for a CPU during {waited}",
        f"goal: demo total ≤ {goal:.0f} s on 2 CPU cores: {seconds:.0f} s, "
        f"{seconds / goal:.2f} × the goal ({verdict})",
    ]
    return "\n".join(lines)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="keep the demo's outputs here")
    parser.add_argument("--goal", type=float, default=GOAL_SECONDS, help="seconds (300)")
    parser.add_argument("demo_args", nargs="*", help="after --: options for `agcn demo`")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    temporary = args.out is None
    out = Path(tempfile.mkdtemp(prefix="agcn_demo_")) if temporary else args.out
    if not temporary and out.exists():
        shutil.rmtree(out)  # a fresh folder: nothing cached from an earlier run
    try:
        seconds, stall, code = run_demo(out, args.demo_args)
        if code != 0:
            print(f"demo failed with exit code {code}", file=sys.stderr)
            return code
        print(table(out, seconds, stall, args.goal))
    finally:
        if temporary:
            shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
