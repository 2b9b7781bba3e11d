"""`create_model`: every model variant from keyword arguments or a `AGCNConfig`.

The one place that maps a `AGCNConfig` to the models' plain keyword arguments: the modules of
`agcn_pyg.models` do not import `agcn_pyg.config`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from torch import Tensor

from agcn_pyg.errors import ConfigError
from agcn_pyg.models.agcn import AGCN, AGCNConfig
from agcn_pyg.models.label_graph import Cooccurrence


def create_model(
    backbone: str | AGCNConfig,
    num_classes: int | None = None,
    label_embeddings: Tensor | np.ndarray | None = None,
    graph: str = "conv",
    gnn: str = "gcn",
    pretrained: bool | str = False,
    pool: str = "max",
    cooccurrence: Cooccurrence | None = None,
    static_correlation: Tensor | np.ndarray | None = None,
    **options: Any,
) -> AGCN:
    """Build A-GCN, an alternative label graph, ML-GCN or the baseline.

    Args:
        backbone: a timm model name, or a complete `AGCNConfig` (then ``num_classes``,
            ``graph``, ``gnn``, ``pretrained`` and ``pool`` come from it and ``options``
            override its fields).
        num_classes: C.
        label_embeddings: E, ``C × d_e`` tensor or array (rows in label order).
        graph: ``conv`` (A-GCN), ``dot``, ``fc``, ``cos``, ``static`` (ML-GCN), ``identity``
            or ``none`` (baseline); see `agcn_pyg.list_graphs`.
        gnn: ``gcn``, ``gat``, ``gatv2``, ``graphconv``, ``transformer``; see
            `agcn_pyg.list_gnns`.
        pretrained: ``False``, ``True`` (timm hub) or a local weights file.
        pool: ``max``, ``avg`` or ``avgmax``.
        cooccurrence: ``(adj, nums)`` for ``graph='static'``.
        static_correlation: ``graph='static'`` from a ready ``gen_A`` output (``C × C``)
            instead of counts, e.g. an ML-GCN checkpoint's ``A``.
        **options: any other `AGCNConfig` field: ``guard``, ``alpha``, ``num_layers``,
            ``hidden_dim``, ``t``, ``p``, ``reweight``, ``heads``, ``lg_dim``, ``lg_bias``,
            ``gnn_init``, ...

    >>> model = create_model("resnet101", 80, label_embeddings=E, graph="conv")
    >>> logits = model(images)                     # B × 80
    >>> A, A_hat = model.adjacency()               # 80 × 80 each
    """
    if isinstance(backbone, AGCNConfig):
        cfg = _replace(backbone, options)
    else:
        if num_classes is None:
            raise ConfigError("create_model: num_classes is required with a backbone name")
        fields = {
            "backbone": backbone,
            "num_classes": num_classes,
            "graph": graph,
            "gnn": gnn,
            "pretrained": pretrained,
            "pool": pool,
        }
        cfg = _replace(AGCNConfig(**fields), options)
    correlation = None if static_correlation is None else torch.as_tensor(static_correlation)
    # asdict copies backbone_kwargs, so the model never shares a dict with the config.
    return AGCN(
        **dataclasses.asdict(cfg),
        label_embeddings=label_embeddings,
        cooccurrence=cooccurrence,
        static_correlation=correlation,
    )


def _replace(cfg: AGCNConfig, options: dict[str, Any]) -> AGCNConfig:
    valid = {f.name for f in dataclasses.fields(AGCNConfig)}
    unknown = sorted(set(options) - valid)
    if unknown:
        raise ConfigError(
            f"create_model: unknown option {unknown[0]!r}; valid: {', '.join(sorted(valid))}"
        )
    return dataclasses.replace(cfg, **options) if options else cfg
