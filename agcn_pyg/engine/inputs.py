"""Resolve a run config's ``data`` section: datasets, transforms, loaders, E and counts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, SequentialSampler

from agcn_pyg.config import DataConfig
from agcn_pyg.data import (
    EMBEDDING_SOURCES,
    IMAGENET_MEAN,
    IMAGENET_STD,
    MultiLabelDataset,
    build_dataset,
    build_transforms,
    cooccurrence_counts,
    embed_labels,
    load_cooccurrence,
    load_embeddings,
    timm_normalization,
)
from agcn_pyg.engine.evaluate import IndexedDataset
from agcn_pyg.errors import ConfigError, DataError

NORMALIZATIONS = ("imagenet", "backbone")


@dataclass
class RunData:
    train: MultiLabelDataset
    val: MultiLabelDataset
    label_names: list[str]


def load_splits(cfg: DataConfig) -> RunData:
    """The training and evaluation splits, without transforms; same label order checked."""
    if not cfg.train or not cfg.val:
        raise ConfigError("data.train and data.val: give the dataset builder's arguments for both")
    train = build_dataset(cfg.dataset, **cfg.train)
    val = build_dataset(cfg.dataset, **cfg.val)
    if train.label_names != val.label_names:
        raise DataError(
            f"data.val: label order differs from data.train ({val.num_classes} vs "
            f"{train.num_classes} labels); pass the same label list to both"
        )
    return RunData(train, val, train.label_names)


def with_transforms(splits: RunData, cfg: DataConfig, backbone: Any | None = None) -> RunData:
    """Attach the recipe's train and test transforms; ``backbone`` for its own normalisation."""
    mean, std = _normalization(cfg.normalization, backbone)
    train_tf, test_tf = build_transforms(
        cfg.transforms, cfg.image_size, resize_size=cfg.resize_size, mean=mean, std=std
    )
    return RunData(
        splits.train.with_transform(train_tf),
        splits.val.with_transform(test_tf),
        splits.label_names,
    )


def _normalization(name: str, backbone: Any | None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if name not in NORMALIZATIONS:
        raise ConfigError(f"data.normalization: expected one of {list(NORMALIZATIONS)}")
    if name == "backbone" and backbone is not None:
        return timm_normalization(backbone)
    return IMAGENET_MEAN, IMAGENET_STD


def resolve_embeddings(value: str | None, label_names: list[str]) -> np.ndarray | None:
    """E for ``label_names`` from a file (``.npz``, ``.npy``, ML-GCN ``.pkl``) or a source name."""
    if value is None:
        return None
    if value in EMBEDDING_SOURCES:
        return np.asarray(embed_labels(label_names, value))
    path = Path(value)
    if path.suffix.lower() in {".npz", ".npy", ".pkl"} or path.exists():
        return np.asarray(load_embeddings(path, label_names=label_names).vectors)
    raise ConfigError(
        f"data.embeddings: {value!r} is neither an embeddings file (.npz, .npy, .pkl) nor a source "
        f"({', '.join(EMBEDDING_SOURCES.names())})"
    )


def resolve_cooccurrence(
    value: str | None, train: MultiLabelDataset
) -> tuple[np.ndarray, np.ndarray]:
    """``(adj, nums)`` from a file, or counted on the training split."""
    if value is None:
        return cooccurrence_counts(train.targets)
    loaded = load_cooccurrence(value, label_names=train.label_names)
    return loaded[0], loaded[1]


def make_loader(
    dataset: MultiLabelDataset,
    batch_size: int,
    workers: int,
    train: bool,
    generator: torch.Generator | None = None,
    distributed: bool = False,
    seed: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """A DataLoader; evaluation loaders yield ``(images, targets, indices)``.

    Shuffling and worker seeds come from ``generator`` (re-seeded by the trainer each epoch),
    and workers are not persistent, so a resumed run sees the same batches and augmentations.
    """
    source = dataset if train else IndexedDataset(dataset)
    if distributed:
        sampler = DistributedSampler(source, shuffle=train, seed=seed, drop_last=False)
    elif train:
        sampler = RandomSampler(source, generator=generator)
    else:
        sampler = SequentialSampler(source)
    return DataLoader(
        source,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        pin_memory=pin_memory,
        drop_last=train and len(source) > batch_size,
        generator=generator,
        persistent_workers=False,
    )


def test_transform(run_config: dict[str, Any] | None, backbone: Any | None = None) -> Any:
    """The evaluation transform a checkpoint was trained with (defaults without a config)."""
    from agcn_pyg.config import RunConfig, from_dict

    data = from_dict(RunConfig, run_config or {}).data
    mean, std = _normalization(data.normalization, backbone)
    return build_transforms(data.transforms, data.image_size, data.resize_size, mean, std)[1]
