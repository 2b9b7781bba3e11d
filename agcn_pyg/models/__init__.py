"""Models: the timm backbone, label-graph modules, GNN layers and the A-GCN model."""

from agcn_pyg.models.agcn import AGCN, AGCNConfig, AGCNOutput, GraphHead, LinearHead
from agcn_pyg.models.backbone import Backbone
from agcn_pyg.models.factory import create_model
from agcn_pyg.models.gnn import GNN_LAYERS, LabelGNN, list_gnns, register_gnn
from agcn_pyg.models.label_graph import LABEL_GRAPHS, LabelGraph, list_graphs
from agcn_pyg.models.official import (
    OFFICIAL_KINDS,
    OfficialCheckpoint,
    import_official,
    mlgcn_graph,
    official_config,
    stored_label_graph,
)

__all__ = [
    "AGCN",
    "GNN_LAYERS",
    "LABEL_GRAPHS",
    "OFFICIAL_KINDS",
    "AGCNConfig",
    "AGCNOutput",
    "Backbone",
    "GraphHead",
    "LabelGNN",
    "LabelGraph",
    "LinearHead",
    "OfficialCheckpoint",
    "create_model",
    "import_official",
    "list_gnns",
    "list_graphs",
    "mlgcn_graph",
    "official_config",
    "register_gnn",
    "stored_label_graph",
]
