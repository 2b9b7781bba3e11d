r"""A recipe's geometry as a per-item *plan*, drawn on the CPU and run batched on any device.

With ``data.decode: gpu`` a DataLoader worker does not decode: it reads the file's bytes and
the JPEG header (height ``H``, width ``W``), and draws the item's crop and flip decisions here,
by running the recipe's own `~torchvision.transforms.v2` transforms on a `GeometryProbe`: a
stand-in image of size ``H × W`` with no pixels, on which every geometric kernel (resize,
crop, resized crop, horizontal flip) only records what it would do. The transforms draw
their random numbers exactly as on a real image (the same ``make_params``, the same flip
gate), under the per-item seed that `agcn_pyg.engine.inputs.SeededDataset` sets, so an item
gets the same decisions as on the CPU path, resume stays exact and the number of workers
changes nothing.

A plan is a tuple of ops, applied in order:

* `Resample(top, left, height, width, out_height, out_width, mode, antialias)`: the region
  ``[top, top + height) × [left, left + width)`` of the current image (zero-padded where it
  leaves the image, as torchvision's crop), resized to ``out_height × out_width``. A resize
  is the whole image as the region; a crop has ``out == region``.
* `HFlip()`: mirror left to right.

`apply_plans` runs the plans of a batch on the device the decoded images are on: regions are
views, every resize of the same shape change is one ``interpolate`` call over a stacked
group, and the final flips are one ``where`` over the batch. Resampling is float32
``interpolate`` rounded to uint8 after each resize (what torchvision does on CUDA); the CPU
path resamples uint8 with torchvision's fixed-point kernel, so pixels can differ by one uint8
step where the two roundings disagree (the figure is in ``docs/benchmarks.md`` and
``tests/data/test_device_decode.py``).

`device_geometry_issue` says why a transform has no device form (a step that is not pure
geometry), so that ``data.decode`` can refuse it or fall back to the CPU.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision import tv_tensors
from torchvision.transforms import InterpolationMode, v2
from torchvision.transforms.v2 import functional as TF

from agcn_pyg.data.transforms import MultiScaleCrop


class Resample(NamedTuple):
    """A region of the current image, resized (see the module docstring)."""

    top: int
    left: int
    height: int
    width: int
    out_height: int
    out_width: int
    mode: str = "bilinear"
    antialias: bool = True


class HFlip(NamedTuple):
    """A left-right mirror of the current image."""


Op = Resample | HFlip
Plan = tuple[Op, ...]

#: the transform steps that are pure geometry, and so have a device form; anything else in a
#: recipe (a colour jitter, a padding crop) keeps ``data.decode`` on the CPU
GEOMETRY_STEPS: tuple[type, ...] = (
    v2.Resize,
    v2.RandomCrop,
    v2.RandomHorizontalFlip,
    MultiScaleCrop,
    v2.PILToTensor,  # a no-op on tensors: the end of every uint8 recipe
)
_MODES = {InterpolationMode.BILINEAR: "bilinear", InterpolationMode.BICUBIC: "bicubic"}


class GeometryProbe(tv_tensors.Image):
    """A pixel-less image of size ``height × width`` that records the geometric kernels run on
    it as `Plan` ops. Built with `GeometryProbe.of`."""

    height: int
    width: int
    ops: Plan

    @classmethod
    def of(cls, height: int, width: int, ops: Plan = ()) -> GeometryProbe:
        probe = torch.empty(0, 0).as_subclass(cls)
        probe.height, probe.width, probe.ops = int(height), int(width), tuple(ops)
        return probe

    def then(self, op: Op, height: int, width: int) -> GeometryProbe:
        return GeometryProbe.of(height, width, (*self.ops, op))


def _mode(interpolation: Any) -> str:
    mode = _MODES.get(InterpolationMode(interpolation) if interpolation is not None else None)
    if mode is None:
        raise ValueError(f"no device form for interpolation {interpolation!r}")
    return mode


@TF.register_kernel(TF.get_size, GeometryProbe)
def _probe_size(probe: GeometryProbe) -> list[int]:
    return [probe.height, probe.width]


@TF.register_kernel(TF.resize, GeometryProbe)
def _probe_resize(
    probe: GeometryProbe,
    size: Sequence[int] | int | None,
    interpolation: Any = InterpolationMode.BILINEAR,
    max_size: int | None = None,
    antialias: bool | None = True,
) -> GeometryProbe:
    if isinstance(size, int) or size is None or len(size) != 2 or max_size is not None:
        raise ValueError(f"no device form for a resize to {size!r} (give height and width)")
    height, width = (int(v) for v in size)
    mode, antialias = _mode(interpolation), bool(antialias)
    op = Resample(0, 0, probe.height, probe.width, height, width, mode, antialias)
    return probe.then(op, height, width)


@TF.register_kernel(TF.crop, GeometryProbe)
def _probe_crop(probe: GeometryProbe, top: int, left: int, height: int, width: int) -> Any:
    op = Resample(int(top), int(left), int(height), int(width), int(height), int(width))
    return probe.then(op, int(height), int(width))


@TF.register_kernel(TF.resized_crop, GeometryProbe)
def _probe_resized_crop(
    probe: GeometryProbe,
    top: int,
    left: int,
    height: int,
    width: int,
    size: Sequence[int],
    interpolation: Any = InterpolationMode.BILINEAR,
    antialias: bool | None = True,
) -> GeometryProbe:
    out_h, out_w = (int(v) for v in size)
    region = (int(top), int(left), int(height), int(width))
    op = Resample(*region, out_h, out_w, _mode(interpolation), bool(antialias))
    return probe.then(op, out_h, out_w)


@TF.register_kernel(TF.horizontal_flip, GeometryProbe)
def _probe_hflip(probe: GeometryProbe) -> GeometryProbe:
    return probe.then(HFlip(), probe.height, probe.width)


def device_geometry_issue(transform: Any) -> str | None:
    """Why ``transform`` (a recipe's uint8 `TensorCompose`) cannot run on the device, or
    ``None`` when every step is geometry with a device form."""
    steps = getattr(transform, "transforms", None)
    if steps is None:
        return f"{type(transform).__name__} is not a composed recipe"
    for step in steps:
        name = type(step).__name__
        if not isinstance(step, GEOMETRY_STEPS):
            return f"its step {name} is not geometry"
        if isinstance(step, v2.RandomCrop) and (step.padding is not None or step.pad_if_needed):
            return "its RandomCrop pads"
        if isinstance(step, v2.Resize) and (len(step.size) != 2 or step.max_size is not None):
            return f"its Resize to {step.size} keeps the aspect ratio"
        interpolation = getattr(step, "interpolation", InterpolationMode.BILINEAR)
        if InterpolationMode(interpolation) not in _MODES:
            return f"its {name} interpolates {InterpolationMode(interpolation).value}"
    return None


def plan_geometry(transform: Any, height: int, width: int) -> Plan:
    """The ops ``transform`` would run on an ``height × width`` image, drawing its random
    numbers from torch's generator exactly as it would on the image itself."""
    return transform(GeometryProbe.of(height, width)).ops


def _region(image: Tensor, op: Resample) -> Tensor:
    """``image[..., top:top+height, left:left+width]``, zero-padded outside (torchvision's
    ``crop``): a view when the region lies inside."""
    h, w = image.shape[-2:]
    bottom, right = op.top + op.height, op.left + op.width
    if op.top >= 0 and op.left >= 0 and bottom <= h and right <= w:
        return image[..., op.top : bottom, op.left : right]
    inside = image[..., max(op.top, 0) : bottom, max(op.left, 0) : right]
    padding = [
        max(min(right, 0) - op.left, 0),
        max(right - max(w, op.left), 0),
        max(min(bottom, 0) - op.top, 0),
        max(bottom - max(h, op.top), 0),
    ]
    return F.pad(inside, padding, value=0)


def _resize(images: Tensor, op: Resample) -> Tensor:
    """uint8 ``N × 3 × h × w`` → uint8 ``N × 3 × out_height × out_width``, resampled in
    float32 and rounded (bicubic can overshoot, hence the clamp)."""
    out = F.interpolate(
        images.float(),
        size=(op.out_height, op.out_width),
        mode=op.mode,
        align_corners=False,
        antialias=op.antialias,
    )
    return out.round_().clamp_(0, 255).to(torch.uint8)


def _trailing_flip(plan: Plan) -> tuple[list[Op], bool]:
    """The plan without its final flips, and whether they mirror the result (an odd count)."""
    ops = list(plan)
    flips = 0
    while ops and isinstance(ops[-1], HFlip):
        ops.pop()
        flips += 1
    return ops, flips % 2 == 1


def apply_plans(images: Sequence[Tensor], plans: Sequence[Plan]) -> Tensor:
    """Run each image's plan; uint8 ``3 × H_i × W_i`` images (one device) → uint8 ``B × 3 × S
    × S'`` (every plan must end at the same size).

    Op ``k`` of every item runs in round ``k``; in a round, the resizes with the same input
    and output shapes (and mode) are one batched ``interpolate``. The flips that end a plan
    are one ``where`` over the stacked batch.
    """
    if len(images) != len(plans):
        raise ValueError(f"{len(images)} images but {len(plans)} plans")
    state = list(images)
    peeled = [_trailing_flip(plan) for plan in plans]
    queues = [ops for ops, _ in peeled]
    while any(queues):
        groups: dict[tuple[Any, ...], list[tuple[int, Tensor]]] = defaultdict(list)
        for i, queue in enumerate(queues):
            if not queue:
                continue
            op = queue.pop(0)
            if isinstance(op, HFlip):
                state[i] = state[i].flip(-1)
                continue
            region = _region(state[i], op)
            if (op.height, op.width) == (op.out_height, op.out_width):
                state[i] = region
                continue
            groups[(*region.shape, *op[4:])].append((i, region))
        for key, members in groups.items():
            op = Resample(0, 0, *key[-6:])
            resized = _resize(torch.stack([region for _, region in members]), op)
            for (i, _), image in zip(members, resized, strict=True):
                state[i] = image
    shapes = {tuple(image.shape) for image in state}
    if len(shapes) > 1:
        raise ValueError(f"the plans end at different sizes: {sorted(shapes)}")
    if not state:
        return torch.empty(0, 3, 0, 0, dtype=torch.uint8)
    batch = torch.stack(state)
    mirror = [flip for _, flip in peeled]
    if not any(mirror):
        return batch
    flip = torch.tensor(mirror, dtype=torch.bool).to(batch.device, non_blocking=True)
    return torch.where(flip.view(-1, 1, 1, 1), batch.flip(-1), batch)
