"""The run config: dataclass sections, YAML loading and ``key=value`` overrides.

A `RunConfig` holds a `agcn_pyg.models.AGCNConfig` (``model``), a `DataConfig` and a
`TrainConfig`. Every field is declared once, with its default, rules and docstring
(`agcn_pyg.schema`): a section checks itself when it is built, so a config that exists has met
the schema, whether it came from YAML, overrides, ``dataclasses.replace`` or code.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
import yaml

from agcn_pyg.data import (
    DATASETS,
    DECODE_MODES,
    DIFFICULT_POLICIES,
    EMBEDDING_SOURCES,
    TRANSFORM_RECIPES,
)
from agcn_pyg.data.transforms import NORMALIZATIONS
from agcn_pyg.errors import ConfigError
from agcn_pyg.losses import LOSSES
from agcn_pyg.models.agcn import AGCNConfig
from agcn_pyg.optim import OPTIMIZERS, SCHEDULERS
from agcn_pyg.schema import (
    BOOL,
    MAPPING,
    NON_NEGATIVE,
    NONEMPTY,
    POSITIVE,
    PROBABILITY,
    SEED,
    Custom,
    Rule,
    Section,
    brief,
    check_option_types,
    coerce,
    did_you_mean,
    from_booleans,
    int_at_least,
    int_between,
    is_int,
    one_of,
    optional,
    setting,
    validate,
)
from agcn_pyg.selection import SELECT_MODES
from agcn_pyg.variants import VARIANTS, get_variant

#: the largest ``data.image_size``: timm's backbones are trained at 1024 px or less, and one
#: batch of 32 crops of 4096 px is 6 GiB of float32 before the backbone runs; a bound here
#: turns a typo (``100000000``) into one line instead of a petabyte allocation
MAX_IMAGE_SIZE = 4096
#: ``train.amp``: bf16 where the GPU supports it else fp16 (``auto``), or forced, or off
AMP_MODES = ("auto", "bf16", "fp16", "off")
#: what ``train.device`` may name besides ``auto``
DEVICE_TYPES = ("cpu", "cuda", "mps")
#: dataset builder arguments that the engine sets itself
ENGINE_SET = frozenset({"transform"})
#: ``data.embeddings`` values read as files (any other value must name an embedding source)
EMBEDDING_FILES = (".npz", ".npy", ".pkl")

C = TypeVar("C")


def from_dict(cls: type[C], data: Mapping[str, Any], where: str = "") -> C:
    """Build dataclass ``cls`` from a mapping, naming unknown keys and nested sections."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known), key=str)  # YAML keys may be numbers too
    if unknown:
        prefix = f"{where}." if where else ""
        key = (
            unknown[0]
            if isinstance(unknown[0], str) and len(unknown[0]) <= 80
            else brief(unknown[0])
        )
        raise ConfigError(
            f"unknown config key {prefix}{key}; valid keys: {', '.join(sorted(known))}"
            f"{did_you_mean(unknown[0], known)}"
        )
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        sub = _dataclass_of(hints[name])
        path = f"{where}.{name}" if where else name
        if sub and value is not None:
            kwargs[name] = from_dict(sub, value, path)
        else:
            kwargs[name] = coerce(from_booleans(known[name], value), hints[name], path)
    return cls(**kwargs)


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
REPLACED_WHOLE = (("data", "train"), ("data", "val"), ("data", "test"))


#: the configs shipped with the package (the repository's ``configs/``, package data)
SHIPPED_CONFIGS = Path(__file__).parent / "configs"


def find_config(path: str | Path) -> Path:
    """The config file ``path`` names: the file itself where it exists, else a shipped one
    (`SHIPPED_CONFIGS`) when ``path`` is a bare name or ``configs/<name>``, with or without
    ``.yaml`` (``coco_agcn``, ``configs/coco_agcn.yaml``), so the names work from an installed
    wheel, outside the repository."""
    path = Path(path)
    if path.is_file() or path.parent not in (Path(), Path("configs")):
        return path
    for name in (path.name, f"{path.name}.yaml"):
        if (SHIPPED_CONFIGS / name).is_file():
            return SHIPPED_CONFIGS / name
    return path


def shipped_configs() -> list[str]:
    """The names of the shipped configs (``coco_agcn``, ...)."""
    return sorted(p.stem for p in SHIPPED_CONFIGS.glob("*.yaml"))


def load_yaml(
    path: str | Path, _seen: frozenset[Path] = frozenset(), *, variants: bool = False
) -> dict[str, Any]:
    """Read a YAML mapping; ``_base_: other.yaml`` (relative to the file) is merged underneath
    (mappings recursively, except `REPLACED_WHOLE`). The first file may name a shipped config
    (`find_config`).

    With ``variants`` (as `load_run_config` reads a file), a file that names its variant
    (``variant: mlgcn``) reads as its base, then the variant's settings, then its own keys:
    the file has the last word over its variant. Without, the variant stays a name, for
    `resolve_variant` to put over the whole mapping.
    """
    path = find_config(path) if not _seen else Path(path)
    if path.resolve() in _seen:
        raise ConfigError(f"{path}: _base_ chain loops back to this file")
    if not path.is_file():
        shipped = f" (shipped configs: {', '.join(shipped_configs())})" if not _seen else ""
        raise ConfigError(f"{path}: config file not found{shipped}")
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
        raise ConfigError(f"{path}: _base_ must be one file name, got {brief(base)}")
    seen = _seen | {path.resolve()}
    under = load_yaml(path.parent / base, seen, variants=variants) if base is not None else {}
    if variants and data.get("variant") is not None:
        # A file that names its variant reads as its base, then the variant, then its own keys.
        under = with_variant(under, data["variant"], f"{path}: ")
    out = merge(under, data)
    for section, key in REPLACED_WHOLE:
        given = data.get(section)
        if isinstance(given, Mapping) and key in given:
            out[section][key] = given[key]
    return out


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.safe_load`` that refuses a key given twice in one mapping (YAML keeps the last
    silently), and every alias (``*name``) where the parser meets it, before anything is
    expanded: a few hundred bytes of nested aliases expand to gigabytes (a "billion laughs"),
    and a config is short enough to write out (``_base_`` shares settings between files)."""

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None,
                None,
                f"YAML aliases (*{event.anchor[:40]}) are not accepted in a config: "
                "write the value out, or share settings through _base_",
                event.start_mark,
            )
        return super().compose_node(parent, index)

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
            raise ConfigError(
                f"override {brief(item)}: expected key=value, e.g. train.epochs=10{hint}"
            )
        dotted, raw = item.split("=", 1)
        try:
            value = yaml.load(raw, Loader=_UniqueKeyLoader)
        except yaml.YAMLError as err:
            problem = getattr(err, "problem", None) or "not valid YAML"
            raise ConfigError(f"override {brief(item)}: {problem}") from None
        keys = dotted.strip().split(".")
        node = out
        for key in keys[:-1]:
            child = node.get(key)
            node[key] = dict(child) if isinstance(child, Mapping) else {}
            node = node[key]
        node[keys[-1]] = value
    return out


@dataclass
class LabelNoiseConfig(Section):
    """Noise put on the *training* split's labels (`agcn_pyg.data.noise`); evaluation stays
    clean."""

    section: ClassVar[str] = "data.label_noise."

    drop: float = setting(0.0, PROBABILITY)
    """Probability that each positive label of each training image is dropped (missing tags,
    as in weakly annotated data: the regime of the paper's Table 2)."""
    add: float = setting(0.0, PROBABILITY)
    """Probability that each negative label becomes a spurious positive."""
    seed: int = setting(0, Rule(is_int, "an int"))
    """The noise's own seed, so that every row and training seed sees the same labels."""


@dataclass
class HoldoutConfig(Section):
    """A validation split carved out of the training images (`agcn_pyg.data.holdout`), for a
    data set whose only other split is its test set: these images choose the epoch and are
    never trained on, and ``data.val`` becomes the reported split (`agcn_pyg.selection`)."""

    section: ClassVar[str] = "data.holdout."

    fraction: float = setting(
        0.1, Rule(lambda v: PROBABILITY.ok(v) and 0 < v < 1, "a number in (0, 1)")
    )
    """The share of the training images held out."""
    seed: int = setting(0, SEED)
    """Which images: the seed of the permutation that picks them."""


def _builder_options(key: str, options: Any, data: Any) -> None:
    """``data.train`` / ``data.val`` against the signature of the dataset builder."""
    DATASETS.check_options(data.dataset, options, field=key, reserved=ENGINE_SET)
    check_option_types(key, DATASETS.get(data.dataset), options)


def _embeddings(value: object) -> bool:
    if not isinstance(value, str):
        return False
    path = Path(value)
    return value in EMBEDDING_SOURCES or path.suffix.lower() in EMBEDDING_FILES or path.exists()


_SPLIT_RULES = (MAPPING, Custom(_builder_options))


def _test_split(key: str, value: Any, data: Any) -> None:
    if value and value == data.val:
        raise ConfigError(
            f"{key}: the same split as data.val, which chooses the epoch when data.test is "
            "given; leave data.test empty to report data.val, or name another split"
        )


def _holdout_beside_test(key: str, value: Any, data: Any) -> None:
    if value is not None and data.test:
        raise ConfigError(
            f"{key}: with a holdout, data.val is the reported split, so data.test would go "
            "unused; give data.holdout (choose on held-out training images, report data.val) "
            "or data.test (choose on data.val, report data.test), not both"
        )


@dataclass
class DataConfig(Section):
    """Where the images and labels come from and how they are augmented."""

    section: ClassVar[str] = "data."

    dataset: str = setting("csv", one_of(DATASETS.names))
    """Builder name in `agcn_pyg.data.DATASETS` (``coco``, ``voc2007``, ``fashion550k``,
    ``csv``)."""
    train: dict[str, Any] = setting(None, *_SPLIT_RULES, factory=dict)
    """Keyword arguments of the builder for the training split."""
    val: dict[str, Any] = setting(None, *_SPLIT_RULES, factory=dict)
    """Keyword arguments of the builder for the validation split: it chooses the epoch, or,
    with a holdout, it is the reported split (`agcn_pyg.selection`)."""
    test: dict[str, Any] = setting(None, *_SPLIT_RULES, Custom(_test_split), factory=dict)
    """Keyword arguments of the builder for the reported split when ``data.val`` only chooses
    the epoch (Fashion550K's test photos); ``{}``: ``data.val`` is reported."""
    holdout: HoldoutConfig | None = setting(None, Custom(_holdout_beside_test))
    """Carve the selection split out of the training images (`HoldoutConfig`); ``None``:
    ``data.val`` chooses the epoch."""
    transforms: str = setting("paper", one_of(TRANSFORM_RECIPES.names))
    """Recipe in `agcn_pyg.data.TRANSFORM_RECIPES` (``paper``, ``mlgcn``, ``agcn_official``)."""
    image_size: int = setting(448, int_between(1, MAX_IMAGE_SIZE))
    """Crop size for training, resize size for testing (paper: 448); at most
    `MAX_IMAGE_SIZE`."""
    resize_size: int | None = setting(
        None,
        Rule(
            lambda v, d: v is None or (is_int(v) and d.image_size <= v <= 2 * MAX_IMAGE_SIZE),
            lambda d: f"null or an int in [data.image_size ({d.image_size}), {2 * MAX_IMAGE_SIZE}]",
            relational=True,
        ),
    )
    """Training resize before the crop (paper: 512); ``None`` lets the recipe choose (8/7 of
    ``image_size``)."""
    hflip: bool = setting(True, BOOL)
    """The recipes' random horizontal flip in training; ``false`` for data that is not
    mirror-symmetric (digits, text, many medical images)."""
    normalization: str = setting("imagenet", one_of(NORMALIZATIONS.names))
    """``imagenet`` or ``backbone`` (the timm model's own mean and std)."""
    embeddings: str | None = setting(
        "minilm",
        optional(
            Rule(_embeddings, ""),
            "null, an embeddings file (.npz, .npy, .pkl) or a source "
            f"({EMBEDDING_SOURCES.names()})",
        ),
    )
    """A ``.npz`` written by ``agcn embed-labels``, a ``.npy`` matrix or an ML-GCN / A-GCN
    ``*.pkl`` (rows in the data set's label order), or a source name (``minilm``,
    ``glove50``, ``onehot``) to compute them for the dataset's labels."""
    cooccurrence: str | None = setting(
        None, optional(NONEMPTY, "null (count the training split) or a file")
    )
    """A ``.npz`` (or ML-GCN ``*_adj.pkl``); ``None`` counts the training split."""
    difficult: str = setting("ignore", one_of(DIFFICULT_POLICIES.names))
    """How ``-1`` (difficult) targets enter the loss: ``ignore`` (masked), ``positive``
    (ML-GCN) or ``negative``."""
    workers: int | None = setting(
        None, optional(int_at_least(0), "null (one per CPU core) or an int ≥ 0")
    )
    """DataLoader worker processes; ``None``: one per available CPU core less one, at most 16
    (they persist across epochs and prefetch 4 batches each)."""
    label_noise: LabelNoiseConfig | None = None
    """Corrupt the training labels (`LabelNoiseConfig`); ``None``: clean."""
    decode: str = setting("auto", one_of(DECODE_MODES))
    """Where end-to-end training (and its evaluation) decodes JPEGs: ``cpu`` (in the workers),
    ``gpu`` (workers read bytes; batches are decoded and transformed where the model runs,
    `agcn_pyg.data.device_decode`) or ``auto`` (``gpu`` on CUDA where torchvision decodes
    there, else ``cpu``)."""


def _step_epochs(value: object) -> bool:
    if isinstance(value, list):
        ok = all(is_int(v) and v >= 1 for v in value)
        return ok and all(a < b for a, b in itertools.pairwise(value))
    return is_int(value) and value >= 1


def _device(value: object) -> bool:
    if value == "auto":
        return True
    try:
        return torch.device(str(value)).type in DEVICE_TYPES
    except (RuntimeError, ValueError):
        return False


def _loss_options(key: str, options: Any, train: Any) -> None:
    """``train.loss_kwargs`` against the loss's signature (names and, where the parameter's
    type is plain, values)."""
    LOSSES.check_options(train.loss, options, field=key)
    check_option_types(key, LOSSES.get(train.loss), options)


@dataclass
class TrainConfig(Section):
    """The optimisation recipe; the defaults are the paper's (SGD, lr 0.01, ÷10 every 30)."""

    section: ClassVar[str] = "train."

    epochs: int = setting(65, int_at_least(1))
    batch_size: int = setting(32, int_at_least(1))
    optimizer: str = setting("sgd", one_of(OPTIMIZERS.names))
    """`agcn_pyg.optim.OPTIMIZERS`: ``sgd`` decays every weight, ``adamw`` skips 1-d ones."""
    lr: float = setting(0.01, POSITIVE)
    """The head's learning rate."""
    lrp: float = setting(0.1, NON_NEGATIVE)
    """The backbone's learning rate is ``lr · lrp`` (ML-GCN's groups)."""
    momentum: float = setting(0.9, Rule(PROBABILITY.ok, "a number in [0, 1]"))
    weight_decay: float = setting(1e-4, NON_NEGATIVE)
    scheduler: str = setting("step", one_of(SCHEDULERS.names))
    """`agcn_pyg.optim.SCHEDULERS`, stepped per iteration."""
    step_epochs: int | list[int] = setting(
        30, Rule(_step_epochs, "an int ≥ 1 or an increasing list of ints ≥ 1")
    )
    """One period (``30``: ÷10 after every 30 epochs) or a list of milestones (``[15, 30]``:
    ÷10 after epoch 15 and again after epoch 30, the official A-GCN code)."""
    gamma: float = setting(0.1, POSITIVE)
    warmup_epochs: float = setting(0.0, NON_NEGATIVE)
    loss: str = setting("bce", one_of(LOSSES.names))
    """`agcn_pyg.losses.LOSSES`: ``bce`` (Eq. 2) or ``asl``."""
    loss_kwargs: dict[str, Any] = setting(None, MAPPING, Custom(_loss_options), factory=dict)
    clip_grad_norm: float | None = setting(None, optional(POSITIVE))
    amp: str = setting("auto", one_of(AMP_MODES), booleans=("auto", "off"))
    """bf16 where the GPU supports it else fp16 (``auto``), forced, or ``off``. YAML's
    unquoted ``off``/``no``/``false`` mean ``off``, and ``on``/``yes``/``true`` mean ``auto``."""
    channels_last: bool = setting(True, BOOL)
    compile: bool | str = setting(
        "auto", Rule(lambda v: isinstance(v, bool) or v == "auto", "auto, true or false")
    )
    """``torch.compile`` the training step's model, backbone and head (``true``, ``false``, or
    ``auto``: on CUDA, not on the CPU); a compile failure trains eager
    (`agcn_pyg.engine.compiled`)."""
    ema_decay: float | None = setting(
        None, optional(Rule(lambda v: POSITIVE.ok(v) and v < 1, "a number in (0, 1)"))
    )
    seed: int = setting(0, SEED)
    deterministic: bool = setting(False, BOOL)
    eval_every: int = setting(1, int_at_least(1))
    select: str = setting("auto", one_of(SELECT_MODES))
    """Which evaluated epoch ``best.pt`` and ``eval/`` hold (`agcn_pyg.selection`): ``best``
    (the highest mAP on the selection split), ``last``, or ``auto``: ``last`` when the
    selection split is the reported split, else ``best``."""
    max_steps_per_epoch: int | None = setting(None, optional(int_at_least(1)))
    device: str = setting(
        "auto",
        Rule(_device, f"auto or a torch device of type {', '.join(DEVICE_TYPES)} (e.g. cuda:1)"),
    )
    init_from: str | None = setting(None, optional(NONEMPTY, "null or a checkpoint file"))
    """A checkpoint whose weights start the run (same model config and labels), e.g.
    Fashion550K's fine-tuning on clean labels after training on noisy ones; unlike
    ``--resume`` it starts a new schedule at epoch 1."""


#: the longest ``name``, in UTF-8 bytes: a file name holds 255 bytes on common file systems,
#: and a run derives longer ones from its name (``<name>.replaced-<YYYYmmdd-HHMMSS>-<n>``,
#: 30 bytes more; ``.<name>.lock``)
RUN_NAME_MAX_BYTES = 200


def _run_name(value: object) -> bool:
    """One folder inside ``output_dir``: ``.`` would make ``output_dir`` itself the run folder
    (and ``--overwrite`` would move every run in it), a separator a folder elsewhere."""
    if not NONEMPTY.ok(value) or value in (".", "..") or any(c in value for c in "/\\\0"):
        return False
    return len(value.encode("utf-8", "surrogatepass")) <= RUN_NAME_MAX_BYTES


@dataclass
class RunConfig(Section):
    """One experiment: model, data and training, plus where its outputs go."""

    name: str = setting(
        "run",
        Rule(
            _run_name,
            "a plain folder name (not '.' or '..', no / or \\, at most "
            f"{RUN_NAME_MAX_BYTES} UTF-8 bytes)",
        ),
    )
    """The run folder's name: one folder inside ``output_dir``."""
    variant: str | None = setting(None, optional(one_of(VARIANTS.registered)))
    """The named variant this run is (`agcn_pyg.variants`); its settings were put in when the
    config was resolved (`load_run_config`: over the file's base, under the file's own keys;
    over the whole file when an override names it), so the sections below already hold
    them."""
    output_dir: str = setting("runs", NONEMPTY)
    model: AGCNConfig = setting(
        None, Rule(lambda v: isinstance(v, AGCNConfig), "a mapping"), factory=AGCNConfig
    )
    data: DataConfig = setting(
        None, Rule(lambda v: isinstance(v, DataConfig), "a mapping"), factory=DataConfig
    )
    train: TrainConfig = setting(
        None, Rule(lambda v: isinstance(v, TrainConfig), "a mapping"), factory=TrainConfig
    )

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.name


def expand_user(cfg: RunConfig) -> RunConfig:
    """``cfg`` with a leading ``~`` expanded in the paths it names (``output_dir``,
    ``train.init_from``, a ``model.pretrained`` file): YAML and ``key=value`` overrides reach
    no shell, and ``~/runs`` would otherwise be a folder called ``~``."""

    def expand(value: Any) -> Any:
        return os.path.expanduser(value) if isinstance(value, str) else value

    return dataclasses.replace(
        cfg,
        output_dir=expand(cfg.output_dir),
        model=dataclasses.replace(cfg.model, pretrained=expand(cfg.model.pretrained)),
        train=dataclasses.replace(cfg.train, init_from=expand(cfg.train.init_from)),
    )


def load_run_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> RunConfig:
    """A `RunConfig` from a YAML file (or the defaults) with ``key=value`` overrides; the
    schema runs as its sections are built, so a bad value stops here, before any data is read.

    The file's variant goes between its base and its own keys (`load_yaml` with
    ``variants``), so a resolved config (``--print-config``, a run's ``config.yaml``) loads
    back as itself; a variant named among the overrides (``variant=mlgcn``, as ``agcn
    run-table1`` names its rows) goes over the whole file instead (`resolve_variant`).

    Raises:
        ConfigError: naming the first invalid key.
    """
    overrides = list(overrides)
    if path is None or names_variant(overrides):
        cfg = build_run_config(load_yaml(path) if path is not None else {}, overrides)
    else:
        cfg = from_dict(RunConfig, apply_overrides(load_yaml(path, variants=True), overrides))
    return expand_user(cfg)


def build_run_config(data: Mapping[str, Any], overrides: Iterable[str] = ()) -> RunConfig:
    """The `RunConfig` of a config mapping (as `load_yaml` reads it) with ``key=value``
    overrides, its variant resolved over it (`resolve_variant`)."""
    return from_dict(RunConfig, resolve_variant(data, overrides))


def names_variant(overrides: Iterable[str]) -> bool:
    """Whether one of the ``key=value`` overrides names the variant (``variant=...``)."""
    return any(item.split("=", 1)[0].strip() == "variant" for item in overrides)


def resolve_variant(data: Mapping[str, Any], overrides: Iterable[str] = ()) -> dict[str, Any]:
    """The config mapping ``data`` with its variant's settings over it and the ``key=value``
    ``overrides`` over both: a config names what it is (``variant: mlgcn``), the variant says
    what that means, and the command line has the last word. An override may name the variant
    itself (``variant=mlgcn``), replacing the mapping's."""
    overrides = list(overrides)
    name = apply_overrides(data, overrides).get("variant")
    if name is None:
        return apply_overrides(data, overrides)
    return apply_overrides(with_variant(data, name), overrides)


def with_variant(data: Mapping[str, Any], name: object, where: str = "") -> dict[str, Any]:
    """``data`` with the settings of variant ``name`` over it, each replacing the value whole
    (the official recipes' ``loss_kwargs: {}`` drops a base's ASL options)."""
    if not isinstance(name, str) or name not in VARIANTS:
        raise ConfigError(
            f"{where}variant: expected one of {VARIANTS.registered()}, got {brief(name)}"
        )
    out = dict(data)
    for section, values in get_variant(name).sections().items():
        given = out.get(section)
        out[section] = {**(given if isinstance(given, Mapping) else {}), **values}
    return out


def validate_run_config(cfg: RunConfig) -> None:
    """Check ``cfg`` again, every section (a config changed in place after it was built)."""
    if not isinstance(cfg, RunConfig):
        raise ConfigError(f"expected a RunConfig, got {type(cfg).__name__}")
    validate(cfg)
