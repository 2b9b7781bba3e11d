"""Persistent, prefetching workers keep training exact: every item's augmentation has its own
seed, so neither the number of workers nor a resume changes a single batch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from agcn_pyg.config import load_run_config
from agcn_pyg.engine.checkpoint import read_checkpoint
from agcn_pyg.engine.inputs import make_loader, resolve_workers
from agcn_pyg.engine.trainer import Trainer

pytestmark = pytest.mark.slow

SECTIONS = {"train": {"epochs": 3, "batch_size": 8, "lr": 0.05}}


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(run / "last.pt")["state_dict"]


def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def test_worker_count_and_resume_leave_training_unchanged(
    run_config, tmp_path: Path, interrupted_run
) -> None:
    runs = tmp_path / "runs"
    for name, workers in (("main_process", 0), ("two_workers", 2)):
        cfg = load_run_config(run_config(name, data={"workers": workers}, **SECTIONS))
        Trainer(cfg, progress=False).fit()
    assert _same(_weights(runs / "main_process"), _weights(runs / "two_workers"))

    cfg = load_run_config(run_config("interrupted", data={"workers": 2}, **SECTIONS))
    interrupted_run(cfg, epoch=1)
    assert read_checkpoint(runs / "interrupted" / "last.pt")["epoch"] == 0
    Trainer(cfg, resume=True, progress=False).fit()
    assert _same(_weights(runs / "two_workers"), _weights(runs / "interrupted"))


def test_loaders_persist_prefetch_and_pin(color_dataset: Path) -> None:
    from agcn_pyg.data import build_dataset, build_transforms

    dataset = build_dataset(
        "csv",
        csv_file=str(color_dataset / "train.csv"),
        label_names=str(color_dataset / "labels.txt"),
    ).with_transform(build_transforms("paper", 32, 36, output="uint8")[0])
    gen = torch.Generator().manual_seed(0)
    loader = make_loader(dataset, 8, 2, train=True, generator=gen, pin_memory=False)
    assert loader.persistent_workers and loader.prefetch_factor == 4
    images, _ = next(iter(loader))
    assert images.dtype == torch.uint8 and images.shape == (8, 3, 32, 32)
    gen.manual_seed(5)
    first = [b[0] for b in loader]
    gen.manual_seed(5)
    again = [b[0] for b in loader]  # the same persistent workers, a re-seeded pass
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert resolve_workers(3) == 3 and 1 <= resolve_workers(None) <= 16
