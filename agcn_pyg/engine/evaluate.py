"""Scoring a data set with a model, and writing evaluation outputs.

Every metric is computed from the logits: float32 ``sigmoid`` rounds to exactly 1.0 from a
logit of about 17 on, so probabilities would tie the confident predictions that AP ranks.
Thresholds are given and stored in probability units and converted to logits once
(`agcn_pyg.metrics.logit_threshold`): probability 0.5 is logit 0.

An evaluation folder holds `EVAL_FILES` and commits whole, as a training epoch does
(`agcn_pyg.engine.runfolder`): `commit_evaluation` writes ``<out>.next/`` and then puts it in
place of ``<out>/`` (`replace_folder`), so the three files always come from one checkpoint,
also after a kill.
"""

from __future__ import annotations

import csv
import io
import math
import shutil
from collections.abc import Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from agcn_pyg.data.transforms import DeviceNormalize
from agcn_pyg.engine.distributed import gather_objects, is_main_process
from agcn_pyg.engine.runfolder import replace_folder
from agcn_pyg.errors import ConfigError, DataError
from agcn_pyg.io import save_npz, write_json, write_text
from agcn_pyg.metrics import DEFAULT_AP_PROTOCOL, compute_metrics, logit_threshold, sigmoid
from agcn_pyg.schema import brief, is_number

#: what an evaluation writes: the whole of an evaluation folder
EVAL_FILES = ("metrics.json", "per_class.csv", "scores.npz")

# Moves batches and sets their layout; uint8 batches it would normalise with ImageNet's
# statistics, so callers with uint8 data pass their own.
_PASS = DeviceNormalize()


class IndexedDataset(Dataset):
    """Yields ``(*dataset[i], i)`` so results gathered from DDP ranks can be put in order."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        return (*self.dataset[index], index)


def autocast_context(device: torch.device, dtype: torch.dtype | None) -> Any:
    if dtype is None:
        return nullcontext()
    return torch.autocast(device.type, dtype=dtype)


@torch.no_grad()
def collect_logits(
    model: nn.Module,
    loader: DataLoader,
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    progress: bool = True,
    desc: str = "eval",
    normalize: DeviceNormalize | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Logits (float32) and targets, ``N × C`` each, for a loader over an `IndexedDataset`.

    ``normalize`` finishes uint8 batches on the device (float batches pass unchanged).

    Under DDP every rank scores its shard; the shards are gathered, the DistributedSampler's
    padding duplicates dropped and the rows put back in data-set order, so every rank returns
    what a single process would.
    """
    model.eval()
    outputs, targets, indices = [], [], []
    bar = tqdm(loader, desc=desc, leave=False, disable=not (progress and is_main_process()))
    for images, target, index in bar:
        images = (normalize or _PASS)(images, device, channels_last)
        with autocast_context(device, amp_dtype):
            logits = model(images)
        outputs.append(logits.float().cpu())
        targets.append(target.cpu())
        indices.append(index.cpu())
    local = (
        torch.cat(outputs).numpy() if outputs else np.zeros((0, 0), np.float32),
        torch.cat(targets).numpy() if targets else np.zeros((0, 0), np.int64),
        torch.cat(indices).numpy() if indices else np.zeros(0, np.int64),
    )
    parts = [p for p in gather_objects(local) if p[2].size]
    all_logits = np.concatenate([p[0] for p in parts])
    all_targets = np.concatenate([p[1] for p in parts])
    all_indices = np.concatenate([p[2] for p in parts])
    _, first = np.unique(all_indices, return_index=True)  # sorted by index, duplicates dropped
    return all_logits[first], all_targets[first].astype(np.int64)


def per_class_rows(
    logits: np.ndarray,
    targets: np.ndarray,
    label_names: list[str],
    per_class_ap: np.ndarray,
    logit_thresholds: float | np.ndarray = 0.0,
) -> list[dict[str, Any]]:
    """Per-label AP (as given, in %), positives, precision, recall and F1 at the threshold
    (given in logits, reported as a probability)."""
    thresholds = np.broadcast_to(np.asarray(logit_thresholds, dtype=np.float64), (logits.shape[1],))
    predicted = logits >= thresholds
    positive = targets == 1
    correct = (predicted & positive).sum(0)
    n_pred, n_pos = predicted.sum(0), positive.sum(0)
    rows = []
    for c, name in enumerate(label_names):
        precision = 100.0 * correct[c] / n_pred[c] if n_pred[c] else 0.0
        recall = 100.0 * correct[c] / n_pos[c] if n_pos[c] else math.nan
        f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        rows.append(
            {
                "label": name,
                "AP": float(per_class_ap[c]),
                "positives": int(n_pos[c]),
                "ignored": int((targets[:, c] < 0).sum()),
                "threshold": float(sigmoid(thresholds[c])),
                "precision": float(precision),
                "recall": float(recall),
                "F1": float(f1),
            }
        )
    return rows


def _json_numbers(values: Any) -> float | list[float | None] | None:
    """A number or a list of them for JSON, which has none for NaN or ±inf: those are null."""
    array = np.asarray(values, dtype=np.float64)
    out = [float(v) if math.isfinite(v) else None for v in np.atleast_1d(array).tolist()]
    return out[0] if array.ndim == 0 else out


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or ±inf float, at any depth, replaced by ``None``."""
    if isinstance(value, Mapping):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_evaluation(
    out_dir: str | Path,
    name: str,
    logits: np.ndarray,
    targets: np.ndarray,
    label_names: list[str],
    threshold: float | np.ndarray = 0.5,
    checkpoint: str | None = None,
    config: dict[str, Any] | None = None,
    logit_thresholds: float | np.ndarray | None = None,
    ap_protocol: str = DEFAULT_AP_PROTOCOL,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Compute the metrics from ``logits`` and write ``metrics.json``, ``per_class.csv`` and
    ``scores.npz`` (``logits``, ``targets``, ``label_names``).

    ``threshold`` is in probability units (one, or one per class); ``logit_thresholds``, when
    given, replaces it with exact logit values (as `load_thresholds(..., logits=True)`).
    ``ap_protocol`` is the protocol of ``mAP``, per-class AP and ``AP_all``
    (`agcn_pyg.metrics.AP_PROTOCOLS`); ``metrics.json`` names it and holds every protocol's
    mAP as ``mAP_<name>``. ``extra``: more top-level fields of ``metrics.json`` (the trainer's
    model selection, `agcn_pyg.selection`), its NaN and ±inf written as null.
    """
    out_dir = Path(out_dir)
    logit_thr = logit_threshold(threshold) if logit_thresholds is None else logit_thresholds
    logit_thr = np.asarray(logit_thr, dtype=np.float64)
    threshold = sigmoid(logit_thr)
    metrics = compute_metrics(logits, targets, threshold=logit_thr, ap_protocol=ap_protocol)
    per_class_ap = np.asarray(metrics.pop("per_class_AP"), dtype=np.float64)
    protocol = metrics.pop("ap_protocol")
    scalars = {k: float(v) for k, v in metrics.items()}
    report = {
        "name": name,
        "label_names": list(label_names),
        "metrics": {k: (None if math.isnan(v) else v) for k, v in scalars.items()},
        "ap_protocol": protocol,
        "per_class_AP": _json_numbers(per_class_ap),
        "threshold": _json_numbers(threshold),
        # ±inf (never / always predicted) is null, with "threshold" 1 or 0 beside it
        "logit_threshold": _json_numbers(logit_thr),
        "num_images": int(logits.shape[0]),
        "checkpoint": checkpoint,
        "config": config,
    }
    report.update({k: json_safe(v) for k, v in (extra or {}).items() if k not in report})
    write_json(out_dir / "metrics.json", report)
    rows = per_class_rows(logits, targets, label_names, per_class_ap, logit_thr)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_text(out_dir / "per_class.csv", buffer.getvalue())
    save_npz(
        out_dir / "scores.npz",
        compressed=True,
        logits=np.asarray(logits, dtype=np.float32),
        targets=targets,
        label_names=np.array(label_names),
    )
    return report


def check_evaluation_folder(out_dir: str | Path, where: str = "--out") -> None:
    """``out_dir`` may receive an evaluation: absent, or a folder of `EVAL_FILES` only (it is
    replaced whole, so anything else in it would go with it): else `ConfigError`."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{where} {out_dir}: a file, not a folder")
    found = sorted(p.name for p in out_dir.iterdir()) if out_dir.is_dir() else []
    others = [name for name in found if name not in EVAL_FILES]
    if others:
        raise ConfigError(
            f"{where} {out_dir}: holds {others[0]!r}, which an evaluation did not write; the "
            "folder is replaced whole, so name a new one or one of an earlier evaluation"
        )


def commit_evaluation(out_dir: str | Path, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """`write_evaluation` into ``<out_dir>.next/``, then that folder replaces ``out_dir``
    whole (`check_evaluation_folder` first); returns the report."""
    out_dir = Path(out_dir)
    check_evaluation_folder(out_dir)
    staged = out_dir.with_name(f"{out_dir.name}.next")
    shutil.rmtree(staged, ignore_errors=True)  # a kill's leftover: never complete enough
    report = write_evaluation(staged, *args, **kwargs)
    replace_folder(staged, out_dir)
    return report


def read_scores(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``(scores, targets)`` from a ``scores.npz``: the logits, or for files written before
    logits were stored, their probabilities (AP, which only ranks, reads either)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            key = "logits" if "logits" in data.files else "scores"
            return np.asarray(data[key]), np.asarray(data["targets"])
    except FileNotFoundError:
        raise DataError(f"{path}: scores file not found") from None
    except (OSError, ValueError, KeyError) as err:
        raise DataError(f"{path}: not a scores.npz with logits and targets ({err})") from None


#: what a thresholds file says about its two lists, for the person who edits it
THRESHOLDS_NOTE = (
    "Edit 'thresholds' (probabilities, one per label). 'logit_thresholds' are their exact "
    "logits, used only while they still match; an edited probability takes effect."
)


def save_thresholds(path: str | Path, logit_thresholds: np.ndarray, label_names: list[str]) -> None:
    """Per-class thresholds as JSON: ``{"note", "label_names", "thresholds",
    "logit_thresholds"}``.

    ``thresholds`` are probabilities, the unit the user reads and edits; the exact logits
    beside them keep an evaluation exact where a probability near 1 has lost the digits
    (`load_thresholds` uses them only while their sigmoid is still the stored probability).
    """
    logits = np.asarray(logit_thresholds, dtype=np.float64)
    write_json(
        path,
        {
            "note": THRESHOLDS_NOTE,
            "label_names": list(label_names),
            "thresholds": [float(t) for t in sigmoid(logits)],
            "logit_thresholds": [float(t) for t in logits],
        },
    )


def load_thresholds(path: str | Path, label_names: list[str], logits: bool = False) -> np.ndarray:
    """Read a thresholds file (`save_thresholds`); the label order must match the model's.

    The file's unit is the probability (``thresholds``): probabilities by default; with
    ``logits`` their logits, ``log(p / (1 - p))`` (1 → +inf: never predicted, 0 → -inf:
    always). Where the file's ``logit_thresholds`` still have the stored probability as their
    sigmoid (an unedited file), those exact values are returned instead: a probability
    near 1 has lost the digits that tell tuned thresholds apart.

    Raises:
        DataError: one line naming the file (and the label, for a value that is not a
            probability).
    """
    path = Path(path)
    data = _read_thresholds_json(path)
    names = data.get("label_names")
    if not isinstance(names, list) or list(names) != list(label_names):
        raise DataError(f"{path}: thresholds are for another label list or order")
    thresholds = _numbers(path, data.get("thresholds"), label_names, "thresholds")
    bad = np.flatnonzero((thresholds < 0) | (thresholds > 1))
    if bad.size:
        c = int(bad[0])
        raise DataError(
            f"{path}: thresholds[{c}] (label {label_names[c]!r}) is {thresholds[c]:g}; "
            "thresholds are probabilities, in [0, 1]"
        )
    if not logits:
        return thresholds
    inside = (thresholds > 0) & (thresholds < 1)
    derived = np.where(thresholds >= 1, np.inf, -np.inf)
    derived[inside] = logit_threshold(thresholds[inside], where=str(path))
    stored = data.get("logit_thresholds")
    if stored is None:
        return derived
    exact = _numbers(path, stored, label_names, "logit_thresholds")
    # The stored logit stands for its probability only while the file still says so.
    unedited = sigmoid(exact) == thresholds
    return np.where(unedited, exact, derived)


def _read_thresholds_json(path: Path) -> dict[str, Any]:
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: thresholds file not found") from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise DataError(f"{path}: not a JSON thresholds file ({type(err).__name__})") from None
    if not isinstance(data, dict) or "label_names" not in data or "thresholds" not in data:
        raise DataError(f"{path}: expected {{'label_names': [...], 'thresholds': [...]}}")
    return data


def _numbers(path: Path, values: Any, label_names: list[str], key: str) -> np.ndarray:
    """``values`` as one finite float per label, or `DataError` naming the first label whose
    value is not a number."""
    if not isinstance(values, list) or len(values) != len(label_names):
        raise DataError(f"{path}: expected {len(label_names)} {key}, one per label, in a list")
    for index, (name, value) in enumerate(zip(label_names, values, strict=True)):
        if not is_number(value) or not math.isfinite(value):
            raise DataError(
                f"{path}: {key}[{index}] (label {name!r}) is {brief(value)}, expected a "
                "finite number"
            )
    return np.asarray(values, dtype=np.float64)
