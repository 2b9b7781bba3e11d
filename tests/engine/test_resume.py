"""`agcn_pyg.engine.resume.changed_keys`: what a stored run config differs in from a new one."""

from __future__ import annotations

from agcn_pyg.config import RunConfig, to_dict
from agcn_pyg.engine.resume import changed_keys


def test_a_run_from_before_train_select_reads_as_selecting_the_best_epoch() -> None:
    # Before `train.select`, best.pt held the best epoch on data.val; reading the missing key
    # as today's default (auto: the last epoch without a holdout) would hide that history.
    now = to_dict(RunConfig())
    before = {**now, "train": {k: v for k, v in now["train"].items() if k != "select"}}
    assert changed_keys(before, now) == {"train.select": ("best", "auto")}
    assert changed_keys(now, now) == {}
