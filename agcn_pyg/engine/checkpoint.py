"""Self-describing checkpoints, written atomically and loaded with ``weights_only=True``.

A checkpoint is a dict of tensors and plain Python values only, so ``torch.load(...,
weights_only=True)`` reads it without unpickling code:

* ``format``: `FORMAT`;
* ``model_config``: the model's `AGCN.config`, the `AGCNConfig` as a dict (backbone name
  included);
* ``label_names``: the label order of the logits;
* ``cooccurrence``: ``{"adj", "nums"}`` tensors or ``None`` (the static graph's counts);
* ``state_dict``: the model's weights, label embeddings included (``head.embeddings``);
* ``run_config``: the resolved run config, ``versions``, ``git_commit``;
* ``epoch``, ``metrics`` and, in ``last.pt`` only, ``training_state``: optimiser, scheduler,
  AMP scaler, EMA weights and RNG states for ``--resume``;
* ``content_sha256``: the SHA-256 of everything else (`content_digest`), written by
  `save_checkpoint` and checked by `read_checkpoint`, so by every load: ``load_model``,
  ``agcn evaluate``, ``agcn predict``, the analysis tools, ``train.init_from`` and resume.

torch's zip container carries CRC-32s but does not check them on load, so a flipped bit in a
tensor's bytes would load silently; the digest covers the values as loaded (each tensor's
dtype, shape and bytes, and every other entry), so such a file is refused with one line
naming it. A checkpoint written before the digest existed loads with a warning.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import platform
import subprocess
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agcn_pyg._version import __version__
from agcn_pyg.config import SHIPPED_CONFIGS, RunConfig, from_dict, load_run_config, to_dict
from agcn_pyg.errors import CheckpointError
from agcn_pyg.io import first_non_finite, load_error_reason, save_torch
from agcn_pyg.models import (
    AGCN,
    AGCNConfig,
    OfficialCheckpoint,
    create_model,
    stored_label_graph,
)
from agcn_pyg.models.backbone import refused_backbone_kwargs

FORMAT = "agcn_pyg.checkpoint/1"


@functools.cache
def package_versions() -> dict[str, str]:
    """Versions of the packages that decide a run's numbers."""
    import timm
    import torch_geometric
    import torchvision

    versions = {
        "agcn_pyg": __version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "torch_geometric": torch_geometric.__version__,
        "timm": timm.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "cuda": torch.version.cuda,
    }
    # str(): torch's version is a str subclass that weights_only loading refuses.
    return {name: str(version) for name, version in versions.items()}


@functools.cache
def git_commit(path: str | Path | None = None) -> str | None:
    """The commit of the source tree (with ``+dirty`` when modified), or ``None`` outside git."""
    cwd = Path(path) if path else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def build_checkpoint(
    model: AGCN,
    label_names: list[str],
    cooccurrence: tuple[np.ndarray, np.ndarray] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The checkpoint dict for ``model``; ``extra`` adds run-specific entries."""
    unwrapped = getattr(model, "module", model)
    cfg = unwrapped.config
    if len(label_names) != unwrapped.num_classes:
        raise CheckpointError(
            f"{len(label_names)} label names for a model with {unwrapped.num_classes} labels"
        )
    counts = None
    if cooccurrence is not None:
        adj, nums = cooccurrence
        counts = {"adj": torch.as_tensor(adj).double(), "nums": torch.as_tensor(nums).double()}
    return {
        "format": FORMAT,
        "model_config": cfg,
        "label_names": list(label_names),
        "cooccurrence": counts,
        "state_dict": {k: v.detach().cpu() for k, v in unwrapped.state_dict().items()},
        "versions": package_versions(),
        "git_commit": git_commit(),
        **extra,
    }


#: the entry that holds a checkpoint's `content_digest`
DIGEST_KEY = "content_sha256"


def save_checkpoint(checkpoint: Mapping[str, Any], path: str | Path) -> None:
    """Write with its `content_digest`, atomically: a crash mid-write leaves the previous
    file intact."""
    payload = {k: v for k, v in checkpoint.items() if k != DIGEST_KEY}
    payload[DIGEST_KEY] = content_digest(payload)
    save_torch(payload, path)


def content_digest(checkpoint: Mapping[str, Any]) -> str:
    """SHA-256 (hex) over every entry but `DIGEST_KEY`: mappings key by key (in a fixed key
    order), sequences item by item, tensors as dtype, shape and raw bytes (on the CPU), any
    other value as its type and ``repr``."""
    digest = hashlib.sha256()
    _feed(digest, {k: v for k, v in checkpoint.items() if k != DIGEST_KEY})
    return digest.hexdigest()


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous().reshape(-1)
        digest.update(f"T{tensor.dtype}{tuple(value.shape)}".encode())
        digest.update(memoryview(tensor.view(torch.uint8).numpy()))
    elif isinstance(value, Mapping):
        digest.update(f"M{len(value)}".encode())
        for key in sorted(value, key=lambda k: (type(k).__name__, repr(k))):
            _feed(digest, key)
            _feed(digest, value[key])
    elif isinstance(value, list | tuple):
        digest.update(f"{type(value).__name__}{len(value)}".encode())
        for item in value:
            _feed(digest, item)
    else:
        digest.update(f"{type(value).__name__}:{value!r};".encode())


def check_digest(checkpoint: Mapping[str, Any], path: str | Path) -> None:
    """Refuse a checkpoint whose content differs from its stored digest (`CheckpointError`);
    warn once about one written before digests existed."""
    stored = checkpoint.get(DIGEST_KEY)
    if stored is None:
        warnings.warn(
            f"{path}: written before checkpoints carried a content hash; its integrity "
            "cannot be checked (saving it again adds one)",
            UserWarning,
            stacklevel=3,
        )
        return
    if stored != content_digest(checkpoint):
        raise CheckpointError(
            f"{path}: damaged: its content does not match the SHA-256 stored in it (changed "
            "bytes on disk or in transfer); restore it from a copy"
        )


#: the data settings an imported checkpoint keeps from its shipped official config: what its
#: test transform and target mapping need (not the config's paths)
IMPORTED_DATA = ("transforms", "image_size", "resize_size", "normalization", "difficult")


def save_imported(
    model: AGCN, label_names: Sequence[str], meta: OfficialCheckpoint, out: str | Path
) -> None:
    """Write a model from `agcn_pyg.models.import_official` as an agcn_pyg checkpoint whose
    run config is the official variant on MS-COCO (the shipped
    ``coco_<kind>_official.yaml``): its training recipe, and its test transform (squash-resize
    to 448, ImageNet normalisation) without the config's paths."""
    official = load_run_config(SHIPPED_CONFIGS / f"coco_{meta.kind}_official.yaml")
    data = {key: getattr(official.data, key) for key in IMPORTED_DATA}
    run = from_dict(
        RunConfig,
        {
            "name": Path(out).stem,
            "variant": official.variant,
            "model": model.config,
            "data": {**data, "embeddings": None},
            "train": to_dict(official.train),
        },
    )
    imported = {k: v for k, v in dataclasses.asdict(meta).items() if v is not None}
    imported["path"] = Path(meta.path).name
    metrics = {} if meta.best_score is None else {"official_best_score": meta.best_score}
    checkpoint = build_checkpoint(
        model,
        list(label_names),
        None,
        run_config=to_dict(run),
        epoch=None if meta.epoch is None else meta.epoch - 1,
        metrics=metrics,
        imported_from=imported,
    )
    save_checkpoint(checkpoint, out)


#: what every checkpoint holds, and the type of each
REQUIRED = {"model_config": dict, "label_names": list, "state_dict": dict}


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint dict safely (``weights_only=True``) and check its format and keys."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"{path}: not a readable checkpoint ({load_error_reason(err)})"
        ) from err
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an agcn_pyg checkpoint (expected format {FORMAT})")
    check_digest(checkpoint, path)
    for key, kind in REQUIRED.items():
        if not isinstance(checkpoint.get(key), kind):
            raise CheckpointError(
                f"{path}: malformed checkpoint: {key!r} missing or not a {kind.__name__}"
            )
    kwargs = checkpoint["model_config"].get("backbone_kwargs") or {}
    if not isinstance(kwargs, dict):
        raise CheckpointError(f"{path}: malformed checkpoint: backbone_kwargs is not a mapping")
    refused = refused_backbone_kwargs(kwargs)
    if refused:
        raise CheckpointError(
            f"{path}: model_config.backbone_kwargs.{refused[0]} is not allowed in a checkpoint "
            "(a checkpoint may not name files or direct the loader)"
        )
    return checkpoint


def check_finite(checkpoint: Mapping[str, Any], path: str | Path) -> None:
    """Refuse a checkpoint whose weights hold NaN or inf (`CheckpointError`)."""
    bad = first_non_finite(checkpoint["state_dict"])
    if bad is not None:
        raise CheckpointError(f"{path}: holds non-finite weights ({bad}); it cannot be used")


def check_compatible(
    checkpoint: Mapping[str, Any], path: str | Path, model_cfg: AGCNConfig, label_names: list[str]
) -> None:
    """A `CheckpointError` naming the first ``model.*`` key (other than ``pretrained``) or the
    label list in which ``checkpoint`` differs from the run that wants its weights."""
    ours = {k: v for k, v in dataclasses.asdict(model_cfg).items() if k != "pretrained"}
    # Through the dataclass, so that a checkpoint from before a field existed reads as that
    # field's default.
    stored = from_dict(AGCNConfig, {**checkpoint["model_config"], "pretrained": False}, "model")
    theirs = {k: v for k, v in dataclasses.asdict(stored).items() if k != "pretrained"}
    changed = sorted(k for k in ours if ours[k] != theirs.get(k))
    if changed:
        key = changed[0]
        raise CheckpointError(
            f"{path}: trained with model.{key}={theirs.get(key)!r}, this run has {ours[key]!r}"
        )
    if list(checkpoint["label_names"]) != list(label_names):
        raise CheckpointError(f"{path}: trained with another label list or order")


def init_weights_from(
    model: AGCN, path: str | Path, model_cfg: AGCNConfig, label_names: list[str]
) -> None:
    """``train.init_from``: load a compatible, finite checkpoint's weights into ``model``."""
    checkpoint = read_checkpoint(path, map_location="cpu")
    check_finite(checkpoint, path)
    check_compatible(checkpoint, path, model_cfg, label_names)
    model.load_state_dict(checkpoint["state_dict"])


def model_from_checkpoint(checkpoint: Mapping[str, Any]) -> AGCN:
    """Rebuild the model a checkpoint describes and load its weights (no download)."""
    cfg_dict = dict(checkpoint["model_config"])
    cfg_dict["pretrained"] = False  # the weights come from the checkpoint
    cfg = from_dict(AGCNConfig, cfg_dict, "model")
    state = checkpoint["state_dict"]
    counts = checkpoint.get("cooccurrence")
    cooccurrence = (
        None if counts is None else (counts["adj"].cpu().numpy(), counts["nums"].cpu().numpy())
    )
    # A static graph imported from ML-GCN has its gen_A output but no counts.
    stored = stored_label_graph(cfg, state) if counts is None else None
    model = create_model(
        cfg,
        label_embeddings=state.get("head.embeddings"),
        cooccurrence=cooccurrence,
        label_graph=stored,
    )
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        raise CheckpointError(
            f"checkpoint weights do not fit {cfg.backbone}/{cfg.graph}: {' '.join(first[:2])[:300]}"
        ) from err
    return model


def load_model(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[AGCN, dict[str, Any]]:
    """``(model, meta)`` from a checkpoint file; the model is in eval mode.

    ``meta`` holds ``label_names``, ``config`` (the model config dict), ``cooccurrence``
    (``{"adj", "nums"}`` as numpy arrays, or ``None``), ``run_config``, ``epoch``,
    ``metrics``, ``versions`` and ``git_commit``.
    """
    # Read on the CPU, where the digest is checked, then move the model once.
    checkpoint = read_checkpoint(path, "cpu")
    check_finite(checkpoint, path)
    model = model_from_checkpoint(checkpoint).to(map_location).eval()
    counts = checkpoint.get("cooccurrence")
    meta = {
        "label_names": list(checkpoint["label_names"]),
        "config": dict(checkpoint["model_config"]),
        "cooccurrence": None
        if counts is None
        else {"adj": counts["adj"].cpu().numpy(), "nums": counts["nums"].cpu().numpy()},
        "run_config": checkpoint.get("run_config"),
        "epoch": checkpoint.get("epoch"),
        "metrics": checkpoint.get("metrics"),
        "versions": checkpoint.get("versions"),
        "git_commit": checkpoint.get("git_commit"),
        "path": str(path),
    }
    return model, meta
