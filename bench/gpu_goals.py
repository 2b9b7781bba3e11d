"""Issue 22's goals side by side, from the reports `bench/gpu_check.sh` wrote in one run.

    python bench/gpu_goals.py REPORTS_DIR [--tests-rc N]

Reads ``gpu_train.json`` (``bench_train_gpu.py``), ``gpu_pipeline.json``
(``bench_pipeline_gpu.py``) and ``gpu_user_path.json`` (``bench_user_path_gpu.py``) and prints
one table: each goal, the figure measured, and whether it is met. A figure whose benchmark
failed or ran out of time reads "not measured". The exit status is 0: this is a report, not
a check (`gpu_check.sh` exits non-zero when a step fails).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchlib import table, verdict

NOT_MEASURED = "not measured"


def _read(folder: Path, name: str) -> dict[str, Any]:
    try:
        return json.loads((folder / name).read_text())
    except (OSError, ValueError):
        return {}


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def _row(goal: str, value: float | None, ok: bool | None, fmt: str = "{:.3f}") -> list[str]:
    if value is None:
        return [goal, NOT_MEASURED, ""]
    return [goal, fmt.format(value), "" if ok is None else verdict(ok)]


def goal_rows(folder: Path, tests_rc: int | None) -> list[list[str]]:
    train = _read(folder, "gpu_train.json")
    pipeline = _read(folder, "gpu_pipeline.json")
    user = _read(folder, "gpu_user_path.json")
    eager, compiled = train.get("eager", {}), train.get("compiled", {})
    resident = compiled.get("agcn")
    rows = []
    if tests_rc is not None:
        rows.append(["pytest -m cuda", "passed" if tests_rc == 0 else f"exit {tests_rc}", ""])
    for kind, rates in (("eager", eager), ("compiled", compiled)):
        value = _ratio(rates.get("agcn"), rates.get("baseline"))
        rows.append(_row(f"A-GCN ÷ baseline per step, {kind} (≥ 0.99)", value, _ok(value, 0.99)))
    value = _ratio(compiled.get("agcn"), compiled.get("timm"))
    rows.append(_row("compiled A-GCN ÷ compiled timm step (≥ 0.98)", value, _ok(value, 0.98)))
    value = _ratio(eager.get("agcn"), eager.get("timm"))
    rows.append(_row("eager A-GCN ÷ eager timm step", value, None))
    for decode in ("cpu", "gpu"):
        run = user.get(decode, {})
        value = _ratio(run.get("img_s"), resident)
        goal = "≥ 0.95" if decode == "gpu" else "shown"
        ok = _ok(value, 0.95) if decode == "gpu" else None
        rows.append(_row(f"agcn train, decode={decode}: steady ÷ resident ({goal})", value, ok))
        cores = run.get("cpu_s_per_image", 0) * resident if run and resident else None
        ok = None if decode == "cpu" or cores is None else cores <= 4
        goal = "≤ 4" if decode == "gpu" else "shown"
        rows.append(_row(f"agcn train, decode={decode}: host cores per GPU ({goal})", cores, ok))
    for decode in ("cpu", "gpu"):
        run = pipeline.get(decode, {})
        rate = pipeline.get("step_rate")
        cores = run.get("cpu_s_per_image", 0) * rate if run and rate else None
        rows.append(_row(f"loader alone, decode={decode}: host cores per GPU", cores, None))
    rows.append(_row("resident compiled A-GCN step (img/s)", resident, None, "{:.0f}"))
    return rows


def _ok(value: float | None, goal: float) -> bool | None:
    return None if value is None else value >= goal


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", type=Path)
    parser.add_argument("--tests-rc", type=int, default=None, help="pytest -m cuda's exit")
    args = parser.parse_args(argv)
    text = table(["goal (issue 22)", "measured", ""], goal_rows(args.reports, args.tests_rc))
    print(text)
    (args.reports / "gpu_goals.md").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
