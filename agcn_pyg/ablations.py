"""The paper's Table 1 comparisons as named config overrides, for any data set config.

Beside the paper's rows: ``identity``, the Â = I control (the GCN generates the classifiers
from the label embeddings but passes no correlations), which tells whether a graph row's gain
comes from the learned correlations at all; and ``agcn_official``, A-GCN as the authors' code
computes it (plain Eq. 4, biased 1×1 convolutions, ML-GCN's initialisation; the LG width
stays d_e).
"""

from __future__ import annotations

from dataclasses import dataclass

from agcn_pyg.errors import ConfigError


@dataclass(frozen=True)
class Row:
    """One Table-1 row: a display name and the overrides that turn a base config into it."""

    name: str
    overrides: tuple[str, ...]


TABLE1_ROWS: dict[str, Row] = {
    row.name: row
    for row in (
        Row("baseline", ("model.graph=none",)),
        Row("mlgcn_binary", ("model.graph=static", "model.reweight=false")),
        Row("mlgcn", ("model.graph=static", "model.reweight=true")),
        Row("agcn", ("model.graph=conv",)),
        Row("agcn_no_la", ("model.graph=conv", "model.alpha=0")),
        Row("cos_a", ("model.graph=cos",)),
        Row("fc_a", ("model.graph=fc",)),
        Row("dot_a", ("model.graph=dot",)),
        Row("agcn_gat", ("model.graph=conv", "model.gnn=gat")),
        # Controls and variants beyond the paper's table:
        Row("identity", ("model.graph=identity",)),
        Row(
            "agcn_official",
            (
                "model.graph=conv",
                "model.guard=none",
                "model.lg_bias=true",
                "model.gnn_init=mlgcn",
            ),
        ),
    )
}

#: the three rows every comparison needs
MAIN_ROWS = ("baseline", "mlgcn", "agcn")


def table1_rows(names: list[str] | tuple[str, ...] | None = None) -> list[Row]:
    """The rows named (all of them, in Table 1's order, for ``None``)."""
    if names is None:
        return list(TABLE1_ROWS.values())
    unknown = [n for n in names if n not in TABLE1_ROWS]
    if unknown:
        raise ConfigError(f"unknown Table-1 row {unknown[0]!r}; choose from {list(TABLE1_ROWS)}")
    return [TABLE1_ROWS[n] for n in names]
