"""Attention maps of a model's GNN layers, for `plot_adjacency`: shapes, rows, and the panels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agcn_pyg import create_model
from agcn_pyg.analysis.attention import attention_maps
from agcn_pyg.analysis.plot_adjacency import model_panels

C = 6
D_E = 24


def _model(backbone: str, embeddings: torch.Tensor, gnn: str, graph: str = "conv", **kw):
    return create_model(
        backbone, C, label_embeddings=embeddings, graph=graph, gnn=gnn, hidden_dim=16, **kw
    )


@pytest.mark.parametrize("gnn", ["gat", "gatv2", "transformer"])
def test_attention_maps_are_row_stochastic(tiny_backbone, unit_embeddings, gnn: str) -> None:
    model = _model(tiny_backbone, unit_embeddings(C, D_E), gnn, heads=2)
    maps = attention_maps(model)
    assert len(maps) == 2
    for att in maps:
        assert att.shape == (C, C)
        torch.testing.assert_close(att.sum(1), torch.ones(C))


def test_attention_maps_empty_for_gcn_and_the_baseline(tiny_backbone, unit_embeddings) -> None:
    emb = unit_embeddings(C, D_E)
    assert attention_maps(_model(tiny_backbone, emb, "gcn")) == []
    assert attention_maps(_model(tiny_backbone, emb, "gcn", graph="none")) == []


def test_plot_adjacency_draws_a_real_models_attention(tiny_backbone, unit_embeddings) -> None:
    model = _model(tiny_backbone, unit_embeddings(C, D_E), "gat").eval()
    meta = {"label_names": [f"l{i}" for i in range(C)], "config": model.config}
    panels = model_panels(model, meta)
    drawn = [p.matrix for p in panels if "attention" in p.title]
    expected = [m.double().numpy() for m in attention_maps(model)]
    assert len(drawn) == len(expected) == 2
    for got, want in zip(drawn, expected, strict=True):
        np.testing.assert_allclose(got, want)
