"""Optimisers and per-iteration learning-rate schedules, by name.

An optimiser is built from *parts* ``(name, module, lr)`` (the backbone at ``lr · lrp`` and the
head at ``lr``, ML-GCN's groups). ``sgd`` decays every weight, as the paper and both reference
codes do; ``adamw`` leaves biases and normalisation weights (every 1-d parameter) undecayed,
by timm's `param_groups_weight_decay`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import torch
from timm.optim import param_groups_weight_decay
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, OneCycleLR

from agcn_pyg.registry import Registry


class TrainSettings(Protocol):
    """The ``train.*`` values the optimisers and schedules read (`agcn_pyg.config.TrainConfig`
    has them)."""

    optimizer: str
    scheduler: str
    epochs: int
    lr: float
    momentum: float
    weight_decay: float
    step_epochs: int | list[int]
    gamma: float
    warmup_epochs: float


#: ``(name, module, lr)``: a module whose parameters train at ``lr``
Part = tuple[str, nn.Module, float]
#: schedulers whose curve ``train.epochs`` shapes: changing it on resume would bend the rest
SCHEDULERS_SHAPED_BY_EPOCHS = frozenset({"cosine", "onecycle"})
OPTIMIZERS: Registry[Callable[[list[Part], TrainSettings], Optimizer]] = Registry("optimizer")
SCHEDULERS: Registry[Callable[[Optimizer, TrainSettings, int], LRScheduler]] = Registry("scheduler")


def _groups(parts: list[Part]) -> list[dict[str, Any]]:
    """One group per part, every parameter of its module (frozen ones included, as the
    optimiser skips parameters without gradients)."""
    return [{"name": n, "params": list(module.parameters()), "lr": lr} for n, module, lr in parts]


def _decay_groups(parts: list[Part], weight_decay: float) -> list[dict[str, Any]]:
    """Up to two groups per trainable part: ``<name>`` (decayed) and ``<name>_no_decay`` (1-d
    parameters and the module's ``no_weight_decay()`` names).

    timm's `param_groups_weight_decay` returns only the groups that have parameters (one when
    ``weight_decay`` is 0 or nothing is 1-d, as in the A-GCN head without biases), so each
    group is named by its own ``weight_decay``, never by its position.
    """
    groups = []
    for name, module, lr in parts:
        skip = getattr(module, "no_weight_decay", lambda: ())()
        for group in param_groups_weight_decay(module, weight_decay, no_weight_decay_list=skip):
            decayed = group["weight_decay"] > 0
            groups.append({**group, "name": name if decayed else f"{name}_no_decay", "lr": lr})
    return groups


@OPTIMIZERS.register("sgd")
def _sgd(parts: list[Part], cfg: TrainSettings) -> Optimizer:
    return torch.optim.SGD(
        _groups(parts), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )


@OPTIMIZERS.register("adamw")
def _adamw(parts: list[Part], cfg: TrainSettings) -> Optimizer:
    return torch.optim.AdamW(
        _decay_groups(parts, cfg.weight_decay), lr=cfg.lr, weight_decay=cfg.weight_decay
    )


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
def _step(optimizer: Optimizer, cfg: TrainSettings, steps_per_epoch: int) -> LRScheduler:
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
def _cosine(optimizer: Optimizer, cfg: TrainSettings, steps_per_epoch: int) -> LRScheduler:
    total = max(1, cfg.epochs * steps_per_epoch)
    warmup = int(cfg.warmup_epochs * steps_per_epoch)
    return LambdaLR(
        optimizer,
        lambda s: _warmup(s, warmup) * 0.5 * (1 + math.cos(math.pi * min(s, total) / total)),
    )


@SCHEDULERS.register("onecycle")
def _onecycle(optimizer: Optimizer, cfg: TrainSettings, steps_per_epoch: int) -> LRScheduler:
    return OneCycleLR(
        optimizer,
        max_lr=[group["lr"] for group in optimizer.param_groups],
        total_steps=max(2, cfg.epochs * steps_per_epoch),
        pct_start=0.2,
    )


@SCHEDULERS.register("constant")
def _constant(optimizer: Optimizer, cfg: TrainSettings, steps_per_epoch: int) -> LRScheduler:
    warmup = int(cfg.warmup_epochs * steps_per_epoch)
    return LambdaLR(optimizer, lambda s: _warmup(s, warmup))


def build_optimizer(parts: list[Part], cfg: TrainSettings) -> Optimizer:
    """``train.optimizer`` over ``parts``; the last group is the head's (logged as ``lr``)."""
    return OPTIMIZERS.get(cfg.optimizer)(parts, cfg)


def build_scheduler(optimizer: Optimizer, cfg: TrainSettings, steps_per_epoch: int) -> LRScheduler:
    return SCHEDULERS.get(cfg.scheduler)(optimizer, cfg, steps_per_epoch)
