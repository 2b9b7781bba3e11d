"""agcn_pyg: A-GCN for multi-label image recognition on PyTorch Geometric and timm.

The public names load on first use, so ``import agcn_pyg.errors`` (or a plotting script)
does not pay for importing torch, timm and PyG.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from agcn_pyg._version import __version__

_LAZY = {
    "AGCNConfig": "agcn_pyg.models",
    "RunConfig": "agcn_pyg.config",
    "create_model": "agcn_pyg.models",
    "list_graphs": "agcn_pyg.models",
    "list_gnns": "agcn_pyg.models",
    "load_model": "agcn_pyg.engine",
    "train": "agcn_pyg.engine.trainer",
    "compute_metrics": "agcn_pyg.metrics",
}

__all__ = [
    "AGCNConfig",
    "RunConfig",
    "__version__",
    "compute_metrics",
    "create_model",
    "list_gnns",
    "list_graphs",
    "load_model",
    "train",
]

if TYPE_CHECKING:
    from agcn_pyg.config import RunConfig
    from agcn_pyg.engine import load_model
    from agcn_pyg.engine.trainer import train
    from agcn_pyg.metrics import compute_metrics
    from agcn_pyg.models import AGCNConfig, create_model, list_gnns, list_graphs


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'agcn_pyg' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
