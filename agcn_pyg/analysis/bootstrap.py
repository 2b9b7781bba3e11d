r"""The paired bootstrap of a difference in mAP over test images, for every table that reports one
(`agcn run-table1`, the demo's report).

Two rows A and B, each trained with the same ``K ≥ 1`` seeds and scored on the same ``N`` test
images (``scores.npz`` of their ``eval/``). One *draw* resamples ``N`` image indices with
replacement, the same indices for every run and seed (paired over images), and computes

.. math::
    \Delta^{(b)} = \frac{1}{K} \sum_{k=1}^{K}
        \bigl(\mathrm{mAP}(A_k) - \mathrm{mAP}(B_k)\bigr)\ \text{on draw } b,

pairing the runs by seed (seeds pooled by averaging the per-seed differences, not by stacking
their scores). A draw in which a class that has positives in the test set has none is skipped,
since that class has no AP there (a class without any positive in the test set is left out of
mAP, on the whole set and on every draw). The estimate is the same average on the whole test set
(mAP over the classes with positives), the 95 % interval the 2.5th and 97.5th percentiles of the
draws. The draws come from ``numpy.random.default_rng(seed)``, one ``integers(0, N, N)`` per
draw, so every pair of rows compared with one seed sees the same draws.

The interval is over test images *given the trained seeds*: it says how much the choice of
test images moves the difference; how much training seeds move each row is the tables' ±
(their standard deviation). With one seed it is the plain paired bootstrap of two runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from agcn_pyg.errors import DataError
from agcn_pyg.metrics import DEFAULT_AP_PROTOCOL, average_precision

#: draws of the bootstrap by default
RESAMPLES = 500


class Interval(NamedTuple):
    """``delta``: the difference in mAP (percentage points); ``low``, ``high``: its 95 %
    interval (NaN when no draw had every class)."""

    delta: float
    low: float
    high: float

    def text(self) -> str:
        """``+0.42 [-0.10, +0.93]``."""
        return f"{self.delta:+.2f} [{self.low:+.2f}, {self.high:+.2f}]"


def resampled_aps(
    scores: Sequence[np.ndarray],
    targets: np.ndarray,
    resamples: int = RESAMPLES,
    seed: int = 0,
    protocol: str = DEFAULT_AP_PROTOCOL,
) -> np.ndarray:
    """Per-class AP (%) of every score matrix (``N × C`` each, rows the same images as
    ``targets``) on every draw of the module docstring, shape ``(S, R, C)``; NaN for a class
    without a positive in the draw. Every table's and figure's interval starts here, so that
    they all see the same draws."""
    targets = np.asarray(targets)
    for k, matrix in enumerate(scores):
        if np.shape(matrix) != targets.shape:
            raise DataError(
                f"bootstrap: scores {k} have shape {np.shape(matrix)}, the targets "
                f"{targets.shape}: not the same test images"
            )
    rng = np.random.default_rng(seed)
    n, c = targets.shape
    out = np.empty((len(scores), resamples, c))
    for r in range(resamples):
        index = rng.integers(0, n, n)
        t = targets[index]
        for k, matrix in enumerate(scores):
            out[k, r] = 100.0 * average_precision(np.asarray(matrix)[index], t, protocol)
    return out


def resampled_maps(
    scores: Sequence[np.ndarray],
    targets: np.ndarray,
    resamples: int = RESAMPLES,
    seed: int = 0,
    protocol: str = DEFAULT_AP_PROTOCOL,
) -> tuple[np.ndarray, np.ndarray]:
    """mAP (%) of every score matrix on the whole test set, shape ``(S,)``, and on each kept
    draw (`resampled_aps`; a draw in which a class with positives in the test set has none is
    dropped), shape ``(S, draws)``."""
    targets = np.asarray(targets)
    aps = resampled_aps(scores, targets, resamples, seed, protocol)  # checks the shapes
    full = np.array([100.0 * np.nanmean(average_precision(s, targets, protocol)) for s in scores])
    # mAP is over the classes with a positive in the test set, as on the whole set; a class
    # without any would otherwise drop every draw
    return full, kept_draw_means(aps, (targets == 1).any(axis=0))


def kept_draw_means(values: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The mean over ``classes`` (bool, ``(C,)``) on every draw in which each of them has a
    value. ``values`` is ``(..., R, C)``: `resampled_aps`' APs, or differences of them; the
    result is ``(..., draws)``, a draw kept only where it is kept for every leading index."""
    chosen = values[..., classes]
    other_axes = (*range(chosen.ndim - 2), chosen.ndim - 1)
    kept = np.isfinite(chosen).all(axis=other_axes)
    return chosen[..., kept, :].mean(axis=-1)


def paired_interval(
    full_a: np.ndarray, draws_a: np.ndarray, full_b: np.ndarray, draws_b: np.ndarray
) -> Interval:
    """The `Interval` of A − B from `resampled_maps`' rows of A's and B's ``K`` seeds (paired
    by position: seed k of A with seed k of B)."""
    if len(full_a) != len(full_b) or not len(full_a):
        raise DataError(f"bootstrap: {len(full_a)} runs of A against {len(full_b)} of B")
    delta = float(np.mean(np.asarray(full_a) - np.asarray(full_b)))
    per_draw = np.mean(np.asarray(draws_a) - np.asarray(draws_b), axis=0)
    if per_draw.size == 0:
        return Interval(delta, math.nan, math.nan)
    low, high = np.percentile(per_draw, [2.5, 97.5])
    return Interval(delta, float(low), float(high))


def paired_bootstrap(
    scores_a: Sequence[np.ndarray],
    scores_b: Sequence[np.ndarray],
    targets: np.ndarray,
    resamples: int = RESAMPLES,
    seed: int = 0,
    protocol: str = DEFAULT_AP_PROTOCOL,
) -> Interval:
    """mAP(A) − mAP(B) and its 95 % interval (the module docstring): ``scores_a[k]`` and
    ``scores_b[k]`` are seed k's ``N × C`` scores of each row on the test images whose
    ``targets`` are given."""
    k = len(scores_a)
    full, draws = resampled_maps([*scores_a, *scores_b], targets, resamples, seed, protocol)
    return paired_interval(full[:k], draws[:k], full[k:], draws[k:])
