"""Image transforms (torchvision.transforms.v2) as a registry of train/test recipes.

Every recipe maps an RGB image to a normalised float32 3×S×S tensor, S = `image_size` (or, with
`output="uint8"`, to a uint8 one; see below):

* `paper` (A-GCN): train = squash-resize to R×R, random S×S crop, horizontal flip;
  test = squash-resize to S×S. R defaults to round(S·8/7): 448 -> 512 (COCO), 224 -> 256
  (Fashion550K).
* `mlgcn` (ML-GCN's engine): train = `MultiScaleCrop(S, scales=(1, .875, .75, .66, .5),
  max_distort=2)` on the original image, horizontal flip; test = squash-resize to S×S
  (ML-GCN's `Warp`). `resize_size` is unused.
* `agcn_official` (the official A-GCN code): train = squash-resize to R×R, then ML-GCN's
  `MultiScaleCrop(S, scales=(1, .875, .75, .66, .5), max_distort=2)`, horizontal flip;
  test = squash-resize to S×S. R defaults as in `paper` (448 -> 512).

Normalisation: ImageNet mean/std by default, or the backbone's own: pass
`mean, std = timm_normalization("resnet101")` (timm's `resolve_data_config`).

**uint8 until the device.** With `output="uint8"` a recipe runs its geometry (resize, crop,
flip) on the decoded uint8 tensor and stops there; batches travel to the device as uint8 (a
quarter of float32's bytes, pinned for asynchronous copies) and `DeviceNormalize` converts
and normalises them there. The crops and flips are the float recipe's (the same random
draws); the resampling is torch's instead of Pillow's, within one uint8 step of it, and the
float operations after it are the same. This is what the engine uses (train, evaluate,
predict, feature extraction); the float output stays for users who want a ready tensor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torchvision.transforms import InterpolationMode, v2
from torchvision.transforms.v2 import functional as F

from agcn_pyg.errors import ConfigError
from agcn_pyg.registry import Registry

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Recipe = Callable[[int, int | None], tuple[list[v2.Transform], list[v2.Transform]]]
#: what `build_transforms` ends with: normalised float32 tensors, or uint8 tensors for
#: `DeviceNormalize` to finish on the device
OUTPUTS = ("float", "uint8")
TRANSFORM_RECIPES: Registry[Recipe] = Registry("transform recipe")


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    height, width = (int(v) for v in size)
    return height, width


class MultiScaleCrop(v2.Transform):
    """ML-GCN's multi-scale corner crop, then a resize to `size`.

    With the image's shorter side `b`, candidate crop sides are `int(b·s)` for `s` in `scales`;
    a side within 2 px of the output side snaps to it. A (width, height) pair is drawn among
    the pairs whose scale indices differ by at most `max_distort`, then the crop's top-left
    corner is drawn among fixed offsets on a 4×4 grid of steps `((W-w)//4, (H-h)//4)`:
    the 4 corners and the centre, plus 8 more (edge centres and quarter points) with
    `more_fix_crop`; or uniformly with `fix_crop=False`. The crop is resized to `size`.
    Randomness comes from torch's generator, so DataLoader worker seeding applies.
    """

    def __init__(
        self,
        size: int | Sequence[int],
        scales: Sequence[float] = (1.0, 0.875, 0.75, 0.66),
        max_distort: int = 1,
        fix_crop: bool = True,
        more_fix_crop: bool = True,
        interpolation: InterpolationMode = InterpolationMode.BILINEAR,
        antialias: bool = True,
    ) -> None:
        super().__init__()
        self.size = _pair(size)
        if not scales or any(not 0 < s <= 1 for s in scales):
            raise ConfigError(f"MultiScaleCrop scales must be in (0, 1], got {tuple(scales)}")
        self.scales = tuple(float(s) for s in scales)
        self.max_distort = int(max_distort)
        self.fix_crop = fix_crop
        self.more_fix_crop = more_fix_crop
        self.interpolation = interpolation
        self.antialias = antialias

    def crop_pairs(self, image_h: int, image_w: int) -> list[tuple[int, int]]:
        """All candidate (crop_w, crop_h) pairs for an image of this size."""
        base = min(image_h, image_w)
        sides = [int(base * s) for s in self.scales]
        out_h, out_w = self.size
        crop_h = [out_h if abs(side - out_h) < 3 else side for side in sides]
        crop_w = [out_w if abs(side - out_w) < 3 else side for side in sides]
        return [
            (w, h)
            for i, h in enumerate(crop_h)
            for j, w in enumerate(crop_w)
            if abs(i - j) <= self.max_distort
        ]

    @staticmethod
    def fixed_offsets(
        image_w: int, image_h: int, crop_w: int, crop_h: int, more_fix_crop: bool = True
    ) -> list[tuple[int, int]]:
        """Candidate (left, top) corners on the 4×4 step grid."""
        w_step = (image_w - crop_w) // 4
        h_step = (image_h - crop_h) // 4
        grid = [(0, 0), (4, 0), (0, 4), (4, 4), (2, 2)]
        if more_fix_crop:
            grid += [(0, 2), (4, 2), (2, 4), (2, 0), (1, 1), (3, 1), (1, 3), (3, 3)]
        return [(gx * w_step, gy * h_step) for gx, gy in grid]

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        image_h, image_w = v2.query_size(flat_inputs)
        pairs = self.crop_pairs(image_h, image_w)
        crop_w, crop_h = pairs[int(torch.randint(len(pairs), ()))]
        if self.fix_crop:
            offsets = self.fixed_offsets(image_w, image_h, crop_w, crop_h, self.more_fix_crop)
            left, top = offsets[int(torch.randint(len(offsets), ()))]
        else:
            left = int(torch.randint(max(image_w - crop_w, 0) + 1, ()))
            top = int(torch.randint(max(image_h - crop_h, 0) + 1, ()))
        return {"top": top, "left": left, "height": crop_h, "width": crop_w}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return self._call_kernel(
            F.resized_crop,
            inpt,
            **params,
            size=list(self.size),
            interpolation=self.interpolation,
            antialias=self.antialias,
        )

    # torchvision < 0.21 calls the private names.
    _get_params = make_params
    _transform = transform


class TensorCompose(v2.Compose):
    """A `v2.Compose` whose input is a uint8 ``3 × H × W`` tensor: `MultiLabelDataset` hands
    it `agcn_pyg.data.decode_image`'s output instead of a PIL image (a PIL image still works,
    with Pillow's resampling)."""

    takes_tensors = True


def _finish(
    mean: Sequence[float], std: Sequence[float], output: str = "float"
) -> list[v2.Transform]:
    if output == "uint8":
        return [v2.PILToTensor()]  # a no-op on tensors
    return [
        v2.ToImage(),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(mean=list(mean), std=list(std)),
    ]


def _resize_size(image_size: int, resize_size: int | None) -> int:
    return resize_size if resize_size is not None else round(image_size * 8 / 7)


def _multiscale_crop(image_size: int) -> MultiScaleCrop:
    return MultiScaleCrop(image_size, scales=(1.0, 0.875, 0.75, 0.66, 0.5), max_distort=2)


def _squash(size: int) -> v2.Transform:
    return v2.Resize((size, size), antialias=True)


# A recipe maps (image_size, resize_size) to the geometric steps of its train and test
# transforms (on a PIL image or a uint8 tensor alike); `build_transforms` appends the rest.


@TRANSFORM_RECIPES.register("paper")
def paper_recipe(image_size: int, resize_size: int | None) -> tuple[list, list]:
    resize = _resize_size(image_size, resize_size)
    train = [_squash(resize), v2.RandomCrop(image_size), v2.RandomHorizontalFlip()]
    return train, [_squash(image_size)]


@TRANSFORM_RECIPES.register("mlgcn")
def mlgcn_recipe(image_size: int, resize_size: int | None) -> tuple[list, list]:
    del resize_size  # ML-GCN crops the original image
    return [_multiscale_crop(image_size), v2.RandomHorizontalFlip()], [_squash(image_size)]


@TRANSFORM_RECIPES.register("agcn_official")
def agcn_official_recipe(image_size: int, resize_size: int | None) -> tuple[list, list]:
    resize = _resize_size(image_size, resize_size)
    train = [_squash(resize), _multiscale_crop(image_size), v2.RandomHorizontalFlip()]
    return train, [_squash(image_size)]


def build_transforms(
    recipe: str,
    image_size: int,
    resize_size: int | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    output: str = "float",
    hflip: bool = True,
) -> tuple[v2.Transform, v2.Transform]:
    """`(train_transform, test_transform)` for a registered recipe (see module doc).

    ``hflip=False`` drops the recipe's random horizontal flip (data that is not
    mirror-symmetric).

    ``output="float"``: PIL image → normalised float32 tensor. ``output="uint8"``: uint8
    tensor → the same geometry on tensors → uint8 tensor (a `TensorCompose`);
    `DeviceNormalize` (``mean``, ``std``) then finishes the batch on the device, as the
    engine does. torch's uint8 resampling is faster than Pillow's and within one uint8 step
    of it (`docs/benchmarks.md`, figure 5).
    """
    if output not in OUTPUTS:
        raise ConfigError(f"transform output: expected one of {list(OUTPUTS)}, got {output!r}")
    fn = TRANSFORM_RECIPES.get(recipe)
    mean, std = _check_normalization(mean, std)
    train, test = fn(int(image_size), resize_size)
    if not hflip:
        train = [step for step in train if not isinstance(step, v2.RandomHorizontalFlip)]
    finish = _finish(mean, std, output)
    compose = TensorCompose if output == "uint8" else v2.Compose
    return compose([*train, *finish]), compose([*test, *finish])


def _check_normalization(
    mean: Sequence[float] | None, std: Sequence[float] | None
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    mean = tuple(float(m) for m in mean) if mean is not None else IMAGENET_MEAN
    std = tuple(float(s) for s in std) if std is not None else IMAGENET_STD
    if len(mean) != 3 or len(std) != 3 or any(s <= 0 for s in std):
        raise ConfigError(f"mean and std need 3 values (std > 0), got {mean} and {std}")
    return mean, std


class DeviceNormalize:
    """The end of every recipe, run on a batch where the model runs: uint8 ``B × 3 × H × W``
    → float32 :math:`(x / 255 - \\mu) / \\sigma`, the same operations as ``ToDtype(scale=True)``
    and ``Normalize``, so the result equals the ``output="float"`` transform's.

    ``__call__(images, device, channels_last)`` also copies the batch to ``device``
    (``non_blocking``: asynchronous from pinned memory) and sets the memory layout while the
    batch is still uint8. A float batch (from ``output="float"`` transforms) is taken as
    already normalised and only moved.
    """

    def __init__(self, mean: Sequence[float] | None = None, std: Sequence[float] | None = None):
        self.mean, self.std = _check_normalization(mean, std)
        self._constants: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def __call__(
        self,
        images: torch.Tensor,
        device: torch.device | str | None = None,
        channels_last: bool = False,
    ) -> torch.Tensor:
        if device is not None:
            images = images.to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        if images.dtype != torch.uint8:
            return images
        mean, std = self._on(images.device)
        return images.to(torch.float32).mul_(1.0 / 255).sub_(mean).div_(std)

    def _on(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        if device not in self._constants:
            mean = torch.tensor(self.mean, dtype=torch.float32, device=device).view(-1, 1, 1)
            std = torch.tensor(self.std, dtype=torch.float32, device=device).view(-1, 1, 1)
            self._constants[device] = (mean, std)
        return self._constants[device]

    def __repr__(self) -> str:
        return f"DeviceNormalize(mean={self.mean}, std={self.std})"


def timm_normalization(model: Any) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The backbone's own `(mean, std)`, from a timm model instance or a timm model name.

    Uses `timm.data.resolve_data_config`; a name is looked up in timm's pretrained configs
    (no download).
    """
    import timm
    from timm.data import resolve_data_config

    if isinstance(model, str):
        cfg = timm.get_pretrained_cfg(model)
        if cfg is None:
            raise ConfigError(f"timm has no pretrained config for model {model!r}")
        config = resolve_data_config(pretrained_cfg=cfg.to_dict())
    else:
        config = resolve_data_config(model=model)
    return tuple(config["mean"]), tuple(config["std"])


#: ``data.normalization``: the ``(mean, std)`` images are normalised with, given the model
#: (``None`` before one is built)
NORMALIZATIONS: Registry[Callable[[Any], tuple[tuple[float, ...], tuple[float, ...]]]] = Registry(
    "normalization"
)
NORMALIZATIONS.add("imagenet", lambda model: (IMAGENET_MEAN, IMAGENET_STD))
NORMALIZATIONS.add(
    "backbone",
    # timm's resolver reads the model's ``pretrained_cfg``, which `AGCN` and `Backbone`
    # expose as their timm body's.
    lambda model: (IMAGENET_MEAN, IMAGENET_STD) if model is None else timm_normalization(model),
)
