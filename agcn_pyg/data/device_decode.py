r"""``data.decode``: JPEG batches decoded where the model runs, workers reading only bytes.

``data.decode: cpu`` is the path of `agcn_pyg.data.transforms`: each DataLoader worker
decodes its images and runs the recipe's geometry; the batch travels as uint8 and
`DeviceNormalize` finishes it on the device. ``gpu`` moves the pixels off the host:

1. a worker (`FileBytes`, the dataset's transform) reads the file's bytes and the JPEG frame
   header, and draws the item's geometry as a `Plan` (`agcn_pyg.data.geometry`): the same
   transforms, the same random numbers, under the item's seed, no pixels;
2. `collate_encoded` packs a batch's bytes into one tensor (`EncodedBatch`);
3. in the training process `DeviceDecode` decodes the batch with torchvision's batched
   ``decode_jpeg(list_of_tensors, device=...)`` (nvJPEG on CUDA), runs the plans batched
   (`apply_plans`) and normalises (`DeviceNormalize`). On CUDA this runs on a side stream
   that the training stream waits for, so it overlaps the work already queued (the previous
   step's backward and update).

What the device decoder cannot take goes the CPU way, counted in `DeviceDecode.counts`
(``env.json``'s ``decode``): a file that is not a three-component JPEG within Pillow's
decompression-bomb limit (PNG, grey or CMYK JPEG; `agcn_pyg.data.images.plain_jpeg_size`)
is finished in its worker exactly as with ``cpu`` (``cpu``); a JPEG the device decoder
refuses is decoded by `decode_image` in the training process (``refused``), whose error
names the file if it is corrupt.

The same code runs with ``device="cpu"`` (torchvision's libjpeg-turbo decoder, the CPU path's
own): that is how the tests compare its pixels with the CPU path's. ``auto`` is ``gpu`` on
CUDA where torchvision decodes there and the recipe is pure geometry
(`agcn_pyg.data.geometry.device_geometry_issue`), else ``cpu``.
"""

from __future__ import annotations

import functools
import io
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import default_collate

from agcn_pyg.data.geometry import Plan, apply_plans, device_geometry_issue, plan_geometry
from agcn_pyg.data.images import decode_image, jpeg_decoder, plain_jpeg_size, quiet_torchvision
from agcn_pyg.data.transforms import DeviceNormalize
from agcn_pyg.errors import ConfigError

#: ``data.decode``'s values
DECODE_MODES = ("auto", "cpu", "gpu")


class EncodedImage(NamedTuple):
    """What a `FileBytes` worker returns for one image.

    Attributes:
        data: the file's bytes (1-D uint8), or, where ``plan`` is ``None``, the image already
            finished on the CPU path (uint8 ``3 × S × S'``).
        plan: the item's geometry (`agcn_pyg.data.geometry.Plan`); ``None``: finished.
        path: the file, for error messages.
    """

    data: Tensor
    plan: Plan | None
    path: str


class FileBytes:
    """A dataset transform for ``data.decode: gpu``: the worker reads bytes and draws the plan.

    Wraps a recipe's uint8 `TensorCompose` (``transform``), which still finishes the files the
    device decoder cannot take, and whose steps, run on a `GeometryProbe`, make the plans.
    `agcn_pyg.data.images.image_for` hands it the path (``reads_files``).
    """

    reads_files = True

    def __init__(self, transform: Any) -> None:
        issue = device_geometry_issue(transform)
        if issue is not None:
            raise ConfigError(f"data.decode=gpu: the recipe has no device form ({issue})")
        self.transform = transform

    def from_file(self, path: str | os.PathLike[str]) -> EncodedImage:
        file = Path(path)
        try:
            data = file.read_bytes()
        except OSError:
            data = b""  # decode_image names the problem
        size = plain_jpeg_size(data)
        if size is None:
            return EncodedImage(self.transform(decode_image(file)), None, str(file))
        plan = plan_geometry(self.transform, *size)
        return EncodedImage(torch.frombuffer(bytearray(data), dtype=torch.uint8), plan, str(file))

    def __call__(self, image: Any) -> Any:
        """A decoded image goes through the CPU path's transform unchanged."""
        return self.transform(image)

    def __repr__(self) -> str:
        return f"FileBytes({self.transform!r})"


@dataclass
class EncodedBatch:
    """A batch of `EncodedImage`: the encoded files' bytes packed into one tensor, and the
    images the workers finished.

    Attributes:
        packed: every encoded file's bytes, concatenated (1-D uint8).
        lengths: the byte count of each encoded file, in batch order.
        finished: uint8 ``F × 3 × S × S'``, the images finished on the CPU path.
        plans: one per item; ``None`` for a finished one (taken from ``finished`` in order).
        paths: one per item.
    """

    packed: Tensor
    lengths: list[int]
    finished: Tensor | None
    plans: list[Plan | None]
    paths: list[str]

    def __len__(self) -> int:
        return len(self.plans)

    def blobs(self) -> list[Tensor]:
        """Each encoded file's bytes, a view of ``packed``."""
        return list(torch.split(self.packed, self.lengths)) if self.lengths else []

    def pin_memory(self) -> EncodedBatch:
        """For the DataLoader's pinning thread: page-locked bytes and pixels copy to the GPU
        asynchronously."""
        finished = None if self.finished is None else self.finished.pin_memory()
        packed = self.packed.pin_memory()
        return EncodedBatch(packed, self.lengths, finished, self.plans, self.paths)


def collate_encoded(samples: Sequence[tuple[Any, ...]]) -> tuple[Any, ...]:
    """``[(EncodedImage, target, ...)]`` → ``(EncodedBatch, targets, ...)``; the other fields
    collate as PyTorch's default does."""
    images, *rest = zip(*samples, strict=True)
    blobs = [image.data for image in images if image.plan is not None]
    done = [image.data for image in images if image.plan is None]
    batch = EncodedBatch(
        torch.cat(blobs) if blobs else torch.empty(0, dtype=torch.uint8),
        [blob.numel() for blob in blobs],
        torch.stack(done) if done else None,
        [image.plan for image in images],
        [image.path for image in images],
    )
    return (batch, *(default_collate(list(column)) for column in rest))


class DeviceDecode:
    """Finishes `EncodedBatch` batches where the model runs: decode, geometry, normalise.

    ``__call__(batch, device, channels_last)`` has `DeviceNormalize`'s signature and result
    (float32 ``B × 3 × S × S'``), so the trainer and `collect_logits` take either; a tensor
    batch goes to `DeviceNormalize` unchanged.

    Attributes:
        counts: images decoded by the device decoder (``device``), finished by a worker on the
            CPU path (``cpu``: not a plain colour JPEG) and refused by the device decoder,
            then decoded in this process (``refused``).
    """

    def __init__(self, normalize: DeviceNormalize | None = None) -> None:
        self.normalize = normalize or DeviceNormalize()
        self.counts: Counter[str] = Counter({"device": 0, "cpu": 0, "refused": 0})
        self._streams: dict[torch.device, Any] = {}

    def __call__(
        self,
        batch: EncodedBatch | Tensor,
        device: torch.device | str | None = None,
        channels_last: bool = False,
    ) -> Tensor:
        if not isinstance(batch, EncodedBatch):
            return self.normalize(batch, device, channels_last)
        device = torch.device(device if device is not None else "cpu")
        if device.type != "cuda":
            return self._finish(batch, device, channels_last)
        # A side stream: the decode overlaps what the training stream has queued; the
        # training stream waits for it before it reads the batch.
        main = torch.cuda.current_stream(device)
        if device not in self._streams:
            self._streams[device] = torch.cuda.Stream(device)
        side = self._streams[device]
        with torch.cuda.stream(side):
            out = self._finish(batch, device, channels_last)
        main.wait_stream(side)
        out.record_stream(main)  # allocated on the side stream, read on the training stream
        return out

    def _finish(self, batch: EncodedBatch, device: torch.device, channels_last: bool) -> Tensor:
        coded = [i for i, plan in enumerate(batch.plans) if plan is not None]
        paths = [batch.paths[i] for i in coded]
        images = self._decode(batch.blobs(), paths, device)
        parts = []
        if coded:
            parts.append((coded, apply_plans(images, [batch.plans[i] for i in coded])))
        if batch.finished is not None:
            done = [i for i, plan in enumerate(batch.plans) if plan is None]
            self.counts["cpu"] += len(done)
            parts.append((done, batch.finished.to(device, non_blocking=True)))
        if len(parts) == 1:
            out = parts[0][1]
        else:
            shape = (len(batch), *parts[0][1].shape[1:])
            out = torch.empty(shape, dtype=torch.uint8, device=device)
            for index, pixels in parts:
                out[torch.tensor(index, device=device)] = pixels
        return self.normalize(out, None, channels_last)

    def _decode(self, blobs: list[Tensor], paths: list[str], device: torch.device) -> list[Tensor]:
        if not blobs:
            return []
        decoder = jpeg_decoder()
        try:
            with quiet_torchvision():
                images = decoder(blobs, device=device)
        except RuntimeError:  # one file of the batch: find it, decode the others
            return [
                self._decode_one(blob, path, device)
                for blob, path in zip(blobs, paths, strict=True)
            ]
        self.counts["device"] += len(images)
        return list(images)

    def _decode_one(self, blob: Tensor, path: str, device: torch.device) -> Tensor:
        decoder = jpeg_decoder()
        try:
            with quiet_torchvision():
                image = decoder(blob, device=device)
        except RuntimeError:
            self.counts["refused"] += 1
            return decode_image(path).to(device)  # Pillow's verdict, naming the file
        self.counts["device"] += 1
        return image

    def stats(self) -> dict[str, int]:
        return dict(self.counts)

    def __repr__(self) -> str:
        return f"DeviceDecode({self.normalize!r})"


def _tiny_jpeg() -> Tensor:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 8), (200, 30, 60)).save(buffer, format="JPEG")
    return torch.frombuffer(bytearray(buffer.getvalue()), dtype=torch.uint8)


@functools.cache
def _decodes_on(device: str) -> str | None:
    """Why torchvision cannot decode a batch of JPEGs on ``device``, or ``None`` when it can
    (tried once per device on a generated 16 × 8 JPEG)."""
    decoder = jpeg_decoder()
    if decoder is None:
        return "this torchvision has no decode_jpeg"
    try:
        with quiet_torchvision():
            out = decoder([_tiny_jpeg()], device=device)
    except (RuntimeError, TypeError, ValueError) as err:
        return (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
    if len(out) != 1 or tuple(out[0].shape) != (3, 8, 16):
        return f"decode_jpeg returned {[tuple(o.shape) for o in out]} for one 3 × 8 × 16 image"
    return None


def device_decoder_issue(device: torch.device | str) -> str | None:
    """Why JPEG batches cannot be decoded on ``device`` here, or ``None``."""
    return _decodes_on(str(torch.device(device)))


def resolve_decode(mode: str, device: torch.device | str, transforms: Sequence[Any]) -> str:
    """``data.decode`` for a run on ``device`` with these uint8 recipe ``transforms``:
    ``cpu`` or ``gpu`` (see the module docstring).

    Raises:
        ConfigError: ``gpu`` where torchvision cannot decode on ``device`` or a transform has
            no device form.
    """
    assert mode in DECODE_MODES, mode  # the schema checked data.decode
    if mode == "cpu":
        return "cpu"
    device = torch.device(device)
    issues = [device_geometry_issue(t) for t in transforms]
    geometry = next((f"the recipe has no device form ({i})" for i in issues if i), None)
    if mode == "auto":
        ok = device.type == "cuda" and geometry is None and device_decoder_issue(device) is None
        return "gpu" if ok else "cpu"
    decoder = device_decoder_issue(device)
    problem = geometry or (decoder and f"torchvision cannot decode JPEGs on {device} ({decoder})")
    if problem:
        raise ConfigError(f"data.decode=gpu: {problem}; use data.decode=cpu or auto")
    return "gpu"
