"""Dense forms of the GNN layers equal PyG's message passing: outputs and gradients."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from agcn_pyg import create_model
from agcn_pyg.graph import complete_edge_index, normalize_adjacency
from agcn_pyg.models.gnn import GNN_LAYERS, LabelGNN

DENSE = [name for name in GNN_LAYERS.names() if GNN_LAYERS.get(name).dense is not None]
MESSAGE_PASSING_ONLY = [name for name in GNN_LAYERS.names() if name not in DENSE]


def _signed_adjacency(num_nodes: int, seed: int) -> Tensor:
    """A clearly asymmetric Â with negative entries and exact zeros (a transposed or
    mis-indexed aggregation would not match)."""
    gen = torch.Generator().manual_seed(seed)
    adj = 3 * torch.randn(num_nodes, num_nodes, generator=gen)
    adj[adj.abs() < 0.5] = 0
    return normalize_adjacency(adj, guard="signed")


def _gnn(layer: str, dim: int, out_dim: int, hidden: int, bias: bool = False) -> LabelGNN:
    return LabelGNN(
        layer,
        dim,
        out_dim,
        hidden_dims=[hidden],
        negative_slope=0.2,
        bias=bias,
        heads=1,
        init="pyg",
    )


def _outputs_and_grads(
    gnn: LabelGNN, x: Tensor, adj_hat: Tensor, message_passing: bool
) -> tuple[Tensor, dict[str, Tensor]]:
    gnn.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_(True)
    adj_hat = adj_hat.clone().requires_grad_(True)
    gnn.message_passing = message_passing
    out = gnn(x, complete_edge_index(x.size(0)), adj_hat)
    # A non-uniform upstream gradient, so every entry of Â and x gets its own gradient.
    upstream = torch.linspace(-1, 1, out.numel()).reshape(out.shape)
    (out * upstream).sum().backward()
    grads = {"x": x.grad, "adj_hat": adj_hat.grad}
    grads.update({name: p.grad for name, p in gnn.named_parameters()})
    return out.detach(), grads


def test_the_linear_layers_have_dense_forms_and_attention_layers_do_not() -> None:
    assert {"gcn", "graphconv"} <= set(DENSE)
    assert {"gat", "gatv2", "transformer"} <= set(MESSAGE_PASSING_ONLY)


@pytest.mark.parametrize("num_nodes", [1, 7, 40])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("layer", DENSE)
def test_dense_form_equals_message_passing(layer: str, bias: bool, num_nodes: int) -> None:
    gnn = _gnn(layer, 12, 20, 16, bias=bias)
    if bias:  # PyG initialises biases to zero; make them count
        with torch.no_grad():
            for name, param in gnn.named_parameters():
                if name.endswith("bias"):
                    param.normal_()
    x = torch.randn(num_nodes, 12)
    adj_hat = _signed_adjacency(num_nodes, seed=num_nodes)

    dense_out, dense_grads = _outputs_and_grads(gnn, x, adj_hat, message_passing=False)
    mp_out, mp_grads = _outputs_and_grads(gnn, x, adj_hat, message_passing=True)

    torch.testing.assert_close(dense_out, mp_out, rtol=0, atol=1e-5)
    assert dense_grads.keys() == mp_grads.keys()
    for name, grad in mp_grads.items():
        assert grad is not None and dense_grads[name] is not None, name
        torch.testing.assert_close(dense_grads[name], grad, rtol=0, atol=1e-5, msg=name)
    # Sanity: the graph matters, so agreeing is not trivial.
    alone = gnn(x, complete_edge_index(num_nodes), torch.eye(num_nodes))
    if num_nodes > 1:
        assert not torch.allclose(alone, dense_out, atol=1e-3)


@pytest.mark.parametrize("layer", DENSE)
def test_dense_form_is_the_default_path(layer: str, monkeypatch) -> None:
    gnn = _gnn(layer, 8, 8, 8)
    assert gnn.message_passing is False

    def refuse(*args, **kwargs):
        raise AssertionError("message passing ran although the layer has a dense form")

    for conv in gnn.convs:
        monkeypatch.setattr(conv, "propagate", refuse)
    out = gnn(torch.randn(5, 8), complete_edge_index(5), _signed_adjacency(5, seed=0))
    assert out.shape == (5, 8)
    gnn.message_passing = True
    with pytest.raises(AssertionError, match="message passing ran"):
        gnn(torch.randn(5, 8), complete_edge_index(5), _signed_adjacency(5, seed=0))


@pytest.mark.parametrize("layer", MESSAGE_PASSING_ONLY)
def test_layers_without_dense_form_run_message_passing_unchanged(layer: str) -> None:
    gnn = _gnn(layer, 8, 8, 8)
    x, adj_hat = torch.randn(6, 8), _signed_adjacency(6, seed=1)
    edge_index = complete_edge_index(6)
    default = gnn(x, edge_index, adj_hat)
    gnn.message_passing = True
    torch.testing.assert_close(gnn(x, edge_index, adj_hat), default, rtol=0, atol=0)


@pytest.mark.parametrize("gnn_name", DENSE)
def test_model_gradients_match_message_passing(tiny_backbone, unit_embeddings, gnn_name) -> None:
    """The whole head (LG → Eq. 4 → GNN → logits, plus L_A) trains the same on both paths."""
    num_classes = 9
    model = create_model(
        tiny_backbone,
        num_classes,
        label_embeddings=unit_embeddings(num_classes, 24),
        graph="conv",
        gnn=gnn_name,
        hidden_dim=16,
    )
    with torch.no_grad():  # a large, asymmetric learned A, far from Â = I
        model.head.label_graph.phi.weight.mul_(40)
        model.head.label_graph.theta.weight.normal_().mul_(40)
    images = torch.randn(2, 3, 32, 32)
    targets = torch.randint(0, 2, (2, num_classes)).float()

    def step(message_passing: bool) -> tuple[Tensor, dict[str, Tensor]]:
        model.zero_grad(set_to_none=True)
        model.head.gnn.message_passing = message_passing
        logits, graph_loss = model(images, return_graph_loss=True)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets)
        (loss + graph_loss).backward()
        grads = {n: p.grad.clone() for n, p in model.head.named_parameters() if p.grad is not None}
        return logits.detach(), grads

    dense_logits, dense_grads = step(False)
    mp_logits, mp_grads = step(True)
    torch.testing.assert_close(dense_logits, mp_logits, rtol=1e-5, atol=1e-5)
    assert dense_grads.keys() == mp_grads.keys() and dense_grads
    for name, grad in mp_grads.items():
        torch.testing.assert_close(dense_grads[name], grad, rtol=1e-4, atol=1e-5, msg=name)
    # The parameters, and so the checkpoints, are PyG's either way.
    keys = set(model.state_dict())
    assert any(key.startswith("head.gnn.convs.0.") for key in keys)
