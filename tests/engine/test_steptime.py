"""Where an epoch's time goes (img/s, the data wait) and the epoch boundary.

The clock is checked against a scripted clock (no timing is asserted); the trainer, on what
it writes and on the order of its calls: the next epoch's loader starts before the commit.
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path

import pytest
import torch

from agcn_pyg.config import load_run_config
from agcn_pyg.engine import steptime
from agcn_pyg.engine.steptime import EpochClock
from agcn_pyg.engine.trainer import Trainer


class _Clock:
    """``time.perf_counter`` that reads a script."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> _Clock:
    fake = _Clock()
    monkeypatch.setattr(steptime.time, "perf_counter", fake)
    return fake


def test_data_wait_is_the_gaps_between_a_step_and_the_next_batch(clock: _Clock) -> None:
    epoch = EpochClock(torch.device("cpu"))
    for ready, done in ((3.0, 5.0), (6.0, 10.0)):  # waits 3 (the first batch) and 1
        clock.now = ready
        epoch.batch_ready()
        clock.now = done
        epoch.step_done(8)
    times = epoch.finish()
    assert times.images_per_s == pytest.approx(16 / 10)
    assert times.data_wait == pytest.approx(4 / 10)
    assert times.seconds == 10 and times.warmup_seconds == 0


def test_warmup_steps_are_left_out_of_both_figures(clock: _Clock) -> None:
    epoch = EpochClock(torch.device("cpu"))
    script = ((3.0, 5.0, True), (6.0, 10.0, False), (12.0, 14.0, False))
    for ready, done, warmup in script:
        clock.now = ready
        epoch.batch_ready()
        clock.now = done
        epoch.step_done(4, warmup=warmup)
    times = epoch.finish()
    assert times.warmup_seconds == 5  # the epoch's start to the warm-up step's end
    assert times.images_per_s == pytest.approx(8 / 9)  # two steps over 5 → 14
    assert times.data_wait == pytest.approx((1 + 2) / 9)
    assert times.seconds == 14


def test_an_epoch_of_warmup_alone_has_no_figures(clock: _Clock) -> None:
    epoch = EpochClock(torch.device("cpu"))
    clock.now = 2.0
    epoch.batch_ready()
    epoch.step_done(4, warmup=True)
    times = epoch.finish()
    assert math.isnan(times.images_per_s) and math.isnan(times.data_wait)


def test_every_epoch_prints_and_logs_its_img_s_and_data_wait(run_config, capsys) -> None:
    cfg = load_run_config(run_config("timed", train={"epochs": 2, "batch_size": 8}))
    Trainer(cfg, progress=False).fit()
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2 and all(" img/s, data wait " in line for line in lines)
    with open(cfg.run_dir / "log.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["epoch"] for row in rows] == ["1", "2"]
    for row in rows:
        assert float(row["images_per_s"]) > 0 and 0 <= float(row["data_wait"]) <= 1
        # the first batch is waited for: with workers=0 the main process decodes it
        assert float(row["data_wait"]) > 0


def test_the_next_epochs_loader_starts_before_this_epoch_commits(run_config, monkeypatch) -> None:
    from agcn_pyg.engine.sources import ImageBatches

    events: list[str] = []
    set_epoch, save = ImageBatches.set_epoch, Trainer._save

    def record_set_epoch(self, epoch: int, seed: int) -> None:
        events.append(f"start {epoch}")
        set_epoch(self, epoch, seed)

    def record_save(self, epoch: int, *args) -> None:
        events.append(f"commit {epoch}")
        save(self, epoch, *args)

    monkeypatch.setattr(ImageBatches, "set_epoch", record_set_epoch)
    monkeypatch.setattr(Trainer, "_save", record_save)
    cfg = load_run_config(run_config("ahead", train={"epochs": 3, "batch_size": 8}))
    Trainer(cfg, progress=False).fit()
    assert events == ["start 0", "start 1", "commit 0", "start 2", "commit 1", "commit 2"]


def test_set_epoch_sets_the_workers_to_the_first_batches(
    run_config, monkeypatch, tmp_path: Path
) -> None:
    """With workers, the loader's first batches are prepared from `set_epoch` on, before
    anything asks for them (the trainer commits the previous epoch meanwhile)."""
    from agcn_pyg.data import MultiLabelDataset

    marker = tmp_path / "fetched"
    getitem = MultiLabelDataset.__getitem__

    def touch(self, index: int):
        marker.touch()  # in the worker process: a file is what crosses back
        return getitem(self, index)

    monkeypatch.setattr(MultiLabelDataset, "__getitem__", touch)
    data = {"workers": 1}
    cfg = load_run_config(run_config("workers", data=data, train={"batch_size": 8}))
    trainer = Trainer(cfg, progress=False)
    try:
        trainer.source.set_epoch(0, 0)
        deadline = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists()
        first = next(iter(trainer.source.batches()))
        assert first[0].shape[0] == 8
    finally:
        trainer.close()
