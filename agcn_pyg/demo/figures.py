"""The demo's figures: the learned label graph beside the true one, and per-class AP deltas
with bootstrap intervals, the hard items marked."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from agcn_pyg.analysis import plot_adjacency as plots
from agcn_pyg.analysis import plot_ap_delta as deltas
from agcn_pyg.demo.data import DemoDataset
from agcn_pyg.demo.plan import MODE_TITLES, DemoPlan
from agcn_pyg.demo.records import Findings, RowRun, finished
from agcn_pyg.errors import CheckpointError
from agcn_pyg.variants import short_title


def adjacency_figure(run: RowRun, info: DemoDataset, out: Path, where: str) -> dict[str, Any]:
    """The learned A and Â of ``run`` beside the generator's true P(j | i) and ML-GCN's Â.

    Titled by the run, its graph and GNN (`plot_adjacency.describe_run`) and ``where`` (the
    demo's mode). The two Â panels share one colour scale; labels are ordered by clustering
    the true P(j | i), so the generator's styles show as blocks in every panel. Returns
    ``path`` (the PNG), ``rho_hat`` and ``rho_a`` (Spearman correlations of the off-diagonal
    entries of Â and of A with the true P(j | i); NaN when the entries are constant), and
    ``max_hat`` / ``max_mlgcn`` (the largest off-diagonal entry of Â and of ML-GCN's Â), and
    ``learned``: what `agcn plot-adjacency` prints about the graph (off-diagonal mass per
    row, Spearman ρ with the training split's P(j|i), top-3 neighbours).
    """
    from agcn_pyg.engine import load_model

    model, meta = load_model(run.run_dir / "best.pt")
    panels = plots.model_panels(model, meta)
    learned, normalised = plots.find_panel(panels, "A"), plots.find_panel(panels, "A_hat")
    if learned is None or normalised is None:
        raise CheckpointError(f"{run.run_dir / 'best.pt'}: the run has no learned label graph")
    mlgcn = plots.find_panel(panels, "mlgcn")
    truth = plots.probability_panel(
        "the generator's true P(j | i) (analytic)", info.conditional, key="truth"
    )
    summary = plots.checkpoint_graph_learning(model, meta)
    note = f" {plots.headline(summary)}." if summary is not None else ""
    plots.plot_adjacency_panels(
        [learned, normalised, truth, *([mlgcn] if mlgcn is not None else [])],
        list(info.label_names),
        order=plots.cluster_order(info.conditional),
        out=out,
        suptitle=f"{plots.describe_run(meta)} (demo, {where})",
        footnote=f"{len(info.label_names)} labels, ordered by clustering the generator's true "
        f"P(j | i); cell [i, j] at row i, column j. ML-GCN's Â is built from the training "
        f"scenes' counts.{note}",
    )
    off = ~np.eye(len(info.label_names), dtype=bool)
    truth_off = np.asarray(info.conditional, dtype=float)[off]
    rho = [plots.spearman_rho(panel.matrix[off], truth_off) for panel in (normalised, learned)]
    return {
        "path": out,
        "learned": summary.lines(list(meta["label_names"])) if summary is not None else [],
        "rho_hat": rho[0],
        "rho_a": rho[1],
        "max_hat": float(normalised.matrix[off].max()),
        "max_mlgcn": float(mlgcn.matrix[off].max()) if mlgcn is not None else math.nan,
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
    found.figures["adjacency"] = adjacency_figure(
        agcn, info, folder / "adjacency_agcn.png", MODE_TITLES[mode]
    )
    found.figures["adjacency_run"] = f"A-GCN ({MODE_TITLES[mode]})"
    top = 3 if len(info.label_names) <= 20 else 10
    found.figures["delta_mode"] = MODE_TITLES[mode]
    for key, other in (("delta_baseline", "baseline"), ("delta_mlgcn", "mlgcn")):
        if other in by_row:
            a, b = deltas.load_pair(agcn.run_dir / "eval", by_row[other].run_dir / "eval")
            path = folder / f"ap_delta_agcn_vs_{other}.png"
            # The same resamples as the report's paired bootstrap (its seed), the hard items
            # that the report discusses marked.
            deltas.plot_pair(
                a,
                b,
                path,
                top,
                marks=list(plan.data.hard_items),
                mark_label="hard items",
                name_a=short_title("agcn"),
                name_b=short_title(other),
                seed=plan.seed,
            )
            found.figures[key] = path
