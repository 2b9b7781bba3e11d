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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import timm
import torch
from torch import Tensor

from agcn_pyg.errors import CheckpointError
from agcn_pyg.models.agcn import AGCN
from agcn_pyg.models.factory import create_model
from agcn_pyg.variants import get_variant

OfficialKind = Literal["agcn", "mlgcn"]
OFFICIAL_KINDS: tuple[str, ...] = ("agcn", "mlgcn")

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


def read_official(path: str | Path) -> tuple[dict[str, Tensor], OfficialCheckpoint]:
    """The state dict (``module.`` prefix removed) and the metadata of an official checkpoint,
    loaded with ``weights_only=True``."""
    from agcn_pyg.engine.checkpoint import first_non_finite, load_error_reason

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
    out: str | Path | None = None,
) -> tuple[AGCN, OfficialCheckpoint]:
    """An agcn_pyg model with the weights of an official A-GCN or ML-GCN checkpoint.

    Args:
        checkpoint: the official ``.pth.tar``.
        kind: ``"agcn"`` (queenie88/A-GCN) or ``"mlgcn"`` (megvii-research/ML-GCN).
        label_embeddings: E, ``C × d_e``, the rows the official code was fed (e.g.
            ``load_embeddings('coco_glove_word2vec.pkl', label_names).vectors``).
        label_names: the C labels in the same order.
        out: also write an ordinary agcn_pyg checkpoint there (`agcn_pyg.load_model`,
            ``agcn evaluate`` and ``agcn predict`` read it).

    Returns:
        ``(model, meta)``: the model in eval mode, its logits those of the official forward.
    """
    if kind not in OFFICIAL_KINDS:
        raise CheckpointError(f"kind: expected one of {list(OFFICIAL_KINDS)}, got {kind!r}")
    path = Path(checkpoint)
    state, meta = read_official(path)
    meta.kind = kind
    embeddings = torch.as_tensor(np.asarray(label_embeddings, dtype=np.float32))
    names = list(label_names)
    if embeddings.dim() != 2 or embeddings.size(0) != len(names):
        raise CheckpointError(
            f"label embeddings of shape {tuple(embeddings.shape)} for {len(names)} labels"
        )
    num_classes, embed_dim = embeddings.shape

    backbone_state = _backbone_state(state, path)
    backbone = _match_backbone(backbone_state, path)
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
    head_state = {"head.gnn.convs.0.lin.weight": gc1.t(), "head.gnn.convs.1.lin.weight": gc2.t()}
    options: dict[str, Any] = {**_SHARED_MODEL, **get_variant(f"{kind}_official").model}
    options |= {"backbone": backbone, "num_classes": num_classes, "hidden_dim": int(gc1.size(1))}
    static = None
    used = {"gc1.weight", "gc2.weight"}
    if kind == "agcn":
        lg_dim = None
        for ours, theirs in (("phi", "theta"), ("theta", "phi")):
            weight = _take(state, f"non_local_C1.{theirs}.weight", path, ndim=3)
            bias = _take(state, f"non_local_C1.{theirs}.bias", path, ndim=1)
            if weight.shape[1:] != (embed_dim, 1) or bias.shape != weight.shape[:1]:
                raise CheckpointError(
                    f"{path}: key non_local_C1.{theirs}.weight has shape "
                    f"{tuple(weight.shape)}, expected (d_e', {embed_dim}, 1) with a bias of d_e'"
                )
            lg_dim = lg_dim or int(weight.size(0))
            head_state[f"head.label_graph.{ours}.weight"] = weight.squeeze(-1)
            head_state[f"head.label_graph.{ours}.bias"] = bias
            used |= {f"non_local_C1.{theirs}.weight", f"non_local_C1.{theirs}.bias"}
        options["lg_dim"] = lg_dim
    else:
        static = _take(state, "A", path, ndim=2)
        if static.shape != (num_classes, num_classes):
            raise CheckpointError(
                f"{path}: key A has shape {tuple(static.shape)}, expected "
                f"({num_classes}, {num_classes}) for {num_classes} labels"
            )
        used.add("A")
    unexpected = sorted(k for k in state if k not in used and not k.startswith("features."))
    if unexpected:
        raise CheckpointError(f"{path}: unexpected key {unexpected[0]} for kind {kind!r}")

    model = create_model(**options, label_embeddings=embeddings, static_correlation=static)
    if gc2.size(1) != model.num_features:
        raise CheckpointError(
            f"{path}: key gc2.weight has shape {tuple(gc2.shape)}, its second dimension should "
            f"be D = {model.num_features} ({backbone}'s feature width)"
        )
    full = {f"backbone.body.{k}": v for k, v in backbone_state.items()} | head_state
    expected = model.state_dict()
    for key, value in expected.items():
        if key not in full and key.endswith("num_batches_tracked"):
            full[key] = torch.zeros_like(value)
    for key, value in full.items():
        if key in expected and expected[key].shape != value.shape:
            raise CheckpointError(f"{path}: {key} has shape {tuple(value.shape)}")
    full.setdefault("head.embeddings", embeddings)
    if options["graph"] == "static":
        full["head.label_graph.adj"] = model.head.label_graph.adj
        full["head.label_graph.adj_hat"] = model.head.label_graph.adj_hat
    model.load_state_dict(full, strict=True)
    model.eval()
    if out is not None:
        # Writing a checkpoint is the engine's job (it owns the run config); deferred, since
        # the engine imports this package.
        from agcn_pyg.engine.checkpoint import save_imported

        save_imported(model, names, meta, out)
    return model, meta


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
