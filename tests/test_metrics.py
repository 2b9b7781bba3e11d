"""Tests for agcn_pyg.metrics: hand-worked cases, the loop reference, scikit-learn, errors."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from agcn_pyg.analysis.results_table import format_table
from agcn_pyg.errors import ConfigError, DataError
from agcn_pyg.metrics import (
    METRIC_COLUMNS,
    average_precision,
    compute_metrics,
    tune_thresholds,
)

# The loop oracle is a file beside the tests, not a package module (pytest runs with
# --import-mode=importlib, so this folder is not importable by name).
_spec = importlib.util.spec_from_file_location(
    "metrics_reference", Path(__file__).with_name("metrics_reference.py")
)
_reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_reference)
reference_average_precision = _reference.reference_average_precision
reference_metrics = _reference.reference_metrics

# ---------------------------------------------------------------------------------------------
# The hand-worked case: 5 images × 2 classes.
#
#            scores          targets
#   img0   [0.90, 0.20]     [ 1,  0]
#   img1   [0.80, 0.70]     [ 0,  1]
#   img2   [0.30, 0.60]     [ 1, -1]
#   img3   [0.10, 0.55]     [ 0,  1]
#   img4   [0.40, 0.30]     [ 1,  0]
#
# AP, class 0: ranking img0 .9 (+), img1 .8 (-), img4 .4 (+), img2 .3 (+), img3 .1 (-)
#   precisions at the positives 1/1, 2/3, 3/4 -> AP0 = (1 + 2/3 + 3/4) / 3 = 29/36
# AP, class 1: ranking img1 .7 (+), img2 .6 (skipped, -1), img3 .55 (+), img4 .3, img0 .2
#   precisions 1/1, 2/2 -> AP1 = 1   (counting img2 as a negative would give (1 + 2/3)/2)
# mAP = (29/36 + 1) / 2 = 65/72
#
# Threshold 0.5 (-1 counts as a negative):
#   class 0: predicted img0, img1        -> Np = 2, Nc = 1, Ng = 3
#   class 1: predicted img1, img2, img3  -> Np = 3, Nc = 2, Ng = 2  (img2 is a false positive)
#   CP = (1/2 + 2/3)/2 = 7/12   CR = (1/3 + 2/2)/2 = 2/3   CF1 = 2·(7/12)(2/3)/(15/12) = 28/45
#   OP = 3/5                    OR = 3/5                   OF1 = 3/5
#
# Top-1: each image's highest score, kept only if >= 0.5:
#   img0 -> c0 (.9), img1 -> c0 (.8), img2 -> c1 (.6), img3 -> c1 (.55), img4 -> c0 (.4, dropped)
#   class 0: Np = 2, Nc = 1 (img0), Ng = 3;  class 1: Np = 2, Nc = 1 (img3), Ng = 2
#   CP = (1/2 + 1/2)/2 = 1/2    CR = (1/3 + 1/2)/2 = 5/12  CF1 = (5/12)/(11/12) = 5/11
#   OP = 2/4                    OR = 2/5                   OF1 = 2·(1/2)(2/5)/(9/10) = 4/9
#
# AP_all over the 9 non-ignored pairs, best first (the two 0.3 tie: img2/c0 has flat index 4,
# img4/c1 has 9, so img2/c0 comes first):
#   .9 +, .8 -, .7 +, .55 +, .4 +, .3 + (img2 c0), .3 - (img4 c1), .2 -, .1 -
#   precisions 1/1, 2/3, 3/4, 4/5, 5/6 -> (60 + 40 + 45 + 48 + 50) / 60 / 5 = 243/300 = 0.81
# ---------------------------------------------------------------------------------------------

HAND_SCORES = np.array(
    [[0.90, 0.20], [0.80, 0.70], [0.30, 0.60], [0.10, 0.55], [0.40, 0.30]], dtype=np.float32
)
HAND_TARGETS = np.array([[1, 0], [0, 1], [1, -1], [0, 1], [1, 0]])


def approx(x: float) -> object:
    return pytest.approx(x, abs=1e-9)


def test_hand_case_average_precision() -> None:
    m = compute_metrics(HAND_SCORES, HAND_TARGETS)
    np.testing.assert_allclose(m["per_class_AP"], [100 * 29 / 36, 100.0], atol=1e-9)
    assert m["mAP"] == approx(100 * 65 / 72)
    np.testing.assert_allclose(
        average_precision(HAND_SCORES, HAND_TARGETS), [29 / 36, 1.0], atol=1e-12
    )


def test_ignored_targets_are_skipped_by_ap() -> None:
    as_negative = HAND_TARGETS.copy()
    as_negative[2, 1] = 0
    ap = average_precision(HAND_SCORES, as_negative)
    assert ap[1] == approx(5 / 6)
    assert average_precision(HAND_SCORES, HAND_TARGETS)[1] == approx(1.0)


def test_hand_case_threshold_metrics() -> None:
    m = compute_metrics(HAND_SCORES, HAND_TARGETS, threshold=0.5)
    assert m["CP"] == approx(100 * 7 / 12)
    assert m["CR"] == approx(100 * 2 / 3)
    assert m["CF1"] == approx(100 * 28 / 45)
    assert m["OP"] == approx(60.0)
    assert m["OR"] == approx(60.0)
    assert m["OF1"] == approx(60.0)


def test_hand_case_top1() -> None:
    m = compute_metrics(HAND_SCORES, HAND_TARGETS, top_k=1)
    assert "CP_top3" not in m
    assert m["CP_top1"] == approx(50.0)
    assert m["CR_top1"] == approx(100 * 5 / 12)
    assert m["CF1_top1"] == approx(100 * 5 / 11)
    assert m["OP_top1"] == approx(50.0)
    assert m["OR_top1"] == approx(40.0)
    assert m["OF1_top1"] == approx(100 * 4 / 9)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_top_k_of_at_least_c_labels_equals_threshold_metrics(k: int) -> None:
    m = compute_metrics(HAND_SCORES, HAND_TARGETS, top_k=k)
    for name in ("CP", "CR", "CF1", "OP", "OR", "OF1"):
        assert m[f"{name}_top{k}"] == approx(m[name])


def test_hand_case_ap_all() -> None:
    assert compute_metrics(HAND_SCORES, HAND_TARGETS)["AP_all"] == approx(81.0)


def test_per_class_threshold_array() -> None:
    # Class 0 at 0.85 predicts img0 only: Np = 1, Nc = 1. Class 1 as before: Np = 3, Nc = 2.
    # CP = (1 + 2/3)/2 = 5/6; OP = 3/4; OR = 3/5.
    m = compute_metrics(HAND_SCORES, HAND_TARGETS, threshold=np.array([0.85, 0.5]))
    assert m["CP"] == approx(100 * 5 / 6)
    assert m["OP"] == approx(75.0)
    assert m["OR"] == approx(60.0)


def test_np_zero_quirk() -> None:
    # class 0: predicted img0 only -> Np = 1, Nc = 1, Ng = 1
    # class 1: nothing >= 0.5 -> Np = 0, replaced by 1; Nc = 0, Ng = 1
    # OP = 1 / (1 + 1) = 1/2 (it would be 1/1 without the quirk); CP = (1 + 0)/2
    scores = np.array([[0.9, 0.1], [0.2, 0.3]])
    targets = np.array([[1, 1], [0, 0]])
    m = compute_metrics(scores, targets)
    assert m["OP"] == approx(50.0)
    assert m["CP"] == approx(50.0)
    assert m["OR"] == approx(50.0)
    assert m["CR"] == approx(50.0)


def test_f1_is_zero_when_nothing_is_right() -> None:
    m = compute_metrics(np.array([[0.1, 0.9], [0.9, 0.1]]), np.array([[1, 0], [0, 1]]))
    for name in ("CF1", "OF1", "CF1_top3", "OF1_top3"):
        assert m[name] == 0.0


def test_class_without_positives_warns_and_is_excluded() -> None:
    # class 0: ranking .9 (+), .5 (-), .4 (+) -> AP = (1 + 2/3)/2 = 5/6; class 1: AP = 1;
    # class 2 has no positive -> NaN, out of mAP = (5/6 + 1)/2 = 11/12.
    # Threshold 0.5 (0.5 itself is predicted):
    #   class 0: Np = 2 (.9, .5), Nc = 1, Ng = 2;  class 1: Np = 1, Nc = 1, Ng = 1
    #   class 2: Np = 2 (.7, .6), Nc = 0, Ng = 0 -> stays in CP's mean, leaves CR's
    #   CP = (1/2 + 1 + 0)/3 = 1/2;  CR = (1/2 + 1)/2 = 3/4;  CF1 = (3/4)/(5/4) = 3/5
    #   OP = 2/5;  OR = 2/3;  OF1 = (8/15)/(16/15) = 1/2
    scores = np.array([[0.9, 0.2, 0.7], [0.5, 0.8, 0.6], [0.4, 0.3, 0.2]])
    targets = np.array([[1, 0, 0], [0, 1, -1], [1, 0, 0]])
    with pytest.warns(UserWarning, match=r"\[2\]"):
        m = compute_metrics(scores, targets)
    assert np.isnan(m["per_class_AP"][2])
    assert m["mAP"] == approx(100 * 11 / 12)
    assert m["CP"] == approx(50.0)
    assert m["CR"] == approx(75.0)
    assert m["CF1"] == approx(60.0)
    assert m["OP"] == approx(40.0)
    assert m["OR"] == approx(100 * 2 / 3)
    assert m["OF1"] == approx(50.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # average_precision stays silent
        assert np.isnan(average_precision(scores, targets)[2])


def test_no_positive_at_all_is_an_error() -> None:
    with pytest.raises(DataError, match="no positive"):
        compute_metrics(np.full((3, 2), 0.7), np.zeros((3, 2), dtype=int))


def test_ties_are_ranked_by_index() -> None:
    # Equal scores: the lower image index ranks first.
    #   targets [0, 1]: the negative comes first -> AP = 1/2; targets [1, 0] -> AP = 1
    s = np.array([[0.5], [0.5]])
    assert average_precision(s, np.array([[0], [1]]))[0] == approx(0.5)
    assert average_precision(s, np.array([[1], [0]]))[0] == approx(1.0)
    # -0.0 and 0.0 are the same score.
    z = np.array([[0.0], [-0.0]], dtype=np.float32)
    assert average_precision(z, np.array([[0], [1]]))[0] == approx(0.5)
    # Top-1 among tied labels keeps the lower class index: class 0 is predicted, class 1 not.
    scores = np.array([[0.7, 0.7], [0.1, 0.2]])
    m = compute_metrics(scores, np.array([[0, 1], [1, 0]]), top_k=1)
    assert m["OR_top1"] == 0.0
    m = compute_metrics(scores, np.array([[1, 0], [0, 1]]), top_k=1)
    assert m["OR_top1"] == approx(50.0)


def test_result_types_and_columns() -> None:
    m = compute_metrics(torch.from_numpy(HAND_SCORES), torch.from_numpy(HAND_TARGETS))
    assert all(c in m for c in METRIC_COLUMNS)
    assert list(m)[:13] == METRIC_COLUMNS
    assert all(type(m[k]) is float for k in [*METRIC_COLUMNS, "AP_all"])
    assert isinstance(m["per_class_AP"], np.ndarray) and m["per_class_AP"].shape == (2,)


def test_inputs_are_not_modified() -> None:
    targets = HAND_TARGETS.copy()
    scores = HAND_SCORES.copy()
    compute_metrics(scores, targets)
    np.testing.assert_array_equal(targets, HAND_TARGETS)
    np.testing.assert_array_equal(scores, HAND_SCORES)


# ---------------------------------------------------------------------------------------------
# Against the loop reference and scikit-learn


def _random_case(
    rng: np.random.Generator, n: int, c: int, levels: int = 11
) -> tuple[np.ndarray, np.ndarray]:
    """Scores on a coarse grid (many ties, some exactly 0.5) and targets with -1s."""
    targets = rng.choice([-1, 0, 1], size=(n, c), p=[0.1, 0.6, 0.3])
    scores = (rng.integers(0, levels, size=(n, c)) / (levels - 1)).astype(np.float32)
    return scores, targets


def _assert_same(got: dict, want: dict) -> None:
    assert list(got) == list(want)
    for key, value in want.items():
        if key == "per_class_AP":
            np.testing.assert_allclose(got[key], value, rtol=0, atol=1e-9, equal_nan=True)
        elif key == "ap_protocol":
            assert got[key] == value
        else:
            assert got[key] == pytest.approx(value, rel=0, abs=1e-9), key


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("top_k", [1, 3, 9])
def test_matches_loop_reference_with_ties(seed: int, top_k: int) -> None:
    rng = np.random.default_rng(seed)
    scores, targets = _random_case(rng, 157, 7)
    _assert_same(
        compute_metrics(scores, targets, top_k=top_k),
        reference_metrics(scores, targets, 0.5, top_k),
    )
    thresholds = rng.choice([0.3, 0.5, 0.7], size=7)
    _assert_same(
        compute_metrics(scores, targets, threshold=thresholds, top_k=top_k),
        reference_metrics(scores, targets, thresholds, top_k),
    )


def test_matches_loop_reference_with_empty_class_and_logits() -> None:
    rng = np.random.default_rng(7)
    scores = np.round(rng.normal(size=(120, 5)), 1).astype(np.float32)  # negative scores too
    scores[::7, 0] = -0.0
    targets = rng.choice([-1, 0, 1], size=(120, 5))
    targets[:, 3] = rng.choice([-1, 0], size=120)
    with pytest.warns(UserWarning, match=r"\[3\]"):
        got = compute_metrics(scores, targets, threshold=0.0)
    _assert_same(got, reference_metrics(scores, targets, 0.0, 3))


def test_matches_loop_reference_with_scores_of_any_magnitude() -> None:
    # Scores from -3e38 to 3e38 span more than 2**31 integer keys, which takes the signed-key
    # path; ties, -0.0 and subnormals are mixed in.
    rng = np.random.default_rng(5)
    pool = np.array([-3e38, -1.0, -1e-40, -0.0, 0.0, 1e-40, 0.5, 1.0, 3e38], dtype=np.float32)
    scores = rng.choice(pool, size=(90, 4))
    targets = rng.choice([-1, 0, 1], size=(90, 4), p=[0.1, 0.5, 0.4])
    _assert_same(
        compute_metrics(scores, targets, threshold=0.0),
        reference_metrics(scores, targets, 0.0, 3),
    )


def test_matches_loop_reference_with_many_classes() -> None:
    # More than 256 classes: the class ids of the per-class split no longer fit 8 bits.
    rng = np.random.default_rng(9)
    scores, targets = _random_case(rng, 12, 300, levels=5)
    targets[0] = 1
    _assert_same(compute_metrics(scores, targets), reference_metrics(scores, targets))


def test_matches_loop_reference_float64_scores() -> None:
    # float64 values that float32 cannot hold take the dense-rank path; draw from a small pool
    # so that there are ties.
    rng = np.random.default_rng(11)
    pool = rng.random(25) * 0.999 + 1e-12
    scores = rng.choice(pool, size=(200, 6))
    assert not np.array_equal(scores.astype(np.float32), scores)
    targets = rng.choice([-1, 0, 1], size=(200, 6), p=[0.1, 0.6, 0.3])
    _assert_same(compute_metrics(scores, targets), reference_metrics(scores, targets))
    np.testing.assert_allclose(
        average_precision(torch.from_numpy(scores), torch.from_numpy(targets)),
        reference_average_precision(scores, targets),
        atol=1e-12,
    )


def test_matches_scikit_learn_without_ties() -> None:
    rng = np.random.default_rng(3)
    targets = (rng.random((400, 10)) < 0.25).astype(int)
    targets[0] = 1  # every class has a positive
    scores = (rng.random((400, 10)) + 0.3 * targets).astype(np.float32)
    assert all(np.unique(scores[:, c]).size == 400 for c in range(10))  # no ties
    want = [average_precision_score(targets[:, c], scores[:, c]) for c in range(10)]
    np.testing.assert_allclose(average_precision(scores, targets), want, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# AP protocols


@pytest.mark.parametrize("protocol", ["mlgcn", "sklearn", "voc"])
@pytest.mark.parametrize("seed", range(3))
def test_every_protocol_matches_its_loop_restatement(protocol: str, seed: int) -> None:
    scores, targets = _random_case(np.random.default_rng(seed), 120, 7)
    _assert_same(
        compute_metrics(scores, targets, ap_protocol=protocol),
        reference_metrics(scores, targets, protocol=protocol),
    )


@pytest.mark.parametrize("levels", [5, 1_000_000])
def test_the_sklearn_protocol_is_scikit_learns_with_and_without_ties(levels: int) -> None:
    rng = np.random.default_rng(7)
    scores, targets = _random_case(rng, 300, 6, levels=levels)
    want = []
    for c in range(6):
        kept = targets[:, c] != -1  # ignored targets leave the ranking
        want.append(average_precision_score(targets[kept, c], scores[kept, c]))
    got = average_precision(scores, targets, protocol="sklearn")
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_the_protocols_on_a_hand_computed_ranking() -> None:
    # One class, scores best first: + (0.9), − (0.8), + (0.8), − (0.5), + (0.4).
    scores = np.array([[0.9], [0.8], [0.8], [0.5], [0.4]], dtype=np.float32)
    targets = np.array([[1], [0], [1], [0], [1]])
    # mlgcn: precisions at the positives 1/1, 2/3, 3/5 (the tie in index order).
    # sklearn: the tie group {0.8} ends at rank 3: 1/1, 2/3, 3/5 — the same here; with the
    # positive first among the ties (below) mlgcn gives 2/2 where sklearn keeps 2/3.
    # voc: the envelope, max of the precisions at or after each positive: 1, 2/3, 3/5.
    expected = {"mlgcn": (1 + 2 / 3 + 3 / 5) / 3, "sklearn": (1 + 2 / 3 + 3 / 5) / 3}
    expected["voc"] = (1 + 2 / 3 + 3 / 5) / 3
    for protocol, value in expected.items():
        assert average_precision(scores, targets, protocol)[0] == pytest.approx(value)
    swapped = targets[[0, 2, 1, 3, 4]]  # now + (0.9), + (0.8), − (0.8), − (0.5), + (0.4)
    assert average_precision(scores, swapped, "mlgcn")[0] == pytest.approx((1 + 1 + 3 / 5) / 3)
    assert average_precision(scores, swapped, "sklearn")[0] == pytest.approx(
        (1 + 2 / 3 + 3 / 5) / 3
    )
    # + (0.9), − (0.8), − (0.5), + (0.4), + (0.3): the envelope lifts the first positive's
    # successors: precisions 1, 2/4, 3/5 → voc 1, 3/5, 3/5.
    scores = np.array([[0.9], [0.8], [0.5], [0.4], [0.3]], dtype=np.float32)
    targets = np.array([[1], [0], [0], [1], [1]])
    assert average_precision(scores, targets, "mlgcn")[0] == pytest.approx((1 + 2 / 4 + 3 / 5) / 3)
    assert average_precision(scores, targets, "voc")[0] == pytest.approx((1 + 3 / 5 + 3 / 5) / 3)


def test_the_protocols_order_and_the_headline() -> None:
    scores, targets = _random_case(np.random.default_rng(11), 400, 8, levels=6)
    metrics = compute_metrics(scores, targets, ap_protocol="voc")
    assert metrics["ap_protocol"] == "voc" and metrics["mAP"] == metrics["mAP_voc"]
    # ties: sklearn ≤ mlgcn ≤ voc (the envelope is at least each precision)
    assert metrics["mAP_sklearn"] <= metrics["mAP_mlgcn"] <= metrics["mAP_voc"]
    assert compute_metrics(scores, targets)["mAP"] == metrics["mAP_mlgcn"]
    with pytest.raises(ConfigError, match=r"^ap_protocol: expected one of \['mlgcn', "):
        compute_metrics(scores, targets, ap_protocol="coco")


# ---------------------------------------------------------------------------------------------
# Threshold tuning


def _per_class_f1(scores: np.ndarray, targets: np.ndarray, thr: np.ndarray) -> np.ndarray:
    pred = scores >= thr
    pos = targets == 1
    tp = (pred & pos).sum(0)
    return 2 * tp / np.maximum(pred.sum(0) + pos.sum(0), 1)


# class 0: candidates (descending) -> F1 = 2TP/(Np + Ng), Ng = 3
#   .9: 2/4   .8: 4/5   .6: 4/6   .4: 6/7 (best)   .3: 6/8;   at 0.5 -> 4/6
# class 1: no positive -> 0.5
# class 2: .3: 2/3   .2: 4/4 (best)   .15: 4/5 ...; at 0.5 nothing is predicted -> F1 = 0
TUNE_SCORES = np.array(
    [[0.9, 0.1, 0.2], [0.8, 0.2, 0.1], [0.6, 0.3, 0.3], [0.4, 0.4, 0.05], [0.3, 0.5, 0.15]]
)
TUNE_TARGETS = np.array([[1, 0, 1], [1, 0, 0], [0, -1, 1], [1, 0, 0], [0, 0, 0]])


def test_tune_thresholds_known_optimum() -> None:
    thr = tune_thresholds(TUNE_SCORES, TUNE_TARGETS)
    np.testing.assert_allclose(thr, [0.4, 0.5, 0.2])
    f1 = _per_class_f1(TUNE_SCORES, TUNE_TARGETS, thr)
    np.testing.assert_allclose(f1[[0, 2]], [6 / 7, 1.0])
    assert (f1 >= _per_class_f1(TUNE_SCORES, TUNE_TARGETS, np.full(3, 0.5))).all()


def test_tune_thresholds_on_a_grid() -> None:
    thr = tune_thresholds(TUNE_SCORES, TUNE_TARGETS, grid=np.arange(1, 100) / 100)
    # F1 is flat on (0.3, 0.4] for class 0 and (0.15, 0.2] for class 2: the highest wins.
    np.testing.assert_allclose(thr, [0.4, 0.5, 0.2])


def test_tuned_thresholds_beat_half_on_random_data() -> None:
    rng = np.random.default_rng(5)
    targets = (rng.random((300, 8)) < 0.2).astype(int)
    scores = np.clip(rng.normal(0.3 + 0.25 * targets, 0.2), 0, 1).round(3)
    thr = tune_thresholds(scores, targets)
    f1 = _per_class_f1(scores, targets, thr)
    assert (f1 >= _per_class_f1(scores, targets, np.full(8, 0.5))).all()
    # No candidate does better than the chosen one.
    for c in range(8):
        for t in np.unique(scores[:, c]):
            one = np.full(8, t)
            assert _per_class_f1(scores, targets, one)[c] <= f1[c] + 1e-12
    m = compute_metrics(scores, targets, threshold=thr)
    _assert_same(m, reference_metrics(scores, targets, thr, 3))


# ---------------------------------------------------------------------------------------------
# Errors and formatting


@pytest.mark.parametrize(
    ("scores", "targets", "match"),
    [
        (np.zeros((3, 2)), np.zeros((3, 3)), "shape"),
        (np.zeros(3), np.zeros(3), "2-D"),
        (np.zeros((2, 2, 2)), np.zeros((2, 2, 2)), "2-D"),
        (np.zeros((0, 2)), np.zeros((0, 2)), "empty"),
        (np.zeros((2, 2)), np.array([[0, 1], [2, 0]]), r"targets\[1, 0\]"),
        (np.zeros((2, 2)), np.array([[0, 0.5], [1, 0]]), r"targets\[0, 1\]"),
        (np.array([[0.1, np.nan], [0.2, 0.3]]), np.eye(2), r"scores\[0, 1\]"),
        (np.array([[0.1, 0.2], [np.inf, 0.3]]), np.eye(2), r"scores\[1, 0\]"),
        (np.array([["a", "b"]]), np.ones((1, 2)), "real numbers"),
    ],
)
def test_bad_input_raises_data_error(scores: object, targets: object, match: str) -> None:
    with pytest.raises(DataError, match=match) as info:
        compute_metrics(scores, targets)
    assert isinstance(info.value, ValueError)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"threshold": np.array([0.5, 0.5, 0.5])}, "threshold"),
        ({"threshold": float("nan")}, "threshold"),
        ({"top_k": 0}, "top_k"),
        ({"top_k": True}, "top_k"),
        ({"top_k": 1.5}, "top_k"),
    ],
)
def test_bad_options_raise_config_error(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        compute_metrics(HAND_SCORES, HAND_TARGETS, **kwargs)


def test_bad_grid_raises() -> None:
    with pytest.raises(ConfigError, match="grid"):
        tune_thresholds(TUNE_SCORES, TUNE_TARGETS, grid=[])


def test_the_results_table_renders_computed_metrics() -> None:
    m = compute_metrics(HAND_SCORES, HAND_TARGETS)
    table = format_table([("A-GCN", m)], [m["ap_protocol"]])
    head, rule, row = table.splitlines()
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[0] == "A-GCN"
    assert cells[1] == "90.28"  # 65/72
    assert cells[2] == "58.33"  # 7/12
    assert cells[-2] == f"{m['AP_all']:.2f}" and cells[-1] == "mlgcn"
    assert len(cells) == 2 + len(METRIC_COLUMNS) + 1  # name, Table 1, AP_all, protocol
    assert head.count("|") == rule.count("|") == row.count("|")
    # top-1 metrics are not Table 1's columns: those cells are missing, not misplaced
    top1 = compute_metrics(HAND_SCORES, HAND_TARGETS, top_k=1)
    assert format_table([("x", top1)]).splitlines()[2].count(" - |") == 6 + 1
