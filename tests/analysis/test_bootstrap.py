"""The paired bootstrap every table shares, against a test-local restatement built on the
loop oracle of ML-GCN's AP (``tests/metrics_reference.py``) and on scikit-learn's AP."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from agcn_pyg.analysis.bootstrap import paired_bootstrap, paired_interval, resampled_maps
from agcn_pyg.errors import DataError

_spec = importlib.util.spec_from_file_location(
    "metrics_reference", Path(__file__).parents[1] / "metrics_reference.py"
)
_reference = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_reference)


def _mean_ap(protocol: str, scores: np.ndarray, t: np.ndarray) -> float:
    """mAP (%) by the loop oracle (``mlgcn``) or by scikit-learn itself (``sklearn``): a
    resample repeats images, so their scores tie, and the two protocols differ there."""
    if protocol == "sklearn":
        aps = [average_precision_score(t[:, c], scores[:, c]) for c in range(t.shape[1])]
    else:
        aps = _reference.reference_average_precision(scores, t, protocol)
    return 100.0 * float(np.mean(aps))


def _restated(
    a: list[np.ndarray],
    b: list[np.ndarray],
    targets: np.ndarray,
    resamples: int,
    seed: int,
    protocol: str,
) -> tuple[float, float, float]:
    """The module's definition, written out: one index draw per resample shared by all
    seeds, skipped when a class has no positive; Δ per draw = mean over seeds of the mAP
    differences; percentiles 2.5 / 97.5."""

    def mean_ap(scores: np.ndarray, t: np.ndarray) -> float:
        return _mean_ap(protocol, scores, t)

    rng = np.random.default_rng(seed)
    n = len(targets)
    deltas = []
    for _ in range(resamples):
        index = rng.integers(0, n, n)
        t = targets[index]
        if not (t == 1).any(axis=0).all():
            continue
        per_seed = [mean_ap(x[index], t) - mean_ap(y[index], t) for x, y in zip(a, b, strict=True)]
        deltas.append(np.mean(per_seed))
    full = np.mean([mean_ap(x, targets) - mean_ap(y, targets) for x, y in zip(a, b, strict=True)])
    low, high = np.percentile(deltas, [2.5, 97.5])
    return float(full), float(low), float(high)


def _scores(n: int, c: int, targets: np.ndarray, signal: float, seed: int) -> np.ndarray:
    """Continuous scores with some signal."""
    rng = np.random.default_rng(seed)
    return signal * targets + rng.normal(size=(n, c))


@pytest.mark.parametrize(("seeds", "protocol"), [(1, "mlgcn"), (3, "mlgcn"), (2, "sklearn")])
def test_paired_bootstrap_equals_its_restatement(seeds: int, protocol: str) -> None:
    rng = np.random.default_rng(0)
    n, c = 60, 4
    targets = (rng.random((n, c)) < 0.3).astype(np.int64)
    targets[0] = 1  # every class has a positive
    targets[:, 3] = 0
    targets[:3, 3] = 1  # a rare class: some draws miss it and are skipped
    a = [_scores(n, c, targets, 1.5, 10 + k) for k in range(seeds)]
    b = [_scores(n, c, targets, 0.8, 20 + k) for k in range(seeds)]
    got = paired_bootstrap(a, b, targets, resamples=100, seed=5, protocol=protocol)
    expected = _restated(a, b, targets, resamples=100, seed=5, protocol=protocol)
    assert got == pytest.approx(expected, abs=1e-9)
    assert got.low < got.delta < got.high
    assert got.text() == f"{got.delta:+.2f} [{got.low:+.2f}, {got.high:+.2f}]"
    # shared draws: the maps of all runs at once give the same interval
    full, draws = resampled_maps([*a, *b], targets, resamples=100, seed=5, protocol=protocol)
    assert draws.shape[0] == 2 * seeds and 0 < draws.shape[1] < 100  # some draws skipped
    again = paired_interval(full[:seeds], draws[:seeds], full[seeds:], draws[seeds:])
    assert again == pytest.approx(got, abs=1e-12)


def test_paired_bootstrap_refuses_other_images_or_unpaired_seeds() -> None:
    targets = np.eye(4, dtype=np.int64)
    with pytest.raises(DataError, match="not the same test images"):
        paired_bootstrap([np.zeros((5, 4))], [np.zeros((4, 4))], targets)
    with pytest.raises(DataError, match="2 runs of A against 1 of B"):
        paired_bootstrap([np.zeros((4, 4))] * 2, [np.zeros((4, 4))], targets)


def test_a_class_without_positives_in_the_test_set_leaves_the_intervals_defined() -> None:
    # mAP leaves such a class out; the draws used to require it too and were all dropped.
    rng = np.random.default_rng(3)
    targets = (rng.random((40, 3)) < 0.4).astype(np.int64)
    targets[:, 2] = 0  # no positive anywhere
    targets[0, :2] = 1
    a, b = rng.normal(size=(40, 3)) + 2 * targets, rng.normal(size=(40, 3))
    full, draws = resampled_maps([a, b], targets, resamples=50, seed=1)
    assert draws.shape[0] == 2 and draws.shape[1] > 40  # most draws kept
    on_two = resampled_maps([a[:, :2], b[:, :2]], targets[:, :2], resamples=50, seed=1)
    np.testing.assert_allclose(full, on_two[0])  # the same as without the empty class
    np.testing.assert_allclose(draws, on_two[1])
    interval = paired_bootstrap([a], [b], targets, resamples=50, seed=1)
    assert np.isfinite([interval.low, interval.high]).all() and interval.low < interval.delta
