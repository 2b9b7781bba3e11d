"""Figure 5: the training data path at 448 per image and per worker, old and new side by side.

    python bench/bench_data.py [--images 128] [--batch 16] [--workers 1 2] [--demand-batch 2]

Real JPEG files: scikit-image's sample photos (astronaut, coffee, chelsea, rocket), each
variant cropped a little differently, resized to COCO's typical 640 × 480 and saved as
quality-90 JPEGs in a temporary folder. Measured interleaved in one process with one torch
thread (what torch gives a DataLoader worker), per image, median of the rounds:

* **today's path** (before this change): `load_image` (Pillow), then the float `paper`
  recipe: Pillow resize to 512², random 448² crop, flip, to float, normalise, on the CPU;
* **new path**: what a training worker now runs per item (`SeededDataset` in a worker: seed
  the item, then `dataset[i]`) with the uint8 recipe: `decode_image`, then resize / crop /
  flip on the uint8 tensor; the float conversion and normalisation happen later, on the
  device (`DeviceNormalize`);
* **minimal uint8 pipelines** with the same geometry and nothing else: Pillow (open, RGB,
  resize 512², crop 448², flip, to a tensor) and torch (torchvision's JPEG decoder, torch's
  uint8 resize, a crop view, flip);
* **decode only**: Pillow (`load_image`), torchvision's decoder, simplejpeg (if installed),
  and Pillow's ``draft`` on 2560 × 1920 JPEGs (JPEG DCT scaling: other pixels, not adopted).

Then each DataLoader configuration of the new path (persistent workers, one pass), the
agreement of the new path's pixels with today's, and the demand: images/s of an A-GCN
ResNet-101 @448 training step measured here, and what an H200 would need, *computed* from 188
GFLOP per training image and its 989 TFLOP/s dense bf16 peak (not measured).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from benchlib import (
    TRAIN_GFLOP_PER_IMAGE_448,
    build_model,
    interleaved,
    median,
    print_header,
    table,
)
from PIL import Image
from torchvision.transforms.v2 import functional as TF

from agcn_pyg.data import (
    DeviceNormalize,
    MultiLabelDataset,
    build_transforms,
    decode_image,
    load_image,
)
from agcn_pyg.engine.inputs import make_loader

H200_PEAK_TFLOPS = 989.0
ASSUMED_FRACTION = 0.4
#: the issue's goal: the training data path at most this × the minimal uint8 pipeline
GOAL = 1.15


def make_jpegs(folder: Path, count: int, size: tuple[int, int] = (640, 480)) -> list[Path]:
    """``count`` distinct quality-90 JPEGs of ``size`` from scikit-image's sample photos."""
    from skimage import data

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        photo = photos[i % len(photos)]
        h, w = photo.shape[:2]
        top, left = int(rng.integers(0, h // 10 + 1)), int(rng.integers(0, w // 10 + 1))
        crop = photo[top : top + h - h // 10, left : left + w - w // 10]
        image = Image.fromarray(crop).resize(size, Image.BICUBIC)
        if i % 2:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
        path = folder / f"img_{size[0]}_{i:04d}.jpg"
        image.save(path, quality=90)
        paths.append(path)
    return paths


def minimal_pil(path: Path, resize: int, crop: int) -> torch.Tensor:
    with Image.open(path) as opened:
        image = opened.convert("RGB").resize((resize, resize), Image.BILINEAR)
    top, left = (int(v) for v in torch.randint(0, resize - crop + 1, (2,)))
    image = image.crop((left, top, left + crop, top + crop))
    if torch.rand(()) < 0.5:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    return torch.from_numpy(np.asarray(image)).permute(2, 0, 1)


def minimal_torch(path: Path, resize: int, crop: int) -> torch.Tensor:
    from torchvision.io import decode_jpeg

    data = torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8)
    image = TF.resize(decode_jpeg(data), [resize, resize], antialias=True)
    top, left = (int(v) for v in torch.randint(0, resize - crop + 1, (2,)))
    image = image[:, top : top + crop, left : left + crop]
    return image.flip(-1) if torch.rand(()) < 0.5 else image


def decoders(paths: list[Path]) -> dict[str, Callable[[Path], Any]]:
    from torchvision.io import decode_jpeg

    out: dict[str, Callable[[Path], Any]] = {
        "Pillow (`load_image`)": load_image,
        "torchvision `decode_jpeg` (`decode_image`)": decode_image,
        "torchvision `decode_jpeg` alone": lambda p: decode_jpeg(
            torch.frombuffer(bytearray(p.read_bytes()), dtype=torch.uint8)
        ),
    }
    try:
        import simplejpeg

        out["simplejpeg"] = lambda p: simplejpeg.decode_jpeg(p.read_bytes())
    except ImportError:
        pass
    return out


def draft_rates(paths: list[Path]) -> tuple[float, float]:
    """ms per 2560 × 1920 JPEG: full decode, and Pillow's ``draft`` to ≥ 512 px."""

    def full() -> None:
        for p in paths:
            with Image.open(p) as opened:
                opened.convert("RGB")

    def draft() -> None:
        for p in paths:
            with Image.open(p) as opened:
                opened.draft("RGB", (512, 512))
                opened.convert("RGB")

    times = interleaved({"full": full, "draft": draft}, repeats=3, warmup=1)
    return tuple(1e3 * median(times[k]) / len(paths) for k in ("full", "draft"))  # type: ignore[return-value]


def loader_rate(dataset: MultiLabelDataset, batch: int, workers: int) -> float:
    """Images/s of the second pass over the files, with persistent workers (as in training)."""
    loader = make_loader(
        dataset, batch, workers, train=True, generator=torch.Generator().manual_seed(0)
    )
    for _ in loader:  # start the workers; the trainer's persist across epochs
        pass
    start, count = time.perf_counter(), 0
    for images, _ in loader:
        count += images.size(0)
    return count / (time.perf_counter() - start)


def step_demand(batch: int, size: int, repeats: int) -> float:
    """Images/s of an A-GCN ResNet-101 training step here (fp32, SGD with momentum)."""
    model = build_model("conv").train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    images = torch.randn(batch, 3, size, size)
    targets = torch.randint(0, 2, (batch, model.num_classes)).float()

    def step() -> None:
        logits, graph_loss = model(images, return_graph_loss=True)
        loss = F.binary_cross_entropy_with_logits(logits, targets) + graph_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    seconds = median(interleaved({"step": step}, repeats, warmup=1)["step"])
    return batch / seconds


def pixel_agreement(paths: list[Path], size: int) -> tuple[float, float]:
    """Largest difference (uint8 steps) and share of values that differ, new path vs today's."""
    float_train, _ = build_transforms("paper", size)
    u8_train, _ = build_transforms("paper", size, output="uint8")
    normalize = DeviceNormalize()
    std = torch.tensor(normalize.std).view(3, 1, 1) * 255
    worst, differing, total = 0.0, 0, 0
    for i, path in enumerate(paths):
        torch.manual_seed(i)
        old = float_train(load_image(path))
        torch.manual_seed(i)
        new = normalize(u8_train(decode_image(path))[None])[0]
        steps = ((new - old).abs() * std).round()
        worst = max(worst, float(steps.max()))
        differing += int((steps > 0).sum())
        total += steps.numel()
    return worst, differing / total


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=128, help="JPEG files to make")
    parser.add_argument("--size", type=int, default=448)
    parser.add_argument("--resize", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--large", type=int, default=16, help="2560 × 1920 JPEGs for draft()")
    parser.add_argument("--batch", type=int, default=16, help="DataLoader batch size")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--demand-batch", type=int, default=2)
    parser.add_argument("--demand-repeats", type=int, default=2)
    parser.add_argument(
        "--demand", type=float, default=None, help="skip the step measurement: its images/s"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    size, resize = args.size, args.resize
    old_tf, _ = build_transforms("paper", size, resize)
    new_tf, _ = build_transforms("paper", size, resize, output="uint8")
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_jpegs(Path(tmp), args.images)
        large = make_jpegs(Path(tmp), args.large, size=(2560, 1920))
        kib = np.mean([p.stat().st_size for p in paths]) / 1024
        labels = [f"label_{i}" for i in range(80)]
        targets = np.zeros((len(paths), 80), np.int8)
        dataset = MultiLabelDataset(paths, targets, labels, transform=new_tf)

        def worker_item(i: int) -> Any:
            # What `SeededDataset` does for an item inside a DataLoader worker.
            torch.default_generator.manual_seed(i)
            return dataset[i]

        def each(fn: Callable[[Path], Any]) -> Callable[[], None]:
            return lambda: [fn(p) for p in paths]

        paths_cases = {
            "today": each(lambda p: old_tf(load_image(p))),
            "new": lambda: [worker_item(i) for i in range(len(paths))],
            "minimal_pil": each(lambda p: minimal_pil(p, resize, size)),
            "minimal_torch": each(lambda p: minimal_torch(p, resize, size)),
        }
        decode_cases = {name: each(fn) for name, fn in decoders(paths).items()}
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        torch.manual_seed(0)
        times = interleaved({**paths_cases, **decode_cases}, repeats=args.rounds, warmup=1)
        full_ms, draft_ms = draft_rates(large)
        batch = torch.stack([new_tf(decode_image(p)) for p in paths[: args.batch]])
        normalize = DeviceNormalize()
        device_ms = (
            1e3 * median(interleaved({"n": lambda: normalize(batch)}, repeats=5)["n"]) / len(batch)
        )
        worst, differing = pixel_agreement(paths[:16], size)
        torch.set_num_threads(threads)
        loaders = {w: loader_rate(dataset, args.batch, w) for w in args.workers}

    ms = {k: 1e3 * median(v) / len(paths) for k, v in times.items()}
    demand = (
        args.demand
        if args.demand is not None
        else step_demand(args.demand_batch, size, args.demand_repeats)
    )
    h200 = ASSUMED_FRACTION * H200_PEAK_TFLOPS * 1e3 / TRAIN_GFLOP_PER_IMAGE_448

    command = (
        f"python bench/bench_data.py --images {args.images} --batch {args.batch} "
        f"--workers {' '.join(map(str, args.workers))} --demand-batch {args.demand_batch}"
    )
    print_header("Figure 5: the training data path at 448, per image and per worker", command)
    ratio_pil = ms["new"] / ms["minimal_pil"]
    ratio_torch = ms["new"] / ms["minimal_torch"]
    rows = [
        ["today's path: Pillow decode + float `paper` recipe, CPU normalise", ms["today"]],
        ["**new path**: `decode_image` + uint8 `paper` recipe (a worker's item)", ms["new"]],
        ["minimal uint8 pipeline, Pillow (decode, resize, crop, flip)", ms["minimal_pil"]],
        ["minimal uint8 pipeline, torch (decode_jpeg, resize, crop, flip)", ms["minimal_torch"]],
    ]
    rows += [[f"decode only: {name}", ms[name]] for name in decode_cases]
    rows.append(["decode only, 2560 × 1920: Pillow, full", full_ms])
    rows.append(["decode only, 2560 × 1920: Pillow `draft` (other pixels; not adopted)", draft_ms])
    rows.append(["`DeviceNormalize` of a batch, per image (here on the CPU)", device_ms])
    print(
        table(
            ["one worker, per image", "ms", "images/s"],
            [[name, f"{v:.2f}", f"{1e3 / v:.0f}"] for name, v in rows],
        )
    )
    print()
    print(
        table(
            ["ratio", "value", "goal"],
            [
                ["new path ÷ minimal Pillow pipeline", f"{ratio_pil:.2f}", f"≤ {GOAL}"],
                ["new path ÷ minimal torch pipeline", f"{ratio_torch:.2f}", f"≤ {GOAL}"],
                ["today's path ÷ new path", f"{ms['today'] / ms['new']:.2f}", ""],
            ],
        )
    )
    print()
    print(
        f"Pixels, new path against today's on 16 photos: at most {worst:.0f} uint8 step(s) "
        f"apart, {100 * differing:.1f} % of the values differ."
    )
    print()
    loader_rows = [
        [f"DataLoader, new path, {w} persistent worker(s), B = {args.batch}", f"{rate:.0f}"]
        for w, rate in loaders.items()
    ]
    print(table(["second pass over the files", "images/s"], loader_rows))
    print()
    demand_rows = [
        [
            f"A-GCN ResNet-101 @{size} train step, this CPU (measured, B = {args.demand_batch})"
            if args.demand is None
            else "train step, this CPU (given with --demand)",
            f"{demand:.2f}",
            f"{demand * ms['today'] / 1e3:.2g}",
            f"{demand * ms['new'] / 1e3:.2g}",
        ],
        [
            f"H200 at {ASSUMED_FRACTION:.0%} of {H200_PEAK_TFLOPS:.0f} TFLOP/s bf16 "
            "(computed, not measured)",
            f"{h200:.0f}",
            f"{h200 * ms['today'] / 1e3:.1f}",
            f"{h200 * ms['new'] / 1e3:.1f}",
        ],
    ]
    print(
        table(
            ["consumer", "images/s needed", "workers needed, today", "workers needed, new"],
            demand_rows,
        )
    )
    print()
    print(
        f"{len(paths)} JPEGs of 640 × 480, mean {kib:.0f} KiB; one torch thread; medians of "
        f"{args.rounds} interleaved rounds. Workers needed = demand × ms per image ÷ 1000."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
