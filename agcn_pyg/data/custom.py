"""Custom datasets from a CSV file with the header `image,labels`.

* `image`: a path relative to `image_dir` (or absolute).
* `labels`: names separated by `;`; whitespace around each name is stripped, empty pieces
  (`"cat;;dog"`, a trailing `;`) are dropped, names are case-sensitive.
* Label order: `label_names` (a list or a `labels.txt` file) fixes it, and a name outside it
  is a `DataError` naming the row. Without it, the order is the sorted set of names found.
* An empty label set is kept as an all-negative row and counted in the report.
* The same image twice: identical label sets -> the later row is dropped and counted;
  different label sets -> `DataError` naming both rows.
* A label repeated within a row counts once and is counted in the report.
* Extra columns are ignored. Blank lines are skipped.

Rows are named by their line number in the file (the header is line 1).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from agcn_pyg.data.assemble import assemble_dataset
from agcn_pyg.data.dataset import DataReport, MultiLabelDataset
from agcn_pyg.data.images import BadImagePolicy
from agcn_pyg.data.labels import LabelSource, resolve_label_names
from agcn_pyg.errors import DataError

LABEL_SEPARATOR = ";"
REQUIRED_COLUMNS = ("image", "labels")
LabelRow = tuple[int, str, list[str]]
"""One data row of the CSV: its line number, its image path as written, its label names."""


def _first_undecodable_line(file: Path) -> int | str:
    with file.open("rb") as raw:
        for number, line in enumerate(raw, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return "?"


def read_label_csv(csv_file: str | os.PathLike[str]) -> list[LabelRow]:
    """Parse the CSV into `(line, image, labels)` rows; any format error names file and line."""
    file = Path(csv_file)
    try:
        handle = file.open(encoding="utf-8-sig", newline="")
    except FileNotFoundError:
        raise DataError(f"{file}: CSV file not found") from None
    except OSError as err:
        raise DataError(f"{file}: cannot open CSV ({err})") from None
    rows: list[LabelRow] = []
    with handle:
        reader = csv.reader(handle, strict=True)
        try:
            header = next(reader, None)
            if header is None:
                raise DataError(f"{file}: empty CSV, expected the header 'image,labels'")
            columns = [column.strip() for column in header]
            for required in REQUIRED_COLUMNS:
                if required not in columns:
                    raise DataError(
                        f"{file}:1: header {','.join(columns)!r} has no {required!r} column "
                        "(expected 'image,labels')"
                    )
            if len(set(columns)) != len(columns):
                raise DataError(f"{file}:1: duplicate column names in header")
            image_col, labels_col = columns.index("image"), columns.index("labels")
            line = reader.line_num
            for record in reader:
                row_line, line = line + 1, reader.line_num
                if not record or all(not cell.strip() for cell in record):
                    continue
                if len(record) != len(columns):
                    raise DataError(
                        f"{file}:{row_line}: {len(record)} fields, header has {len(columns)}"
                    )
                image = record[image_col].strip()
                if not image:
                    raise DataError(f"{file}:{row_line}: empty image path")
                pieces = [piece.strip() for piece in record[labels_col].split(LABEL_SEPARATOR)]
                rows.append((row_line, image, [piece for piece in pieces if piece]))
        except csv.Error as err:
            raise DataError(f"{file}:{reader.line_num}: malformed CSV ({err})") from None
        except UnicodeDecodeError as err:
            line = _first_undecodable_line(file)
            raise DataError(f"{file}:{line}: not UTF-8 text ({err.reason})") from None
    if not rows:
        raise DataError(f"{file}: no data rows after the header")
    return rows


def from_csv(
    csv_file: str | os.PathLike[str],
    image_dir: str | os.PathLike[str] | None = None,
    label_names: LabelSource | None = None,
    *,
    transform: Callable[[Any], Any] | None = None,
    name: str | None = None,
    check_files: bool = True,
    on_bad_image: BadImagePolicy = "error",
    progress: bool = False,
) -> MultiLabelDataset:
    """Build a dataset from `image,labels` rows (see module doc for every rule).

    Args:
        csv_file: the CSV file.
        image_dir: base folder of relative image paths; defaults to the CSV's folder.
        label_names: fixed label order (list or `labels.txt`); None: sorted names found.
    """
    file = Path(csv_file)
    rows = read_label_csv(file)
    base = Path(image_dir) if image_dir is not None else file.parent
    report = DataReport(name or f"csv/{file.stem}")
    names = _label_order(rows, label_names, file)
    paths, targets = _rows_to_targets(rows, names, base, file, report)
    return assemble_dataset(
        paths,
        targets,
        names,
        report,
        transform=transform,
        check_files=check_files,
        on_bad_image=on_bad_image,
        progress=progress,
    )


def _label_order(rows: list[LabelRow], label_names: LabelSource | None, file: Path) -> list[str]:
    """``label_names`` when given, else the sorted set of names the rows use."""
    if label_names is not None:
        return resolve_label_names(label_names)
    names = sorted({label for _, _, labels in rows for label in labels})
    if not names:
        raise DataError(f"{file}: no labels in any row and no label list given")
    return names


def _rows_to_targets(
    rows: list[LabelRow],
    names: list[str],
    base: Path,
    file: Path,
    report: DataReport,
) -> tuple[list[Path], np.ndarray]:
    """The image paths and N×C {0, 1} targets of the rows kept (module doc: repeated labels,
    empty label sets and duplicate rows are recorded in ``report``, an unknown label or an
    image listed again with other labels is a `DataError` naming the line)."""
    column = {label: index for index, label in enumerate(names)}
    first_row: dict[Path, tuple[int, frozenset[str]]] = {}
    kept_paths: list[Path] = []
    kept_targets: list[np.ndarray] = []
    for line, image, labels in rows:
        unique = list(dict.fromkeys(labels))
        if len(unique) != len(labels):
            report.count("rows with a repeated label (counted once)", f"line {line}")
        for label in unique:
            if label not in column:
                raise DataError(
                    f"{file}:{line}: unknown label {label!r} (not in the label list of "
                    f"{len(names)} names)"
                )
        path = Path(image) if Path(image).is_absolute() else base / image
        key = Path(os.path.normpath(path))
        label_set = frozenset(unique)
        if key in first_row:
            earlier, earlier_set = first_row[key]
            if earlier_set != label_set:
                raise DataError(
                    f"{file}:{line}: image {image!r} repeats line {earlier} with different labels"
                )
            report.skip("duplicate rows (same image, same labels)", f"line {line}")
            continue
        first_row[key] = (line, label_set)
        if not unique:
            report.count("rows with an empty label set (kept as all-negative)", f"line {line}")
        target = np.zeros(len(names), dtype=np.int8)
        target[[column[label] for label in unique]] = 1
        kept_paths.append(path)
        kept_targets.append(target)
    return kept_paths, np.stack(kept_targets)
