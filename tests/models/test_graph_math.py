"""Eq. 4, Eq. 6, the PyG edge layout and ML-GCN's static graph, on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from agcn_pyg.errors import DataError, DegreeError
from agcn_pyg.graph import (
    GUARDS,
    complete_edge_index,
    mlgcn_adjacency,
    mlgcn_correlation,
    normalize_adjacency,
    plain_normalize,
    sparsity_loss,
)

# A learned A with a negative entry and an asymmetric pair (row i receives from column j).
A3 = torch.tensor([[0.0, 2.0, -1.0], [1.0, 0.0, 0.0], [0.0, 3.0, 0.0]], dtype=torch.float64)


def test_eq4_relu_guard_three_nodes() -> None:
    # Ã = relu(A) + I = [[1,2,0],[1,1,0],[0,3,1]]; row degrees d = (3, 2, 4);
    # Â_ij = Ã_ij / sqrt(d_i d_j).
    s6, s8 = math.sqrt(6), math.sqrt(8)
    expected = torch.tensor(
        [[1 / 3, 2 / s6, 0.0], [1 / s6, 1 / 2, 0.0], [0.0, 3 / s8, 1 / 4]], dtype=torch.float64
    )
    torch.testing.assert_close(normalize_adjacency(A3, "relu"), expected, rtol=0, atol=1e-12)


def test_eq4_signed_guard_keeps_negative_weights() -> None:
    # Ã = A + I = [[1,2,-1],[1,1,0],[0,3,1]]; absolute row degrees d = (4, 2, 4).
    s8 = math.sqrt(8)
    expected = torch.tensor(
        [[1 / 4, 2 / s8, -1 / 4], [1 / s8, 1 / 2, 0.0], [0.0, 3 / s8, 1 / 4]], dtype=torch.float64
    )
    torch.testing.assert_close(normalize_adjacency(A3, "signed"), expected, rtol=0, atol=1e-12)


def test_eq4_leaky_guard_passes_negative_entries_at_one_hundredth() -> None:
    # Ã = leaky(A) + I = [[1,2,-0.01],[1,1,0],[0,3,1]]; absolute row degrees (3.01, 2, 4).
    d = torch.tensor([3.01, 2.0, 4.0], dtype=torch.float64)
    tilde = torch.tensor([[1, 2, -0.01], [1, 1, 0], [0, 3, 1]], dtype=torch.float64)
    expected = tilde / torch.sqrt(d[:, None] * d[None, :])
    torch.testing.assert_close(normalize_adjacency(A3, "leaky"), expected, rtol=0, atol=1e-12)
    # Where relu passes no gradient to a negative entry, leaky passes 1/100 of it.
    for guard, alive in (("relu", False), ("leaky", True)):
        adj = torch.full((3, 3), -0.5, dtype=torch.float64, requires_grad=True)
        normalize_adjacency(adj, guard)[0, 1].backward()
        assert bool((adj.grad != 0).any()) is alive, guard


def test_eq4_degree_floor_prevents_nan() -> None:
    # Row 0 of A + I sums to -2: the plain Eq. 4 takes the square root of a negative degree.
    adj = torch.tensor([[0.0, -3.0], [0.0, 0.0]])
    plain_degree = (adj + torch.eye(2)).sum(1)
    assert torch.isnan(plain_degree.rsqrt()).any()
    for guard in GUARDS:
        assert torch.isfinite(normalize_adjacency(adj, guard)).all(), guard


@pytest.mark.parametrize("guard", GUARDS.names())
def test_guards_finite_over_many_random_matrices(guard: str) -> None:
    gen = torch.Generator().manual_seed(1)
    for scale in (1e-4, 1.0, 1e2, 1e4):
        adj = torch.randn(50, 12, 12, generator=gen) * scale
        out = torch.stack([normalize_adjacency(a, guard) for a in adj])
        assert torch.isfinite(out).all()


def test_sparsity_loss_is_mean_abs_difference_from_identity() -> None:
    adj_hat = torch.tensor([[0.5, 0.25], [-0.25, 1.0]])
    # |Â - I| = [[0.5, 0.25], [0.25, 0]] -> mean 0.25
    assert sparsity_loss(adj_hat).item() == pytest.approx(0.25)
    assert sparsity_loss(torch.eye(4)).item() == 0.0


def test_complete_edge_index_layout_computes_a_times_x() -> None:
    edge_index = complete_edge_index(3)
    assert edge_index.shape == (2, 9)
    # edge k = i*C + j runs from source j to target i
    assert edge_index[:, 5].tolist() == [2, 1]
    adj = torch.arange(9.0).reshape(3, 3)
    x = torch.randn(3, 4)
    weights = adj.reshape(-1)
    out = torch.zeros(3, 4).index_add_(0, edge_index[1], weights[:, None] * x[edge_index[0]])
    torch.testing.assert_close(out, adj @ x)


# ML-GCN static graph. Counts for 3 labels (zero diagonal), nums = images per label; gen_A's
# threshold and re-weighting mass as ML-GCN's COCO code calls it.
T, P = 0.4, 0.25
ADJ = np.array([[0, 2, 1], [2, 0, 0], [1, 0, 0]], dtype=np.float64)
NUMS = np.array([4, 2, 2], dtype=np.float64)
# P = adj / nums by row = [[0, .5, .25], [1, 0, 0], [.5, 0, 0]]
# binarised at t = 0.4  -> B = [[0, 1, 0], [1, 0, 0], [1, 0, 0]], column sums (2, 1, 0)


def test_mlgcn_reweighted_by_hand() -> None:
    c0 = 0.25 / (2 + 1e-6)  # column 0 re-weighted: p / (colsum + 1e-6)
    c1 = 0.25 / (1 + 1e-6)
    corr = np.array([[1, c1, 0], [c0, 1, 0], [c0, 0, 1]])  # + I
    np.testing.assert_allclose(mlgcn_correlation(ADJ, NUMS, T, P, True), corr, rtol=0, atol=1e-15)
    d = 1 / np.sqrt(corr.sum(1))  # degrees from row sums
    # gen_adj returns (A D)^T D, so entry [i, j] is A[j, i] d_i d_j.
    expected = np.array([[corr[j, i] * d[i] * d[j] for j in range(3)] for i in range(3)])
    # worked out: 0.8, 0.888..., 0.105409 and 0.210819 off the diagonal
    assert expected[0, 0] == pytest.approx(1 / (1 + c1))
    assert expected[0, 1] == pytest.approx(0.105409, abs=1e-6)
    assert expected[1, 0] == pytest.approx(0.210819, abs=1e-6)
    out = mlgcn_adjacency(ADJ, NUMS, t=T, p=P, reweight=True)
    assert out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=1e-6)


def test_mlgcn_binary_by_hand() -> None:
    # A = B + I = [[1,1,0],[1,1,0],[1,0,1]], every row sums to 2, so Â[i, j] = A[j, i] / 2.
    expected = np.array([[0.5, 0.5, 0.5], [0.5, 0.5, 0.0], [0.0, 0.0, 0.5]])
    out = mlgcn_adjacency(ADJ, NUMS, t=T, p=P, reweight=False)
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=1e-7)


def test_mlgcn_bit_exact_with_reference_operation_order() -> None:
    # ML-GCN's gen_A runs in float64 numpy, gen_adj in float32 torch; replaying that order on
    # random counts must give identical bits.
    rng = np.random.default_rng(0)
    labels = rng.random((500, 12)) < 0.3
    adj = (labels.T.astype(np.float64) @ labels).astype(np.float64)
    nums = np.diagonal(adj).copy()
    np.fill_diagonal(adj, 0)
    ref = adj / nums[:, np.newaxis]
    ref[ref < 0.4] = 0
    ref[ref >= 0.4] = 1
    ref = ref * 0.25 / (ref.sum(0, keepdims=True) + 1e-6)
    ref = ref + np.identity(12, np.int64)
    a = torch.from_numpy(ref).float()
    d = torch.diag(torch.pow(a.sum(1).float(), -0.5))
    expected = torch.matmul(torch.matmul(a, d).t(), d)
    assert torch.equal(mlgcn_adjacency(adj, nums, T, P, True), expected)


def test_mlgcn_zero_count_label_gives_zero_row_not_nan() -> None:
    adj = np.zeros((3, 3))
    adj[0, 1] = adj[1, 0] = 1
    nums = np.array([1.0, 1.0, 0.0])
    with pytest.warns(UserWarning, match=r"\[2\]"):
        out = mlgcn_adjacency(adj, nums, T, P, True)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(
    ("adj", "nums", "match"),
    [
        (np.ones((2, 3)), np.ones(2), "square"),
        (np.zeros((3, 3)), np.ones(2), "expected 3 counts"),
        (np.eye(3), np.ones(3), "diagonal"),
        (-np.ones((2, 2)) + np.eye(2), np.ones(2), "negative"),
    ],
)
def test_mlgcn_rejects_bad_counts(adj: np.ndarray, nums: np.ndarray, match: str) -> None:
    with pytest.raises(DataError, match=match):
        mlgcn_adjacency(adj, nums, T, P, True)


def test_plain_eq4_three_nodes_by_hand() -> None:
    # guard 'none' (the official A-GCN code): Ã = A + I = [[1,2,-1],[1,1,0],[0,3,1]] and the
    # *signed* row sums d = (2, 2, 4); Â_ij = Ã_ij / sqrt(d_i d_j).
    s8 = math.sqrt(8)
    expected = torch.tensor(
        [[1 / 2, 2 / 2, -1 / s8], [1 / 2, 1 / 2, 0.0], [0.0, 3 / s8, 1 / 4]], dtype=torch.float64
    )
    torch.testing.assert_close(normalize_adjacency(A3, "none"), expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(plain_normalize(A3), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("adj", "row", "degree"),
    [
        ([[0.0, -3.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]], 0, -2.0),
        ([[0.0, 0.0, 0.0], [-0.5, 0.0, -0.5], [0.0, 0.0, 0.0]], 1, 0.0),
        ([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, float("nan"), 0.0]], 2, math.nan),
    ],
)
def test_plain_eq4_stops_on_a_non_positive_degree(adj: list, row: int, degree: float) -> None:
    with pytest.raises(DegreeError) as info:
        normalize_adjacency(torch.tensor(adj), "none")
    err = info.value
    assert err.row == row and (err.degree == degree or math.isnan(degree))
    assert f"label {row} has degree" in str(err) and "guard=relu" in str(err)
    named = err.with_label(["cat", "dog", "bird"])
    assert f"label {row} ({['cat', 'dog', 'bird'][row]!r})" in str(named)
    assert len(str(named).splitlines()) == 1
