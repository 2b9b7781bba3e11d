"""Atomic writes keep the old file on failure, leave no temporary files, respect the umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from agcn_pyg.io import atomic_path, write_json, write_text


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "report.md"
    write_text(target, "old\n")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]


def test_written_files_get_umask_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "metrics.json", {"mAP": 1.0})
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "metrics.json").stat().st_mode)
    assert mode == 0o644


def test_text_is_utf8_whatever_the_locale(tmp_path: Path) -> None:
    write_text(tmp_path / "a.md", "Â = D̃^-1/2 (A + I) D̃^-1/2, α = 1\n")
    assert (tmp_path / "a.md").read_bytes().decode("utf-8").startswith("Â")


def test_first_non_finite_names_the_first_bad_floating_tensor() -> None:
    import torch

    from agcn_pyg.io import first_non_finite

    state = {
        "steps": torch.tensor(3),  # integer tensors are never "non-finite"
        "ok": torch.ones(2),
        "bad": torch.tensor([1.0, float("inf")]),
        "worse": torch.tensor([float("nan")]),
        "note": "not a tensor",
    }
    assert first_non_finite(state) == "bad"
    assert first_non_finite({"ok": torch.zeros(3), "n": 1}) is None


def test_load_error_reason_picks_the_line_that_says_why() -> None:
    from agcn_pyg.io import load_error_reason

    refusal = RuntimeError(
        "Weights only load failed.\n\n  WeightsUnpickler error: Unsupported global: GLOBAL x.Y\n"
        "Check the documentation."
    )
    assert load_error_reason(refusal) == "WeightsUnpickler error: Unsupported global: GLOBAL x.Y"
    assert load_error_reason(ValueError("first\nsecond")) == "first"
    assert load_error_reason(OSError()) == "OSError"
