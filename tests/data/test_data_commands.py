"""`agcn embed-labels` and `agcn prepare`, run through the CLI entry point on fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agcn_pyg.__main__ import main
from agcn_pyg.data import load_cooccurrence, load_embeddings


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def test_embed_labels_command(tmp_path: Path, capsys):
    labels = tmp_path / "labels.txt"
    labels.write_text("aeroplane\ndiningtable\ntvmonitor\n")
    out = tmp_path / "e.npz"
    assert (
        main(["embed-labels", "--labels", str(labels), "--source", "glove50", "--out", str(out)])
        == 0
    )
    loaded = load_embeddings(out, ["aeroplane", "diningtable", "tvmonitor"])
    assert loaded.vectors.shape == (3, 50) and loaded.source == "glove50"
    printed = capsys.readouterr().out
    assert "glove50: 3 labels × 50 dims" in printed
    assert "'tvmonitor' split into known words tv + monitor" in printed


def test_embed_labels_errors_exit_2(tmp_path: Path, capsys):
    labels = tmp_path / "labels.txt"
    labels.write_text("cat\ndog\n")
    args = ["embed-labels", "--labels", str(labels), "--source", "file", "--out", "x.npz"]
    assert main(args) == 2
    assert (
        "agcn embed-labels: error: the file source needs a path (--file)" in capsys.readouterr().err
    )
    args = ["embed-labels", "--labels", str(tmp_path / "none.txt"), "--out", "x.npz"]
    assert main(args) == 2
    assert "none.txt: label list not found" in capsys.readouterr().err


def _csv_dataset(root: Path, image_factory, jpeg_data: bytes) -> None:
    root.mkdir(parents=True, exist_ok=True)
    rows = {
        "train": [("a.jpg", "cat;dog"), ("b.jpg", "dog"), ("c.jpg", "cat;bird;dog"), ("d.jpg", "")],
        "test": [("e.jpg", "bird"), ("f.jpg", "cat")],
    }
    for split, items in rows.items():
        lines = ["image,labels"] + [f"images/{name},{labels}" for name, labels in items]
        (root / f"{split}.csv").write_text("\n".join(lines) + "\n")
        for name, _ in items:
            image_factory(f"data/images/{name}")
    (root / "labels.txt").write_text("dog\ncat\nbird\n")


def test_prepare_csv_end_to_end(tmp_path: Path, image_factory, jpeg_data: bytes, capsys):
    root = tmp_path / "data"
    _csv_dataset(root, image_factory, jpeg_data)
    (root / "images" / "b.jpg").write_bytes(jpeg_data[:200])  # truncated
    out = tmp_path / "prepared"
    args = [
        "prepare", "csv",
        "--train-csv", str(root / "train.csv"),
        "--test-csv", str(root / "test.csv"),
        "--labels", str(root / "labels.txt"),
        "--out", str(out),
        "--check-images", "--no-progress",
    ]  # fmt: skip
    assert main(args) == 2
    assert "csv/train: 1 unreadable image(s): " in capsys.readouterr().err

    assert main([*args, "--on-bad-image", "skip"]) == 0
    printed = capsys.readouterr().out
    assert "== csv/train ==\nimages: 3\nlabels: 3" in printed
    assert "skipped: 1 unreadable image (corrupt, truncated or unsupported)" in printed
    assert "counted: 1 rows with an empty label set (kept as all-negative)" in printed
    assert (out / "labels.txt").read_text() == "dog\ncat\nbird\n"
    stats = json.loads((out / "statistics.json").read_text())
    assert stats["train"]["positives_per_class"] == {"dog": 2, "cat": 2, "bird": 1}
    assert stats["test"]["images"] == 2
    adj, nums = load_cooccurrence(out / "cooccurrence.npz", ["dog", "cat", "bird"])
    # kept rows: a (cat, dog), c (cat, bird, dog), d (none)
    assert nums.tolist() == [2, 2, 1]
    assert adj.tolist() == [[0, 2, 1], [2, 0, 1], [1, 1, 0]]
    minilm = load_embeddings(out / "embeddings_minilm.npz", ["dog", "cat", "bird"])
    glove = load_embeddings(out / "embeddings_glove50.npz", ["dog", "cat", "bird"])
    assert minilm.vectors.shape == (3, 384) and glove.vectors.shape == (3, 50)
    assert json.loads((out / "image_check.json").read_text())  # the scan cache


def test_prepare_coco(coco_files, tmp_path: Path, capsys):
    ann, image_dir = coco_files
    out = tmp_path / "coco_out"
    args = ["prepare", "coco", "--ann-file", str(ann), "--image-dir", str(image_dir)]
    args += ["--val-ann-file", str(ann), "--val-image-dir", str(image_dir)]
    assert main([*args, "--out", str(out), "--sources", "onehot", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "== coco2014/train ==\nimages: 4" in printed and "== coco2014/val ==" in printed
    assert "coco2014/train: skipped: 2 image without annotations" in printed
    adj, nums = load_cooccurrence(out / "cooccurrence.npz")
    assert nums.tolist() == [1, 1, 1, 3, 1]  # bottle car dog person toothbrush
    assert adj[3].tolist() == [0, 1, 1, 0, 0]  # person with car (img5) and dog (img1)
    assert np.array_equal(load_embeddings(out / "embeddings_onehot.npz").vectors, np.eye(5))
    bad = ["prepare", "coco", "--ann-file", str(ann), "--image-dir", str(image_dir)]
    assert main([*bad, "--val-ann-file", str(ann), "--out", str(out), "--no-progress"]) == 2


def test_prepare_voc_and_fashion(tmp_path: Path, voc_writer, fashion_writer, capsys):
    voc_writer(tmp_path / "voc", "trainval")
    voc_writer(tmp_path / "voc", "test", {"000001": {"cat": 1}, "000002": {"dog": 0}})
    out = tmp_path / "voc_out"
    args = ["prepare", "voc2007", "--root", str(tmp_path / "voc"), "--out", str(out)]
    assert main([*args, "--sources", "onehot", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert (
        "== voc2007/trainval ==\nimages: 3" in printed
        and "== voc2007/test ==\nimages: 2" in printed
    )
    assert "ignored (-1) labels: 2" in printed
    _, nums = load_cooccurrence(out / "cooccurrence.npz")
    assert int(nums.sum()) == 4  # difficult labels are not counted

    fashion_writer(tmp_path / "f550k")
    out = tmp_path / "f_out"
    args = ["prepare", "fashion550k", "--root", str(tmp_path / "f550k"), "--out", str(out)]
    assert main([*args, "--sources", "onehot", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "== fashion550k/train-noisy ==\nimages: 7" in printed
    assert "== fashion550k/train-clean ==\nimages: 3" in printed
    assert "note: trainids.npy has 3 photos; the official train split has 3000" in printed
    _, noisy_nums = load_cooccurrence(out / "cooccurrence.npz")
    _, clean_nums = load_cooccurrence(out / "cooccurrence_clean.npz")
    assert noisy_nums.shape == clean_nums.shape == (66,)
    assert noisy_nums.sum() != clean_nums.sum()
