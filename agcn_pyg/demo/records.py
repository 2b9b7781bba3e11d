"""What the demo's stages record: each trained row, the numbers the report quotes, timings."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agcn_pyg.config import RunConfig


@dataclass
class RowRun:
    """One trained row: where it went, with which seed and config (its recipe with its
    variant's settings), how long it took, its metrics."""

    row: str
    mode: str
    seed: int
    run_dir: Path
    seconds: float
    config: RunConfig
    final: dict[str, float] = field(default_factory=dict)
    error: str | None = None  # the message of a diverged run (it has no metrics)
    #: the labels it trained on: ``clean``, or a Table-2 setting (``noisy``, ``noisy_clean``)
    setting: str = "clean"


def finished(runs: Sequence[RowRun]) -> list[RowRun]:
    """The runs that did not diverge."""
    return [r for r in runs if r.error is None]


class StageTimer:
    """Wall time per stage, in the order they ran; written to ``timings.json``."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.stages: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - start

    @property
    def total(self) -> float:
        return time.perf_counter() - self.start


@dataclass
class Findings:
    """Numbers the report's text quotes."""

    context_ap: np.ndarray
    figures: dict[str, Any] = field(default_factory=dict)
    seeds: dict[str, list[RowRun]] = field(default_factory=dict)
    sweep: Any = None
    diagnostics: dict[Path, tuple[float, float | None]] = field(default_factory=dict)
    #: Table-2 setting → its runs (`agcn_pyg.demo.plan.SETTINGS`)
    table2: dict[str, list[RowRun]] = field(default_factory=dict)
