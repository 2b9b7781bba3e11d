"""The demo's stages, in order: data, set-up, the training rows, the α sweep, the report.

`run_demo` runs a `DemoPlan` (see `agcn_pyg.demo` for the stages) and writes
``<out>/timings.json``; `train_rows` trains Table-1 rows in one mode, each in a fresh run
folder; `run_alpha_sweep` trains A-GCN on cached features for every α of the plan.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agcn_pyg.analysis.alpha_sweep import alpha_sweep
from agcn_pyg.config import RunConfig, merge
from agcn_pyg.demo.data import DemoDataset, build_demo_dataset
from agcn_pyg.demo.figures import make_figures
from agcn_pyg.demo.plan import (
    MODE_SHORT,
    SETTINGS,
    DemoPlan,
    mode_base,
    row_run_config,
    table2_run_config,
)
from agcn_pyg.demo.records import Findings, RowRun, StageTimer, finished
from agcn_pyg.demo.report import reading, write_report
from agcn_pyg.demo.stats import context_reference, head_diagnostics
from agcn_pyg.io import write_json, write_text
from agcn_pyg.variants import MAIN_ROWS, title


def train_run(
    plan: DemoPlan, cfg: RunConfig, row: str, mode: str, setting: str = "clean"
) -> RowRun:
    """Train one config in a fresh run folder; a diverged loss is recorded, not raised."""
    from agcn_pyg.engine import TrainingDiverged, train_mode

    # Only the folder of this very run is removed: it belongs to the demo.
    shutil.rmtree(cfg.run_dir, ignore_errors=True)
    start = time.perf_counter()
    error = None
    try:
        result = train_mode(
            mode, cfg, cache_dir=plan.cache_dir, overwrite=True, progress=plan.progress
        )
        final = dict(result["final"])
    except TrainingDiverged as err:  # reported as such; the other rows go on
        final, error = {}, str(err)
    seconds = time.perf_counter() - start
    return RowRun(row, mode, cfg.train.seed, cfg.run_dir, seconds, cfg, final, error, setting)


def _say(run: RowRun, what: str) -> None:
    outcome = f"mAP {run.final['mAP']:.2f}" if run.error is None else f"DIVERGED ({run.error})"
    print(f"demo: {title(run.row)} ({what}): {outcome} in {run.seconds:.1f} s", flush=True)


def train_rows(
    plan: DemoPlan, mode: str, rows: Sequence[str], weights: Path, seed: int | None = None
) -> list[RowRun]:
    """Train ``rows`` in ``mode``, each in a fresh ``<out>/runs/<mode>/<run name>``."""
    runs = []
    for row in rows:
        cfg = row_run_config(plan, row, mode, weights, seed)
        run = train_run(plan, cfg, row, mode)
        _say(run, f"{MODE_SHORT[mode]}, seed {run.seed}")
        runs.append(run)
    return runs


def clean_subset_csv(plan: DemoPlan, info: DemoDataset) -> Path:
    """The first `NoiseSetting.clean_count` training scenes with their clean labels, as a CSV
    under `DemoPlan.table2_dir`."""
    lines = (info.root / "train.csv").read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], [line for line in lines[1:] if line.strip()]
    path = plan.table2_dir / "train_clean_subset.csv"
    # Its image paths stay relative to the data folder (the run passes it as image_dir).
    write_text(path, "\n".join([header, *rows[: plan.noise.clean_count(len(rows))]]) + "\n")
    return path


def run_table2(plan: DemoPlan, info: DemoDataset, weights: Path) -> dict[str, list[RowRun]]:
    """The Table-2 setting on cached features: every row of ``plan.table2_rows`` trained on
    the noisy labels, then its weights fine-tuned on the clean subset (``train.init_from``)."""
    shutil.rmtree(plan.table2_dir, ignore_errors=True)
    clean_csv = clean_subset_csv(plan, info)
    out: dict[str, list[RowRun]] = {setting: [] for setting in SETTINGS}
    for row in plan.table2_rows:
        cfg = table2_run_config(plan, row, "noisy", weights)
        noisy = train_run(plan, cfg, row, "features", "noisy")
        _say(noisy, SETTINGS["noisy"])
        out["noisy"].append(noisy)
        if noisy.error is not None:
            continue
        cfg = table2_run_config(
            plan, row, "noisy_clean", weights, clean_csv, noisy.run_dir / "last.pt"
        )
        tuned = train_run(plan, cfg, row, "features", "noisy_clean")
        _say(tuned, SETTINGS["noisy_clean"])
        out["noisy_clean"].append(tuned)
    return out


def run_alpha_sweep(plan: DemoPlan, weights: Path) -> Any:
    """A-GCN on cached features for every α of the plan (Fig. 3) and each of its seeds (so
    that the figure shows the seed spread), through the analysis tool, under the features
    recipe (runs ``demo_alpha<α>``, ``demo_alpha<α>_seed<s>``)."""
    folder = plan.out / "runs" / "alpha_sweep"
    shutil.rmtree(folder, ignore_errors=True)
    return alpha_sweep(
        merge(mode_base(plan, "features", weights), {"name": "demo"}),
        plan.alphas,
        plan.features.overrides,
        mode="features",
        out_dir=folder,
        seeds=plan.seeds,
        cache_dir=plan.cache_dir,
        overwrite=True,
        progress=False,
    )


def train_features(plan: DemoPlan, weights: Path, found: Findings) -> list[RowRun]:
    """Every features row once, the main rows again for the other seeds (``found.seeds``)
    and the α sweep (``found.sweep``)."""
    rows = plan.features_rows
    runs = train_rows(plan, "features", rows, weights)
    main = [r for r in rows if r in MAIN_ROWS]
    found.seeds = {row: [r for r in runs if r.row == row] for row in main}
    for seed in range(plan.seed + 1, plan.seed + plan.seeds):
        for run in train_rows(plan, "features", main, weights, seed):
            found.seeds[run.row].append(run)
    if plan.alphas and "agcn" in rows:
        found.sweep = run_alpha_sweep(plan, weights)
    return runs


def run_demo(plan: DemoPlan) -> dict[str, Any]:
    """Every stage of the demo; returns the paths it wrote and the timings."""
    # Lazy: `agcn demo --help` and the plan's checks stay free of the training imports.
    from agcn_pyg.data import embed_labels
    from agcn_pyg.demo.weights import efficientnet_lite0_weights
    from agcn_pyg.engine import extract_run_features

    timer = StageTimer()
    out = plan.out
    out.mkdir(parents=True, exist_ok=True)
    with timer.stage("data"):
        info = build_demo_dataset(out / "data", plan.data, progress=plan.progress)
    with timer.stage("setup"):
        weights = efficientnet_lite0_weights(out / "weights")
        embed_labels(list(info.label_names), "minilm")  # loads MiniLM once for every run
    runs: dict[str, list[RowRun]] = {}
    found = Findings(context_ap=context_reference(plan.data))
    if "end2end" in plan.modes:
        with timer.stage("end2end"):
            runs["end2end"] = train_rows(plan, "end2end", plan.end2end_rows, weights)
    if "features" in plan.modes:
        with timer.stage("extract"):
            # The rows share one backbone and test transform: A-GCN's run fills the cache.
            cfg = row_run_config(plan, "agcn", "features", weights)
            extract_run_features(cfg, cache_dir=plan.cache_dir, progress=plan.progress)
        with timer.stage("features"):
            runs["features"] = train_features(plan, weights, found)
        if plan.table2_rows:
            with timer.stage("table2"):
                found.table2 = run_table2(plan, info, weights)
    with timer.stage("report"):
        names = list(info.label_names)
        found.diagnostics = head_diagnostics([r for m in plan.modes for r in finished(runs[m])])
        make_figures(plan, info, runs, found)
        report = write_report(plan, info, runs, timer, found, reading(plan, runs, found, names))
    stages = {**timer.stages, "total": timer.total}
    timings = write_timings(plan, runs, found, stages)
    figures = dict(found.figures)
    if found.sweep is not None:
        figures["alpha_sweep"] = found.sweep.attrs["files"]["png"]
    return {"report": report, "figures": figures, "timings": timings, "stages": stages}


def write_timings(
    plan: DemoPlan, runs: dict[str, list[RowRun]], found: Findings, stages: dict[str, float]
) -> Path:
    """``<out>/timings.json``: the stages, every trained row, the recipes."""
    rows = [
        {
            "row": r.row,
            "mode": r.mode,
            "seed": r.seed,
            "seconds": r.seconds,
            "setting": r.setting,
            "mAP": r.final.get("mAP"),
        }
        for group in [*runs.values(), *found.table2.values()]
        for r in group
    ]
    recipes = {
        m: {"config": plan.recipe(m).config, "overrides": list(plan.recipe(m).overrides)}
        for m in plan.modes
    }
    path = plan.out / "timings.json"
    write_json(
        path,
        {
            "stages": stages,
            "rows": rows,
            "cpu_count": os.cpu_count(),
            "quick": plan.quick,
            "recipes": recipes,
        },
    )
    return path
