"""The asymmetric loss counts only the entries the difficult-label policy keeps."""

from __future__ import annotations

import math

import pytest
import torch

from agcn_pyg.losses import build_loss, targets_and_mask

#: B = 2 images, C = 3 labels; -1 marks a difficult label
RAW = torch.tensor([[1, -1, 0], [-1, 0, 1]])
LOGITS = torch.tensor([[0.5, -1.0, 2.0], [1.5, -0.5, 0.3]])


def asl_entry(x: float, y: int, gamma_neg: float, gamma_pos: float, clip: float) -> float:
    """ASL (Ridnik et al., 2021) of one logit ``x`` with target ``y``, restated: ``p = σ(x)``;
    a positive costs ``-(1 - p)^γ+ log p``; a negative, with the shifted probability
    ``p_m = max(p - clip, 0)``, costs ``-p_m^γ- log(1 - p_m)``."""
    p = 1 / (1 + math.exp(-x))
    if y == 1:
        return -((1 - p) ** gamma_pos) * math.log(p)
    shifted = max(p - clip, 0.0)
    return -(shifted**gamma_neg) * math.log(1 - shifted)


def asl_reference(logits, raw, keep, **options: float) -> float:
    """Σ over the kept entries, divided by the batch size B."""
    total = sum(
        asl_entry(float(logits[i, j]), int(raw[i, j]), **options)
        for i in range(raw.size(0))
        for j in range(raw.size(1))
        if keep(int(raw[i, j]))
    )
    return total / raw.size(0)


OPTIONS = [
    {"gamma_neg": 4.0, "gamma_pos": 0.0, "clip": 0.05},  # the defaults
    {"gamma_neg": 2.0, "gamma_pos": 1.0, "clip": 0.1},
]


@pytest.mark.parametrize("options", OPTIONS)
def test_asl_with_difficult_ignore_counts_only_the_labelled_entries(options: dict) -> None:
    targets, mask = targets_and_mask(RAW, "ignore")
    assert mask.tolist() == [[1, 0, 1], [0, 1, 1]]
    loss = build_loss("asl", **options)
    expected = asl_reference(LOGITS, RAW, lambda y: y >= 0, **options)
    assert loss(LOGITS, targets, mask).item() == pytest.approx(expected, rel=1e-5)

    # whatever the logits at the difficult entries, the loss and its gradient there do not move
    moved = LOGITS.clone()
    moved[RAW < 0] = torch.tensor([-7.0, 9.0])
    moved.requires_grad_(True)
    value = loss(moved, targets, mask)
    assert value.item() == pytest.approx(expected, rel=1e-5)
    value.backward()
    assert moved.grad is not None
    assert moved.grad[RAW < 0].abs().max().item() == 0.0
    assert moved.grad[RAW >= 0].abs().min().item() > 0.0


def test_asl_with_difficult_positive_counts_them_as_positives() -> None:
    targets, mask = targets_and_mask(RAW, "positive")
    assert mask.tolist() == [[1] * 3] * 2
    options = OPTIONS[0]
    as_positive = torch.where(RAW < 0, torch.ones_like(RAW), RAW)
    expected = asl_reference(LOGITS, as_positive, lambda y: True, **options)
    ignored = asl_reference(LOGITS, RAW, lambda y: y >= 0, **options)
    value = build_loss("asl", **options)(LOGITS, targets, mask).item()
    assert value == pytest.approx(expected, rel=1e-5) and value != pytest.approx(ignored)
