"""Backbones: pooling, feature widths, local pretrained weights."""

from __future__ import annotations

import huggingface_hub
import pytest
import timm
import torch

from agcn_pyg import create_model
from agcn_pyg.errors import ConfigError, PretrainedWeightsError
from agcn_pyg.models.backbone import Backbone


@pytest.mark.parametrize("pool", ["max", "avg", "avgmax"])
def test_pooling_matches_definition(pool: str) -> None:
    backbone = Backbone("test_resnet", pretrained=False, pool=pool).eval()
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


@pytest.mark.parametrize("pool", ["max", "avg", "avgmax"])
@pytest.mark.parametrize("name", ["test_vit", "test_resnet", "test_efficientnet", "test_convnext"])
def test_features_are_timms_pooling(name: str, pool: str) -> None:
    # timm's own global_pool on the same weights: for a ViT that leaves the class token out
    # and applies fc_norm after the pooling; for a ConvNeXt the head's norm follows it.
    backbone = Backbone(name, pretrained=False, pool=pool).eval()
    reference = timm.create_model(name, num_classes=0, global_pool=pool).eval()
    reference.load_state_dict(backbone.body.state_dict())
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(backbone(images), reference(images), rtol=0, atol=0)
    assert backbone.num_features == reference.num_features


def test_vit_pooling_leaves_out_the_class_token() -> None:
    backbone = Backbone("test_vit", pretrained=False, pool="max").eval()
    body = backbone.body
    assert body.num_prefix_tokens >= 1
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        tokens = body.forward_features(images)
        expected = body.fc_norm(tokens[:, body.num_prefix_tokens :].amax(dim=1))
        torch.testing.assert_close(backbone(images), expected)


def test_pool_the_model_refuses_names_model_pool() -> None:
    # timm's relative-position ViT pools by avg or its token only.
    assert Backbone("test_vit_relpos", pretrained=False, pool="avg").num_features > 0
    with pytest.raises(ConfigError, match=r"^model\.pool: timm 'test_vit_relpos'.*'max'") as info:
        create_model("test_vit_relpos", 3, graph="none", pool="max")
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match=r"^model\.pool: expected one of"):
        create_model("test_resnet", 3, graph="none", pool="catavgmax")


def test_feature_width_is_the_pre_logits_width() -> None:
    # MobileNetV3's head has a 1×1 conv between the pooling and the classifier, so D is
    # timm's head_hidden_size, not the feature map's channels.
    backbone = Backbone("mobilenetv3_small_050", pretrained=False, pool="avg").eval()
    assert backbone.num_features == backbone.body.head_hidden_size != backbone.body.num_features
    with torch.no_grad():
        assert backbone(torch.randn(1, 3, 32, 32)).shape == (1, backbone.num_features)


@pytest.mark.parametrize("name", ["test_vit", "test_resnet"])
def test_model_exposes_timms_data_config(name: str) -> None:
    model = create_model(name, 3, graph="none")
    body = timm.create_model(name, num_classes=0)
    assert model.pretrained_cfg == model.backbone.pretrained_cfg == body.pretrained_cfg
    expected = timm.data.resolve_model_data_config(body)
    assert timm.data.resolve_model_data_config(model) == expected == model.data_config()
    assert timm.data.resolve_model_data_config(model.backbone) == expected


def test_backbone_normalisation_comes_from_the_model() -> None:
    from agcn_pyg.engine.inputs import test_pipeline

    model = create_model("test_vit", 3, graph="none")  # timm: mean = std = 0.5
    _, normalize = test_pipeline({"data": {"normalization": "backbone"}}, model)
    assert normalize.mean == tuple(model.data_config()["mean"]) == (0.5, 0.5, 0.5)
    _, imagenet = test_pipeline({"data": {"normalization": "imagenet"}}, model)
    assert imagenet.mean != normalize.mean


def _random_resnet_state() -> dict[str, torch.Tensor]:
    source = timm.create_model("test_resnet", num_classes=0)
    with torch.no_grad():
        for p in source.parameters():
            p.normal_()
    return source.state_dict()


@pytest.mark.parametrize(
    ("layout", "stripped"),
    [
        (lambda k: f"model.{k}", "model."),  # Lightning's LightningModule.model
        (lambda k: f"module.{k}", "module."),  # DDP
        (lambda k: f"backbone.{k}", "backbone."),  # a detector's backbone
        (lambda k: f"model.backbone.body.{k}", "model.backbone.body."),  # agcn_pyg, wrapped
    ],
)
def test_pretrained_file_with_wrapper_prefixes_loads_every_tensor(
    tmp_path, layout, stripped: str
) -> None:
    # Loaded non-strictly, a `model.`-prefixed file used to match no key and leave the
    # backbone random without a word.
    state = _random_resnet_state()
    path = tmp_path / "prefixed.pth"
    # other modules of the saved object (a head, a loss) live outside the prefix
    torch.save({"state_dict": {**{layout(k): v for k, v in state.items()}, "head.w": 1.0}}, path)
    model = create_model("test_resnet", 3, graph="none", pretrained=str(path))
    for name, tensor in state.items():
        torch.testing.assert_close(model.backbone.body.state_dict()[name], tensor)
    report = model.backbone.pretrained_report
    assert f"loaded {len(state)} tensors" in report and repr(stripped) in report
    assert str(path) in report


def test_pretrained_file_that_fits_only_partly_is_one_line_naming_the_key(tmp_path) -> None:
    state = _random_resnet_state()
    cases = {
        "nothing": ({f"encoder.{k}": v for k, v in state.items()}, "missing key conv1.0.weight"),
        "missing": (
            {k: v for k, v in state.items() if k != "layer1.0.conv1.weight"},
            "missing key layer1.0.conv1.weight (1 of",
        ),
        "unexpected": ({**state, "layer9.weight": torch.ones(1)}, "unexpected key layer9.weight"),
        "shape": ({**state, "conv1.0.weight": torch.ones(1, 1)}, "conv1.0.weight has shape (1, 1)"),
    }
    for case, (weights, expected) in cases.items():
        path = tmp_path / f"{case}.pth"
        torch.save(weights, path)
        with pytest.raises(PretrainedWeightsError) as info:
            create_model("test_resnet", 3, graph="none", pretrained=str(path))
        message = str(info.value)
        assert "\n" not in message and message.startswith(f"{path}: does not load"), message
        assert expected in message, message


def test_pretrained_safetensors_file_loads_strictly(tmp_path) -> None:
    from safetensors.torch import save_file

    state = _random_resnet_state()
    path = tmp_path / "weights.safetensors"
    save_file({f"module.{k}": v.contiguous() for k, v in state.items()}, str(path))
    model = create_model("test_resnet", 3, graph="none", pretrained=str(path))
    for name, tensor in state.items():
        torch.testing.assert_close(model.backbone.body.state_dict()[name], tensor)
    assert f"loaded {len(state)} tensors" in model.backbone.pretrained_report
