"""``log.csv``: one row per epoch, the same columns for end-to-end and cached-features runs.

Floats are written with 6 significant digits; NaN and ±inf (an epoch that was not evaluated,
a run without a best mAP yet) are empty cells, and a column a row lacks is empty too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

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
