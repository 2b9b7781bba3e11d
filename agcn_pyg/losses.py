r"""Multi-label losses by name. Each takes ``(logits, targets, mask)``, all ``B × C``.

``targets`` are 0/1 floats after the difficult-label policy; ``mask`` is 1 where the entry
counts and 0 where it is ignored (difficult labels under ``difficult: ignore``).

* ``bce``: Eq. 2, binary cross-entropy with logits averaged over the counted entries
  (ML-GCN's ``MultiLabelSoftMarginLoss`` when nothing is masked).
* ``asl``: timm's asymmetric loss (Ridnik et al., 2021), summed over counted entries and
  divided by the batch size; keyword options ``gamma_neg``, ``gamma_pos``, ``clip``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch.nn.functional as F
from timm.loss import AsymmetricLossMultiLabel
from torch import Tensor

from agcn_pyg.data.targets import apply_difficult_policy, loss_mask
from agcn_pyg.registry import Registry

LossFn = Callable[[Tensor, Tensor, Tensor], Tensor]
LOSSES: Registry[Callable[..., LossFn]] = Registry("loss")


@LOSSES.register("bce")
def bce_loss() -> LossFn:
    def loss(logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
        per_entry = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        return (per_entry * mask).sum() / mask.sum().clamp_min(1.0)

    return loss


@LOSSES.register("asl")
def asymmetric_loss(gamma_neg: float = 4.0, gamma_pos: float = 0.0, clip: float = 0.05) -> LossFn:
    asl = AsymmetricLossMultiLabel(gamma_neg=gamma_neg, gamma_pos=gamma_pos, clip=clip)

    def loss(logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
        keep = mask.bool()
        # timm's loss is element-wise then reduced, so selecting the counted entries masks it.
        # They go in as one row (1 × N): older timm sums, newer timm divides the sum by the
        # number of rows ("batchmean"), which for a flat selection would be N, not 1.
        selected = logits[keep].float().view(1, -1), targets[keep].view(1, -1)
        return asl(*selected) / logits.size(0)

    return loss


def build_loss(name: str, **kwargs: Any) -> LossFn:
    return LOSSES.get(name)(**kwargs)


def targets_and_mask(raw: Tensor, difficult: str) -> tuple[Tensor, Tensor]:
    """0/1 float targets and the float loss mask from 1 / 0 / -1 targets (see
    `agcn_pyg.data.targets` for the ``ignore`` / ``positive`` / ``negative`` policies)."""
    target = apply_difficult_policy(raw.long(), difficult)
    return target.clamp_min(0).float(), loss_mask(target).float()
