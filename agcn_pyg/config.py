"""Dataclass configs, YAML loading and `key=value` overrides."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import yaml

from agcn_pyg.errors import ConfigError

POOLS = ("max", "avg", "avgmax")
#: ``train.amp``: bf16 where the GPU supports it else fp16 (``auto``), or forced, or off
AMP_MODES = ("auto", "bf16", "fp16", "off")
#: label graphs built on 1×1 convolutions, the ones ``model.lg_bias`` applies to
LG_BIAS_GRAPHS = ("conv", "dot")

#: the ``model.backbone_kwargs`` accepted (and so the ones a checkpoint may carry): options
#: that shape the network. Whatever makes timm open a file (``checkpoint_path``,
#: ``pretrained_cfg_overlay``, ``cache_dir``...) is refused: a checkpoint describes a model, it
#: never directs the loader to other files; weights come through ``model.pretrained``.
BACKBONE_KWARGS = frozenset(
    {
        "act_layer",
        "channels",
        "class_token",
        "depth",
        "drop_block_rate",
        "drop_path_rate",
        "drop_rate",
        "embed_dim",
        "global_pool",
        "img_size",
        "in_chans",
        "layer_scale_init_value",
        "mlp_ratio",
        "norm_layer",
        "num_heads",
        "output_stride",
        "patch_size",
        "stem_type",
        "stem_width",
        "width_factor",
    }
)

C = TypeVar("C")


def path_like(value: object) -> bool:
    """A string that names a file: it has a separator or a suffix."""
    if not isinstance(value, str | Path):
        return False
    text = str(value)
    return "/" in text or "\\" in text or Path(text).suffix != ""


#: values of ``model.embedding_norm`` (`agcn_pyg.models.agcn.condition_embeddings`)
EMBEDDING_NORMS = ("none", "center", "whiten")


@dataclass
class ModelConfig:
    """Everything needed to rebuild a model; stored in every checkpoint.

    Attributes:
        backbone: any timm model name.
        num_classes: C, the number of labels.
        graph: label-graph module (`agcn_pyg.list_graphs()`); ``"none"`` is the baseline.
        gnn: GNN layer over the label graph (`agcn_pyg.list_gnns()`).
        pretrained: ``False``, ``True`` (timm hub) or a path to a local weights file.
        pool: global pooling of the backbone's feature map: ``max`` (ML-GCN's GMP), ``avg``,
            ``avgmax``.
        guard: how a learned, possibly negative A enters Eq. 4 (see `agcn_pyg.graph.GUARDS`);
            ``none`` is plain Eq. 4 as the official A-GCN code computes it.
        alpha: weight of the sparse correlation constraint L_A (Eq. 6).
        num_layers: GNN depth; ML-GCN uses 2 (d_e → hidden_dim → D).
        hidden_dim: width of every hidden GNN layer.
        negative_slope: LeakyReLU slope between GNN layers (ML-GCN: 0.2).
        gnn_bias: whether GNN layers carry a bias (ML-GCN's layers do not).
        heads: attention heads for attention layers (averaged, so widths are unchanged).
        lg_dim: output channels of the LG module's 1×1 convolutions; ``None`` keeps d_e
            (the official A-GCN code uses d_e // 2).
        lg_bias: biases on the LG module's 1×1 convolutions (``conv``, ``dot``); Eq. 5 has
            none, the official A-GCN code has them.
        gnn_init: initialisation of the GNN layers' weights: ``pyg`` (each PyG layer's own,
            glorot for GCN) or ``mlgcn`` (ML-GCN's and A-GCN's ``U(±1/sqrt(out_features))``).
        embedding_norm: how the head conditions E before using it (`EMBEDDING_NORMS`):
            ``none`` (as given: the paper, ML-GCN), ``center`` (subtract the mean label
            embedding) or ``whiten`` (the nearest matrix with orthonormal rows, ``U Vᵀ`` of
            the thin SVD ``E = U S Vᵀ``: every pair of labels at cosine 0, so the GCN starts
            with unrelated classifiers; one-hot embeddings up to a rotation; with more labels
            than dimensions, orthonormal columns instead).
        classifier_bias: a learned per-label bias on the graph heads' logits,
            :math:`\bar{W} x + b` (``b`` starts at 0); Eq. 1, ML-GCN and A-GCN have none, the
            baseline's linear classifier always has one.
        t: ML-GCN's binarisation threshold for the static graph.
        p: ML-GCN's re-weighting mass for the static graph.
        reweight: re-weighted (``True``) or binary (``False``) static graph.
        backbone_kwargs: extra keyword arguments for ``timm.create_model``.
    """

    backbone: str = "resnet101"
    num_classes: int = 80
    graph: str = "conv"
    gnn: str = "gcn"
    pretrained: bool | str = False
    pool: str = "max"
    guard: str = "relu"
    alpha: float = 1.0
    num_layers: int = 2
    hidden_dim: int = 1024
    negative_slope: float = 0.2
    gnn_bias: bool = False
    heads: int = 1
    lg_dim: int | None = None
    lg_bias: bool = False
    gnn_init: str = "pyg"
    embedding_norm: str = "none"
    classifier_bias: bool = False
    t: float = 0.4
    p: float = 0.25
    reweight: bool = True
    backbone_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The schema's model section, so that `create_model`'s options and a checkpoint's
        # stored config meet the checks a loaded config does; imported here because the
        # schema reads the registries of `models`, which imports this module.
        from agcn_pyg.validation import validate_model_config

        validate_model_config(self)


def refused_backbone_kwargs(kwargs: Mapping[str, Any]) -> list[str]:
    """The keys of ``kwargs`` (sorted) that `BACKBONE_KWARGS` does not allow, or whose value
    names a file."""
    return sorted(k for k, v in kwargs.items() if k not in BACKBONE_KWARGS or path_like(v))


def is_int(value: object) -> bool:
    """An int, not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """An int or float, not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def from_dict(cls: type[C], data: Mapping[str, Any], where: str = "") -> C:
    """Build dataclass ``cls`` from a mapping, naming unknown keys and nested sections."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(
            f"unknown config key {prefix}{unknown[0]}; valid keys: {', '.join(sorted(known))}"
        )
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        sub = _dataclass_of(hints[name])
        path = f"{where}.{name}" if where else name
        if sub and value is not None:
            kwargs[name] = from_dict(sub, value, path)
        else:
            kwargs[name] = coerce(value, hints[name], path)
    return cls(**kwargs)


def coerce(value: Any, hint: Any, path: str) -> Any:
    """Check ``value`` against a field's type; YAML's ``1e-3`` (a string in YAML 1.1) → float."""
    args = (
        typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else ()
    )
    options = args or (hint,)
    if value is None:
        if type(None) in options:
            return None
        raise ConfigError(f"{path}: a value is required")
    for option in options:
        origin = typing.get_origin(option) or option
        if origin is bool and isinstance(value, bool):
            return value
        if origin is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if origin is float and isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if origin is str and isinstance(value, str):
            return value
        if origin in (dict, list) and isinstance(value, origin):
            return value
    if float in options and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    names = " or ".join(getattr(o, "__name__", str(o)) for o in options)
    raise ConfigError(f"{path}: expected {names}, got {value!r}")


def _dataclass_of(hint: Any) -> type | None:
    if dataclasses.is_dataclass(hint):
        return hint
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        for arg in typing.get_args(hint):
            if dataclasses.is_dataclass(arg):
                return arg
    return None


def to_dict(config: Any) -> dict[str, Any]:
    """A plain, YAML- and checkpoint-safe dict of a (nested) dataclass."""
    return dataclasses.asdict(config)


#: mappings that a child config replaces whole instead of merging into its base's: a data
#: set builder's arguments belong to that data set (VOC's ``root`` next to COCO's
#: ``ann_file`` would be an error)
REPLACED_WHOLE = (("data", "train"), ("data", "val"))


def load_yaml(path: str | Path, _seen: frozenset[Path] = frozenset()) -> dict[str, Any]:
    """Read a YAML mapping; ``_base_: other.yaml`` (relative to the file) is merged underneath
    (mappings recursively, except `REPLACED_WHOLE`)."""
    path = Path(path)
    if path.resolve() in _seen:
        raise ConfigError(f"{path}: _base_ chain loops back to this file")
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader) or {}
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} invalid YAML ({getattr(err, 'problem', err)})") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    base = data.pop("_base_", None)
    if base is not None and not isinstance(base, str):
        raise ConfigError(f"{path}: _base_ must be one file name, got {base!r}")
    if base is not None:
        child = data
        data = merge(load_yaml(path.parent / base, _seen | {path.resolve()}), child)
        for section, key in REPLACED_WHOLE:
            given = child.get(section)
            if isinstance(given, Mapping) and key in given:
                data[section][key] = given[key]
    return data


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.safe_load`` that refuses a key given twice in one mapping (YAML keeps the last
    silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"a mapping key must be a plain value, got {key!r}",
                    key_node.start_mark,
                )
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; ``override`` wins."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def apply_overrides(data: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` strings; values are parsed as YAML (``1e-3``, ``[1, 2]``)."""
    out = dict(data)
    for item in overrides:
        if "=" not in item:
            hint = (
                " (a checkpoint to resume from goes after --resume-from)"
                if (item.endswith((".pt", ".pth", ".tar")))
                else ""
            )
            raise ConfigError(f"override {item!r}: expected key=value, e.g. train.epochs=10{hint}")
        dotted, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as err:
            raise ConfigError(f"override {item!r}: value is not valid YAML") from err
        keys = dotted.strip().split(".")
        node = out
        for key in keys[:-1]:
            child = node.get(key)
            node[key] = dict(child) if isinstance(child, Mapping) else {}
            node = node[key]
        node[keys[-1]] = value
    return out


@dataclass
class LabelNoiseConfig:
    """Noise put on the *training* split's labels (`agcn_pyg.data.noise`); evaluation stays clean.

    Attributes:
        drop: probability that each positive label of each training image is dropped
            (missing tags, as in weakly annotated data: the regime of the paper's Table 2).
        add: probability that each negative label becomes a spurious positive.
        seed: the noise's own seed, so that every row and training seed sees the same labels.
    """

    drop: float = 0.0
    add: float = 0.0
    seed: int = 0


@dataclass
class DataConfig:
    """Where the images and labels come from and how they are augmented.

    Attributes:
        dataset: builder name in `agcn_pyg.data.DATASETS` (``coco``, ``voc2007``,
            ``fashion550k``, ``csv``).
        train: keyword arguments of the builder for the training split.
        val: keyword arguments of the builder for the evaluation split.
        transforms: recipe in `agcn_pyg.data.TRANSFORM_RECIPES` (``paper``, ``mlgcn``,
            ``agcn_official``).
        image_size: crop size for training, resize size for testing (paper: 448).
        resize_size: training resize before the crop (paper: 512); ``None`` lets the recipe
            choose (8/7 of ``image_size``).
        hflip: the recipes' random horizontal flip in training; ``false`` for data that is
            not mirror-symmetric (digits, text, many medical images).
        normalization: ``imagenet`` or ``backbone`` (the timm model's own mean and std).
        embeddings: a ``.npz`` written by ``agcn embed-labels``, a ``.npy`` matrix or an
            ML-GCN / A-GCN ``*.pkl`` (rows in the data set's label order), or a source name
            (``minilm``, ``glove50``, ``onehot``) to compute them for the dataset's labels.
        cooccurrence: a ``.npz`` (or ML-GCN ``*_adj.pkl``); ``None`` counts the training split.
        difficult: how ``-1`` (difficult) targets enter the loss: ``ignore`` (masked),
            ``positive`` (ML-GCN) or ``negative``.
        workers: DataLoader worker processes; ``None``: one per available CPU core less one,
            at most 16 (they persist across epochs and prefetch 4 batches each).
        label_noise: corrupt the training labels (`LabelNoiseConfig`); ``None``: clean.
        decode: where end-to-end training (and its evaluation) decodes JPEGs: ``cpu`` (in
            the workers), ``gpu`` (workers read bytes; batches are decoded and transformed
            where the model runs, `agcn_pyg.data.device_decode`) or ``auto`` (``gpu`` on CUDA
            where torchvision decodes there, else ``cpu``).
    """

    dataset: str = "csv"
    train: dict[str, Any] = field(default_factory=dict)
    val: dict[str, Any] = field(default_factory=dict)
    transforms: str = "paper"
    image_size: int = 448
    resize_size: int | None = None
    hflip: bool = True
    normalization: str = "imagenet"
    embeddings: str | None = "minilm"
    cooccurrence: str | None = None
    difficult: str = "ignore"
    workers: int | None = None
    label_noise: LabelNoiseConfig | None = None
    decode: str = "auto"


@dataclass
class TrainConfig:
    """The optimisation recipe; the defaults are the paper's (SGD, lr 0.01, ÷10 every 30).

    ``step_epochs`` is one period (``30``: ÷10 after every 30 epochs) or a list of milestones
    (``[15, 30]``: ÷10 after epoch 15 and again after epoch 30, the official A-GCN code).

    ``init_from`` names a checkpoint whose weights start the run (same model config and
    labels), e.g. Fashion550K's fine-tuning on clean labels after training on noisy ones;
    unlike ``--resume`` it starts a new schedule at epoch 1.

    ``compile``: ``torch.compile`` the training step's model, backbone and head (``true``,
    ``false``, or ``auto``: on CUDA, not on the CPU); a compile failure trains eager
    (`agcn_pyg.engine.compiled`).
    """

    epochs: int = 65
    batch_size: int = 32
    optimizer: str = "sgd"
    lr: float = 0.01
    lrp: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    scheduler: str = "step"
    step_epochs: int | list[int] = 30
    gamma: float = 0.1
    warmup_epochs: float = 0.0
    loss: str = "bce"
    loss_kwargs: dict[str, Any] = field(default_factory=dict)
    clip_grad_norm: float | None = None
    amp: str = "auto"
    channels_last: bool = True
    compile: bool | str = "auto"
    ema_decay: float | None = None
    seed: int = 0
    deterministic: bool = False
    eval_every: int = 1
    max_steps_per_epoch: int | None = None
    device: str = "auto"
    init_from: str | None = None


@dataclass
class RunConfig:
    """One experiment: model, data and training, plus where its outputs go."""

    name: str = "run"
    output_dir: str = "runs"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.name


def load_run_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> RunConfig:
    """A `RunConfig` from a YAML file (or the defaults) with ``key=value`` overrides, checked
    against the whole schema (`agcn_pyg.validation.validate_run_config`) before it is returned:
    a bad value stops here, before any data is read.

    Raises:
        ConfigError: naming the first invalid key.
    """
    # Imported here: the schema reads the registries of `data`, `models` and `engine`, which
    # import this module.
    from agcn_pyg.validation import validate_run_config

    data = load_yaml(path) if path is not None else {}
    cfg = from_dict(RunConfig, apply_overrides(data, overrides))
    validate_run_config(cfg)
    return cfg
