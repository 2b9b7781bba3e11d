"""Training, evaluation, inference and checkpoints.

The engine's public names, loaded on first use (as ``agcn_pyg``'s are), so that importing
``agcn_pyg.engine`` costs nothing until a name is read. Code outside the engine (``analysis``,
``demo``) imports these names from ``agcn_pyg.engine``, never from a module inside it: the
modules are the engine's own layout and may move, this mapping is the contract. No name
equals a submodule's, so what a name means never depends on import order.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: public name → the module that defines it
_LAZY: dict[str, str] = {
    "Trainer": "agcn_pyg.engine.trainer",
    "TrainingDiverged": "agcn_pyg.engine.trainer",
    "train": "agcn_pyg.engine.trainer",
    "train_mode": "agcn_pyg.engine.trainer",
    "TRAIN_MODES": "agcn_pyg.engine.sources",
    "extract_run_features": "agcn_pyg.engine.feature_cache",
    "load_model": "agcn_pyg.engine.checkpoint",
    "read_checkpoint": "agcn_pyg.engine.checkpoint",
    "build_checkpoint": "agcn_pyg.engine.checkpoint",
    "save_checkpoint": "agcn_pyg.engine.checkpoint",
    "write_evaluation": "agcn_pyg.engine.evaluate",
    "read_scores": "agcn_pyg.engine.evaluate",
    "load_thresholds": "agcn_pyg.engine.evaluate",
    "predict_files": "agcn_pyg.engine.predict",
    "changed_keys": "agcn_pyg.engine.resume",
}

__all__ = [
    "TRAIN_MODES",
    "Trainer",
    "TrainingDiverged",
    "build_checkpoint",
    "changed_keys",
    "extract_run_features",
    "load_model",
    "load_thresholds",
    "predict_files",
    "read_checkpoint",
    "read_scores",
    "save_checkpoint",
    "train",
    "train_mode",
    "write_evaluation",
]

if TYPE_CHECKING:
    from agcn_pyg.engine.checkpoint import (
        build_checkpoint,
        load_model,
        read_checkpoint,
        save_checkpoint,
    )
    from agcn_pyg.engine.evaluate import load_thresholds, read_scores, write_evaluation
    from agcn_pyg.engine.feature_cache import extract_run_features
    from agcn_pyg.engine.predict import predict_files
    from agcn_pyg.engine.resume import changed_keys
    from agcn_pyg.engine.sources import TRAIN_MODES
    from agcn_pyg.engine.trainer import Trainer, TrainingDiverged, train, train_mode


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'agcn_pyg.engine' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
