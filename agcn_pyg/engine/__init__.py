"""Training, evaluation, inference and checkpoints.

The names below are the engine's public API (the analysis tools and the demo use only these);
they load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY = {
    "Trainer": "agcn_pyg.engine.train",
    "TrainingDiverged": "agcn_pyg.engine.train",
    "train": "agcn_pyg.engine.train",
    "train_mode": "agcn_pyg.engine.train",
    "TRAIN_MODES": "agcn_pyg.engine.sources",
    "extract_run_features": "agcn_pyg.engine.feature_cache",
    "load_model": "agcn_pyg.engine.checkpoint",
    "read_checkpoint": "agcn_pyg.engine.checkpoint",
}

__all__ = [
    "TRAIN_MODES",
    "Trainer",
    "TrainingDiverged",
    "extract_run_features",
    "load_model",
    "read_checkpoint",
    "train",
    "train_mode",
]

if TYPE_CHECKING:
    from agcn_pyg.engine.checkpoint import load_model, read_checkpoint
    from agcn_pyg.engine.feature_cache import extract_run_features
    from agcn_pyg.engine.sources import TRAIN_MODES
    from agcn_pyg.engine.train import Trainer, TrainingDiverged, train, train_mode


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'agcn_pyg.engine' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
