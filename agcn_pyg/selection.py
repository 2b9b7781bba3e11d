"""Model selection: which split chooses the epoch, which split is reported, and the rule.

A run has a training split and up to two more roles for data (the rule, stated once here and
in the README):

* the **selection split** is the holdout (``data.holdout``: images carved out of the training
  split, `agcn_pyg.data.holdout`) when given, else ``data.val``;
* the **reported split** is ``data.test`` when given, else ``data.val``.

So with a holdout ``data.val`` is reported (COCO and VOC, whose only other split is the test
set), and with ``data.test`` ``data.val`` selects (Fashion550K's own val and test). A holdout
and a test split together would leave ``data.val`` with no role: the schema refuses them.

``train.select`` says which evaluated epoch ``best.pt`` (and ``eval/``) holds: ``best``, the
highest mAP on the selection split, or ``last``, the last evaluated epoch. ``auto`` is
``last`` when the selection split is the reported split (without validation data, a best
epoch chosen on the reported split would be an optimistic figure), else ``best``. ``best`` on
the reported split stays available (the reference codes' practice, kept by the official
variants) and is marked wherever its figures are reported: ``selected_on_reported_split`` in
``eval/metrics.json`` and `MARK` in the tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

#: ``train.select``'s values
SELECT_MODES = ("auto", "best", "last")
#: how tables mark a figure whose epoch was chosen on the split it reports
MARK = "†"
#: what `MARK` means, for captions and ``metrics.json``
MARK_NOTE = (
    "epoch chosen as the best on the reported split itself (train.select=best without a "
    "separate validation split): an optimistic figure"
)


class _DataSplits(Protocol):
    test: dict[str, Any]
    val: dict[str, Any]
    holdout: Any


class _Select(Protocol):
    select: str


@dataclass(frozen=True)
class SplitRoles:
    """The roles of a run's splits (`split_roles`).

    Attributes:
        selection: the split that chooses the epoch: ``holdout`` or ``val``.
        reported: the split whose figures are reported: ``test`` or ``val``.
        select: ``train.select`` resolved: ``best`` or ``last``.
    """

    selection: str
    reported: str
    select: str

    @property
    def separate(self) -> bool:
        """Whether the reported split is another split than the selection split."""
        return self.selection != self.reported

    @property
    def selected_on_reported(self) -> bool:
        """Whether the epoch is chosen as the best on the reported split (to be marked)."""
        return self.select == "best" and not self.separate

    def record(self) -> dict[str, Any]:
        """The roles as ``metrics.json`` and ``env.json`` record them."""
        return {
            "select": self.select,
            "selected_on": self.selection,
            "reported_split": self.reported,
            "selected_on_reported_split": self.selected_on_reported,
        }


def split_roles(data: _DataSplits, train: _Select) -> SplitRoles:
    """The roles of ``data``'s splits under ``train.select`` (a `DataConfig` and a
    `TrainConfig`; see the module docstring for the rule)."""
    selection = "holdout" if data.holdout is not None else "val"
    reported = "test" if data.test else "val"
    select = train.select
    if select == "auto":
        select = "last" if selection == reported else "best"
    return SplitRoles(selection, reported, select)


def reported_split_args(data: _DataSplits) -> dict[str, Any]:
    """The builder arguments of the reported split: ``data.test``, else ``data.val``."""
    return dict(data.test or data.val)
