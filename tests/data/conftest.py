"""Fixture writers for the data tests: real image files (PIL), COCO JSON, VOC and
Fashion550K folders. Everything is built under `tmp_path`."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image


def make_image(path: Path, color: Sequence[int] = (200, 30, 40), size: int = 40) -> Path:
    """A small RGB JPEG (or PNG, by suffix) with a gradient so that crops differ."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ramp = np.linspace(0, 1, size, dtype=np.float32)[None, :, None]
    base = np.asarray(color, dtype=np.float32)[None, None, :]
    pixels = np.clip(base * (0.5 + 0.5 * ramp) + np.zeros((size, 1, 1)), 0, 255).astype(np.uint8)
    Image.fromarray(pixels, mode="RGB").save(path)
    return path


def _jpeg_bytes(size: int = 40) -> bytes:
    buffer = io.BytesIO()
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _png_bytes(size: int = 40) -> bytes:
    buffer = io.BytesIO()
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def jpeg_data() -> bytes:
    """Bytes of a valid 40×40 JPEG."""
    return _jpeg_bytes()


@pytest.fixture
def png_data() -> bytes:
    """Bytes of a valid 40×40 PNG."""
    return _png_bytes()


@pytest.fixture
def image_factory(tmp_path: Path) -> Callable[..., Path]:
    def factory(name: str, color: Sequence[int] = (200, 30, 40), size: int = 40) -> Path:
        return make_image(tmp_path / name, color, size)

    return factory


# COCO: category ids are non-contiguous, and the id order differs from the name order.
COCO_CATEGORIES = [
    {"id": 1, "name": "person", "supercategory": "person"},
    {"id": 3, "name": "car", "supercategory": "vehicle"},
    {"id": 18, "name": "dog", "supercategory": "animal"},
    {"id": 90, "name": "toothbrush", "supercategory": "indoor"},
    {"id": 44, "name": "bottle", "supercategory": "kitchen"},
]
# name order: bottle(44), car(3), dog(18), person(1), toothbrush(90)
# id order:   person(1), car(3), dog(18), bottle(44), toothbrush(90)


def _coco_document() -> dict[str, Any]:
    images = [{"id": i, "file_name": f"img{i}.jpg", "width": 40, "height": 40} for i in range(1, 7)]
    annotations = [
        {"id": 100, "image_id": 1, "category_id": 1, "iscrowd": 0},
        {"id": 101, "image_id": 1, "category_id": 18, "iscrowd": 0},
        {"id": 102, "image_id": 1, "category_id": 1, "iscrowd": 0},  # second person
        {"id": 103, "image_id": 2, "category_id": 90, "iscrowd": 0},
        {"id": 104, "image_id": 2, "category_id": 44, "iscrowd": 0},
        {"id": 105, "image_id": 3, "category_id": 1, "iscrowd": 1},  # crowd only
        {"id": 106, "image_id": 5, "category_id": 3, "iscrowd": 0},
        {"id": 107, "image_id": 5, "category_id": 1, "iscrowd": 1},  # crowd + car
        # image 4 and image 6 have no annotation
    ]
    return {
        "images": images,
        "annotations": annotations,
        "categories": copy.deepcopy(COCO_CATEGORIES),
    }


@pytest.fixture
def coco_doc() -> dict[str, Any]:
    return _coco_document()


@pytest.fixture
def coco_files(tmp_path: Path) -> tuple[Path, Path]:
    image_dir = tmp_path / "train2014"
    for i in range(1, 7):
        make_image(image_dir / f"img{i}.jpg", (20 * i, 40, 60))
    ann = tmp_path / "instances_train2014.json"
    ann.write_text(json.dumps(_coco_document()))
    return ann, image_dir


VOC_FIXTURE = {
    # image id -> {class: value}; unspecified classes are -1
    "000005": {"chair": 1, "person": 0},
    "000007": {"car": 1},
    "000009": {"horse": 1, "person": 1, "dog": 0},
}


def _write_voc(
    root: Path, split: str = "trainval", values: dict[str, dict[str, int]] | None = None
):
    from agcn_pyg.data.voc import VOC_CLASSES

    values = VOC_FIXTURE if values is None else values
    voc = root / "VOCdevkit" / "VOC2007"
    main = voc / "ImageSets" / "Main"
    main.mkdir(parents=True, exist_ok=True)
    for cls in VOC_CLASSES:
        lines = [f"{image_id} {labels.get(cls, -1):2d}" for image_id, labels in values.items()]
        (main / f"{cls}_{split}.txt").write_text("\n".join(lines) + "\n")
    (main / f"{split}.txt").write_text("".join(f"{image_id}\n" for image_id in values))
    for i, image_id in enumerate(values):
        jpg = voc / "JPEGImages" / f"{image_id}.jpg"
        if not jpg.exists():
            make_image(jpg, (30 * i, 90, 90))
    return voc


FASHION_TAGS = [f"tag{i:02d}" for i in range(66)]


def _write_fashion(
    root: Path,
    *,
    n_photos: int = 14,
    train: Sequence[int] = (0, 1, 2),
    val: Sequence[int] = (3,),
    test: Sequence[int] = (4, 5),
    duplicates: Sequence[int] | None = (13,),
    verified_rows: str = "photo",
) -> dict[str, Any]:
    """A Fashion550K-layout folder; noisy tag i of photo p is ((p + i) % 5 == 0), verified
    tag i of photo p is ((p * i) % 7 == 1)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "labels.txt").write_text("".join(f"{tag}\n" for tag in FASHION_TAGS))
    photos = [f"photos/p{p:03d}.jpg" for p in range(n_photos)]
    (root / "photos.txt").write_text("".join(f"{photo}\n" for photo in photos))
    for p, photo in enumerate(photos):
        make_image(root / photo, (10 * p, 100, 50), size=32)
    grid = np.add.outer(np.arange(n_photos), np.arange(66))
    noisy = (grid % 5 == 0).astype(np.uint8)
    verified_all = (np.multiply.outer(np.arange(n_photos), np.arange(66)) % 7 == 1).astype(np.uint8)
    (root / "annotation").mkdir(exist_ok=True)
    np.save(root / "annotation" / "noisy.npy", noisy)
    if verified_rows == "photo":
        np.save(root / "annotation" / "verified.npy", verified_all)
    else:
        order = [*train, *val, *test]
        np.save(root / "annotation" / "verified.npy", verified_all[order])
    np.save(root / "trainids.npy", np.array(train, dtype=np.int64))
    np.save(root / "validids.npy", np.array(val, dtype=np.int64))
    np.save(root / "testids.npy", np.array(test, dtype=np.int64))
    if duplicates is not None:
        np.save(root / "duplicateids.npy", np.array(duplicates, dtype=np.int64))
    return {"noisy": noisy, "verified": verified_all, "photos": photos}


@pytest.fixture
def voc_writer() -> Callable[..., Path]:
    """write(root, split="trainval", values=VOC_FIXTURE) -> the VOC2007 folder."""
    return _write_voc


@pytest.fixture
def fashion_writer() -> Callable[..., dict[str, Any]]:
    """write(root, **layout) -> {"noisy", "verified", "photos"} (see `_write_fashion`)."""
    return _write_fashion
