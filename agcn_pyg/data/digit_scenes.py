"""Digit scenes: scikit-learn's handwritten digits composed into small multi-label images.

A second synthetic data set beside the demo's, small enough to train a backbone *from scratch*
end to end on a CPU, and built so that label context matters:

1. the ten digits form fixed groups (`DigitScenesConfig.groups`); each scene draws one group,
   or two with probability ``p_two_groups``;
2. every member of a drawn group is present with probability ``p_member``, every other digit
   with probability ``p_spurious``; an empty draw, or one with more items than grid cells, is
   drawn again;
3. each present digit is one 8×8 scikit-learn image of that class, upsampled to ``item_px``,
   tinted with a random colour and placed in a distinct cell of a 3 × 3 grid (with jitter)
   on a noisy dark background; the last member of every group is *faint* (``faint_contrast``
   of the brightness), so its presence is better told by its group's other members.

Training scenes take their digits from a fixed random 2/3 of the 1,797 scikit-learn images and
validation scenes from the other third, so the splits never share a digit image. The output is
the custom-CSV format (`agcn_pyg.data.custom`): ``<root>/{train,val}.csv``,
``<root>/labels.txt``, PNGs under ``<root>/images/{train,val}/`` and ``<root>/generator.json``.
Digits are not mirror-symmetric: train with ``data.hflip: false``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from agcn_pyg.errors import ConfigError
from agcn_pyg.io import write_text

LABEL_NAMES: tuple[str, ...] = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
)
_GRID = 3
_FORMAT = "agcn-digit-scenes/1"


@dataclass(frozen=True)
class DigitScenesConfig:
    """The generator's parameters (module doc); the defaults are the study's data set."""

    n_train: int = 600
    n_val: int = 200
    image_px: int = 48
    item_px: int = 14
    groups: tuple[tuple[int, ...], ...] = ((0, 1, 2), (3, 4, 5), (6, 7, 8, 9))
    p_two_groups: float = 0.3
    p_member: float = 0.75
    p_spurious: float = 0.03
    faint_contrast: float = 0.3
    noise_std: float = 12.0
    seed: int = 0

    def __post_init__(self) -> None:
        members = sorted(d for g in self.groups for d in g)
        if members != list(range(len(LABEL_NAMES))):
            raise ConfigError("digit scenes: groups must hold every digit 0-9 exactly once")
        if min(len(g) for g in self.groups) < 2:
            raise ConfigError("digit scenes: every group needs at least two digits")
        if self.image_px < _GRID * self.item_px:
            raise ConfigError(f"digit scenes: image_px must be ≥ {_GRID} × item_px")
        for name in ("p_two_groups", "p_member", "p_spurious", "faint_contrast"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"digit scenes: {name} must lie in [0, 1]")

    @property
    def faint(self) -> tuple[int, ...]:
        """The faint digit of every group (its last member)."""
        return tuple(g[-1] for g in self.groups)


def sample_labels(config: DigitScenesConfig, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n × 10`` binary labels drawn from steps 1–2 of the generator."""
    num = len(LABEL_NAMES)
    out = np.zeros((n, num), dtype=np.uint8)
    k = 0
    while k < n:
        count = 2 if rng.random() < config.p_two_groups else 1
        chosen = rng.choice(len(config.groups), size=count, replace=False)
        in_group = np.zeros(num, dtype=bool)
        for g in chosen:
            in_group[list(config.groups[g])] = True
        p = np.where(in_group, config.p_member, config.p_spurious)
        y = rng.random(num) < p
        if 0 < y.sum() <= _GRID * _GRID:
            out[k] = y
            k += 1
    return out


def _digit_pools(seed: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], list[np.ndarray]]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    order = np.random.default_rng(seed).permutation(len(images))
    cut = 2 * len(images) // 3
    pools = []
    for part in (order[:cut], order[cut:]):
        pools.append([part[digits.target[part] == d] for d in range(len(LABEL_NAMES))])
    return images, digits.target, pools[0], pools[1]


def _render(
    labels: np.ndarray,
    images: np.ndarray,
    pool: list[np.ndarray],
    config: DigitScenesConfig,
    rng: np.random.Generator,
) -> np.ndarray:
    size, item, cell = config.image_px, config.item_px, config.image_px // _GRID
    canvas = rng.normal(20.0, config.noise_std, size=(size, size, 3))
    present = np.flatnonzero(labels)
    cells = rng.choice(_GRID * _GRID, size=present.size, replace=False)
    faint = set(config.faint)
    for digit, where in zip(present, cells, strict=True):
        source = images[rng.choice(pool[digit])]
        glyph = Image.fromarray((source * 255).astype(np.uint8)).resize(
            (item, item), Image.Resampling.BILINEAR
        )
        alpha = np.asarray(glyph, dtype=np.float64) / 255.0
        tint = rng.uniform(0.5, 1.0, size=3)
        tint /= tint.max()
        gain = 235.0 * (config.faint_contrast if digit in faint else 1.0)
        slack = cell - item
        row = (where // _GRID) * cell + int(rng.integers(0, slack + 1))
        col = (where % _GRID) * cell + int(rng.integers(0, slack + 1))
        patch = canvas[row : row + item, col : col + item]
        patch += alpha[..., None] * gain * tint
    return np.clip(canvas, 0, 255).round().astype(np.uint8)


def build_digit_scenes(root: str | Path, config: DigitScenesConfig | None = None) -> Path:
    """Write the data set to ``root`` (module doc) and return ``root``; an existing build is
    reused when its ``generator.json`` holds the same parameters."""
    config = config or DigitScenesConfig()
    root = Path(root)
    # Through JSON both ways, so that the groups' tuples compare equal to the stored lists.
    meta = json.loads(json.dumps({"format": _FORMAT, "config": dataclasses.asdict(config)}))
    meta_file = root / "generator.json"
    if meta_file.is_file():
        stored = json.loads(meta_file.read_text(encoding="utf-8"))
        if {k: stored.get(k) for k in meta} == meta:
            return root
        # Written last, removed first: an interrupted rebuild never passes for a complete one.
        meta_file.unlink()
    images, _, train_pool, val_pool = _digit_pools(config.seed)
    rng = np.random.default_rng(config.seed + 1)
    counts = {}
    for split, n, pool in (("train", config.n_train, train_pool), ("val", config.n_val, val_pool)):
        folder = root / "images" / split
        folder.mkdir(parents=True, exist_ok=True)
        labels = sample_labels(config, n, rng)
        rows = ["image,labels"]
        for k, y in enumerate(labels):
            name = f"{k:05d}.png"
            Image.fromarray(_render(y, images, pool, config, rng)).save(
                folder / name, compress_level=1
            )
            names = ";".join(LABEL_NAMES[d] for d in np.flatnonzero(y))
            rows.append(f"images/{split}/{name},{names}")
        write_text(root / f"{split}.csv", "\n".join(rows) + "\n")
        counts[split] = labels.sum(0).tolist()
    write_text(root / "labels.txt", "\n".join(LABEL_NAMES) + "\n")
    meta["label_counts"] = counts
    write_text(meta_file, json.dumps(meta, indent=1) + "\n")
    return root


__all__ = ["LABEL_NAMES", "DigitScenesConfig", "build_digit_scenes", "sample_labels"]
