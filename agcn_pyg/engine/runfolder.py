"""A run folder: one owner at a time, and an epoch that commits whole.

**One owner.** `RunFolder.acquire` takes an advisory lock (``fcntl.flock``) on
``<output_dir>/.<name>.lock``, beside the folder, before anything is written there, and
records its PID in it; a second run into the same folder stops with a `ConfigError` naming
the folder and that PID. The lock goes with the process, also when it is killed: forked
children (DataLoader workers) close their copy at once, so none outlives it.

**An epoch commits whole.** The artefacts of an epoch are written in this order:

1. if the epoch improved the best mAP: ``eval.next/`` (metrics, per-class CSV, scores) and
   ``best.pt.next``;
2. ``last.pt``: **the commit point**. It holds the history (every log row) and the epoch of
   the best checkpoint, so it alone says what the run has done;
3. `RunFolder.publish`: ``eval.next/`` becomes ``eval/``, ``best.pt.next`` becomes ``best.pt``
   and ``log.csv`` is rewritten from the history.

A kill between 1 and 2 leaves ``*.next`` files that no ``last.pt`` vouches for: ``--resume``
(or a fresh start) removes them and the epoch runs again. A kill during 3 leaves a committed
epoch whose files are not all in place: ``--resume`` (also of a finished run) runs
`RunFolder.publish` again, which finishes the job. Every file is itself written atomically
(`agcn_pyg.io`), and leftover temporary files of a killed write are removed on start.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agcn_pyg.errors import ConfigError

PENDING_BEST = "best.pt.next"
PENDING_EVAL = "eval.next"
_OLD_EVAL = "eval.prev"


#: lock files this process holds; a forked child closes its copies (`_forget_in_child`)
_HELD: set[Any] = set()


def _forget_in_child() -> None:
    for handle in list(_HELD):
        handle.close()  # the parent's lock stays: it holds its own descriptor
    _HELD.clear()


os.register_at_fork(after_in_child=_forget_in_child)


class RunFolder:
    """``<output_dir>/<name>``, held by this process while it trains."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(f".{self.path.name}.lock")
        self._handle: Any = None

    # ---------------------------------------------------------------- ownership

    def acquire(self) -> RunFolder:
        """Take the folder's lock (creating the folder) or raise `ConfigError`."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.lock_path, "a+", encoding="utf-8")  # noqa: SIM115 (held open)
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise ConfigError(
                f"{self.path} is in use by another run (PID {holder}); wait for it to finish "
                "or choose another name=..."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._handle = handle
        _HELD.add(handle)
        self.path.mkdir(exist_ok=True)
        self.remove_stale_temporaries()
        return self

    def release(self) -> None:
        if self._handle is not None:
            _HELD.discard(self._handle)
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> RunFolder:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def remove_stale_temporaries(self) -> None:
        """Temporary files of writes that a kill interrupted (`agcn_pyg.io.atomic_path`)."""
        for tmp in self.path.rglob(".*.tmp"):
            tmp.unlink(missing_ok=True)

    def move_aside(self) -> Path | None:
        """For ``--overwrite``: rename the previous run's folder to ``<name>.replaced-<time>``
        in one step (the lock lives outside it) and start an empty one, so the old results are
        kept whole. Returns the renamed folder, or ``None`` when there was nothing to move."""
        if not any(self.path.iterdir()):
            return None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.replaced-{stamp}")
        suffix = 1
        while target.exists():
            suffix += 1
            target = self.path.with_name(f"{self.path.name}.replaced-{stamp}-{suffix}")
        os.replace(self.path, target)
        self.path.mkdir()
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
                    current = self.path / "eval"
                    if current.exists():
                        os.replace(current, self.path / _OLD_EVAL)
                    os.replace(new_eval, current)
                os.replace(pending, self.path / "best.pt")
            else:
                pending.unlink()
        self._drop_eval_leftovers()
