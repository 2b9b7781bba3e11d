"""The demo's multi-label data set: real Fashion-MNIST items composed into styled scenes.

Generative model (documented in full, with the default numbers, in ``datasets/demo/README.md``).
For every scene independently:

1. draw a latent style ``s ~ π`` (beach, office, winter, ...);
2. given ``s``, each of the ``C = 10`` items is present independently,
   ``y_i ~ Bernoulli(q[s, i])``;
3. if no item is present, discard the pair ``(s, y)`` and draw both again.

Step 3 conditions the whole model on ``Y ≠ ∅``. With ``Z = P(Y ≠ ∅) = 1 - Σ_s π_s Π_i (1 - q_si)``
the label statistics are, exactly (``y_i = 1`` already implies ``Y ≠ ∅``)::

    P(y_i = 1)            = Σ_s π_s q_si / Z                       marginals, shape (C,)
    P(y_i = 1, y_j = 1)   = Σ_s π_s q_si q_sj / Z    (i ≠ j)      joint, shape (C, C)
    P(y_j = 1 | y_i = 1)  = P(y_i = 1, y_j = 1) / P(y_i = 1)      conditional[i, j], shape (C, C)

(the joint's diagonal is the marginal, the conditional's diagonal is 1).

Rendering: each present item becomes one Fashion-MNIST image of that class (train scenes draw from
the ``train`` split, test scenes from ``t10k``, so the two never share a pixel), tinted with a
random colour and placed in a distinct cell of a ``grid × grid`` layout with a small jitter. Hard
items are drawn at ``hard_scale`` of the normal size and ``hard_contrast`` of the brightness, so
their presence is better told by the scene's other items (its style) than by their pixels.

The data set is written in the custom-CSV format: ``<root>/{train,test}.csv`` with header
``image,labels`` (``labels`` ``;``-separated names), ``<root>/labels.txt``, the PNGs under
``<root>/images/{train,test}/``, ``<root>/objects.csv`` (one row per rendered item: style, source
index, box, tint) and ``<root>/generator.json`` (parameters, analytic statistics, counts).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import gzip
import io
import json
import os
import shutil
import zlib
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from agcn_pyg.errors import ConfigError, DataError
from agcn_pyg.io import write_bytes, write_text

__all__ = [
    "DEFAULT_STYLES",
    "FASHION_MNIST_ENV",
    "LABEL_NAMES",
    "DemoConfig",
    "DemoDataset",
    "Style",
    "analytic_statistics",
    "build_demo_dataset",
    "context_posterior",
    "empirical_statistics",
    "fashion_mnist_folder",
    "load_fashion_mnist",
    "sample_labels",
]

# Fashion-MNIST's class ids 0..9, in order; the demo's label index is the Fashion-MNIST class id.
LABEL_NAMES: tuple[str, ...] = (
    "t-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)
NUM_LABELS = len(LABEL_NAMES)

FASHION_MNIST_ENV = "AGCN_FASHION_MNIST"
DEFAULT_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
_HOW_TO_GET = (
    f"run `make pixels` (Debian package dataset-fashion-mnist) or set {FASHION_MNIST_ENV} "
    "to a folder with the four *-ubyte.gz files"
)
# Fashion-MNIST split -> file-name prefix; "test" is accepted as another name for "t10k".
_FM_PREFIX = {"train": "train", "t10k": "t10k", "test": "t10k"}
_IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
_IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension

# Demo split -> (Fashion-MNIST split its pixels come from, id used to derive its random streams).
_SPLITS: dict[str, tuple[str, int]] = {"train": ("train", 0), "test": ("t10k", 1)}
_STREAMS = {"labels": 0, "sources": 1, "layout": 2}
# Scene labels are drawn in fixed-size chunks so that a smaller split is a prefix of a larger
# one with the same seed (the reduced CI data set is the first scenes of the full one).
_CHUNK = 4096
_FORMAT = "agcn-demo/1"
_PROGRESS_MIN = 500
_WRITERS = 1


@dataclass(frozen=True)
class Style:
    """One latent occasion: its prior weight and the presence probability of every item.

    ``q`` holds ``q[s, i]`` for the items in ``LABEL_NAMES`` order. Prior weights are normalised
    over the styles of a config to give ``π``.
    """

    name: str
    prior: float
    q: tuple[float, ...]

    def __post_init__(self) -> None:
        # Accept any sequence (a list, a numpy row) but keep the config hashable and JSON-clean.
        object.__setattr__(self, "prior", float(self.prior))
        object.__setattr__(self, "q", tuple(float(p) for p in self.q))


def _style(name: str, prior: float, **q: float) -> Style:
    # Keyword names are the labels with "-"/" " spelled "_" (t_shirt, ankle_boot).
    keys = {label.replace("-", "_").replace(" ", "_"): label for label in LABEL_NAMES}
    if set(q) != set(keys):
        raise ValueError(f"style {name!r}: give exactly the items {sorted(keys)}")
    by_label = {keys[k]: v for k, v in q.items()}
    return Style(name, prior, tuple(float(by_label[label]) for label in LABEL_NAMES))


# Chosen a priori from everyday dress codes, not tuned to any training result. Each hard item
# (sandal, shirt, bag) is likely in one or two styles whose visible items are distinctive, and
# rare elsewhere, so context predicts it.
# fmt: off
DEFAULT_STYLES: tuple[Style, ...] = (
    _style("beach",   0.20, t_shirt=0.75, trouser=0.05, pullover=0.02, dress=0.50, coat=0.01,
           sandal=0.85, shirt=0.05, sneaker=0.05, bag=0.45, ankle_boot=0.01),
    _style("office",  0.20, t_shirt=0.05, trouser=0.85, pullover=0.20, dress=0.10, coat=0.25,
           sandal=0.02, shirt=0.85, sneaker=0.05, bag=0.35, ankle_boot=0.25),
    _style("winter",  0.15, t_shirt=0.05, trouser=0.60, pullover=0.85, dress=0.02, coat=0.85,
           sandal=0.01, shirt=0.15, sneaker=0.20, bag=0.15, ankle_boot=0.85),
    _style("sport",   0.15, t_shirt=0.85, trouser=0.55, pullover=0.25, dress=0.01, coat=0.05,
           sandal=0.05, shirt=0.02, sneaker=0.90, bag=0.15, ankle_boot=0.02),
    _style("evening", 0.15, t_shirt=0.02, trouser=0.10, pullover=0.02, dress=0.85, coat=0.35,
           sandal=0.40, shirt=0.05, sneaker=0.02, bag=0.85, ankle_boot=0.35),
    _style("casual",  0.15, t_shirt=0.45, trouser=0.45, pullover=0.15, dress=0.15, coat=0.05,
           sandal=0.15, shirt=0.15, sneaker=0.45, bag=0.15, ankle_boot=0.10),
)
# fmt: on


@dataclass(frozen=True)
class DemoConfig:
    """Every parameter of the demo data set; two builds with equal configs are byte-identical.

    Sizes: ``n_train`` / ``n_test`` scenes of ``image_size × image_size`` RGB pixels.

    Layout: ``grid × grid`` cells (``grid² ≥ C``, so every scene fits and the layout never changes
    the label distribution). Cell centres are evenly spaced so that a normal tile of
    ``object_size`` px never leaves the canvas; each tile's centre moves by up to ``jitter`` px.
    Neighbouring tiles may overlap by a few pixels, mostly their black margins; the brighter
    pixel wins (per-channel maximum).

    Items: a normal item is its 28 × 28 Fashion-MNIST image resized to ``object_size`` px (28 is
    the native size, no resampling), multiplied by a random tint whose brightest channel is 1 and
    whose other channels lie in ``[tint_min, 1]``. A hard item is resized to
    ``round(hard_scale · object_size)`` px and multiplied by ``hard_contrast`` as well.

    Background: a per-scene colour with channels uniform in ``[0, background]`` plus per-pixel
    uniform noise in ``[0, noise]``, added to the items and clipped to 255.
    """

    n_train: int = 2000
    n_test: int = 1000
    image_size: int = 96
    grid: int = 4
    object_size: int = 28
    jitter: int = 3
    hard_items: tuple[str, ...] = ("sandal", "shirt", "bag")
    hard_scale: float = 0.5
    hard_contrast: float = 0.4
    tint_min: float = 0.35
    background: int = 24
    noise: int = 16
    seed: int = 0
    styles: tuple[Style, ...] = field(default=DEFAULT_STYLES)

    def __post_init__(self) -> None:
        def need(ok: bool, name: str, what: str) -> None:
            if not ok:
                raise ConfigError(f"demo config: {name}={getattr(self, name)!r}: {what}")

        for name in ("n_train", "n_test", "image_size", "grid", "object_size"):
            need(int(getattr(self, name)) >= 1, name, "must be a positive integer")
        for name in ("jitter", "background", "noise", "seed"):
            need(int(getattr(self, name)) >= 0, name, "must be a non-negative integer")
        need(self.background + self.noise <= 255, "noise", "background + noise must be ≤ 255")
        need(self.grid**2 >= NUM_LABELS, "grid", f"grid² must be ≥ {NUM_LABELS} (one cell/item)")
        need(self.object_size <= self.image_size, "object_size", "must be ≤ image_size")
        spacing = (self.image_size - self.object_size) / max(self.grid - 1, 1)
        need(
            spacing >= 0.75 * self.object_size,
            "object_size",
            f"cells {spacing:.1f} px apart overlap too much; use a smaller object_size, "
            "a smaller grid or a larger image_size",
        )
        need(0.0 < self.hard_scale <= 1.0, "hard_scale", "must be in (0, 1]")
        need(0.0 < self.hard_contrast <= 1.0, "hard_contrast", "must be in (0, 1]")
        need(0.0 <= self.tint_min <= 1.0, "tint_min", "must be in [0, 1]")
        unknown = [h for h in self.hard_items if h not in LABEL_NAMES]
        need(not unknown, "hard_items", f"unknown items {unknown}; labels are {list(LABEL_NAMES)}")
        need(len(set(self.hard_items)) == len(self.hard_items), "hard_items", "has duplicates")
        need(len(self.styles) >= 1, "styles", "needs at least one style")
        names = [s.name for s in self.styles]
        need(len(set(names)) == len(names), "styles", "style names must be unique")
        for s in self.styles:
            if len(s.q) != NUM_LABELS or not all(0.0 <= p <= 1.0 for p in s.q):
                raise ConfigError(
                    f"demo config: style {s.name!r}: q needs {NUM_LABELS} probabilities in [0, 1]"
                )
            if not s.prior >= 0.0:
                raise ConfigError(f"demo config: style {s.name!r}: prior must be ≥ 0")
        need(sum(s.prior for s in self.styles) > 0.0, "styles", "prior weights sum to 0")
        need(_nonempty_probability(self) > 0.0, "styles", "every scene would be empty")

    @property
    def style_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.styles)

    @property
    def prior(self) -> np.ndarray:
        """``π``, shape ``(S,)``, summing to 1."""
        w = np.array([s.prior for s in self.styles], dtype=np.float64)
        return w / w.sum()

    @property
    def q(self) -> np.ndarray:
        """``q[s, i]``, shape ``(S, C)``."""
        return np.array([s.q for s in self.styles], dtype=np.float64)

    @property
    def hard_mask(self) -> np.ndarray:
        """Boolean ``(C,)``: which items are rendered small and faint."""
        return np.array([name in self.hard_items for name in LABEL_NAMES])

    @property
    def hard_size(self) -> int:
        return max(1, round(self.hard_scale * self.object_size))

    def to_dict(self) -> dict:
        """JSON-ready parameters (what ``generator.json`` records and compares)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def reduced(self, n_train: int = 200, n_test: int = 100) -> DemoConfig:
        """The same model with fewer scenes (CI); its scenes are the first ones of the full set."""
        return dataclasses.replace(self, n_train=n_train, n_test=n_test)


@dataclass(frozen=True)
class DemoDataset:
    """What ``build_demo_dataset`` wrote, and the model's analytic label statistics.

    ``marginals`` ``(C,)``, ``joint`` ``(C, C)`` and ``conditional`` ``(C, C)`` with
    ``conditional[i, j] = P(y_j = 1 | y_i = 1)``, as in ``analytic_statistics``.
    """

    root: Path
    train_csv: Path
    test_csv: Path
    labels_txt: Path
    objects_csv: Path
    generator_json: Path
    label_names: tuple[str, ...]
    n_train: int
    n_test: int
    marginals: np.ndarray
    joint: np.ndarray
    conditional: np.ndarray
    built: bool  # False when an identical data set was already on disk


# --------------------------------------------------------------------------- pixel source


def fashion_mnist_folder(folder: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding the idx files: ``folder``, else ``$AGCN_FASHION_MNIST``, else Debian's."""
    if folder is not None:
        return Path(folder)
    env = os.environ.get(FASHION_MNIST_ENV)
    return Path(env) if env else DEFAULT_FASHION_MNIST


def _read_idx(path: Path, magic: int, ndim: int) -> np.ndarray:
    """One gzipped idx file: big-endian int32 magic and dims, then unsigned bytes."""
    if not path.is_file():
        raise DataError(f"Fashion-MNIST file {path} not found; {_HOW_TO_GET}")
    try:
        with gzip.open(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(
            f"Fashion-MNIST file {path} is not a readable gzip file ({err}); {_HOW_TO_GET}"
        ) from None
    header = 4 * (1 + ndim)
    if len(raw) < header:
        raise DataError(f"Fashion-MNIST file {path} is truncated (no idx header); {_HOW_TO_GET}")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise DataError(
            f"Fashion-MNIST file {path} has idx magic number {found}, expected {magic}; "
            + _HOW_TO_GET
        )
    dims = tuple(int.from_bytes(raw[4 + 4 * k : 8 + 4 * k], "big") for k in range(ndim))
    size = int(np.prod(dims))
    if len(raw) != header + size:
        raise DataError(
            f"Fashion-MNIST file {path} holds {len(raw) - header} data bytes, its header says "
            f"{size} for shape {dims}; {_HOW_TO_GET}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


@functools.lru_cache(maxsize=4)
def _load_cached(folder: Path, prefix: str, mtimes: tuple[float, float]) -> tuple[np.ndarray, ...]:
    del mtimes  # only part of the cache key, so that a replaced file is read again
    images = _read_idx(folder / f"{prefix}-images-idx3-ubyte.gz", _IDX_IMAGES_MAGIC, 3)
    labels = _read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", _IDX_LABELS_MAGIC, 1)
    if images.shape[1:] != (28, 28):
        raise DataError(
            f"Fashion-MNIST file {folder / f'{prefix}-images-idx3-ubyte.gz'} has images of shape "
            f"{images.shape[1:]}, expected (28, 28); {_HOW_TO_GET}"
        )
    if len(images) != len(labels):
        raise DataError(
            f"Fashion-MNIST files {folder}/{prefix}-*: {len(images)} images but {len(labels)} "
            f"labels; {_HOW_TO_GET}"
        )
    if labels.size and int(labels.max()) >= NUM_LABELS:
        raise DataError(
            f"Fashion-MNIST file {folder / f'{prefix}-labels-idx1-ubyte.gz'} has class "
            f"{int(labels.max())}, expected 0..{NUM_LABELS - 1}; {_HOW_TO_GET}"
        )
    return images, labels


def load_fashion_mnist(
    split: str, folder: str | os.PathLike[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST's ``train`` or ``t10k`` (alias ``test``) split.

    Returns read-only ``images`` uint8 ``(N, 28, 28)`` and ``labels`` uint8 ``(N,)`` (class ids,
    the indices of ``LABEL_NAMES``). A missing or corrupt file raises ``DataError``.
    """
    if split not in _FM_PREFIX:
        raise ConfigError(f"Fashion-MNIST split {split!r}: choose 'train' or 't10k'")
    base = fashion_mnist_folder(folder).expanduser().resolve()
    prefix = _FM_PREFIX[split]
    paths = [base / f"{prefix}-{kind}-ubyte.gz" for kind in ("images-idx3", "labels-idx1")]
    mtimes = tuple(p.stat().st_mtime if p.is_file() else -1.0 for p in paths)
    return _load_cached(base, prefix, mtimes)


# --------------------------------------------------------------------------- label model


def _nonempty_probability(config: DemoConfig) -> float:
    return float(1.0 - config.prior @ np.prod(1.0 - config.q, axis=1))


def analytic_statistics(config: DemoConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The model's exact label statistics, conditioned on ``Y ≠ ∅``.

    Returns ``marginals`` ``(C,)`` with ``P(y_i = 1)``, ``joint`` ``(C, C)`` with
    ``P(y_i = 1, y_j = 1)`` (diagonal: the marginals) and ``conditional`` ``(C, C)`` with
    ``conditional[i, j] = P(y_j = 1 | y_i = 1)`` (diagonal 1; a row of zeros for an item the
    model never produces). See the module docstring for the formulas.
    """
    prior, q = config.prior, config.q
    z = _nonempty_probability(config)
    marginals = prior @ q / z
    joint = np.einsum("s,si,sj->ij", prior, q, q) / z
    np.fill_diagonal(joint, marginals)
    with np.errstate(divide="ignore", invalid="ignore"):
        conditional = np.where(marginals[:, None] > 0, joint / marginals[:, None], 0.0)
    return marginals, joint, conditional


def empirical_statistics(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same three statistics measured on a 0/1 label matrix ``(N, C)``."""
    y = np.asarray(labels, dtype=np.float64)
    counts = y.T @ y
    n_i = np.diag(counts).copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        conditional = np.where(n_i[:, None] > 0, counts / n_i[:, None], 0.0)
    return n_i / len(y), counts / len(y), conditional


def context_posterior(config: DemoConfig, labels: np.ndarray) -> np.ndarray:
    """``P(y_i = 1 | y_{-i})`` under the model for each scene and item, ``(N, C)``.

    The best score any predictor can give item ``i`` from the *other* labels alone (no pixels),
    a reference for how much context can tell. With ``L_s(y_{-i}) = Π_{k≠i} q_sk^y_k
    (1 - q_sk)^(1 - y_k)``, it is ``Σ_s π_s L_s q_si / Σ_s π_s L_s``; when no other item is
    present the ``Y ≠ ∅`` rule makes it 1. For an ``y_{-i}`` the model cannot produce
    (every ``L_s = 0``) it falls back to the marginal ``P(y_i = 1)``.
    """
    y = np.asarray(labels, dtype=bool)
    n = len(y)
    prior, q = config.prior, config.q
    per_item = np.where(y[:, None, :], q[None], 1.0 - q[None])  # (N, S, C)
    # Leave-one-out products as prefix × suffix products: no division, exact zeros stay exact.
    ones = np.ones((n, len(prior), 1))
    before = np.cumprod(np.concatenate([ones, per_item[:, :, :-1]], axis=2), axis=2)
    after = np.cumprod(np.concatenate([ones, per_item[:, :, :0:-1]], axis=2), axis=2)[:, :, ::-1]
    weights = prior[None, :, None] * before * after  # π_s L_s(y_{-i}), (N, S, C)
    total = weights.sum(axis=1)
    marginals = analytic_statistics(config)[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        post = np.where(total > 0, (weights * q[None]).sum(axis=1) / total, marginals[None])
    alone = (y.sum(axis=1, keepdims=True) - y) == 0
    return np.where(alone, 1.0, post)


def _rng(config: DemoConfig, split: str, stream: str) -> np.random.Generator:
    # One independent stream per (split, purpose): the test set does not depend on n_train, and
    # labels do not depend on rendering parameters.
    key = (_SPLITS[split][1], _STREAMS[stream])
    return np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=key))


def _check_split(split: str) -> None:
    if split not in _SPLITS:
        raise ConfigError(f"demo split {split!r}: choose one of {sorted(_SPLITS)}")


def sample_labels(
    config: DemoConfig, split: str, n: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Scene styles ``(N,)`` (indices of ``config.styles``) and labels ``(N, C)`` bool.

    Exactly what ``build_demo_dataset`` writes for ``split`` (``N`` defaults to its size; the
    first ``N`` scenes of a larger sample are the same). Empty draws are rejected together with
    their style, which is what conditions the model on ``Y ≠ ∅``.
    """
    _check_split(split)
    n = (config.n_train if split == "train" else config.n_test) if n is None else int(n)
    rng = _rng(config, split, "labels")
    prior, q = config.prior, config.q
    styles: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    kept = 0
    while kept < n:
        s = rng.choice(len(prior), size=_CHUNK, p=prior)
        y = rng.random((_CHUNK, NUM_LABELS)) < q[s]
        keep = y.any(axis=1)
        styles.append(s[keep])
        labels.append(y[keep])
        kept += int(keep.sum())
    return np.concatenate(styles)[:n], np.concatenate(labels)[:n]


# --------------------------------------------------------------------------- rendering


def _source_indices(
    labels: np.ndarray, fm_labels: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Fashion-MNIST index for every present item, ``(N, C)`` int64, ``-1`` where absent.

    Each class's images are used in a random order without repetition; only when a split asks
    for more items of a class than Fashion-MNIST holds does the order start again.
    """
    out = np.full(labels.shape, -1, dtype=np.int64)
    for c in range(NUM_LABELS):
        pool = rng.permutation(np.flatnonzero(fm_labels == c))
        rows = np.flatnonzero(labels[:, c])
        if len(rows) and not len(pool):
            raise DataError(f"Fashion-MNIST has no image of class {c} ({LABEL_NAMES[c]!r})")
        out[rows, c] = pool[np.arange(len(rows)) % max(len(pool), 1)]
    return out


def _tile(image: np.ndarray, size: int) -> np.ndarray:
    """A 28 × 28 uint8 item resized to ``size`` px (box filter), as float32 in [0, 255]."""
    if size != image.shape[0]:
        image = np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BOX))
    return image.astype(np.float32)


def _interpolation_matrix(n_out: int, n_in: int) -> np.ndarray:
    """``(n_out, n_in)`` weights of 1-D linear interpolation, end points aligned."""
    pos = np.linspace(0.0, n_in - 1.0, n_out)
    lo = np.minimum(np.floor(pos).astype(np.int64), n_in - 2) if n_in > 1 else np.zeros(n_out, int)
    frac = pos - lo
    w = np.zeros((n_out, n_in))
    w[np.arange(n_out), lo] += 1.0 - frac
    if n_in > 1:
        w[np.arange(n_out), lo + 1] += frac
    return w


@dataclass(frozen=True)
class _Placed:
    label: int
    source: int
    x: int
    y: int
    size: int
    contrast: float
    tint: tuple[float, float, float]


class _SceneRenderer:
    """Draws scenes of one config; the geometry is computed once, the randomness per scene."""

    def __init__(self, config: DemoConfig, fm_images: np.ndarray) -> None:
        self.config = config
        self.fm_images = fm_images
        size, obj = config.image_size, config.object_size
        self.centres = np.linspace(obj / 2, size - obj / 2, config.grid).tolist()
        self.hard = config.hard_mask.tolist()
        # The background texture is a coarse lattice of random levels, linearly interpolated:
        # mild, smooth blotches (cheap to encode as PNG, unlike per-pixel noise).
        lattice = max(2, size // 8)
        self.interp = _interpolation_matrix(size, lattice)
        self.lattice = lattice

    def render(
        self, labels: np.ndarray, sources: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, list[_Placed]]:
        """One scene, ``(H, W, 3)`` uint8, and where each item went."""
        cfg = self.config
        size = cfg.image_size
        present = np.flatnonzero(labels)
        k = len(present)
        # Always the same draws, in the same order, for a given label set: determinism.
        cells = rng.permutation(cfg.grid**2)[:k].tolist()
        jitter = rng.integers(-cfg.jitter, cfg.jitter + 1, size=(k, 2)).tolist()
        tints = rng.uniform(cfg.tint_min, 1.0, size=(k, 3))
        tints[np.arange(k), rng.integers(0, 3, size=k)] = 1.0
        base = rng.integers(0, cfg.background + 1, size=3)
        levels = rng.integers(0, cfg.noise + 1, size=(self.lattice, self.lattice))

        canvas = np.zeros((size, size, 3), dtype=np.float32)
        placed: list[_Placed] = []
        for n, c in enumerate(present.tolist()):
            hard = self.hard[c]
            tile_size = cfg.hard_size if hard else cfg.object_size
            contrast = cfg.hard_contrast if hard else 1.0
            row, col = divmod(cells[n], cfg.grid)
            half = tile_size / 2
            cy = min(max(self.centres[row] + jitter[n][0], half), size - half)
            cx = min(max(self.centres[col] + jitter[n][1], half), size - half)
            y0, x0 = round(cy - half), round(cx - half)
            tile = _tile(self.fm_images[sources[c]], tile_size)
            rgb = tile[:, :, None] * (tints[n] * contrast).astype(np.float32)
            region = canvas[y0 : y0 + tile_size, x0 : x0 + tile_size]
            np.maximum(region, rgb, out=region)
            tint = tuple(float(t) for t in tints[n])
            placed.append(_Placed(c, int(sources[c]), x0, y0, tile_size, contrast, tint))
        texture = self.interp @ levels @ self.interp.T
        canvas += (texture[:, :, None] + base).astype(np.float32)
        return np.clip(np.rint(canvas), 0, 255).astype(np.uint8), placed


# --------------------------------------------------------------------------- writing


@functools.cache
def _progress_bar():  # tqdm is imported lazily: the label model needs no progress bar
    from tqdm.auto import tqdm

    return tqdm


def _csv_text(rows: Sequence[Sequence[object]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerows(rows)
    return buf.getvalue()


def _write_png(path: Path, image: np.ndarray) -> None:
    buf = io.BytesIO()
    # Level 1: several times faster than the default, files only slightly larger.
    Image.fromarray(image).save(buf, format="PNG", compress_level=1)
    write_bytes(path, buf.getvalue(), durable=False)


def _image_name(index: int, n: int) -> str:
    return f"{index:0{max(5, len(str(n - 1)))}d}.png"


def _write_split(
    root: Path,
    config: DemoConfig,
    split: str,
    folder: Path | None,
    progress: bool,
) -> tuple[list[list[object]], list[list[object]], dict]:
    """Render and write one split's PNGs; return its CSV rows, object rows and counts."""
    fm_split = _SPLITS[split][0]
    fm_images, fm_labels = load_fashion_mnist(fm_split, folder)
    styles, labels = sample_labels(config, split)
    sources = _source_indices(labels, fm_labels, _rng(config, split, "sources"))
    layout = _rng(config, split, "layout")
    renderer = _SceneRenderer(config, fm_images)
    out_dir = root / "images" / split
    out_dir.mkdir(parents=True, exist_ok=True)

    csv_rows: list[list[object]] = [["image", "labels"]]
    object_rows: list[list[object]] = []
    n = len(labels)
    bar = _progress_bar()(
        total=n,
        desc=f"demo {split} scenes",
        unit="img",
        disable=None if progress and n >= _PROGRESS_MIN else True,
    )
    # PNG encoding and file creation release the GIL: a writer thread (_WRITERS) overlaps them
    # with rendering. Bytes do not depend on the writing order, so the output stays deterministic.
    pending: deque[Future[None]] = deque()
    with bar, ThreadPoolExecutor(max_workers=_WRITERS) as pool:
        for idx in range(n):
            image, placed = renderer.render(labels[idx], sources[idx], layout)
            rel = f"images/{split}/{_image_name(idx, n)}"
            pending.append(pool.submit(_write_png, root / rel, image))
            while len(pending) > 4 * _WRITERS or (pending and pending[0].done()):
                pending.popleft().result()
                bar.update(1)
            names = ";".join(LABEL_NAMES[c] for c in np.flatnonzero(labels[idx]))
            csv_rows.append([rel, names])
            style = config.styles[int(styles[idx])].name
            for p in placed:
                object_rows.append(
                    [split, rel, style, LABEL_NAMES[p.label], fm_split, p.source, p.x, p.y]
                    + [p.size, p.size, f"{p.contrast:g}"]
                    + [f"{t:.4f}" for t in p.tint]
                )
        while pending:
            pending.popleft().result()
            bar.update(1)

    counts = {
        "scenes": n,
        "objects": int(labels.sum()),
        "pixel_source": fm_split,
        "per_label": dict(zip(LABEL_NAMES, labels.sum(axis=0).tolist(), strict=True)),
        "per_style": {s.name: int((styles == k).sum()) for k, s in enumerate(config.styles)},
        "pair_counts": (labels.T.astype(np.int64) @ labels.astype(np.int64)).tolist(),
        "distinct_sources": len(np.unique(sources[sources >= 0])),
    }
    return csv_rows, object_rows, counts


_OBJECT_HEADER = [
    "split",
    "image",
    "style",
    "label",
    "source_split",
    "source_index",
    "x",
    "y",
    "width",
    "height",
    "contrast",
    "tint_r",
    "tint_g",
    "tint_b",
]


def _info(root: Path, config: DemoConfig, built: bool) -> DemoDataset:
    marginals, joint, conditional = analytic_statistics(config)
    return DemoDataset(
        root=root,
        train_csv=root / "train.csv",
        test_csv=root / "test.csv",
        labels_txt=root / "labels.txt",
        objects_csv=root / "objects.csv",
        generator_json=root / "generator.json",
        label_names=LABEL_NAMES,
        n_train=config.n_train,
        n_test=config.n_test,
        marginals=marginals,
        joint=joint,
        conditional=conditional,
        built=built,
    )


def _is_complete(root: Path, config: DemoConfig) -> bool:
    """True when ``root`` holds a finished build of exactly this config."""
    try:
        meta = json.loads((root / "generator.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if meta.get("format") != _FORMAT or meta.get("params") != config.to_dict():
        return False
    for name in ("train.csv", "test.csv", "labels.txt", "objects.csv"):
        if not (root / name).is_file():
            return False
    for split, n in (("train", config.n_train), ("test", config.n_test)):
        folder = root / "images" / split
        if not folder.is_dir() or sum(1 for _ in _pngs(folder)) != n:
            return False
    return True


def _pngs(folder: Path) -> Iterator[os.DirEntry[str]]:
    with os.scandir(folder) as it:
        yield from (e for e in it if e.name.endswith(".png"))


def build_demo_dataset(
    root: str | os.PathLike[str],
    config: DemoConfig | None = None,
    *,
    folder: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> DemoDataset:
    """Write the demo data set under ``root`` (see the module docstring for the layout).

    ``folder`` overrides where Fashion-MNIST is read from (default ``$AGCN_FASHION_MNIST``, else
    ``/usr/share/datasets/fashion-mnist``). Idempotent: when ``root/generator.json`` records the
    same parameters and seed and every file is present, nothing is rebuilt (``built=False``).
    Otherwise the previous ``generator.json`` is removed first and written last, so an
    interrupted build is never taken for a finished one.
    """
    config = DemoConfig() if config is None else config
    root = Path(root)
    if _is_complete(root, config):
        return _info(root, config, built=False)

    # Fail on a bad pixel source before touching anything on disk.
    for split in _SPLITS.values():
        load_fashion_mnist(split[0], folder)

    root.mkdir(parents=True, exist_ok=True)
    (root / "generator.json").unlink(missing_ok=True)
    for split in _SPLITS:
        shutil.rmtree(root / "images" / split, ignore_errors=True)

    meta_counts: dict[str, dict] = {}
    object_rows: list[list[object]] = [_OBJECT_HEADER]
    for split in _SPLITS:
        csv_rows, objects, counts = _write_split(
            root, config, split, None if folder is None else Path(folder), progress
        )
        write_text(root / f"{split}.csv", _csv_text(csv_rows))
        object_rows.extend(objects)
        meta_counts[split] = counts
    write_text(root / "objects.csv", _csv_text(object_rows))
    write_text(root / "labels.txt", "".join(f"{name}\n" for name in LABEL_NAMES))

    marginals, joint, conditional = analytic_statistics(config)
    meta = {
        "format": _FORMAT,
        "seed": config.seed,
        "params": config.to_dict(),
        "label_names": list(LABEL_NAMES),
        "model": {
            "styles": list(config.style_names),
            "prior": config.prior.tolist(),
            "q": config.q.tolist(),
            "hard_items": list(config.hard_items),
            "hard_rendering": {
                "size_px": config.hard_size,
                "normal_size_px": config.object_size,
                "contrast": config.hard_contrast,
            },
            "conditioning": "scenes with no item are redrawn (style and items): Y ≠ ∅",
        },
        "analytic": {
            "p_nonempty": _nonempty_probability(config),
            "expected_items_per_scene": float(marginals.sum()),
            "marginals": marginals.tolist(),
            "joint": joint.tolist(),
            "conditional": conditional.tolist(),
            "conditional_convention": "conditional[i][j] = P(label j present | label i present)",
        },
        "pixels": {
            "source": "Fashion-MNIST (Debian package dataset-fashion-mnist)",
            "folder": str(fashion_mnist_folder(folder)),
            "train_scenes_from": _SPLITS["train"][0],
            "test_scenes_from": _SPLITS["test"][0],
        },
        "counts": meta_counts,
    }
    write_text(root / "generator.json", json.dumps(meta, indent=1) + "\n")
    return _info(root, config, built=True)
