"""timm image backbones with timm's global pooling, offline pretrained weights, and the schema
rules of their options.

A local weights file (``pretrained="weights.pth"``, `load_weights_file`) loads **strictly**
into the backbone: every tensor of the backbone must be in the file, with its shape, and the
file may hold nothing else but the classifier that timm's ``pretrained_cfg`` names (which a
backbone without classifier leaves out). Keys may carry wrapper prefixes, stripped in any
combination: `WRAPPER_PREFIXES` (``module.`` of DDP, ``_orig_mod.`` of ``torch.compile``,
``model.`` of Lightning, ``backbone.`` of detectors, and ``backbone.body.`` of agcn_pyg's own
checkpoints); of the candidate prefixes the one under which most keys are the backbone's is
used, and keys outside it belong to other modules and are left alone. Checkpoint containers
are opened as timm opens them (``state_dict_ema``, ``model_ema``, ``state_dict``, ``model``).
A file that matches only partly is one `PretrainedWeightsError` naming the file and the
first missing or unexpected key; `Backbone.pretrained_report` says how many tensors loaded.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import timm
import torch
from torch import Tensor, nn

from agcn_pyg.errors import ConfigError, PretrainedWeightsError
from agcn_pyg.models.hub import hub_unreachable, offline_hub
from agcn_pyg.schema import MAPPING, NONEMPTY, Custom, brief

#: values of ``pool``: timm ``global_pool`` types that every CNN family and timm's ViTs accept
POOLS = ("max", "avg", "avgmax")

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


def path_like(value: object) -> bool:
    """A string that names a file: it has a separator or a suffix."""
    if not isinstance(value, str | Path):
        return False
    text = str(value)
    return "/" in text or "\\" in text or Path(text).suffix != ""


def refused_backbone_kwargs(kwargs: Mapping[str, Any]) -> list[str]:
    """The keys of ``kwargs`` (sorted) that `BACKBONE_KWARGS` does not allow, or whose value
    names a file."""
    return sorted(k for k, v in kwargs.items() if k not in BACKBONE_KWARGS or path_like(v))


def _timm_model(key: str, name: Any, section: Any) -> None:
    if not timm.is_model(name):
        close = difflib.get_close_matches(str(name), timm.list_models(), n=3, cutoff=0.75)
        hint = f"; did you mean {', '.join(close)}?" if close else " (see timm.list_models())"
        raise ConfigError(f"{key}: unknown timm model {name!r}{hint}")


def _allowed_kwargs(key: str, kwargs: Any, section: Any) -> None:
    if refused := refused_backbone_kwargs(kwargs):
        raise ConfigError(
            f"{key}.{refused[0]}: expected one of {sorted(BACKBONE_KWARGS)} "
            "with a value that names no file (weights come through model.pretrained)"
        )


def _timm_accepts(key: str, kwargs: Any, section: Any) -> None:
    """timm builds the network with ``kwargs`` on the meta device (no memory, no weights), so
    an option the architecture does not take is found before anything runs."""
    if not kwargs:
        return
    try:
        with torch.device("meta"):
            timm.create_model(section.backbone, num_classes=0, global_pool="", **kwargs)
    # timm and the model classes refuse options with any of these; whichever it is, the
    # message is timm's, and it goes on one line.
    except (TypeError, ValueError, AssertionError, RuntimeError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise ConfigError(
            f"{key} {brief(kwargs)}: timm's {section.backbone!r} refused them ({first})"
        ) from None


#: the rules of ``model.backbone`` and ``model.backbone_kwargs`` (`agcn_pyg.models.AGCNConfig`)
BACKBONE_RULES = (NONEMPTY, Custom(_timm_model))
BACKBONE_KWARGS_RULES = (MAPPING, Custom(_allowed_kwargs), Custom(_timm_accepts))


class Backbone(nn.Module):
    r"""A timm model without its classifier, pooled by timm: the image feature ``x``.

    Built with ``timm.create_model(name, num_classes=0, global_pool=pool)``; the forward pass
    is timm's split API, ``body.forward_head(body.forward_features(images), pre_logits=True)``,
    so the pooling is the model's own: ``max`` (ML-GCN's global max pooling), ``avg`` or
    ``avgmax`` (their mean) over the feature map of a CNN, over the patch tokens of a ViT.

    .. math::
        x = \mathrm{pre\_logits}\big(\mathrm{pool}(f(I))\big) \in R^{D}

    For ViTs, timm's rules apply: the prefix tokens (class and register tokens) are left out
    of the pooling, and with ``global_pool`` ``avg``/``max``/``avgmax`` the final norm runs
    after the pooling as ``fc_norm`` (``norm`` is then an identity). The state-dict keys
    therefore depend on the pool: ``body.fc_norm.*`` here, ``body.norm.*`` for timm's default
    token pooling, and a weights file saved under the latter is refused (its ``norm.*`` keys
    are unexpected, ``fc_norm.*`` missing). CNNs have no parameters in their pooling, so their
    keys are the same for every pool.

    Layers that timm places in the head before the classifier are part of ``x``: ConvNeXt's
    head norm after the pooling, MobileNetV3's ``conv_head``. ``D`` is therefore the width
    of ``forward_head(pre_logits=True)``, timm's ``head_hidden_size``, which differs from
    ``num_features`` where such a layer changes the width (MobileNetV3: 1024, not 288).

    Args:
        name: timm model name.
        pretrained: ``False``; ``True`` for timm's hub; or a path to a local weights file
            (``.pth``/``.bin``/``.safetensors``) loaded strictly (`load_weights_file`).
        pool: ``max``, ``avg`` or ``avgmax``; a model that does not support it (timm's MLP
            mixers and LeViT pool by ``avg`` only) raises `ConfigError`.
        **kwargs: passed to ``timm.create_model``.

    Shapes:
        input: ``B × 3 × H × W``; output: ``B × D`` with ``D = num_features``.
    """

    def __init__(self, name: str, pretrained: bool | str, pool: str, **kwargs: Any) -> None:
        super().__init__()
        self.name = name
        self.pool_type = pool
        self.body = create_timm_backbone(name, pretrained, global_pool=pool, **kwargs)
        #: one line on what a weights file loaded (``None`` without a file)
        self.pretrained_report: str | None = None
        if isinstance(pretrained, str):
            self.pretrained_report = load_weights_file(self.body, name, pretrained)
        self.num_features: int = int(
            getattr(self.body, "head_hidden_size", None) or self.body.num_features
        )

    @property
    def pretrained_cfg(self) -> dict[str, Any]:
        """timm's ``pretrained_cfg`` of the body (input size, mean, std, interpolation, crop),
        so that ``timm.data.resolve_model_data_config(backbone)`` works."""
        return self.body.pretrained_cfg

    def forward_features(self, images: Tensor) -> Tensor:
        """The body's unpooled output: ``B × D' × h × w`` (CNN) or ``B × N × D'`` (ViT)."""
        return self.body.forward_features(images)

    def forward_head(self, features: Tensor) -> Tensor:
        """timm's pooling and pre-logits layers: ``B × D``."""
        return self.body.forward_head(features, pre_logits=True)

    def forward(self, images: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(images))

    def extra_repr(self) -> str:
        return f"name={self.name!r}, pool={self.pool_type!r}, D={self.num_features}"


def create_timm_backbone(name: str, pretrained: bool | str, **kwargs: Any) -> nn.Module:
    """``timm.create_model(name, num_classes=0, **kwargs)`` with clear errors.

    A ``global_pool`` the model refuses raises `ConfigError` (the name is the schema's,
    `BACKBONE_RULES`); hub weights that cannot be fetched raise `PretrainedWeightsError`. A
    weights file is `Backbone`'s to load (`load_weights_file`): the network is built here
    without weights.
    """
    base = {"num_classes": 0, **kwargs}
    if pretrained is True:
        # Asked first, so that an offline machine is told in seconds (`agcn_pyg.models.hub`).
        offline = hub_unreachable()
        try:
            with offline_hub(offline is not None):
                return _create(name, base, pretrained=True)
        except ConfigError:
            raise
        except Exception as err:
            why = f"{offline}; {type(err).__name__}" if offline else type(err).__name__
            raise PretrainedWeightsError(
                f"could not fetch pretrained weights for {name!r} from the timm hub "
                f"({why}); offline machines can pass pretrained='<weights file>'"
            ) from err
    return _create(name, base, pretrained=False)


def _create(name: str, kwargs: dict[str, Any], pretrained: bool) -> nn.Module:
    try:
        return timm.create_model(name, pretrained=pretrained, **kwargs)
    except (AssertionError, ValueError, NotImplementedError) as err:
        # timm refuses an unsupported pool type with an assertion or ValueError that names
        # the pooling; anything else (a bad file, a hub error) is for the caller.
        pool = kwargs.get("global_pool")
        if pool is not None and "pool" in str(err).lower():
            raise ConfigError(
                f"model.pool: timm {name!r} does not support global_pool={pool!r} "
                f"({_first_line(err)[:200]})"
            ) from err
        raise


#: wrapper prefixes a weights file's keys may carry, stripped in any combination
WRAPPER_PREFIXES = ("module.", "_orig_mod.", "model.", "backbone.", "body.")
#: checkpoint entries that hold the state dict, in timm's order of preference
_CONTAINERS = ("state_dict_ema", "model_ema", "state_dict", "model")


def load_weights_file(body: nn.Module, name: str, file: str | Path) -> str:
    """Load a local weights file into a timm ``body`` strictly (see the module docstring);
    returns the one-line report, or raises `PretrainedWeightsError` naming the file and the
    first key that does not fit."""
    path = Path(file).expanduser()
    expected = body.state_dict()
    state = _read_weights(path)
    prefix = _best_prefix(state, expected)
    tensors = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    classifier = tuple(f"{c}." for c in _classifier_names(body))
    left_out = [k for k in tensors if k not in expected and k.startswith(classifier)]
    for key in left_out:
        del tensors[key]
    # BatchNorm fills a missing counter itself; every other tensor must come from the file.
    missing = [k for k in expected if k not in tensors and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in tensors if k not in expected]
    misshaped = [k for k in tensors if k in expected and tensors[k].shape != expected[k].shape]
    fail = f"{path}: does not load into timm {name!r}"
    if missing:
        raise PretrainedWeightsError(
            f"{fail}: missing key {missing[0]} ({len(missing)} of {len(expected)} tensors "
            f"missing{_under(prefix)})"
        )
    if unexpected:
        raise PretrainedWeightsError(
            f"{fail}: unexpected key {prefix}{unexpected[0]} ({len(unexpected)} unexpected)"
        )
    if misshaped:
        key = misshaped[0]
        raise PretrainedWeightsError(
            f"{fail}: {prefix}{key} has shape {tuple(tensors[key].shape)} in the file, "
            f"{tuple(expected[key].shape)} in the model"
        )
    body.load_state_dict(tensors, strict=True)
    notes = [f"prefix {prefix!r} stripped"] if prefix else []
    notes += [f"{len(left_out)} classifier tensors left out"] if left_out else []
    extra = f" ({', '.join(notes)})" if notes else ""
    return f"model.pretrained: loaded {len(tensors)} tensors into timm {name!r} from {path}{extra}"


def _read_weights(path: Path) -> dict[str, Tensor]:
    """The tensors of a weights file (a state dict, or a checkpoint holding one)."""
    if not path.is_file():
        raise PretrainedWeightsError(f"{path}: pretrained weights file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file  # timm's dependency

            data: Any = load_file(str(path), device="cpu")
        else:
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise PretrainedWeightsError(
            f"{path}: not a weights file torch can read ({_first_line(err)[:200]})"
        ) from err
    if isinstance(data, Mapping):
        inner = next((data[k] for k in _CONTAINERS if isinstance(data.get(k), Mapping)), data)
        tensors = {str(k): v for k, v in inner.items() if isinstance(v, Tensor)}
        if tensors:
            return tensors
    raise PretrainedWeightsError(f"{path}: holds no state dict of tensors")


def _best_prefix(state: Mapping[str, Tensor], expected: Mapping[str, Tensor]) -> str:
    """Of ``""`` and the runs of `WRAPPER_PREFIXES` that start the keys, the one under which
    most keys are ``expected``'s (the shortest on a tie)."""
    candidates = {""}
    for key in state:
        prefix, rest = "", key
        while len(prefix) < 64:  # a bounded run: keys are the file's, not ours
            wrapper = next((w for w in WRAPPER_PREFIXES if rest.startswith(w)), None)
            if wrapper is None:
                break
            prefix, rest = prefix + wrapper, rest[len(wrapper) :]
            candidates.add(prefix)

    def hits(prefix: str) -> int:
        return sum(k.startswith(prefix) and k[len(prefix) :] in expected for k in state)

    return max(sorted(candidates, key=len), key=hits)


def _classifier_names(body: nn.Module) -> list[str]:
    names = getattr(body, "pretrained_cfg", {}).get("classifier") or ()
    return [names] if isinstance(names, str) else list(names)


def _under(prefix: str) -> str:
    return f" under the prefix {prefix!r}" if prefix else ""


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
