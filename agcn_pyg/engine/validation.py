"""One check of a whole `RunConfig` before a run starts: every field, every registry name, every
``*_kwargs`` against the signature it is for. Each failure is one `ConfigError` line naming the
key, the value and what is allowed. (`ModelConfig` checks its own fields when it is built.)
"""

from __future__ import annotations

import inspect
import itertools
import math
from collections.abc import Callable
from typing import Any

import torch

from agcn_pyg.config import AMP_MODES, RunConfig, is_int, is_number
from agcn_pyg.data import DATASETS, DIFFICULT_POLICIES, TRANSFORM_RECIPES
from agcn_pyg.engine.inputs import NORMALIZATIONS
from agcn_pyg.engine.losses import LOSSES
from agcn_pyg.engine.optim import OPTIMIZERS, SCHEDULERS
from agcn_pyg.errors import ConfigError

#: what ``train.device`` may name besides ``auto``
DEVICE_TYPES = ("cpu", "cuda", "mps")
#: builder arguments that the engine sets itself
_ENGINE_SET = {"transform"}


def _finite(value: object) -> bool:
    return is_number(value) and math.isfinite(value)


def _step_epochs(value: object) -> bool:
    if isinstance(value, list):
        ok = all(is_int(v) and v >= 1 for v in value)
        return ok and all(a < b for a, b in itertools.pairwise(value))
    return is_int(value) and value >= 1


def _device(value: object) -> bool:
    if value == "auto":
        return True
    try:
        return torch.device(str(value)).type in DEVICE_TYPES
    except (RuntimeError, ValueError):
        return False


def _check_kwargs(key: str, fn: Callable[..., Any], kwargs: dict[str, Any], what: str) -> None:
    """``kwargs`` must bind to ``fn``'s keyword parameters."""
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    names = [n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL]
    for name in kwargs:
        if name not in names or name in _ENGINE_SET:
            allowed = ", ".join(n for n in names if n not in _ENGINE_SET) or "none"
            raise ConfigError(f"{key}.{name}: {what} takes no {name!r}; it takes: {allowed}")


def validate_run_config(cfg: RunConfig) -> None:
    """Raise `ConfigError` on the first invalid field of ``cfg``."""
    t, d = cfg.train, cfg.data
    checks = [
        (is_int(t.epochs) and t.epochs >= 1, "train.epochs", t.epochs, "an int ≥ 1"),
        (
            is_int(t.batch_size) and t.batch_size >= 1,
            "train.batch_size",
            t.batch_size,
            "an int ≥ 1",
        ),
        (_finite(t.lr) and t.lr > 0, "train.lr", t.lr, "a finite number > 0"),
        (_finite(t.lrp) and t.lrp >= 0, "train.lrp", t.lrp, "a finite number ≥ 0"),
        (
            _finite(t.momentum) and 0 <= t.momentum <= 1,
            "train.momentum",
            t.momentum,
            "a number in [0, 1]",
        ),
        (
            _finite(t.weight_decay) and t.weight_decay >= 0,
            "train.weight_decay",
            t.weight_decay,
            "a finite number ≥ 0",
        ),
        (
            _step_epochs(t.step_epochs),
            "train.step_epochs",
            t.step_epochs,
            "an int ≥ 1 or an increasing list of ints ≥ 1",
        ),
        (_finite(t.gamma) and t.gamma > 0, "train.gamma", t.gamma, "a finite number > 0"),
        (
            _finite(t.warmup_epochs) and t.warmup_epochs >= 0,
            "train.warmup_epochs",
            t.warmup_epochs,
            "a finite number ≥ 0",
        ),
        (
            is_int(t.eval_every) and t.eval_every >= 1,
            "train.eval_every",
            t.eval_every,
            "an int ≥ 1",
        ),
        (
            t.clip_grad_norm is None or (_finite(t.clip_grad_norm) and t.clip_grad_norm > 0),
            "train.clip_grad_norm",
            t.clip_grad_norm,
            "null or a finite number > 0",
        ),
        (
            t.ema_decay is None or (_finite(t.ema_decay) and 0 < t.ema_decay < 1),
            "train.ema_decay",
            t.ema_decay,
            "null or a number in (0, 1)",
        ),
        (
            t.max_steps_per_epoch is None or t.max_steps_per_epoch >= 1,
            "train.max_steps_per_epoch",
            t.max_steps_per_epoch,
            "null or an int ≥ 1",
        ),
        (
            is_int(t.seed) and 0 <= t.seed < 2**63,
            "train.seed",
            t.seed,
            "an int in [0, 2**63)",
        ),
        (
            _device(t.device),
            "train.device",
            t.device,
            f"auto or a torch device of type {', '.join(DEVICE_TYPES)} (e.g. cuda:1)",
        ),
        (t.optimizer in OPTIMIZERS, "train.optimizer", t.optimizer, f"one of {OPTIMIZERS.names()}"),
        (t.scheduler in SCHEDULERS, "train.scheduler", t.scheduler, f"one of {SCHEDULERS.names()}"),
        (t.loss in LOSSES, "train.loss", t.loss, f"one of {LOSSES.names()}"),
        (t.amp in AMP_MODES, "train.amp", t.amp, f"one of {list(AMP_MODES)}"),
        (d.dataset in DATASETS, "data.dataset", d.dataset, f"one of {DATASETS.names()}"),
        (
            d.transforms in TRANSFORM_RECIPES,
            "data.transforms",
            d.transforms,
            f"one of {TRANSFORM_RECIPES.names()}",
        ),
        (is_int(d.image_size) and d.image_size >= 1, "data.image_size", d.image_size, "an int ≥ 1"),
        (
            d.resize_size is None or (is_int(d.resize_size) and d.resize_size >= d.image_size),
            "data.resize_size",
            d.resize_size,
            f"null or an int ≥ data.image_size ({d.image_size})",
        ),
        (isinstance(d.hflip, bool), "data.hflip", d.hflip, "true or false"),
        (
            d.normalization in NORMALIZATIONS,
            "data.normalization",
            d.normalization,
            f"one of {list(NORMALIZATIONS)}",
        ),
        (
            d.difficult in DIFFICULT_POLICIES,
            "data.difficult",
            d.difficult,
            f"one of {DIFFICULT_POLICIES.names()}",
        ),
        (
            d.workers is None or (is_int(d.workers) and d.workers >= 0),
            "data.workers",
            d.workers,
            "null (one per CPU core) or an int ≥ 0",
        ),
    ]
    if d.label_noise is not None:
        for name in ("drop", "add"):
            value = getattr(d.label_noise, name)
            checks.append(
                (
                    _finite(value) and 0 <= value <= 1,
                    f"data.label_noise.{name}",
                    value,
                    "a probability in [0, 1]",
                )
            )
        seed = d.label_noise.seed
        checks.append((is_int(seed), "data.label_noise.seed", seed, "an int"))
    for ok, key, value, expected in checks:
        if not ok:
            raise ConfigError(f"{key}: expected {expected}, got {value!r}")
    _check_kwargs("train.loss_kwargs", LOSSES.get(t.loss), t.loss_kwargs, f"loss {t.loss!r}")
    builder = DATASETS.get(d.dataset)
    for split in ("train", "val"):
        _check_kwargs(f"data.{split}", builder, getattr(d, split), f"dataset {d.dataset!r}")
    _check_backbone_kwargs(cfg)


def _check_backbone_kwargs(cfg: RunConfig) -> None:
    """timm builds the backbone with ``model.backbone_kwargs`` (on the meta device: no memory,
    no weights), so an option it does not take is found before anything runs."""
    m = cfg.model
    if not m.backbone_kwargs:
        return
    import timm

    try:
        with torch.device("meta"):
            timm.create_model(m.backbone, num_classes=0, global_pool="", **m.backbone_kwargs)
    except (TypeError, ValueError, AssertionError, RuntimeError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise ConfigError(
            f"model.backbone_kwargs {m.backbone_kwargs}: timm's {m.backbone!r} refused them "
            f"({first})"
        ) from None
