from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

try:
    _CUDA = torch.cuda.is_available()
except Exception:  # a CUDA build on a machine without a driver
    _CUDA = False

TINY_BACKBONE = "test_resnet"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # CUDA tests are deselected (and reported as such) on CPU machines, never skipped;
    # bench/gpu_check.sh runs them with `-m cuda` on a GPU.
    if _CUDA:
        return
    kept, dropped = [], []
    for item in items:
        (dropped if item.get_closest_marker("cuda") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def device(request: pytest.FixtureRequest) -> str:
    """Each check of a device path runs on the CPU in every suite run and on CUDA where there
    is one (`bench/gpu_check.sh` runs the ``cuda`` ones): one test body, so the two cannot
    drift apart."""
    return request.param


@pytest.fixture
def tiny_backbone() -> str:
    return TINY_BACKBONE


def _unit_embeddings(num_classes: int, dim: int = 24, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(num_classes, dim, generator=gen), dim=-1)


@pytest.fixture
def unit_embeddings():
    """Factory of unit-norm label embeddings (the scale MiniLM produces): f(C, d_e, seed)."""
    return _unit_embeddings


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
