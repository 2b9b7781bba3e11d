"""How ignore codes (-1, e.g. VOC "difficult") enter the loss: a registry of policies.

* `ignore`: keep -1; the loss masks those entries (`loss_mask(target)` is `target >= 0`).
* `positive`: -1 becomes 1, as ML-GCN trains on VOC (`target[target == 0] = 1` in its
  engine, where 0 is VOC's "difficult").
* `negative`: -1 becomes 0.

Metrics should always skip -1 entries, whatever the training policy.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from agcn_pyg.registry import Registry

DIFFICULT_POLICIES: Registry[Callable[[torch.Tensor], torch.Tensor]] = Registry(
    "difficult-label policy"
)


@DIFFICULT_POLICIES.register("ignore")
def _ignore(target: torch.Tensor) -> torch.Tensor:
    return target


@DIFFICULT_POLICIES.register("positive")
def _positive(target: torch.Tensor) -> torch.Tensor:
    return torch.where(target < 0, torch.ones_like(target), target)


@DIFFICULT_POLICIES.register("negative")
def _negative(target: torch.Tensor) -> torch.Tensor:
    return torch.where(target < 0, torch.zeros_like(target), target)


def apply_difficult_policy(target: torch.Tensor, policy: str) -> torch.Tensor:
    """Map the -1 entries of a target tensor (any shape) by `policy`; 1 and 0 are unchanged."""
    return DIFFICULT_POLICIES.get(policy)(target)


def loss_mask(target: torch.Tensor) -> torch.Tensor:
    """Boolean mask of entries that count in the loss: `target >= 0`."""
    return target >= 0
