"""`MultiLabelDataset`: image paths, a fixed label order and an N×C target matrix.

Targets use one int8 code per (image, label):

* `1`  present,
* `0`  absent,
* `-1` difficult / unknown: to be ignored by the loss and the metrics (VOC "difficult",
  COCO crowd-only labels with `crowd="ignore"`). `agcn_pyg.data.targets` maps `-1` for the
  loss according to the trainer's difficult-label policy.

`__getitem__(i)` returns `(image, target)`: the image after `transform` (a uint8 C×H×W tensor
when `transform` is None) and `target`, a C-vector of dtype `torch.long`. A transform with
``takes_tensors`` (the engine's uint8 `TensorCompose`) receives `decode_image`'s uint8 tensor,
any other a PIL image from `load_image`.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from agcn_pyg.data.images import BadImagePolicy, check_bad_image_policy, image_for, scan_images
from agcn_pyg.data.labels import validate_label_names
from agcn_pyg.errors import DataError

MAX_EXAMPLES = 3


@dataclass
class DataReport:
    """What a builder left out (`skipped`) or noticed (`counted`), with a few example items.

    `skipped` entries are removed from the dataset; `counted` entries are kept (for example
    rows with an empty label set, which stay as all-negative rows).
    """

    source: str = ""
    skipped: Counter[str] = field(default_factory=Counter)
    counted: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def skip(self, reason: str, example: str | None = None, count: int = 1) -> None:
        self.skipped[reason] += count
        self._example(reason, example)

    def count(self, reason: str, example: str | None = None, count: int = 1) -> None:
        self.counted[reason] += count
        self._example(reason, example)

    def _example(self, reason: str, example: str | None) -> None:
        if example is not None:
            bucket = self.examples.setdefault(reason, [])
            if len(bucket) < MAX_EXAMPLES:
                bucket.append(example)

    def merged(self, other: DataReport) -> DataReport:
        out = DataReport(self.source or other.source)
        for report in (self, other):
            out.skipped.update(report.skipped)
            out.counted.update(report.counted)
            for reason, items in report.examples.items():
                for item in items:
                    out._example(reason, item)
            out.notes.extend(note for note in report.notes if note not in out.notes)
        return out

    def lines(self) -> list[str]:
        out: list[str] = []
        for title, counter in (("skipped", self.skipped), ("counted", self.counted)):
            for reason, number in sorted(counter.items()):
                example = self.examples.get(reason)
                suffix = f" (e.g. {', '.join(example)})" if example else ""
                out.append(f"{title}: {number} {reason}{suffix}")
        out.extend(f"note: {note}" for note in self.notes)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "skipped": dict(self.skipped),
            "counted": dict(self.counted),
            "examples": {key: list(value) for key, value in self.examples.items()},
            "notes": list(self.notes),
        }


def _as_target_matrix(targets: Any, n_images: int, n_labels: int, where: str) -> torch.Tensor:
    matrix = torch.as_tensor(np.asarray(targets))
    if matrix.ndim != 2 or tuple(matrix.shape) != (n_images, n_labels):
        raise DataError(
            f"{where}: targets have shape {tuple(matrix.shape)}, expected ({n_images}, {n_labels})"
        )
    if matrix.is_floating_point() and not torch.equal(matrix, matrix.round()):
        raise DataError(f"{where}: targets must be integers in {{-1, 0, 1}}")
    matrix = matrix.to(torch.int64)
    bad = (matrix < -1) | (matrix > 1)
    if bool(bad.any()):
        row, col = (int(v) for v in bad.nonzero()[0])
        raise DataError(
            f"{where}: target value {int(matrix[row, col])} at image {row}, label {col}; "
            "expected 1 (present), 0 (absent) or -1 (ignore)"
        )
    return matrix.to(torch.int8)


class MultiLabelDataset(Dataset[tuple[Any, torch.Tensor]]):
    """A multi-label image dataset with a fixed label order.

    Args:
        image_paths: N image files.
        targets: N×C integers in {1, 0, -1} (see module doc).
        label_names: C names; their order is the label order everywhere downstream.
        transform: applied to the RGB `PIL.Image`; None returns a uint8 C×H×W tensor.
        name: split name used in messages and statistics, e.g. "coco2014/train".
        report: what the builder skipped or counted.
        check_files: stat every file now; missing and zero-byte files are handled per
            `on_bad_image` ("error": one `DataError` listing them; "skip": removed, counted).
        on_bad_image: "error" or "skip"; also the default for `check_images`.
        progress: show a tqdm bar while checking files.
    """

    def __init__(
        self,
        image_paths: Sequence[str | os.PathLike[str]],
        targets: Any,
        label_names: Sequence[str],
        transform: Callable[[Any], Any] | None = None,
        *,
        name: str = "dataset",
        report: DataReport | None = None,
        check_files: bool = True,
        on_bad_image: BadImagePolicy = "error",
        progress: bool = False,
    ) -> None:
        self.name = name
        self.label_names: list[str] = validate_label_names(label_names, where=name)
        self.image_paths: list[Path] = [Path(path) for path in image_paths]
        self.targets: torch.Tensor = _as_target_matrix(
            targets, len(self.image_paths), len(self.label_names), name
        )
        self.transform = transform
        self.on_bad_image = check_bad_image_policy(on_bad_image)
        self.report = report if report is not None else DataReport(name)
        if check_files:
            self._check_files(progress)

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    def __len__(self) -> int:
        return len(self.image_paths)

    def __getitem__(self, index: int) -> tuple[Any, torch.Tensor]:
        image = image_for(self.transform, self.image_paths[index])
        return image, self.targets[index].to(torch.long)

    def __repr__(self) -> str:
        return f"MultiLabelDataset({self.name!r}, images={len(self)}, labels={self.num_classes})"

    def _keep(self, keep: Sequence[bool]) -> None:
        mask = torch.as_tensor(list(keep), dtype=torch.bool)
        self.image_paths = [path for path, ok in zip(self.image_paths, keep, strict=True) if ok]
        self.targets = self.targets[mask]

    def _check_files(self, progress: bool) -> None:
        problems: list[tuple[int, str]] = []
        iterator = tqdm(
            self.image_paths,
            desc=f"{self.name}: finding images",
            unit="img",
            disable=not progress,
        )
        for index, path in enumerate(iterator):
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                problems.append((index, "missing image file"))
                continue
            except OSError:
                problems.append((index, "inaccessible image file"))
                continue
            if size == 0:
                problems.append((index, "empty image file (0 bytes)"))
        if not problems:
            return
        if self.on_bad_image == "error":
            first = ", ".join(str(self.image_paths[i]) for i, _ in problems[:MAX_EXAMPLES])
            kinds = Counter(reason for _, reason in problems)
            summary = "; ".join(f"{count} {reason}" for reason, count in sorted(kinds.items()))
            raise DataError(
                f"{self.name}: {summary} (first: {first}); "
                "fix the paths, or leave them out with on_bad_image=skip in the split's builder "
                "arguments (e.g. data.train.on_bad_image=skip)"
            )
        bad = dict(problems)
        for index, reason in problems:
            self.report.skip(reason, str(self.image_paths[index]))
        self._keep([index not in bad for index in range(len(self))])

    def check_images(
        self,
        *,
        on_bad_image: BadImagePolicy | None = None,
        cache_file: str | os.PathLike[str] | None = None,
        workers: int | None = None,
        progress: bool = True,
    ) -> DataReport:
        """Decode every image once (cached by path, size and mtime); handle failures.

        "error": raise one `DataError` naming the first unreadable files. "skip": remove them
        from this dataset and count them in `self.report`. Source colour modes that needed a
        conversion are counted in the report.
        """
        policy = check_bad_image_policy(on_bad_image or self.on_bad_image)
        result = scan_images(
            self.image_paths,
            cache_file=cache_file,
            workers=workers,
            progress=progress,
            desc=f"{self.name}: decoding images",
        )
        for mode, number in sorted(result.modes.items()):
            if mode != "RGB":
                self.report.counted[f"images converted to RGB from mode {mode}"] = number
        if result.errors:
            if policy == "error":
                first = list(result.errors.values())[:MAX_EXAMPLES]
                more = len(result.errors) - len(first)
                tail = f" (and {more} more)" if more else ""
                raise DataError(
                    f"{self.name}: {len(result.errors)} unreadable image(s): "
                    + " | ".join(first)
                    + tail
                )
            for error in result.errors.values():
                self.report.skip("unreadable image (corrupt, truncated or unsupported)", error)
            self._keep([str(path) not in result.errors for path in self.image_paths])
        return self.report

    def subset(self, indices: Sequence[int], *, name: str | None = None) -> MultiLabelDataset:
        """A new dataset with the given rows, the same labels, transform and report."""
        index = list(indices)
        out = MultiLabelDataset.__new__(MultiLabelDataset)
        out.name = name or self.name
        out.label_names = list(self.label_names)
        out.image_paths = [self.image_paths[i] for i in index]
        out.targets = self.targets[torch.as_tensor(index, dtype=torch.long)]
        out.transform = self.transform
        out.on_bad_image = self.on_bad_image
        out.report = DataReport(out.name).merged(self.report)
        return out

    def with_transform(self, transform: Callable[[Any], Any] | None) -> MultiLabelDataset:
        """The same rows with another transform (train vs test view of one split)."""
        out = self.subset(range(len(self)))
        out.transform = transform
        return out
