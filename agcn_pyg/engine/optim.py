"""Optimisers and per-iteration learning-rate schedules, by name."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, OneCycleLR

from agcn_pyg.config import TrainConfig
from agcn_pyg.registry import Registry

OPTIMIZERS: Registry[Callable[[list[dict[str, Any]], TrainConfig], Optimizer]] = Registry(
    "optimizer"
)
SCHEDULERS: Registry[Callable[[Optimizer, TrainConfig, int], LRScheduler]] = Registry("scheduler")


@OPTIMIZERS.register("sgd")
def _sgd(groups: list[dict[str, Any]], cfg: TrainConfig) -> Optimizer:
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


@OPTIMIZERS.register("adamw")
def _adamw(groups: list[dict[str, Any]], cfg: TrainConfig) -> Optimizer:
    return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _warmup(step: int, warmup_steps: int) -> float:
    return min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0


def step_decays(step_epochs: int | list[int], epoch: float) -> int:
    """How many times the ``step`` schedule has multiplied lr by gamma after ``epoch`` epochs.

    One period ``n``: once after every ``n`` epochs. Milestones ``[m1, m2, ...]``: once after
    each ``m`` reached, as torch's ``MultiStepLR`` (the official A-GCN code's ``[15, 30]``).
    """
    if isinstance(step_epochs, int):
        return int(epoch // step_epochs)
    return sum(epoch >= m for m in step_epochs)


@SCHEDULERS.register("step")
def _step(optimizer: Optimizer, cfg: TrainConfig, steps_per_epoch: int) -> LRScheduler:
    """The paper's schedule: lr × gamma every ``step_epochs`` epochs (or at each milestone),
    stepped per iteration."""
    warmup = int(cfg.warmup_epochs * steps_per_epoch)
    return LambdaLR(
        optimizer,
        lambda s: (
            _warmup(s, warmup) * cfg.gamma ** step_decays(cfg.step_epochs, s // steps_per_epoch)
        ),
    )


@SCHEDULERS.register("cosine")
def _cosine(optimizer: Optimizer, cfg: TrainConfig, steps_per_epoch: int) -> LRScheduler:
    total = max(1, cfg.epochs * steps_per_epoch)
    warmup = int(cfg.warmup_epochs * steps_per_epoch)
    return LambdaLR(
        optimizer,
        lambda s: _warmup(s, warmup) * 0.5 * (1 + math.cos(math.pi * min(s, total) / total)),
    )


@SCHEDULERS.register("onecycle")
def _onecycle(optimizer: Optimizer, cfg: TrainConfig, steps_per_epoch: int) -> LRScheduler:
    return OneCycleLR(
        optimizer,
        max_lr=[group["lr"] for group in optimizer.param_groups],
        total_steps=max(2, cfg.epochs * steps_per_epoch),
        pct_start=0.2,
    )


@SCHEDULERS.register("constant")
def _constant(optimizer: Optimizer, cfg: TrainConfig, steps_per_epoch: int) -> LRScheduler:
    warmup = int(cfg.warmup_epochs * steps_per_epoch)
    return LambdaLR(optimizer, lambda s: _warmup(s, warmup))


def build_optimizer(groups: list[dict[str, Any]], cfg: TrainConfig) -> Optimizer:
    return OPTIMIZERS.get(cfg.optimizer)(groups, cfg)


def build_scheduler(optimizer: Optimizer, cfg: TrainConfig, steps_per_epoch: int) -> LRScheduler:
    return SCHEDULERS.get(cfg.scheduler)(optimizer, cfg, steps_per_epoch)
