"""The one schema of a `RunConfig`, checked once, before anything runs.

`validate_run_config` checks every section: each value's type and range, each registry name
(``model.graph``, ``model.gnn``, ``model.guard``, ``model.gnn_init``, ``data.dataset``,
``data.transforms``, ``data.difficult``, ``data.normalization``, ``data.embeddings``,
``train.optimizer``, ``train.scheduler``, ``train.loss``), and each ``*_kwargs`` against the
signature of what it is passed to (``data.train`` and ``data.val`` against the dataset builder,
``train.loss_kwargs`` against the loss; ``model.backbone_kwargs`` against `BACKBONE_KWARGS`
and then timm's own model, built on the meta device). `agcn_pyg.config.load_run_config` runs it
on every config it loads, and the trainer runs it for a `RunConfig` built in code. Each failure
is one `ConfigError` line that names the key, the value and what is allowed.

`validate_model_config` is the ``model`` section alone, without timm; `ModelConfig` runs it
when it is built, so `create_model`'s options meet the same checks.

The modules these values reach do not check them again: they look names up in their
registries, and an unknown name there is a `RegistryError` (a `ConfigError`).
"""

from __future__ import annotations

import inspect
import itertools
import math
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agcn_pyg.config import (
    AMP_MODES,
    BACKBONE_KWARGS,
    EMBEDDING_NORMS,
    LG_BIAS_GRAPHS,
    POOLS,
    DataConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
    coerce,
    is_int,
    is_number,
    refused_backbone_kwargs,
)
from agcn_pyg.errors import ConfigError
from agcn_pyg.registry import Registry

# The registries are imported inside the section checks: they live in `models`, `data` and
# `engine`, which import `agcn_pyg.config`, and `agcn_pyg.config` and `ModelConfig` call in here.

#: what ``train.device`` may name besides ``auto``
DEVICE_TYPES = ("cpu", "cuda", "mps")
#: dataset builder arguments that the engine sets itself
ENGINE_SET = frozenset({"transform"})
#: ``data.embeddings`` values read as files (any other value must name an embedding source)
EMBEDDING_FILES = (".npz", ".npy", ".pkl")


@dataclass(frozen=True)
class Check:
    """One rule: ``key`` (holding ``value``) must satisfy ``ok``; ``expected`` says what is
    allowed. ``ok`` is called only once every earlier rule of its section has passed, so it
    may rely on them (``data.resize_size`` on ``data.image_size``)."""

    key: str
    value: Any
    ok: Callable[[Any], bool]
    expected: str


def _run(checks: list[Check]) -> None:
    for check in checks:
        if not check.ok(check.value):
            raise ConfigError(f"{check.key}: expected {check.expected}, got {check.value!r}")


def _int_at_least(low: int) -> Callable[[Any], bool]:
    return lambda v: is_int(v) and v >= low


def _finite(value: object) -> bool:
    return is_number(value) and math.isfinite(value)


def _positive(value: object) -> bool:
    return _finite(value) and value > 0


def _non_negative(value: object) -> bool:
    return _finite(value) and value >= 0


def _unit_interval(value: object) -> bool:
    return _finite(value) and 0 <= value <= 1


def _optional(ok: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or ok(v)


def _bool(value: object) -> bool:
    return isinstance(value, bool)


def _in(options: tuple[str, ...]) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, str) and v in options


def _seed(value: object) -> bool:
    return is_int(value) and 0 <= value < 2**63


def _step_epochs(value: object) -> bool:
    if isinstance(value, list):
        ok = all(is_int(v) and v >= 1 for v in value)
        return ok and all(a < b for a, b in itertools.pairwise(value))
    return is_int(value) and value >= 1


def _device(value: object) -> bool:
    import torch

    if value == "auto":
        return True
    try:
        return torch.device(str(value)).type in DEVICE_TYPES
    except (RuntimeError, ValueError):
        return False


def _registered(key: str, value: Any, registry: Registry[Any]) -> Check:
    return Check(key, value, lambda v: v in registry, f"one of {registry.names()}")


def _nonempty_str(value: object) -> bool:
    return isinstance(value, str) and value != ""


# --- sections -------------------------------------------------------------------------------


def validate_run_config(cfg: RunConfig) -> None:
    """Raise `ConfigError` on the first invalid field of ``cfg``, section by section (top
    level, ``model``, ``data``, ``train``), then ask timm about ``model.backbone`` and
    ``model.backbone_kwargs`` (`check_backbone`).

    A ``*_kwargs`` value given as a string where its parameter is a float (YAML 1.1 reads
    ``1e-3`` so) is replaced by the float, as `agcn_pyg.config.from_dict` does for fields.
    """
    if not isinstance(cfg, RunConfig):
        raise ConfigError(f"expected a RunConfig, got {type(cfg).__name__}")
    _run(
        [
            Check("name", cfg.name, _nonempty_str, "a non-empty string"),
            Check("output_dir", cfg.output_dir, _nonempty_str, "a non-empty string"),
            Check("model", cfg.model, lambda v: isinstance(v, ModelConfig), "a mapping"),
            Check("data", cfg.data, lambda v: isinstance(v, DataConfig), "a mapping"),
            Check("train", cfg.train, lambda v: isinstance(v, TrainConfig), "a mapping"),
        ]
    )
    validate_model_config(cfg.model)
    _check_data(cfg.data)
    _check_train(cfg.train)
    _check_speed(cfg.data, cfg.train)
    check_backbone(cfg.model)


def validate_model_config(m: ModelConfig) -> None:
    """The ``model`` section: every field's type, range and registry name, and
    ``backbone_kwargs`` against `BACKBONE_KWARGS` (timm itself is `check_backbone`'s)."""
    from agcn_pyg.graph import list_guards
    from agcn_pyg.models.gnn import GNN_INITS, GNN_LAYERS
    from agcn_pyg.models.label_graph import list_graphs

    graphs, guards = tuple(list_graphs()), tuple(list_guards())
    one = "an int ≥ 1"
    _run(
        [
            Check("model.backbone", m.backbone, _nonempty_str, "a timm model name"),
            Check("model.num_classes", m.num_classes, _int_at_least(1), one),
            Check("model.graph", m.graph, _in(graphs), f"one of {list(graphs)}"),
            _registered("model.gnn", m.gnn, GNN_LAYERS),
            Check("model.guard", m.guard, _in(guards), f"one of {list(guards)}"),
            Check("model.pool", m.pool, _in(POOLS), f"one of {list(POOLS)}"),
            Check(
                "model.pretrained",
                m.pretrained,
                lambda v: isinstance(v, bool | str),
                "true, false or a path",
            ),
            Check("model.alpha", m.alpha, _non_negative, "a number ≥ 0"),
            Check("model.num_layers", m.num_layers, _int_at_least(1), one),
            Check("model.hidden_dim", m.hidden_dim, _int_at_least(1), one),
            Check("model.negative_slope", m.negative_slope, _finite, "a finite number"),
            Check("model.gnn_bias", m.gnn_bias, _bool, "true or false"),
            Check("model.heads", m.heads, _int_at_least(1), one),
            Check("model.lg_dim", m.lg_dim, _optional(_int_at_least(1)), "null or an int ≥ 1"),
            Check("model.lg_bias", m.lg_bias, _bool, "true or false"),
            Check(
                "model.lg_bias",
                m.lg_bias,
                lambda v: not v or m.graph in LG_BIAS_GRAPHS,
                f"false for graph {m.graph!r} (only {list(LG_BIAS_GRAPHS)} have 1×1 convolutions)",
            ),
            _registered("model.gnn_init", m.gnn_init, GNN_INITS),
            Check("model.classifier_bias", m.classifier_bias, _bool, "true or false"),
            Check(
                "model.embedding_norm",
                m.embedding_norm,
                _in(EMBEDDING_NORMS),
                f"one of {list(EMBEDDING_NORMS)}",
            ),
            Check(
                "model.embedding_norm",
                m.embedding_norm,
                lambda v: v == "none" or m.num_classes >= 2,
                "'none' for a single label",
            ),
            Check("model.t", m.t, lambda v: _finite(v) and 0 < v <= 1, "a number in (0, 1]"),
            Check("model.p", m.p, lambda v: _finite(v) and 0 < v <= 1, "a number in (0, 1]"),
            Check("model.reweight", m.reweight, _bool, "true or false"),
            Check(
                "model.backbone_kwargs",
                m.backbone_kwargs,
                lambda v: isinstance(v, dict),
                "a mapping",
            ),
        ]
    )
    if refused := refused_backbone_kwargs(m.backbone_kwargs):
        raise ConfigError(
            f"model.backbone_kwargs.{refused[0]}: expected one of {sorted(BACKBONE_KWARGS)} "
            "with a value that names no file (weights come through model.pretrained)"
        )


def _check_data(d: DataConfig) -> None:
    """The ``data`` section: registry names, sizes, the builder arguments of both splits
    against the dataset builder's signature, and ``label_noise``."""
    from agcn_pyg.data import (
        DATASETS,
        DIFFICULT_POLICIES,
        EMBEDDING_SOURCES,
        TRANSFORM_RECIPES,
    )
    from agcn_pyg.engine.inputs import NORMALIZATIONS

    sources = EMBEDDING_SOURCES.names()
    checks = [
        _registered("data.dataset", d.dataset, DATASETS),
        Check("data.train", d.train, lambda v: isinstance(v, dict), "a mapping"),
        Check("data.val", d.val, lambda v: isinstance(v, dict), "a mapping"),
        _registered("data.transforms", d.transforms, TRANSFORM_RECIPES),
        Check("data.image_size", d.image_size, _int_at_least(1), "an int ≥ 1"),
        Check(
            "data.resize_size",
            d.resize_size,
            lambda v: v is None or (is_int(v) and v >= d.image_size),
            f"null or an int ≥ data.image_size ({d.image_size})",
        ),
        Check("data.hflip", d.hflip, _bool, "true or false"),
        Check(
            "data.normalization",
            d.normalization,
            _in(NORMALIZATIONS),
            f"one of {list(NORMALIZATIONS)}",
        ),
        Check(
            "data.embeddings",
            d.embeddings,
            _optional(lambda v: isinstance(v, str) and (v in EMBEDDING_SOURCES or _is_file(v))),
            f"null, an embeddings file ({', '.join(EMBEDDING_FILES)}) or a source ({sources})",
        ),
        Check(
            "data.cooccurrence",
            d.cooccurrence,
            _optional(_nonempty_str),
            "null (count the training split) or a file",
        ),
        _registered("data.difficult", d.difficult, DIFFICULT_POLICIES),
        Check(
            "data.workers",
            d.workers,
            _optional(_int_at_least(0)),
            "null (one per CPU core) or an int ≥ 0",
        ),
    ]
    n = d.label_noise
    if n is not None:
        probability = "a probability in [0, 1]"
        checks += [
            Check("data.label_noise.drop", n.drop, _unit_interval, probability),
            Check("data.label_noise.add", n.add, _unit_interval, probability),
            Check("data.label_noise.seed", n.seed, is_int, "an int"),
        ]
    _run(checks)
    for split in ("train", "val"):
        key = f"data.{split}"
        options = getattr(d, split)
        DATASETS.check_options(d.dataset, options, field=key, reserved=ENGINE_SET)
        check_option_types(key, DATASETS.get(d.dataset), options)


def _check_train(t: TrainConfig) -> None:
    """The ``train`` section: ranges, registry names, and ``loss_kwargs`` against the loss's
    signature (names and, where the parameter's type is plain, values)."""
    from agcn_pyg.engine.losses import LOSSES
    from agcn_pyg.engine.optim import OPTIMIZERS, SCHEDULERS

    one = "an int ≥ 1"
    _run(
        [
            Check("train.epochs", t.epochs, _int_at_least(1), one),
            Check("train.batch_size", t.batch_size, _int_at_least(1), one),
            _registered("train.optimizer", t.optimizer, OPTIMIZERS),
            Check("train.lr", t.lr, _positive, "a finite number > 0"),
            Check("train.lrp", t.lrp, _non_negative, "a finite number ≥ 0"),
            Check(
                "train.momentum",
                t.momentum,
                _unit_interval,
                "a number in [0, 1]",
            ),
            Check(
                "train.weight_decay",
                t.weight_decay,
                _non_negative,
                "a finite number ≥ 0",
            ),
            _registered("train.scheduler", t.scheduler, SCHEDULERS),
            Check(
                "train.step_epochs",
                t.step_epochs,
                _step_epochs,
                "an int ≥ 1 or an increasing list of ints ≥ 1",
            ),
            Check("train.gamma", t.gamma, _positive, "a finite number > 0"),
            Check(
                "train.warmup_epochs",
                t.warmup_epochs,
                _non_negative,
                "a finite number ≥ 0",
            ),
            _registered("train.loss", t.loss, LOSSES),
            Check("train.loss_kwargs", t.loss_kwargs, lambda v: isinstance(v, dict), "a mapping"),
            Check(
                "train.clip_grad_norm",
                t.clip_grad_norm,
                _optional(_positive),
                "null or a finite number > 0",
            ),
            Check("train.amp", t.amp, _in(AMP_MODES), f"one of {list(AMP_MODES)}"),
            Check("train.channels_last", t.channels_last, _bool, "true or false"),
            Check(
                "train.ema_decay",
                t.ema_decay,
                _optional(lambda v: _finite(v) and 0 < v < 1),
                "null or a number in (0, 1)",
            ),
            Check(
                "train.seed", t.seed, lambda v: is_int(v) and 0 <= v < 2**63, "an int in [0, 2**63)"
            ),
            Check("train.deterministic", t.deterministic, _bool, "true or false"),
            Check("train.eval_every", t.eval_every, _int_at_least(1), one),
            Check(
                "train.max_steps_per_epoch",
                t.max_steps_per_epoch,
                _optional(_int_at_least(1)),
                "null or an int ≥ 1",
            ),
            Check(
                "train.device",
                t.device,
                _device,
                f"auto or a torch device of type {', '.join(DEVICE_TYPES)} (e.g. cuda:1)",
            ),
            Check(
                "train.init_from",
                t.init_from,
                _optional(_nonempty_str),
                "null or a checkpoint file",
            ),
        ]
    )
    LOSSES.check_options(t.loss, t.loss_kwargs, field="train.loss_kwargs")
    check_option_types("train.loss_kwargs", LOSSES.get(t.loss), t.loss_kwargs)


def _check_speed(d: DataConfig, t: TrainConfig) -> None:
    """``train.compile`` and ``data.decode``: how a step runs, not what it computes."""
    from agcn_pyg.data import DECODE_MODES

    _run(
        [
            Check(
                "train.compile",
                t.compile,
                lambda v: isinstance(v, bool) or v == "auto",
                "auto, true or false",
            ),
            Check("data.decode", d.decode, _in(DECODE_MODES), f"one of {list(DECODE_MODES)}"),
        ]
    )


def check_backbone(m: ModelConfig) -> None:
    """``model.backbone`` must be a timm model, and timm must accept ``model.backbone_kwargs``:
    it builds the network with them on the meta device (no memory, no weights), so an option
    the architecture does not take is found before anything runs."""
    import timm
    import torch

    if not timm.is_model(m.backbone):
        raise ConfigError(
            f"model.backbone: unknown timm model {m.backbone!r} (see timm.list_models())"
        )
    if not m.backbone_kwargs:
        return
    try:
        with torch.device("meta"):
            timm.create_model(m.backbone, num_classes=0, global_pool="", **m.backbone_kwargs)
    # timm and the model classes refuse options with any of these; whichever it is, the
    # message is timm's, and it goes on one line.
    except (TypeError, ValueError, AssertionError, RuntimeError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise ConfigError(
            f"model.backbone_kwargs {m.backbone_kwargs}: timm's {m.backbone!r} refused them "
            f"({first})"
        ) from None


# --- keyword options ------------------------------------------------------------------------

#: parameter types whose values `check_option_types` checks (anything else is left to the
#: callee: paths, sequences, callables)
_PLAIN_TYPES = (bool, int, float, str, type(None))


def check_option_types(key: str, fn: Callable[..., Any], options: Mapping[str, Any]) -> None:
    """Each of ``options`` whose parameter of ``fn`` is annotated with plain types only
    (``float``, ``int | None``, ``str``, ``bool``) must be a value of one of them, as a config
    field would (`agcn_pyg.config.coerce`); YAML's ``1e-3`` string becomes a float in place."""
    try:
        hints = typing.get_type_hints(fn)
    except (NameError, TypeError):  # annotations that do not resolve: nothing to compare with
        return
    params = inspect.signature(fn).parameters
    for name, value in options.items():
        hint = hints.get(name)
        if name not in params or hint is None:
            continue
        args = typing.get_args(hint) or (hint,)
        if all(arg in _PLAIN_TYPES for arg in args):
            coerced = coerce(value, hint, f"{key}.{name}")
            if isinstance(options, dict):
                options[name] = coerced


def _is_file(value: str) -> bool:
    path = Path(value)
    return path.suffix.lower() in EMBEDDING_FILES or path.exists()
