"""Batched inference on image files; unreadable files are skipped and reported."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from agcn_pyg.data.images import image_for
from agcn_pyg.data.transforms import DeviceNormalize
from agcn_pyg.engine.evaluate import autocast_context
from agcn_pyg.errors import AgcnError, DataError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm"}


def gather_images(inputs: Iterable[str | Path], list_file: str | Path | None = None) -> list[Path]:
    """Image paths from files, folders (recursively, by suffix) and a UTF-8 list file (one
    path a line, relative to the list's folder; ``#`` starts a comment).

    Every named path must exist: a missing one is a `DataError` naming it (the first, and
    how many more), raised before any work, so that a typo never yields a partial output.
    Files that exist but do not decode are `predict_files`' to skip and report.
    """
    named: list[tuple[Path, str]] = [(Path(item).expanduser(), "") for item in inputs]
    if list_file is not None:
        named += _list_entries(Path(list_file).expanduser())
    missing = [(path, where) for path, where in named if not path.exists()]
    if missing:
        path, where = missing[0]
        more = f" (and {len(missing) - 1} more missing)" if len(missing) > 1 else ""
        raise DataError(f"{where}{path}: no such image file or folder{more}")
    paths: list[Path] = []
    for path, _ in named:
        if path.is_dir():
            paths.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES))
        else:
            paths.append(path)
    return paths


def _list_entries(list_path: Path) -> list[tuple[Path, str]]:
    """``(path, "<list>:<line>: ")`` for every entry of a list file."""
    if not list_path.is_file():
        raise DataError(f"{list_path}: list file not found")
    try:
        text = list_path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        line = list_path.read_bytes()[: err.start].count(b"\n") + 1
        raise DataError(f"{list_path}:{line}: not UTF-8 text") from None
    except OSError as err:
        raise DataError(f"{list_path}: cannot read the list file ({err.strerror})") from None
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            path = Path(line).expanduser()
            entries.append(
                (path if path.is_absolute() else list_path.parent / path, f"{list_path}:{number}: ")
            )
    return entries


class _ImageFiles(Dataset):
    def __init__(self, paths: Sequence[Path], transform: Callable[[Any], Any]) -> None:
        self.paths = list(paths)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[Any, int, str]:
        try:
            image = image_for(self.transform, self.paths[index])
            return image, index, ""
        except (AgcnError, OSError) as err:
            return torch.zeros(0), index, str(err).splitlines()[0] if str(err) else "unreadable"


def _collate(batch: list[tuple[Any, int, str]]) -> tuple[Any, list[int], list[tuple[int, str]]]:
    good = [(img, i) for img, i, err in batch if not err]
    bad = [(i, err) for _, i, err in batch if err]
    images = torch.stack([img for img, _ in good]) if good else None
    return images, [i for _, i in good], bad


@torch.no_grad()
def predict_files(
    model: nn.Module,
    paths: Sequence[Path],
    transform: Callable[[Any], Any],
    batch_size: int = 32,
    workers: int = 0,
    device: torch.device | str = "cpu",
    amp_dtype: torch.dtype | None = None,
    progress: bool = True,
    normalize: DeviceNormalize | None = None,
) -> tuple[np.ndarray, list[Path], list[tuple[Path, str]]]:
    """Logits ``N_ok × C`` (float32) for the readable files, those files, and the skipped ones.

    ``normalize`` finishes the batches of a uint8 ``transform`` on the device
    (`agcn_pyg.engine.inputs.test_pipeline` gives both).
    """
    device = torch.device(device)
    model.eval()
    loader = DataLoader(
        _ImageFiles(paths, transform),
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=_collate,
        pin_memory=device.type == "cuda",
    )
    normalize = normalize or DeviceNormalize()
    outputs: list[torch.Tensor] = []
    kept: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for images, indices, bad in tqdm(loader, desc="predict", leave=False, disable=not progress):
        skipped.extend((paths[i], err) for i, err in bad)
        if images is None:
            continue
        with autocast_context(device, amp_dtype):
            logits = model(normalize(images, device))
        outputs.append(logits.float().cpu())
        kept.extend(paths[i] for i in indices)
    num_classes = getattr(model, "num_classes", 0)
    out = torch.cat(outputs).numpy() if outputs else np.zeros((0, num_classes), np.float32)
    return out, kept, skipped
