"""Training with the official A-GCN formulation through the CLI, and its degree error."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from agcn_pyg.__main__ import main
from agcn_pyg.config import load_run_config
from agcn_pyg.engine.checkpoint import build_checkpoint, load_model, save_checkpoint
from agcn_pyg.models import create_model

pytestmark = pytest.mark.slow

OFFICIAL = {
    "model": {
        "backbone": "test_resnet",
        "graph": "conv",
        "hidden_dim": 16,
        "guard": "none",
        "lg_bias": True,
        "lg_dim": 2,
        "gnn_init": "mlgcn",
    },
    "data": {"transforms": "agcn_official", "difficult": "positive"},
    "train": {"step_epochs": [1], "lrp": 1.0, "clip_grad_norm": 10.0, "amp": "off"},
}


def test_official_formulation_trains_and_reloads(run_config, tmp_path: Path) -> None:
    cfg = run_config("official", **OFFICIAL)
    assert main(["train", "-c", str(cfg), "--no-progress"]) == 0
    model, meta = load_model(tmp_path / "runs" / "official" / "best.pt")
    assert (model.config["guard"], model.config["lg_bias"], model.config["gnn_init"]) == (
        "none",
        True,
        "mlgcn",
    )
    assert meta["run_config"]["train"]["step_epochs"] == [1]
    assert model.head.label_graph.phi.bias is not None
    adj, adj_hat = model.adjacency()
    tilde = adj + torch.eye(4)
    d = tilde.sum(1).rsqrt()
    torch.testing.assert_close(adj_hat, d[:, None] * tilde * d[None, :])


def test_a_non_positive_degree_stops_training_naming_the_label(
    run_config, tmp_path: Path, capsys
) -> None:
    cfg_path = run_config("negative", **OFFICIAL)
    cfg = load_run_config(cfg_path)
    model = create_model(replace(cfg.model, num_classes=4), label_embeddings=torch.eye(4))
    with torch.no_grad():  # A = phi(E) theta(E)ᵀ / 4 with a diagonal of -2.5: degrees -1.5
        lg = model.head.label_graph
        lg.phi.weight.copy_(torch.eye(2, 4))
        lg.theta.weight.copy_(-10 * torch.eye(2, 4))
        lg.phi.bias.zero_()
        lg.theta.bias.zero_()
    start = tmp_path / "start.pt"
    save_checkpoint(build_checkpoint(model, ["red", "green", "blue", "square"]), start)
    code = main(["train", "-c", str(cfg_path), f"train.init_from={start}", "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "label 0 ('red') has degree -1.5" in err[0] and "model.guard=relu" in err[0]
