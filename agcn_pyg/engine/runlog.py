"""``log.csv``: one row per epoch, the same columns for end-to-end and cached-features runs.

Floats are written with 6 significant digits; NaN and ±inf (an epoch that was not evaluated,
a run without a best mAP yet) are empty cells, and a column a row lacks is empty too.

``mAP``, ``CF1`` and ``OF1`` are the selection split's (the holdout, or ``data.val``:
`agcn_pyg.selection`); ``best_mAP`` is that split's mAP of the epoch ``best.pt`` holds so far
(under ``train.select: last``, the last evaluated one).

``images_per_s`` and ``data_wait`` (the fraction of the epoch the step waited for its batch)
leave out the compile warm-up (`agcn_pyg.engine.steptime`); ``seconds`` is the whole epoch.

``adj_offdiag`` is the learned graph's state after the epoch: the mean over labels of
:math:`\\sum_{j \\ne i} |\\hat{A}_{ij}|` (`agcn_pyg.graph.offdiagonal_mass`); 0 means Â = I.
`GraphWatch` warns once per run when a learnable graph has become exactly the identity.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from agcn_pyg.graph import offdiagonal_mass

LOG_COLUMNS = [
    "epoch",
    "lr",
    "loss",
    "bce",
    "graph_loss",
    "images_per_s",
    "seconds",
    "mAP",
    "CF1",
    "OF1",
    "best_mAP",
    "adj_offdiag",
    "data_wait",
]


def log_csv(history: Iterable[Mapping[str, Any]]) -> str:
    """The text of ``log.csv``: a header of `LOG_COLUMNS`, then one line per epoch's row."""
    lines = [",".join(LOG_COLUMNS)]
    lines += [",".join(_cell(row.get(col, math.nan)) for col in LOG_COLUMNS) for row in history]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else ""
    return str(value)


class GraphWatch:
    """Measures a head's Â after each epoch and warns once if a learnable one is exactly I."""

    def __init__(self) -> None:
        self.warned = False

    @torch.no_grad()
    def offdiag(self, head: nn.Module) -> float:
        """The ``adj_offdiag`` cell for ``head`` (NaN without a label graph)."""
        graph = getattr(head, "graph", None)
        if not callable(graph):
            return math.nan
        _, _, adj_hat = graph()
        value = float(offdiagonal_mass(adj_hat.float()).mean())
        if value == 0.0 and head.label_graph.learnable and not self.warned:
            self.warned = True
            guard = getattr(head.label_graph, "guard", "?")
            warnings.warn(
                "the learned label graph is exactly the identity (Â = I) after an epoch: the "
                "GNN passes no label correlations, so this run is the Â = I ablation "
                f"(guard {guard!r}: entries of A below 0 get no gradient). Label embeddings "
                "that are much alike move every entry of A together; see log.csv's "
                "adj_offdiag and docs/experiments.md, and try model.embedding_norm=whiten "
                "or model.guard=leaky",
                RuntimeWarning,
                stacklevel=3,  # past torch.no_grad's wrapper, to the training loop
            )
        return value
