r"""Import the checkpoints published with ML-GCN and A-GCN as agcn_pyg models.

Both projects save ``torch.save({'epoch', 'arch', 'state_dict', 'best_score'})`` with a
``GCNResnet`` state dict over a torchvision ResNet:

==============================================  ==============================================
official key                                    agcn_pyg key
==============================================  ==============================================
``features.0.*`` / ``features.1.*``             ``backbone.body.conv1.*`` / ``bn1.*``
``features.{4,5,6,7}.*``                        ``backbone.body.layer{1,2,3,4}.*``
``gc1.weight`` (``d_e × H``)                    ``head.gnn.convs.0.lin.weight`` (transposed)
``gc2.weight`` (``H × D``)                      ``head.gnn.convs.1.lin.weight`` (transposed)
A-GCN ``non_local_C1.theta.{weight,bias}``      ``head.label_graph.phi.*`` (``Conv1d`` → linear)
A-GCN ``non_local_C1.phi.{weight,bias}``        ``head.label_graph.theta.*``
ML-GCN ``A`` (``C × C``, ``gen_A``'s output)     ``head.label_graph.adj`` (Â by ``gen_adj``)
==============================================  ==============================================

The official forward is :math:`\text{logits} = x \bar{W}^\top` with
:math:`\bar{W} = \hat{A}\,\delta(\hat{A} E W_1) W_2`, :math:`\delta` = LeakyReLU(0.2), no GCN
biases, and ``x`` the ResNet's ``MaxPool2d(14, 14)`` over a 448-px input: global max pooling,
which is ``pool='max'`` here. A-GCN's :math:`\hat{A}` is plain Eq. 4 (``guard='none'``) of
:math:`A_{ij} = \langle\theta(e_i), \phi(e_j)\rangle / C`, its 1×1 convolutions biased and
``d_e → d_e / 2`` wide (``lg_bias=True``, ``lg_dim``); ML-GCN's is ``gen_adj`` of its stored
``A``. The label embeddings E are not in these checkpoints (the official code feeds them with
every batch), so they are given, with the label list, in the same label order.

The backbone is the timm ResNet whose layers match the state dict exactly (``resnet18`` to
``resnet152``, wide and ResNeXt variants): timm's ResNet has torchvision's architecture and
key names. BatchNorm's ``num_batches_tracked`` counters, which checkpoints from torch < 0.4.1
lack, start at 0; they do not enter the forward pass. A ``module.`` prefix (from
``DataParallel``) is removed. Anything else that does not fit, missing, unexpected or
misshaped, is an error naming the file and the key.

A checkpoint becomes an `AGCNConfig` (`official_config`: the formulation of the variant
``agcn_official`` or ``mlgcn_official``, `agcn_pyg.variants`, with the widths the tensors
give), for ML-GCN the label graph of its stored ``A`` (`mlgcn_graph`), and the weights under
agcn_pyg's keys. Writing the result as an agcn_pyg checkpoint is the engine's job
(`agcn_pyg.engine.checkpoint.save_imported`; ``agcn import-official`` does both).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import timm
import torch
from torch import Tensor

from agcn_pyg.errors import CheckpointError, ConfigError
from agcn_pyg.io import first_non_finite, load_error_reason
from agcn_pyg.models.agcn import AGCN, AGCNConfig
from agcn_pyg.models.factory import create_model
from agcn_pyg.models.label_graph import StaticGraph
from agcn_pyg.variants import get_variant

OfficialKind = Literal["agcn", "mlgcn"]
#: each official code base and the variant that is its formulation (`agcn_pyg.variants`)
OFFICIAL_VARIANTS: dict[str, str] = {"agcn": "agcn_official", "mlgcn": "mlgcn_official"}
OFFICIAL_KINDS: tuple[str, ...] = tuple(OFFICIAL_VARIANTS)

# The architecture both code bases share (A-GCN reuses ML-GCN's model code); each one's own
# settings are its variant's (`agcn_pyg.variants`: ``agcn_official``, ``mlgcn_official``).
_SHARED_MODEL = {
    "backbone": "resnet101.tv_in1k",
    "gnn": "gcn",
    "pool": "max",
    "gnn_init": "mlgcn",
    "num_layers": 2,
    "hidden_dim": 1024,
    "negative_slope": 0.2,
    "gnn_bias": False,
}
_STEM = {"features.0.": "conv1.", "features.1.": "bn1."}
_LAYERS = {f"features.{i + 4}.": f"layer{i + 1}." for i in range(4)}
#: timm ResNets with torchvision's layout, and their blocks per layer
_BACKBONES = {
    "resnet101": (3, 4, 23, 3),
    "resnet50": (3, 4, 6, 3),
    "resnet18": (2, 2, 2, 2),
    "resnet34": (3, 4, 6, 3),
    "resnet152": (3, 8, 36, 3),
    "wide_resnet50_2": (3, 4, 6, 3),
    "wide_resnet101_2": (3, 4, 23, 3),
    "resnext50_32x4d": (3, 4, 6, 3),
    "resnext101_32x8d": (3, 4, 23, 3),
}


@dataclass
class OfficialCheckpoint:
    """What `import_official` read besides the weights."""

    kind: str
    path: str
    epoch: int | None
    best_score: float | None
    arch: str | None


def official_config(kind: str, **shapes: Any) -> AGCNConfig:
    """The `AGCNConfig` of an official checkpoint.

    The variant's ``model`` settings (``agcn_official``: plain Eq. 4, biased 1×1 convolutions,
    ML-GCN's initialisation; ``mlgcn_official``: the re-weighted static graph) over
    `AGCNConfig`'s defaults, whose GNN is the one both codes run (``gcn``, LeakyReLU 0.2, no
    GCN bias, global max pooling), and ``shapes`` over both: what the checkpoint's tensors
    say (``backbone``, ``num_classes``, ``hidden_dim``, ``num_layers``, ``lg_dim``).
    """
    _check_kind(kind)
    return AGCNConfig(**{**get_variant(OFFICIAL_VARIANTS[kind]).model, **shapes})


def _check_kind(kind: str) -> None:
    if kind not in OFFICIAL_VARIANTS:
        raise CheckpointError(f"kind: expected one of {list(OFFICIAL_KINDS)}, got {kind!r}")


def mlgcn_graph(config: AGCNConfig, correlation: Tensor) -> StaticGraph:
    """ML-GCN's graph from a stored ``gen_A`` output (``C × C``, self-loops included), such as
    the ``A`` of an ML-GCN checkpoint, with ``config``'s ``t``, ``p`` and ``reweight``."""
    n = config.num_classes
    if tuple(correlation.shape) != (n, n):
        raise ConfigError(f"static correlation: expected {n} × {n}, got {tuple(correlation.shape)}")
    return StaticGraph(correlation, config.t, config.p, config.reweight)


def stored_label_graph(config: AGCNConfig, state: Mapping[str, Tensor]) -> StaticGraph | None:
    """The label graph an agcn_pyg checkpoint without co-occurrence counts carries in its
    weights: for ``graph='static'``, ML-GCN's ``A`` (``head.label_graph.adj``, as
    `import_official` stores it); ``None`` otherwise (the model builds its own)."""
    adj = state.get("head.label_graph.adj")
    if config.graph != "static" or adj is None:
        return None
    return mlgcn_graph(config, adj)


def read_official(path: str | Path) -> tuple[dict[str, Tensor], OfficialCheckpoint]:
    """The state dict (``module.`` prefix removed) and the metadata of an official checkpoint,
    loaded with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"{path}: not readable with weights_only=True ({load_error_reason(err)}); re-save "
            "it as a dict of tensors and numbers"
        ) from err
    if not isinstance(data, Mapping) or "state_dict" not in data:
        raise CheckpointError(
            f"{path}: not an official ML-GCN/A-GCN checkpoint (expected a dict with "
            "'state_dict', 'epoch', 'best_score')"
        )
    state = data["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: 'state_dict' is not a mapping of tensors")
    state = {str(k).removeprefix("module."): v for k, v in state.items()}
    bad = first_non_finite(state)
    if bad is not None:
        raise CheckpointError(f"{path}: key {bad} holds NaN or inf")
    meta = OfficialCheckpoint(
        kind="",
        path=str(path),
        epoch=_as_int(data.get("epoch")),
        best_score=_as_float(data.get("best_score")),
        arch=data.get("arch") if isinstance(data.get("arch"), str) else None,
    )
    return state, meta


def import_official(
    checkpoint: str | Path,
    kind: OfficialKind,
    label_embeddings: Tensor | np.ndarray,
    label_names: Sequence[str],
) -> tuple[AGCN, OfficialCheckpoint]:
    """An agcn_pyg model with the weights of an official A-GCN or ML-GCN checkpoint.

    Args:
        checkpoint: the official ``.pth.tar``.
        kind: ``"agcn"`` (queenie88/A-GCN) or ``"mlgcn"`` (megvii-research/ML-GCN).
        label_embeddings: E, ``C × d_e``, the rows the official code was fed (e.g.
            ``load_embeddings('coco_glove_word2vec.pkl', label_names).vectors``).
        label_names: the C labels in the same order.

    Returns:
        ``(model, meta)``: the model in eval mode, its logits those of the official forward.
        `agcn_pyg.engine.checkpoint.save_imported` writes it as an agcn_pyg checkpoint.
    """
    _check_kind(kind)
    path = Path(checkpoint)
    state, meta = read_official(path)
    meta.kind = kind
    embeddings = _embeddings(label_embeddings, label_names)
    num_classes, embed_dim = embeddings.shape
    backbone_state = _backbone_state(state, path)
    backbone = _match_backbone(backbone_state, path)
    gcn = _gcn_head(state, embed_dim, path)
    graph = _GRAPHS[kind](state, num_classes, embed_dim, path)
    _refuse_unread(state, gcn.used | graph.used, kind, path)
    config = official_config(
        kind, backbone=backbone, num_classes=num_classes, **gcn.fields, **graph.fields
    )
    stored = None if graph.correlation is None else mlgcn_graph(config, graph.correlation)
    model = create_model(config, label_embeddings=embeddings, label_graph=stored)
    _check_feature_width(model, gcn.state, backbone, path)
    backbone_keys = {f"backbone.body.{k}": v for k, v in backbone_state.items()}
    _load(model, backbone_keys | gcn.state | graph.state, path)
    return model.eval(), meta


@dataclass
class _Part:
    """A part of an official head in agcn_pyg's terms: its weights under agcn_pyg's keys, the
    official keys it read, the `AGCNConfig` fields its shapes give, and ML-GCN's stored A."""

    state: dict[str, Tensor]
    used: set[str]
    fields: dict[str, Any] = field(default_factory=dict)
    correlation: Tensor | None = None


def _embeddings(label_embeddings: Tensor | np.ndarray, label_names: Sequence[str]) -> Tensor:
    embeddings = torch.as_tensor(np.asarray(label_embeddings, dtype=np.float32))
    if embeddings.dim() != 2 or embeddings.size(0) != len(label_names):
        raise CheckpointError(
            f"label embeddings of shape {tuple(embeddings.shape)} for {len(label_names)} labels"
        )
    return embeddings


def _gcn_head(state: Mapping[str, Tensor], embed_dim: int, path: Path) -> _Part:
    """``gc1``, ``gc2``: two bias-free graph convolutions ``d_e → H → D``."""
    gc1 = _take(state, "gc1.weight", path, ndim=2)
    gc2 = _take(state, "gc2.weight", path, ndim=2)
    if gc1.size(0) != embed_dim:
        raise CheckpointError(
            f"{path}: key gc1.weight has shape {tuple(gc1.shape)}, its first dimension should "
            f"be d_e = {embed_dim} (the embeddings' width)"
        )
    if gc2.size(0) != gc1.size(1):
        raise CheckpointError(
            f"{path}: key gc2.weight has shape {tuple(gc2.shape)}, expected ({gc1.size(1)}, D)"
        )
    weights = {"head.gnn.convs.0.lin.weight": gc1.t(), "head.gnn.convs.1.lin.weight": gc2.t()}
    fields = {"num_layers": 2, "hidden_dim": int(gc1.size(1))}
    return _Part(weights, {"gc1.weight", "gc2.weight"}, fields)


def _agcn_graph(state: Mapping[str, Tensor], num_classes: int, embed_dim: int, path: Path) -> _Part:
    """A-GCN's LG module, ``non_local_C1``: two biased ``Conv1d(d_e, d_e', 1)``; its ``theta``
    is our ``phi`` and its ``phi`` our ``theta`` (`agcn_pyg.models.label_graph`)."""
    part = _Part({}, set())
    for ours, theirs in (("phi", "theta"), ("theta", "phi")):
        weight = _take(state, f"non_local_C1.{theirs}.weight", path, ndim=3)
        bias = _take(state, f"non_local_C1.{theirs}.bias", path, ndim=1)
        if weight.shape[1:] != (embed_dim, 1) or bias.shape != weight.shape[:1]:
            raise CheckpointError(
                f"{path}: key non_local_C1.{theirs}.weight has shape "
                f"{tuple(weight.shape)}, expected (d_e', {embed_dim}, 1) with a bias of d_e'"
            )
        part.fields.setdefault("lg_dim", int(weight.size(0)))
        part.state[f"head.label_graph.{ours}.weight"] = weight.squeeze(-1)
        part.state[f"head.label_graph.{ours}.bias"] = bias
        part.used |= {f"non_local_C1.{theirs}.weight", f"non_local_C1.{theirs}.bias"}
    return part


def _mlgcn_graph(
    state: Mapping[str, Tensor], num_classes: int, embed_dim: int, path: Path
) -> _Part:
    """ML-GCN's ``A``: ``gen_A``'s output, ``C × C``."""
    adj = _take(state, "A", path, ndim=2)
    if adj.shape != (num_classes, num_classes):
        raise CheckpointError(
            f"{path}: key A has shape {tuple(adj.shape)}, expected "
            f"({num_classes}, {num_classes}) for {num_classes} labels"
        )
    return _Part({}, {"A"}, correlation=adj)


#: how each kind stores its label graph
_GRAPHS: dict[str, Callable[[Mapping[str, Tensor], int, int, Path], _Part]] = {
    "agcn": _agcn_graph,
    "mlgcn": _mlgcn_graph,
}


def _refuse_unread(state: Mapping[str, Tensor], used: set[str], kind: str, path: Path) -> None:
    unexpected = sorted(k for k in state if k not in used and not k.startswith("features."))
    if unexpected:
        raise CheckpointError(f"{path}: unexpected key {unexpected[0]} for kind {kind!r}")


def _check_feature_width(
    model: AGCN, head_state: Mapping[str, Tensor], backbone: str, path: Path
) -> None:
    gc2 = head_state["head.gnn.convs.1.lin.weight"].t()
    if gc2.size(1) != model.num_features:
        raise CheckpointError(
            f"{path}: key gc2.weight has shape {tuple(gc2.shape)}, its second dimension should "
            f"be D = {model.num_features} ({backbone}'s feature width)"
        )


def _load(model: AGCN, weights: dict[str, Tensor], path: Path) -> None:
    """Load ``weights`` strictly; the batch counters they lack start at 0, and E, ML-GCN's A
    and its Â are the model's own already (built from the embeddings given and from A)."""
    expected = model.state_dict()
    for key, value in weights.items():
        if key in expected and expected[key].shape != value.shape:
            raise CheckpointError(f"{path}: {key} has shape {tuple(value.shape)}")
    full = dict(weights)
    for key, value in expected.items():
        if key.endswith("num_batches_tracked") and key not in full:
            full[key] = torch.zeros_like(value)
        elif key.startswith(("head.embeddings", "head.label_graph.adj")):
            full.setdefault(key, value)
    model.load_state_dict(full, strict=True)


def _backbone_state(state: Mapping[str, Tensor], path: Path) -> dict[str, Tensor]:
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        if not key.startswith("features."):
            continue
        prefix = next((p for p in (*_STEM, *_LAYERS) if key.startswith(p)), None)
        if prefix is None:
            raise CheckpointError(f"{path}: unexpected key {key} (not a ResNet stem or layer)")
        mapped = (_STEM | _LAYERS)[prefix]
        out[mapped + key[len(prefix) :]] = value
    if "conv1.weight" not in out:
        raise CheckpointError(f"{path}: missing key features.0.weight (the ResNet's conv1)")
    return out


def _match_backbone(backbone_state: Mapping[str, Tensor], path: Path) -> str:
    """The timm ResNet whose parameters and buffers match ``backbone_state`` exactly."""
    wanted = {k: tuple(v.shape) for k, v in backbone_state.items()}
    counters = "num_batches_tracked"
    blocks = tuple(
        len({k.split(".")[1] for k in wanted if k.startswith(f"layer{i}.")}) for i in range(1, 5)
    )
    closest: tuple[int, str, str] | None = None
    for name, name_blocks in _BACKBONES.items():
        if name_blocks != blocks:
            continue
        model = timm.create_model(name, pretrained=False, num_classes=0, global_pool="")
        ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        missing = sorted(k for k in ours if k not in wanted and not k.endswith(counters))
        extra = sorted(k for k in wanted if k not in ours)
        shaped = sorted(k for k in wanted if k in ours and ours[k] != wanted[k])
        if not (missing or extra or shaped):
            return name
        problems = len(missing) + len(extra) + len(shaped)
        if closest is None or problems < closest[0]:
            first = (missing or extra or shaped)[0]
            what = "missing" if missing else "unexpected" if extra else "misshaped"
            closest = (problems, name, f"{what} key {_official_key(first)}")
    if closest is not None:
        raise CheckpointError(f"{path}: not a {closest[1]} backbone: {closest[2]}")
    raise CheckpointError(
        f"{path}: a ResNet with {list(blocks)} blocks per layer matches none of "
        f"{', '.join(_BACKBONES)}"
    )


def _official_key(key: str) -> str:
    for theirs, ours in (_STEM | _LAYERS).items():
        if key.startswith(ours):
            return theirs + key[len(ours) :]
    return key


def _take(state: Mapping[str, Tensor], key: str, path: Path, ndim: int) -> Tensor:
    if key not in state:
        raise CheckpointError(f"{path}: missing key {key}")
    value = state[key]
    if value.dim() != ndim or not value.is_floating_point():
        raise CheckpointError(
            f"{path}: key {key} has shape {tuple(value.shape)} ({value.dtype}), expected a "
            f"{ndim}-D float tensor"
        )
    return value.float()


def _as_int(value: Any) -> int | None:
    if isinstance(value, Tensor) and value.numel() == 1:
        value = value.item()
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _as_float(value: Any) -> float | None:
    if isinstance(value, Tensor) and value.numel() == 1:
        value = value.item()
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
