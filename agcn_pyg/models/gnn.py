r"""GNN layers over the label graph, from PyTorch Geometric, resolved by name.

The label graph is a PyG graph over the C labels: a fixed complete ``edge_index`` over all
``C²`` pairs (`agcn_pyg.graph.complete_edge_index`) whose weights are Â flattened. Nothing is
cached between steps (Â changes with every optimiser step) and zero weights are kept, so the
edge set never depends on the values.

Each layer declares how it consumes Â, as PyG's ``BasicGNN`` does:

* ``edge_weight`` — a scalar per edge that scales the message: ``gcn``
  (``GCNConv(normalize=False)``, since Â is already normalised, giving
  :math:`\hat{A} H W`), ``graphconv`` (:math:`H W_1 + \hat{A} H W_2`).
* ``edge_attr`` — a feature per edge (``edge_dim=1``) that enters the attention score:
  ``gat``, ``gatv2``, ``transformer``. Their aggregation weights are the attention
  coefficients, so Â shapes the graph only through them; `LabelGNN.attention_maps`
  returns those coefficients as ``C × C`` matrices.

New layers register with `register_gnn`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn
from torch_geometric.nn import GATConv, GATv2Conv, GCNConv, GraphConv, TransformerConv
from torch_geometric.nn.conv import MessagePassing

from agcn_pyg.registry import Registry

EdgeInput = Literal["edge_weight", "edge_attr"]
LayerFactory = Callable[..., MessagePassing]


@dataclass(frozen=True)
class GNNLayerSpec:
    """A registered layer: ``build(in_dim, out_dim, bias=..., heads=...)`` and its edge input."""

    build: LayerFactory
    edge_input: EdgeInput
    attention: bool = False


GNN_LAYERS: Registry[GNNLayerSpec] = Registry("GNN layer")


def register_gnn(
    name: str, edge_input: EdgeInput, attention: bool = False
) -> Callable[[LayerFactory], LayerFactory]:
    def decorator(build: LayerFactory) -> LayerFactory:
        GNN_LAYERS.add(name, GNNLayerSpec(build, edge_input, attention))
        return build

    return decorator


@register_gnn("gcn", edge_input="edge_weight")
def _gcn(in_dim: int, out_dim: int, bias: bool = False, heads: int = 1) -> MessagePassing:
    return GCNConv(in_dim, out_dim, normalize=False, bias=bias)


@register_gnn("graphconv", edge_input="edge_weight")
def _graphconv(in_dim: int, out_dim: int, bias: bool = False, heads: int = 1) -> MessagePassing:
    return GraphConv(in_dim, out_dim, aggr="add", bias=bias)


@register_gnn("gat", edge_input="edge_attr", attention=True)
def _gat(in_dim: int, out_dim: int, bias: bool = False, heads: int = 1) -> MessagePassing:
    # The complete graph already holds every self-loop (Â's diagonal).
    return GATConv(
        in_dim, out_dim, heads=heads, concat=False, edge_dim=1, add_self_loops=False, bias=bias
    )


@register_gnn("gatv2", edge_input="edge_attr", attention=True)
def _gatv2(in_dim: int, out_dim: int, bias: bool = False, heads: int = 1) -> MessagePassing:
    return GATv2Conv(
        in_dim, out_dim, heads=heads, concat=False, edge_dim=1, add_self_loops=False, bias=bias
    )


@register_gnn("transformer", edge_input="edge_attr", attention=True)
def _transformer(in_dim: int, out_dim: int, bias: bool = False, heads: int = 1) -> MessagePassing:
    return TransformerConv(in_dim, out_dim, heads=heads, concat=False, edge_dim=1, bias=bias)


class LabelGNN(nn.Module):
    r"""A stack of GNN layers mapping label embeddings to per-label classifiers.

    .. math::
        H^{(l+1)} = \delta\big(\hat{A} H^{(l)} W^{(l)}\big),\quad H^{(0)} = E,\quad
        \bar{W} = H^{(L)}

    with :math:`\delta` = LeakyReLU between layers and none after the last (ML-GCN).

    Args:
        layer: a name in `GNN_LAYERS`.
        in_dim: d_e.
        out_dim: D, the image-feature width.
        hidden_dims: widths of the hidden layers (ML-GCN: ``[1024]``).
        negative_slope: LeakyReLU slope.
        bias: whether layers carry a bias.
        heads: attention heads (averaged) for attention layers.

    Shapes:
        input: ``x`` (C × d_e), ``edge_index`` (2 × C²), ``adj_hat`` (C × C).
        output: C × D.
    """

    def __init__(
        self,
        layer: str,
        in_dim: int,
        out_dim: int,
        hidden_dims: list[int] | tuple[int, ...] = (1024,),
        negative_slope: float = 0.2,
        bias: bool = False,
        heads: int = 1,
    ) -> None:
        super().__init__()
        self.spec = GNN_LAYERS.get(layer)
        self.layer = layer
        dims = [in_dim, *hidden_dims, out_dim]
        self.convs = nn.ModuleList(
            self.spec.build(d_in, d_out, bias=bias, heads=heads)
            for d_in, d_out in itertools.pairwise(dims)
        )
        self.act = nn.LeakyReLU(negative_slope)

    def _edge_kwargs(self, adj_hat: Tensor) -> dict[str, Tensor]:
        weights = adj_hat.reshape(-1)
        if self.spec.edge_input == "edge_attr":
            return {"edge_attr": weights.unsqueeze(-1)}
        return {"edge_weight": weights}

    def forward(self, x: Tensor, edge_index: Tensor, adj_hat: Tensor) -> Tensor:
        edge_kwargs = self._edge_kwargs(adj_hat)
        for i, conv in enumerate(self.convs):
            if i > 0:
                x = self.act(x)
            x = conv(x, edge_index, **edge_kwargs)
        return x

    @torch.no_grad()
    def attention_maps(self, x: Tensor, edge_index: Tensor, adj_hat: Tensor) -> list[Tensor]:
        """Per-layer attention as ``C × C`` matrices (``[i, j]``: target i attends to j).

        Heads are averaged. Empty for layers without attention.
        """
        if not self.spec.attention:
            return []
        num_nodes = adj_hat.size(0)
        edge_kwargs = self._edge_kwargs(adj_hat)
        maps: list[Tensor] = []
        for i, conv in enumerate(self.convs):
            if i > 0:
                x = self.act(x)
            x, (att_index, alpha) = conv(
                x, edge_index, **edge_kwargs, return_attention_weights=True
            )
            dense = alpha.new_zeros(num_nodes, num_nodes)
            dense[att_index[1], att_index[0]] = alpha.mean(dim=-1)
            maps.append(dense)
        return maps

    def extra_repr(self) -> str:
        return f"layer={self.layer!r}, edge_input={self.spec.edge_input!r}"


def list_gnns() -> list[str]:
    """Names of the registered GNN layers."""
    return GNN_LAYERS.names()


def gnn_spec(name: str) -> GNNLayerSpec:
    return GNN_LAYERS.get(name)


__all__ = ["GNN_LAYERS", "GNNLayerSpec", "LabelGNN", "gnn_spec", "list_gnns", "register_gnn"]
