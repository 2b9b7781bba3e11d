"""File I/O: atomic writes, and what went wrong reading a torch file.

Atomic writes: a reader never sees a half-written file, a crash never loses the old one. Every
writer goes through `atomic_path`: the data goes to a hidden sibling file, is flushed
to disk, and is renamed over the target with ``os.replace`` (atomic on one file system). The
sibling is created with plain ``open()``, so the result gets the usual umask permissions
(``tempfile.mkstemp`` would make every checkpoint and log private to its owner).

A write that the storage refuses is a `StorageError` that names its cause (`storage_error`):
a full device (``ENOSPC``, ``EDQUOT``) or a place that cannot be written (``EROFS``,
``EACCES``, ``EPERM``), with the path. ``torch.save`` reports a failed write of its own as a
``RuntimeError`` ("unexpected pos ...") raised while the file's ``OSError`` is handled; the
cause is read from that ``OSError``. Only a failure without any errno falls back to the free
space (less than 1 MiB: full).

Reading: `load_error_reason` is the line of a ``torch.load`` error that says why, and
`first_non_finite` names the first weight holding NaN or inf; both the engine's checkpoints
and the official codes' (`agcn_pyg.models.official`) are read through them.
"""

from __future__ import annotations

import contextlib
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
        raise storage_error(path.parent, err) from None
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as err:
        raise storage_error(path, err, UNCHANGED) from None
    except RuntimeError as err:
        # torch.save's zip writer raises a RuntimeError of its own over the file's OSError
        # ("unexpected pos ..."), or "file write failed" where it writes the file itself.
        if _os_error(err) is None and "write" not in str(err):
            raise
        raise storage_error(path, err, UNCHANGED) from None
    finally:
        with contextlib.suppress(OSError):  # a read-only place has no temporary to remove
            tmp.unlink(missing_ok=True)


#: what `atomic_path` adds to a storage error: the target was never touched
UNCHANGED = "; the previous file is unchanged"
#: errnos of a full device, and of a place that cannot be written
FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
NOT_WRITABLE = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})


def storage_error(path: str | os.PathLike[str], err: BaseException, note: str = "") -> StorageError:
    """A one-line `StorageError` for a refused write of ``path``: "no space left on device"
    or "read-only file system or permission denied", by the errno of ``err`` (or of the
    ``OSError`` it was raised over); ``note`` ends the line."""
    cause = _os_error(err)
    code = getattr(cause, "errno", None)
    if code in FULL or (cause is None and _nearly_full(Path(path).parent)):
        return StorageError(f"no space left on device (writing {path}){note}")
    if code in NOT_WRITABLE:
        return StorageError(
            f"cannot write {path}: read-only file system or permission denied "
            f"({os.strerror(code)}){note}"
        )
    reason = getattr(cause, "strerror", None) or (str(err).strip().splitlines() or ["?"])[-1]
    return StorageError(f"could not write {path} ({reason[:200]}){note}")


def _nearly_full(folder: Path) -> bool:
    """For a failure that carries no errno (torch writing a file itself): less than 1 MiB
    free is taken as the cause."""
    try:
        return shutil.disk_usage(folder).free < 1 << 20
    except OSError:
        return False


def _os_error(err: BaseException | None) -> OSError | None:
    """``err`` or the first ``OSError`` it was raised from or over (``__cause__``,
    ``__context__``), where the errno is."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, OSError) and err.errno is not None:
            return err
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return None


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
