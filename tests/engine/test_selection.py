"""Model selection off the test split: the split rule, the holdout, ``train.select``, and what
``eval/metrics.json`` says, through the CLI and the trainer, with resume."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import agcn_pyg.engine.trainer as trainer_module
from agcn_pyg.__main__ import main
from agcn_pyg.config import load_run_config, to_dict
from agcn_pyg.data import from_csv
from agcn_pyg.data.holdout import holdout_indices, read_holdout_paths
from agcn_pyg.engine import inputs
from agcn_pyg.engine.checkpoint import load_model, read_checkpoint
from agcn_pyg.engine.feature_cache import extract_features
from agcn_pyg.engine.trainer import Trainer
from agcn_pyg.errors import ConfigError, DataError
from agcn_pyg.selection import MARK, split_roles

pytestmark = pytest.mark.slow


class Killed(BaseException):
    """Stands for SIGKILL at one instant: nothing after it runs."""


@pytest.fixture
def split_csvs(tmp_path: Path, color_dataset: Path) -> dict[str, dict[str, str]]:
    """``data.val`` and ``data.test`` builder arguments: the first and the second half of
    the colour set's 24 validation images."""
    lines = (color_dataset / "val.csv").read_text().splitlines()
    out = {}
    for name, rows in (("val", lines[1:13]), ("test", lines[13:])):
        path = tmp_path / f"{name}_half.csv"
        path.write_text("\n".join([lines[0], *rows]) + "\n")
        out[name] = {
            "csv_file": str(path),
            "image_dir": str(color_dataset),
            "label_names": str(color_dataset / "labels.txt"),
        }
    return out


def _metrics(run: Path) -> dict:
    return json.loads((run / "eval" / "metrics.json").read_text())


def _log_maps(run: Path) -> list[float]:
    return [float(row["mAP"]) for row in csv.DictReader((run / "log.csv").open())]


def _evaluate(checkpoint: Path, out: Path) -> dict:
    argv = ["evaluate", str(checkpoint), "--out", str(out), "--workers", "0", "--no-progress"]
    assert main(argv) == 0
    return json.loads((out / "metrics.json").read_text())


@pytest.mark.parametrize(
    ("holdout", "test", "select", "expected"),
    [
        (False, False, "auto", ("val", "val", "last")),
        (False, False, "best", ("val", "val", "best")),
        (False, True, "auto", ("val", "test", "best")),
        (False, True, "last", ("val", "test", "last")),
        (True, False, "auto", ("holdout", "val", "best")),
    ],
)
def test_the_split_rule(run_config, split_csvs, holdout, test, select, expected) -> None:
    data = {"holdout": {"fraction": 0.25, "seed": 0}} if holdout else {}
    if test:
        data |= {"val": split_csvs["val"], "test": split_csvs["test"]}
    cfg = load_run_config(run_config("rule", data=data, train={"select": select}))
    roles = split_roles(cfg.data, cfg.train)
    assert (roles.selection, roles.reported, roles.select) == expected
    assert roles.selected_on_reported == (expected == ("val", "val", "best"))


def test_contradictory_splits_are_refused_in_one_line(
    run_config, split_csvs, color_dataset: Path, capsys
) -> None:
    both = {"holdout": {"fraction": 0.2}, "test": split_csvs["test"]}
    with pytest.raises(ConfigError, match=r"^data\.holdout: with a holdout, data\.val is"):
        load_run_config(run_config("both", data=both))
    val = {
        "csv_file": str(color_dataset / "val.csv"),
        "label_names": str(color_dataset / "labels.txt"),
    }
    with pytest.raises(ConfigError, match=r"^data\.test: the same split as data\.val"):
        load_run_config(run_config("same", data={"test": val}))
    with pytest.raises(ConfigError, match=r"data\.holdout\.fraction: expected a number in"):
        load_run_config(run_config("whole", data={"holdout": {"fraction": 1.0}}))
    with pytest.raises(ConfigError, match=r"train\.select: expected one of"):
        load_run_config(run_config("pick", train={"select": "median"}))
    # a holdout too small to hold an image: one line, exit status 2, before any training
    argv = ["train", "-c", str(run_config("tiny")), "data.holdout.fraction=0.001"]
    assert main([*argv, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "data.holdout.fraction 0.001 of 48 training images" in err[0]


def test_holdout_indices_follow_the_seed_alone() -> None:
    train, held = holdout_indices(100, 0.2, seed=3)
    assert len(held) == 20 and len(train) == 80
    assert sorted([*train, *held]) == list(range(100)) and not set(train) & set(held)
    again = holdout_indices(100, 0.2, seed=3)
    assert np.array_equal(again[1], held)
    assert not np.array_equal(holdout_indices(100, 0.2, seed=4)[1], held)
    # the rule of agcn_pyg.data.holdout, restated
    order = np.random.default_rng(3).permutation(100)
    assert np.array_equal(held, np.sort(order[:20]))
    with pytest.raises(DataError, match="both need at least one"):
        holdout_indices(10, 0.96, seed=0)


def test_default_reports_the_last_epoch_when_val_is_the_reported_split(
    run_config, tmp_path: Path, capsys
) -> None:
    cfg = run_config("plain", train={"epochs": 3})
    assert main(["train", "-c", str(cfg), "--no-progress"]) == 0
    run = tmp_path / "runs" / "plain"
    report = _metrics(run)
    assert report["select"] == "last" and report["selected_on"] == "val"
    assert report["reported_split"] == report["evaluated_on"] == "val"
    assert report["selected_epoch"] == 3 and report["selected_on_reported_split"] is False
    assert not any("test" in key for key in report)  # no other split to report
    assert read_checkpoint(run / "best.pt")["epoch"] == 2  # 0-based: the last epoch
    maps = _log_maps(run)
    assert len(maps) == 3 and report["selection_mAP"] == pytest.approx(maps[-1], abs=1e-4)
    assert report["metrics"]["mAP"] == pytest.approx(maps[-1], abs=1e-4)


def test_select_best_on_the_reported_split_is_marked(run_config, tmp_path: Path, capsys) -> None:
    cfg = run_config("peek", train={"epochs": 3, "select": "best"})
    assert main(["train", "-c", str(cfg), "--no-progress"]) == 0
    run = tmp_path / "runs" / "peek"
    report = _metrics(run)
    maps = _log_maps(run)
    assert report["select"] == "best" and report["selected_on_reported_split"] is True
    assert "optimistic" in report["selection_note"]
    assert report["selected_epoch"] == int(np.argmax(maps)) + 1
    assert report["selection_mAP"] == pytest.approx(max(maps), abs=1e-4)
    capsys.readouterr()
    assert main(["results-table", str(run / "eval")]) == 0
    table = capsys.readouterr().out
    assert f"| peek {MARK} |" in table


def test_a_test_split_is_reported_for_the_selected_and_the_last_epoch(
    run_config, split_csvs, tmp_path: Path, capsys
) -> None:
    data = {"val": split_csvs["val"], "test": split_csvs["test"]}
    cfg = run_config("tested", data=data, train={"epochs": 3, "lr": 0.2})
    assert main(["train", "-c", str(cfg), "--no-progress"]) == 0
    assert "test split (12 images): mAP" in capsys.readouterr().out
    run = tmp_path / "runs" / "tested"
    report = _metrics(run)
    maps = _log_maps(run)  # the selection split's, every epoch
    assert (report["select"], report["selected_on"], report["reported_split"]) == (
        "best",
        "val",
        "test",
    )
    assert report["evaluated_on"] == "test" and report["num_images"] == 12
    assert report["selected_epoch"] == int(np.argmax(maps)) + 1
    assert report["selection_mAP"] == pytest.approx(max(maps), abs=1e-4)
    assert report["last_epoch"] == 3 and report["selected_on_reported_split"] is False
    # the selected and the last epoch, scored again on the test split from their checkpoints
    # (agcn evaluate scores a run's reported split)
    selected = _evaluate(run / "best.pt", tmp_path / "eval_best")
    last = _evaluate(run / "last.pt", tmp_path / "eval_last")
    assert selected["num_images"] == last["num_images"] == 12
    assert report["test_mAP"] == pytest.approx(selected["metrics"]["mAP"], abs=1e-6)
    assert report["metrics"]["mAP"] == report["test_mAP"]
    assert report["test_metrics"]["OF1"] == pytest.approx(selected["metrics"]["OF1"], abs=1e-6)
    assert report["test_last_mAP"] == pytest.approx(last["metrics"]["mAP"], abs=1e-6)
    assert report["test_last_metrics"]["CF1"] == pytest.approx(last["metrics"]["CF1"], abs=1e-6)
    with np.load(run / "eval" / "scores.npz") as scores:
        assert scores["logits"].shape == (12, 4)


def _holdout_config(run_config, name: str, **train: object) -> Path:
    data = {"holdout": {"fraction": 0.25, "seed": 1}}
    return run_config(name, data=data, train={"epochs": 3, **train})


def test_holdout_images_never_reach_training(
    run_config, color_dataset: Path, tmp_path: Path
) -> None:
    cfg = load_run_config(_holdout_config(run_config, "held"))
    splits = inputs.load_splits(cfg.data)
    everything = from_csv(color_dataset / "train.csv", label_names=color_dataset / "labels.txt")
    held = set(map(str, splits.val.image_paths))
    kept = set(map(str, splits.train.image_paths))
    assert len(held) == 12 and len(kept) == 36 and not held & kept
    assert held | kept == set(map(str, everything.image_paths))
    assert [str(p) for p in splits.test.image_paths] == [
        str(p) for p in from_csv(color_dataset / "val.csv").image_paths
    ]
    # what the trainer's loaders hold: training images without the holdout
    trainer = Trainer(cfg, progress=False)
    source = trainer.source
    trained = {str(p) for p in source.train_loader.dataset.dataset.image_paths}
    assert trained == kept
    assert {str(p) for p in source.val_loader.dataset.dataset.image_paths} == held
    result = trainer.fit()
    run = tmp_path / "runs" / "held"
    assert set(read_holdout_paths(run / "holdout.txt")) == held
    env = json.loads((run / "env.json").read_text())
    assert env["holdout"] == {"fraction": 0.25, "seed": 1, "images": 12, "train_images": 36}
    assert env["splits"]["images"] == {"train": 36, "holdout": 12, "val": 24}
    report = _metrics(run)
    assert (report["selected_on"], report["evaluated_on"], report["num_images"]) == (
        "holdout",
        "val",
        24,
    )
    assert result["test"]["split"] == "val"
    assert result["test"]["selected"]["mAP"] == pytest.approx(report["test_mAP"])


def test_features_mode_trains_the_head_without_the_holdouts_features(
    run_config, color_dataset: Path, tmp_path: Path
) -> None:
    cfg = load_run_config(_holdout_config(run_config, "probe", epochs=2, device="cpu"))
    trainer = Trainer(cfg, mode="features", progress=False)
    source = trainer.source
    assert source.x_train.shape[0] == 36 and source.x_val.shape[0] == 12
    assert source.test[0].shape[0] == 24
    # the rows are the features of exactly the kept and the held-out training images
    everything = from_csv(color_dataset / "train.csv", label_names=color_dataset / "labels.txt")
    transform, normalize = inputs.test_pipeline(to_dict(cfg), trainer.unwrapped)
    full, _ = extract_features(
        trainer.unwrapped, everything.with_transform(transform), progress=False, normalize=normalize
    )
    kept, held = holdout_indices(48, 0.25, seed=1)
    np.testing.assert_allclose(source.x_train.numpy(), full[kept], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(source.x_val.numpy(), full[held], rtol=1e-5, atol=1e-5)
    trainer.fit()
    report = _metrics(tmp_path / "runs" / "probe")
    assert report["evaluated_on"] == "val" and "test_last_mAP" in report


def _outcome(run: Path) -> tuple:
    report = _metrics(run)
    keys = ("selected_epoch", "selection_mAP", "test_mAP", "test_last_mAP", "evaluated_on")
    return tuple(report[k] for k in keys), (run / "holdout.txt").read_text(), _log_maps(run)


def test_a_resumed_run_keeps_its_holdout(run_config, tmp_path: Path, interrupted_run) -> None:
    Trainer(load_run_config(_holdout_config(run_config, "straight")), progress=False).fit()
    path = _holdout_config(run_config, "resumed")
    interrupted_run(load_run_config(path), epoch=1)
    run = tmp_path / "runs" / "resumed"
    listed = (run / "holdout.txt").read_text()
    # the holdout is part of the run's history: another one is refused
    with pytest.raises(ConfigError, match=r"data\.holdout\.seed"):
        Trainer(load_run_config(path, ["data.holdout.seed=2"]), resume=True, progress=False)
    with pytest.raises(ConfigError, match=r"train\.select"):
        Trainer(load_run_config(path, ["train.select=last"]), resume=True, progress=False)
    Trainer(load_run_config(path), resume=True, progress=False).fit()
    assert (run / "holdout.txt").read_text() == listed
    assert _outcome(run) == _outcome(tmp_path / "runs" / "straight")
    # a training split that changed under the run is refused (its holdout.txt differs)
    (run / "holdout.txt").write_text(listed.replace("train_0", "train_9", 1))
    with pytest.raises(ConfigError, match=r"holdout\.txt: data\.holdout now holds other images"):
        Trainer(load_run_config(path), resume=True, progress=False)


def test_a_kill_during_the_reported_evaluation_is_finished_by_resume(
    run_config, tmp_path: Path, monkeypatch
) -> None:
    Trainer(load_run_config(_holdout_config(run_config, "whole")), progress=False).fit()
    path = _holdout_config(run_config, "killed")
    original = trainer_module.commit_evaluation

    def kill(out_dir, *args, **kwargs):
        # the staged folder is half written when the kill comes
        (Path(out_dir).with_name("eval.next")).mkdir(exist_ok=True)
        raise Killed

    monkeypatch.setattr(trainer_module, "commit_evaluation", kill)
    with pytest.raises(Killed):
        Trainer(load_run_config(path), progress=False).fit()
    run = tmp_path / "runs" / "killed"
    assert _metrics(run)["evaluated_on"] == "holdout"  # the last commit's, whole
    monkeypatch.setattr(trainer_module, "commit_evaluation", original)
    result = Trainer(load_run_config(path), resume=True, progress=False).fit()
    assert result["finished_before"] is True and result["test"]["split"] == "val"
    assert not (run / "eval.next").exists()
    assert _outcome(run) == _outcome(tmp_path / "runs" / "whole")
    # once finished, a resume reads the evaluation instead of scoring again
    monkeypatch.setattr(trainer_module, "commit_evaluation", kill)
    again = Trainer(load_run_config(path), resume=True, progress=False).fit()
    assert again["test"] == result["test"]
    model, _ = load_model(run / "best.pt")
    assert isinstance(model.head.embeddings, torch.Tensor)


def test_an_evaluated_split_without_positives_is_refused_before_training(
    run_config, split_csvs, tmp_path: Path, capsys
) -> None:
    # mAP is undefined without a positive: every evaluation would fail after its epoch.
    test = dict(split_csvs["test"])
    lines = Path(test["csv_file"]).read_text().splitlines()
    empty = tmp_path / "no_positives.csv"
    empty.write_text("\n".join([lines[0], *(line.split(",")[0] + "," for line in lines[1:])]))
    test["csv_file"] = str(empty)
    config = run_config("empty", data={"val": split_csvs["val"], "test": test})
    assert main(["train", "-c", str(config), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "data.test (" in err[0] and "no image has a positive" in err[0]
    assert not (tmp_path / "runs" / "empty" / "last.pt").exists()


def test_a_test_csv_without_a_label_list_takes_the_training_order(
    run_config, split_csvs, color_dataset: Path, tmp_path: Path
) -> None:
    # Following the README with a test.csv that lacks one label stopped with "label order
    # differs"; the custom-data README says the test CSV takes the training order.
    train = {"csv_file": str(color_dataset / "train.csv"), "image_dir": str(color_dataset)}
    rows = Path(split_csvs["test"]["csv_file"]).read_text().splitlines()
    names = from_csv(train["csv_file"], image_dir=train["image_dir"]).label_names
    kept = [rows[0]] + [r for r in rows[1:] if names[-1] not in r.split(",", 1)[1]]
    assert len(kept) > 2
    lacking = tmp_path / "lacking.csv"
    lacking.write_text("\n".join(kept) + "\n")
    val = {"csv_file": str(lacking), "image_dir": str(color_dataset)}
    cfg = load_run_config(run_config("order", data={"train": train, "val": val}))
    splits = inputs.load_splits(cfg.data)
    assert splits.val.label_names == names and splits.val.targets.shape[1] == len(names)
    assert not bool((splits.val.targets[:, -1] == 1).any())
