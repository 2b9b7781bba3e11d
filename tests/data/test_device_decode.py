"""``data.decode: gpu`` against the CPU path: the same decisions, pixels within a measured
tolerance, and the files the device decoder cannot take counted on the CPU path.

Both paths run here through the trainer's own loader (`make_loader`: the per-item seeds of
`SeededSampler`), on the ``device`` fixture: on the CPU the device path decodes with
torchvision's libjpeg-turbo decoder (the CPU path's own), so the only difference is the
resampling: float32 ``interpolate`` rounded to uint8 against torchvision's fixed-point uint8
kernel. Measured on these textures (12 JPEGs, 37–90 px, 3 seeds, 32 px crops): at most **1
uint8 step per resize** (2 for ``agcn_official``'s two), and a mean difference of **0.11–0.16
steps** for one resize (11–16 % of the values one step apart), **0.22** for two; no batch's
mean above 0.174 steps per resize (the figures in ``docs/benchmarks.md``). On CUDA the
decoder is nvJPEG, whose pixels differ from libjpeg-turbo's by a mean below 2 steps
(torchvision's own test of it); the crops and flips are the same, so the mean difference
stays below 2 where a wrong crop of these textures would be tens of steps.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from agcn_pyg.config import DataConfig
from agcn_pyg.data import (
    DECODE_MODES,
    IMAGENET_STD,
    TRANSFORM_RECIPES,
    DeviceDecode,
    MultiLabelDataset,
    TensorCompose,
    build_transforms,
    device_decode,
    resolve_decode,
)
from agcn_pyg.data.geometry import HFlip, Resample, apply_plans, plan_geometry
from agcn_pyg.engine.inputs import RunData, make_loader, with_transforms
from agcn_pyg.errors import ConfigError, DataError

#: resizes per recipe's training transform: the most uint8 steps the paths may differ by
RESIZES = {"paper": 1, "mlgcn": 1, "agcn_official": 2}
#: the largest mean difference per resize, in uint8 steps, allowed in a batch (measured ≤ 0.174)
MEAN_STEPS_PER_RESIZE = 0.2


def _texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Random 4 × 4 px colour blocks: any wrong crop or flip moves every pixel."""
    blocks = rng.integers(0, 256, (height // 4 + 1, width // 4 + 1, 3), dtype=np.uint8)
    return np.repeat(np.repeat(blocks, 4, 0), 4, 1)[:height, :width]


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("jpegs")
    rng = np.random.default_rng(0)
    paths = []
    for i in range(12):
        height, width = (int(v) for v in rng.integers(37, 91, 2))
        path = root / f"photo_{i:02d}.jpg"
        # 4:4:4: no chroma upsampling, where nvJPEG and libjpeg-turbo differ most at the
        # blocks' sharp colour edges; what is compared is the plumbing, not the decoders
        Image.fromarray(_texture(rng, height, width)).save(path, quality=92, subsampling=0)
        paths.append(path)
    return paths


def _splits(paths: list[Path]) -> RunData:
    """One label per file, so a batch's targets say which files it holds."""
    labels = [f"file{i}" for i in range(len(paths))]
    dataset = MultiLabelDataset(paths, np.eye(len(paths), dtype=np.int8), labels)
    return RunData(dataset, dataset.with_transform(None), labels)


def _both_paths(paths: list[Path], recipe: str, device: str) -> tuple[RunData, RunData]:
    cfg = DataConfig(transforms=recipe, image_size=32, resize_size=40)
    cpu = with_transforms(_splits(paths), replace(cfg, decode="cpu"))
    gpu = with_transforms(_splits(paths), replace(cfg, decode="gpu"), None, device)
    assert (cpu.decode, gpu.decode) == ("cpu", "gpu")
    return cpu, gpu


def _batches(
    data: RunData, train: bool, seed: int, device: str
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``(normalised images, file indices)`` of a pass of the trainer's loader."""
    split = data.train if train else data.val
    generator = torch.Generator().manual_seed(seed)
    loader = make_loader(split, 5, 0, train=train, generator=generator, collate_fn=data.collate)
    return [(data.normalize(b[0], device).cpu(), b[1].argmax(1)) for b in loader]


def _steps(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Normalised batches back in uint8 steps: |a − b| · σ · 255."""
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return ((a - b).abs() * std * 255).round()


@pytest.mark.parametrize("recipe", TRANSFORM_RECIPES.names())  # a new one needs its RESIZES
def test_the_device_path_gives_the_cpu_paths_crops_and_pixels(
    photos: list[Path], recipe: str, device: str
) -> None:
    cpu, gpu = _both_paths(photos, recipe, device)
    for train in (True, False):
        for seed in range(3):
            pairs = zip(
                _batches(cpu, train, seed, device), _batches(gpu, train, seed, device), strict=True
            )
            for (a, files_a), (b, files_b) in pairs:
                assert torch.equal(files_a, files_b)
                steps = _steps(a, b)
                if device == "cpu":
                    resizes = RESIZES[recipe] if train else 1
                    assert steps.max() <= resizes
                    assert steps.mean() <= MEAN_STEPS_PER_RESIZE * resizes
                else:
                    assert steps.mean() < 2
    assert gpu.normalize.counts["cpu"] == gpu.normalize.counts["refused"] == 0
    assert gpu.normalize.counts["device"] == 3 * (10 + 12)  # 2 batches of 5 in training


def test_plans_draw_the_transforms_own_random_numbers(photos: list[Path]) -> None:
    """The plan of an item leaves torch's generator where the real transform leaves it, and
    runs to the transform's pixels within one step per resize."""
    from agcn_pyg.data import decode_image

    for recipe, resizes in RESIZES.items():
        train, _ = build_transforms(recipe, 32, 40, output="uint8")
        for seed, path in enumerate(photos):
            image = decode_image(path)
            torch.manual_seed(seed)
            expected = train(image)
            after_transform = torch.rand(())
            torch.manual_seed(seed)
            plan = plan_geometry(train, *image.shape[-2:])
            assert torch.rand(()) == after_transform
            got = apply_plans([image], [plan])[0]
            assert (got.int() - expected.int()).abs().max() <= resizes


def test_apply_plans_pads_crops_beyond_the_image_and_mirrors() -> None:
    image = torch.arange(2 * 3, dtype=torch.uint8).view(1, 2, 3).expand(3, 2, 3)
    crop = Resample(top=-1, left=1, height=3, width=3, out_height=3, out_width=3)
    out = apply_plans([image], [(crop, HFlip())])[0, 0]
    # torchvision's crop pads with zeros outside the image; then the mirror
    assert out.tolist() == [[0, 0, 0], [0, 2, 1], [0, 5, 4]]


def _odd_files(root: Path) -> list[Path]:
    rng = np.random.default_rng(1)
    pixels = _texture(rng, 48, 40)
    out = []
    for name, image in (
        ("png.png", Image.fromarray(pixels)),
        ("grey.jpg", Image.fromarray(pixels).convert("L")),
        ("cmyk.jpg", Image.fromarray(pixels).convert("CMYK")),
    ):
        image.save(root / name)
        out.append(root / name)
    return out


def test_files_the_device_decoder_cannot_take_go_the_cpu_way_counted(
    photos: list[Path], tmp_path: Path
) -> None:
    odd = _odd_files(tmp_path)
    paths = [*photos[:3], *odd]
    cpu, gpu = _both_paths(paths, "paper", "cpu")
    batches = zip(_batches(cpu, False, 0, "cpu"), _batches(gpu, False, 0, "cpu"), strict=True)
    for (a, files), (b, _) in batches:
        steps = _steps(a, b).flatten(1).amax(1)
        for k, index in enumerate(files.tolist()):
            assert steps[k] <= (0 if paths[index] in odd else 1)  # the CPU path's own pixels
    assert gpu.normalize.counts == {"device": 3, "cpu": 3, "refused": 0}


def test_a_jpeg_the_device_decoder_refuses_is_decoded_here_and_counted(
    photos: list[Path], monkeypatch
) -> None:
    real = device_decode.jpeg_decoder()
    victim = photos[4].stat().st_size

    def fussy(data, device="cpu"):
        blobs = data if isinstance(data, list) else [data]
        if any(blob.numel() == victim for blob in blobs):
            raise RuntimeError("nvjpeg: unsupported")
        return real(data, device=device)

    monkeypatch.setattr(device_decode, "jpeg_decoder", lambda: fussy)
    cpu, gpu = _both_paths(photos, "paper", "cpu")
    batches = zip(_batches(cpu, False, 0, "cpu"), _batches(gpu, False, 0, "cpu"), strict=True)
    for (a, _), (b, _) in batches:
        assert _steps(a, b).max() <= 1
    assert gpu.normalize.counts == {"device": 11, "cpu": 0, "refused": 1}


def test_a_corrupt_jpeg_is_one_error_naming_the_file(photos: list[Path], tmp_path: Path) -> None:
    broken = tmp_path / "broken.jpg"
    data = photos[0].read_bytes()
    broken.write_bytes(data[: len(data) // 2])  # the header is whole, the scan is cut
    _, gpu = _both_paths([photos[1], broken], "paper", "cpu")
    with pytest.raises(DataError, match=r"broken\.jpg"):
        _batches(gpu, False, 0, "cpu")


def test_decode_modes_resolve_and_refuse_with_the_reason(monkeypatch) -> None:
    assert DataConfig().decode == "auto" and DECODE_MODES == ("auto", "cpu", "gpu")
    train, test = build_transforms("paper", 32, output="uint8")
    assert resolve_decode("auto", "cpu", (train, test)) == "cpu"  # CUDA only
    assert resolve_decode("cpu", "cpu", (train, test)) == "cpu"
    assert resolve_decode("gpu", "cpu", (train, test)) == "gpu"  # the same code, on the CPU
    jitter = TensorCompose([v2.ColorJitter(0.2), v2.PILToTensor()])
    with pytest.raises(ConfigError, match=r"data.decode=gpu: .*ColorJitter is not geometry"):
        resolve_decode("gpu", "cpu", (jitter, test))
    shorter_side = TensorCompose([v2.Resize(32), v2.PILToTensor()])
    nearest = TensorCompose([v2.Resize((32, 32), interpolation=v2.InterpolationMode.NEAREST)])
    for recipe, reason in ((shorter_side, "keeps the aspect ratio"), (nearest, "nearest")):
        with pytest.raises(ConfigError, match=reason):
            resolve_decode("gpu", "cpu", (recipe, test))
    monkeypatch.setattr(device_decode, "_decodes_on", lambda device: "no nvJPEG in this build")
    with pytest.raises(ConfigError, match=r"cannot decode JPEGs on cpu \(no nvJPEG"):
        resolve_decode("gpu", "cpu", (train, test))
    assert resolve_decode("auto", "cpu", (train, test)) == "cpu"


def test_device_decode_passes_tensor_batches_to_normalize() -> None:
    batch = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    decode = DeviceDecode()
    torch.testing.assert_close(decode(batch), decode.normalize(batch))
