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

from agcn_pyg.analysis import bootstrap
from agcn_pyg.analysis.bootstrap import RESAMPLES, Interval
from agcn_pyg.demo.data import DemoConfig, context_posterior, sample_labels
from agcn_pyg.demo.records import RowRun
from agcn_pyg.errors import DataError


def per_class_ap(run: RowRun) -> np.ndarray:
    """Per-class AP (%) of ``run`` from its ``eval/metrics.json``; NaN where a class has none."""
    data = json.loads((run.run_dir / "eval" / "metrics.json").read_text(encoding="utf-8"))
    return np.array([math.nan if v is None else v for v in data["per_class_AP"]], dtype=float)


def eval_scores(run: RowRun) -> tuple[np.ndarray, np.ndarray]:
    """``(logits, targets)``, ``N × C`` each, of ``run`` on the test split (``eval/scores.npz``)."""
    from agcn_pyg.engine import read_scores

    return read_scores(run.run_dir / "eval" / "scores.npz")


def paired_bootstrap(
    run_a: RowRun, run_b: RowRun, resamples: int = RESAMPLES, seed: int = 0
) -> Interval:
    """``(ΔmAP, low, high)``: mAP(A) − mAP(B) on the test set and its 95 % interval, by the
    paired bootstrap over the test images that every table shares
    (`agcn_pyg.analysis.bootstrap.paired_bootstrap`), from the two runs' ``eval/scores.npz``.
    """
    scores_a, targets = eval_scores(run_a)
    scores_b, targets_b = eval_scores(run_b)
    if not np.array_equal(targets, targets_b):
        raise DataError(f"{run_a.run_dir} and {run_b.run_dir}: scored on other test images")
    return bootstrap.paired_bootstrap([scores_a], [scores_b], targets, resamples, seed)


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
