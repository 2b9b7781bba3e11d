"""The model family: every label graph × every GNN layer, gradients, caching, dense equivalence."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import agcn_pyg
from agcn_pyg import AGCNConfig, create_model
from agcn_pyg.errors import ConfigError
from agcn_pyg.graph import GUARDS, sparsity_loss
from agcn_pyg.models.label_graph import LABEL_GRAPHS

C = 6
D_E = 24
GRAPHS = agcn_pyg.list_graphs()
GNNS = agcn_pyg.list_gnns()
LEARNABLE = [name for name in LABEL_GRAPHS.names() if LABEL_GRAPHS.get(name).learnable]


def _cooccurrence() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = (rng.random((200, C)) < 0.4).astype(np.float64)
    adj = labels.T @ labels
    nums = np.diagonal(adj).copy()
    np.fill_diagonal(adj, 0)
    return adj, nums


def _model(backbone: str, embeddings: torch.Tensor, graph: str, gnn: str = "gcn", **kw):
    kw.setdefault("hidden_dim", 16)
    return create_model(
        backbone,
        C,
        label_embeddings=embeddings,
        graph=graph,
        gnn=gnn,
        cooccurrence=_cooccurrence(),
        **kw,
    )


def test_registries_list_the_paper_variants() -> None:
    assert {"conv", "dot", "fc", "cos", "static", "identity", "none"} <= set(GRAPHS)
    assert {"gcn", "gat", "gatv2", "graphconv"} <= set(GNNS)
    assert set(LEARNABLE) == {"conv", "dot", "fc"}


@pytest.mark.parametrize("gnn", GNNS)
@pytest.mark.parametrize("graph", GRAPHS)
def test_forward_shapes_and_finite(tiny_backbone, unit_embeddings, graph: str, gnn: str) -> None:
    model = _model(tiny_backbone, unit_embeddings(C, D_E), graph, gnn)
    images = torch.randn(3, 3, 32, 32)
    logits, graph_loss = model(images, return_graph_loss=True)
    assert logits.shape == (3, C)
    assert torch.isfinite(logits).all() and torch.isfinite(graph_loss)
    adjacency = model.adjacency()
    if graph == "none":
        assert adjacency is None and graph_loss.item() == 0.0
        return
    adj, adj_hat = adjacency
    assert adj.shape == adj_hat.shape == (C, C)
    assert torch.isfinite(adj_hat).all()
    assert graph_loss.item() == pytest.approx(sparsity_loss(adj_hat).item())
    weight, bias = model.classifier()
    assert weight.shape == (C, model.num_features) and bias is None


@pytest.mark.parametrize("gnn", GNNS)
@pytest.mark.parametrize("graph", LEARNABLE)
def test_learnable_graph_gets_gradient_from_classification_loss_alone(
    tiny_backbone, unit_embeddings, graph: str, gnn: str
) -> None:
    model = _model(tiny_backbone, unit_embeddings(C, D_E), graph, gnn, alpha=0.0)
    logits = model(torch.randn(4, 3, 32, 32))
    targets = torch.randint(0, 2, (4, C)).float()
    F.binary_cross_entropy_with_logits(logits, targets).backward()
    grads = [p.grad for p in model.head.label_graph.parameters()]
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)


def test_pyg_gcn_equals_dense_formula(tiny_backbone, unit_embeddings) -> None:
    model = _model(tiny_backbone, unit_embeddings(C, D_E), "conv", "gcn")
    head = model.head
    head.gnn.message_passing = True  # PyG's propagate, not the layer's dense form
    with torch.no_grad():  # make A large and clearly asymmetric, so a transposed Â fails
        head.label_graph.phi.weight.mul_(40)
        head.label_graph.theta.weight.normal_().mul_(40)
    weight, _adj, adj_hat = head.graph()
    assert (adj_hat - adj_hat.t()).abs().max() > 0.05
    assert (adj_hat - torch.eye(C)).abs().max() > 0.1
    w1 = head.gnn.convs[0].lin.weight.t()
    w2 = head.gnn.convs[1].lin.weight.t()
    emb = head.embeddings
    dense = adj_hat @ F.leaky_relu(adj_hat @ emb @ w1, 0.2) @ w2
    torch.testing.assert_close(weight, dense, rtol=0, atol=1e-5)
    transposed = adj_hat.t() @ F.leaky_relu(adj_hat.t() @ emb @ w1, 0.2) @ w2
    assert not torch.allclose(weight, transposed, atol=1e-3)


def test_pyg_graphconv_equals_dense_formula(tiny_backbone, unit_embeddings) -> None:
    model = _model(tiny_backbone, unit_embeddings(C, D_E), "fc", "graphconv", num_layers=1)
    head = model.head
    head.gnn.message_passing = True
    weight, _, adj_hat = head.graph()
    conv = head.gnn.convs[0]
    emb = head.embeddings
    dense = emb @ conv.lin_root.weight.t() + adj_hat @ emb @ conv.lin_rel.weight.t()
    torch.testing.assert_close(weight, dense, rtol=0, atol=1e-5)


def test_static_graph_uses_mlgcn_adjacency(tiny_backbone, unit_embeddings) -> None:
    from agcn_pyg.graph import mlgcn_adjacency

    adj, nums = _cooccurrence()
    for reweight in (True, False):
        model = _model(tiny_backbone, unit_embeddings(C, D_E), "static", reweight=reweight)
        expected = mlgcn_adjacency(adj, nums, model.cfg.t, model.cfg.p, reweight)
        torch.testing.assert_close(model.adjacency()[1], expected)


@pytest.mark.parametrize("graph", ["conv", "dot"])
def test_adjacency_near_identity_at_initialisation(graph: str, unit_embeddings) -> None:
    # Eq. 5 divides by C: with the relu guard Â starts close to I (a per-label MLP), while the
    # dense guards mix every label with every other from the first step.
    num_classes = 80
    emb = unit_embeddings(num_classes, 300)
    off_diagonal = {}
    for guard in ("relu", "softplus", "softmax"):
        model = create_model(
            "test_resnet", num_classes, label_embeddings=emb, graph=graph, guard=guard
        )
        _, adj_hat = model.adjacency()
        off_diagonal[guard] = (adj_hat - torch.diag(adj_hat.diag())).sum(1).mean().item()
    assert off_diagonal["relu"] < 0.05  # ≥ 95 % of each row stays on its own label
    assert off_diagonal["softplus"] > 0.4 and off_diagonal["softmax"] > 0.4


@pytest.mark.parametrize("guard", GUARDS.names())
def test_no_nan_over_random_inits_and_training_steps(tiny_backbone, guard: str) -> None:
    for seed in range(5):
        torch.manual_seed(seed)
        emb = torch.randn(C, D_E) * 10  # large embeddings: A far from 0, often negative
        model = _model(tiny_backbone, emb, "conv", guard=guard)
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        for _ in range(3):
            logits, graph_loss = model(torch.randn(4, 3, 32, 32), return_graph_loss=True)
            loss = F.binary_cross_entropy_with_logits(logits, torch.ones(4, C)) + graph_loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            assert torch.isfinite(loss)
        assert all(torch.isfinite(t).all() for t in model.adjacency())


@pytest.mark.parametrize("optimizer", ["sgd", "sgd_foreach", "adamw"])
def test_cached_classifier_matches_fresh_and_refreshes(
    tiny_backbone, unit_embeddings, optimizer: str
) -> None:
    model = _model(tiny_backbone, unit_embeddings(C, D_E), "conv")
    model.eval()
    with torch.no_grad():
        cached, _ = model.classifier()
        assert model.classifier()[0] is cached  # reused, not recomputed
    torch.testing.assert_close(cached, model.head.graph()[0])

    params = model.parameters()
    opt = {
        "sgd": lambda: torch.optim.SGD(params, lr=0.1, foreach=False),
        "sgd_foreach": lambda: torch.optim.SGD(params, lr=0.1, foreach=True),
        "adamw": lambda: torch.optim.AdamW(params, lr=0.1),
    }[optimizer]()
    model.train()
    logits = model(torch.randn(4, 3, 32, 32))
    F.binary_cross_entropy_with_logits(logits, torch.ones(4, C)).backward()
    opt.step()
    model.eval()
    with torch.no_grad():
        refreshed, _ = model.classifier()
        fresh = model.head.graph()[0]
    assert not torch.allclose(refreshed, cached)
    torch.testing.assert_close(refreshed, fresh)


def test_cached_classifier_refreshes_after_load_state_dict(tiny_backbone, unit_embeddings) -> None:
    model = _model(tiny_backbone, unit_embeddings(C, D_E), "conv").eval()
    other = _model(tiny_backbone, unit_embeddings(C, D_E), "conv").eval()
    with torch.no_grad():
        other.head.label_graph.phi.weight.add_(1.0)
        before = model.classifier()[0]
        model.load_state_dict(other.state_dict())
        after = model.classifier()[0]
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, other.head.graph()[0])


def test_eval_logits_equal_train_mode_logits(tiny_backbone, unit_embeddings) -> None:
    model = _model(tiny_backbone, unit_embeddings(C, D_E), "conv").eval()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        cached = model(images)
    fresh = model(images)  # grad enabled: no cache
    torch.testing.assert_close(cached, fresh)


def test_depth_and_width_follow_config(tiny_backbone, unit_embeddings) -> None:
    model = _model(tiny_backbone, unit_embeddings(C, D_E), "conv", num_layers=3, hidden_dim=20)
    convs = model.head.gnn.convs
    assert [(c.in_channels, c.out_channels) for c in convs] == [
        (D_E, 20),
        (20, 20),
        (20, model.num_features),
    ]


def test_param_groups_use_lrp_for_backbone(tiny_backbone, unit_embeddings) -> None:
    model = _model(tiny_backbone, unit_embeddings(C, D_E), "conv")
    groups = {g["name"]: g for g in model.param_groups(lr=0.01, lrp=0.1)}
    assert groups["backbone"]["lr"] == pytest.approx(0.001)
    assert groups["head"]["lr"] == pytest.approx(0.01)
    n_all = sum(p.numel() for p in model.parameters())
    assert sum(p.numel() for g in groups.values() for p in g["params"]) == n_all


def test_create_model_accepts_a_config(tiny_backbone, unit_embeddings) -> None:
    cfg = AGCNConfig(backbone=tiny_backbone, num_classes=C, graph="dot", hidden_dim=8)
    model = create_model(cfg, label_embeddings=unit_embeddings(C, D_E), alpha=0.5)
    assert model.config["graph"] == "dot" and model.config["alpha"] == 0.5
    assert model.head.gnn.convs[0].out_channels == 8


def test_missing_embeddings_fall_back_to_one_hot(tiny_backbone) -> None:
    with pytest.warns(UserWarning, match="one-hot"):
        model = create_model(tiny_backbone, C)
    torch.testing.assert_close(model.head.embeddings, torch.eye(C))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"graph": "static"}, "cooccurrence"),
        ({"label_embeddings": torch.randn(C + 1, 4)}, "label_embeddings"),
    ],
)
def test_inputs_the_config_cannot_check_raise_config_errors(
    tiny_backbone, kwargs: dict, match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        create_model(tiny_backbone, C, **kwargs)


def test_lg_bias_adds_biases_to_the_1x1_convolutions(tiny_backbone, unit_embeddings) -> None:
    emb = unit_embeddings(C, D_E)
    plain = _model(tiny_backbone, emb, "conv")
    biased = _model(tiny_backbone, emb, "conv", lg_bias=True, lg_dim=D_E // 2)
    assert plain.head.label_graph.phi.bias is None
    lg = biased.head.label_graph
    assert lg.phi.bias.shape == (D_E // 2,) and lg.theta.bias.shape == (D_E // 2,)
    with torch.no_grad():
        lg.phi.bias.fill_(0.5)
        lg.theta.bias.fill_(0.5)
        adj, _ = biased.adjacency()
        phi = emb @ lg.phi.weight.t() + 0.5
        theta = emb @ lg.theta.weight.t() + 0.5
    torch.testing.assert_close(adj, phi @ theta.t() / C)
    assert _model(tiny_backbone, emb, "dot", lg_bias=True).head.label_graph.phi.bias is not None


def test_mlgcn_init_draws_gcn_weights_from_mlgcn_bounds(tiny_backbone, unit_embeddings) -> None:
    emb = unit_embeddings(C, D_E)
    torch.manual_seed(0)
    mlgcn = _model(tiny_backbone, emb, "conv", hidden_dim=256, gnn_init="mlgcn", gnn_bias=True)
    torch.manual_seed(0)
    pyg = _model(tiny_backbone, emb, "conv", hidden_dim=256)
    for conv, ref in zip(mlgcn.head.gnn.convs, pyg.head.gnn.convs, strict=True):
        weight = conv.lin.weight  # out × in
        bound = 1 / weight.size(0) ** 0.5
        assert weight.abs().max() <= bound and weight.abs().max() > 0.95 * bound
        # U(±b) has standard deviation b / sqrt(3)
        assert weight.std().item() == pytest.approx(bound / 3**0.5, rel=0.05)
        assert conv.bias.abs().max() <= bound and conv.bias.abs().max() > 0
        assert not torch.equal(weight, ref.lin.weight)


@pytest.mark.parametrize("graph", ["conv", "none"])
def test_logits_are_float32_under_bf16_autocast(graph, tiny_backbone, unit_embeddings) -> None:
    model = _model(tiny_backbone, unit_embeddings(C, D_E), graph).eval()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        reference = model(images)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            features = model.forward_features(images)
            logits = model.forward_head(features)
    assert logits.dtype == torch.float32
    weight, bias = model.classifier()
    expected = features.float() @ weight.t() + (0 if bias is None else bias)
    torch.testing.assert_close(logits, expected, rtol=1e-6, atol=1e-6)
    assert reference.dtype == torch.float32


def test_classifier_bias_is_added_to_the_graph_heads_logits(tiny_backbone, unit_embeddings) -> None:
    emb = unit_embeddings(C, D_E)
    assert _model(tiny_backbone, emb, "conv").head.bias is None  # Eq. 1 has none
    model = _model(tiny_backbone, emb, "conv", classifier_bias=True)
    assert torch.equal(model.head.bias, torch.zeros(C))  # starts as the plain head
    with torch.no_grad():
        model.head.bias.copy_(torch.arange(C, dtype=torch.float32))
    images = torch.randn(3, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        x = model.forward_features(images)
        weight, bias = model.classifier()
        expected = x @ weight.t() + torch.arange(C, dtype=torch.float32)
        torch.testing.assert_close(model(images), expected)  # cached eval path
    assert bias is model.head.bias
    model.train()
    x = model.forward_features(images)
    logits, _ = model.forward_head(x, return_graph_loss=True)
    fresh = x @ model.classifier()[0].t() + model.head.bias
    torch.testing.assert_close(logits, fresh)
    logits.sum().backward()
    torch.testing.assert_close(model.head.bias.grad, torch.full((C,), 3.0))
    assert "head.bias" in model.state_dict()
    assert any(p is model.head.bias for p in model.param_groups(0.1, 0.1)[1]["params"])


def test_embedding_norm_centres_or_whitens_e(tiny_backbone) -> None:
    emb = torch.randn(C, D_E) + 3.0  # a large shared component, as word embeddings have
    plain = _model(tiny_backbone, emb, "cos")
    torch.testing.assert_close(plain.head.embeddings, emb)
    off = ~torch.eye(C, dtype=torch.bool)
    assert plain.adjacency()[0][off].mean() > 0.9  # Cos-A sees the shared component
    centred = _model(tiny_backbone, emb, "cos", embedding_norm="center")
    torch.testing.assert_close(centred.head.embeddings, emb - emb.mean(0, keepdim=True))
    assert centred.adjacency()[0][off].mean() < 0.9
    white = _model(tiny_backbone, emb, "cos", embedding_norm="whiten")
    rows = white.head.embeddings
    torch.testing.assert_close(rows @ rows.t(), torch.eye(C), rtol=0, atol=1e-5)
    # The nearest matrix with orthonormal rows: closer to E than any rotation of it.
    u, _, vh = torch.linalg.svd(emb.double(), full_matrices=False)
    torch.testing.assert_close(rows, (u @ vh).float())
    for norm, model in (("center", centred), ("whiten", white)):  # idempotent (checkpoints)
        again = _model(tiny_backbone, model.head.embeddings, "cos", embedding_norm=norm)
        torch.testing.assert_close(again.head.embeddings, model.head.embeddings, atol=1e-6, rtol=0)


@pytest.mark.parametrize("graph", ["conv", "none"])
def test_return_type_follows_the_flag(tiny_backbone, unit_embeddings, graph: str) -> None:
    from agcn_pyg.models import AGCNOutput

    model = _model(tiny_backbone, unit_embeddings(C, D_E), graph)
    images = torch.randn(2, 3, 32, 32)
    plain = model(images)
    assert isinstance(plain, torch.Tensor) and plain.shape == (2, C)
    out = model(images, return_graph_loss=True)
    assert isinstance(out, AGCNOutput) and out.logits.shape == (2, C) and out.graph_loss.dim() == 0
    logits, graph_loss = out  # a tuple for callers that unpack
    assert logits is out.logits and graph_loss is out.graph_loss
    x = model.forward_features(images)
    assert x.shape == (2, model.num_features)
    assert isinstance(model.forward_head(x), torch.Tensor)
    head_out = model.forward_head(x, return_graph_loss=True)
    assert isinstance(head_out, AGCNOutput) and isinstance(model.head(x), AGCNOutput)
    torch.testing.assert_close(head_out.logits, plain)
    if graph == "conv":
        expected = sparsity_loss(model.adjacency()[1])
        torch.testing.assert_close(out.graph_loss, expected)


def test_model_config_is_a_plain_dict_of_model_config_fields(tiny_backbone) -> None:
    import dataclasses

    from agcn_pyg.models import AGCN

    cfg = AGCNConfig(backbone=tiny_backbone, num_classes=C, graph="none", pool="avg")
    model = create_model(cfg)
    assert type(model.config) is dict and model.config == dataclasses.asdict(cfg)
    model.config["graph"] = "conv"  # a copy: the model's own record is not changed
    assert model.config["graph"] == "none"
    # AGCN(config) keeps a copy of its config: changing the caller's leaves the model's alone.
    kwargs_cfg = AGCNConfig(backbone=tiny_backbone, num_classes=C, graph="none")
    direct = AGCN(kwargs_cfg)
    kwargs_cfg.backbone_kwargs["drop_rate"] = 0.5
    assert direct.cfg == AGCNConfig(backbone=tiny_backbone, num_classes=C, graph="none")
    assert direct.config == dataclasses.asdict(direct.cfg) and direct.cfg is not kwargs_cfg


def test_inference_computes_w_bar_once_until_the_head_changes(
    tiny_backbone, unit_embeddings
) -> None:
    model = _model(tiny_backbone, unit_embeddings(C, D_E), "conv").eval()
    computed: list[int] = []
    model.head.gnn.register_forward_hook(lambda *_: computed.append(1))
    images = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        model(images)
        model(torch.randn(3, 3, 32, 32))
        model.forward_head(torch.randn(4, model.num_features))
    assert len(computed) == 1  # one W̄ for every batch: it does not depend on the image
    with torch.no_grad():
        model.head.label_graph.phi.weight.mul_(2.0)
        changed = model(images)
    assert len(computed) == 2  # the in-place change invalidated it
    fresh = model(images)  # autograd on: computed afresh, with L_A
    assert len(computed) == 3
    torch.testing.assert_close(changed, fresh)
    model.train()
    with torch.no_grad():
        model(images)  # training mode never reads the cache
    assert len(computed) == 4


def test_a_ready_label_graph_replaces_the_built_one(tiny_backbone, unit_embeddings) -> None:
    from agcn_pyg.models.label_graph import StaticGraph

    corr = torch.eye(C) + 0.1
    ready = StaticGraph(corr, t=0.4, p=0.25, reweight=True)
    emb = unit_embeddings(C, D_E)
    model = create_model(tiny_backbone, C, label_embeddings=emb, graph="static", label_graph=ready)
    assert model.head.label_graph is ready  # no co-occurrence counts were needed
    torch.testing.assert_close(model.adjacency()[0], corr)
    with pytest.raises(ConfigError, match="label_graph: a StaticGraph for graph 'conv'"):
        create_model(tiny_backbone, C, label_embeddings=emb, graph="conv", label_graph=ready)
