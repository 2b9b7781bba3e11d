"""Evaluation ranks logits: confident scores do not tie, thresholds convert once."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from agcn_pyg.engine.evaluate import (
    load_thresholds,
    read_scores,
    save_thresholds,
    write_evaluation,
)
from agcn_pyg.errors import ConfigError, DataError
from agcn_pyg.metrics import compute_metrics, logit_threshold, sigmoid, tune_thresholds

NAMES = ["a", "b", "c"]


def _case() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    targets = (rng.random((200, 3)) < 0.3).astype(np.int64)
    targets[0] = 1
    # distinct values in [-3, 3], correlated with the targets
    logits = np.clip(rng.normal(size=(200, 3)) + 1.5 * targets, -2.99, 2.99).astype(np.float32)
    return logits, targets


def test_logits_of_30_give_the_map_of_logits_of_3(tmp_path: Path) -> None:
    logits, targets = _case()
    small = write_evaluation(tmp_path / "small", "x", logits, targets, NAMES)
    large = write_evaluation(tmp_path / "large", "x", logits * 10, targets, NAMES)
    assert large["metrics"]["mAP"] == pytest.approx(small["metrics"]["mAP"], abs=1e-9)
    assert large["metrics"]["AP_all"] != pytest.approx(0.0)
    # the probabilities of the large logits tie (float32 sigmoid is 1.0 from about 17 on)
    probs = (1 / (1 + np.exp(-(logits.astype(np.float32) * 10)))).astype(np.float32)
    assert (probs == 1.0).sum() > 10
    assert compute_metrics(probs, targets)["mAP"] < small["metrics"]["mAP"] - 0.1
    stored, stored_targets = read_scores(tmp_path / "large" / "scores.npz")
    assert np.array_equal(stored, logits * 10) and np.array_equal(stored_targets, targets)


def test_threshold_half_is_logit_zero_in_every_threshold_metric(tmp_path: Path) -> None:
    logits, targets = _case()
    report = write_evaluation(tmp_path, "x", logits, targets, NAMES, threshold=0.5)
    probs = sigmoid(logits)
    expected = compute_metrics(probs, targets, threshold=0.5)
    for key in ("CP", "CR", "CF1", "OP", "OR", "OF1", "OF1_top3"):
        assert report["metrics"][key] == pytest.approx(expected[key], abs=1e-9), key
    assert report["threshold"] == 0.5 and report["logit_threshold"] == 0.0
    rows = (tmp_path / "per_class.csv").read_text().splitlines()
    assert rows[1].split(",")[4] == "0.5"  # the per-class CSV reports probabilities


def test_tuned_thresholds_round_trip_exactly(tmp_path: Path) -> None:
    logits, targets = _case()
    tuned = tune_thresholds(logits * 10, targets, default=0.0)
    path = tmp_path / "thr.json"
    save_thresholds(path, tuned, NAMES)
    stored = json.loads(path.read_text())
    assert stored["thresholds"] == pytest.approx(sigmoid(tuned).tolist())
    assert np.array_equal(load_thresholds(path, NAMES, logits=True), tuned)
    assert load_thresholds(path, NAMES) == pytest.approx(sigmoid(tuned))
    # a file that holds probabilities only is converted once
    path.write_text(json.dumps({"label_names": NAMES, "thresholds": [0.5, 0.25, 0.75]}))
    assert load_thresholds(path, NAMES, logits=True) == pytest.approx(
        [0.0, np.log(1 / 3), np.log(3)]
    )


def test_older_scores_files_hold_probabilities_and_still_read(tmp_path: Path) -> None:
    logits, targets = _case()
    path = tmp_path / "scores.npz"
    np.savez(path, scores=sigmoid(logits).astype(np.float32), targets=targets)
    scores, read_targets = read_scores(path)
    assert np.array_equal(read_targets, targets)
    ap = compute_metrics(scores, targets)["mAP"]
    assert ap == pytest.approx(compute_metrics(logits, targets, threshold=0.0)["mAP"])


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, float("nan")])
def test_probability_thresholds_must_lie_inside_zero_one(bad: float) -> None:
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        logit_threshold(bad)


def test_threshold_files_from_probabilities_of_one_still_load(tmp_path: Path) -> None:
    logits, targets = _case()
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"label_names": NAMES, "thresholds": [1.0, 0.0, 0.5]}))
    thresholds = load_thresholds(path, NAMES, logits=True)
    assert thresholds[0] == np.inf and thresholds[1] == -np.inf and thresholds[2] == 0.0
    report = write_evaluation(
        tmp_path / "e", "x", logits, targets, NAMES, logit_thresholds=thresholds
    )
    rows = (tmp_path / "e" / "per_class.csv").read_text().splitlines()[1:]
    assert [row.split(",")[4] for row in rows] == ["1.0", "0.0", "0.5"]
    assert report["logit_threshold"] == [None, None, 0.0]


def test_the_probabilities_in_a_thresholds_file_are_what_counts(tmp_path: Path) -> None:
    # Issue 23, case 9: editing the probabilities was ignored (the stored logits won).
    logits, targets = _case()
    tuned = tune_thresholds(logits * 10, targets, default=0.0)
    path = tmp_path / "thr.json"
    save_thresholds(path, tuned, NAMES)
    data = json.loads(path.read_text())
    data["thresholds"][1] = 0.9  # edited; the others as tuned
    path.write_text(json.dumps(data))
    loaded = load_thresholds(path, NAMES, logits=True)
    assert loaded[1] == pytest.approx(np.log(9))
    assert loaded[0] == tuned[0] and loaded[2] == tuned[2]  # unedited: the exact logits
    data["thresholds"][1] = 1.0
    path.write_text(json.dumps(data))
    assert load_thresholds(path, NAMES, logits=True)[1] == np.inf  # never predicted


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("thresholds", "high", r"thresholds\[1\] \(label 'b'\) is 'high', expected a finite"),
        ("thresholds", {"p": 1}, r"thresholds\[1\] \(label 'b'\) is \{'p': 1\}"),
        ("thresholds", 1.5, r"thresholds\[1\] \(label 'b'\) is 1.5; thresholds are probab"),
        ("logit_thresholds", [0], r"logit_thresholds\[1\] \(label 'b'\) is \[0\]"),
    ],
)
def test_a_threshold_that_is_not_a_probability_is_one_line(
    tmp_path: Path, field: str, value: object, message: str
) -> None:
    # Issue 23, case 17: a string or an object where a number belongs was a traceback.
    data = {"label_names": NAMES, "thresholds": [0.5, 0.5, 0.5], "logit_thresholds": [0, 0, 0]}
    data[field][1] = value
    path = tmp_path / "thr.json"
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match=rf"thr\.json: {message}"):
        load_thresholds(path, NAMES, logits=True)
    path.write_text("[1, 2")
    with pytest.raises(DataError, match=r"thr\.json: not a JSON thresholds file"):
        load_thresholds(path, NAMES)
