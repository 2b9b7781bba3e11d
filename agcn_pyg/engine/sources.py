r"""What the trainer feeds the model: image batches (end to end) or cached features.

The trainer (`agcn_pyg.engine.trainer.Trainer`) owns the step, the evaluation cadence, the
best epoch, the run folder and resume; a *source* owns the data side of a mode:

==============  =====================================  ========================================
mode            a step's input                         forward
==============  =====================================  ========================================
``end2end``     an augmented image batch ``B × 3 × H   ``model(images, return_graph_loss=True)``
                × W`` (the whole model trains)
``features``    a batch ``B × D`` of the frozen        ``model.forward_head(x,
                backbone's cached features (only the   return_graph_loss=True)``
                head trains)
==============  =====================================  ========================================

`TRAIN_MODES` maps a mode's name to the function that builds its source. Every ``train.*`` key
means the same in both modes; the ones about the backbone's forward act, in mode ``features``,
where the backbone runs: ``channels_last`` sets the layout of the extraction, ``amp`` and
``compile`` have nothing to act on (the head runs in float32 under any autocast, and the
backbone does not run while the head trains).

Cached-features mode, and how to read its numbers: the backbone never adapts to the data set,
and the heads never see augmented images, so they overfit sooner than end to end. Differences
between rows in this mode come from the heads alone, on fixed features; they say nothing about
how a label graph shapes the backbone's features through its gradients, which is part of what
the paper trains end to end. An epoch costs less than writing the whole model, so this mode
commits its run folder at evaluated epochs only (``train.eval_every`` and the last); a resumed
run repeats the epochs after the last commit, with the same batches.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from agcn_pyg.config import RunConfig
from agcn_pyg.engine.evaluate import autocast_context, collect_logits
from agcn_pyg.engine.feature_cache import cache_dir_of, run_features
from agcn_pyg.engine.inputs import RunData, make_loader, with_transforms
from agcn_pyg.errors import ConfigError, DataError
from agcn_pyg.models import AGCN
from agcn_pyg.optim import Part
from agcn_pyg.registry import Registry


class BatchSource(Protocol):
    """The data side of a training mode (see the module docstring)."""

    #: the mode's name, recorded in ``env.json`` and every checkpoint
    mode: str
    #: optimiser steps per epoch (``train.max_steps_per_epoch`` applied)
    steps_per_epoch: int
    #: ``True``: the run folder commits after every epoch; ``False``: at evaluated epochs only
    commit_every_epoch: bool
    #: whether ``train.compile`` has a forward to act on
    compiles: bool

    def set_epoch(self, epoch: int, seed: int) -> None:
        """Fix the order (and augmentation) of epoch ``epoch`` from ``seed``; a source may
        start preparing the epoch's first batches here."""

    def batches(self) -> Iterator[tuple[Tensor, Tensor]]:
        """``(inputs on the device, raw targets B × C in {1, 0, -1})`` for one epoch."""

    def forward(self, model: nn.Module, inputs: Tensor) -> tuple[Tensor, Tensor]:
        """``(logits B × C, L_A)`` of the model (or its DDP wrapper) on a step's inputs."""

    def evaluate(self, model: AGCN, desc: str, split: str = "val") -> tuple[np.ndarray, np.ndarray]:
        """Logits ``N × C`` (float32) and targets ``N × C`` of the selection split (``val``,
        every evaluated epoch) or of the reported split (``test``, at the end; only where it
        is another split: `agcn_pyg.selection`)."""

    def optimizer_parts(self, model: AGCN, lr: float, lrp: float) -> list[Part]:
        """The modules that train and their learning rates."""

    def context(self) -> AbstractContextManager[None]:
        """Entered around the training epochs (not around set-up)."""

    def env(self) -> dict[str, Any]:
        """What ``env.json`` records about the source."""


@dataclass(frozen=True)
class SourceContext:
    """What a source builder gets from the trainer."""

    cfg: RunConfig
    model: AGCN
    splits: RunData
    device: torch.device
    world: int
    amp_dtype: torch.dtype | None
    channels_last: bool
    progress: bool
    cache_dir: str | Path | None = None


#: ``mode name → fn(SourceContext) -> BatchSource``
TRAIN_MODES: Registry[Callable[[SourceContext], BatchSource]] = Registry("training mode")


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


class ImageBatches:
    """End to end: augmented image batches from the run's loaders; the whole model trains
    (the backbone at ``lr · lrp``, the head at ``lr``, as ML-GCN)."""

    mode = "end2end"
    commit_every_epoch = True
    compiles = True

    def __init__(self, ctx: SourceContext) -> None:
        cfg = ctx.cfg
        data = with_transforms(ctx.splits, cfg.data, ctx.model, ctx.device)
        self.normalize = data.normalize
        self.decode = data.decode
        self.device, self.amp_dtype = ctx.device, ctx.amp_dtype
        self.channels_last, self.progress = ctx.channels_last, ctx.progress
        pin = ctx.device.type == "cuda"
        self.generator = torch.Generator()
        self.train_loader = make_loader(
            data.train,
            cfg.train.batch_size,
            cfg.data.workers,
            train=True,
            generator=self.generator,
            distributed=ctx.world > 1,
            seed=cfg.train.seed,
            pin_memory=pin,
            collate_fn=data.collate,
        )

        def eval_loader(split: Any) -> DataLoader:
            return make_loader(
                split,
                cfg.train.batch_size,
                cfg.data.workers,
                train=False,
                distributed=ctx.world > 1,
                pin_memory=pin,
                collate_fn=data.collate,
            )

        self.val_loader = eval_loader(data.val)
        # The reported split is scored once, at the end: its workers start only then.
        self.test_loader = None if data.test is None else eval_loader(data.test)
        self.steps_per_epoch = len(self.train_loader)
        if cfg.train.max_steps_per_epoch:
            self.steps_per_epoch = min(self.steps_per_epoch, cfg.train.max_steps_per_epoch)
        self._epoch_batches: Iterator[Any] | None = None

    def set_epoch(self, epoch: int, seed: int) -> None:
        """Seed the epoch's order and start its loader: the workers prepare its first batches
        from here on (the trainer calls this before it commits the previous epoch). The order
        is drawn when the iterator starts, from the generator seeded here, so starting early
        changes no batch."""
        self.generator.manual_seed(seed)
        sampler = self.train_loader.sampler
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        self._epoch_batches = iter(self.train_loader)

    def batches(self) -> Iterator[tuple[Tensor, Tensor]]:
        loader, self._epoch_batches = self._epoch_batches or iter(self.train_loader), None
        for step, (images, raw_targets) in enumerate(loader):
            if step >= self.steps_per_epoch:
                break
            yield self.normalize(images, self.device, self.channels_last), raw_targets

    def forward(self, model: nn.Module, inputs: Tensor) -> tuple[Tensor, Tensor]:
        with autocast_context(self.device, self.amp_dtype):
            return model(inputs, return_graph_loss=True)

    def evaluate(self, model: AGCN, desc: str, split: str = "val") -> tuple[np.ndarray, np.ndarray]:
        return collect_logits(
            model,
            self.val_loader if split == "val" else _present(self.test_loader, split),
            self.device,
            self.amp_dtype,
            self.channels_last,
            self.progress,
            desc=desc,
            normalize=self.normalize,
        )

    def optimizer_parts(self, model: AGCN, lr: float, lrp: float) -> list[Part]:
        return model.optimizer_parts(lr, lrp)

    def context(self) -> AbstractContextManager[None]:
        return contextlib.nullcontext()

    def env(self) -> dict[str, Any]:
        """``decode``: ``data.decode`` as resolved and, for ``gpu``, the images of this
        process decoded on the device, finished on the CPU path and refused by the device
        decoder (`agcn_pyg.data.device_decode.DeviceDecode.counts`)."""
        counts = getattr(self.normalize, "stats", None)
        return {"decode": {"mode": self.decode, **(counts() if counts else {})}}


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
    x = torch.as_tensor(np.asarray(features)).float()
    was_training = head.training
    head.eval()
    try:
        out = [
            head(x[i : i + batch_size].to(device)).logits.float().cpu()
            for i in range(0, len(x), batch_size)
        ]
    finally:
        head.train(was_training)
    return torch.cat(out).numpy()


def _present(value: Any, split: str) -> Any:
    if value is None:
        raise ConfigError(f"split {split!r}: this run has no such split (agcn_pyg.selection)")
    return value


class FeatureBatches:
    """Cached features: shuffled mini-batches of ``N × D`` rows; only the head trains.

    The order of epoch ``e`` is a permutation drawn from the epoch's seed; as the image
    loader, the last partial batch is dropped unless it is the only one.

    Args:
        train, val: ``(features N × D, targets N × C in {1, 0, -1})`` of the training and
            the selection split.
        num_features, num_classes: the model's ``D`` and ``C`` (checked against the arrays).
        batch_size: rows per step.
        max_steps_per_epoch: cap on the steps of an epoch (``None``: every batch).
        device: where the head trains.
        threads: CPU intra-op threads while the head trains (``None``: leave torch's
            setting); restored afterwards. A head's matmuls (``B × D`` by ``D × C``, a
            ``C``-node GNN) are too small to gain from a thread team, whose fork and join then
            dominate each op.
        env: what ``env.json`` records about where the features came from.
        test: the reported split's ``(features, targets)`` when it is another split.
    """

    mode = "features"
    commit_every_epoch = False
    compiles = False

    def __init__(
        self,
        train: tuple[Any, Any],
        val: tuple[Any, Any],
        num_features: int,
        num_classes: int,
        batch_size: int,
        max_steps_per_epoch: int | None = None,
        device: str | torch.device = "cpu",
        threads: int | None = 1,
        env: dict[str, Any] | None = None,
        test: tuple[Any, Any] | None = None,
    ) -> None:
        self.x_train = torch.as_tensor(np.asarray(train[0])).float()
        self.y_train = torch.as_tensor(np.asarray(train[1])).long()
        self.x_val = torch.as_tensor(np.asarray(val[0])).float()
        self.y_val = np.asarray(val[1], dtype=np.int64)
        if self.x_train.ndim != 2 or self.x_train.size(1) != num_features:
            raise DataError(
                f"train features: expected N × {num_features}, got {tuple(self.x_train.shape)}"
            )
        if self.y_train.shape != (self.x_train.size(0), num_classes):
            raise DataError(
                f"train targets: expected {self.x_train.size(0)} × {num_classes}, "
                f"got {tuple(self.y_train.shape)}"
            )
        if self.x_val.shape[1:] != self.x_train.shape[1:] or self.y_val.shape != (
            len(self.x_val),
            num_classes,
        ):
            raise DataError("val features and targets do not match the train features' shape")
        self.test = None
        if test is not None:
            self.test = (torch.as_tensor(np.asarray(test[0])).float(), np.asarray(test[1]))
            if self.test[0].shape[1:] != self.x_train.shape[1:]:
                raise DataError("test features do not match the train features' shape")
        self.device = torch.device(device)
        self.batch_size = batch_size
        n = self.x_train.size(0)
        self.steps_per_epoch = n // batch_size if n > batch_size else 1
        if max_steps_per_epoch:
            self.steps_per_epoch = min(self.steps_per_epoch, max_steps_per_epoch)
        self.threads = threads if self.device.type == "cpu" else None
        self.generator = torch.Generator()
        self._env = dict(env or {})

    def set_epoch(self, epoch: int, seed: int) -> None:
        self.generator.manual_seed(seed)

    def batches(self) -> Iterator[tuple[Tensor, Tensor]]:
        n, batch = self.x_train.size(0), self.batch_size
        order = torch.randperm(n, generator=self.generator)
        for step in range(self.steps_per_epoch):
            index = order[step * batch : (step + 1) * batch] if n > batch else order
            yield self.x_train[index].to(self.device), self.y_train[index]

    def forward(self, model: nn.Module, inputs: Tensor) -> tuple[Tensor, Tensor]:
        return model.forward_head(inputs, return_graph_loss=True)

    def evaluate(self, model: AGCN, desc: str, split: str = "val") -> tuple[np.ndarray, np.ndarray]:
        x, y = (self.x_val, self.y_val) if split == "val" else _present(self.test, split)
        return head_logits(model, x, device=self.device), y

    def optimizer_parts(self, model: AGCN, lr: float, lrp: float) -> list[Part]:
        return [part for part in model.optimizer_parts(lr, lrp) if part[0] == "head"]

    def context(self) -> AbstractContextManager[None]:
        return cpu_threads(self.threads)

    def env(self) -> dict[str, Any]:
        return dict(self._env)


@TRAIN_MODES.register("end2end")
def _images(ctx: SourceContext) -> BatchSource:
    return ImageBatches(ctx)


@TRAIN_MODES.register("features")
def _features(ctx: SourceContext) -> BatchSource:
    """Extract (or read from the cache) the frozen backbone's features of every split; the
    backbone is the model's own, after ``train.init_from``, so a fine-tuned one extracts its
    own. Each split is extracted (and cached) by its own images, so a holdout's features are
    never among the training rows."""
    if ctx.world > 1:
        raise ConfigError(
            "mode features: trains the head on cached features in one process; run it without "
            "torchrun"
        )
    cfg, model = ctx.cfg, ctx.model
    cache = cache_dir_of(cfg, ctx.cache_dir)
    extracted = run_features(cfg, model.backbone, ctx.splits, cache, ctx.device, ctx.progress)
    model.backbone.requires_grad_(False)
    return FeatureBatches(
        extracted["train"],
        extracted["val"],
        model.num_features,
        model.num_classes,
        cfg.train.batch_size,
        cfg.train.max_steps_per_epoch,
        ctx.device,
        env={"features_cache": str(cache)},
        test=extracted.get("test"),
    )
