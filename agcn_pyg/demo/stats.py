"""The numbers behind the demo's report, read from the runs' ``eval/`` and checkpoints.

Per-class AP and test scores of a run, the paired bootstrap of a difference in mAP, the
per-class AP of the context-only score ``P(y_i | other labels)``, and diagnostics of a trained
head (how alike its per-label classifiers are, how far its Â is from I).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from agcn_pyg.demo.data import DemoConfig, context_posterior, sample_labels
from agcn_pyg.demo.records import RowRun


def per_class_ap(run: RowRun) -> np.ndarray:
    """Per-class AP (%) of ``run`` from its ``eval/metrics.json``; NaN where a class has none."""
    data = json.loads((run.run_dir / "eval" / "metrics.json").read_text(encoding="utf-8"))
    return np.array([math.nan if v is None else v for v in data["per_class_AP"]], dtype=float)


def eval_scores(run: RowRun) -> tuple[np.ndarray, np.ndarray]:
    """``(logits, targets)``, ``N × C`` each, of ``run`` on the test split (``eval/scores.npz``)."""
    from agcn_pyg.engine import read_scores

    return read_scores(run.run_dir / "eval" / "scores.npz")


def paired_bootstrap(
    run_a: RowRun, run_b: RowRun, resamples: int = 500, seed: int = 0
) -> tuple[float, float, float]:
    """``(ΔmAP, low, high)``: mAP(A) − mAP(B) on the test set and its 95 % interval.

    Test images are resampled with replacement (the same images for both runs), both mAPs
    recomputed, and the 2.5 / 97.5 percentiles of the differences taken.
    """
    from agcn_pyg.metrics import average_precision

    scores_a, targets = eval_scores(run_a)
    scores_b, _ = eval_scores(run_b)
    rng = np.random.default_rng(seed)
    n = len(targets)
    deltas = []
    for _ in range(resamples):
        idx = rng.integers(0, n, n)
        t = targets[idx]
        if not (t == 1).any(axis=0).all():
            continue  # a class without positives has no AP
        ap_a = average_precision(scores_a[idx], t)
        ap_b = average_precision(scores_b[idx], t)
        deltas.append(100.0 * float(np.mean(ap_a) - np.mean(ap_b)))
    full = 100.0 * float(
        np.nanmean(average_precision(scores_a, targets))
        - np.nanmean(average_precision(scores_b, targets))
    )
    low, high = np.percentile(deltas, [2.5, 97.5]) if deltas else (math.nan, math.nan)
    return full, float(low), float(high)


def context_reference(config: DemoConfig) -> np.ndarray:
    """Per-class AP (%) of the context-only score ``P(y_i | other labels)`` on the test set."""
    from agcn_pyg.metrics import average_precision

    _, labels = sample_labels(config, "test")
    scores = context_posterior(config, labels)
    return 100.0 * average_precision(scores, labels.astype(np.int64))


def head_diagnostics(runs: Sequence[RowRun]) -> dict[Path, tuple[float, float | None]]:
    """``run folder → (mean cos, L_A)`` of each run's trained head.

    ``mean cos``: the mean cosine similarity of the classifiers ``w_i, w_j`` (``i ≠ j``, rows
    of W̄, ``C × D``); near 1, every label gets the same classifier (over-smoothing).
    ``L_A``: Eq. 6, ``mean |Â − I|`` of the trained label graph (``None`` for the baseline).
    """
    import torch
    import torch.nn.functional as F

    from agcn_pyg.engine import load_model
    from agcn_pyg.graph import sparsity_loss

    out: dict[Path, tuple[float, float | None]] = {}
    for run in runs:
        model, _ = load_model(run.run_dir / "best.pt")
        with torch.no_grad():
            unit = F.normalize(model.classifier()[0].float(), dim=1)
            cos = unit @ unit.t()
            off = ~torch.eye(cos.size(0), dtype=torch.bool)
            adjacency = model.adjacency()
            la = None if adjacency is None else float(sparsity_loss(adjacency[1]))
        out[run.run_dir] = (float(cos[off].mean()), la)
    return out
