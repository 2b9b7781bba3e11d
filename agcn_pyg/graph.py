r"""Label-graph maths: Eq. 4 normalisation, Eq. 6 sparsity loss, ML-GCN's static graph.

Shapes: ``C`` labels. Every adjacency is a dense ``C × C`` tensor whose entry ``[i, j]`` is the
weight with which label ``j`` feeds label ``i`` (row = receiver), so one GCN layer computes
:math:`\hat{A} H W` (Eq. 3).

**Eq. 4 with a learned A.** :math:`\hat{A} = \tilde{D}^{-1/2}(A + I)\tilde{D}^{-1/2}`,
:math:`\tilde{D}_{ii} = \sum_j \tilde{A}_{ij}`. A learned A (Eq. 5, 7, 8, 9) has negative
entries, so a row sum can reach zero or below and :math:`\tilde{D}^{-1/2}` becomes inf or NaN;
the official A-GCN code and PyG's ``gcn_norm`` both have this hazard. Here a *guard* ``g``
(`GUARDS`) maps A first, :math:`\tilde{A} = g(A) + I`, and the degree is
:math:`\tilde{D}_{ii} = \max(1, \sum_j |\tilde{A}_{ij}|)`: the absolute row sum equals the
plain row sum whenever :math:`\tilde{A} \ge 0`, bounds every row of Â when it is not, and the
floor of 1 (the degree of a label with only its self-loop) rules out a division by zero.

* ``relu`` (default): :math:`g(A) = \max(A, 0)`. Negative correlations become exact zeros,
  so Â stays sparse, and because Eq. 5 divides by C the learned A starts near 0 and
  :math:`\hat{A} \approx I` at initialisation: the GCN starts as a per-label MLP and mixes
  labels only where the loss asks it to. An entry of A below 0 gets no gradient, so a graph
  whose entries all went negative stays exactly I for the rest of the run (training warns
  once and ``log.csv``'s ``adj_offdiag`` shows it).
* ``leaky``: :math:`g(A) = \max(A, 0) + 0.01 \min(A, 0)`: as ``relu``, but a negative
  entry keeps 1/100 of its weight and of its gradient, so the LG module never stops
  learning.
* ``signed``: :math:`g(A) = A`; Â keeps negative weights, normalised by absolute degrees.
  (Clamping the signed row sum instead lets :math:`|\hat{A}|` grow without bound; in
  `tests/models/test_agcn.py` that diverged to NaN within three SGD steps.)
* ``softplus``: :math:`\log(1 + e^{A})`. Dense: softplus(0) = 0.69, so every label mixes
  with every other from the first step.
* ``softmax``: the row-softmax of A. Dense in the same way.

Why ``relu`` stays the default: measured against ``leaky``, ``signed`` and plain Eq. 4 (the
guards under which the LG keeps its gradient) on the demo's cached features with clean and
with noisy labels and end to end on digit scenes, none was better by more than the spread
between seeds, and end to end the ones that kept the graph alive were lower
(``docs/experiments.md``, which also shows what makes the graph die: alike label
embeddings).

`bench/bench_guards.py` prints how far Â is from I at initialisation under each guard.

**Plain Eq. 4** (guard ``none``): :math:`\tilde{A} = A + I` and
:math:`\tilde{D}_{ii} = \sum_j \tilde{A}_{ij}`, signed, with no floor: the paper's text and the
official A-GCN code (``gen_adj_new``). A row whose sum is not positive has no
:math:`\tilde{D}^{-1/2}`; where the official code returns NaN (or inf), this stops with a
`DegreeError` naming the label and its degree. Checking costs one host-device sync per call.

**ML-GCN's static graph** (`mlgcn_adjacency`) reproduces ``gen_A`` and ``gen_adj`` from the
ML-GCN code bit for bit, quirks included:

1. :math:`P = \text{adj} / \text{nums}` divides row i by the count of label i, so
   :math:`P_{ij} = P(j \mid i)`.
2. Binarise: entries ``< t`` become 0, the rest 1.
3. Re-weight (``reweight=True``): ``A * p / (A.sum(0) + 1e-6)`` divides by the **column**
   sums, not the row sums, and the ``1e-6`` leaves all-zero columns at zero.
4. Add I: the diagonal is set to +1 (adj's diagonal is zero, so after step 2 it was 0).
5. ``gen_adj``: :math:`D = \mathrm{diag}(\text{rowsum}(A))^{-1/2}` and the result is
   :math:`(A D)^\top D = D A^\top D` — A is **transposed**, and the degrees are A's row sums.

Steps 1–4 run in float64 (numpy) and step 5 in float32 (torch), as in ML-GCN. One deviation:
a label that never occurs (``nums = 0``) makes ML-GCN divide 0 by 0 and fill its row with NaN;
here its row of P is zero and a warning names it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from agcn_pyg.errors import ConfigError, DataError, DegreeError
from agcn_pyg.registry import Registry

#: the slope of the ``leaky`` guard below zero
LEAKY_SLOPE = 0.01
GUARDS: Registry[Callable[[Tensor], Tensor]] = Registry("adjacency guard")
GUARDS.add("relu", torch.relu)
GUARDS.add("leaky", lambda a: F.leaky_relu(a, LEAKY_SLOPE))
GUARDS.add("signed", lambda a: a)
GUARDS.add("softplus", F.softplus)
GUARDS.add("softmax", lambda a: a.softmax(dim=-1))

#: the ``guard`` name of plain Eq. 4: no guard, signed degrees, no floor (official A-GCN)
PLAIN = "none"


def list_guards() -> list[str]:
    """Names accepted as ``model.guard``: the registered guards and ``'none'``."""
    return sorted([*GUARDS.names(), PLAIN])


def normalize_adjacency(adj: Tensor, guard: str) -> Tensor:
    r"""Eq. 4 with a guard: :math:`\hat{A} = \tilde{D}^{-1/2}(g(A) + I)\tilde{D}^{-1/2}`.

    Args:
        adj: A, ``C × C``; row i receives from column j.
        guard: name of ``g`` in `GUARDS`, or ``'none'`` for plain Eq. 4 (`plain_normalize`).

    Returns:
        Â, ``C × C``, finite for any finite A (under ``'none'``: or a `DegreeError`).
    """
    if guard == PLAIN:
        return plain_normalize(adj)
    num_nodes = adj.size(-1)
    eye = torch.eye(num_nodes, dtype=adj.dtype, device=adj.device)
    tilde = GUARDS.get(guard)(adj) + eye
    deg_inv_sqrt = tilde.abs().sum(dim=-1).clamp_min(1.0).rsqrt()
    return deg_inv_sqrt.unsqueeze(-1) * tilde * deg_inv_sqrt.unsqueeze(-2)


def plain_normalize(adj: Tensor) -> Tensor:
    r"""Plain Eq. 4: :math:`\tilde{D}^{-1/2}(A + I)\tilde{D}^{-1/2}` with
    :math:`\tilde{D}_{ii} = \sum_j (A + I)_{ij}`, as the official A-GCN code computes it.

    Raises:
        DegreeError: a degree is zero, negative or NaN (the first such row is named).
    """
    num_nodes = adj.size(-1)
    tilde = adj + torch.eye(num_nodes, dtype=adj.dtype, device=adj.device)
    deg = tilde.sum(dim=-1)
    bad = ~(deg > 0)
    if bool(bad.any()):
        row = int(bad.nonzero()[0, 0])
        raise DegreeError(row, float(deg[row].detach()))
    deg_inv_sqrt = deg.rsqrt()
    return deg_inv_sqrt.unsqueeze(-1) * tilde * deg_inv_sqrt.unsqueeze(-2)


def offdiagonal_mass(adj_hat: Tensor) -> Tensor:
    r"""Per row, :math:`\sum_{j \ne i} |\hat{A}_{ij}|` (``C``): how much label i receives from
    the other labels; all zeros means Â = I, a GCN without label correlations."""
    return adj_hat.abs().sum(dim=-1) - adj_hat.diagonal(dim1=-2, dim2=-1).abs()


def sparsity_loss(adj_hat: Tensor) -> Tensor:
    r"""Eq. 6, the sparse correlation constraint: :math:`L_A = \mathrm{mean}|\hat{A} - I|`.

    The mean (not the sum) over the ``C²`` entries, as the official code computes it, so α
    does not have to change with C.
    """
    eye = torch.eye(adj_hat.size(-1), dtype=adj_hat.dtype, device=adj_hat.device)
    return (adj_hat - eye).abs().mean()


def complete_edge_index(num_nodes: int, device: torch.device | None = None) -> Tensor:
    """All ``C²`` directed pairs, self-loops included, laid out for PyG.

    Edge ``k = i·C + j`` runs from source ``j`` to target ``i`` (``edge_index[:, k] = [j, i]``),
    so ``adj.reshape(-1)`` is its weight vector and PyG's source → target messages compute
    ``adj @ x``, not ``adj.T @ x``.
    """
    nodes = torch.arange(num_nodes, device=device)
    target = nodes.repeat_interleave(num_nodes)
    source = nodes.repeat(num_nodes)
    return torch.stack([source, target])


def cooccurrence_conditional(adj: np.ndarray, nums: np.ndarray) -> np.ndarray:
    """P(j | i) = adj[i, j] / nums[i] (float64); rows of labels that never occur are zero."""
    adj, nums = check_counts(adj, nums)
    missing = np.flatnonzero(nums == 0)
    if missing.size:
        warnings.warn(
            f"labels {missing.tolist()} never occur (nums = 0); their rows of P(j|i) are zero",
            stacklevel=2,
        )
    safe = np.where(nums == 0, 1.0, nums)
    return adj / safe[:, np.newaxis]


def mlgcn_correlation(
    adj: np.ndarray, nums: np.ndarray, t: float, p: float, reweight: bool
) -> np.ndarray:
    """ML-GCN's ``gen_A``: the static correlation matrix before normalisation (float64)."""
    corr = cooccurrence_conditional(adj, nums)
    corr[corr < t] = 0
    corr[corr >= t] = 1
    if reweight:
        corr = corr * p / (corr.sum(0, keepdims=True) + 1e-6)
    return corr + np.identity(corr.shape[0])


def mlgcn_normalize(corr: Tensor) -> Tensor:
    """ML-GCN's ``gen_adj``: ``(A D)ᵀ D`` with ``D = rowsum(A)^(-1/2)``; note the transpose."""
    deg = torch.diag(torch.pow(corr.sum(1).float(), -0.5))
    return torch.matmul(torch.matmul(corr, deg).t(), deg)


def label_derangement(num_labels: int, seed: int) -> np.ndarray:
    r"""A permutation :math:`\pi` of the ``C`` labels without a fixed point
    (:math:`\pi(i) \ne i` for every i), from ``numpy.random.default_rng(seed)``: permutations
    are drawn until one has none (about e draws on average), so the seed alone fixes it.

    Raises:
        ConfigError: fewer than 2 labels (no label has another label to take from).
    """
    if num_labels < 2:
        raise ConfigError(f"a label permutation needs at least 2 labels, got {num_labels}")
    rng = np.random.default_rng(seed)
    while True:
        perm = rng.permutation(num_labels)
        if not (perm == np.arange(num_labels)).any():
            return perm


def permuted_counts(
    adj: np.ndarray, nums: np.ndarray, perm: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    r"""Co-occurrence counts with the labels permuted, rows and columns together:
    :math:`\text{adj}'_{ij} = \text{adj}_{\pi(i)\pi(j)}`, :math:`\text{nums}'_i =
    \text{nums}_{\pi(i)}`. Label i gets label :math:`\pi(i)`'s counts, so ``gen_A`` of them is
    the permuted graph, :math:`A'_{ij} = A_{\pi(i)\pi(j)}`: the same degrees and sparsity,
    every neighbourhood given to another label."""
    adj, nums = check_counts(adj, nums)
    perm = np.asarray(perm)
    return adj[np.ix_(perm, perm)], nums[perm]


def uniform_counts(num_labels: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Counts under which every other label is equally likely: :math:`P(j \mid i) = 1` for
    every :math:`j \ne i` (``adj = 1 − I``, ``nums = 1``), so every off-diagonal entry passes
    any threshold ``t ≤ 1`` and ``gen_A`` re-weights them all alike: :math:`A_{ij} = p / (C −
    1 + 10^{-6})` off the diagonal, 1 on it (ML-GCN's self-weight, no structure)."""
    return np.ones((num_labels, num_labels)) - np.eye(num_labels), np.ones(num_labels)


def mlgcn_adjacency(
    adj: np.ndarray, nums: np.ndarray, t: float, p: float, reweight: bool
) -> Tensor:
    """ML-GCN's normalised static Â (float32, ``C × C``) from co-occurrence counts.

    Args:
        adj: ``C × C`` co-occurrence counts, zero diagonal.
        nums: ``C`` per-label image counts.
        t: binarisation threshold on P(j | i).
        p: re-weighting mass given to the neighbours (only with ``reweight``).
        reweight: ML-GCN's re-weighted graph; ``False`` gives the binary one.
    """
    corr = torch.from_numpy(mlgcn_correlation(adj, nums, t, p, reweight)).float()
    return mlgcn_normalize(corr)


def check_counts(
    adj: object, nums: object, where: str = "co-occurrence counts"
) -> tuple[np.ndarray, np.ndarray]:
    """Validate label statistics and return them as float64 ``(adj (C, C), nums (C,))``.

    The one rule for co-occurrence counts, wherever they come from (files, checkpoints,
    `mlgcn_adjacency`): ``adj`` is a square, numeric, finite, non-negative ``C × C`` matrix
    with a **zero diagonal** (ML-GCN's convention: ``adj[i, i]`` would be ``nums[i]``), and
    ``nums`` holds ``C`` numeric, finite, non-negative counts (a ``C × 1`` or ``1 × C`` array,
    as ML-GCN's pickles may store it, is read as ``(C,)``). Anything else raises `DataError`
    naming ``where`` and the field; nothing is repaired here. A data path that accepts raw
    counts with the label totals on the diagonal zeroes it first, explicitly
    (`agcn_pyg.data.cooccurrence.zero_diagonal`).
    """
    adj_arr = np.asarray(adj)
    nums_arr = np.asarray(nums)
    if nums_arr.ndim == 2 and 1 in nums_arr.shape:
        nums_arr = nums_arr.reshape(-1)
    if adj_arr.ndim != 2 or adj_arr.shape[0] != adj_arr.shape[1]:
        raise DataError(f"{where}: adj has shape {adj_arr.shape}, expected a square C×C matrix")
    c = adj_arr.shape[0]
    if nums_arr.shape != (c,):
        raise DataError(
            f"{where}: nums has shape {nums_arr.shape}, expected ({c},), i.e. expected {c} "
            "counts (one per label)"
        )
    for key, value in (("adj", adj_arr), ("nums", nums_arr)):
        if not np.issubdtype(value.dtype, np.number):
            raise DataError(f"{where}: {key} has non-numeric dtype {value.dtype}")
        if not np.isfinite(value).all():
            raise DataError(f"{where}: {key} has NaN or inf counts")
        if (value < 0).any():
            raise DataError(f"{where}: {key} has negative counts")
    if np.diagonal(adj_arr).any():
        raise DataError(
            f"{where}: adj has a non-zero diagonal; it must be zero (ML-GCN's convention)"
        )
    return adj_arr.astype(np.float64), nums_arr.astype(np.float64)
