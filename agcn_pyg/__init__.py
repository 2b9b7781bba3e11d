"""agcn_pyg: A-GCN for multi-label image recognition on PyTorch Geometric and timm."""

from agcn_pyg.config import ModelConfig
from agcn_pyg.models import create_model, list_gnns, list_graphs

__version__ = "0.1.0"

__all__ = ["ModelConfig", "__version__", "create_model", "list_gnns", "list_graphs"]
