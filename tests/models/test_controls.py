"""The two controls of ML-GCN's graph: ``shuffled`` (its counts, labels permuted) and
``uniform`` (its re-weighting, no structure), on hand-computed cases and dense formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from agcn_pyg.errors import ConfigError
from agcn_pyg.graph import (
    label_derangement,
    mlgcn_correlation,
    permuted_counts,
    uniform_counts,
)
from agcn_pyg.models import create_model
from agcn_pyg.models.label_graph import LABEL_GRAPHS
from agcn_pyg.variants import get_variant, table1_variants

# Three labels: 0 co-occurs with 1 (3 images) and 2 (1 image); 4, 5 and 2 images each.
ADJ = np.array([[0.0, 3.0, 1.0], [3.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
NUMS = np.array([4.0, 5.0, 2.0])
T, P = 0.4, 0.25


def _model(graph: str, c: int = 3, counts=(ADJ, NUMS), **options):
    return create_model(
        "test_resnet",
        c,
        label_embeddings=torch.eye(c),
        graph=graph,
        hidden_dim=8,
        cooccurrence=counts,
        t=T,
        p=P,
        **options,
    )


def _gen_adj(corr: np.ndarray) -> np.ndarray:
    """ML-GCN's gen_adj restated: D Aᵀ D with D = rowsum(A)^(-1/2), A transposed."""
    d = corr.sum(1) ** -0.5
    return d[:, None] * corr.T * d[None, :]


def test_permuted_counts_by_hand() -> None:
    # π = (1, 2, 0): label 0 takes label 1's counts, 1 takes 2's, 2 takes 0's.
    adj, nums = permuted_counts(ADJ, NUMS, np.array([1, 2, 0]))
    np.testing.assert_array_equal(adj, [[0, 0, 3], [0, 0, 1], [3, 1, 0]])
    np.testing.assert_array_equal(nums, [5, 2, 4])
    # P(j|i): rows (0, 0, .6), (0, 0, .5), (.75, .25, 0); over t = 0.4: (0,2), (1,2), (2,0);
    # column sums 1, 0, 2, so the re-weighted entries are p / (2 + 1e-6) and p / (1 + 1e-6).
    half, whole = P / (2 + 1e-6), P / (1 + 1e-6)
    expected = np.array([[1, 0, half], [0, 1, half], [whole, 0, 1]])
    corr = mlgcn_correlation(adj, nums, T, P, True)
    np.testing.assert_allclose(corr, expected, rtol=0, atol=1e-12)
    # the permuted graph of ML-GCN's own: A'_ij = A_π(i)π(j)
    static = mlgcn_correlation(ADJ, NUMS, T, P, True)
    np.testing.assert_allclose(corr, static[np.ix_([1, 2, 0], [1, 2, 0])], rtol=0, atol=1e-12)


def test_label_derangement_has_no_fixed_point_and_follows_its_seed() -> None:
    for c in (2, 3, 10, 80):
        for seed in range(5):
            perm = label_derangement(c, seed)
            assert sorted(perm.tolist()) == list(range(c))
            assert (perm != np.arange(c)).all()
            assert np.array_equal(perm, label_derangement(c, seed))
    assert label_derangement(2, 7).tolist() == [1, 0]  # the only one
    assert not np.array_equal(label_derangement(80, 0), label_derangement(80, 1))
    with pytest.raises(ConfigError, match="at least 2 labels"):
        label_derangement(1, 0)


@pytest.mark.parametrize("reweight", [True, False])
def test_shuffled_graph_is_the_permuted_static_graph(reweight: bool) -> None:
    static = _model("static", reweight=reweight).head.label_graph
    shuffled = _model("shuffled", reweight=reweight, graph_seed=3).head.label_graph
    perm = shuffled.permutation.numpy()
    assert (perm != np.arange(3)).all()
    assert np.array_equal(perm, label_derangement(3, 3))
    index = np.ix_(perm, perm)
    np.testing.assert_allclose(shuffled.adj.numpy(), static.adj.numpy()[index], atol=1e-7)
    np.testing.assert_allclose(shuffled.adj_hat.numpy(), static.adj_hat.numpy()[index], atol=1e-6)
    # the same degrees (as a multiset) and sparsity, other labels
    assert sorted(shuffled.adj.sum(0).tolist()) == pytest.approx(sorted(static.adj.sum(0).tolist()))
    assert int((shuffled.adj > 0).sum()) == int((static.adj > 0).sum())
    assert not torch.equal(shuffled.adj, static.adj)
    # Â is ML-GCN's gen_adj of A', transpose included (A' is not symmetric here)
    corr = shuffled.adj.double().numpy()
    np.testing.assert_allclose(shuffled.adj_hat.numpy(), _gen_adj(corr), atol=1e-6)
    if reweight:
        d = corr.sum(1) ** -0.5
        assert not np.allclose(shuffled.adj_hat.numpy(), d[:, None] * corr * d[None, :])


def test_shuffled_graph_by_hand_for_its_seed() -> None:
    graph = _model("shuffled", graph_seed=0).head.label_graph
    perm = graph.permutation.tolist()
    assert perm == label_derangement(3, 0).tolist()
    static = mlgcn_correlation(ADJ, NUMS, T, P, True)
    # A'[i, j] = A[π(i), π(j)], entry by entry
    for i in range(3):
        for j in range(3):
            assert graph.adj[i, j].item() == pytest.approx(static[perm[i], perm[j]], abs=1e-7)
    assert "graph_seed=0" in repr(graph)


def test_uniform_graph_by_hand() -> None:
    # C = 4: every off-diagonal P(j|i) = 1 ≥ t, column sums 3: A_ij = p / (3 + 1e-6), A_ii = 1;
    # row sums 1 + 3a, so Â_ii = 1 / (1 + 3a) and Â_ij = a / (1 + 3a).
    graph = _model("uniform", c=4, counts=None).head.label_graph
    a = P / (3 + 1e-6)
    expected_a = np.full((4, 4), a) + (1 - a) * np.eye(4)
    np.testing.assert_allclose(graph.adj.numpy(), expected_a, atol=1e-7)
    expected_hat = expected_a / (1 + 3 * a)
    np.testing.assert_allclose(graph.adj_hat.numpy(), expected_hat, atol=1e-7)
    assert graph.adj_hat[0, 0].item() == pytest.approx(0.8, abs=1e-6)  # 1 / 1.25
    assert graph.adj_hat[0, 1].item() == pytest.approx(1 / 15, abs=1e-6)  # (1/12) / 1.25
    np.testing.assert_allclose(graph.adj_hat.numpy(), _gen_adj(expected_a), atol=1e-7)
    # ML-GCN's self-weight: the diagonal of its A
    static = _model("static").head.label_graph
    assert torch.equal(static.adj.diagonal(), torch.ones(3))
    assert torch.equal(graph.adj.diagonal(), torch.ones(4))
    # binary: every entry 1, so Â = J / C
    binary = _model("uniform", c=4, counts=None, reweight=False).head.label_graph
    np.testing.assert_allclose(binary.adj_hat.numpy(), np.full((4, 4), 0.25), atol=1e-7)
    adj, nums = uniform_counts(4)
    assert np.array_equal(adj, 1 - np.eye(4)) and np.array_equal(nums, np.ones(4))


def test_controls_are_registered_table1_variants_with_mlgcns_clipping() -> None:
    for name in ("shuffled", "uniform"):
        variant = get_variant(name)
        assert variant.table1 and variant.model["graph"] == name
        assert variant.model["reweight"] is True and variant.model["alpha"] == 0.0
        assert variant.train["clip_grad_norm"] == get_variant("mlgcn").train["clip_grad_norm"]
        assert LABEL_GRAPHS.get(name).title and LABEL_GRAPHS.get(name).gen_adj
        assert not LABEL_GRAPHS.get(name).learnable
    rows = [v.name for v in table1_variants()]
    assert rows.index("identity") + 1 == rows.index("shuffled")
    assert rows.index("shuffled") + 1 == rows.index("uniform")
    with pytest.raises(ConfigError, match="needs co-occurrence counts"):
        _model("shuffled", counts=None)
    with pytest.raises(ConfigError, match="at least 2 labels"):
        _model("uniform", c=1, counts=None)


def test_shuffled_graph_differs_with_its_seed_and_its_seed_is_in_the_config() -> None:
    rng = np.random.default_rng(0)
    labels = (rng.random((300, 8)) < 0.35).astype(np.float64)
    adj = labels.T @ labels
    nums = np.diagonal(adj).copy()
    np.fill_diagonal(adj, 0)
    one = _model("shuffled", c=8, counts=(adj, nums), graph_seed=0)
    two = _model("shuffled", c=8, counts=(adj, nums), graph_seed=1)
    assert one.cfg.graph_seed == 0 and two.cfg.graph_seed == 1
    assert not torch.equal(one.head.label_graph.permutation, two.head.label_graph.permutation)
    assert "head.label_graph.permutation" in one.state_dict()
    assert math.isclose(
        float(one.head.label_graph.adj.sum()), float(two.head.label_graph.adj.sum())
    )
