"""Every bad value gets one line and exit status 2 (no traceback), before anything is written."""

from __future__ import annotations

import errno
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from agcn_pyg.__main__ import main
from agcn_pyg.config import load_yaml

pytestmark = pytest.mark.slow


def _one_line_exit_2(capsys, argv: list[str], expected: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert expected in err[0], err[0]


def test_yaml_mistakes(tmp_path: Path, capsys, run_config) -> None:
    base = run_config("base")
    child = tmp_path / "child.yaml"
    child.write_text(f"_base_: [{base}]\n")
    _one_line_exit_2(capsys, ["train", "-c", str(child)], "_base_ must be one file name")
    twice = tmp_path / "twice.yaml"
    twice.write_text(base.read_text() + "name: again\n")
    _one_line_exit_2(capsys, ["train", "-c", str(twice)], "duplicate key 'name'")
    with pytest.raises(Exception, match="line"):
        load_yaml(twice)


def test_embedding_files_npy_and_zero_rows(run_config, tmp_path: Path, capsys) -> None:
    npy = tmp_path / "e.npy"
    np.save(npy, np.random.default_rng(0).normal(size=(4, 6)).astype(np.float32))
    cfg = run_config("npy", data={"embeddings": str(npy)}, train={"epochs": 1})
    assert main(["train", "-c", str(cfg), "--no-progress"]) == 0
    np.save(npy, np.zeros((4, 6), np.float32))
    cfg = run_config("zeros", data={"embeddings": str(npy)})
    _one_line_exit_2(capsys, ["train", "-c", str(cfg)], "row 0 is all zeros")
    pkl = tmp_path / "e.pkl"
    pkl.write_bytes(pickle.dumps(np.ones((3, 6), np.float32), protocol=2))
    cfg = run_config("short", data={"embeddings": str(pkl)})
    _one_line_exit_2(capsys, ["train", "-c", str(cfg)], "3 rows, the label list has 4")


def test_a_full_disk_is_named(run_config, capsys, failing_writes) -> None:
    # A real full disk: the file's write raises ENOSPC inside torch.save, and torch reports
    # it as a RuntimeError of its own ("unexpected pos ...") over that OSError.
    failing_writes("last.pt", errno.ENOSPC)
    cfg = run_config("full", train={"epochs": 1})
    _one_line_exit_2(capsys, ["train", "-c", str(cfg), "--no-progress"], "no space left on device")


def test_a_truncated_features_cache_is_extracted_again(tmp_path: Path, color_dataset: Path):
    from agcn_pyg.data import build_dataset, build_transforms
    from agcn_pyg.engine.feature_cache import extract_features, features_cache_file
    from agcn_pyg.models import create_model

    model = create_model("test_resnet", 4, graph="none")
    dataset = build_dataset(
        "csv",
        csv_file=str(color_dataset / "val.csv"),
        label_names=str(color_dataset / "labels.txt"),
    ).with_transform(build_transforms("paper", 32, output="uint8")[1])
    first, _ = extract_features(model, dataset, cache_dir=tmp_path, progress=False)
    cache = features_cache_file(model, dataset, tmp_path)
    cache.write_bytes(cache.read_bytes()[:100])  # a kill in the middle of an old write
    again, _ = extract_features(model, dataset, cache_dir=tmp_path, progress=False)
    np.testing.assert_allclose(again, first)


def test_coco_file_name_with_two_ids_is_refused(tmp_path: Path, capsys) -> None:
    from agcn_pyg.data import coco
    from agcn_pyg.errors import DataError

    ann = {
        "images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "a.jpg"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1},
            {"id": 2, "image_id": 2, "category_id": 2},
        ],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
    }
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(ann))
    with pytest.raises(DataError, match=r"'a\.jpg' also belongs to image id 1"):
        coco(path, tmp_path, check_files=False)


def test_csv_that_is_not_utf8_names_its_line(tmp_path: Path) -> None:
    from agcn_pyg.data import from_csv
    from agcn_pyg.errors import DataError

    path = tmp_path / "latin1.csv"
    path.write_bytes("image,labels\na.jpg,cat\nb.jpg,café\n".encode("latin-1"))
    (tmp_path / "labels.txt").write_text("cat\ncafé\n")
    with pytest.raises(DataError, match=r"latin1\.csv:3: not UTF-8"):
        from_csv(path, label_names=tmp_path / "labels.txt", check_files=False)


def test_training_with_skip_leaves_corrupt_images_out(
    run_config, tmp_path: Path, color_dataset: Path
) -> None:
    root = tmp_path / "data"
    shutil.copytree(color_dataset, root)
    victim = sorted((root / "images").glob("train_*.png"))[0]
    victim.write_bytes(victim.read_bytes()[:40])  # truncated: found only by decoding
    labels = str(root / "labels.txt")
    train = {"csv_file": str(root / "train.csv"), "label_names": labels, "on_bad_image": "skip"}
    val = {"csv_file": str(root / "val.csv"), "label_names": labels}
    cfg = run_config("skip", data={"train": train, "val": val}, train={"epochs": 1})
    assert main(["train", "-c", str(cfg), "--no-progress"]) == 0


def test_prepare_writes_nothing_when_an_input_is_refused(
    tmp_path: Path, color_dataset: Path, capsys
) -> None:
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"x": Path("/etc/passwd")}))
    out = tmp_path / "prepared"
    argv = ["prepare", "csv", "--train-csv", str(color_dataset / "train.csv")]
    argv += ["--labels", str(color_dataset / "labels.txt"), "--out", str(out)]
    argv += ["--sources", "file", "--file", str(evil), "--no-progress"]
    assert main(argv) == 2
    assert "refusing to unpickle" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_num_classes_from_the_data_is_said(run_config, capsys) -> None:
    cfg = run_config("said", model={"num_classes": 7}, train={"epochs": 1})
    assert main(["train", "-c", str(cfg), "--no-progress"]) == 0
    assert "model.num_classes: 7 in the config, the data has 4 labels" in capsys.readouterr().out


def test_prepare_with_skip_writes_the_kept_image_lists(tmp_path: Path, color_dataset: Path):
    root = tmp_path / "data"
    shutil.copytree(color_dataset, root)
    missing = sorted((root / "images").glob("train_*.png"))[0]
    missing.unlink()
    out = tmp_path / "prepared"
    argv = ["prepare", "csv", "--train-csv", str(root / "train.csv")]
    argv += ["--labels", str(root / "labels.txt"), "--out", str(out), "--sources", "onehot"]
    assert main([*argv, "--on-bad-image", "skip", "--no-progress"]) == 0
    kept = (out / "train_images.txt").read_text().splitlines()
    assert len(kept) == 47 and str(missing) not in kept
