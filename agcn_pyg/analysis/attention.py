r"""Attention coefficients of a model's GNN layers as ``C × C`` matrices, for the figures.

With an attention layer (``gat``, ``gatv2``, ``transformer``) Â enters the GNN only as an edge
feature, and the weights a label actually gathers its neighbours with are the attention
coefficients :math:`\alpha_{ij}`; `plot_adjacency` draws them beside A and Â. They come from
the model's public parts: Â from `AGCN.adjacency`, then the head's GNN over its label
embeddings and edges (`agcn_pyg.models.LabelGNN.attention_maps`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor

    from agcn_pyg.models import AGCN


def attention_maps(model: AGCN) -> list[Tensor]:
    """``C × C`` attention per GNN layer of ``model`` (heads averaged): entry ``[i, j]`` is the
    weight with which label ``i`` gathers label ``j``, so every row sums to 1. Empty for the
    baseline and for layers without attention (``gcn``, ``graphconv``)."""
    import torch  # here, so that plotting arrays (`plot_adjacency`) does not import torch

    adjacency = model.adjacency()
    if adjacency is None:
        return []
    head = model.head
    with torch.no_grad(), torch.autocast(head.embeddings.device.type, enabled=False):
        return head.gnn.attention_maps(head.embeddings, head.edge_index, adjacency[1])
