"""The command line on a trained run: logs in a file, the num_classes line, predict's output
and refusals, thresholds in probabilities, evaluate's overrides and folders (issue 21, items
2, 3 and 4; issue 23, cases 9, 17, 18 and 19)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from agcn_pyg.__main__ import main
from agcn_pyg.engine.checkpoint import read_checkpoint

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
LABELS = ["red", "green", "blue", "square"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, color_dataset: Path) -> Path:
    """One 2-epoch run of the colour data set, trained by ``agcn train`` with its output
    redirected to a file, as a log would be: its folder, ``log.txt`` beside it."""
    root = tmp_path_factory.mktemp("trained")
    labels = str(color_dataset / "labels.txt")
    config = {
        "name": "run",
        "output_dir": str(root / "runs"),
        "model": {"backbone": "test_resnet", "graph": "conv", "hidden_dim": 16},
        "data": {
            "train": {"csv_file": str(color_dataset / "train.csv"), "label_names": labels},
            "val": {"csv_file": str(color_dataset / "val.csv"), "label_names": labels},
            "image_size": 32,
            "resize_size": 36,
            "embeddings": "onehot",
            "workers": 0,
        },
        "train": {"epochs": 2, "batch_size": 12, "lr": 0.05},
    }
    (root / "run.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with (root / "log.txt").open("w") as log:
        subprocess.run(
            [sys.executable, "-m", "agcn_pyg", "train", "-c", str(root / "run.yaml")],
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=300,
            check=True,
        )
    return root / "runs" / "run"


def _images(color_dataset: Path, n: int) -> list[str]:
    return [str(p) for p in sorted((color_dataset / "images").glob("val_*.png"))[:n]]


def test_a_log_in_a_file_has_one_line_per_epoch_and_no_bar_frames(trained: Path) -> None:
    log = (trained.parents[1] / "log.txt").read_text()
    assert "\r" not in log  # no progress-bar frames where stderr is not a terminal
    epochs = [line for line in log.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in epochs] == ["1/2", "2/2"]
    assert log.splitlines()[-1].startswith("done: ")
    # num_classes was not set: no line about it, and the run records the data's number
    assert "num_classes" not in log
    assert yaml.safe_load((trained / "config.yaml").read_text())["model"]["num_classes"] == 4
    assert read_checkpoint(trained / "best.pt")["model_config"]["num_classes"] == 4


def test_predict_prints_a_summary_and_writes_only_where_asked(
    trained: Path, color_dataset: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    images = _images(color_dataset, 3)
    argv = ["predict", str(trained / "best.pt"), *images, "--workers", "0", "--threshold", "0.05"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []  # no --out: nothing written
    lines = printed.splitlines()
    assert lines[0] == "labelled 3 image(s) (not written; --out FILE writes them)"
    assert lines[1].startswith("predicted ") and lines[2].startswith("most frequent: ")
    table = lines[lines.index(next(x for x in lines if x.startswith("image "))) + 1 :]
    assert [row.split()[0] for row in table] == images  # every image, with its labels

    out = tmp_path / "p.csv"
    assert main([*argv, "--out", str(out)]) == 0
    written = list(csv.DictReader(out.open()))
    predicted = sum(len(row["labels"].split(";")) for row in written if row["labels"])
    printed = capsys.readouterr().out
    assert f"labelled 3 image(s) -> {out}" in printed
    assert f"predicted {predicted} label(s) in all" in printed
    assert printed.count(".png") == 3  # the small table still goes to the terminal


def test_predict_never_replaces_its_output_unasked_nor_writes_for_a_missing_input(
    trained: Path, color_dataset: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "p.csv"
    out.write_text("earlier predictions\n")
    images = _images(color_dataset, 2)
    argv = ["predict", str(trained / "best.pt"), *images, "--workers", "0", "--out", str(out)]
    assert main(argv) == 2
    assert f"--out {out} exists: pass --overwrite to replace it" in capsys.readouterr().err
    missing = tmp_path / "typo.png"
    assert main([*argv, str(missing), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert err == f"agcn predict: error: {missing}: no such image file or folder\n"
    assert out.read_text() == "earlier predictions\n"
    fresh = tmp_path / "fresh.json"
    assert main([*argv[:-1], str(fresh), str(missing)]) == 2
    assert not fresh.exists()
    capsys.readouterr()


def test_edited_probability_thresholds_take_effect(
    trained: Path, color_dataset: Path, tmp_path: Path, capsys
) -> None:
    thresholds = tmp_path / "thresholds.json"
    evaluate = ["evaluate", str(trained / "best.pt"), "--workers", "0"]
    assert (
        main([*evaluate, "--out", str(tmp_path / "e"), "--tune-thresholds", str(thresholds)]) == 0
    )
    data = json.loads(thresholds.read_text())
    assert "Edit 'thresholds'" in data["note"]
    data["thresholds"] = [1.0, 0.0, 0.5, 0.25]  # never, always, logit 0, logit -ln 3
    thresholds.write_text(json.dumps(data))
    assert (
        main([*evaluate, "--out", str(tmp_path / "edited"), "--thresholds", str(thresholds)]) == 0
    )
    report = json.loads((tmp_path / "edited" / "metrics.json").read_text())
    assert report["threshold"] == [1.0, 0.0, 0.5, 0.25]
    assert report["logit_threshold"][2:] == pytest.approx([0.0, -np.log(3)])
    predictions = tmp_path / "p.json"
    images = _images(color_dataset, 4)
    argv = ["predict", str(trained / "best.pt"), *images, "--thresholds", str(thresholds)]
    assert main([*argv, "--workers", "0", "--out", str(predictions)]) == 0
    for record in json.loads(predictions.read_text())["predictions"]:
        scores = record["scores"]
        assert "red" not in record["labels"] and "green" in record["labels"]
        assert ("blue" in record["labels"]) == (scores["blue"] >= 0.5)
        assert ("square" in record["labels"]) == (scores["square"] >= 0.25)
    capsys.readouterr()


@pytest.mark.parametrize("bad", ["high", {"p": 0.5}, None, True])
def test_a_threshold_that_is_not_a_number_is_one_line(
    trained: Path, color_dataset: Path, tmp_path: Path, capsys, bad: object
) -> None:
    thresholds = tmp_path / "t.json"
    thresholds.write_text(json.dumps({"label_names": LABELS, "thresholds": [0.5, bad, 0.5, 0.5]}))
    images = _images(color_dataset, 1)
    assert (
        main(["predict", str(trained / "best.pt"), *images, "--thresholds", str(thresholds)]) == 2
    )
    err = capsys.readouterr().err
    assert err.startswith(f"agcn predict: error: {thresholds}: thresholds[1] (label 'green') is ")
    assert len(err.splitlines()) == 1


def test_evaluate_overrides_go_through_the_schema_and_name_their_folder(
    trained: Path, color_dataset: Path, capsys
) -> None:
    training_eval = (trained / "eval" / "metrics.json").read_bytes()
    for override, message in [
        ("data.normalization=nope", "data.normalization: expected one of ['backbone', "),
        ("data.image_size=100000000", "data.image_size: expected an int in [1, 4096]"),
        ("data.val.bogus=1", "data.val.bogus: dataset 'csv' takes no 'bogus'"),
    ]:
        assert main(["evaluate", str(trained / "best.pt"), override]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"agcn evaluate: error: {message}") and len(err.splitlines()) == 1
    argv = ["evaluate", str(trained / "best.pt"), "--workers", "0"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    header = printed.splitlines()[0]
    assert header.startswith("| Model | mAP | All: CP |")
    assert header.endswith("| AP_all | AP protocol |")
    assert "| run | " in printed and "| mlgcn |" in printed  # the run's name, the protocol
    assert (trained / "eval_best" / "metrics.json").is_file()
    other = f"data.val.csv_file={color_dataset / 'train.csv'}"
    assert main([*argv, other]) == 0
    capsys.readouterr()
    assert (
        json.loads((trained / "eval_best_csv_train" / "metrics.json").read_text())["num_images"]
        == 48
    )
    assert (trained / "eval" / "metrics.json").read_bytes() == training_eval  # training's


def test_a_validation_split_without_positives_stops_before_training(
    run_config, tmp_path: Path, color_dataset: Path, capsys
) -> None:
    rows = (color_dataset / "val.csv").read_text().splitlines()
    empty = tmp_path / "val_empty.csv"
    empty.write_text("\n".join([rows[0], *(r.split(",")[0] + "," for r in rows[1:])]) + "\n")
    val = {"csv_file": str(empty), "label_names": str(color_dataset / "labels.txt")}
    val["image_dir"] = str(color_dataset)
    config = run_config("no_positives", data={"val": val})
    assert main(["train", "-c", str(config)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("agcn train: error: data.val (csv/val_empty, 24 images): no ")
    assert "epoch" not in captured.out
    assert not (tmp_path / "runs" / "no_positives" / "last.pt").exists()
