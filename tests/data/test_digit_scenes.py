"""The digit-scene data set: scikit-learn digits composed into grouped multi-label scenes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agcn_pyg.data import from_csv
from agcn_pyg.data.digit_scenes import (
    LABEL_NAMES,
    DigitScenesConfig,
    build_digit_scenes,
    sample_labels,
)
from agcn_pyg.errors import ConfigError


def test_labels_follow_the_groups() -> None:
    config = DigitScenesConfig(p_spurious=0.0, p_two_groups=0.0, p_member=0.9)
    labels = sample_labels(config, 500, np.random.default_rng(0))
    assert labels.shape == (500, 10) and labels.sum(1).min() >= 1
    group_of = {d: g for g, members in enumerate(config.groups) for d in members}
    for row in labels:
        assert len({group_of[d] for d in np.flatnonzero(row)}) == 1  # one group, no spurious
    # Co-occurrence: within a group P(j | i) is p_member; across groups it is 0.
    both = labels.T.astype(float) @ labels
    conditional = both / np.diag(both)[:, None]
    assert conditional[0, 1] == pytest.approx(0.9, abs=0.06) and conditional[0, 3] == 0
    assert config.faint == (2, 5, 9)


def test_build_writes_a_csv_data_set_that_loads(tmp_path: Path) -> None:
    config = DigitScenesConfig(n_train=30, n_val=12, seed=3)
    root = build_digit_scenes(tmp_path / "digits", config)
    assert (root / "labels.txt").read_text().split() == list(LABEL_NAMES)
    train = from_csv(root / "train.csv", label_names=root / "labels.txt")
    val = from_csv(root / "val.csv", label_names=root / "labels.txt")
    assert len(train) == 30 and len(val) == 12 and train.targets.sum(1).min() >= 1
    with Image.open(train.image_paths[0]) as image:
        assert image.size == (48, 48) and image.mode == "RGB"
    # Rebuilding with the same config reuses the files; another config rebuilds.
    stamp = (root / "train.csv").stat().st_mtime_ns
    build_digit_scenes(root, config)
    assert (root / "train.csv").stat().st_mtime_ns == stamp
    other = DigitScenesConfig(n_train=30, n_val=12, seed=4)
    build_digit_scenes(root, other)
    assert (root / "train.csv").stat().st_mtime_ns != stamp  # another config: rebuilt
    build_digit_scenes(root, config)
    again = build_digit_scenes(tmp_path / "again", config)
    assert (again / "train.csv").read_text() == (root / "train.csv").read_text()  # seeded
    first = np.asarray(Image.open(root / "images/train/00000.png"))
    second = np.asarray(Image.open(again / "images/train/00000.png"))
    assert np.array_equal(first, second)


def test_faint_digits_are_dimmer() -> None:
    from agcn_pyg.data import digit_scenes as ds

    config = DigitScenesConfig(noise_std=0.0)
    images, _, pool, _ = ds._digit_pools(0)
    rng = np.random.default_rng(0)
    bright = ds._render(np.eye(10, dtype=np.uint8)[0], images, pool, config, rng)
    faint = ds._render(np.eye(10, dtype=np.uint8)[2], images, pool, config, rng)
    assert faint.max() < 0.5 * bright.max()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"groups": ((0, 1), (2, 3))}, "every digit"),
        ({"groups": ((0,), tuple(range(1, 10)))}, "at least two"),
        ({"image_px": 30}, "image_px"),
        ({"p_member": 1.5}, "p_member"),
    ],
)
def test_bad_parameters(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        DigitScenesConfig(**kwargs)
