r"""Label noise on a training split: the noise model of the paper's Table 2 regime.

For every image ``n`` and label ``i`` independently, with one uniform draw
:math:`u_{ni} \sim U(0, 1)` from ``numpy.random.default_rng(seed)`` over the whole
``N × C`` matrix (row-major, so the draws do not depend on how the split is batched):

* a positive (``y = 1``) becomes 0 when :math:`u_{ni} < \text{drop}` (a missing tag);
* a negative (``y = 0``) becomes 1 when :math:`u_{ni} < \text{add}` (a spurious tag);
* a difficult target (``y = -1``) is left as it is.

So the expected fraction of positives kept is ``1 − drop``, and of negatives turned positive
``add``. Only the training split is corrupted; the evaluation split keeps its clean labels, so
the figures measure how well a model trained on noisy tags recovers the true ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class NoiseCounts:
    """What `corrupt_targets` changed: positives before, dropped, and spurious added."""

    positives: int
    dropped: int
    added: int

    def to_dict(self) -> dict[str, int]:
        return {"positives": self.positives, "dropped": self.dropped, "added": self.added}


def corrupt_targets(
    targets: Tensor | np.ndarray, drop: float = 0.0, add: float = 0.0, seed: int = 0
) -> tuple[Tensor, NoiseCounts]:
    """The noisy copy of ``targets`` (``N × C`` in {1, 0, -1}) under the module's noise model.

    Returns the noisy targets (``int8``, a new tensor) and the `NoiseCounts`.
    """
    clean = torch.as_tensor(np.asarray(targets)).to(torch.int8)
    u = torch.from_numpy(np.random.default_rng(seed).random(tuple(clean.shape)))
    dropped = (clean == 1) & (u < drop)
    added = (clean == 0) & (u < add)
    noisy = clean.clone()
    noisy[dropped] = 0
    noisy[added] = 1
    counts = NoiseCounts(int((clean == 1).sum()), int(dropped.sum()), int(added.sum()))
    return noisy, counts


__all__ = ["NoiseCounts", "corrupt_targets"]
