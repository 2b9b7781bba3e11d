"""A run folder: one owner at a time, and an epoch that commits whole.

**One owner, by identity.** `RunFolder.acquire` resolves the folder's path (symbolic links
included) and takes two advisory locks (``fcntl.flock``) before anything is written in it:

1. the *name lock*, ``<parent>/.<name>.lock`` beside the resolved folder, which records the
   holder's PID: every path to the folder (``runs/a`` and a link to it) resolves to the same
   lock file, and it guards the name while ``--overwrite`` puts a new folder under it;
2. the *folder lock*, on the folder's own directory descriptor: it goes with the folder's
   identity (its inode), so a deleted lock file does not let a second run in.

A second run into a held folder stops with a `ConfigError` naming the folder and the
holder's PID. The locks go with the process, also when it is killed: forked children
(DataLoader workers) close their copies at once, so none outlives it.

**A run's results are never replaced silently.** `RunFolder.results` lists what a previous
run left (``last.pt``, ``best.pt``, ``eval/``, ``log.csv``); the trainer starts a new history
there only with ``--overwrite``, and `RunFolder.move_aside` then renames the old folder whole
to ``<name>.replaced-<time>`` in one step. Start-up clean-up (`remove_stale_temporaries`,
`discard_pending`) touches this run's folder only.

**An epoch commits whole.** The artefacts of an epoch are written in this order:

1. if the epoch improved the best mAP: ``eval.next/`` (metrics, per-class CSV, scores) and
   ``best.pt.next``;
2. ``last.pt``: **the commit point**. It holds the history (every log row) and the epoch of
   the best checkpoint, so it alone says what the run has done;
3. `RunFolder.publish`: ``eval.next/`` becomes ``eval/`` (`replace_folder`), ``best.pt.next``
   becomes ``best.pt`` and ``log.csv`` is rewritten from the history.

A kill between 1 and 2 leaves ``*.next`` files that no ``last.pt`` vouches for: ``--resume``
(or a fresh start) removes them and the epoch runs again. A kill during 3 leaves a committed
epoch whose files are not all in place: ``--resume`` (also of a finished run) runs
`RunFolder.publish` again, which finishes the job. Every file is itself written atomically
(`agcn_pyg.io`), and leftover temporary files of a killed write are removed on start.

Storage that refuses a write (a read-only or full file system) is a `StorageError` naming
the path and the cause (`agcn_pyg.io.storage_error`), for the locks and the clean-up too.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agcn_pyg.errors import ConfigError
from agcn_pyg.io import storage_error

PENDING_BEST = "best.pt.next"
PENDING_EVAL = "eval.next"
_OLD_EVAL = "eval.prev"
#: what a run leaves that a new history must not replace without ``--overwrite``
RESULTS = ("last.pt", "best.pt", "eval", "log.csv")
#: temporary files of `agcn_pyg.io.atomic_path` (``.<name>.<hex>.tmp``)
_TEMPORARY = re.compile(r"^\..+\.tmp$")


#: lock handles (files and descriptors) this process holds; a forked child closes its copies
_HELD: set[Any] = set()


def _forget_in_child() -> None:
    for handle in list(_HELD):
        # the parent's locks stay: it holds its own descriptors of the same open files
        if isinstance(handle, int):
            os.close(handle)
        else:
            handle.close()
    _HELD.clear()


os.register_at_fork(after_in_child=_forget_in_child)


class RunFolder:
    """``<output_dir>/<name>``, held by this process while it trains."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._name_lock: Any = None
        self._folder_fd: int | None = None

    @property
    def real(self) -> Path:
        """The folder's resolved path: the one every alias of it leads to."""
        return Path(os.path.realpath(self.path))

    @property
    def lock_path(self) -> Path:
        real = self.real
        return real.with_name(f".{real.name}.lock")

    # ---------------------------------------------------------------- ownership

    def acquire(self) -> RunFolder:
        """Take the folder's name and folder locks (creating the folder) or raise
        `ConfigError` (held by another run) or `StorageError` (not writable)."""
        real, lock = self.real, self.lock_path
        try:
            real.parent.mkdir(parents=True, exist_ok=True)
            handle = open(lock, "a+", encoding="utf-8")  # noqa: SIM115 (held open)
        except OSError as err:
            raise storage_error(lock, err) from None
        if not _try_lock(handle.fileno()):
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise self._in_use(holder)
        self._name_lock = handle
        _HELD.add(handle)
        try:
            self._lock_folder(real)
            try:
                handle.seek(0)
                handle.truncate()
                handle.write(f"{os.getpid()}\n")
                handle.flush()
            except OSError as err:
                raise storage_error(lock, err) from None
            self.remove_stale_temporaries()
        except BaseException:
            self.release()
            raise
        return self

    def _lock_folder(self, real: Path) -> None:
        """Create ``real`` if needed and lock its directory descriptor (its identity)."""
        try:
            real.mkdir(exist_ok=True)
            fd = os.open(real, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as err:
            raise storage_error(real, err) from None
        if not _try_lock(fd):
            os.close(fd)
            # the name lock was free, so the holder reached this folder after its lock file
            # was deleted (or by a path that resolves elsewhere, as a bind mount)
            raise self._in_use("unknown: its lock file was removed")
        self._folder_fd = fd
        _HELD.add(fd)

    def _in_use(self, holder: str) -> ConfigError:
        return ConfigError(
            f"{self.path} is in use by another run (PID {holder}); wait for it to finish "
            "or choose another name=..."
        )

    def release(self) -> None:
        if self._folder_fd is not None:
            _HELD.discard(self._folder_fd)
            os.close(self._folder_fd)  # closing the last descriptor releases its flock
            self._folder_fd = None
        if self._name_lock is not None:
            _HELD.discard(self._name_lock)
            fcntl.flock(self._name_lock.fileno(), fcntl.LOCK_UN)
            self._name_lock.close()
            self._name_lock = None

    def __enter__(self) -> RunFolder:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    # ---------------------------------------------------------------- start-up

    def results(self) -> list[str]:
        """The `RESULTS` a previous run left in the folder (an ``eval/`` that holds only a
        killed write's temporaries is none)."""
        found = []
        for name in RESULTS:
            path = self.path / name
            if path.is_dir():
                if any(not _TEMPORARY.match(p.name) for p in path.iterdir()):
                    found.append(name)
            elif path.exists():
                found.append(name)
        return found

    def remove_stale_temporaries(self) -> None:
        """Temporary files of writes that a kill interrupted (`agcn_pyg.io.atomic_path`), in
        this folder and its sub-folders only (links are not followed)."""
        for root, _, files in os.walk(self.real):
            for name in files:
                if _TEMPORARY.match(name):
                    path = Path(root) / name
                    try:
                        path.unlink(missing_ok=True)
                    except OSError as err:
                        raise storage_error(path, err, " (a stale temporary file)") from None

    def move_aside(self) -> Path | None:
        """For ``--overwrite``: rename the previous run's folder to ``<name>.replaced-<time>``
        in one step and start an empty one, so the old results are kept whole. The name lock
        is held throughout; the folder lock moves to the new folder. Returns the renamed
        folder, or ``None`` when there was nothing to move."""
        real = self.real
        if not any(real.iterdir()):
            return None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = real.with_name(f"{real.name}.replaced-{stamp}")
        suffix = 1
        while target.exists():
            suffix += 1
            target = real.with_name(f"{real.name}.replaced-{stamp}-{suffix}")
        try:
            os.rename(real, target)
        except OSError as err:
            raise storage_error(real, err, " (moving the previous run aside)") from None
        old, self._folder_fd = self._folder_fd, None
        try:
            self._lock_folder(real)
        finally:
            if old is not None:  # the renamed folder is no longer this run's
                _HELD.discard(old)
                os.close(old)
        return target

    def discard_pending(self) -> None:
        """Drop pending files (a fresh run: no ``last.pt`` vouches for them)."""
        (self.path / PENDING_BEST).unlink(missing_ok=True)
        self._drop_eval_leftovers()

    def _drop_eval_leftovers(self) -> None:
        for leftover in (PENDING_EVAL, _OLD_EVAL):
            shutil.rmtree(self.path / leftover, ignore_errors=True)

    # ---------------------------------------------------------------- epoch commit

    def publish(self, best_epoch: int | None, epoch_of: Callable[[Path], int | None]) -> None:
        """Make ``best.pt`` and ``eval/`` those of ``best_epoch`` (as ``last.pt`` records it):
        promote pending files of that epoch, drop pending files of an uncommitted one.

        ``epoch_of(path)`` reads the epoch a checkpoint file holds.
        """
        pending = self.path / PENDING_BEST
        if pending.exists():
            if best_epoch is not None and epoch_of(pending) == best_epoch:
                new_eval = self.path / PENDING_EVAL
                if new_eval.exists():
                    replace_folder(new_eval, self.path / "eval")
                os.replace(pending, self.path / "best.pt")
            else:
                pending.unlink()
        self._drop_eval_leftovers()


def replace_folder(new: Path, target: Path) -> None:
    """Put the complete folder ``new`` in place of ``target``: ``target`` goes to
    ``<target>.prev``, ``new`` becomes ``target``, the old one is removed. At every instant
    ``target`` is either the old folder or the new one, whole (or, between the two renames,
    absent), never a mix of both."""
    old = target.with_name(f"{target.name}.prev")
    shutil.rmtree(old, ignore_errors=True)
    try:
        if target.exists():
            os.replace(target, old)
        os.replace(new, target)
    except OSError as err:
        raise storage_error(target, err) from None
    shutil.rmtree(old, ignore_errors=True)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
