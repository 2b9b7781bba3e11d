r"""A validation split carved out of the training images (``data.holdout``).

For data sets whose only other split is the test set (COCO's val2014, VOC 2007's test), the
epoch is chosen on a holdout instead (`agcn_pyg.selection`): of the training split's ``N``
images (as built: after ``on_bad_image=skip`` and after ``data.label_noise``, so the holdout
carries the labels the training data has), ``k = round(fraction · N)`` are set aside,

.. math::
    \pi = \text{numpy.random.default_rng(seed).permutation}(N),\qquad
    \text{holdout} = \text{sorted}(\pi_{1..k}),\qquad \text{train} = \text{sorted}(\pi_{k+1..N}),

so the split depends on the seed and the training split alone, the same for every row and
training seed of a comparison. The holdout images are never trained on (end to end or on
cached features); the run folder lists them in ``holdout.txt``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agcn_pyg.data.dataset import MultiLabelDataset
from agcn_pyg.errors import DataError

#: the file in a run folder that lists the holdout's images
HOLDOUT_FILE = "holdout.txt"


@dataclass(frozen=True)
class Holdout:
    """Which training images were held out: ``indices`` into the training split as built
    (``train_images`` long), and their ``paths``."""

    fraction: float
    seed: int
    train_images: int
    indices: tuple[int, ...]
    paths: tuple[str, ...]

    def text(self) -> str:
        """``holdout.txt``: a commented header (seed, fraction, counts), then one image path
        per line, in the training split's order."""
        header = [
            f"# data.holdout: fraction {self.fraction:g}, seed {self.seed}: "
            f"{len(self.paths)} of the training split's {self.train_images} images, never "
            "trained on; they choose the epoch (agcn_pyg.selection)",
        ]
        return "\n".join([*header, *self.paths]) + "\n"

    def counts(self) -> dict[str, float | int]:
        """What ``env.json`` records."""
        return {
            "fraction": self.fraction,
            "seed": self.seed,
            "images": len(self.indices),
            "train_images": self.train_images - len(self.indices),
        }


def holdout_indices(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(train, holdout)`` indices of ``n`` images (the module's rule), each sorted.

    Raises:
        DataError: the holdout would hold no image, or every image.
    """
    k = round(fraction * n)
    if not 0 < k < n:
        raise DataError(
            f"data.holdout.fraction {fraction:g} of {n} training images leaves "
            f"{k} for the holdout and {n - k} for training; both need at least one"
        )
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[k:]), np.sort(order[:k])


def carve_holdout(
    train: MultiLabelDataset, fraction: float, seed: int
) -> tuple[MultiLabelDataset, MultiLabelDataset, Holdout]:
    """The training split without its holdout, the holdout, and the `Holdout` record."""
    kept, held = holdout_indices(len(train), fraction, seed)
    record = Holdout(
        fraction=fraction,
        seed=seed,
        train_images=len(train),
        indices=tuple(int(i) for i in held),
        paths=tuple(str(train.image_paths[i]) for i in held),
    )
    rest = train.subset(kept.tolist(), name=f"{train.name} (holdout removed)")
    holdout = train.subset(held.tolist(), name=f"{train.name} holdout")
    return rest, holdout, record


def read_holdout_paths(path: Path) -> list[str]:
    """The image paths a ``holdout.txt`` lists (its comment lines left out)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line and not line.startswith("#")]


__all__ = ["HOLDOUT_FILE", "Holdout", "carve_holdout", "holdout_indices", "read_holdout_paths"]
