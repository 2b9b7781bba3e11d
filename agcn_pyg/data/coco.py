"""MS-COCO 2014 (`instances_{train,val}2014.json`) as a multi-label dataset.

* Label order: `order="name"` (default) sorts the 80 category names alphabetically, which is
  the order of ML-GCN's `category.json` and therefore of its `coco_adj.pkl` and
  `coco_glove_word2vec.pkl` (and of A-GCN, built on ML-GCN). `order="id"` uses ascending
  COCO category id (1..90 with gaps), the order of the JSON file.
* Images without any annotation are excluded and counted ("image without annotations"):
  train2014 keeps 82,081 of 82,783, val2014 40,137 of 40,504.
* `iscrowd=1` annotations: `crowd="positive"` (default, ML-GCN's behaviour and the one that
  gives the paper's split sizes) counts them like any other instance; `crowd="ignore"` marks a
  class that appears *only* as crowd in an image as -1 (ignored by loss and metrics).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from agcn_pyg.data.assemble import assemble_dataset
from agcn_pyg.data.dataset import DataReport, MultiLabelDataset
from agcn_pyg.data.images import BadImagePolicy
from agcn_pyg.data.labels import LabelSource, check_label_order, resolve_label_names
from agcn_pyg.errors import DataError

CocoOrder = Literal["name", "id"]
CrowdPolicy = Literal["positive", "ignore"]
COCO_ORDERS: tuple[str, ...] = get_args(CocoOrder)
CROWD_POLICIES: tuple[str, ...] = get_args(CrowdPolicy)


def read_json(path: str | os.PathLike[str]) -> Any:
    """Parse a JSON file; any failure is a `DataError` naming the file (and line, column)."""
    file = Path(path)
    try:
        with file.open("rb") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise DataError(f"{file}: annotation file not found") from None
    except json.JSONDecodeError as err:
        raise DataError(
            f"{file}: malformed JSON at line {err.lineno}, column {err.colno}: {err.msg}"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{file}: cannot read JSON ({err})") from None


def _field(record: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected an object, got {type(record).__name__}")
    if key not in record:
        raise DataError(f"{where}: missing field {key!r}")
    value = record[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise DataError(f"{where}: field {key!r} has type {type(value).__name__}")
    return value


def coco(
    ann_file: str | os.PathLike[str],
    image_dir: str | os.PathLike[str],
    *,
    transform: Callable[[Any], Any] | None = None,
    order: CocoOrder = "name",
    crowd: CrowdPolicy = "positive",
    label_names: LabelSource | None = None,
    name: str | None = None,
    check_files: bool = True,
    on_bad_image: BadImagePolicy = "error",
    progress: bool = False,
) -> MultiLabelDataset:
    """Build a COCO split from an `instances_*.json` file and its image folder.

    Args:
        ann_file: `instances_train2014.json` or `instances_val2014.json`.
        image_dir: folder holding the `file_name`s of that JSON (e.g. `train2014/`).
        order: "name" (alphabetical, ML-GCN order) or "id" (ascending category id).
        crowd: "positive" or "ignore" (see module doc).
        label_names: optional expected order (list or `labels.txt`); a mismatch is a
            `DataError` naming the first difference.
    """
    file = Path(ann_file)
    sections = _read_sections(file)
    categories = _read_categories(sections["categories"], file)
    if order == "name":
        ordered_ids = sorted(categories, key=lambda cid: categories[cid])
    else:
        ordered_ids = sorted(categories)
    names = [categories[cid] for cid in ordered_ids]
    if label_names is not None:
        check_label_order(resolve_label_names(label_names), names, where=str(file))
    images = _read_images(sections["images"], file)
    targets, annotated = _annotation_targets(
        sections["annotations"], file, list(images), ordered_ids, crowd
    )
    report = DataReport(name or f"coco/{file.stem}")
    paths, targets = _drop_unannotated(list(images.values()), targets, annotated, image_dir, report)
    crowd_rows = int(((targets == -1).any(axis=1) & ~(targets == 1).any(axis=1)).sum())
    if crowd_rows:
        report.count("images with only crowd annotations (all labels ignored)", None, crowd_rows)
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


def _read_sections(file: Path) -> dict[str, list[Any]]:
    """The `images`, `annotations` and `categories` lists of the annotation file."""
    data = read_json(file)
    if not isinstance(data, dict):
        raise DataError(f"{file}: expected a JSON object with images, annotations, categories")
    return {
        key: _field(data, key, list, str(file)) for key in ("images", "annotations", "categories")
    }


def _read_categories(records: list[Any], file: Path) -> dict[int, str]:
    """Category id -> name, in file order; ids and names must be unique, and at least one."""
    categories: dict[int, str] = {}
    for i, category in enumerate(records):
        where = f"{file}: categories[{i}]"
        cat_id = _field(category, "id", int, where)
        cat_name = _field(category, "name", str, where)
        if cat_id in categories:
            raise DataError(f"{where}: duplicate category id {cat_id}")
        if cat_name in categories.values():
            raise DataError(f"{where}: duplicate category name {cat_name!r}")
        categories[cat_id] = cat_name
    if not categories:
        raise DataError(f"{file}: no categories")
    return categories


def _read_images(records: list[Any], file: Path) -> dict[int, str]:
    """Image id -> file name, in file order; each id and each file name appears once."""
    images: dict[int, str] = {}
    id_of_file: dict[str, int] = {}
    for i, image in enumerate(records):
        where = f"{file}: images[{i}]"
        image_id = _field(image, "id", int, where)
        file_name = _field(image, "file_name", str, where)
        if image_id in images:
            raise DataError(f"{where}: duplicate image id {image_id}")
        if file_name in id_of_file:
            # Two ids for one picture: its labels would be split over two rows.
            raise DataError(
                f"{where}: file_name {file_name!r} also belongs to image id "
                f"{id_of_file[file_name]}; each image needs one id"
            )
        images[image_id] = file_name
        id_of_file[file_name] = image_id
    return images


def _annotation_targets(
    records: list[Any],
    file: Path,
    image_ids: list[int],
    category_ids: list[int],
    crowd: CrowdPolicy,
) -> tuple[np.ndarray, np.ndarray]:
    """Targets of every image (N×C int8: 1 an instance, -1 only crowd instances under
    ``crowd="ignore"``, else 0) and whether each has any annotation (N bools)."""
    row_of = {image_id: row for row, image_id in enumerate(image_ids)}
    column = {cat_id: index for index, cat_id in enumerate(category_ids)}
    normal = np.zeros((len(image_ids), len(category_ids)), dtype=bool)
    crowd_only = np.zeros_like(normal)
    annotated = np.zeros(len(image_ids), dtype=bool)
    for i, annotation in enumerate(records):
        where = f"{file}: annotations[{i}]"
        image_id = _field(annotation, "image_id", int, where)
        cat_id = _field(annotation, "category_id", int, where)
        is_crowd = annotation.get("iscrowd", 0) if isinstance(annotation, dict) else 0
        if is_crowd not in (0, 1) or isinstance(is_crowd, float):
            raise DataError(f"{where}: iscrowd must be 0 or 1, got {is_crowd!r}")
        if image_id not in row_of:
            raise DataError(f"{where}: image_id {image_id} is not in images")
        if cat_id not in column:
            raise DataError(f"{where}: category_id {cat_id} is not in categories")
        row = row_of[image_id]
        annotated[row] = True
        if is_crowd and crowd == "ignore":
            crowd_only[row, column[cat_id]] = True
        else:
            normal[row, column[cat_id]] = True
    targets = np.where(normal, 1, np.where(crowd_only, -1, 0)).astype(np.int8)
    return targets, annotated


def _drop_unannotated(
    file_names: list[str],
    targets: np.ndarray,
    annotated: np.ndarray,
    image_dir: str | os.PathLike[str],
    report: DataReport,
) -> tuple[list[Path], np.ndarray]:
    """The paths and targets of the annotated images; the others are skipped in ``report``."""
    for row in np.flatnonzero(~annotated):
        report.skip("image without annotations", file_names[row])
    keep = np.flatnonzero(annotated)
    base = Path(image_dir)
    return [base / file_names[row] for row in keep], targets[keep]


def coco_label_names(ann_file: str | os.PathLike[str], order: CocoOrder = "name") -> list[str]:
    """The label order `coco()` would use for this annotation file."""
    data = read_json(ann_file)
    categories = _field(data, "categories", list, str(ann_file))
    pairs: list[tuple[int, str]] = []
    for i, category in enumerate(categories):
        where = f"{ann_file}: categories[{i}]"
        pairs.append((_field(category, "id", int, where), _field(category, "name", str, where)))
    key = (lambda p: p[1]) if order == "name" else (lambda p: p[0])
    return [label for _, label in sorted(pairs, key=key)]


__all__ = ["coco", "coco_label_names", "read_json"]
