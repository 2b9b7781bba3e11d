from __future__ import annotations

import pytest
import torch
from PIL import Image
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from agcn_pyg.data import IMAGENET_MEAN, MultiScaleCrop, build_transforms, timm_normalization
from agcn_pyg.errors import ConfigError


def _image(width: int, height: int) -> Image.Image:
    values = torch.arange(width * height * 3, dtype=torch.int64) % 251
    return F.to_pil_image(values.reshape(3, height, width).to(torch.uint8))


def test_crop_pairs_follow_mlgcn_semantics():
    crop = MultiScaleCrop(32, scales=(1, 0.875, 0.75, 0.66), max_distort=1)
    # shorter side 80 -> sides 80, 70, 60, 52; scale indices may differ by at most 1
    assert crop.crop_pairs(80, 100) == [
        (80, 80),
        (70, 80),
        (80, 70),
        (70, 70),
        (60, 70),
        (70, 60),
        (60, 60),
        (52, 60),
        (60, 52),
        (52, 52),
    ]
    # a side within 2 px of the output side snaps to it
    assert MultiScaleCrop(448, scales=(1.0,)).crop_pairs(450, 500) == [(448, 448)]


def test_fixed_offsets_on_the_quarter_grid():
    offsets = MultiScaleCrop.fixed_offsets(100, 80, 60, 60, more_fix_crop=True)
    assert offsets == [
        (0, 0),
        (40, 0),
        (0, 20),
        (40, 20),
        (20, 10),
        (0, 10),
        (40, 10),
        (20, 20),
        (20, 0),
        (10, 5),
        (30, 5),
        (10, 15),
        (30, 15),
    ]
    assert len(MultiScaleCrop.fixed_offsets(100, 80, 60, 60, more_fix_crop=False)) == 5


def test_sampled_crops_are_candidates_and_cover_them():
    crop = MultiScaleCrop(32)
    pairs = set(crop.crop_pairs(80, 100))
    seen = set()
    for _ in range(400):
        params = crop.make_params([_image(100, 80)])
        size = (params["width"], params["height"])
        assert size in pairs
        offsets = MultiScaleCrop.fixed_offsets(100, 80, *size)
        assert (params["left"], params["top"]) in offsets
        seen.add(size)
    assert seen == pairs


def test_crop_output_equals_resized_crop_and_is_seeded():
    crop = MultiScaleCrop(24, scales=(1.0, 0.75, 0.5), max_distort=2)
    image = F.to_image(_image(64, 48))
    torch.manual_seed(3)
    params = crop.make_params([image])
    torch.manual_seed(3)
    out = crop(image)
    expected = F.resized_crop(image, **params, size=[24, 24], antialias=True)
    assert out.shape == (3, 24, 24) and torch.equal(out, expected)
    torch.manual_seed(3)
    assert torch.equal(crop(image), out)


def test_paper_recipe():
    train, test = build_transforms("paper", 448)
    assert isinstance(train.transforms[0], v2.Resize) and list(train.transforms[0].size) == [
        512,
        512,
    ]
    assert list(build_transforms("paper", 224)[0].transforms[0].size) == [256, 256]
    train, test = build_transforms("paper", 32, resize_size=40)
    image = _image(70, 50)
    for transform in (train, test):
        out = transform(image)
        assert out.shape == (3, 32, 32) and out.dtype == torch.float32
    # test: squash resize of the whole image, then ImageNet normalisation
    white = Image.new("RGB", (70, 50), (255, 255, 255))
    expected = (1 - IMAGENET_MEAN[0]) / 0.229
    assert test(white)[0].mean().item() == pytest.approx(expected, abs=1e-5)


def test_mlgcn_recipe_and_custom_normalisation():
    train, test = build_transforms("mlgcn", 32, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    crop = train.transforms[0]
    assert isinstance(crop, MultiScaleCrop)
    assert crop.scales == (1.0, 0.875, 0.75, 0.66, 0.5) and crop.max_distort == 2
    assert train(_image(90, 40)).shape == (3, 32, 32)
    black = Image.new("RGB", (50, 40))
    assert test(black).min().item() == pytest.approx(-1.0)


def test_timm_normalisation_and_errors():
    assert timm_normalization("inception_v3") == ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    assert timm_normalization("resnet50")[0] == IMAGENET_MEAN
    with pytest.raises(ConfigError, match="no pretrained config"):
        timm_normalization("no_such_model")
    with pytest.raises(ConfigError, match="unknown transform recipe 'fancy'"):
        build_transforms("fancy", 32)
    with pytest.raises(ConfigError, match="scales"):
        MultiScaleCrop(32, scales=(1.0, 1.5))


def test_agcn_official_recipe_squashes_then_multiscale_crops():
    train, test = build_transforms("agcn_official", 448)
    resize, crop, flip = train.transforms[:3]
    assert isinstance(resize, v2.Resize) and list(resize.size) == [512, 512]
    assert isinstance(crop, MultiScaleCrop) and crop.size == (448, 448)
    assert crop.scales == (1.0, 0.875, 0.75, 0.66, 0.5) and crop.max_distort == 2
    assert isinstance(flip, v2.RandomHorizontalFlip)

    train, test = build_transforms("agcn_official", 32, resize_size=40)
    image = _image(90, 50)
    # the crop sees the squashed 40×40 image: its candidate sides come from 40, not from 50
    squashed = image.resize((40, 40), Image.Resampling.BILINEAR)
    reference = v2.Compose(
        [MultiScaleCrop(32, (1.0, 0.875, 0.75, 0.66, 0.5), 2), *train.transforms[2:]]
    )
    for seed in range(5):
        torch.manual_seed(seed)
        out = train(image)
        torch.manual_seed(seed)
        assert torch.equal(out, reference(squashed))
    # test: PIL's bilinear squash-resize, as the official `Warp`
    expected = build_transforms("paper", 32)[1](image)
    assert torch.equal(test(image), expected)


@pytest.mark.parametrize("recipe", ["paper", "mlgcn", "agcn_official"])
def test_uint8_path_then_device_normalize_gives_the_float_recipe(recipe: str):
    from agcn_pyg.data import TRANSFORM_RECIPES, DeviceNormalize

    assert recipe in TRANSFORM_RECIPES
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    float_train, float_test = build_transforms(recipe, 48, 56, mean=mean, std=std)
    u8_train, u8_test = build_transforms(recipe, 48, 56, output="uint8")
    normalize = DeviceNormalize(mean, std)
    scale = torch.tensor(std).view(1, 3, 1, 1) * 255  # one uint8 step, in normalised units
    for seed in range(8):
        image = _image(90 + 7 * seed, 60 + 3 * seed)
        for reference, candidate in ((float_train, u8_train), (float_test, u8_test)):
            torch.manual_seed(seed)
            expected = reference(image)
            torch.manual_seed(seed)
            raw = candidate(F.pil_to_tensor(image))  # the tensor path, as the engine runs it
            assert raw.dtype == torch.uint8 and raw.shape == (3, 48, 48)
            got = normalize(raw[None])
            assert got.dtype == torch.float32
            steps = (got - expected[None]).abs() * scale
            assert steps.max() <= 1.0 + 1e-3  # torch's resampling against Pillow's
            # a PIL image through the same uint8 pipeline gives Pillow's pixels exactly
            torch.manual_seed(seed)
            assert torch.equal(normalize(candidate(image)[None])[0], expected)
    layout = normalize(raw[None], "cpu", channels_last=True)
    assert layout.is_contiguous(memory_format=torch.channels_last)
    already = torch.randn(2, 3, 8, 8)
    assert normalize(already) is already  # float batches are taken as normalised


@pytest.mark.parametrize("recipe", ["paper", "mlgcn", "agcn_official"])
def test_hflip_false_drops_the_flip_of_every_recipe(recipe: str):
    flipped, _ = build_transforms(recipe, 32, 36)
    kept, _ = build_transforms(recipe, 32, 36, hflip=False)
    assert any(isinstance(t, v2.RandomHorizontalFlip) for t in flipped.transforms)
    assert not any(isinstance(t, v2.RandomHorizontalFlip) for t in kept.transforms)
    assert len(kept.transforms) == len(flipped.transforms) - 1
    # through the engine: data.hflip reaches the training transform
    from agcn_pyg.config import DataConfig
    from agcn_pyg.engine.inputs import RunData, with_transforms

    splits = RunData(_Split(), _Split(), ["a"])
    cfg = DataConfig(transforms=recipe, image_size=32, resize_size=36, hflip=False)
    train = with_transforms(splits, cfg).train.transform
    assert not any(isinstance(t, v2.RandomHorizontalFlip) for t in train.transforms)


class _Split:
    transform = None

    def with_transform(self, transform):
        out = _Split()
        out.transform = transform
        return out
