"""Fixtures for the analysis tools: synthetic matrices and metrics.json files."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from agcn_pyg.metrics import METRIC_COLUMNS


def label_names(c: int) -> list[str]:
    """``C`` distinct names of varied length, like COCO's ("traffic light", "tv")."""
    stems = ["cat", "traffic light", "tv", "baseball glove", "dog", "cell phone", "fork"]
    return [f"{stems[k % len(stems)]} {k}" for k in range(c)]


def block_matrix(c: int, blocks: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A ``C × C`` similarity with ``blocks`` dense groups, rows shuffled; returns the matrix
    and each label's group."""
    rng = np.random.default_rng(seed)
    group = rng.permutation(np.arange(c) % blocks)
    same = group[:, None] == group[None, :]
    m = np.where(same, 0.8, 0.05) + 0.04 * rng.random((c, c))
    return m, group


@pytest.fixture
def write_metrics(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``f(folder, name, per_class_ap, labels=None, metrics=None)`` writes
    ``tmp_path/folder/metrics.json`` in the ``agcn evaluate`` format and returns it."""

    def write(
        folder: str,
        name: str,
        per_class_ap: Sequence[float],
        labels: Sequence[str] | None = None,
        metrics: dict[str, float] | None = None,
    ) -> Path:
        ap = [None if math.isnan(v) else float(v) for v in per_class_ap]
        if metrics is None:
            rng = np.random.default_rng(len(name))
            metrics = {k: float(rng.uniform(40, 90)) for k in METRIC_COLUMNS}
        doc = {
            "name": name,
            "label_names": list(labels) if labels is not None else label_names(len(ap)),
            "metrics": metrics,
            "ap_protocol": "mlgcn",
            "per_class_AP": ap,
            "checkpoint": f"{folder}/checkpoint.pt",
            "config": {"graph": "conv"},
        }
        out = tmp_path / folder / "metrics.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc), encoding="utf-8")
        return out

    return write


@pytest.fixture
def make_labels() -> Callable[[int], list[str]]:
    return label_names


@pytest.fixture
def make_blocks() -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    return block_matrix
