r"""The feature cache of cached-features mode: a frozen backbone's pooled features, computed once.

Protocol (the linear-probe protocol of representation learning, extended to the graph heads):
the backbone is frozen in eval mode (BatchNorm uses its stored statistics, dropout is off);
every image of both splits goes through the run's **test** transform, without augmentation,
and is pooled to ``x ∈ R^D``; the features ``N × D`` (float32) are cached in an ``.npz``. The
targets (``N × C``, 1 / 0 / -1) always come from the data set as loaded, after
``data.label_noise`` where it is set. The trainer (`agcn_pyg.engine.trainer`, mode
``features``) then trains the head on them.

The cache file is named by a SHA-256 key over: the backbone's timm name, pooling and module tree
(its ``repr``: strides, dilations), a digest of its weights (the tensors themselves, so a
fine-tuned backbone never reuses the features of the pretrained one), the transform's ``repr``
and the data set (label names, each image's path, size and modification time). Every row of a
Table-1 comparison that shares the backbone and images reuses one extraction, whatever its
labels.

`extract_run_features` fills the cache for a `RunConfig` (every row of a comparison then reads
it); `run_features` is what the trainer calls for its model.
"""

from __future__ import annotations

import copy
import hashlib
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from agcn_pyg.config import RunConfig, to_dict
from agcn_pyg.data.transforms import DeviceNormalize
from agcn_pyg.engine.inputs import RunData, load_splits, make_loader, resolve_workers, test_pipeline
from agcn_pyg.engine.runtime import resolve_device, seed_everything
from agcn_pyg.errors import ConfigError, DataError
from agcn_pyg.io import atomic_path
from agcn_pyg.models import AGCN
from agcn_pyg.models.backbone import Backbone

FEATURES_FORMAT = "agcn_pyg.features/1"
#: the ``mode`` recorded in ``env.json`` and the checkpoints of a features-mode run
MODE = "features"


# --------------------------------------------------------------------------- cache keys


def backbone_of(model: AGCN | Backbone) -> Backbone:
    """The `Backbone` of an `AGCN`, or the argument itself."""
    if isinstance(model, Backbone):
        return model
    backbone = getattr(model, "backbone", None)
    if not isinstance(backbone, Backbone):
        raise ConfigError(f"expected an AGCN or a Backbone, got {type(model).__name__}")
    return backbone


def weights_digest(module: nn.Module) -> str:
    """SHA-256 of a module's state dict: names, dtypes, shapes and bytes, in order."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        # Viewed as bytes: numpy has no bfloat16, and the raw bytes are what matters.
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def dataset_fingerprint(dataset: Any) -> str:
    """SHA-256 of a `MultiLabelDataset`'s label names and image files (path, size, mtime).

    The targets are not part of it: features depend on the pixels alone, so the same images
    with other labels (``data.label_noise``, a corrected annotation file) reuse one extraction;
    `extract_features` always returns the dataset's own targets. File contents are not read: a
    rewritten file changes its modification time, which is enough to invalidate the cache, and
    hashing every image of COCO would cost minutes.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps(list(dataset.label_names)).encode())
    digest.update(f"{len(dataset.image_paths)}|".encode())
    for path in dataset.image_paths:
        resolved = Path(path).resolve()
        try:
            stat = resolved.stat()
            digest.update(f"{resolved}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
        except OSError:
            digest.update(f"{resolved}|missing\n".encode())
    return digest.hexdigest()


def feature_key(
    model: AGCN | Backbone, dataset: Any, normalize: DeviceNormalize | None = None
) -> str:
    """The cache key of ``model``'s backbone on ``dataset`` (with its current transform and
    the `DeviceNormalize` that finishes it)."""
    backbone = backbone_of(model)
    parts = {
        "format": FEATURES_FORMAT,
        "backbone": backbone.name,
        "pool": backbone.pool_type,
        # The module tree (strides, dilations, pooling) as well as the weights: timm options
        # such as ``output_stride`` change the features without changing a single weight.
        "architecture": hashlib.sha256(repr(backbone).encode()).hexdigest(),
        "weights": weights_digest(backbone),
        "transform": repr(dataset.transform),
        "normalize": repr(normalize or DeviceNormalize()),
        "data": dataset_fingerprint(dataset),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def features_cache_file(
    model: AGCN | Backbone,
    dataset: Any,
    cache_dir: str | Path,
    normalize: DeviceNormalize | None = None,
) -> Path:
    """Where `extract_features` caches ``model``'s features of ``dataset``."""
    backbone = backbone_of(model)
    key = feature_key(backbone, dataset, normalize)
    return Path(cache_dir) / f"{backbone.name}_{key[:20]}.npz"


# --------------------------------------------------------------------------- extraction


def _read_cache(path: Path, n: int) -> np.ndarray | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["format"]) != FEATURES_FORMAT:
                return None
            features = np.asarray(data["features"], dtype=np.float32)
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None  # unreadable or partial: extract again and replace it
    if features.ndim != 2 or len(features) != n:
        return None
    return features


#: ``extract_features``' default batch on the CPU and on an accelerator
CPU_BATCH = 16
DEVICE_BATCH = 128


@torch.no_grad()
def extract_features(
    model: AGCN | Backbone,
    dataset: Any,
    batch_size: int | None = None,
    device: str | torch.device = "cpu",
    cache_dir: str | Path | None = None,
    workers: int = 0,
    progress: bool = True,
    desc: str = "features",
    channels_last: bool = True,
    normalize: DeviceNormalize | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled backbone features of every image of ``dataset``, in order, and its targets.

    Args:
        model: an `AGCN` (its backbone is used) or a `Backbone`. A frozen copy runs in eval
            mode; the model itself is left as it was.
        dataset: a `MultiLabelDataset` carrying the transform to apply (the test transform:
            see the module docstring).
        batch_size: images per forward pass; default `CPU_BATCH` on the CPU (small batches
            ran faster there, `docs/benchmarks.md`), `DEVICE_BATCH` elsewhere.
        device: where the copy runs.
        cache_dir: read the features from / write them to an ``.npz`` here (see
            `features_cache_file`); ``None`` always extracts.
        workers: DataLoader worker processes.
        progress: show a tqdm bar.
        desc: the bar's label.
        channels_last: run in the NHWC memory layout, which oneDNN's and cuDNN's
            convolutions prefer. The features agree with NCHW's to float rounding.
        normalize: finishes the batches of a uint8 transform on ``device``
            (`agcn_pyg.engine.inputs.test_pipeline`); float batches pass unchanged.

    Returns:
        ``features`` float32 ``N × D`` and ``targets`` int64 ``N × C`` (1 / 0 / -1).
    """
    backbone = backbone_of(model)
    targets = np.asarray(dataset.targets, dtype=np.int64)
    normalize = normalize or DeviceNormalize()
    path = (
        None if cache_dir is None else features_cache_file(backbone, dataset, cache_dir, normalize)
    )
    if path is not None and path.is_file():
        cached = _read_cache(path, len(dataset))
        if cached is not None:
            if progress:
                tqdm.write(f"{desc}: {len(dataset)} cached features from {path}")
            return cached, targets
    device = torch.device(device)
    if batch_size is None:
        batch_size = CPU_BATCH if device.type == "cpu" else DEVICE_BATCH
    loader = make_loader(
        dataset, batch_size, workers, train=False, pin_memory=device.type == "cuda"
    )
    bar = tqdm(loader, desc=desc, unit="batch", leave=False, disable=not progress)
    features = _run_frozen(backbone, bar, device, channels_last, normalize)
    if features is None:
        raise DataError(f"{getattr(dataset, 'name', 'dataset')}: no images to extract features")
    if path is not None:
        _write_cache(path, features, dataset, backbone)
    return features, targets


def _run_frozen(
    backbone: Backbone,
    batches: Any,
    device: torch.device,
    channels_last: bool,
    normalize: DeviceNormalize,
) -> np.ndarray | None:
    """The features of every batch, through a frozen copy of ``backbone``, so that neither
    the caller's mode nor its memory layout changes; ``None`` without a batch."""
    frozen = copy.deepcopy(backbone).to(device).eval().requires_grad_(False)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    frozen.to(memory_format=layout)
    chunks = [
        frozen(normalize(images, device, channels_last)).float().cpu().numpy()
        for images, _, _ in batches
    ]
    return np.concatenate(chunks).astype(np.float32, copy=False) if chunks else None


def _write_cache(path: Path, features: np.ndarray, dataset: Any, backbone: Backbone) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(
            handle,
            format=np.array(FEATURES_FORMAT),
            features=features,
            label_names=np.array(list(dataset.label_names)),
            backbone=np.array(backbone.name),
            transform=np.array(repr(dataset.transform)),
        )


# --------------------------------------------------------------------------- runs


def cache_dir_of(cfg: RunConfig, cache_dir: str | Path | None = None) -> Path:
    """``cache_dir``, or the run's default ``<output_dir>/features_cache``."""
    return Path(cache_dir) if cache_dir is not None else Path(cfg.output_dir) / "features_cache"


def run_features(
    cfg: RunConfig,
    backbone: Backbone,
    splits: RunData,
    cache: Path,
    device: torch.device,
    progress: bool,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train", "val"} → (features, targets)`` of ``backbone`` on ``splits`` through the
    run's test transform (in ``train.channels_last``'s layout), cached under ``cache``, and
    ``"test"`` where the reported split is another split (`RunData.test`)."""
    transform, normalize = test_pipeline(to_dict(cfg), backbone)
    named = [("train", splits.train), ("val", splits.val)]
    if splits.test is not None:
        named.append(("test", splits.test))
    return {
        split: extract_features(
            backbone,
            dataset.with_transform(transform),
            device=device,
            cache_dir=cache,
            workers=resolve_workers(cfg.data.workers),
            progress=progress,
            normalize=normalize,
            desc=f"{split} features",
            channels_last=cfg.train.channels_last,
        )
        for split, dataset in named
    }


def extract_run_features(
    cfg: RunConfig, cache_dir: str | Path | None = None, progress: bool = True
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train", "val"}`` (and ``"test"``) ``→ (features, targets)`` of ``cfg``'s backbone,
    cached.

    The features that the trainer's mode ``features`` extracts for ``cfg`` (the same
    backbone, built after the same seed, and the same test transform), so calling this first
    fills the cache that every row of a comparison then reads; it builds no head.
    """
    device = resolve_device(cfg.train.device)
    seed_everything(cfg.train.seed)
    splits = load_splits(cfg.data)
    model_cfg = cfg.model
    backbone = Backbone(
        model_cfg.backbone, model_cfg.pretrained, model_cfg.pool, **model_cfg.backbone_kwargs
    )
    return run_features(cfg, backbone, splits, cache_dir_of(cfg, cache_dir), device, progress)
