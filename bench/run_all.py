"""Run every CPU benchmark (figures 1–6) one after the other and print their tables.

    python bench/run_all.py [--only 1 4] [--out FILE]

Each benchmark runs in its own process with its default, short settings (about 10 minutes
in all on 2 cores); their Markdown goes to stdout and, with ``--out``, to one file. The GPU
check is separate: ``bash bench/gpu_check.sh`` on a CUDA machine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from agcn_pyg.io import write_text

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: figure number → (script, arguments)
FIGURES: dict[int, tuple[str, list[str]]] = {
    1: ("bench_head.py", []),
    2: ("bench_inference.py", []),
    3: ("bench_metrics.py", []),
    4: ("bench_gnn_scaling.py", []),
    5: ("bench_data.py", []),
    6: ("bench_memory.py", []),
}


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", type=int, nargs="+", choices=sorted(FIGURES), default=None)
    parser.add_argument("--out", default=None, help="also write all tables to this file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    chosen = args.only or sorted(FIGURES)
    sections: list[str] = []
    summary: list[str] = []
    failed = 0
    start = time.perf_counter()
    for figure in chosen:
        script, extra = FIGURES[figure]
        cmd = [sys.executable, str(HERE / script), *extra]
        began = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - began
        text = proc.stdout.rstrip()
        if proc.returncode != 0:
            failed += 1
            text += f"\n\n**{script} failed (exit {proc.returncode})**\n\n```\n"
            text += proc.stderr[-3000:] + "\n```"
        if figure == 3:  # bench_metrics prints its own title-less table
            text = f"## Figure 3: metric suite vs plain loops\n\n`python bench/{script}`\n\n{text}"
        print(text + f"\n\n({script}: {seconds:.0f} s)\n", flush=True)
        sections.append(text)
        goals = [line for line in text.splitlines() if line.startswith("goal:")]
        summary += [f"- figure {figure}: {line}" for line in goals] or [f"- figure {figure}: table"]
    total = time.perf_counter() - start
    tail = "\n".join(["## Summary", "", *summary, "", f"all benchmarks: {total:.0f} s"])
    print(tail)
    if args.out:
        write_text(Path(args.out), "\n\n".join([*sections, tail]) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
