from __future__ import annotations

from pathlib import Path

import pytest

from agcn_pyg.data import build_dataset, from_csv
from agcn_pyg.errors import ConfigError, DataError


@pytest.fixture
def images(tmp_path: Path, image_factory) -> Path:
    for name in ("a.jpg", "b.jpg", "c.jpg", "sub/d.png"):
        image_factory(f"imgs/{name}")
    return tmp_path / "imgs"


def _csv(tmp_path: Path, text: str, name: str = "train.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_exact_targets_with_sorted_default_order(tmp_path: Path, images: Path):
    csv_file = _csv(
        tmp_path,
        "image,labels\na.jpg,cat;dog\nb.jpg, dog ;  bird\nsub/d.png,cat\nc.jpg,\n",
    )
    ds = from_csv(csv_file, images)
    assert ds.label_names == ["bird", "cat", "dog"]
    assert ds.targets.tolist() == [[0, 1, 1], [1, 0, 1], [0, 1, 0], [0, 0, 0]]
    assert ds.image_paths[2] == images / "sub" / "d.png"
    assert ds.report.counted == {"rows with an empty label set (kept as all-negative)": 1}
    assert ds.report.examples["rows with an empty label set (kept as all-negative)"] == ["line 5"]


def test_label_list_fixes_the_order(tmp_path: Path, images: Path):
    csv_file = _csv(tmp_path, "image,labels\na.jpg,cat;dog\nb.jpg,bird\n")
    (tmp_path / "labels.txt").write_text("dog\ncat\nbird\nfish\n")
    ds = from_csv(csv_file, images, tmp_path / "labels.txt")
    assert ds.label_names == ["dog", "cat", "bird", "fish"]
    assert ds.targets.tolist() == [[1, 1, 0, 0], [0, 0, 1, 0]]
    assert from_csv(csv_file, images, ["bird", "cat", "dog"]).targets.tolist() == [
        [0, 1, 1],
        [1, 0, 0],
    ]


def test_image_dir_defaults_to_the_csv_folder(tmp_path: Path, images: Path):
    csv_file = _csv(images, "image,labels,split\na.jpg,cat,train\n")
    ds = build_dataset("csv", csv_file=csv_file)
    assert ds.image_paths == [images / "a.jpg"] and ds.label_names == ["cat"]


def test_unknown_label_names_the_row(tmp_path: Path, images: Path):
    csv_file = _csv(tmp_path, "image,labels\na.jpg,cat\nb.jpg,cat;zebra\n")
    with pytest.raises(DataError, match=r"train\.csv:3: unknown label 'zebra'"):
        from_csv(csv_file, images, ["cat", "dog"])


def test_duplicate_rows(tmp_path: Path, images: Path):
    same = _csv(tmp_path, "image,labels\na.jpg,cat;dog\nb.jpg,dog\na.jpg,dog;cat\n")
    ds = from_csv(same, images)
    assert len(ds) == 2
    assert ds.report.skipped == {"duplicate rows (same image, same labels)": 1}
    conflict = _csv(tmp_path, "image,labels\na.jpg,cat\nb.jpg,dog\n./a.jpg,dog\n", "c.csv")
    with pytest.raises(DataError, match=r"c\.csv:4: image './a.jpg' repeats line 2 with different"):
        from_csv(conflict, images)


def test_repeated_label_in_a_row_counts_once(tmp_path: Path, images: Path):
    ds = from_csv(_csv(tmp_path, "image,labels\na.jpg,cat;cat;;dog;\n"), images)
    assert ds.targets.tolist() == [[1, 1]]
    assert ds.report.counted == {"rows with a repeated label (counted once)": 1}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r": empty CSV, expected the header 'image,labels'"),
        ("file,labels\na.jpg,cat\n", r":1: header 'file,labels' has no 'image' column"),
        ("image,labels\n", r": no data rows after the header"),
        ("image,labels\na.jpg,cat\nb.jpg,dog,extra\n", r":3: 3 fields, header has 2"),
        ('image,labels\na.jpg,"cat\n', r":2: malformed CSV \(unexpected end of data\)"),
        ('image,labels\na.jpg,"ca"t\n', r":2: malformed CSV"),
        ("image,labels\n,cat\n", r":2: empty image path"),
        ("image,labels,labels\na.jpg,cat,dog\n", r":1: duplicate column names"),
    ],
)
def test_malformed_csv(tmp_path: Path, images: Path, text: str, message: str):
    with pytest.raises(DataError, match=r"train\.csv" + message):
        from_csv(_csv(tmp_path, text), images)


def test_missing_csv_and_missing_images(tmp_path: Path, images: Path):
    with pytest.raises(DataError, match=r"nope\.csv: CSV file not found"):
        from_csv(tmp_path / "nope.csv", images)
    csv_file = _csv(tmp_path, "image,labels\na.jpg,cat\ngone.jpg,dog\n")
    with pytest.raises(DataError, match=r"1 missing image file \(first: .*gone\.jpg\)"):
        from_csv(csv_file, images)
    ds = from_csv(csv_file, images, on_bad_image="skip")
    assert ds.label_names == ["cat", "dog"] and ds.targets.tolist() == [[1, 0]]
    assert ds.report.examples["missing image file"] == [str(images / "gone.jpg")]


def test_bad_label_files(tmp_path: Path, images: Path):
    csv_file = _csv(tmp_path, "image,labels\na.jpg,cat\n")
    (tmp_path / "dup.txt").write_text("cat\ndog\ncat\n")
    with pytest.raises(DataError, match=r"dup\.txt: duplicate label 'cat' at line 1 and line 3"):
        from_csv(csv_file, images, tmp_path / "dup.txt")
    (tmp_path / "gap.txt").write_text("cat\n\ndog\n")
    with pytest.raises(DataError, match=r"gap\.txt:2: blank line inside the label list"):
        from_csv(csv_file, images, tmp_path / "gap.txt")
    with pytest.raises(ConfigError, match="unknown dataset 'tsv'"):
        build_dataset("tsv", csv_file=csv_file)
