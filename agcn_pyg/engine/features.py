r"""Cached-features mode: a frozen backbone's pooled features computed once, heads trained on them.

Protocol (the linear-probe protocol of representation learning, extended to the graph heads):

1. The backbone is frozen in eval mode (BatchNorm uses its stored statistics, dropout is off).
   Every image of both splits goes through the run's **test** transform, without augmentation,
   and is pooled to ``x ∈ R^D``; the features ``N × D`` (float32) are cached in an ``.npz``.
   The targets (``N × C``, 1 / 0 / -1) always come from the data set as loaded, after
   ``data.label_noise`` where it is set.
2. Only ``model.head`` trains, on mini-batches of the cached features, with the run's loss,
   optimiser and scheduler (the same registries as end-to-end training) and
   ``L = loss(head(x), y) + α · L_A`` (Eq. 2 + Eq. 6), from a fixed seed.

The cache file is named by a SHA-256 key over: the backbone's timm name, pooling and module tree
(its ``repr``: strides, dilations), a digest of its weights (the tensors themselves, so a
fine-tuned backbone never reuses the features of the pretrained one), the transform's ``repr``
and the data set (label names, each image's path, size and modification time). Every row of a
Table-1 comparison that shares the backbone and images reuses one extraction, whatever its
labels.

Limits, to keep in mind when reading its numbers: the backbone never adapts to the data set, and
the heads never see augmented images, so they overfit sooner than in end-to-end training.
Differences between rows in this mode come from the heads alone, on fixed ImageNet features;
they say nothing about how a label graph shapes the backbone's features through its gradients,
which is part of what the paper trains end to end.

`extract_run_features` fills the cache for a `RunConfig` (every row of a comparison then reads
it). `train_features` runs a whole `RunConfig` this way and writes what
`agcn_pyg.engine.train.train` writes: ``config.yaml``, ``env.json`` (with ``"mode":
"features"``), ``log.csv``, ``best.pt``, ``last.pt`` and ``eval/``. Its checkpoints hold the
whole model, frozen backbone included, so ``load_model``, ``agcn evaluate`` and the analysis
scripts read them like any other. They carry no training state: a features-mode run takes
seconds and is not resumable. ``train.init_from`` and ``train.deterministic`` mean what they
mean end to end (the whole model's weights are loaded before the features are extracted, so a
fine-tuned backbone extracts its own). `train_mode` runs a config in either mode by name
(``end2end`` or ``features``, the `TRAIN_MODES` registry).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import shutil
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from timm.utils import ModelEmaV3
from torch import Tensor, nn
from tqdm import tqdm

from agcn_pyg.config import RunConfig, TrainConfig, to_dict
from agcn_pyg.data.transforms import DeviceNormalize
from agcn_pyg.engine.checkpoint import (
    build_checkpoint,
    first_non_finite,
    init_weights_from,
    save_checkpoint,
)
from agcn_pyg.engine.evaluate import write_evaluation
from agcn_pyg.engine.inputs import (
    load_splits,
    make_loader,
    resolve_cooccurrence,
    resolve_embeddings,
    resolve_workers,
    test_pipeline,
)
from agcn_pyg.engine.losses import build_loss, targets_and_mask
from agcn_pyg.engine.optim import build_optimizer, build_scheduler
from agcn_pyg.engine.runfolder import RunFolder
from agcn_pyg.engine.runlog import GraphWatch, log_csv
from agcn_pyg.engine.train import (
    TrainingDiverged,
    environment,
    resolve_device,
    seed_everything,
    train,
    validate_train_config,
)
from agcn_pyg.errors import ConfigError, DataError, DegreeError
from agcn_pyg.io import atomic_path, write_json, write_text
from agcn_pyg.metrics import compute_metrics
from agcn_pyg.models import AGCN, create_model
from agcn_pyg.models.backbone import Backbone
from agcn_pyg.models.label_graph import BASELINE
from agcn_pyg.registry import Registry

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
        batch_size: images per forward pass; default 16 on the CPU (timm's
            ``efficientnet_lite0`` at 224 px ran at 77–97 images/s with 16, 57–63 with 32, on
            2 cores), 128 elsewhere.
        device: where the copy runs.
        cache_dir: read the features from / write them to an ``.npz`` here (see
            `features_cache_file`); ``None`` always extracts.
        workers: DataLoader worker processes.
        progress: show a tqdm bar.
        desc: the bar's label.
        channels_last: run in the NHWC memory layout, which oneDNN's and cuDNN's
            convolutions prefer: on 2 CPU cores, 1.5–2 × the throughput of NCHW for
            ``efficientnet_lite0``. The features agree with NCHW's to float rounding.
        normalize: finishes the batches of a uint8 transform on ``device``
            (`agcn_pyg.engine.inputs.test_pipeline`); float batches pass unchanged.

    Returns:
        ``features`` float32 ``N × D`` and ``targets`` int64 ``N × C`` (1 / 0 / -1).
    """
    backbone = backbone_of(model)
    n = len(dataset)
    targets = np.asarray(dataset.targets, dtype=np.int64)
    normalize = normalize or DeviceNormalize()
    path = (
        features_cache_file(backbone, dataset, cache_dir, normalize)
        if cache_dir is not None
        else None
    )
    if path is not None and path.is_file():
        cached = _read_cache(path, n)
        if cached is not None:
            if progress:
                tqdm.write(f"{desc}: {n} cached features from {path}")
            return cached, targets
    device = torch.device(device)
    if batch_size is None:
        batch_size = 16 if device.type == "cpu" else 128
    # A copy, so that neither the caller's mode nor its memory layout changes.
    frozen = copy.deepcopy(backbone).to(device).eval().requires_grad_(False)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    frozen.to(memory_format=layout)
    loader = make_loader(
        dataset, batch_size, workers, train=False, pin_memory=device.type == "cuda"
    )
    chunks: list[np.ndarray] = []
    bar = tqdm(loader, desc=desc, unit="batch", leave=False, disable=not progress)
    for images, _, _ in bar:
        batch = normalize(images, device, channels_last)
        chunks.append(frozen(batch).float().cpu().numpy())
    if not chunks:
        raise DataError(f"{getattr(dataset, 'name', 'dataset')}: no images to extract features")
    features = np.concatenate(chunks).astype(np.float32, copy=False)
    if path is not None:
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(
                handle,
                format=np.array(FEATURES_FORMAT),
                features=features,
                label_names=np.array(list(dataset.label_names)),
                backbone=np.array(backbone.name),
                transform=np.array(repr(dataset.transform)),
            )
    return features, targets


# --------------------------------------------------------------------------- head training


@dataclass
class HeadTraining:
    """What `train_head` returns.

    ``logits`` / ``best_logits``: logits ``N_val × C`` after the last epoch and at the
    best evaluated epoch (highest mAP); ``final`` / ``best_metrics``: their metrics (as
    `compute_metrics`, without the per-class AP); ``best_state``: the head's state dict at the
    best epoch;
    ``history``: one row per epoch with the columns of `agcn_pyg.engine.runlog.LOG_COLUMNS`.
    """

    logits: np.ndarray
    targets: np.ndarray
    final: dict[str, float]
    best_mAP: float
    best_epoch: int
    best_metrics: dict[str, float]
    best_logits: np.ndarray
    best_state: dict[str, Tensor]
    history: list[dict[str, Any]] = field(default_factory=list)


def _as_tensor(array: Any, dtype: torch.dtype) -> Tensor:
    return torch.as_tensor(np.asarray(array)).to(dtype)


@torch.no_grad()
def head_logits(
    model: AGCN | nn.Module,
    features: Any,
    batch_size: int = 1024,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """Logits ``N × C`` (float32) of a model's head (or of a head) on features ``N × D``.

    The head runs in eval mode, as ``model(images)`` would after ``model.eval()``.
    """
    head = model.head if isinstance(model, AGCN) else model
    x = _as_tensor(features, torch.float32)
    was_training = head.training
    head.eval()
    try:
        out = [
            head(x[i : i + batch_size].to(device))[0].float().cpu()
            for i in range(0, len(x), batch_size)
        ]
    finally:
        head.train(was_training)
    return torch.cat(out).numpy()


def device_type(device: str | torch.device) -> str:
    return torch.device(device).type


@contextmanager
def cpu_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` intra-op CPU threads (``None``: unchanged), then restore."""
    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train_head(
    model: AGCN,
    train_features: Any,
    train_targets: Any,
    val_features: Any,
    val_targets: Any,
    train_cfg: TrainConfig,
    *,
    alpha: float | None = None,
    difficult: str = "ignore",
    device: str | torch.device = "cpu",
    progress: bool = True,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    threads: int | None = 1,
) -> HeadTraining:
    r"""Train ``model.head`` alone on cached features; the backbone is not touched.

    Each step takes a mini-batch of ``train_cfg.batch_size`` rows of ``train_features``
    (``N × D``), computes ``logits, L_A = model.forward_head(x, return_graph_loss=True)`` and
    minimises ``loss(logits, y) + α · L_A``. The mini-batch order of epoch ``e`` comes from
    ``train_cfg.seed + 1000·e`` and the head's initial weights from the caller's model, so the
    same seed and model give the same run. Optimiser, scheduler (stepped per iteration),
    gradient clipping, EMA and the evaluation cadence (``eval_every``, always the last epoch)
    follow ``train_cfg`` as in end-to-end training; AMP, ``channels_last`` and ``compile``
    concern the backbone and are not used.

    Args:
        model: the model whose head trains (its backbone is frozen: ``requires_grad=False``).
        train_features, val_features: ``N × D`` float features.
        train_targets, val_targets: ``N × C`` targets in {1, 0, -1}.
        train_cfg: the optimisation recipe.
        alpha: weight of L_A; defaults to ``model.config["alpha"]``.
        difficult: how ``-1`` targets enter the loss (``ignore``, ``positive``, ``negative``).
        device: where the head trains.
        progress: show a bar over the epochs.
        on_epoch: called with each epoch's log row.
        threads: CPU intra-op threads while the head trains (``None``: leave torch's
            setting); restored afterwards. A head's matmuls (``B × D`` by ``D × C``, a
            ``C``-node GNN) are too small to gain from a thread team, whose fork and join then
            dominate each op; on a 2-core machine with one core busy elsewhere, a step of the
            baseline's head took 13 ms with 2 threads and 0.25 ms with 1.
    """
    with cpu_threads(threads if device_type(device) == "cpu" else None):
        validate_train_config(RunConfig(train=train_cfg))
        alpha = float(model.config["alpha"] if alpha is None else alpha)
        device = torch.device(device)
        x_train = _as_tensor(train_features, torch.float32)
        y_train = _as_tensor(train_targets, torch.long)
        x_val = _as_tensor(val_features, torch.float32)
        y_val = np.asarray(val_targets, dtype=np.int64)
        if x_train.ndim != 2 or x_train.size(1) != model.num_features:
            raise DataError(
                f"train features: expected N × {model.num_features}, got {tuple(x_train.shape)}"
            )
        if y_train.shape != (x_train.size(0), model.num_classes):
            raise DataError(
                f"train targets: expected {x_train.size(0)} × {model.num_classes}, "
                f"got {tuple(y_train.shape)}"
            )
        if x_val.shape[1:] != x_train.shape[1:] or y_val.shape != (len(x_val), model.num_classes):
            raise DataError("val features and targets do not match the train features' shape")

        seed_everything(train_cfg.seed)
        for parameter in model.backbone.parameters():
            parameter.requires_grad_(False)
        model.to(device)
        head = model.head
        ema = ModelEmaV3(head, decay=train_cfg.ema_decay) if train_cfg.ema_decay else None
        n, batch = x_train.size(0), train_cfg.batch_size
        # As the image loader: drop the last partial batch unless it is the only one.
        steps = n // batch if n > batch else 1
        if train_cfg.max_steps_per_epoch:
            steps = min(steps, train_cfg.max_steps_per_epoch)
        groups = [{"name": "head", "params": list(head.parameters()), "lr": train_cfg.lr}]
        optimizer = build_optimizer(groups, train_cfg)
        scheduler = build_scheduler(optimizer, train_cfg, steps)
        loss_fn = build_loss(train_cfg.loss, **train_cfg.loss_kwargs)
        generator = torch.Generator()

        history: list[dict[str, Any]] = []
        watch = GraphWatch()
        best_map, best_epoch = -math.inf, 0
        best_logits = np.zeros((0, model.num_classes), np.float32)
        best_state: dict[str, Tensor] = {}
        logits = best_logits
        final: dict[str, float] = {}
        best_metrics: dict[str, float] = {}
        bar = tqdm(
            range(train_cfg.epochs), desc="head", unit="epoch", leave=False, disable=not progress
        )
        for epoch in bar:
            generator.manual_seed(train_cfg.seed + 1000 * epoch)
            torch.manual_seed(train_cfg.seed + 1000 * epoch)
            order = torch.randperm(n, generator=generator)
            head.train()
            sums = torch.zeros(3)
            seen = 0
            start = time.perf_counter()
            for step in range(steps):
                index = order[step * batch : (step + 1) * batch] if n > batch else order
                x = x_train[index].to(device)
                targets, mask = targets_and_mask(y_train[index], difficult)
                logits, graph_loss = model.forward_head(x, return_graph_loss=True)
                bce = loss_fn(logits.float(), targets.to(device), mask.to(device))
                loss = bce + alpha * graph_loss.float()
                if not torch.isfinite(loss).item():
                    raise TrainingDiverged(
                        f"head training: loss is not finite at epoch {epoch + 1}, step {step + 1} "
                        f"(bce={float(bce.detach()):.4g}, L_A={float(graph_loss.detach()):.4g}); "
                        "try a lower train.lr or train.clip_grad_norm"
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if train_cfg.clip_grad_norm:
                    nn.utils.clip_grad_norm_(head.parameters(), train_cfg.clip_grad_norm)
                optimizer.step()
                scheduler.step()
                if ema is not None:
                    ema.update(head, step=epoch * steps + step + 1)
                size = x.size(0)
                seen += size
                sums += (
                    torch.stack([loss.detach(), bce.detach(), graph_loss.detach().float()]) * size
                )
            seconds = time.perf_counter() - start
            means = (sums / max(seen, 1)).tolist()
            row: dict[str, Any] = {
                "epoch": epoch + 1,
                "lr": float(optimizer.param_groups[-1]["lr"]),
                "loss": means[0],
                "bce": means[1],
                "graph_loss": means[2],
                "images_per_s": seen / max(seconds, 1e-9),
                "seconds": seconds,
                "mAP": math.nan,
                "CF1": math.nan,
                "OF1": math.nan,
                "adj_offdiag": watch.offdiag(head),
            }
            last = epoch + 1 == train_cfg.epochs
            if (epoch + 1) % train_cfg.eval_every == 0 or last:
                logits = head_logits(head if ema is None else ema.module, x_val, device=device)
                metrics = compute_metrics(logits, y_val, threshold=0.0)
                final = {k: float(v) for k, v in metrics.items() if k != "per_class_AP"}
                row.update({k: final[k] for k in ("mAP", "CF1", "OF1")})
                if final["mAP"] > best_map:
                    best_map, best_epoch, best_logits = final["mAP"], epoch + 1, logits
                    best_metrics = dict(final)
                    source = ema.module if ema is not None else head
                    best_state = {
                        k: v.detach().cpu().clone() for k, v in source.state_dict().items()
                    }
            row["best_mAP"] = best_map
            history.append(row)
            shown = f"{best_map:.2f}" if math.isfinite(best_map) else "-"
            bar.set_postfix(loss=f"{row['loss']:.4f}", mAP=shown)
            if on_epoch is not None:
                on_epoch(row)
        bar.close()
        if ema is not None:
            head.load_state_dict(ema.module.state_dict())
        return HeadTraining(
            logits=logits,
            targets=y_val,
            final=final,
            best_mAP=best_map,
            best_epoch=best_epoch,
            best_metrics=best_metrics,
            best_logits=best_logits,
            best_state=best_state,
            history=history,
        )


# --------------------------------------------------------------------------- whole runs


def _link_or_copy(source: Path, target: Path) -> None:
    """``target`` as a hard link to ``source`` (a copy where links are not supported)."""
    with atomic_path(target) as tmp:
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)


def _cache_dir(cfg: RunConfig, cache_dir: str | Path | None) -> Path:
    return Path(cache_dir) if cache_dir is not None else Path(cfg.output_dir) / "features_cache"


def _split_features(
    cfg: RunConfig,
    backbone: Backbone,
    splits: Any,
    cache: Path,
    device: torch.device,
    progress: bool,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    transform, normalize = test_pipeline(to_dict(cfg), backbone)
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
        )
        for split, dataset in (("train", splits.train), ("val", splits.val))
    }


def extract_run_features(
    cfg: RunConfig, cache_dir: str | Path | None = None, progress: bool = True
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train", "val"} → (features, targets)`` of ``cfg``'s backbone, cached.

    The features that `train_features` extracts for ``cfg`` (the same backbone, built after
    the same seed, and the same test transform), so calling this first fills the cache that
    every row of a comparison then reads; it builds no head.
    """
    device = resolve_device(cfg.train.device)
    seed_everything(cfg.train.seed)
    splits = load_splits(cfg.data)
    model_cfg = cfg.model
    backbone = Backbone(
        model_cfg.backbone, model_cfg.pretrained, model_cfg.pool, **model_cfg.backbone_kwargs
    )
    return _split_features(cfg, backbone, splits, _cache_dir(cfg, cache_dir), device, progress)


def train_features(
    cfg: RunConfig,
    cache_dir: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train ``cfg`` in cached-features mode (see the module docstring).

    Builds the model exactly as `agcn_pyg.engine.train.train` does (same seed, embeddings,
    co-occurrence and pretrained weights), extracts the features of both splits through the
    test transform (cached under ``cache_dir``, default ``<output_dir>/features_cache``),
    trains the head with `train_head` and writes the run folder.

    Returns ``{"final", "best_mAP", "run_dir", "mode"}`` like ``train`` (plus ``mode``).
    """
    validate_train_config(cfg)
    with RunFolder(cfg.run_dir) as folder:
        if (cfg.run_dir / "last.pt").exists() and not overwrite:
            raise ConfigError(
                f"{cfg.run_dir / 'last.pt'} exists: pass --overwrite to start afresh (the old "
                "run is moved aside) or name=<another> for a new run"
            )
        return _train_features(cfg, folder, cache_dir, overwrite, progress)


def _train_features(
    cfg: RunConfig,
    folder: RunFolder,
    cache_dir: str | Path | None,
    overwrite: bool,
    progress: bool,
) -> dict[str, Any]:
    run_dir = cfg.run_dir
    device = resolve_device(cfg.train.device)
    seed_everything(cfg.train.seed)
    splits = load_splits(cfg.data)
    label_names = splits.label_names
    cfg = replace(cfg, model=replace(cfg.model, num_classes=len(label_names)))
    embeddings = resolve_embeddings(
        cfg.data.embeddings if cfg.model.graph != BASELINE else None, label_names
    )
    cooccurrence = resolve_cooccurrence(cfg.data.cooccurrence, splits.train)
    model = create_model(cfg.model, label_embeddings=embeddings, cooccurrence=cooccurrence)
    if cfg.train.init_from:
        init_weights_from(model, cfg.train.init_from, cfg.model, label_names)
    if cfg.train.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    cache = _cache_dir(cfg, cache_dir)
    extracted = _split_features(cfg, model.backbone, splits, cache, device, progress)

    if overwrite:
        moved = folder.move_aside()
        if moved is not None and progress:
            tqdm.write(f"--overwrite: the previous run in {run_dir} is now {moved}")
    env = environment(cfg, device, 1, splits.noise)
    env.update({"mode": MODE, "label_names": label_names, "features_cache": str(cache)})
    write_text(run_dir / "config.yaml", yaml.safe_dump(to_dict(cfg), sort_keys=False))
    write_json(run_dir / "env.json", env)

    def log(row: dict[str, Any]) -> None:
        if progress:
            val = "" if math.isnan(row["mAP"]) else f"  val mAP {row['mAP']:.2f}"
            tqdm.write(
                f"{cfg.name} epoch {row['epoch']}/{cfg.train.epochs}  loss {row['loss']:.4f}{val}"
            )

    try:
        result = train_head(
            model,
            *extracted["train"],
            *extracted["val"],
            cfg.train,
            alpha=cfg.model.alpha,
            difficult=cfg.data.difficult,
            device=device,
            progress=progress,
            on_epoch=log if cfg.train.epochs <= 20 else None,
        )
    except DegreeError as err:
        raise err.with_label(label_names) from None
    # The run's files in the trainer's commit order: eval/, best.pt, log.csv, last.pt last.
    for what, state in (("weights", model.state_dict()), ("best weights", result.best_state)):
        bad = first_non_finite(state)
        if bad is not None:
            raise TrainingDiverged(f"{what} are not finite ({bad}); stopped without saving them")
    common = {"run_config": to_dict(cfg), "mode": MODE}
    write_evaluation(
        run_dir / "eval",
        cfg.name,
        result.best_logits,
        result.targets,
        label_names,
        checkpoint=str(run_dir / "best.pt"),
        config=to_dict(cfg),
    )

    def final_checkpoint() -> dict[str, Any]:
        return build_checkpoint(
            model,
            label_names,
            cooccurrence,
            **common,
            epoch=cfg.train.epochs - 1,
            metrics=result.final,
        )

    if result.best_epoch == cfg.train.epochs:
        # The last epoch is the best: one file under both names (each holds the backbone).
        save_checkpoint(final_checkpoint(), run_dir / "best.pt")
        write_text(run_dir / "log.csv", log_csv(result.history))
        _link_or_copy(run_dir / "best.pt", run_dir / "last.pt")
    else:
        # On the CPU a checkpoint's tensors share the model's storage: build each one only
        # when the model holds its weights.
        final_head = {k: v.clone() for k, v in model.head.state_dict().items()}
        model.head.load_state_dict(result.best_state)
        best = build_checkpoint(
            model,
            label_names,
            cooccurrence,
            **common,
            epoch=result.best_epoch - 1,
            metrics=result.best_metrics,
        )
        save_checkpoint(best, run_dir / "best.pt")
        model.head.load_state_dict(final_head)
        write_text(run_dir / "log.csv", log_csv(result.history))
        save_checkpoint(final_checkpoint(), run_dir / "last.pt")
    return {
        "final": result.final,
        "best_mAP": result.best_mAP,
        "run_dir": str(run_dir),
        "mode": MODE,
    }


# --------------------------------------------------------------------------- modes

#: ``mode name → fn(cfg, *, cache_dir, overwrite, progress) -> {"final", "best_mAP", ...}``
TRAIN_MODES: Registry[Callable[..., dict[str, Any]]] = Registry("training mode")


@TRAIN_MODES.register("end2end")
def _train_end2end(
    cfg: RunConfig,
    *,
    cache_dir: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    del cache_dir  # end-to-end training caches nothing
    return {**train(cfg, overwrite=overwrite, progress=progress), "mode": "end2end"}


TRAIN_MODES.add(MODE, train_features)


def train_mode(
    mode: str,
    cfg: RunConfig,
    *,
    cache_dir: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Train ``cfg`` end to end (``"end2end"``) or on cached features (``"features"``)."""
    if mode not in TRAIN_MODES:
        raise ConfigError(f"mode {mode!r}: choose one of {TRAIN_MODES.names()}")
    fn = TRAIN_MODES.get(mode)
    return fn(cfg, cache_dir=cache_dir, overwrite=overwrite, progress=progress)
