"""PASCAL VOC 2007 classification sets from `ImageSets/Main/<class>_<split>.txt`.

Each class file lists every image of the split with a value: `1` present, `-1` absent,
`0` difficult (the object is only present as "difficult" instances). The mapping to target
codes is `1 -> 1`, `-1 -> 0`, `0 -> -1` (ignored). Whether the trainer masks difficult
labels or treats them as positive, as ML-GCN does, is its `difficult` option, applied with
`agcn_pyg.data.targets.apply_difficult_policy`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from agcn_pyg.data.assemble import assemble_dataset
from agcn_pyg.data.dataset import DataReport, MultiLabelDataset
from agcn_pyg.data.images import BadImagePolicy
from agcn_pyg.errors import DataError

VOC_CLASSES: tuple[str, ...] = (
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)
VocSplit = Literal["train", "val", "trainval", "test"]
VOC_SPLITS: tuple[str, ...] = get_args(VocSplit)
_VALUE_TO_TARGET = {1: 1, -1: 0, 0: -1}


def find_voc_root(root: str | os.PathLike[str]) -> Path:
    """Accept `VOC2007/`, its parent `VOCdevkit/`, or the folder holding `VOCdevkit/`."""
    base = Path(root)
    for candidate in (base, base / "VOC2007", base / "VOCdevkit" / "VOC2007"):
        if (candidate / "ImageSets" / "Main").is_dir():
            return candidate
    raise DataError(
        f"{base}: no ImageSets/Main found here, in VOC2007/ or in VOCdevkit/VOC2007/ "
        "(see datasets/voc2007/README.md for the expected layout)"
    )


def _read_class_file(file: Path) -> dict[str, int]:
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{file}: class list not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{file}: cannot read ({err})") from None
    values: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2:
            raise DataError(f"{file}:{number}: expected '<image id> <1|-1|0>', got {line!r}")
        image_id, raw = parts
        try:
            value = int(raw)
        except ValueError:
            raise DataError(f"{file}:{number}: value {raw!r} is not 1, -1 or 0") from None
        if value not in _VALUE_TO_TARGET:
            raise DataError(f"{file}:{number}: value {value} is not 1, -1 or 0")
        if image_id in values:
            raise DataError(f"{file}:{number}: image {image_id} is listed twice")
        values[image_id] = value
    if not values:
        raise DataError(f"{file}: no images listed")
    return values


def voc2007(
    root: str | os.PathLike[str],
    split: VocSplit = "trainval",
    *,
    transform: Callable[[Any], Any] | None = None,
    name: str | None = None,
    check_files: bool = True,
    on_bad_image: BadImagePolicy = "error",
    progress: bool = False,
) -> MultiLabelDataset:
    """Build a VOC 2007 split ("train", "val", "trainval" or "test").

    Image order follows `<split>.txt` when present, else the first class file. Every class file
    must list exactly the same images; otherwise a `DataError` names the file and an image.
    """
    voc = find_voc_root(root)
    main = voc / "ImageSets" / "Main"
    per_class = [_read_class_file(main / f"{cls}_{split}.txt") for cls in VOC_CLASSES]
    split_file = main / f"{split}.txt"
    if split_file.is_file():
        order = [
            line.strip()
            for line in split_file.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        reference, reference_name = set(order), split_file.name
        if len(reference) != len(order):
            raise DataError(f"{split_file}: an image id is listed twice")
    else:
        order = list(per_class[0])
        reference, reference_name = set(order), f"{VOC_CLASSES[0]}_{split}.txt"
    for cls, values in zip(VOC_CLASSES, per_class, strict=True):
        listed = set(values)
        if listed != reference:
            extra = sorted(listed - reference)
            missing = sorted(reference - listed)
            detail = (
                f"image {extra[0]} is not in {reference_name}"
                if extra
                else f"image {missing[0]} from {reference_name} is missing"
            )
            raise DataError(f"{main / f'{cls}_{split}.txt'}: {detail}")
    targets = np.array(
        [[_VALUE_TO_TARGET[values[i]] for values in per_class] for i in order], dtype=np.int8
    )
    paths = [voc / "JPEGImages" / f"{image_id}.jpg" for image_id in order]
    return assemble_dataset(
        paths,
        targets,
        list(VOC_CLASSES),
        DataReport(name or f"voc2007/{split}"),
        transform=transform,
        check_files=check_files,
        on_bad_image=on_bad_image,
        progress=progress,
    )
