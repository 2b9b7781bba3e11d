"""Resolve a run config's ``data`` section: datasets, transforms, loaders, E and counts."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import (
    DataLoader,
    Dataset,
    DistributedSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    get_worker_info,
)

from agcn_pyg.config import DataConfig, RunConfig, from_dict
from agcn_pyg.data import (
    DATASETS,
    EMBEDDING_SOURCES,
    DeviceNormalize,
    MultiLabelDataset,
    build_dataset,
    build_transforms,
    cooccurrence_counts,
    embed_labels,
    load_cooccurrence,
    load_embeddings,
)
from agcn_pyg.data.device_decode import DeviceDecode, FileBytes, collate_encoded, resolve_decode
from agcn_pyg.data.holdout import Holdout, carve_holdout
from agcn_pyg.data.noise import NoiseCounts, corrupt_targets
from agcn_pyg.data.transforms import NORMALIZATIONS
from agcn_pyg.engine.evaluate import IndexedDataset
from agcn_pyg.errors import ConfigError, DataError


@dataclass
class RunData:
    """A run's splits (`load_splits`): ``train`` trains, ``val`` chooses the epoch (the
    selection split: ``data.val``, or the holdout), and ``test``, when it is another split,
    is reported (``data.test``, or ``data.val`` under a holdout; `agcn_pyg.selection`)."""

    train: MultiLabelDataset
    val: MultiLabelDataset
    label_names: list[str]
    #: finishes the batches on the device (`with_transforms`): `DeviceNormalize`, or
    #: `DeviceDecode` with ``data.decode: gpu``; ``None`` before
    normalize: DeviceNormalize | DeviceDecode | None = None
    #: what ``data.label_noise`` changed in the training split; ``None`` for clean labels
    noise: NoiseCounts | None = None
    #: the loaders' ``collate_fn`` (``None``: PyTorch's default)
    collate: Callable[[list[Any]], Any] | None = None
    #: ``data.decode`` as resolved: ``cpu`` or ``gpu``
    decode: str = "cpu"
    #: the reported split when it is not ``val``; ``None``: ``val`` is reported too
    test: MultiLabelDataset | None = None
    #: the images ``data.holdout`` took out of the training split; ``None`` without one
    holdout: Holdout | None = None


def _build_split(
    cfg: DataConfig,
    options: dict[str, Any],
    image_check: Path | None,
    label_names: list[str] | None = None,
) -> MultiLabelDataset:
    """The dataset of one split's builder ``options``, its unreadable images left out when
    they say ``on_bad_image=skip``. ``label_names`` (the training split's) is the label
    order of a split whose options name none, where the builder takes one: a test CSV that
    lacks a label takes the training order instead of its own."""
    builder = DATASETS.get(cfg.dataset)
    takes_names = "label_names" in inspect.signature(builder).parameters
    if label_names is not None and takes_names and options.get("label_names") is None:
        options = {**options, "label_names": label_names}
    split = build_dataset(cfg.dataset, **options)
    if split.on_bad_image == "skip":
        split.check_images(cache_file=image_check)
    return split


def _require_positives(key: str, split: MultiLabelDataset, fix: str = "check its labels") -> None:
    # mAP averages over the labels with positives: with none it is undefined, and every
    # epoch's evaluation would fail after its training.
    if not bool((split.targets == 1).any()):
        raise DataError(
            f"{key} ({split.name}, {len(split)} images): no image has a positive label, so "
            f"there is nothing to evaluate; {fix}"
        )


def load_splits(cfg: DataConfig, image_check: Path | None = None) -> RunData:
    """The training, selection and reported splits, without transforms; same label order
    checked.

    A split built with ``on_bad_image=skip`` is decoded once here (`check_images`, cached in
    ``image_check``), so that corrupt images are left out before training, not met mid-epoch.
    ``data.label_noise`` corrupts the training split's targets here, once, for both training
    modes (`agcn_pyg.data.noise`); ``data.holdout`` then takes its images out of the training
    split (`agcn_pyg.data.holdout`), so no mode ever trains on them.
    """
    if not cfg.train or not cfg.val:
        raise ConfigError("data.train and data.val: give the dataset builder's arguments for both")
    train = _build_split(cfg, cfg.train, image_check)
    val = _build_split(cfg, cfg.val, image_check, train.label_names)
    test = _build_split(cfg, cfg.test, image_check, train.label_names) if cfg.test else None
    for key, split in (("val", val), ("test", test)):
        if split is not None and split.label_names != train.label_names:
            raise DataError(
                f"data.{key}: label order differs from data.train ({split.num_classes} vs "
                f"{train.num_classes} labels); pass the same label list to both"
            )
        if split is not None:
            _require_positives(f"data.{key}", split)
    noise = None
    if cfg.label_noise is not None:
        n = cfg.label_noise
        noisy, noise = corrupt_targets(train.targets, n.drop, n.add, n.seed)
        train.targets = noisy.to(torch.int64)
    if cfg.holdout is None:
        return RunData(train, val, train.label_names, noise=noise, test=test)
    rest, held, record = carve_holdout(train, cfg.holdout.fraction, cfg.holdout.seed)
    _require_positives("data.holdout", held, "raise data.holdout.fraction or try another seed")
    return RunData(rest, held, train.label_names, noise=noise, test=val, holdout=record)


def with_transforms(
    splits: RunData,
    cfg: DataConfig,
    model: Any | None = None,
    device: torch.device | str = "cpu",
) -> RunData:
    """Attach the recipe's uint8 train and test transforms and the `DeviceNormalize` that
    finishes them; ``model`` (an `AGCN` or `Backbone`) for ``data.normalization=backbone``.
    The selection and reported splits both get the test transform.

    With ``data.decode`` resolving to ``gpu`` on ``device`` (`resolve_decode`), the
    transforms become `FileBytes` (workers read bytes and draw each item's geometry) and
    `DeviceDecode` decodes, transforms and normalises the batches on ``device``.
    """
    mean, std = _normalization(cfg.normalization, model)
    train_tf, test_tf = build_transforms(
        cfg.transforms, cfg.image_size, resize_size=cfg.resize_size, output="uint8", hflip=cfg.hflip
    )
    normalize: DeviceNormalize | DeviceDecode = DeviceNormalize(mean, std)
    decode = resolve_decode(cfg.decode, device, (train_tf, test_tf))
    collate = None
    if decode == "gpu":
        train_tf, test_tf = FileBytes(train_tf), FileBytes(test_tf)
        normalize, collate = DeviceDecode(normalize), collate_encoded
    return RunData(
        splits.train.with_transform(train_tf),
        splits.val.with_transform(test_tf),
        splits.label_names,
        normalize,
        splits.noise,
        collate,
        decode,
        test=None if splits.test is None else splits.test.with_transform(test_tf),
        holdout=splits.holdout,
    )


def _normalization(name: str, model: Any | None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    return NORMALIZATIONS.get(name, "data.normalization")(model)


def resolve_embeddings(value: str | None, label_names: list[str]) -> np.ndarray | None:
    """E for ``label_names`` from a source name, or else a file (``.npz``, ``.npy``, ML-GCN
    ``.pkl``; the schema has checked that ``data.embeddings`` is one or the other)."""
    if value is None:
        return None
    if value in EMBEDDING_SOURCES:
        return np.asarray(embed_labels(label_names, value))
    return np.asarray(load_embeddings(Path(value), label_names=label_names).vectors)


def resolve_cooccurrence(
    value: str | None, train: MultiLabelDataset
) -> tuple[np.ndarray, np.ndarray]:
    """``(adj, nums)`` from a file, or counted on the training split."""
    if value is None:
        return cooccurrence_counts(train.targets)
    loaded = load_cooccurrence(value, label_names=train.label_names)
    return loaded[0], loaded[1]


#: batches each worker prepares ahead (PyTorch's default is 2)
PREFETCH_FACTOR = 4
#: most workers `resolve_workers` chooses by itself
MAX_AUTO_WORKERS = 16


def resolve_workers(workers: int | None) -> int:
    """``data.workers``: as given, or ``None``: the CPU cores this process may use, shared
    among the processes of this machine (torchrun's ``LOCAL_WORLD_SIZE``), less one for the
    main process, at most `MAX_AUTO_WORKERS`."""
    if workers is not None:
        return workers
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    share = cores // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(1, min(MAX_AUTO_WORKERS, share - 1))


class SeededSampler(Sampler[tuple[int, int]]):
    """Yields ``(index, seed)``: the wrapped sampler's indices, each with its own seed.

    The seeds follow from ``generator`` alone (one draw per pass, then consecutive), so an
    item's augmentation depends on the epoch's seed and its position, not on which worker
    prepares it or what that worker did before: workers can persist across epochs and a
    resumed run still sees the same augmentations.
    """

    def __init__(self, sampler: Sampler[int], generator: torch.Generator) -> None:
        self.sampler = sampler
        self.generator = generator

    def __iter__(self) -> Iterator[tuple[int, int]]:
        base = int(torch.randint(0, 2**62, (), generator=self.generator))
        for position, index in enumerate(self.sampler):
            yield int(index), base + position

    def __len__(self) -> int:
        return len(self.sampler)  # type: ignore[arg-type]

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)


class SeededDataset(Dataset):
    """``dataset[index]`` with torch's RNG seeded from `SeededSampler`'s seed for the item.

    In the main process (``workers=0``) the caller's RNG state is restored afterwards.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, item: tuple[int, int]) -> Any:
        index, seed = item
        # Only the CPU generator, which the transforms draw from: torch.manual_seed would
        # also visit every accelerator backend, 80 µs an item.
        if get_worker_info() is not None:
            torch.default_generator.manual_seed(seed)
            return self.dataset[index]
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            return self.dataset[index]


def make_loader(
    dataset: MultiLabelDataset,
    batch_size: int,
    workers: int | None,
    train: bool,
    generator: torch.Generator | None = None,
    distributed: bool = False,
    seed: int = 0,
    pin_memory: bool = False,
    collate_fn: Callable[[list[Any]], Any] | None = None,
) -> DataLoader:
    """A DataLoader; evaluation loaders yield ``(images, targets, indices)``; ``collate_fn``
    replaces PyTorch's default collation (`RunData.collate`).

    Workers persist across epochs and prefetch `PREFETCH_FACTOR` batches each; ``pin_memory``
    (the trainer sets it on CUDA) lets the uint8 batches reach the GPU asynchronously. The
    order of a training pass comes from ``generator`` (re-seeded by the trainer each epoch),
    and every item's augmentation from its own seed (`SeededSampler`), so a resumed run sees
    the same batches and augmentations with any number of workers.
    """
    workers = resolve_workers(workers)
    source: Dataset = dataset if train else IndexedDataset(dataset)
    if distributed:
        sampler: Sampler = DistributedSampler(source, shuffle=train, seed=seed, drop_last=False)
    elif train:
        sampler = RandomSampler(source, generator=generator)
    else:
        sampler = SequentialSampler(source)
    if train:
        if generator is None:  # follow the global seed
            generator = torch.Generator().manual_seed(torch.initial_seed())
        sampler = SeededSampler(sampler, generator)
        source = SeededDataset(source)
    return DataLoader(
        source,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate_fn,
        pin_memory=pin_memory,
        drop_last=train and len(source) > batch_size,
        # Only the workers' own base seeds come from here; a fixed generator keeps them from
        # drawing on the caller's RNG.
        generator=torch.Generator().manual_seed(seed),
        persistent_workers=workers > 0,
        prefetch_factor=PREFETCH_FACTOR if workers > 0 else None,
    )


def test_pipeline(
    run_config: dict[str, Any] | None, model: Any | None = None
) -> tuple[Any, DeviceNormalize]:
    """The evaluation transform a checkpoint was trained with (defaults without a config), as
    a uint8 transform and the `DeviceNormalize` that finishes its batches; ``model`` (an
    `AGCN` or `Backbone`) for ``data.normalization=backbone``."""
    data = from_dict(RunConfig, run_config or {}).data
    mean, std = _normalization(data.normalization, model)
    transform = build_transforms(
        data.transforms, data.image_size, data.resize_size, output="uint8"
    )[1]
    return transform, DeviceNormalize(mean, std)
