"""Label co-occurrence statistics for ML-GCN's static graph and the analysis plots.

For a training target matrix `Y` (N×C, 1 present / 0 absent / -1 ignored), with
`B = [Y == 1]` (only positives count; -1 is neither a co-occurrence nor an occurrence):

    nums[i]   = sum_n B[n, i]                       (C,)
    adj[i, j] = sum_n B[n, i] * B[n, j],  i != j     (C×C, symmetric, zero diagonal)

ML-GCN's conditional probability graph is then `P = adj / nums[:, None]`
(`P[i, j] = P(label j | label i)`). Files are `.npz` (`adj`, `nums`, `label_names`,
`num_images`), never pickle; ML-GCN's `*_adj.pkl` files are read through the restricted
unpickler.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agcn_pyg.data.labels import check_label_order, validate_label_names
from agcn_pyg.data.npz import load_npz
from agcn_pyg.data.safe_pickle import load_numpy_pickle
from agcn_pyg.errors import DataError
from agcn_pyg.graph import check_counts
from agcn_pyg.io import save_npz


def cooccurrence_counts(targets: Any) -> tuple[np.ndarray, np.ndarray]:
    """Count label occurrences and pairwise co-occurrences (see module doc).

    Args:
        targets: N×C array or tensor of {1, 0, -1}.

    Returns:
        `(adj, nums)`: int64 arrays of shape C×C (zero diagonal) and C.
    """
    matrix = targets.numpy() if isinstance(targets, torch.Tensor) else np.asarray(targets)
    if matrix.ndim != 2:
        raise DataError(f"targets must be N×C, got shape {matrix.shape}")
    positive = (matrix == 1).astype(np.int64)
    adj = positive.T @ positive
    nums = np.diagonal(adj).copy()
    np.fill_diagonal(adj, 0)
    return adj, nums


def zero_diagonal(adj: Any, where: str) -> Any:
    """``adj`` with its diagonal set to zero, with a warning, where it holds label totals.

    Raw co-occurrence counts (``Bᵀ B``) carry each label's own count on the diagonal; the
    graph code's rule (`agcn_pyg.graph.check_counts`) wants it zero. The files this module
    reads and writes are repaired by this explicit step before that check. Only a square
    matrix whose diagonal holds finite, non-negative counts is changed; anything else is
    returned as it is, for `check_counts` to refuse with its message.
    """
    matrix = np.asarray(adj)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        return adj
    if not np.issubdtype(matrix.dtype, np.number):
        return adj
    diagonal = np.diagonal(matrix)
    if not (np.isfinite(diagonal).all() and (diagonal >= 0).all() and diagonal.any()):
        return adj
    warnings.warn(f"{where}: adj has a non-zero diagonal; it was set to zero", stacklevel=3)
    matrix = matrix.copy()
    np.fill_diagonal(matrix, 0)
    return matrix


def save_cooccurrence(
    path: str | os.PathLike[str],
    adj: np.ndarray,
    nums: np.ndarray,
    label_names: Sequence[str],
    *,
    num_images: int | None = None,
) -> None:
    """Write `adj`, `nums` and the label order to an `.npz` file, atomically."""
    names = validate_label_names(label_names, where=str(path))
    adj_checked, nums_checked = check_counts(zero_diagonal(adj, str(path)), nums, str(path))
    if adj_checked.shape[0] != len(names):
        raise DataError(f"{path}: {len(names)} label names for a {adj_checked.shape[0]}-label adj")
    if not np.array_equal(adj_checked, adj_checked.T):
        raise DataError(f"{path}: adj is not symmetric")
    save_npz(
        path,
        adj=np.asarray(adj, dtype=np.int64) if _integral(adj) else adj_checked,
        nums=np.asarray(nums, dtype=np.int64) if _integral(nums) else nums_checked,
        label_names=np.array(names, dtype=np.str_),
        num_images=np.array(-1 if num_images is None else int(num_images), dtype=np.int64),
    )


def _integral(values: np.ndarray) -> bool:
    array = np.asarray(values)
    return bool(np.all(np.equal(np.mod(array, 1), 0)))


def load_cooccurrence(
    path: str | os.PathLike[str], label_names: Sequence[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Read `(adj, nums)` as float64 arrays from our `.npz` or ML-GCN's `*_adj.pkl`.

    With `label_names`, a `.npz` must store the same names in the same order, and a `.pkl`
    (which stores no names) must have the same label count; ML-GCN's COCO file is in
    alphabetical name order, the default order of `agcn_pyg.data.coco`.
    """
    file = Path(path)
    if file.suffix == ".pkl":
        data = load_numpy_pickle(file)
        if not isinstance(data, dict) or not {"adj", "nums"} <= set(data):
            raise DataError(f"{file}: expected a dict with 'adj' and 'nums' (ML-GCN *_adj.pkl)")
        adj, nums = check_counts(zero_diagonal(data["adj"], str(file)), data["nums"], str(file))
        stored_names = None
    else:
        arrays = load_npz(file, required=("adj", "nums"))
        adj, nums = check_counts(zero_diagonal(arrays["adj"], str(file)), arrays["nums"], str(file))
        stored_names = [str(n) for n in arrays["label_names"]] if "label_names" in arrays else None
    if label_names is not None:
        wanted = list(label_names)
        if stored_names is not None:
            check_label_order(wanted, stored_names, where=str(file))
        elif len(wanted) != adj.shape[0]:
            raise DataError(f"{file}: {adj.shape[0]} labels, the dataset has {len(wanted)}")
    if stored_names is not None and len(stored_names) != adj.shape[0]:
        raise DataError(f"{file}: {len(stored_names)} label names for a {adj.shape[0]}-label adj")
    return adj, nums
