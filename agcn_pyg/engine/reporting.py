"""What a run's ``eval/metrics.json`` says about model selection, and when its reported split
is scored (`agcn_pyg.selection` has the rule).

While a run trains, ``eval/`` holds the epoch ``best.pt`` holds, scored on the **selection
split** (committed with the epoch, `agcn_pyg.engine.runfolder`). Where the reported split is
that same split (no holdout, no ``data.test``), this is the run's result. Otherwise, after the
last epoch commits, the trainer scores the **reported split** twice, with ``best.pt``'s
weights and with the last epoch's, and ``eval/`` is replaced whole by the selected epoch's
evaluation there (`agcn_pyg.engine.evaluate.commit_evaluation`), with the last epoch's
metrics beside it. A kill during that step leaves the selection split's ``eval/`` or the
finished one, never a mix; ``--resume`` of the finished run sees which (`finished_report`)
and scores the reported split again where it is missing.

``metrics.json``'s fields (`selection_record`, `reported_record`):

* ``evaluated_on``: the split its ``metrics``, ``per_class_AP`` and ``scores.npz`` come from;
* ``select`` (``best`` or ``last``, resolved), ``selected_on`` (``holdout`` or ``val``),
  ``reported_split`` (``test`` or ``val``), ``selected_on_reported_split`` (the mark of a best
  epoch chosen on the reported split itself, with ``selection_note``);
* ``selected_epoch`` (1-based), ``selection_mAP`` and ``selection_metrics``: the selected
  epoch's scores on the selection split;
* at the end, where the reported split is another one: ``test_mAP`` and ``test_metrics`` (the
  selected epoch on the reported split: the same as ``metrics``), ``test_last_mAP`` and
  ``test_last_metrics`` (the last epoch there), and ``last_epoch``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agcn_pyg.selection import MARK_NOTE, SplitRoles


def selection_record(roles: SplitRoles, epoch: int, metrics: Mapping[str, float]) -> dict:
    """The selection fields of ``metrics.json`` for epoch ``epoch`` (0-based), selected with
    ``metrics`` on the selection split."""
    record: dict[str, Any] = {
        "evaluated_on": roles.selection,
        **roles.record(),
        "selected_epoch": epoch + 1,
        "selection_mAP": metrics.get("mAP"),
        "selection_metrics": dict(metrics),
    }
    if roles.selected_on_reported:
        record["selection_note"] = MARK_NOTE
    return record


def reported_record(
    roles: SplitRoles,
    epoch: int,
    selection: Mapping[str, float],
    test: Mapping[str, float],
    test_last: Mapping[str, float],
    last_epoch: int,
) -> dict[str, Any]:
    """The fields of the finished ``metrics.json``: `selection_record`, scored on the reported
    split, with the selected (``test``) and the last epoch's (``test_last``) metrics there."""
    return {
        **selection_record(roles, epoch, selection),
        "evaluated_on": roles.reported,
        "test_mAP": test.get("mAP"),
        "test_metrics": dict(test),
        "test_last_mAP": test_last.get("mAP"),
        "test_last_metrics": dict(test_last),
        "last_epoch": last_epoch + 1,
    }


def finished_report(
    eval_dir: Path, roles: SplitRoles, selected_epoch: int, last_epoch: int
) -> dict[str, Any] | None:
    """``{"split", "selected", "last"}`` (metrics of the reported split) when ``eval_dir``
    already holds the reported split's evaluation of ``selected_epoch`` with ``last_epoch``
    (0-based) beside it, else ``None``."""
    try:
        data = json.loads((eval_dir / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    done = (
        isinstance(data, dict)
        and data.get("evaluated_on") == roles.reported
        and data.get("selected_epoch") == selected_epoch + 1
        and data.get("last_epoch") == last_epoch + 1
        and isinstance(data.get("test_last_metrics"), dict)
    )
    if not done:
        return None
    return {
        "split": roles.reported,
        "selected": data["test_metrics"],
        "last": data["test_last_metrics"],
    }
