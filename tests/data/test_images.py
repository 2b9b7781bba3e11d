from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from agcn_pyg.data.images import load_image, scan_images
from agcn_pyg.errors import DataError


def test_rgb_jpeg_loads_as_rgb(image_factory):
    image = load_image(image_factory("a.jpg"))
    assert image.mode == "RGB" and image.size == (40, 40)


def test_grayscale_is_replicated(tmp_path: Path):
    path = tmp_path / "g.png"
    Image.fromarray(np.full((8, 8), 77, dtype=np.uint8), mode="L").save(path)
    pixels = np.asarray(load_image(path))
    assert pixels.shape == (8, 8, 3) and (pixels == 77).all()


def test_cmyk_jpeg_converts_to_rgb(tmp_path: Path):
    path = tmp_path / "c.jpg"
    Image.new("RGB", (16, 16), (255, 0, 0)).convert("CMYK").save(path, quality=100)
    assert Image.open(path).mode == "CMYK"
    pixels = np.asarray(load_image(path)).astype(int)
    assert pixels.shape == (16, 16, 3)
    red = pixels.reshape(-1, 3).mean(axis=0)
    assert red[0] > 200 and red[1] < 60 and red[2] < 60


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path: Path):
    path = tmp_path / "g16.png"
    values = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")
    pixels = np.asarray(load_image(path))[0, :, 0]
    # Clipping would give 255 for every value above 255.
    assert pixels.tolist() == [0, 1, 128, 255]


def test_thirty_two_bit_integer_mode_uses_sixteen_bit_scale(tmp_path: Path):
    path = tmp_path / "i32.tif"
    Image.fromarray(np.array([[0, 65535, 70000]], dtype=np.int32)).save(path)
    assert Image.open(path).mode == "I"
    assert np.asarray(load_image(path))[0, :, 0].tolist() == [0, 255, 255]


def test_rgba_is_composited_on_white(tmp_path: Path):
    path = tmp_path / "t.png"
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)  # opaque red
    rgba[0, 1] = (0, 0, 0, 0)  # fully transparent black
    rgba[1, 0] = (0, 0, 0, 128)  # half-transparent black
    Image.fromarray(rgba, mode="RGBA").save(path)
    pixels = np.asarray(load_image(path)).astype(int)
    assert pixels[0, 0].tolist() == [255, 0, 0]
    assert pixels[0, 1].tolist() == [255, 255, 255]
    assert all(120 <= v <= 135 for v in pixels[1, 0])


def test_palette_with_transparency_and_la_use_white(tmp_path: Path):
    palette = Image.new("P", (2, 1))
    palette.putpalette([0, 0, 0, 10, 200, 10] + [0] * 762)
    palette.putpixel((0, 0), 0)
    palette.putpixel((1, 0), 1)
    palette.save(tmp_path / "p.png", transparency=0)
    pixels = np.asarray(load_image(tmp_path / "p.png")).astype(int)
    assert pixels[0, 0].tolist() == [255, 255, 255]
    assert pixels[0, 1].tolist() == [10, 200, 10]

    la = np.array([[[50, 0]]], dtype=np.uint8)
    Image.fromarray(la, mode="LA").save(tmp_path / "la.png")
    assert np.asarray(load_image(tmp_path / "la.png"))[0, 0].tolist() == [255, 255, 255]


def test_float_mode_is_refused(tmp_path: Path):
    path = tmp_path / "f.tif"
    Image.fromarray(np.zeros((4, 4), dtype=np.float32), mode="F").save(path)
    with pytest.raises(DataError, match=r"f\.tif.*unsupported image mode 'F'"):
        load_image(path)


def test_missing_file_names_the_file(tmp_path: Path):
    with pytest.raises(DataError, match=r"nope\.jpg: image file not found"):
        load_image(tmp_path / "nope.jpg")


def test_zero_byte_file(tmp_path: Path):
    (tmp_path / "zero.jpg").write_bytes(b"")
    with pytest.raises(DataError, match=r"zero\.jpg: image file is empty \(0 bytes\)"):
        load_image(tmp_path / "zero.jpg")


def test_truncated_jpeg_is_an_error(tmp_path: Path, jpeg_data: bytes):
    data = jpeg_data
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cut\.jpg: corrupt or truncated image"):
        load_image(tmp_path / "cut.jpg")


def test_truncated_jpeg_is_an_error_even_if_pillow_was_told_otherwise(
    tmp_path: Path, jpeg_data: bytes
):
    data = jpeg_data
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        with warnings.catch_warnings(record=True), pytest.raises(DataError, match="truncated"):
            warnings.simplefilter("always")
            load_image(tmp_path / "cut.jpg")
        assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False


def test_corrupt_files(tmp_path: Path, png_data: bytes):
    (tmp_path / "text.jpg").write_bytes(b"this is not an image at all")
    with pytest.raises(DataError, match=r"text\.jpg: not a readable image"):
        load_image(tmp_path / "text.jpg")
    png = bytearray(png_data)
    start = png.find(b"IDAT")
    png[start + 10 : start + 20] = b"\x00" * 10
    (tmp_path / "broken.png").write_bytes(bytes(png))
    with pytest.raises(DataError, match=r"broken\.png: corrupt or truncated image"):
        load_image(tmp_path / "broken.png")


def test_scan_reports_errors_and_modes_and_uses_its_cache(
    tmp_path: Path, image_factory, jpeg_data: bytes
):
    good = image_factory("good.jpg")
    gray = tmp_path / "gray.png"
    Image.new("L", (8, 8), 3).save(gray)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"garbage")
    cache = tmp_path / "cache.json"
    first = scan_images([good, gray, bad], cache_file=cache, progress=False, workers=2)
    assert set(first.errors) == {str(bad)} and "bad.jpg" in first.errors[str(bad)]
    assert first.modes == {"RGB": 1, "L": 1} and first.cached == 0
    second = scan_images([good, gray, bad], cache_file=cache, progress=False)
    assert second.cached == 3 and second.errors == first.errors
    bad.write_bytes(jpeg_data)  # fixed: size and mtime change, so it is decoded again
    third = scan_images([good, gray, bad], cache_file=cache, progress=False)
    assert third.cached == 2 and third.errors == {}


def _photo_jpeg(path: Path, mode: str = "RGB") -> Path:
    rng = np.random.default_rng(0)
    base = np.clip(rng.normal(128, 60, (48, 64, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(base).convert(mode).save(path, quality=85)
    return path


@pytest.mark.parametrize("mode", ["RGB", "L", "CMYK"])
def test_decode_image_gives_load_images_pixels(tmp_path: Path, mode: str) -> None:
    import torch

    from agcn_pyg.data import decode_image

    path = _photo_jpeg(tmp_path / f"{mode}.jpg", mode)
    tensor = decode_image(path)
    assert tensor.dtype == torch.uint8 and tensor.shape == (3, 48, 64)
    assert np.array_equal(tensor.permute(1, 2, 0).numpy(), np.asarray(load_image(path)))
    png = tmp_path / "alpha.png"
    Image.new("RGBA", (5, 4), (10, 20, 30, 0)).save(png)
    assert np.array_equal(decode_image(png).permute(1, 2, 0).numpy(), np.asarray(load_image(png)))


def test_decode_image_errors_are_load_images(tmp_path: Path) -> None:
    from agcn_pyg.data import decode_image

    data = _photo_jpeg(tmp_path / "whole.jpg").read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])
    for path, message in (
        (cut, "corrupt or truncated"),
        (tmp_path / "missing.jpg", "image file not found"),
    ):
        with pytest.raises(DataError, match=message) as got:
            decode_image(path)
        with pytest.raises(DataError) as expected:
            load_image(path)
        assert str(got.value) == str(expected.value)


def test_jpeg_frame_header_decides_the_fast_path(tmp_path: Path, monkeypatch) -> None:
    import agcn_pyg.data.images as images

    rgb = _photo_jpeg(tmp_path / "rgb.jpg").read_bytes()
    progressive = tmp_path / "progressive.jpg"
    Image.open(tmp_path / "rgb.jpg").save(progressive, progressive=True, quality=85)
    grey = _photo_jpeg(tmp_path / "grey.jpg", "L").read_bytes()
    cmyk = _photo_jpeg(tmp_path / "cmyk.jpg", "CMYK").read_bytes()
    assert images._is_plain_colour_jpeg(rgb)
    assert images._is_plain_colour_jpeg(progressive.read_bytes())
    assert not images._is_plain_colour_jpeg(grey) and not images._is_plain_colour_jpeg(cmyk)
    assert not images._is_plain_colour_jpeg(rgb[:20])  # cut before its frame header
    assert not images._is_plain_colour_jpeg(b"\x89PNG\r\n\x1a\n")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # the bomb limit holds here too
    assert not images._is_plain_colour_jpeg(rgb)
    monkeypatch.undo()

    calls = []
    decoder = images._torchvision_jpeg_decoder()
    monkeypatch.setattr(
        images, "_torchvision_jpeg_decoder", lambda: lambda data: calls.append(1) or decoder(data)
    )
    images.decode_image(tmp_path / "rgb.jpg")
    images.decode_image(tmp_path / "grey.jpg")
    assert calls == [1]  # torchvision decoded the RGB JPEG, Pillow the grey one
