"""train → evaluate → predict through the CLI, and the files each step leaves behind."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
import yaml

from agcn_pyg.__main__ import main
from agcn_pyg.engine.checkpoint import load_model, read_checkpoint
from agcn_pyg.metrics import METRIC_COLUMNS

pytestmark = pytest.mark.slow


def test_train_evaluate_predict(run_config, tmp_path: Path, color_dataset: Path, capsys) -> None:
    cfg = run_config("e2e")
    assert main(["train", "-c", str(cfg), "--no-progress"]) == 0
    run = tmp_path / "runs" / "e2e"
    for name in ("config.yaml", "env.json", "log.csv", "last.pt", "best.pt", "eval/metrics.json"):
        assert (run / name).is_file(), name

    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["model"]["num_classes"] == 4 and resolved["train"]["epochs"] == 2
    env = json.loads((run / "env.json").read_text())
    assert env["seed"] == 0 and env["versions"]["torch"] == torch.__version__
    assert "git_commit" in env and env["label_names"] == ["red", "green", "blue", "square"]
    log = list(csv.DictReader((run / "log.csv").open()))
    assert [row["epoch"] for row in log] == ["1", "2"]
    assert all(0 <= float(row["mAP"]) <= 100 for row in log)

    checkpoint = read_checkpoint(run / "best.pt")
    assert checkpoint["label_names"] == ["red", "green", "blue", "square"]
    assert checkpoint["model_config"]["backbone"] == "test_resnet"
    assert checkpoint["versions"]["timm"] and checkpoint["run_config"]["name"] == "e2e"
    assert "training_state" not in checkpoint
    assert "training_state" in read_checkpoint(run / "last.pt")
    model, meta = load_model(run / "best.pt")
    assert meta["cooccurrence"]["adj"].shape == (4, 4)
    assert model.head.embeddings.shape == (4, 4)  # one-hot E travelled in the checkpoint

    out = tmp_path / "evaluation"
    thresholds = tmp_path / "thresholds.json"
    code = main(
        [
            "evaluate",
            str(run / "best.pt"),
            "--out",
            str(out),
            "--tune-thresholds",
            str(thresholds),
            "--workers",
            "0",
            "--no-progress",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "| mAP |" in printed.replace("Method | mAP", "| mAP")
    report = json.loads((out / "metrics.json").read_text())
    assert set(METRIC_COLUMNS) <= set(report["metrics"]) and "AP_all" in report["metrics"]
    assert len(report["per_class_AP"]) == 4 and report["num_images"] == 24
    # the stored best-epoch evaluation and a fresh one of best.pt agree
    stored = json.loads((run / "eval" / "metrics.json").read_text())
    assert stored["metrics"]["mAP"] == pytest.approx(report["metrics"]["mAP"], abs=1e-9)
    rows = list(csv.DictReader((out / "per_class.csv").open()))
    assert [r["label"] for r in rows] == ["red", "green", "blue", "square"]
    tuned = json.loads(thresholds.read_text())
    assert tuned["label_names"] == report["label_names"] and len(tuned["thresholds"]) == 4
    # every protocol's mAP is in metrics.json; --ap-protocol picks the headline
    assert report["ap_protocol"] == "mlgcn" and report["metrics"]["mAP_mlgcn"] == pytest.approx(
        report["metrics"]["mAP"]
    )
    voc = tmp_path / "evaluation_voc"
    argv = ["evaluate", str(run / "best.pt"), "--out", str(voc), "--ap-protocol", "voc"]
    assert main([*argv, "--workers", "0", "--no-progress"]) == 0
    capsys.readouterr()
    again = json.loads((voc / "metrics.json").read_text())
    assert again["ap_protocol"] == "voc"
    assert again["metrics"]["mAP"] == pytest.approx(report["metrics"]["mAP_voc"], abs=1e-9)

    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff not really a jpeg")
    preds = tmp_path / "preds.csv"
    images = color_dataset / "images"
    good = sorted(images.glob("val_00*.png"))[:3]
    args = ["predict", str(run / "best.pt"), *map(str, good), "--out", str(preds)]
    assert main([*args, "--thresholds", str(thresholds), "--no-progress", "--workers", "0"]) == 0
    table = list(csv.DictReader(preds.open()))
    assert [Path(r["image"]).name for r in table] == [p.name for p in good]
    assert set(table[0]) == {"image", "labels", "red", "green", "blue", "square"}
    args = ["predict", str(run / "best.pt"), str(good[0]), str(bad), "--out", str(preds)]
    assert main([*args, "--no-progress", "--workers", "0", "--overwrite"]) == 3  # one skipped
    assert "broken.jpg" in capsys.readouterr().out
    assert len(list(csv.DictReader(preds.open()))) == 1


def test_predict_json_matches_model_probabilities(
    run_config, tmp_path: Path, color_dataset: Path
) -> None:
    cfg = run_config("json", train={"epochs": 1})
    assert main(["train", "-c", str(cfg), "--no-progress"]) == 0
    ckpt = tmp_path / "runs" / "json" / "best.pt"
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(str(p) for p in sorted((color_dataset / "images").glob("*"))[:5]))
    out = tmp_path / "p.json"
    assert main(["predict", str(ckpt), "--list", str(listing), "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert len(data["predictions"]) == 5 and data["skipped"] == []

    from agcn_pyg.config import RunConfig, from_dict
    from agcn_pyg.data import build_transforms, load_image

    model, meta = load_model(ckpt)
    first = data["predictions"][0]
    # the float recipe, normalised on the CPU: what predict's uint8 path must reproduce
    cfg = from_dict(RunConfig, meta["run_config"]).data
    _, test = build_transforms(cfg.transforms, cfg.image_size, cfg.resize_size)
    image = test(load_image(first["image"]))
    with torch.no_grad():
        probs = torch.sigmoid(model(image[None]))[0]
    for name, p in zip(meta["label_names"], probs.tolist(), strict=True):
        assert first["scores"][name] == pytest.approx(p, abs=1e-5)
        assert (name in first["labels"]) == (p >= 0.5)
