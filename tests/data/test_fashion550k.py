from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agcn_pyg.data import fashion550k
from agcn_pyg.errors import ConfigError, DataError


def test_noisy_set_excludes_verified_and_duplicates(tmp_path: Path, fashion_writer):
    truth = fashion_writer(tmp_path)
    ds = fashion550k(tmp_path, "train", "noisy")
    assert len(ds.label_names) == 66 and ds.label_names[0] == "tag00"
    rows = list(range(6, 13))  # 0-5 are verified, 13 is a duplicate
    assert [p.name for p in ds.image_paths] == [f"p{p:03d}.jpg" for p in rows]
    assert ds.targets.numpy().tolist() == truth["noisy"][rows].tolist()
    assert ds.report.counted["verified photos left out of the noisy set"] == 6
    assert ds.report.skipped["duplicate photos (duplicate ids file)"] == 1


def test_clean_splits_photo_indexed(tmp_path: Path, fashion_writer):
    truth = fashion_writer(tmp_path)
    for split, rows in (("train", [0, 1, 2]), ("val", [3]), ("test", [4, 5])):
        ds = fashion550k(tmp_path, split, "clean")
        assert ds.targets.numpy().tolist() == truth["verified"][rows].tolist()
        assert [p.name for p in ds.image_paths] == [f"p{p:03d}.jpg" for p in rows]
    # noisy labels of the test photos, for label-noise analysis
    noisy_test = fashion550k(tmp_path, "test", "noisy")
    assert noisy_test.targets.numpy().tolist() == truth["noisy"][[4, 5]].tolist()


def test_split_sizes_are_compared_with_the_official_ones(tmp_path: Path, fashion_writer):
    fashion_writer(tmp_path)
    notes = fashion550k(tmp_path, "val", "clean").report.notes
    assert "trainids.npy has 3 photos; the official train split has 3000" in notes


def test_verified_rows_in_split_order_must_be_asked_for(tmp_path: Path, fashion_writer):
    truth = fashion_writer(tmp_path, verified_rows="splits")
    pattern = r"verified\.npy: 6 rows, not one per photo \(14\).*'splits'"
    with pytest.raises(DataError, match=pattern):
        fashion550k(tmp_path, "test", "clean")
    ds = fashion550k(tmp_path, "test", "clean", verified_rows="splits")
    assert ds.targets.numpy().tolist() == truth["verified"][[4, 5]].tolist()
    with pytest.raises(DataError, match=r"6 rows, expected one per photo"):
        fashion550k(tmp_path, "test", "clean", verified_rows="photo")


def test_files_are_configurable(tmp_path: Path, fashion_writer):
    fashion_writer(tmp_path)
    (tmp_path / "annotation" / "noisy.npy").rename(tmp_path / "noisy_labels.npy")
    with pytest.raises(DataError, match=r"noisy\.npy: file not found"):
        fashion550k(tmp_path, "train", "noisy")
    ds = fashion550k(tmp_path, "train", "noisy", files={"noisy": "noisy_labels.npy"})
    assert len(ds) == 7
    with pytest.raises(ConfigError, match="unknown Fashion550K file key"):
        fashion550k(tmp_path, files={"noisy_labels": "x"})


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda r: (r / "labels.txt").write_text("".join(f"t{i}\n" for i in range(65))),
            r"labels\.txt: 65 tag names, expected 66",
        ),
        (
            lambda r: np.save(r / "annotation/noisy.npy", np.zeros((13, 66), np.uint8)),
            r"noisy\.npy: shape \(13, 66\), expected \(14, 66\)",
        ),
        (
            lambda r: np.save(r / "annotation/noisy.npy", np.full((14, 66), 2, np.uint8)),
            r"noisy\.npy: value 2 at row 0, column 0; expected 0 or 1",
        ),
        (
            lambda r: np.save(r / "testids.npy", np.array([4, 14])),
            r"testids\.npy: photo index out of range 0\.\.13",
        ),
        (
            lambda r: np.save(r / "validids.npy", np.array([2])),
            r"validids\.npy: photo 2 is also in trainids\.npy",
        ),
        (
            lambda r: np.save(r / "trainids.npy", np.array([[0, 1], [2, 3]])),
            r"trainids\.npy: shape \(2, 2\), expected a 1-D list",
        ),
        (
            lambda r: np.save(r / "trainids.npy", np.array([0, 1, 1])),
            r"trainids\.npy: a photo index is listed twice",
        ),
        (
            lambda r: (r / "photos.txt").write_text("a.jpg\n\nb.jpg\n"),
            r"photos\.txt:2: blank line inside the photo list",
        ),
    ],
)
def test_files_that_differ_are_clear_errors(tmp_path: Path, fashion_writer, damage, message):
    fashion_writer(tmp_path)
    damage(tmp_path)
    with pytest.raises(DataError, match=message):
        fashion550k(tmp_path, "train", "noisy")


def test_verified_shape_checked(tmp_path: Path, fashion_writer):
    fashion_writer(tmp_path)
    np.save(tmp_path / "annotation/verified.npy", np.zeros((14, 60), np.uint8))
    with pytest.raises(DataError, match=r"verified\.npy: shape \(14, 60\), expected \(V, 66\)"):
        fashion550k(tmp_path, "train", "clean")


def test_pickled_npy_is_refused(tmp_path: Path, fashion_writer):
    fashion_writer(tmp_path)
    np.save(tmp_path / "trainids.npy", np.array([0, "x"], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match=r"trainids\.npy: cannot read array"):
        fashion550k(tmp_path, "val", "clean")
