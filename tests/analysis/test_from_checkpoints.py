"""The analysis scripts on real checkpoints and real `write_evaluation` outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from agcn_pyg import create_model
from agcn_pyg.analysis.plot_adjacency import get_args_parser as plot_adjacency_parser
from agcn_pyg.analysis.plot_adjacency import main as plot_adjacency_main
from agcn_pyg.analysis.plot_ap_delta import eval_intervals, load_pair, plot_ap_delta_files
from agcn_pyg.analysis.results_table import PAPER_COLUMNS, collect_results
from agcn_pyg.engine.checkpoint import build_checkpoint, save_checkpoint
from agcn_pyg.engine.evaluate import write_evaluation

NAMES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal"]


def _cooccurrence() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = (rng.random((100, len(NAMES))) < 0.4).astype(np.int64)
    adj = labels.T @ labels
    nums = np.diagonal(adj).copy()
    np.fill_diagonal(adj, 0)
    return adj, nums


def _checkpoint(tmp_path: Path, graph: str, gnn: str = "gcn") -> Path:
    counts = _cooccurrence()
    model = create_model(
        "test_resnet",
        len(NAMES),
        label_embeddings=torch.randn(len(NAMES), 8),
        graph=graph,
        gnn=gnn,
        cooccurrence=counts,
        hidden_dim=8,
    )
    path = tmp_path / f"{graph}_{gnn}.pt"
    save_checkpoint(build_checkpoint(model, NAMES, counts), path)
    return path


@pytest.mark.parametrize(("graph", "gnn"), [("conv", "gcn"), ("static", "gat")])
def test_plot_adjacency_cli_on_a_checkpoint(tmp_path: Path, graph: str, gnn: str) -> None:
    ckpt = _checkpoint(tmp_path, graph, gnn)
    out = tmp_path / "graph.png"
    assert (
        plot_adjacency_main(plot_adjacency_parser().parse_args([str(ckpt), "--out", str(out)])) == 0
    )
    with Image.open(out) as image:
        image.verify()
    with Image.open(out) as image:
        assert image.size[0] > 600 and image.size[1] > 300


def test_plot_adjacency_of_the_baseline_shows_the_statistics(tmp_path: Path) -> None:
    # The baseline learns no graph; its checkpoint still carries the training co-occurrence.
    from agcn_pyg import load_model
    from agcn_pyg.analysis.plot_adjacency import model_panels

    model, meta = load_model(_checkpoint(tmp_path, "none"))
    panels = model_panels(model, meta)
    titles = " ".join(panel.title for panel in panels)
    assert "P(j" in titles and "learned A" not in titles


def test_ap_delta_and_table_from_write_evaluation(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    targets = (rng.random((40, len(NAMES))) < 0.4).astype(np.int64)
    targets[0] = 1
    evals = {}
    for name, noise in (("agcn", 0.3), ("baseline", 0.6)):
        scores = np.clip(targets + noise * rng.standard_normal(targets.shape), 0, 1)
        write_evaluation(tmp_path / name, name, scores.astype(np.float32), targets, NAMES)
        evals[name] = tmp_path / name
    png = plot_ap_delta_files(evals["agcn"], evals["baseline"], tmp_path / "delta.png")
    with Image.open(png) as image:
        image.verify()
    # the intervals read the scores the evaluation wrote, under its AP protocol
    intervals, note = eval_intervals(*load_pair(evals["agcn"], evals["baseline"]), resamples=20)
    assert note is None and intervals.resamples == 20
    assert np.isfinite(intervals.low).all() and (intervals.low <= intervals.high).all()
    table = collect_results([evals["agcn"], evals["baseline"]])
    assert list(table.index) == ["agcn", "baseline"]
    assert list(table.columns[: len(PAPER_COLUMNS)]) == list(PAPER_COLUMNS)
    assert table.loc["agcn", "mAP"] > table.loc["baseline", "mAP"]


def test_plot_adjacency_prints_what_the_graph_learned(tmp_path: Path, capsys) -> None:
    ckpt = _checkpoint(tmp_path, "conv")
    out = tmp_path / "graph.png"
    assert (
        plot_adjacency_main(plot_adjacency_parser().parse_args([str(ckpt), "--out", str(out)])) == 0
    )
    printed = capsys.readouterr().out
    assert "off-diagonal mass of Â per row" in printed and "Spearman ρ" in printed
    assert "top-3 neighbours by Â" in printed and f"  {NAMES[0]}:" in printed
