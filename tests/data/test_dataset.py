from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from agcn_pyg.data import MultiLabelDataset, build_transforms
from agcn_pyg.errors import DataError


@pytest.fixture
def mixed_folder(tmp_path: Path, image_factory, jpeg_data: bytes) -> list[Path]:
    """Six real files: RGB, CMYK, 16-bit grey, RGBA, truncated JPEG, garbage."""
    rgb = image_factory("rgb.jpg")
    cmyk = tmp_path / "cmyk.jpg"
    Image.new("RGB", (20, 20), (0, 0, 255)).convert("CMYK").save(cmyk)
    grey16 = tmp_path / "grey16.png"
    Image.fromarray(np.full((20, 20), 40000, dtype=np.uint16)).save(grey16)
    rgba = tmp_path / "rgba.png"
    Image.new("RGBA", (20, 20), (0, 0, 0, 0)).save(rgba)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(jpeg_data[: len(jpeg_data) // 3])
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"\x00\x01 not an image")
    return [rgb, cmyk, grey16, rgba, truncated, garbage]


def _dataset(paths, **kwargs) -> MultiLabelDataset:
    targets = np.eye(len(paths), 6, dtype=np.int8)
    return MultiLabelDataset(paths, targets, [f"l{i}" for i in range(6)], name="mixed", **kwargs)


def test_getitem_on_an_unreadable_image_names_the_file(mixed_folder):
    ds = _dataset(mixed_folder)
    image, target = ds[2]  # 16-bit grey converts
    assert image.shape == (3, 20, 20) and int(image[0, 0, 0]) == round(40000 / 257)
    assert target.tolist() == [0, 0, 1, 0, 0, 0]
    with pytest.raises(DataError, match=r"truncated\.jpg: corrupt or truncated image"):
        ds[4]


def test_check_images_error_lists_the_unreadable_files(mixed_folder):
    ds = _dataset(mixed_folder)
    pattern = r"mixed: 2 unreadable image\(s\): .*truncated\.jpg.*garbage"
    with pytest.raises(DataError, match=pattern):
        ds.check_images(progress=False)


def test_check_images_skip_removes_and_counts(mixed_folder, tmp_path: Path):
    ds = _dataset(mixed_folder, on_bad_image="skip")
    report = ds.check_images(progress=False, cache_file=tmp_path / "check.json")
    assert [p.name for p in ds.image_paths] == ["rgb.jpg", "cmyk.jpg", "grey16.png", "rgba.png"]
    assert ds.targets.tolist() == np.eye(4, 6, dtype=int).tolist()
    assert report.skipped == {"unreadable image (corrupt, truncated or unsupported)": 2}
    assert report.counted["images converted to RGB from mode CMYK"] == 1
    assert report.counted["images converted to RGB from mode I;16"] == 1
    assert report.counted["images converted to RGB from mode RGBA"] == 1
    assert any("skipped: 2 unreadable image" in line for line in report.lines())
    # every remaining image loads, through a DataLoader and the paper transforms
    _, test_tf = build_transforms("paper", 16)
    loader = DataLoader(ds.with_transform(test_tf), batch_size=4)
    images, targets = next(iter(loader))
    assert images.shape == (4, 3, 16, 16) and images.dtype == torch.float32
    assert targets.dtype == torch.long and targets.shape == (4, 6)


def test_target_validation(image_factory):
    paths = [image_factory("a.jpg"), image_factory("b.jpg")]
    with pytest.raises(DataError, match=r"shape \(2, 3\), expected \(2, 2\)"):
        MultiLabelDataset(paths, np.zeros((2, 3)), ["x", "y"])
    with pytest.raises(DataError, match=r"target value 2 at image 1, label 0"):
        MultiLabelDataset(paths, [[1, 0], [2, 0]], ["x", "y"])
    with pytest.raises(DataError, match=r"duplicate label 'x'"):
        MultiLabelDataset(paths, [[1, 0], [0, 1]], ["x", "x"])


def test_subset_keeps_labels_and_report(image_factory):
    paths = [image_factory(f"{i}.jpg") for i in range(3)]
    ds = MultiLabelDataset(paths, [[1, 0], [0, 1], [-1, 1]], ["x", "y"], name="full")
    ds.report.skip("something", "z")
    part = ds.subset([2, 0], name="part")
    assert part.targets.tolist() == [[-1, 1], [1, 0]] and part.label_names == ["x", "y"]
    assert part.image_paths == [paths[2], paths[0]] and part.report.skipped == {"something": 1}
    assert repr(part) == "MultiLabelDataset('part', images=2, labels=2)"
