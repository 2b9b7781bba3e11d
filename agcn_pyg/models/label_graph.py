r"""Label-graph (LG) modules: label embeddings E (``C × d_e``) → correlation A (``C × C``).

The paper writes E as ``d_e × C`` (channels × label positions, the convolution layout), so a
1×1 convolution over the C positions is a linear map applied to each label's embedding
``e_i`` (stored here as ``nn.Linear``). In that reading, with ``[i, j]`` the weight label j
sends to label i:

============  ==================================================  ===========================
name          A[i, j]                                             paper
============  ==================================================  ===========================
``conv``      :math:`\langle W_\phi e_i, W_\theta e_j\rangle / C`   Eq. 5, the A-GCN default
``dot``       :math:`\langle W_\phi e_i, W_\phi e_j\rangle / C`     Eq. 9, Dot-A
``fc``        :math:`w_i^\top e_j`, :math:`W_l = [w_1 … w_C]`       Eq. 8, FC-A
``cos``       :math:`\cos(e_i, e_j)`                                Eq. 7, Cos-A
``static``    ML-GCN's ``gen_A`` from co-occurrence counts          ML-GCN (binary/re-weighted)
``shuffled``  ``gen_A`` of the counts, labels permuted              control: wrong correlations
``uniform``   ``gen_A`` with every other label equally likely       control: mixing, no structure
``identity``  0, so Â = I                                           ablation
============  ==================================================  ===========================

The two controls isolate what ML-GCN's graph adds (`agcn_pyg.graph.permuted_counts`,
`agcn_pyg.graph.uniform_counts`): ``shuffled`` is ML-GCN's graph with every label given another
label's neighbourhood (a permutation without fixed points from ``model.graph_seed``, kept in the
``permutation`` buffer), so :math:`A'_{ij} = A_{\pi(i)\pi(j)}` and
:math:`\hat{A}'_{ij} = \hat{A}_{\pi(i)\pi(j)}`: the same degrees and sparsity, the wrong
semantics. ``uniform`` is ML-GCN's re-weighting (``p``, ``t``, ``reweight``) applied to a graph
where every other label passes the threshold, so every label keeps ML-GCN's self-weight and
gives the same weight to every other label: mixing without structure. Both normalise with
``gen_adj``, transpose included.

For FC-A, :math:`A = W_l^\top E` with :math:`W_l \in R^{d_e \times C}`: column j of A is
:math:`W_l^\top e_j`, one linear layer ``d_e → C`` applied to label j's embedding. The 1×1
convolutions carry no bias by default (Eq. 5 has none); ``lg_bias=True`` adds one to each, as
the official A-GCN code's ``Conv1d`` layers have. Its correlation is
:math:`A_{ij} = \langle \theta(e_i), \phi(e_j)\rangle / C` in its own names, so its ``theta``
is our ``phi`` and its ``phi`` our ``theta`` (`agcn_pyg.models.official`). Every module
returns ``(A, Â)``; the learned ones normalise with Eq. 4
(`agcn_pyg.graph.normalize_adjacency`), ``static`` with ML-GCN's own ``gen_adj``. ``none``
(the baseline) has no label graph and is handled by the model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from agcn_pyg.errors import ConfigError
from agcn_pyg.graph import (
    label_derangement,
    mlgcn_correlation,
    mlgcn_normalize,
    normalize_adjacency,
    permuted_counts,
    uniform_counts,
)
from agcn_pyg.registry import Registry

Cooccurrence = tuple[np.ndarray, np.ndarray]

#: the ``graph`` name of the baseline: a linear classifier, no label graph
BASELINE = "none"


class GraphSettings(Protocol):
    """The label-graph fields of a model config, which `LabelGraph.build` reads (each graph the
    ones it takes); `agcn_pyg.models.AGCNConfig` has them, with their defaults and docs.

    Attributes:
        guard: Eq. 4's guard (`agcn_pyg.graph.GUARDS`).
        lg_dim, lg_bias: width and bias of the 1×1 convolutions (``conv``, ``dot``).
        t, p, reweight: ML-GCN's binarisation, re-weighting and its switch (``static``,
            ``shuffled``, ``uniform``).
        graph_seed: the label permutation of ``shuffled``.
    """

    guard: str
    lg_dim: int | None
    lg_bias: bool
    t: float
    p: float
    reweight: bool
    graph_seed: int


class LabelGraph(nn.Module, ABC):
    """Maps label embeddings ``E`` (``C × d_e``) to ``(A, Â)``, both ``C × C``."""

    #: whether the module has parameters the loss can train
    learnable: ClassVar[bool] = True
    #: whether it is built on 1×1 convolutions, so that ``lg_dim`` and ``lg_bias`` apply
    projected: ClassVar[bool] = False
    #: how figures name its A (`agcn_pyg.analysis.plot_adjacency`)
    title: ClassVar[str] = "learned A"
    #: whether Â is ML-GCN's ``gen_adj`` of A rather than Eq. 4
    gen_adj: ClassVar[bool] = False

    def __init__(self, guard: str) -> None:
        super().__init__()
        self.guard = guard

    @classmethod
    def build(
        cls,
        embed_dim: int,
        num_classes: int,
        cooccurrence: Cooccurrence | None,
        settings: GraphSettings,
    ) -> LabelGraph:
        """The module for a model's settings; each subclass reads the ones it needs.

        Args:
            embed_dim: d_e.
            num_classes: C.
            cooccurrence: ``(adj, nums)`` counts (``static`` only).
            settings: the model's label-graph fields (its `AGCNConfig`).
        """
        return cls(guard=settings.guard)

    @abstractmethod
    def correlation(self, embeddings: Tensor) -> Tensor:
        """A, ``C × C``."""

    def forward(self, embeddings: Tensor) -> tuple[Tensor, Tensor]:
        adj = self.correlation(embeddings)
        return adj, normalize_adjacency(adj, self.guard)

    def extra_repr(self) -> str:
        return f"guard={self.guard!r}"


LABEL_GRAPHS: Registry[type[LabelGraph]] = Registry("label graph")


class _ProjectedGraph(LabelGraph):
    """A label graph built on 1×1 convolutions ``d_e → lg_dim`` (``lg_dim`` defaults to d_e)."""

    projected = True

    @classmethod
    def build(
        cls,
        embed_dim: int,
        num_classes: int,
        cooccurrence: Cooccurrence | None,
        settings: GraphSettings,
    ) -> LabelGraph:
        return cls(embed_dim, settings.lg_dim, settings.guard, settings.lg_bias)


@LABEL_GRAPHS.register("conv")
class ConvGraph(_ProjectedGraph):
    r"""Eq. 5: :math:`A = \frac{1}{C}(W_\phi * E)^\top (W_\theta * E)`."""

    title = "learned A (LG module, Eq. 5)"

    def __init__(self, embed_dim: int, lg_dim: int | None, guard: str, bias: bool) -> None:
        super().__init__(guard)
        out = lg_dim or embed_dim
        self.phi = nn.Linear(embed_dim, out, bias=bias)
        self.theta = nn.Linear(embed_dim, out, bias=bias)

    def correlation(self, embeddings: Tensor) -> Tensor:
        return self.phi(embeddings) @ self.theta(embeddings).t() / embeddings.size(0)


@LABEL_GRAPHS.register("dot")
class DotGraph(_ProjectedGraph):
    r"""Eq. 9, Dot-A: :math:`A = \frac{1}{C}(W_\phi * E)^\top (W_\phi * E)`, symmetric."""

    title = "learned A (Dot-A, Eq. 9)"

    def __init__(self, embed_dim: int, lg_dim: int | None, guard: str, bias: bool) -> None:
        super().__init__(guard)
        self.phi = nn.Linear(embed_dim, lg_dim or embed_dim, bias=bias)

    def correlation(self, embeddings: Tensor) -> Tensor:
        feat = self.phi(embeddings)
        return feat @ feat.t() / embeddings.size(0)


@LABEL_GRAPHS.register("fc")
class FCGraph(LabelGraph):
    r"""Eq. 8, FC-A: :math:`A = W_l^\top E`, :math:`W_l \in R^{d_e \times C}`."""

    title = "learned A (FC-A, Eq. 8)"

    def __init__(self, embed_dim: int, num_classes: int, guard: str) -> None:
        super().__init__(guard)
        self.fc = nn.Linear(embed_dim, num_classes, bias=False)

    @classmethod
    def build(
        cls,
        embed_dim: int,
        num_classes: int,
        cooccurrence: Cooccurrence | None,
        settings: GraphSettings,
    ) -> LabelGraph:
        return cls(embed_dim, num_classes, settings.guard)

    def correlation(self, embeddings: Tensor) -> Tensor:
        # Row j of fc(E) is W_l^T e_j, which is column j of A.
        return self.fc(embeddings).t()


@LABEL_GRAPHS.register("cos")
class CosGraph(LabelGraph):
    """Eq. 7, Cos-A: pairwise cosine similarity of the embeddings; no parameters."""

    learnable = False
    title = "A = cos(E_i, E_j) (Cos-A, Eq. 7)"

    def correlation(self, embeddings: Tensor) -> Tensor:
        unit = F.normalize(embeddings, dim=-1)
        return unit @ unit.t()


@LABEL_GRAPHS.register("identity")
class IdentityGraph(LabelGraph):
    """No correlations: A = 0, so Eq. 4 gives Â = I and the GCN is a per-label MLP."""

    learnable = False
    title = "A = 0 (identity graph)"

    def correlation(self, embeddings: Tensor) -> Tensor:
        num_nodes = embeddings.size(0)
        return embeddings.new_zeros(num_nodes, num_nodes)


@LABEL_GRAPHS.register("static")
class StaticGraph(LabelGraph):
    """ML-GCN's fixed graph from co-occurrence counts, binary or re-weighted.

    A is ``gen_A``'s output and Â is ``gen_adj(A)``; both are buffers computed once. See
    `agcn_pyg.graph` for the reference quirks this reproduces. The constructor takes a ready
    ``gen_A`` output (``C × C``, self-loops included), such as the ``A`` that ML-GCN's
    checkpoints store; `from_counts` computes it from co-occurrence counts.
    """

    learnable = False
    title = "static A (ML-GCN co-occurrence)"
    gen_adj = True

    def __init__(self, corr: Tensor | np.ndarray, t: float, p: float, reweight: bool) -> None:
        super().__init__(guard="static")
        matrix = torch.as_tensor(corr).detach().float().clone()
        if matrix.dim() != 2 or matrix.size(0) != matrix.size(1):
            raise ConfigError(f"static correlation: expected C × C, got {tuple(matrix.shape)}")
        if not torch.isfinite(matrix).all() or (matrix.sum(1) <= 0).any():
            raise ConfigError("static correlation: needs finite values and positive row sums")
        self.register_buffer("adj", matrix)
        self.register_buffer("adj_hat", mlgcn_normalize(matrix))
        self.t, self.p, self.reweight = t, p, reweight

    @classmethod
    def from_counts(
        cls, cooccurrence: Cooccurrence, t: float, p: float, reweight: bool
    ) -> StaticGraph:
        """``gen_A`` on ``(adj, nums)`` co-occurrence counts, then ``gen_adj``."""
        adj, nums = cooccurrence
        return cls(mlgcn_correlation(adj, nums, t, p, reweight), t, p, reweight)

    @classmethod
    def build(
        cls,
        embed_dim: int,
        num_classes: int,
        cooccurrence: Cooccurrence | None,
        settings: GraphSettings,
    ) -> LabelGraph:
        counts = _counts(cooccurrence, num_classes, "static")
        return cls.from_counts(counts, settings.t, settings.p, settings.reweight)

    def correlation(self, embeddings: Tensor) -> Tensor:
        return self.adj

    def forward(self, embeddings: Tensor) -> tuple[Tensor, Tensor]:
        return self.adj, self.adj_hat

    def extra_repr(self) -> str:
        kind = f"re-weighted, p={self.p}" if self.reweight else "binary"
        return f"t={self.t}, {kind}"


@LABEL_GRAPHS.register("shuffled")
class ShuffledGraph(StaticGraph):
    r"""Control: ML-GCN's graph from the co-occurrence counts with the labels permuted (rows
    and columns together, before ``gen_A``): :math:`A'_{ij} = A_{\pi(i)\pi(j)}` for a
    permutation :math:`\pi` without fixed points drawn from ``graph_seed``
    (`agcn_pyg.graph.label_derangement`), stored as the ``permutation`` buffer."""

    title = "static A, labels shuffled (control)"
    #: the seed `build` drew the permutation from (``model.graph_seed``)
    graph_seed: int = 0

    @classmethod
    def build(
        cls,
        embed_dim: int,
        num_classes: int,
        cooccurrence: Cooccurrence | None,
        settings: GraphSettings,
    ) -> LabelGraph:
        adj, nums = _counts(cooccurrence, num_classes, "shuffled")
        perm = label_derangement(num_classes, settings.graph_seed)
        graph = cls.from_counts(
            permuted_counts(adj, nums, perm), settings.t, settings.p, settings.reweight
        )
        graph.register_buffer("permutation", torch.as_tensor(perm, dtype=torch.long))
        graph.graph_seed = settings.graph_seed
        return graph

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, labels permuted (graph_seed={self.graph_seed})"


@LABEL_GRAPHS.register("uniform")
class UniformGraph(StaticGraph):
    r"""Control: ML-GCN's re-weighting (``t``, ``p``, ``reweight``) applied to a graph in which
    every other label is equally likely (`agcn_pyg.graph.uniform_counts`): off the diagonal
    every entry of A is :math:`p / (C - 1 + 10^{-6})`, on it 1. Needs no counts."""

    title = "uniform A: every other label alike (control)"

    @classmethod
    def build(
        cls,
        embed_dim: int,
        num_classes: int,
        cooccurrence: Cooccurrence | None,
        settings: GraphSettings,
    ) -> LabelGraph:
        if num_classes < 2:
            raise ConfigError("graph 'uniform' needs at least 2 labels")
        counts = uniform_counts(num_classes)
        return cls.from_counts(counts, settings.t, settings.p, settings.reweight)


def _counts(cooccurrence: Cooccurrence | None, num_classes: int, graph: str) -> Cooccurrence:
    """The co-occurrence counts a static graph is built from, checked against ``C``."""
    if cooccurrence is None:
        raise ConfigError(
            f"graph {graph!r} needs co-occurrence counts: pass cooccurrence=(adj, nums) "
            "(see `agcn prepare`)"
        )
    if len(cooccurrence[1]) != num_classes:
        raise ConfigError(
            f"cooccurrence: counts for {len(cooccurrence[1])} labels, "
            f"model.num_classes is {num_classes}"
        )
    return cooccurrence


def list_graphs() -> list[str]:
    """Names accepted by ``create_model(graph=...)``, the baseline ``'none'`` included."""
    return sorted([*LABEL_GRAPHS.names(), BASELINE])


def projected_graphs() -> list[str]:
    """Names of the graphs built on 1×1 convolutions, which ``lg_dim`` and ``lg_bias`` shape."""
    return [name for name in LABEL_GRAPHS.names() if LABEL_GRAPHS.get(name).projected]
