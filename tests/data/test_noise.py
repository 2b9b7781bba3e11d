"""The label-noise model of the Table-2 setting (`agcn_pyg.data.noise`, ``data.label_noise``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from agcn_pyg.config import DataConfig, LabelNoiseConfig
from agcn_pyg.data.noise import corrupt_targets
from agcn_pyg.engine.inputs import load_splits
from agcn_pyg.errors import ConfigError


def test_noise_follows_the_documented_draws() -> None:
    targets = np.array([[1, 0, -1, 1], [0, 1, 1, 0], [1, 1, 0, -1]])
    u = np.random.default_rng(7).random(targets.shape)  # the module's own draws, restated
    drop, add = 0.5, 0.3
    expected = targets.copy()
    expected[(targets == 1) & (u < drop)] = 0
    expected[(targets == 0) & (u < add)] = 1
    noisy, counts = corrupt_targets(targets, drop=drop, add=add, seed=7)
    assert noisy.dtype == torch.int8 and noisy.tolist() == expected.tolist()
    assert (noisy[torch.as_tensor(targets) == -1] == -1).all()  # difficult stays difficult
    assert counts.positives == 6
    assert counts.dropped == int(((targets == 1) & (u < drop)).sum())
    assert counts.added == int(((targets == 0) & (u < add)).sum())
    unchanged, none = corrupt_targets(targets)
    assert unchanged.tolist() == targets.tolist() and none.dropped == none.added == 0


def test_noise_rate_and_bounds() -> None:
    targets = np.ones((400, 50), dtype=np.int64)
    noisy, counts = corrupt_targets(targets, drop=0.4, seed=0)
    assert counts.dropped == int((noisy == 0).sum())
    assert abs(counts.dropped / counts.positives - 0.4) < 0.01  # 20,000 draws
    everything, _ = corrupt_targets(targets, drop=1.0)
    assert (everything == 0).all()
    for bad in (-0.1, 1.5):  # the schema's rule, before any label is read
        with pytest.raises(ConfigError, match=r"^data\.label_noise\.drop: expected a prob"):
            LabelNoiseConfig(drop=bad)


def test_load_splits_corrupts_the_training_split_only(color_dataset: Path) -> None:
    labels = str(color_dataset / "labels.txt")
    cfg = DataConfig(
        train={"csv_file": str(color_dataset / "train.csv"), "label_names": labels},
        val={"csv_file": str(color_dataset / "val.csv"), "label_names": labels},
    )
    clean = load_splits(cfg)
    assert clean.noise is None
    noisy = load_splits(DataConfig(**{**vars(cfg), "label_noise": LabelNoiseConfig(drop=0.5)}))
    expected, counts = corrupt_targets(clean.train.targets, drop=0.5, seed=0)
    assert noisy.train.targets.dtype == torch.int64
    assert noisy.train.targets.tolist() == expected.tolist() and noisy.noise == counts
    assert counts.dropped > 0
    assert torch.equal(noisy.val.targets, clean.val.targets)
