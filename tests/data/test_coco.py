from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from agcn_pyg.data import coco, coco_label_names, format_statistics, split_statistics
from agcn_pyg.errors import ConfigError, DataError

NAME_ORDER = ["bottle", "car", "dog", "person", "toothbrush"]
ID_ORDER = ["person", "car", "dog", "bottle", "toothbrush"]


def test_name_order_targets_and_excluded_images(coco_files):
    ann, image_dir = coco_files
    ds = coco(ann, image_dir)
    assert ds.label_names == NAME_ORDER
    # img4 and img6 have no annotation: excluded and counted.
    assert [p.name for p in ds.image_paths] == ["img1.jpg", "img2.jpg", "img3.jpg", "img5.jpg"]
    assert ds.report.skipped == {"image without annotations": 2}
    assert ds.report.examples["image without annotations"] == ["img4.jpg", "img6.jpg"]
    expected = [
        # bottle car dog person toothbrush
        [0, 0, 1, 1, 0],  # img1: person (twice) + dog
        [1, 0, 0, 0, 1],  # img2: toothbrush(90) + bottle(44)
        [0, 0, 0, 1, 0],  # img3: crowd person counts as positive by default
        [0, 1, 0, 1, 0],  # img5: car + crowd person
    ]
    assert ds.targets.tolist() == expected
    image, target = ds[1]
    assert image.dtype == torch.uint8 and image.shape == (3, 40, 40)
    assert target.dtype == torch.long and target.tolist() == expected[1]


def test_id_order(coco_files):
    ann, image_dir = coco_files
    ds = coco(ann, image_dir, order="id")
    assert ds.label_names == ID_ORDER
    assert ds.targets[1].tolist() == [0, 0, 0, 1, 1]  # bottle(44), toothbrush(90)
    assert coco_label_names(ann, order="id") == ID_ORDER
    assert coco_label_names(ann) == NAME_ORDER


def test_crowd_ignore_marks_crowd_only_labels(coco_files):
    ann, image_dir = coco_files
    ds = coco(ann, image_dir, crowd="ignore")
    assert ds.targets[2].tolist() == [0, 0, 0, -1, 0]  # img3: only a crowd of persons
    assert ds.targets[3].tolist() == [0, 1, 0, -1, 0]  # img5: car + crowd person
    assert ds.report.counted == {"images with only crowd annotations (all labels ignored)": 1}


def test_split_statistics(coco_files):
    ann, image_dir = coco_files
    stats = split_statistics(coco(ann, image_dir, name="coco/train"))
    assert stats["images"] == 4 and stats["labels"] == 5
    assert stats["labels_per_image_mean"] == pytest.approx(7 / 4)
    assert (stats["labels_per_image_min"], stats["labels_per_image_max"]) == (1, 2)
    assert stats["positives_per_class"] == {
        "bottle": 1,
        "car": 1,
        "dog": 1,
        "person": 3,
        "toothbrush": 1,
    }
    text = format_statistics(stats)
    assert "images: 4" in text and "mean 1.750" in text
    assert "skipped: 2 image without annotations (e.g. img4.jpg, img6.jpg)" in text


def test_expected_label_list(coco_files, tmp_path: Path):
    ann, image_dir = coco_files
    (tmp_path / "labels.txt").write_text("\n".join(NAME_ORDER) + "\n")
    assert coco(ann, image_dir, label_names=tmp_path / "labels.txt").label_names == NAME_ORDER
    with pytest.raises(DataError, match=r"first difference at position 0: 'person', expected"):
        coco(ann, image_dir, order="id", label_names=NAME_ORDER)
    with pytest.raises(DataError, match="5 labels, expected 4"):
        coco(ann, image_dir, label_names=NAME_ORDER[:4])


def _write(tmp_path: Path, document) -> Path:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document))
    return path


def test_malformed_json(tmp_path: Path, coco_files):
    _, image_dir = coco_files
    truncated = tmp_path / "truncated.json"
    truncated.write_text('{"images": [{"id": 1,\n "file_name": ')
    with pytest.raises(DataError, match=r"truncated\.json: malformed JSON at line 2, column"):
        coco(truncated, image_dir)
    with pytest.raises(DataError, match=r"missing\.json: annotation file not found"):
        coco(tmp_path / "missing.json", image_dir)
    with pytest.raises(DataError, match=r"bad\.json: expected a JSON object"):
        coco(_write(tmp_path, [1, 2]), image_dir)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("categories"), r"missing field 'categories'"),
        (lambda d: d["images"][0].pop("file_name"), r"images\[0\]: missing field 'file_name'"),
        (lambda d: d["images"].append(dict(d["images"][0])), r"images\[6\]: duplicate image id 1"),
        (
            lambda d: d["annotations"][3].update(category_id=12),
            r"annotations\[3\]: category_id 12 is not in categories",
        ),
        (
            lambda d: d["annotations"][0].update(image_id=999),
            r"annotations\[0\]: image_id 999 is not in images",
        ),
        (
            lambda d: d["annotations"][0].update(iscrowd=2),
            r"annotations\[0\]: iscrowd must be 0 or 1",
        ),
        (
            lambda d: d["categories"][1].update(id="3"),
            r"categories\[1\]: field 'id' has type str",
        ),
        (
            lambda d: d["categories"].append({"id": 7, "name": "dog"}),
            r"categories\[5\]: duplicate category name 'dog'",
        ),
    ],
)
def test_bad_annotation_content(tmp_path: Path, coco_files, coco_doc, edit, message):
    _, image_dir = coco_files
    edit(coco_doc)
    with pytest.raises(DataError, match=message):
        coco(_write(tmp_path, coco_doc), image_dir)


def test_missing_image_error_or_counted_skip(coco_files):
    ann, image_dir = coco_files
    (image_dir / "img2.jpg").unlink()
    (image_dir / "img3.jpg").write_bytes(b"")
    with pytest.raises(DataError, match=r"1 empty image file \(0 bytes\); 1 missing image file"):
        coco(ann, image_dir)
    ds = coco(ann, image_dir, on_bad_image="skip")
    assert [p.name for p in ds.image_paths] == ["img1.jpg", "img5.jpg"]
    assert ds.report.skipped["missing image file"] == 1
    assert ds.report.skipped["empty image file (0 bytes)"] == 1
    assert ds.targets.tolist() == [[0, 0, 1, 1, 0], [0, 1, 0, 1, 0]]


def test_bad_options_are_refused_by_the_schema_from_the_signature(coco_files):
    from agcn_pyg.config import DataConfig

    ann, image_dir = coco_files
    split = {"ann_file": str(ann), "image_dir": str(image_dir)}
    for option, value in (("order", "alphabetical"), ("crowd", "skip")):
        with pytest.raises(ConfigError, match=rf"^data\.train\.{option}: expected one of \["):
            DataConfig(dataset="coco", train={**split, option: value}, val=split)
