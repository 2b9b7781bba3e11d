"""Schedules (step, cosine, one-cycle, constant with warm-up), per iteration and every group,
against their formulas; and the optimisers' weight-decay groups."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest
from torch import nn

from agcn_pyg.config import TrainConfig, load_run_config, validate_run_config
from agcn_pyg.errors import ConfigError
from agcn_pyg.optim import build_optimizer, build_scheduler


def _parts(lr: float = 0.01, lrp: float = 0.1) -> list[tuple[str, nn.Module, float]]:
    return [("backbone", nn.Linear(1, 1, bias=False), lr * lrp), ("head", nn.Linear(1, 1), lr)]


def _schedule(cfg: TrainConfig, steps: int) -> list[list[float]]:
    """Every group's lr at each iteration of ``cfg.epochs × steps``."""
    optimizer = build_optimizer(_parts(cfg.lr), cfg)
    scheduler = build_scheduler(optimizer, cfg, steps)
    out = []
    for _ in range(cfg.epochs * steps):
        out.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    return out


def _lrs(step_epochs: int | list[int], epochs: int = 6, steps: int = 3) -> list[list[float]]:
    cfg = TrainConfig(epochs=epochs, lr=0.01, step_epochs=step_epochs, gamma=0.1)
    optimizer = build_optimizer(_parts(), cfg)
    scheduler = build_scheduler(optimizer, cfg, steps)
    out = []
    for _ in range(epochs * steps):
        out.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    return out


def test_milestones_divide_lr_after_each_listed_epoch() -> None:
    lrs = _lrs([2, 5])
    per_epoch = [lrs[3 * e][1] for e in range(6)]
    assert per_epoch == pytest.approx([0.01, 0.01, 1e-3, 1e-3, 1e-3, 1e-4])
    # every step of an epoch has its epoch's lr, and the backbone group keeps its ratio
    assert all(lrs[3 * e + k][1] == pytest.approx(per_epoch[e]) for e in range(6) for k in range(3))
    assert all(a == pytest.approx(0.1 * b) for a, b in lrs)


def test_one_period_is_every_n_epochs_and_equals_its_milestones() -> None:
    flat = [lr for row in _lrs(2) for lr in row]
    assert flat == pytest.approx([lr for row in _lrs([2, 4]) for lr in row])
    assert [row[1] for row in _lrs(4)[::3]] == pytest.approx([0.01] * 4 + [1e-3] * 2)


@pytest.mark.parametrize("value", ["[4, 2]", "[0, 3]", "[2, 2]", "0", "[1.5]"])
def test_bad_step_epochs_are_config_errors(value: str) -> None:
    with pytest.raises(ConfigError, match=r"train\.step_epochs"):
        validate_run_config(load_run_config(None, [f"train.step_epochs={value}"]))


def test_cosine_follows_half_a_cosine_after_a_linear_warmup() -> None:
    epochs, steps, warmup = 4, 5, 5
    cfg = TrainConfig(epochs=epochs, lr=0.1, scheduler="cosine", warmup_epochs=1)
    total = epochs * steps
    expected = [
        0.1 * min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * s / total))
        for s in range(total)
    ]
    lrs = _schedule(cfg, steps)
    assert [head for _, head in lrs] == pytest.approx(expected)
    assert all(backbone == pytest.approx(0.1 * head) for backbone, head in lrs)
    assert lrs[0][1] == pytest.approx(0.1 / warmup) and lrs[-1][1] < 0.1 * 0.01


def test_onecycle_rises_to_each_groups_lr_then_anneals() -> None:
    cfg = TrainConfig(epochs=5, lr=0.1, scheduler="onecycle")
    lrs = _schedule(cfg, steps=4)
    heads = [head for _, head in lrs]
    peak = heads.index(max(heads))
    # torch's defaults: start at lr / 25, peak at lr after 20 % of the steps, end far below
    assert heads[0] == pytest.approx(0.1 / 25)
    assert max(heads) == pytest.approx(0.1) and peak == round(0.2 * 20) - 1
    assert all(a <= b for a, b in pairwise(heads[: peak + 1]))
    assert all(a >= b for a, b in pairwise(heads[peak:]))
    assert heads[-1] < 0.1 / 25
    assert all(backbone == pytest.approx(0.1 * head) for backbone, head in lrs)


def test_constant_holds_lr_after_warmup() -> None:
    cfg = TrainConfig(epochs=3, lr=0.05, scheduler="constant", warmup_epochs=0.5)
    lrs = [head for _, head in _schedule(cfg, steps=4)]
    assert lrs == pytest.approx([0.025, 0.05] + [0.05] * 10)


def test_adamw_leaves_biases_and_norms_undecayed_sgd_decays_everything() -> None:
    body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    parts = [("backbone", body, 0.001), ("head", nn.Linear(4, 2), 0.01)]
    adamw = build_optimizer(parts, TrainConfig(optimizer="adamw", lr=0.01, weight_decay=0.05))
    groups = {g["name"]: g for g in adamw.param_groups}
    assert set(groups) == {"backbone", "backbone_no_decay", "head", "head_no_decay"}
    by_id = {id(p): name for name, g in groups.items() for p in g["params"]}
    assert by_id[id(body[0].weight)] == "backbone" and by_id[id(parts[1][1].weight)] == "head"
    for p in (body[0].bias, body[1].weight, body[1].bias):
        assert by_id[id(p)] == "backbone_no_decay"
    assert by_id[id(parts[1][1].bias)] == "head_no_decay"
    assert all(g["weight_decay"] == 0.0 for n, g in groups.items() if n.endswith("_no_decay"))
    assert groups["head"]["weight_decay"] == 0.05 and groups["backbone"]["lr"] == 0.001
    assert adamw.param_groups[-1]["name"] == "head"  # the lr that log.csv reports
    sgd = build_optimizer(parts, TrainConfig(optimizer="sgd", lr=0.01, weight_decay=1e-4))
    assert [g["name"] for g in sgd.param_groups] == ["backbone", "head"]
    assert [len(g["params"]) for g in sgd.param_groups] == [4, 2]
    assert all(g["weight_decay"] == 1e-4 for g in sgd.param_groups)


@pytest.mark.parametrize("weight_decay", [0.0, 1e-4])
@pytest.mark.parametrize("graph", ["none", "static", "conv", "identity"])
@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_every_optimizer_builds_and_steps_for_every_head(
    optimizer: str, graph: str, weight_decay: float, unit_embeddings
) -> None:
    # adamw used to unpack timm's groups as (no_decay, decay): with weight_decay 0, or a head
    # without 1-d parameters (A-GCN's default conv graph), timm returns one group and it failed.
    import numpy as np
    import torch

    from agcn_pyg import create_model

    counts = (np.array([[0, 3, 1], [3, 0, 2], [1, 2, 0]], float), np.array([5.0, 6.0, 4.0]))
    model = create_model(
        "test_resnet",
        3,
        label_embeddings=unit_embeddings(3, 8),
        graph=graph,
        hidden_dim=8,
        cooccurrence=counts,
    )
    cfg = TrainConfig(optimizer=optimizer, lr=0.01, weight_decay=weight_decay)
    opt = build_optimizer(model.optimizer_parts(cfg.lr, cfg.lrp), cfg)
    grouped = [p for g in opt.param_groups for p in g["params"]]
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert sorted(map(id, grouped)) == sorted(map(id, trainable))  # each parameter once
    assert opt.param_groups[-1]["name"].startswith("head")
    for group in opt.param_groups:
        decayed = not group["name"].endswith("_no_decay")
        assert group["weight_decay"] == (weight_decay if decayed else 0.0)
    before = [p.detach().clone() for p in trainable]
    model(torch.rand(2, 3, 32, 32)).sum().backward()
    opt.step()
    assert any(not torch.equal(a, p) for a, p in zip(before, trainable, strict=True))
