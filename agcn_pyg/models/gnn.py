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
  returns those coefficients as ``C × C`` matrices. ``gat`` and ``gatv2`` run with PyG's
  ``residual=True`` (``transformer`` has its root weight): over a complete label graph every
  label has the same neighbours, and GAT's attention ranks them alike for every target, so
  without a skip connection every label receives the same mixture and the per-label
  classifiers collapse into one (``docs/experiments.md``, section 3, "GAT without its
  residual", has the measurement).

**Dense form.** A layer whose aggregation is linear in Â (``gcn``, ``graphconv``) also
registers a *dense form*: the same computation as one ``C × C`` matmul with the PyG module's
own parameters, e.g. ``gcn``: ``adj_hat @ conv.lin(x) (+ conv.bias)``. Over the complete
graph, message passing gathers and scatters ``C² × F`` messages (gradients too), while the
matmul touches ``C × C + C × F`` values. ``bench/bench_gnn_scaling.py`` times the head's
forward + backward both ways (``docs/benchmarks.md``, figure 4, has the figures and the
decision): the dense form was faster at every C timed and never used more memory, so a layer
with a dense form always uses it and a layer without one (the attention layers) always uses
PyG's message passing. The PyG modules still own the parameters (checkpoints are unchanged),
and ``LabelGNN.message_passing = True`` forces their ``propagate`` for every layer: the
reference that ``tests/models/test_dense_gnn.py`` checks the dense forms against (outputs and
gradients to 1e-5).

**Initialisation** (``init``, `GNN_INITS`): ``pyg`` keeps each PyG layer's own (glorot for
GCN's weight); ``mlgcn`` draws every weight and bias of the layers' linear maps, and each
layer's own bias, from :math:`U(\pm 1/\sqrt{\text{out\_features}})`, as ML-GCN's and A-GCN's
``GraphConvolution`` does. Attention vectors keep PyG's initialisation.

New layers register with `register_gnn`.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

# PyG scripts some helpers with `torch.jit.script` while it is imported, which recent torch
# deprecates with a FutureWarning on every run: PyG's to act on, not this package's users.
# Silenced here, around the one import that triggers it, not process-wide.
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message="`torch.jit.script` is deprecated", category=FutureWarning
    )
    from torch_geometric.nn import GATConv, GATv2Conv, GCNConv, GraphConv, TransformerConv
    from torch_geometric.nn.conv import MessagePassing
    from torch_geometric.nn.dense.linear import Linear as PygLinear

from agcn_pyg.registry import Registry

EdgeInput = Literal["edge_weight", "edge_attr"]
LayerFactory = Callable[..., MessagePassing]
#: ``dense(conv, x, adj_hat)``: a layer's output computed with ``conv``'s parameters as dense
#: matmuls, equal to ``conv(x, complete_edge_index(C), edge_weight=adj_hat.reshape(-1))``.
DenseForward = Callable[[Any, Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class GNNLayerSpec:
    """A registered layer: ``build(in_dim, out_dim, bias=..., heads=...)``, its edge input,
    and its dense form (``None`` for layers that only run as PyG message passing)."""

    build: LayerFactory
    edge_input: EdgeInput
    attention: bool = False
    dense: DenseForward | None = None


GNN_LAYERS: Registry[GNNLayerSpec] = Registry("GNN layer")
#: ``init(conv)`` re-initialises one built layer in place
GNN_INITS: Registry[Callable[[MessagePassing], None]] = Registry("GNN initialisation")
GNN_INITS.add("pyg", lambda conv: None)


@GNN_INITS.register("mlgcn")
@torch.no_grad()
def mlgcn_init(conv: MessagePassing) -> None:
    """ML-GCN's ``GraphConvolution.reset_parameters``: ``U(±1/sqrt(out))`` for every linear
    map's weight and bias and for the layer's own bias."""
    for module in conv.modules():
        if isinstance(module, PygLinear | nn.Linear):
            out = module.weight.size(0)
            module.weight.uniform_(-1 / math.sqrt(out), 1 / math.sqrt(out))
            if module.bias is not None:
                module.bias.uniform_(-1 / math.sqrt(out), 1 / math.sqrt(out))
    bias = getattr(conv, "bias", None)
    if isinstance(bias, nn.Parameter):
        bound = 1 / math.sqrt(bias.size(-1))
        bias.uniform_(-bound, bound)


def register_gnn(
    name: str, edge_input: EdgeInput, attention: bool = False, dense: DenseForward | None = None
) -> Callable[[LayerFactory], LayerFactory]:
    def decorator(build: LayerFactory) -> LayerFactory:
        GNN_LAYERS.add(name, GNNLayerSpec(build, edge_input, attention, dense))
        return build

    return decorator


def _gcn_dense(conv: GCNConv, x: Tensor, adj_hat: Tensor) -> Tensor:
    r""":math:`\hat{A} (X W) + b`, as ``GCNConv(normalize=False)`` computes it: lin, then
    aggregate, then bias."""
    out = adj_hat @ conv.lin(x)
    return out if conv.bias is None else out + conv.bias


def _graphconv_dense(conv: GraphConv, x: Tensor, adj_hat: Tensor) -> Tensor:
    r""":math:`(\hat{A} X) W_{rel} + b + X W_{root}`, as ``GraphConv(aggr='add')``."""
    return conv.lin_rel(adj_hat @ x) + conv.lin_root(x)


@register_gnn("gcn", edge_input="edge_weight", dense=_gcn_dense)
def _gcn(in_dim: int, out_dim: int, *, bias: bool, heads: int) -> MessagePassing:
    return GCNConv(in_dim, out_dim, normalize=False, bias=bias)


@register_gnn("graphconv", edge_input="edge_weight", dense=_graphconv_dense)
def _graphconv(in_dim: int, out_dim: int, *, bias: bool, heads: int) -> MessagePassing:
    return GraphConv(in_dim, out_dim, aggr="add", bias=bias)


def _gat_options(bias: bool, heads: int) -> dict[str, object]:
    # Heads are averaged, so widths match the GCN's; the complete graph already holds every
    # self-loop (Â's diagonal); the residual keeps the classifiers apart (module doc).
    return {
        "heads": heads,
        "concat": False,
        "edge_dim": 1,
        "add_self_loops": False,
        "bias": bias,
        "residual": True,
    }


@register_gnn("gat", edge_input="edge_attr", attention=True)
def _gat(in_dim: int, out_dim: int, *, bias: bool, heads: int) -> MessagePassing:
    return GATConv(in_dim, out_dim, **_gat_options(bias, heads))


@register_gnn("gatv2", edge_input="edge_attr", attention=True)
def _gatv2(in_dim: int, out_dim: int, *, bias: bool, heads: int) -> MessagePassing:
    return GATv2Conv(in_dim, out_dim, **_gat_options(bias, heads))


@register_gnn("transformer", edge_input="edge_attr", attention=True)
def _transformer(in_dim: int, out_dim: int, *, bias: bool, heads: int) -> MessagePassing:
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
        init: a name in `GNN_INITS` (module doc).

        The model passes its `AGCNConfig`'s fields (``hidden_dim`` × ``num_layers - 1``,
        ``negative_slope``, ``gnn_bias``, ``heads``, ``gnn_init``), where their defaults live.
        message_passing: run every layer as PyG message passing, also those with a dense
            form (see the module doc); the reference path, for tests and benchmarks. Also an
            attribute that can be flipped on a built model.

    Shapes:
        input: ``x`` (C × d_e), ``edge_index`` (2 × C²), ``adj_hat`` (C × C).
        output: C × D.
    """

    def __init__(
        self,
        layer: str,
        in_dim: int,
        out_dim: int,
        *,
        hidden_dims: list[int] | tuple[int, ...],
        negative_slope: float,
        bias: bool,
        heads: int,
        init: str,
        message_passing: bool = False,
    ) -> None:
        super().__init__()
        self.spec = GNN_LAYERS.get(layer)
        self.layer = layer
        self.message_passing = message_passing
        dims = [in_dim, *hidden_dims, out_dim]
        self.convs = nn.ModuleList(
            self.spec.build(d_in, d_out, bias=bias, heads=heads)
            for d_in, d_out in itertools.pairwise(dims)
        )
        self.init = init
        for conv in self.convs:
            GNN_INITS.get(init)(conv)
        self.act = nn.LeakyReLU(negative_slope)

    def _edge_kwargs(self, adj_hat: Tensor) -> dict[str, Tensor]:
        weights = adj_hat.reshape(-1)
        if self.spec.edge_input == "edge_attr":
            return {"edge_attr": weights.unsqueeze(-1)}
        return {"edge_weight": weights}

    def forward(self, x: Tensor, edge_index: Tensor, adj_hat: Tensor) -> Tensor:
        dense = None if self.message_passing else self.spec.dense
        edge_kwargs = self._edge_kwargs(adj_hat) if dense is None else {}
        for i, conv in enumerate(self.convs):
            if i > 0:
                x = self.act(x)
            x = conv(x, edge_index, **edge_kwargs) if dense is None else dense(conv, x, adj_hat)
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
        path = "message passing" if self.message_passing or self.spec.dense is None else "dense"
        return f"layer={self.layer!r}, edge_input={self.spec.edge_input!r}, path={path!r}"


def list_gnns() -> list[str]:
    """Names of the registered GNN layers."""
    return GNN_LAYERS.names()


__all__ = [
    "GNN_INITS",
    "GNN_LAYERS",
    "DenseForward",
    "GNNLayerSpec",
    "LabelGNN",
    "list_gnns",
    "register_gnn",
]
