"""Fashion550K (Inoue et al., ICCVW 2017): 66 tags, noisy labels for all photos, verified
labels for a 3,000 / 300 / 2,000 train / val / test subset.

The release could not be inspected while writing this loader, so every file name is
configurable (`files=`) and every file is checked against the shapes below; a file that
differs is a `DataError` naming it. Default layout under `root` (see
`datasets/fashion550k/README.md`):

* `photos.txt`: one image path per line (relative to `image_dir`, default `root`); N lines.
* `labels.txt`: the tag names, one per line; C = 66 lines.
* `annotation/noisy.npy`: N×C, values {0, 1}: the automatically collected (noisy) tags.
* `annotation/verified.npy`: verified tags, values {0, 1}; either N×C (row i = photo i) or
  V×C with V = |train| + |val| + |test| (rows = train ids, then val ids, then test ids). The
  second form must be asked for with `verified_rows="splits"`: it is never guessed.
* `trainids.npy`, `validids.npy`, `testids.npy`: 1-D integer indices into `photos.txt`.
* `duplicateids.npy` (optional): indices of duplicate photos, left out of the noisy set.

Splits: `split="train", labels="noisy"` is the noisy set: every photo that is not a verified
train / val / test photo and not a duplicate, with its noisy tags (the paper's first
setting). `labels="clean"` gives the verified tags of the chosen split (the paper's
fine-tuning and all evaluation). `labels="noisy"` on val / test gives the same photos with
their noisy tags, for label-noise analysis only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from agcn_pyg.data.assemble import assemble_dataset
from agcn_pyg.data.dataset import DataReport, MultiLabelDataset
from agcn_pyg.data.images import BadImagePolicy
from agcn_pyg.data.labels import read_label_file, read_line_list
from agcn_pyg.errors import ConfigError, DataError

FASHION550K_FILES: dict[str, str] = {
    "photos": "photos.txt",
    "tags": "labels.txt",
    "noisy": "annotation/noisy.npy",
    "verified": "annotation/verified.npy",
    "train_ids": "trainids.npy",
    "val_ids": "validids.npy",
    "test_ids": "testids.npy",
    "duplicate_ids": "duplicateids.npy",
}
FASHION550K_NUM_TAGS = 66
FASHION550K_SPLIT_SIZES = {"train": 3000, "val": 300, "test": 2000}
Fashion550kSplit = Literal["train", "val", "test"]
Fashion550kLabels = Literal["noisy", "clean"]
VerifiedRows = Literal["auto", "photo", "splits"]
FASHION550K_SPLITS: tuple[str, ...] = get_args(Fashion550kSplit)
FASHION550K_LABELS: tuple[str, ...] = get_args(Fashion550kLabels)
VERIFIED_ROWS: tuple[str, ...] = get_args(VerifiedRows)
_SEE_README = " (see datasets/fashion550k/README.md)"


def _load_matrix(file: Path) -> np.ndarray:
    if not file.is_file():
        raise DataError(f"{file}: file not found{_SEE_README}")
    try:
        if file.suffix == ".npy":
            return np.load(file, allow_pickle=False)
        return np.loadtxt(file, dtype=np.float64, ndmin=2)
    except (OSError, ValueError, EOFError) as err:
        raise DataError(f"{file}: cannot read array ({err})") from None


def _binary_matrix(file: Path, rows: int | None, columns: int) -> np.ndarray:
    matrix = _load_matrix(file)
    wrong_rows = rows is not None and matrix.shape[0] != rows
    if matrix.ndim != 2 or matrix.shape[1] != columns or wrong_rows:
        want = f"({rows if rows is not None else 'V'}, {columns})"
        raise DataError(f"{file}: shape {matrix.shape}, expected {want}")
    if not (np.issubdtype(matrix.dtype, np.number) or matrix.dtype == np.bool_):
        raise DataError(f"{file}: dtype {matrix.dtype} is not numeric")
    bad = ~np.isin(matrix, (0, 1))
    if bad.any():
        row, col = (int(v) for v in np.argwhere(bad)[0])
        value = matrix[row, col].item()
        raise DataError(f"{file}: value {value!r} at row {row}, column {col}; expected 0 or 1")
    return matrix.astype(np.int8)


def _ids(file: Path, n_photos: int, *, required: bool = True) -> np.ndarray | None:
    if not file.is_file():
        if required:
            raise DataError(f"{file}: file not found{_SEE_README}")
        return None
    ids = _load_matrix(file)
    if ids.ndim == 2 and 1 in ids.shape:
        ids = ids.reshape(-1)
    if ids.ndim != 1:
        raise DataError(f"{file}: shape {ids.shape}, expected a 1-D list of photo indices")
    integral = np.issubdtype(ids.dtype, np.integer) or np.all(np.equal(np.mod(ids, 1), 0))
    if ids.size and not integral:
        raise DataError(f"{file}: photo indices must be integers")
    ids = ids.astype(np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= n_photos):
        raise DataError(f"{file}: photo index out of range 0..{n_photos - 1}")
    if np.unique(ids).size != ids.size:
        raise DataError(f"{file}: a photo index is listed twice")
    return ids


def fashion550k(
    root: str | os.PathLike[str],
    split: Fashion550kSplit = "train",
    labels: Fashion550kLabels = "noisy",
    *,
    image_dir: str | os.PathLike[str] | None = None,
    files: Mapping[str, str] | None = None,
    num_tags: int | None = FASHION550K_NUM_TAGS,
    verified_rows: VerifiedRows = "auto",
    transform: Callable[[Any], Any] | None = None,
    name: str | None = None,
    check_files: bool = True,
    on_bad_image: BadImagePolicy = "error",
    progress: bool = False,
) -> MultiLabelDataset:
    """Build a Fashion550K split.

    Args:
        root: the release folder.
        split: "train", "val" or "test".
        labels: "noisy" or "clean" (verified).
        image_dir: base of the paths in `photos.txt`; defaults to `root`.
        files: overrides of `FASHION550K_FILES` entries (paths relative to `root`).
        num_tags: expected tag count (66); None accepts any count.
        verified_rows: "auto" (N rows = photo-indexed, else an error asking for one of the
            others), "photo" or "splits" (see module doc).
    """
    layout = _layout(Path(root), files)
    tags = _read_tags(layout["tags"], num_tags)
    photos = read_line_list(layout["photos"], "photo list", _SEE_README)
    n_photos = len(photos)
    split_ids = _read_split_ids(layout, n_photos)
    report = DataReport(name or f"fashion550k/{split}-{labels}")
    _note_unofficial_split_sizes(split_ids, layout, report)

    if labels == "noisy":
        noisy = _binary_matrix(layout["noisy"], n_photos, len(tags))
        if split == "train":
            rows = _noisy_set(split_ids, layout, n_photos, report)
        else:
            rows = split_ids[split]
        targets = noisy[rows]
    else:
        rows = split_ids[split]
        targets = _verified(
            layout["verified"], n_photos, len(tags), split_ids, split, verified_rows
        )

    image_base = Path(image_dir) if image_dir is not None else Path(root)
    return assemble_dataset(
        [image_base / photos[row] for row in rows],
        targets,
        tags,
        report,
        transform=transform,
        check_files=check_files,
        on_bad_image=on_bad_image,
        progress=progress,
    )


def _layout(base: Path, files: Mapping[str, str] | None) -> dict[str, Path]:
    """Every file of the release: `FASHION550K_FILES` with the ``files`` overrides, under
    ``base``; an unknown override key is a `ConfigError`."""
    unknown = set(files or {}) - set(FASHION550K_FILES)
    if unknown:
        raise ConfigError(
            f"unknown Fashion550K file key(s) {sorted(unknown)}; known: {sorted(FASHION550K_FILES)}"
        )
    return {key: base / value for key, value in {**FASHION550K_FILES, **(files or {})}.items()}


def _read_tags(file: Path, num_tags: int | None) -> list[str]:
    """The tag names (the label order), ``num_tags`` of them unless that is None."""
    tags = read_label_file(file)
    if num_tags is not None and len(tags) != num_tags:
        raise DataError(f"{file}: {len(tags)} tag names, expected {num_tags}")
    return tags


def _read_split_ids(layout: dict[str, Path], n_photos: int) -> dict[str, np.ndarray]:
    """The photo indices of the verified train, val and test splits, which must be disjoint."""
    split_ids: dict[str, np.ndarray] = {}
    for key in FASHION550K_SPLITS:
        ids = _ids(layout[f"{key}_ids"], n_photos)
        assert ids is not None
        split_ids[key] = ids
    for first, second in (("train", "val"), ("train", "test"), ("val", "test")):
        shared = np.intersect1d(split_ids[first], split_ids[second])
        if shared.size:
            other = layout[f"{first}_ids"].name
            raise DataError(f"{layout[f'{second}_ids']}: photo {int(shared[0])} is also in {other}")
    return split_ids


def _note_unofficial_split_sizes(
    split_ids: dict[str, np.ndarray], layout: dict[str, Path], report: DataReport
) -> None:
    """A note in ``report`` for each split whose size differs from the official one."""
    for key, expected in FASHION550K_SPLIT_SIZES.items():
        if split_ids[key].size != expected:
            report.notes.append(
                f"{layout[f'{key}_ids'].name} has {split_ids[key].size} photos; "
                f"the official {key} split has {expected}"
            )


def _noisy_set(
    split_ids: dict[str, np.ndarray], layout: dict[str, Path], n_photos: int, report: DataReport
) -> np.ndarray:
    """The photos of the noisy training set: all but the verified and the duplicate ones,
    which are counted (verified) or skipped (duplicates that are not verified) in ``report``."""
    excluded = np.zeros(n_photos, dtype=bool)
    for key in FASHION550K_SPLITS:
        excluded[split_ids[key]] = True
    report.count("verified photos left out of the noisy set", None, int(excluded.sum()))
    duplicates = _ids(layout["duplicate_ids"], n_photos, required=False)
    if duplicates is not None:
        dup_only = np.zeros(n_photos, dtype=bool)
        dup_only[duplicates] = True
        dup_only &= ~excluded
        if dup_only.any():
            report.skip("duplicate photos (duplicate ids file)", None, int(dup_only.sum()))
        excluded[duplicates] = True
    return np.flatnonzero(~excluded)


def _verified(
    file: Path,
    n_photos: int,
    n_tags: int,
    split_ids: dict[str, np.ndarray],
    split: str,
    verified_rows: str,
) -> np.ndarray:
    matrix = _binary_matrix(file, None, n_tags)
    n_verified = sum(ids.size for ids in split_ids.values())
    mode = verified_rows
    if mode == "auto":
        if matrix.shape[0] != n_photos:
            raise DataError(
                f"{file}: {matrix.shape[0]} rows, not one per photo ({n_photos}); if the rows "
                "are the train, val and test photos in that order, pass verified_rows='splits'"
            )
        mode = "photo"
    if mode == "photo":
        if matrix.shape[0] != n_photos:
            raise DataError(f"{file}: {matrix.shape[0]} rows, expected one per photo ({n_photos})")
        return matrix[split_ids[split]]
    if matrix.shape[0] != n_verified:
        raise DataError(
            f"{file}: {matrix.shape[0]} rows, expected train+val+test = {n_verified} "
            "(verified_rows='splits')"
        )
    start = 0
    for key in FASHION550K_SPLITS:
        stop = start + split_ids[key].size
        if key == split:
            return matrix[start:stop]
        start = stop
    raise AssertionError("unreachable")
