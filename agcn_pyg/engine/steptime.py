r"""Where an epoch's time goes: images/s and the fraction of it the step waited for data.

`EpochClock` is told when a batch is ready (`EpochClock.batch_ready`, right after the source
handed it over, on the device) and when a step is done (`EpochClock.step_done`, after the
optimiser step). The *data wait* of step :math:`k` is the time between step :math:`k-1`'s
end (the epoch's start for the first step) and batch :math:`k` being ready:

.. math::
    \text{data wait} = \frac{\sum_k (\text{ready}_k - \text{done}_{k-1})}{\text{epoch time}}

On the CPU both are host clock readings. On CUDA they are CUDA events on the training
stream, so each gap is the time the *device* sat idle waiting for the batch (including its
copy, normalisation or decoding): the host runs ahead of the device by the work it queued,
and a batch that arrives while the device still computes the previous step costs nothing.
The events are read at the epoch's end, after one synchronisation.

Steps marked as warm-up (the compile, `agcn_pyg.engine.compiled`) are left out of both
figures: the window starts after the last of them, and their seconds are kept in
``warmup_seconds``. An epoch that is all warm-up has no figure (NaN).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class EpochTimes:
    """An epoch's figures: ``images_per_s`` and ``data_wait`` (a fraction) over the steps
    after any warm-up, ``seconds`` of the whole epoch, ``warmup_seconds`` of its warm-up."""

    images_per_s: float
    data_wait: float
    seconds: float
    warmup_seconds: float


class EpochClock:
    """Times one epoch's steps on ``device`` (see the module docstring)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.events = device.type == "cuda"
        self.start = time.perf_counter()
        self.window_start = self.start
        self.warmup_seconds = 0.0
        self.images = 0
        self.gaps: list[tuple[Any, Any]] = []
        self._done = self._stamp()
        self._ready: Any = None

    def _stamp(self) -> Any:
        if not self.events:
            return time.perf_counter()
        event = torch.cuda.Event(enable_timing=True)
        event.record(torch.cuda.current_stream(self.device))
        return event

    def _seconds(self, a: Any, b: Any) -> float:
        return a.elapsed_time(b) / 1000 if self.events else b - a

    def _sync(self) -> None:
        if self.events:
            torch.cuda.synchronize(self.device)

    def batch_ready(self) -> None:
        self._ready = self._stamp()

    def step_done(self, images: int, warmup: bool = False) -> None:
        """After a step on ``images`` images; ``warmup``: leave it out of the figures."""
        if warmup:
            self._sync()
            now = time.perf_counter()
            self.warmup_seconds += now - self.window_start
            self.window_start = now
            self.images, self.gaps = 0, []
            self._done = self._stamp()
            return
        self.gaps.append((self._done, self._ready))
        self.images += images
        self._done = self._stamp()

    def finish(self) -> EpochTimes:
        """The epoch's figures (one device synchronisation)."""
        self._sync()
        end = time.perf_counter()
        window = end - self.window_start
        if self.images == 0 or window <= 0:
            rate = wait = math.nan
        else:
            rate = self.images / window
            wait = min(1.0, sum(self._seconds(a, b) for a, b in self.gaps) / window)
        return EpochTimes(rate, wait, end - self.start, self.warmup_seconds)
