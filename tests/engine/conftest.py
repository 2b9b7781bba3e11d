from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

LABELS = ["red", "green", "blue", "square"]


def _write_split(root: Path, split: str, n: int, rng: np.random.Generator) -> None:
    rows = ["image,labels"]
    for i in range(n):
        present = rng.random(len(LABELS)) < 0.4
        if not present.any():
            present[rng.integers(len(LABELS))] = True
        pixels = np.full((40, 40, 3), 20, np.uint8)
        for channel in range(3):
            if present[channel]:
                pixels[:, channel * 13 : (channel + 1) * 13, channel] = 220
        if present[3]:
            pixels[14:26, 14:26] = 255
        name = f"images/{split}_{i:03d}.png"
        Image.fromarray(pixels).save(root / name)
        rows.append(f"{name},{';'.join(n for n, p in zip(LABELS, present, strict=True) if p)}")
    (root / f"{split}.csv").write_text("\n".join(rows) + "\n")


@pytest.fixture(scope="session")
def color_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-label CSV data set of 40 px images: coloured stripes and a white square."""
    root = tmp_path_factory.mktemp("colors")
    (root / "images").mkdir()
    rng = np.random.default_rng(0)
    _write_split(root, "train", 48, rng)
    _write_split(root, "val", 24, rng)
    (root / "labels.txt").write_text("\n".join(LABELS) + "\n")
    return root


@pytest.fixture
def run_config(tmp_path: Path, color_dataset: Path):
    """Factory: write a tiny run config (with overrides as a nested dict) and return its path."""

    def make(name: str = "tiny", **sections: dict) -> Path:
        labels = str(color_dataset / "labels.txt")
        config = {
            "name": name,
            "output_dir": str(tmp_path / "runs"),
            "model": {"backbone": "test_resnet", "graph": "conv", "hidden_dim": 16},
            "data": {
                "dataset": "csv",
                "train": {"csv_file": str(color_dataset / "train.csv"), "label_names": labels},
                "val": {"csv_file": str(color_dataset / "val.csv"), "label_names": labels},
                "image_size": 32,
                "resize_size": 36,
                "embeddings": "onehot",
                "workers": 0,
            },
            "train": {"epochs": 2, "batch_size": 12, "lr": 0.05},
        }
        for section, values in sections.items():
            config[section] = {**config.get(section, {}), **values}
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    return make
