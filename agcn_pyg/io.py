"""File I/O: atomic writes, and what went wrong reading a torch file.

Atomic writes: a reader never sees a half-written file, a crash never loses the old one. Every
writer goes through `atomic_path`: the data goes to a hidden sibling file, is flushed
to disk, and is renamed over the target with ``os.replace`` (atomic on one file system). The
sibling is created with plain ``open()``, so the result gets the usual umask permissions
(``tempfile.mkstemp`` would make every checkpoint and log private to its owner).

Reading: `load_error_reason` is the line of a ``torch.load`` error that says why, and
`first_non_finite` names the first weight holding NaN or inf; both the engine's checkpoints
and the official codes' (`agcn_pyg.models.official`) are read through them.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agcn_pyg.errors import StorageError


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically.

    The caller writes the temporary file. On an exception it is removed and ``path`` is
    untouched.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _storage_error(path, err) from None
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as err:
        raise _storage_error(path, err) from None
    except RuntimeError as err:
        # torch.save reports a failed write as a RuntimeError from its zip writer
        # ("inline_container.cc ... file write failed").
        if "write" not in str(err):
            raise
        raise _storage_error(path, err) from None
    finally:
        tmp.unlink(missing_ok=True)


def _storage_error(path: Path, err: BaseException) -> StorageError:
    full = getattr(err, "errno", None) == errno.ENOSPC
    if not full:
        try:
            full = shutil.disk_usage(path.parent).free < 1 << 20
        except OSError:
            full = False
    if full:
        return StorageError(f"no space left on device ({path}); the previous file is unchanged")
    reason = getattr(err, "strerror", None) or str(err).strip().splitlines()[-1][:200]
    return StorageError(f"could not write {path} ({reason}); the previous file is unchanged")


def write_bytes(path: str | os.PathLike[str], data: bytes, durable: bool = True) -> None:
    """``durable=False`` skips the fsync: for many small files that a marker written last
    (e.g. the demo's ``generator.json``) already vouches for."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        handle.write(data)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """UTF-8 text, written as given (no newline translation)."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, allow_nan=False, default=_json_default) + "\n")


def save_torch(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save`` through `atomic_path`, fsynced before the rename."""
    import torch  # here, so that the plain-file writers stay cheap to import

    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        torch.save(obj, handle)
        handle.flush()
        os.fsync(handle.fileno())


def save_npz(path: str | os.PathLike[str], compressed: bool = False, **arrays: Any) -> None:
    """``np.savez`` to exactly ``path`` (no ``.npz`` appended), fsynced, then renamed."""
    import numpy as np

    save = np.savez_compressed if compressed else np.savez
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        save(handle, **arrays)
        handle.flush()
        os.fsync(handle.fileno())


def first_non_finite(state: Mapping[str, Any]) -> str | None:
    """The first floating-point tensor of ``state`` that holds NaN or inf, by name."""
    import torch  # here, so that the plain-file writers stay cheap to import

    for name, value in state.items():
        floating = isinstance(value, torch.Tensor) and value.is_floating_point()
        if floating and not torch.isfinite(value).all():
            return name
    return None


def load_error_reason(err: Exception) -> str:
    """The line of a ``torch.load`` error that says why (the cause of a ``weights_only``
    refusal stands on a line of its own)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    # torch's weights_only refusal puts the cause on a line of its own
    markers = ("unsupported global", "error:", "blocked")
    specific = [line for line in lines if any(m in line.lower() for m in markers)]
    return ((specific or lines or [type(err).__name__])[0])[:240]


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
