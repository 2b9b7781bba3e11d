"""The ``step`` schedule: one period or a list of milestones, per iteration, every group."""

from __future__ import annotations

import pytest
import torch

from agcn_pyg.config import TrainConfig, load_run_config
from agcn_pyg.engine.optim import build_optimizer, build_scheduler
from agcn_pyg.engine.train import validate_train_config
from agcn_pyg.errors import ConfigError


def _lrs(step_epochs: int | list[int], epochs: int = 6, steps: int = 3) -> list[list[float]]:
    cfg = TrainConfig(epochs=epochs, lr=0.01, step_epochs=step_epochs, gamma=0.1)
    groups = [
        {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.01 * 0.1},
        {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.01},
    ]
    optimizer = build_optimizer(groups, cfg)
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
        validate_train_config(load_run_config(None, [f"train.step_epochs={value}"]))
