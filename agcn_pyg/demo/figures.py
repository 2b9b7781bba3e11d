"""The demo's figures: the learned label graph beside the true one, and per-class AP deltas."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from agcn_pyg.analysis import plot_adjacency as plots
from agcn_pyg.analysis import plot_ap_delta as deltas
from agcn_pyg.analysis._common import save_figure
from agcn_pyg.demo.data import DemoDataset
from agcn_pyg.demo.plan import MODE_TITLES, DemoPlan
from agcn_pyg.demo.records import Findings, RowRun, finished
from agcn_pyg.variants import short_title


def adjacency_figure(run: RowRun, info: DemoDataset, out: Path, title: str) -> dict[str, Any]:
    """The learned A and Â of ``run`` beside the generator's true P(j | i) and ML-GCN's Â.

    Labels are ordered by clustering the true P(j | i), so the generator's styles show as
    blocks in every panel. Returns ``path`` (the PNG), ``rho_hat`` and ``rho_a`` (Spearman
    correlations of the off-diagonal entries of Â and of A with the true P(j | i); NaN when the
    entries are constant), and ``max_hat`` / ``max_mlgcn`` (the largest off-diagonal entry of
    Â and of ML-GCN's Â), and ``learned``: what `agcn plot-adjacency` prints about the
    graph (off-diagonal mass per row, Spearman ρ with the training split's P(j|i), top-3
    neighbours).
    """
    from agcn_pyg.engine import load_model

    model, meta = load_model(run.run_dir / "best.pt")
    panels, _ = plots.model_panels(model, meta)
    learned, normalised = panels[0], panels[1]
    mlgcn = [p for p in panels if p.title.startswith("ML-GCN")]
    truth = plots.Panel(
        title="generator's true P(j | i) (analytic)\nrow i: given label i",
        matrix=np.asarray(info.conditional, dtype=float),
        scale="sequential",
        mask_diagonal=True,
        colorbar_label="P(j | i)",
    )
    plots.plot_adjacency_panels(
        [learned, normalised, truth, *mlgcn],
        list(info.label_names),
        order=plots.cluster_order(info.conditional),
        out=out,
        suptitle=title,
    )
    off = ~np.eye(len(info.label_names), dtype=bool)
    truth_off = np.asarray(info.conditional, dtype=float)[off]
    rho = [plots.spearman_rho(panel.matrix[off], truth_off) for panel in (normalised, learned)]
    summary = plots.checkpoint_graph_learning(model, meta)
    return {
        "path": out,
        "learned": summary.lines(list(meta["label_names"])) if summary is not None else [],
        "rho_hat": rho[0],
        "rho_a": rho[1],
        "max_hat": float(normalised.matrix[off].max()),
        "max_mlgcn": float(mlgcn[0].matrix[off].max()) if mlgcn else math.nan,
    }


def make_figures(
    plan: DemoPlan, info: DemoDataset, runs: dict[str, list[RowRun]], found: Findings
) -> None:
    """The adjacency heatmap and the AP-delta plots, from the first mode with an A-GCN run."""
    folder = plan.out / "figures"
    shutil.rmtree(folder, ignore_errors=True)
    mode = next((m for m in plan.modes if any(r.row == "agcn" for r in finished(runs[m]))), None)
    if mode is None:
        return
    by_row = {r.row: r for r in finished(runs[mode])}
    agcn = by_row["agcn"]
    title = f"A-GCN on the demo ({MODE_TITLES[mode]}): learned label graph"
    found.figures["adjacency"] = adjacency_figure(agcn, info, folder / "adjacency_agcn.png", title)
    found.figures["adjacency_run"] = f"A-GCN ({MODE_TITLES[mode]})"
    top = 3 if len(info.label_names) <= 20 else 10
    found.figures["delta_mode"] = MODE_TITLES[mode]
    for key, other in (("delta_baseline", "baseline"), ("delta_mlgcn", "mlgcn")):
        if other in by_row:
            a, b = deltas.load_pair(agcn.run_dir / "eval", by_row[other].run_dir / "eval")
            path = folder / f"ap_delta_agcn_vs_{other}.png"
            fig = deltas.plot_ap_delta(
                a.per_class_ap, b.per_class_ap, a.label_names, "A-GCN", short_title(other), top=top
            )
            # Bars are sorted from the largest gain down: with mostly losses the lower left
            # is empty, with mostly gains the upper right.
            mostly_losses = np.nanmean(a.per_class_ap - b.per_class_ap) < 0
            fig.axes[0].get_legend().set_loc("lower left" if mostly_losses else "upper right")
            save_figure(fig, path, deltas.DEFAULT_DPI)
            found.figures[key] = path
