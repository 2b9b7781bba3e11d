"""Image decoding with explicit colour conversions, and a cached scan for unreadable files.

`load_image` returns an 8-bit RGB `PIL.Image` or raises a `DataError` naming the file. It
fully decodes the pixels, so a truncated file fails here and not later inside a transform.
`decode_image` returns the same pixels as a uint8 ``3 × H × W`` tensor, the input of the
engine's transforms: an RGB JPEG (Pillow reads its header, so Pillow's decompression-bomb
limit applies) is decoded by torchvision's libjpeg-turbo decoder, which gives Pillow's pixels
bit for bit, faster (`docs/benchmarks.md`, figure 5); every other file, and any JPEG that
decoder refuses, goes through `load_image`, which then gives the verdict. (torchvision 0.29
deprecates its decoders in favour of TorchCodec; where they are gone, Pillow decodes all.)

Colour conversions (a decision documented in `datasets/*/README.md`):

* `RGB`: unchanged. `L`, `1`: grey replicated to three channels. `CMYK`, `YCbCr`, `LAB`,
  `HSV`: Pillow's conversion (Adobe-inverted CMYK JPEGs are handled by Pillow's decoder).
* 16-bit (`I;16*`) and 32-bit integer (`I`) grey: scaled, not clipped, to 8 bit,
  `v8 = round(v16 / 257)`, so 65535 -> 255. `I` images are assumed to hold 16-bit values
  (Pillow decodes some 16-bit PNG/TIFF files as `I`); values outside 0..65535 are clipped.
* Transparency (`RGBA`, `LA`, `PA`, `P` with a transparency key): alpha-composited onto a
  white background, the way a transparent product photo looks on a white page.
* `F` (floating point) has no defined display range: a `DataError`.
* EXIF orientation is not applied (like torchvision's default loader; COCO boxes refer to the
  stored pixel orientation).
"""

from __future__ import annotations

import functools
import json
import os
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import torch
from PIL import Image, ImageFile, UnidentifiedImageError
from torchvision.transforms.v2 import functional as TF
from tqdm.auto import tqdm

from agcn_pyg.errors import ConfigError, DataError
from agcn_pyg.io import write_text

BACKGROUND = (255, 255, 255)
"""Colour that transparent pixels are composited onto."""

BadImagePolicy = Literal["error", "skip"]
BAD_IMAGE_POLICIES: tuple[str, ...] = get_args(BadImagePolicy)

_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}
_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
_PILLOW_CONVERTIBLE = {"L", "1", "CMYK", "YCbCr", "LAB", "HSV", "P", "RGBX"}
_warned_truncated_flag = False


def check_bad_image_policy(policy: str) -> str:
    if policy not in BAD_IMAGE_POLICIES:
        raise ConfigError(f"on_bad_image must be one of {BAD_IMAGE_POLICIES}, got {policy!r}")
    return policy


def _refuse_truncated_images() -> None:
    # Pillow's global switch would pad a truncated JPEG with grey and report nothing.
    global _warned_truncated_flag
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        if not _warned_truncated_flag:
            _warned_truncated_flag = True
            warnings.warn(
                "PIL.ImageFile.LOAD_TRUNCATED_IMAGES was True; agcn_pyg set it back to False "
                "so that truncated images are reported instead of loaded half-grey",
                RuntimeWarning,
                stacklevel=3,
            )


def to_rgb(image: Image.Image, *, where: str = "image") -> Image.Image:
    """Convert a decoded Pillow image of any supported mode to 8-bit RGB (see module doc)."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in _SIXTEEN_BIT_MODES:
        values = np.asarray(image, dtype=np.float64)
        eight_bit = np.clip(np.rint(values / 257.0), 0, 255).astype(np.uint8)
        return Image.fromarray(eight_bit, mode="L").convert("RGB")
    if mode == "P" and "transparency" in image.info:
        image, mode = image.convert("RGBA"), "RGBA"
    if mode in _ALPHA_MODES:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode in _PILLOW_CONVERTIBLE:
        return image.convert("RGB")
    raise DataError(f"{where}: unsupported image mode {mode!r} (no defined 8-bit RGB conversion)")


def load_image(path: str | os.PathLike[str]) -> Image.Image:
    """Open, fully decode and convert one image to 8-bit RGB.

    Raises `DataError` naming the file when it is missing, empty, truncated, corrupt or of an
    unsupported mode.
    """
    file = Path(path)
    _refuse_truncated_images()
    try:
        size = file.stat().st_size
    except FileNotFoundError:
        raise DataError(f"{file}: image file not found") from None
    except OSError as err:
        raise DataError(f"{file}: cannot access image file ({err.strerror or err})") from None
    if size == 0:
        raise DataError(f"{file}: image file is empty (0 bytes)")
    try:
        with Image.open(file) as opened:
            opened.load()
            mode = opened.mode
            image = to_rgb(opened, where=str(file))
            if image is opened:
                image = opened.copy()
    except DataError:
        raise
    except UnidentifiedImageError:
        raise DataError(f"{file}: not a readable image (unknown format, corrupt header)") from None
    except Image.DecompressionBombError as err:
        raise DataError(f"{file}: image too large to decode safely ({err})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        reason = str(err) or type(err).__name__
        raise DataError(f"{file}: corrupt or truncated image ({reason})") from None
    image.info["source_mode"] = mode
    return image


_JPEG_START = b"\xff\xd8\xff"
#: torchvision 0.29's notice that its decoders move to TorchCodec
_TORCHVISION_DEPRECATION = "The image decoding and encoding capabilities of TorchVision"


def decode_image(path: str | os.PathLike[str]) -> torch.Tensor:
    """One image as uint8 ``3 × H × W`` RGB: `load_image`'s pixels and errors (module doc)."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError:
        data = b""  # load_image names the problem
    decoder = _torchvision_jpeg_decoder()
    if decoder is not None and _is_plain_colour_jpeg(data):
        try:
            with quiet_torchvision():
                return decoder(torch.frombuffer(bytearray(data), dtype=torch.uint8))
        except RuntimeError:
            pass  # corrupt or truncated, or a variant this decoder lacks: Pillow decides
    return TF.pil_to_tensor(load_image(file))


@contextmanager
def quiet_torchvision() -> Iterator[None]:
    """Silence torchvision 0.29's deprecation notice, which it issues on every decode (2 µs)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_TORCHVISION_DEPRECATION)
        yield


def jpeg_decoder() -> Callable[..., Any] | None:
    """torchvision's ``decode_jpeg`` (one tensor, or a list of them with ``device=``), or
    ``None`` where it is gone."""
    return _torchvision_jpeg_decoder()


@functools.cache
def _torchvision_jpeg_decoder() -> Callable[[torch.Tensor], torch.Tensor] | None:
    """torchvision's ``decode_jpeg``, or ``None`` where it is gone (Pillow decodes then)."""
    try:
        from torchvision.io import decode_jpeg
    except ImportError:
        return None
    return decode_jpeg


def image_for(transform: Callable[[Any], Any] | None, path: str | os.PathLike[str]) -> Any:
    """``path`` decoded as ``transform`` takes it and transformed: a uint8 tensor for none
    and for transforms with ``takes_tensors`` (`decode_image`), else a PIL image. A transform
    with ``reads_files`` (`agcn_pyg.data.device_decode.FileBytes`) gets the path itself."""
    if getattr(transform, "reads_files", False):
        return transform.from_file(path)
    if transform is None:
        return decode_image(path)
    if getattr(transform, "takes_tensors", False):
        return transform(decode_image(path))
    return transform(load_image(path))


# Start-of-frame markers (baseline, extended, progressive, lossless; Huffman or arithmetic).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _is_plain_colour_jpeg(data: bytes) -> bool:
    """Whether ``data`` is a JPEG of three colour components (Pillow's mode ``RGB``) within
    Pillow's decompression-bomb limit (`plain_jpeg_size`)."""
    return plain_jpeg_size(data) is not None


def plain_jpeg_size(data: bytes) -> tuple[int, int] | None:
    """``(height, width)`` of a JPEG of three colour components (Pillow's mode ``RGB``) within
    Pillow's decompression-bomb limit, read from its frame header (Pillow's own header
    parsing cost about a fifth of the decode); ``None`` for anything else."""
    if not data.startswith(_JPEG_START):
        return None
    pos, end = 2, len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker in _SOF_MARKERS:
            if pos + 10 > end:
                return None
            height = int.from_bytes(data[pos + 5 : pos + 7], "big")
            width = int.from_bytes(data[pos + 7 : pos + 9], "big")
            limit = Image.MAX_IMAGE_PIXELS
            plain = data[pos + 9] == 3 and (limit is None or width * height <= limit)
            return (height, width) if plain and height > 0 and width > 0 else None
        if marker == 0xDA or length < 2:  # scan data before any frame header: malformed
            return None
        pos += 2 + length
    return None


@dataclass
class ScanResult:
    """Outcome of `scan_images`: per-path errors and a count of source colour modes."""

    errors: dict[str, str] = field(default_factory=dict)
    modes: Counter[str] = field(default_factory=Counter)
    cached: int = 0


def _check_one(path: str) -> tuple[str | None, str | None]:
    try:
        image = load_image(path)
    except DataError as err:
        return str(err), None
    return None, str(image.info.get("source_mode", "RGB"))


def _fingerprint(path: str) -> list[int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns]


def scan_images(
    paths: Sequence[str | os.PathLike[str]],
    *,
    cache_file: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    progress: bool = True,
    desc: str = "checking images",
    check: Callable[[str], tuple[str | None, str | None]] = _check_one,
) -> ScanResult:
    """Decode every image once and report which ones fail.

    With `cache_file`, results are stored as JSON keyed by path with the file's size and
    modification time, so a second scan re-decodes only files that changed.
    """
    keys = [str(path) for path in paths]
    cache: dict[str, list[object]] = {}
    if cache_file is not None and Path(cache_file).is_file():
        try:
            loaded = json.loads(Path(cache_file).read_text(encoding="utf-8"))
            cache = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            cache = {}  # a damaged cache is rebuilt, never trusted
    result = ScanResult()
    todo: list[str] = []
    fingerprints: dict[str, list[int] | None] = {}
    for key in dict.fromkeys(keys):
        fingerprints[key] = _fingerprint(key)
        entry = cache.get(key)
        if (
            isinstance(entry, list)
            and len(entry) == 3
            and fingerprints[key] is not None
            and entry[0] == fingerprints[key]
        ):
            error, mode = entry[1], entry[2]
            if error is not None:
                result.errors[key] = str(error)
            else:
                result.modes[str(mode)] += 1
            result.cached += 1
        else:
            todo.append(key)
    n_workers = workers if workers is not None else min(8, os.cpu_count() or 1)
    bar = tqdm(total=len(todo), desc=desc, unit="img", disable=not progress or not todo)
    with ThreadPoolExecutor(max_workers=max(1, n_workers)) as pool:
        for key, (error, mode) in zip(todo, pool.map(check, todo, chunksize=16), strict=True):
            if error is not None:
                result.errors[key] = error
            else:
                result.modes[str(mode)] += 1
            cache[key] = [fingerprints[key], error, mode]
            bar.update(1)
    bar.close()
    if cache_file is not None and todo:
        write_text(cache_file, json.dumps(cache))
    return result
