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
