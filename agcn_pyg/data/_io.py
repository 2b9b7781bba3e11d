"""Atomic writes for data artefacts, on top of `agcn_pyg.io.atomic_path`.

A crash mid-write leaves either the old file or no file, never a half-written `.npz` that a
later run would read as corrupt.
"""

from __future__ import annotations

import os

import numpy as np

from agcn_pyg.io import atomic_path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """UTF-8 text, fsynced, then renamed over `path`."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def atomic_savez(path: str | os.PathLike[str], **arrays: np.ndarray) -> None:
    """`np.savez` to exactly `path` (no `.npz` appended), fsynced, then renamed."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)
        handle.flush()
        os.fsync(handle.fileno())
