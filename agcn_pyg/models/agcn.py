r"""The A-GCN model family: timm backbone + label graph + PyG GNN → per-label classifiers.

.. math::
    x = \mathrm{pool}(f_{CNN}(I)) \in R^{D},\quad
    (A, \hat{A}) = \mathrm{LG}(E),\quad
    \bar{W} = \mathrm{GNN}(E, \hat{A}) \in R^{C \times D},\quad
    \text{logits} = \bar{W} x \;\; \text{(Eq. 1)}

The loss is BCE (Eq. 2) plus :math:`\alpha L_A` (Eq. 6); ``model(images,
return_graph_loss=True)`` returns :math:`L_A` beside the logits and the trainer weighs it.
With ``graph='none'`` the head is a plain linear classifier: the baseline.

:math:`\bar{W}` does not depend on the image. In eval mode without autograd it is computed once
and reused until a parameter or buffer changes (tracked by the tensors' version counters, which
every in-place update, optimiser step and ``load_state_dict`` bumps), so inference costs what
the baseline costs.
"""

from __future__ import annotations

import copy
import itertools
import warnings
from collections.abc import Callable
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
from agcn_pyg.models.gnn import GNN_INITS, GNN_LAYERS, LabelGNN
from agcn_pyg.models.label_graph import (
    BASELINE,
    LABEL_GRAPHS,
    Cooccurrence,
    GraphOptions,
    LabelGraph,
    StaticGraph,
    list_graphs,
)
from agcn_pyg.registry import Registry
from agcn_pyg.schema import (
    BOOL,
    FINITE,
    NON_NEGATIVE,
    Rule,
    Section,
    int_at_least,
    one_of,
    optional,
    setting,
)

#: how the head conditions E before using it (``model.embedding_norm``)
EMBEDDING_NORMS: Registry[Callable[[Tensor], Tensor]] = Registry("embedding normalisation")
EMBEDDING_NORMS.add("none", lambda e: e)
EMBEDDING_NORMS.add("center", lambda e: e - e.mean(dim=0, keepdim=True))


@EMBEDDING_NORMS.register("whiten")
def whiten(embeddings: Tensor) -> Tensor:
    r""":math:`U V^\top` of the thin SVD :math:`E = U S V^\top`: the nearest matrix with
    orthonormal rows (orthonormal columns when C > d_e)."""
    u, _, vh = torch.linalg.svd(embeddings.double(), full_matrices=False)
    return (u @ vh).to(embeddings.dtype)


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
    num_classes: int = setting(80, int_at_least(1))
    """C, the number of labels."""
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
            lambda v, m: not v or LABEL_GRAPHS.get(m.graph).projected,
            lambda m: f"false for graph {m.graph!r} (only {_projected()} have 1×1 convolutions)",
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
            lambda v, m: v == "none" or m.num_classes >= 2,
            lambda m: "'none' for a single label",
            relational=True,
        ),
    )
    """How the head conditions E (`EMBEDDING_NORMS`): ``none`` (as given: the paper, ML-GCN),
    ``center`` (subtract the mean label embedding) or ``whiten`` (`whiten`: every pair of
    labels at cosine 0, so the GCN starts with unrelated classifiers). Both are idempotent,
    so a checkpoint's stored rows come back unchanged."""
    classifier_bias: bool = setting(False, BOOL)
    """A learned per-label bias on the graph heads' logits, :math:`\bar{W} x + b` (``b``
    starts at 0); Eq. 1, ML-GCN and A-GCN have none, the baseline's classifier always has one."""
    t: float = setting(0.4, _UNIT)
    """ML-GCN's binarisation threshold for the static graph."""
    p: float = setting(0.25, _UNIT)
    """ML-GCN's re-weighting mass for the static graph."""
    reweight: bool = setting(True, BOOL)
    """Re-weighted (``True``) or binary (``False``) static graph."""
    backbone_kwargs: dict[str, Any] = setting(None, *BACKBONE_KWARGS_RULES, factory=dict)
    """Extra keyword arguments for ``timm.create_model`` (`agcn_pyg.models.backbone`)."""


def _projected() -> list[str]:
    return [name for name in LABEL_GRAPHS.names() if LABEL_GRAPHS.get(name).projected]


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
    half precision, and bf16 logits would tie scores that the evaluation ranks.

    ``bias=True`` adds a learned per-label bias ``b`` (``C``, zeros at initialisation), which
    Eq. 1 does not have and the baseline's linear classifier does.

    Shapes:
        embeddings: ``C × d_e`` (a buffer: stored in the state dict and checkpoints).
        input ``x``: ``B × D``; output: ``B × C``.
    """

    def __init__(
        self, label_graph: LabelGraph, gnn: LabelGNN, embeddings: Tensor, bias: bool = False
    ) -> None:
        super().__init__()
        self.label_graph = label_graph
        self.gnn = gnn
        self.bias = nn.Parameter(torch.zeros(embeddings.size(0))) if bias else None
        self.register_buffer("embeddings", embeddings)
        self.register_buffer(
            "edge_index", complete_edge_index(embeddings.size(0)), persistent=False
        )
        self._cache: tuple[tuple[Any, ...], Tensor] | None = None

    def graph(self) -> tuple[Tensor, Tensor, Tensor]:
        r"""Fresh ``(W̄, A, Â)``: ``C × D``, ``C × C``, ``C × C``."""
        with torch.autocast(self.embeddings.device.type, enabled=False):
            adj, adj_hat = self.label_graph(self.embeddings)
            weight = self.gnn(self.embeddings, self.edge_index, adj_hat)
        return weight, adj, adj_hat

    def _state_key(self) -> tuple[Any, ...]:
        tensors = itertools.chain(self.parameters(), self.buffers())
        return tuple((t.data_ptr(), t._version) for t in tensors)

    def classifier(self) -> tuple[Tensor, Tensor | None]:
        """W̄ (``C × D``) and ``b`` (or ``None``); W̄ is cached in eval mode when autograd is
        off."""
        if self.training or torch.is_grad_enabled():
            self._cache = None
            return self.graph()[0], self.bias
        key = self._state_key()
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self.graph()[0])
        return self._cache[1], self.bias

    def forward(self, x: Tensor) -> AGCNOutput:
        """``x`` (``B × D``) → ``AGCNOutput(logits B × C, L_A)``; L_A is 0 without autograd
        (the cached W̄ is used and no loss can flow back)."""
        if self.training or torch.is_grad_enabled():
            weight, _, adj_hat = self.graph()
            return AGCNOutput(_fp32_logits(x, weight, self.bias), sparsity_loss(adj_hat))
        weight, bias = self.classifier()
        return AGCNOutput(_fp32_logits(x, weight, bias), x.new_zeros(()))


class AGCN(nn.Module):
    """Backbone + head. Build it with `agcn_pyg.create_model`, which maps a `AGCNConfig` to
    these keyword arguments (their defaults are `AGCNConfig`'s; the fields are documented
    there).

    Args:
        backbone, pretrained, pool, backbone_kwargs: the timm backbone (`Backbone`).
        num_classes: C.
        graph: a name in `LABEL_GRAPHS`, or ``"none"`` for the baseline's linear head.
        gnn, num_layers, hidden_dim, negative_slope, gnn_bias, heads, gnn_init: the
            `LabelGNN` (``d_e → hidden_dim → … → D``).
        guard, lg_dim, lg_bias, t, p, reweight: the label graph (`LabelGraph.build`).
        alpha: the weight of L_A in the loss; not used by the model, only kept in `config`
            for the trainer and the checkpoint.
        embedding_norm: `condition_embeddings`.
        classifier_bias: a per-label bias on the graph head's logits.
        label_embeddings: E, ``C × d_e``; ``None`` falls back to one-hot embeddings.
        cooccurrence: ``(adj, nums)`` counts, needed by ``graph='static'``.
        static_correlation: for ``graph='static'``, a ready ``gen_A`` output (``C × C``) in
            place of the counts, e.g. the ``A`` stored in an ML-GCN checkpoint.

    Attributes:
        config: the keyword arguments above (not the tensors) as a plain dict, what a
            checkpoint stores as ``model_config``.

    The forward pass follows timm's split: ``forward_features`` (images → ``x``, ``B × D``),
    then ``forward_head`` (``x`` → logits); ``pretrained_cfg`` is the backbone's, so
    ``timm.data.resolve_model_data_config(model)`` gives its preprocessing.

    Shapes:
        input: ``B × 3 × H × W``; output: logits ``B × C``, or `AGCNOutput` with
        ``return_graph_loss=True``.
    """

    def __init__(
        self,
        backbone: str = "resnet101",
        num_classes: int = 80,
        graph: str = "conv",
        gnn: str = "gcn",
        pretrained: bool | str = False,
        pool: str = "max",
        guard: str = "relu",
        alpha: float = 1.0,
        num_layers: int = 2,
        hidden_dim: int = 1024,
        negative_slope: float = 0.2,
        gnn_bias: bool = False,
        heads: int = 1,
        lg_dim: int | None = None,
        lg_bias: bool = False,
        gnn_init: str = "pyg",
        embedding_norm: str = "none",
        classifier_bias: bool = False,
        t: float = 0.4,
        p: float = 0.25,
        reweight: bool = True,
        backbone_kwargs: dict[str, Any] | None = None,
        *,
        label_embeddings: Tensor | np.ndarray | None = None,
        cooccurrence: Cooccurrence | None = None,
        static_correlation: Tensor | None = None,
    ) -> None:
        super().__init__()
        backbone_kwargs = dict(backbone_kwargs or {})
        self._config: dict[str, Any] = {
            "backbone": backbone,
            "num_classes": num_classes,
            "graph": graph,
            "gnn": gnn,
            "pretrained": pretrained,
            "pool": pool,
            "guard": guard,
            "alpha": alpha,
            "num_layers": num_layers,
            "hidden_dim": hidden_dim,
            "negative_slope": negative_slope,
            "gnn_bias": gnn_bias,
            "heads": heads,
            "lg_dim": lg_dim,
            "lg_bias": lg_bias,
            "gnn_init": gnn_init,
            "embedding_norm": embedding_norm,
            "classifier_bias": classifier_bias,
            "t": t,
            "p": p,
            "reweight": reweight,
            "backbone_kwargs": copy.deepcopy(backbone_kwargs),
        }
        self.backbone = Backbone(backbone, pretrained, pool, **backbone_kwargs)
        self.num_features = self.backbone.num_features
        self.num_classes = num_classes
        self.head: LinearHead | GraphHead
        if graph == BASELINE:
            self.head = LinearHead(self.num_features, num_classes)
            return
        embeddings = _check_embeddings(label_embeddings, num_classes)
        embeddings = condition_embeddings(embeddings, embedding_norm)
        label_graph: LabelGraph
        if static_correlation is not None:
            if graph != "static":
                raise ConfigError(f"static_correlation is for graph 'static', not {graph!r}")
            n = num_classes
            if tuple(static_correlation.shape) != (n, n):
                raise ConfigError(
                    f"static_correlation: expected {n} × {n}, got {tuple(static_correlation.shape)}"
                )
            label_graph = StaticGraph(static_correlation, t, p, reweight)
        else:
            options = GraphOptions(guard, lg_dim, lg_bias, t, p, reweight)
            label_graph = LABEL_GRAPHS.get(graph).build(
                embeddings.size(1), num_classes, cooccurrence, options
            )
        label_gnn = LabelGNN(
            gnn,
            in_dim=embeddings.size(1),
            out_dim=self.num_features,
            hidden_dims=[hidden_dim] * (num_layers - 1),
            negative_slope=negative_slope,
            bias=gnn_bias,
            heads=heads,
            init=gnn_init,
        )
        self.head = GraphHead(label_graph, label_gnn, embeddings, bias=classifier_bias)

    @property
    def config(self) -> dict[str, Any]:
        """The model's keyword arguments as a plain dict (a copy; `AGCNConfig`'s fields)."""
        return copy.deepcopy(self._config)

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
        ``classifier_bias``)."""
        return self.head.classifier()

    @torch.no_grad()
    def adjacency(self) -> tuple[Tensor, Tensor] | None:
        """``(A, Â)`` as ``C × C`` tensors; ``None`` for the baseline."""
        if not isinstance(self.head, GraphHead):
            return None
        _, adj, adj_hat = self.head.graph()
        return adj, adj_hat

    @torch.no_grad()
    def attention_maps(self) -> list[Tensor]:
        """``C × C`` attention per attention layer (heads averaged); empty otherwise."""
        if not isinstance(self.head, GraphHead):
            return []
        head = self.head
        with torch.autocast(head.embeddings.device.type, enabled=False):
            _, adj_hat = head.label_graph(head.embeddings)
            return head.gnn.attention_maps(head.embeddings, head.edge_index, adj_hat)

    def optimizer_parts(self, lr: float, lrp: float = 0.1) -> list[tuple[str, nn.Module, float]]:
        """``(name, module, lr)``: the backbone at ``lr · lrp``, the head at ``lr`` (ML-GCN)."""
        return [("backbone", self.backbone, lr * lrp), ("head", self.head, lr)]

    def param_groups(self, lr: float, lrp: float = 0.1) -> list[dict[str, Any]]:
        """`optimizer_parts` as torch optimiser groups, every parameter of each part."""
        return [
            {"name": name, "params": list(module.parameters()), "lr": part_lr}
            for name, module, part_lr in self.optimizer_parts(lr, lrp)
        ]

    def extra_repr(self) -> str:
        graph, gnn = self._config["graph"], self._config["gnn"]
        return f"graph={graph!r}, gnn={gnn!r}, C={self.num_classes}, D={self.num_features}"


def condition_embeddings(embeddings: Tensor, norm: str) -> Tensor:
    """E (``C × d_e``) under ``model.embedding_norm`` (`EMBEDDING_NORMS`)."""
    return EMBEDDING_NORMS.get(norm, "model.embedding_norm")(embeddings)


def _check_embeddings(embeddings: Any, num_classes: int) -> Tensor:
    if embeddings is None:
        warnings.warn(
            "no label_embeddings given: using one-hot embeddings (the 'onehot' ablation)",
            stacklevel=3,
        )
        return torch.eye(num_classes)
    tensor = torch.as_tensor(embeddings).detach().float().clone()
    if tensor.dim() != 2 or tensor.size(0) != num_classes:
        raise ConfigError(
            f"label_embeddings: expected a {num_classes} × d_e matrix (one row per label), "
            f"got shape {tuple(tensor.shape)}"
        )
    if not torch.isfinite(tensor).all():
        raise ConfigError("label_embeddings: found NaN or inf")
    zero = (tensor == 0).all(dim=1).nonzero()
    if zero.numel():
        raise ConfigError(
            f"label_embeddings: row {int(zero[0, 0])} is all zeros; every label needs an "
            "embedding that tells it apart (check the embedding file or source)"
        )
    return tensor
