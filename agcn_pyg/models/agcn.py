r"""A-GCN (Li et al.) as the paper describes it, built from the `AGCNConfig` beside it.

.. math::
    x = \mathrm{pool}(f_{CNN}(I)) \in R^{D},\quad
    (A, \hat{A}) = \mathrm{LG}(E)\ \text{(Eq. 5, normalised by Eq. 4)},\quad
    \bar{W} = \mathrm{GNN}(E, \hat{A}) \in R^{C \times D},\quad
    \text{logits} = \bar{W} x \;\; \text{(Eq. 1)}

The loss is BCE (Eq. 2) plus :math:`\alpha L_A`, :math:`L_A = \mathrm{mean}|\hat{A} - I|`
(Eq. 6): ``model(images, return_graph_loss=True)`` returns :math:`L_A` and the trainer weighs
it. ``graph='none'`` is the baseline, a linear classifier. The parts: `Backbone`, the LG
modules (`label_graph`), Eq. 4 and 6 (`agcn_pyg.graph`), the GNN layers (`gnn`). Inference
reuses :math:`\bar{W}`, which does not depend on the image (`GraphHead.cached_classifier`).
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, NamedTuple, overload

import numpy as np
import timm
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from agcn_pyg.errors import ConfigError
from agcn_pyg.graph import complete_edge_index, list_guards, sparsity_loss
from agcn_pyg.models.backbone import BACKBONE_KWARGS_RULES, BACKBONE_RULES, POOLS, Backbone
from agcn_pyg.models.embeddings import EMBEDDING_NORMS, check_embeddings, condition_embeddings
from agcn_pyg.models.gnn import GNN_INITS, GNN_LAYERS, LabelGNN
from agcn_pyg.models.label_graph import (
    BASELINE,
    LABEL_GRAPHS,
    Cooccurrence,
    LabelGraph,
    list_graphs,
    projected_graphs,
)
from agcn_pyg.schema import (
    BOOL,
    FINITE,
    NON_NEGATIVE,
    SEED,
    Rule,
    Section,
    int_at_least,
    one_of,
    optional,
    setting,
)

_UNIT = Rule(lambda v: FINITE.ok(v) and 0 < v <= 1, "a number in (0, 1]")


@dataclass
class AGCNConfig(Section):
    """Everything needed to rebuild a model; stored in every checkpoint as ``model_config``.

    Each field is declared once, here, with its default, its rules (`agcn_pyg.schema`) and its
    docstring; a config that exists has met them.
    """

    section: ClassVar[str] = "model."

    backbone: str = setting("resnet101", *BACKBONE_RULES)
    """Any timm model name."""
    num_classes: int | None = setting(
        None, optional(int_at_least(1), "null (the data's number of labels) or an int ≥ 1")
    )
    """C, the number of labels; ``None`` until it is known: training sets it from the data
    (a run's ``config.yaml`` and checkpoints hold the number), and a model needs it."""
    graph: str = setting("conv", one_of(list_graphs))
    """Label-graph module (`list_graphs`); ``"none"`` is the baseline."""
    gnn: str = setting("gcn", one_of(GNN_LAYERS.names))
    """GNN layer over the label graph (`agcn_pyg.list_gnns`)."""
    pretrained: bool | str = setting(
        False, Rule(lambda v: isinstance(v, bool | str), "true, false or a path")
    )
    """``False``, ``True`` (timm hub) or a path to a local weights file."""
    pool: str = setting("max", one_of(POOLS))
    """Global pooling of the backbone's features (timm's ``global_pool``): ``max`` (ML-GCN's
    GMP), ``avg``, ``avgmax``."""
    guard: str = setting("relu", one_of(list_guards))
    """How a learned, possibly negative A enters Eq. 4 (`agcn_pyg.graph.GUARDS`); ``none`` is
    plain Eq. 4 as the official A-GCN code computes it."""
    alpha: float = setting(1.0, NON_NEGATIVE)
    """Weight of the sparse correlation constraint L_A (Eq. 6)."""
    num_layers: int = setting(2, int_at_least(1))
    """GNN depth; ML-GCN uses 2 (d_e → hidden_dim → D)."""
    hidden_dim: int = setting(1024, int_at_least(1))
    """Width of every hidden GNN layer."""
    negative_slope: float = setting(0.2, FINITE)
    """LeakyReLU slope between GNN layers (ML-GCN: 0.2)."""
    gnn_bias: bool = setting(False, BOOL)
    """Whether GNN layers carry a bias (ML-GCN's layers do not)."""
    heads: int = setting(1, int_at_least(1))
    """Attention heads of attention layers (averaged, so widths are unchanged)."""
    lg_dim: int | None = setting(None, optional(int_at_least(1)))
    """Output channels of the LG module's 1×1 convolutions; ``None`` keeps d_e (the official
    A-GCN code uses d_e // 2)."""
    lg_bias: bool = setting(
        False,
        BOOL,
        Rule(
            lambda v, m: not v or m.graph in projected_graphs(),
            lambda m: (
                f"false for graph {m.graph!r} (only {projected_graphs()} have 1×1 convolutions)"
            ),
            relational=True,
        ),
    )
    """Biases on the LG module's 1×1 convolutions (``conv``, ``dot``); Eq. 5 has none, the
    official A-GCN code has them."""
    gnn_init: str = setting("pyg", one_of(GNN_INITS.names))
    """Initialisation of the GNN layers' weights: ``pyg`` (each PyG layer's own, glorot for
    GCN) or ``mlgcn`` (ML-GCN's and A-GCN's ``U(±1/sqrt(out_features))``)."""
    embedding_norm: str = setting(
        "none",
        one_of(EMBEDDING_NORMS.names),
        Rule(
            lambda v, m: v == "none" or m.num_classes is None or m.num_classes >= 2,
            lambda m: "'none' for a single label",
            relational=True,
        ),
    )
    """How the head conditions E (`EMBEDDING_NORMS`): ``none`` (as given: the paper, ML-GCN),
    ``center`` (subtract the mean label embedding) or ``whiten`` (`whiten`: every pair of
    labels at cosine 0, so the GCN starts with unrelated classifiers). Both are idempotent,
    so a checkpoint's stored rows come back unchanged."""
    classifier_bias: bool = setting(False, BOOL)
    r"""A learned per-label bias on the graph heads' logits, :math:`\bar{W} x + b` (``b``
    starts at 0); Eq. 1, ML-GCN and A-GCN have none, the baseline's classifier always has one."""
    t: float = setting(0.4, _UNIT)
    """ML-GCN's binarisation threshold for the static graph."""
    p: float = setting(0.25, _UNIT)
    """ML-GCN's re-weighting mass for the static graph."""
    reweight: bool = setting(True, BOOL)
    """Re-weighted (``True``) or binary (``False``) static graph."""
    graph_seed: int = setting(0, SEED)
    """The seed of the label permutation of graph ``shuffled`` (the control with ML-GCN's
    graph on the wrong labels, `agcn_pyg.graph.label_derangement`); other graphs ignore it."""
    backbone_kwargs: dict[str, Any] = setting(None, *BACKBONE_KWARGS_RULES, factory=dict)
    """Extra keyword arguments for ``timm.create_model`` (`agcn_pyg.models.backbone`)."""


class AGCNOutput(NamedTuple):
    """What a head returns, and the model with ``return_graph_loss=True``.

    Attributes:
        logits: ``B × C``, float32.
        graph_loss: L_A (Eq. 6) of this pass's Â, a scalar, unweighted (the trainer
            multiplies it by ``alpha``); 0 for the baseline and without autograd.
    """

    logits: Tensor
    graph_loss: Tensor


def _fp32_logits(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x Wᵀ (+ b)`` in float32 outside autocast, so logits keep their ranking under AMP."""
    with torch.autocast(x.device.type, enabled=False):
        return F.linear(x.float(), weight.float(), None if bias is None else bias.float())


class LinearHead(nn.Module):
    """The baseline classifier: ``logits = x Wᵀ + b``; no label graph."""

    def __init__(self, in_dim: int, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_dim, num_classes)

    def classifier(self) -> tuple[Tensor, Tensor | None]:
        return self.fc.weight, self.fc.bias

    def forward(self, x: Tensor) -> AGCNOutput:
        """``x`` (``B × D``) → ``AGCNOutput(logits B × C, graph_loss 0)``."""
        return AGCNOutput(_fp32_logits(x, self.fc.weight, self.fc.bias), x.new_zeros(()))


class GraphHead(nn.Module):
    r"""Label embeddings → ``(A, Â)`` → GNN → :math:`\bar{W}`; ``logits = x \bar{W}^\top (+ b)``.

    Â is computed once per forward pass and shared by every GNN layer. The head, the final
    product ``x W̄ᵀ`` included, runs in float32 with autocast disabled: it is tiny next to the
    backbone, Eq. 4's degree normalisation is the kind of reduction that loses accuracy in
    half precision, and bf16 logits would tie scores that the evaluation ranks. ``bias``:
    ``model.classifier_bias``, a learned ``b`` (``C``) that starts at 0.

    Shapes:
        embeddings: ``C × d_e`` (a buffer: stored in the state dict and checkpoints).
        input ``x``: ``B × D``; output: ``B × C``.
    """

    def __init__(self, label_graph: LabelGraph, gnn: LabelGNN, embeddings: Tensor, bias: bool):
        super().__init__()
        self.label_graph = label_graph
        self.gnn = gnn
        self.bias = nn.Parameter(torch.zeros(embeddings.size(0))) if bias else None
        self.register_buffer("embeddings", embeddings)
        self.register_buffer(
            "edge_index", complete_edge_index(embeddings.size(0)), persistent=False
        )
        self._cache: tuple[tuple[Any, ...], Tensor] | None = None

    @classmethod
    def build(
        cls,
        config: AGCNConfig,
        out_dim: int,
        label_embeddings: Tensor | np.ndarray | None,
        cooccurrence: Cooccurrence | None,
        label_graph: LabelGraph | None = None,
    ) -> GraphHead:
        """The head ``config`` describes: E conditioned by ``embedding_norm``, the LG module
        ``graph`` names (or ``label_graph``, ready-made), and a ``num_layers``-deep GNN
        ``d_e → hidden_dim → … → out_dim`` (D)."""
        embeddings = check_embeddings(label_embeddings, config.num_classes)
        embeddings = condition_embeddings(embeddings, config.embedding_norm)
        embed_dim = embeddings.size(1)
        if label_graph is None:
            graph_cls = LABEL_GRAPHS.get(config.graph)
            label_graph = graph_cls.build(embed_dim, config.num_classes, cooccurrence, config)
        elif not isinstance(label_graph, LABEL_GRAPHS.get(config.graph)):
            raise ConfigError(
                f"label_graph: a {type(label_graph).__name__} for graph {config.graph!r}"
            )
        gnn = LabelGNN(
            config.gnn,
            embed_dim,
            out_dim,
            hidden_dims=[config.hidden_dim] * (config.num_layers - 1),
            negative_slope=config.negative_slope,
            bias=config.gnn_bias,
            heads=config.heads,
            init=config.gnn_init,
        )
        return cls(label_graph, gnn, embeddings, config.classifier_bias)

    def graph(self) -> tuple[Tensor, Tensor, Tensor]:
        r"""Fresh ``(W̄, A, Â)``: ``C × D``, ``C × C``, ``C × C``."""
        with torch.autocast(self.embeddings.device.type, enabled=False):
            adj, adj_hat = self.label_graph(self.embeddings)
            weight = self.gnn(self.embeddings, self.edge_index, adj_hat)
        return weight, adj, adj_hat

    def _uses_cache(self) -> bool:
        return not self.training and not torch.is_grad_enabled()

    def _state_key(self) -> tuple[Any, ...]:
        tensors = itertools.chain(self.parameters(), self.buffers())
        return tuple((t.data_ptr(), t._version) for t in tensors)

    @torch.no_grad()
    def cached_classifier(self) -> Tensor:
        r""":math:`\bar{W}` (``C × D``) for inference: computed once, reused until the head changes.

        **When.** :math:`\bar{W} = \mathrm{GNN}(E, \hat{A})` depends on the head's parameters
        and buffers, never on the image, so `forward` and `classifier` take it from here in
        eval mode without autograd (``model.eval()`` under ``torch.no_grad()`` or
        ``torch.inference_mode()``): a batch then costs what the baseline's does, the backbone
        and one ``x W̄ᵀ`` (``bench/bench_inference.py``). In training mode or with autograd on
        they compute W̄ afresh, for the loss to flow back through it, and drop the stored one.

        **Invalidation.** The stored W̄ is keyed by ``(data_ptr, version)`` of every parameter
        and buffer of the head: an optimiser step, any in-place change and ``load_state_dict``
        bump a version counter, ``.to()`` allocates new storage, and the next call recomputes
        W̄. The result always equals ``graph()[0]``.
        """
        key = self._state_key()
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self.graph()[0])
        return self._cache[1]

    def classifier(self) -> tuple[Tensor, Tensor | None]:
        """W̄ (``C × D``) and ``b`` (or ``None``); W̄ from `cached_classifier` in eval mode
        without autograd, fresh otherwise."""
        if self._uses_cache():
            return self.cached_classifier(), self.bias
        self._cache = None
        return self.graph()[0], self.bias

    def forward(self, x: Tensor) -> AGCNOutput:
        """``x`` (``B × D``) → ``AGCNOutput(logits B × C, L_A)``; L_A is 0 without autograd
        (the cached W̄ is used and no loss can flow back)."""
        if self._uses_cache():
            return AGCNOutput(_fp32_logits(x, self.cached_classifier(), self.bias), x.new_zeros(()))
        self._cache = None
        weight, _, adj_hat = self.graph()
        return AGCNOutput(_fp32_logits(x, weight, self.bias), sparsity_loss(adj_hat))


class AGCN(nn.Module):
    """The timm backbone and a head, built from one `AGCNConfig` (nanoGPT's ``GPT(config)``);
    `agcn_pyg.create_model` builds it from a timm name and keyword options as well.

    Args:
        config: every setting (the fields are documented on `AGCNConfig`).
        label_embeddings: E, ``C × d_e``; ``None`` falls back to one-hot embeddings.
        cooccurrence: ``(adj, nums)`` counts, needed by ``graph='static'``.
        label_graph: a ready LG module of the class ``config.graph`` names, in place of one
            built from the config: ML-GCN's graph from the ``A`` its checkpoints store
            (`agcn_pyg.models.official`).

    Attributes:
        cfg: the `AGCNConfig` (the model's own copy).
        config: ``cfg`` as a plain dict, what a checkpoint stores as ``model_config``.

    The forward pass follows timm's split: ``forward_features`` (images → ``x``, ``B × D``),
    then ``forward_head`` (``x`` → logits); ``pretrained_cfg`` is the backbone's, so
    ``timm.data.resolve_model_data_config(model)`` gives its preprocessing.

    Shapes:
        input: ``B × 3 × H × W``; output: logits ``B × C``, or `AGCNOutput` with
        ``return_graph_loss=True``.
    """

    def __init__(
        self,
        config: AGCNConfig,
        *,
        label_embeddings: Tensor | np.ndarray | None = None,
        cooccurrence: Cooccurrence | None = None,
        label_graph: LabelGraph | None = None,
    ) -> None:
        super().__init__()
        if config.num_classes is None:
            raise ConfigError(
                "model.num_classes: a model needs the number of labels C (training takes it "
                "from the data; create_model(..., num_classes=C) elsewhere)"
            )
        self.cfg = copy.deepcopy(config)  # never shares backbone_kwargs with the caller
        cfg = self.cfg
        self.backbone = Backbone(cfg.backbone, cfg.pretrained, cfg.pool, **cfg.backbone_kwargs)
        self.num_features = self.backbone.num_features
        self.num_classes = cfg.num_classes
        self.head: LinearHead | GraphHead
        if cfg.graph == BASELINE:
            self.head = LinearHead(self.num_features, cfg.num_classes)
        else:
            self.head = GraphHead.build(
                cfg, self.num_features, label_embeddings, cooccurrence, label_graph
            )

    @property
    def config(self) -> dict[str, Any]:
        """`cfg` as a plain dict (a fresh copy), `AGCNConfig`'s fields in order."""
        return dataclasses.asdict(self.cfg)

    @property
    def pretrained_cfg(self) -> dict[str, Any]:
        """The backbone's timm ``pretrained_cfg``: what ``timm.data.resolve_data_config``
        reads for the input size, mean, std, interpolation and crop."""
        return self.backbone.pretrained_cfg

    def data_config(self) -> dict[str, Any]:
        """timm's preprocessing for this model, ``timm.data.resolve_model_data_config``:
        ``input_size``, ``interpolation``, ``mean``, ``std``, ``crop_pct``, ``crop_mode``."""
        return timm.data.resolve_model_data_config(self)

    @property
    def has_graph(self) -> bool:
        return isinstance(self.head, GraphHead)

    def forward_features(self, images: Tensor) -> Tensor:
        """Pooled image features ``x``, ``B × D`` (timm's pooling, `Backbone`)."""
        return self.backbone(images)

    @overload
    def forward_head(self, x: Tensor, return_graph_loss: Literal[False] = False) -> Tensor: ...

    @overload
    def forward_head(self, x: Tensor, return_graph_loss: Literal[True]) -> AGCNOutput: ...

    def forward_head(self, x: Tensor, return_graph_loss: bool = False) -> Tensor | AGCNOutput:
        """``x`` (``B × D``) → logits ``B × C``, or `AGCNOutput` with ``return_graph_loss``."""
        out = self.head(x)
        return out if return_graph_loss else out.logits

    @overload
    def forward(self, images: Tensor, return_graph_loss: Literal[False] = False) -> Tensor: ...

    @overload
    def forward(self, images: Tensor, return_graph_loss: Literal[True]) -> AGCNOutput: ...

    def forward(self, images: Tensor, return_graph_loss: bool = False) -> Tensor | AGCNOutput:
        """Logits ``B × C``; with ``return_graph_loss``, ``AGCNOutput(logits, graph_loss)``.

        The rule: a tensor unless the graph loss is asked for, then always the named tuple
        (``logits, l_a = model(images, return_graph_loss=True)`` unpacks it). L_A (Eq. 6,
        unweighted) is 0 for the baseline and for eval passes without autograd.
        """
        return self.forward_head(self.forward_features(images), return_graph_loss)

    def classifier(self) -> tuple[Tensor, Tensor | None]:
        """The per-label classifiers ``C × D`` and bias (``None`` for a graph head without
        ``classifier_bias``); a graph head's W̄ is cached for inference
        (`GraphHead.cached_classifier`)."""
        return self.head.classifier()

    @torch.no_grad()
    def adjacency(self) -> tuple[Tensor, Tensor] | None:
        """``(A, Â)`` as ``C × C`` tensors; ``None`` for the baseline."""
        if not isinstance(self.head, GraphHead):
            return None
        _, adj, adj_hat = self.head.graph()
        return adj, adj_hat

    def optimizer_parts(self, lr: float, lrp: float) -> list[tuple[str, nn.Module, float]]:
        """``(name, module, lr)``: the backbone at ``lr · lrp``, the head at ``lr`` (ML-GCN)."""
        return [("backbone", self.backbone, lr * lrp), ("head", self.head, lr)]

    def param_groups(self, lr: float, lrp: float) -> list[dict[str, Any]]:
        """`optimizer_parts` as torch optimiser groups, every parameter of each part."""
        return [
            {"name": name, "params": list(module.parameters()), "lr": part_lr}
            for name, module, part_lr in self.optimizer_parts(lr, lrp)
        ]

    def extra_repr(self) -> str:
        graph, gnn = self.cfg.graph, self.cfg.gnn
        return f"graph={graph!r}, gnn={gnn!r}, C={self.num_classes}, D={self.num_features}"
