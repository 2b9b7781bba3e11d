"""`create_model`: every model variant from a timm name and keyword options, or an `AGCNConfig`."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from torch import Tensor

from agcn_pyg.errors import ConfigError
from agcn_pyg.models.agcn import AGCN, AGCNConfig
from agcn_pyg.models.label_graph import Cooccurrence, LabelGraph


def create_model(
    backbone: str | AGCNConfig,
    num_classes: int | None = None,
    label_embeddings: Tensor | np.ndarray | None = None,
    *,
    cooccurrence: Cooccurrence | None = None,
    label_graph: LabelGraph | None = None,
    **options: Any,
) -> AGCN:
    """Build A-GCN, an alternative label graph, ML-GCN or the baseline.

    Args:
        backbone: a timm model name, or a complete `AGCNConfig` (then ``options`` override
            its fields).
        num_classes: C (required with a name; with a config, an override like ``options``).
        label_embeddings: E, ``C × d_e`` tensor or array (rows in label order).
        cooccurrence: ``(adj, nums)`` for ``graph='static'``.
        label_graph: a ready LG module in place of the one the config describes (`AGCN`).
        **options: any `AGCNConfig` field: ``graph`` (``conv`` (A-GCN), ``dot``, ``fc``,
            ``cos``, ``static`` (ML-GCN), ``identity`` or ``none`` (baseline);
            `agcn_pyg.list_graphs`), ``gnn`` (`agcn_pyg.list_gnns`), ``pretrained``,
            ``pool``, ``guard``, ``alpha``, ``num_layers``, ``hidden_dim``, ``t``, ``p``,
            ``reweight``, ``heads``, ``lg_dim``, ``lg_bias``, ``gnn_init``, ...; the ones not
            given keep `AGCNConfig`'s defaults.

    >>> model = create_model("resnet101", 80, label_embeddings=E, graph="conv")
    >>> logits = model(images)                     # B × 80
    >>> A, A_hat = model.adjacency()               # 80 × 80 each
    """
    if isinstance(backbone, AGCNConfig):
        fields = options if num_classes is None else {**options, "num_classes": num_classes}
        cfg = _replace(backbone, fields)
    else:
        if num_classes is None:
            raise ConfigError("create_model: num_classes is required with a backbone name")
        _check_fields(options)
        cfg = AGCNConfig(backbone=backbone, num_classes=num_classes, **options)
    return AGCN(
        cfg, label_embeddings=label_embeddings, cooccurrence=cooccurrence, label_graph=label_graph
    )


def _check_fields(options: dict[str, Any]) -> None:
    valid = {f.name for f in dataclasses.fields(AGCNConfig)}
    unknown = sorted(set(options) - valid)
    if unknown:
        raise ConfigError(
            f"create_model: unknown option {unknown[0]!r}; valid: {', '.join(sorted(valid))}"
        )


def _replace(cfg: AGCNConfig, options: dict[str, Any]) -> AGCNConfig:
    _check_fields(options)
    return dataclasses.replace(cfg, **options) if options else cfg
