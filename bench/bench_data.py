"""Figure 5: data pipeline throughput at 448 (images/s per worker) against the step's demand.

    python bench/bench_data.py [--images 96] [--batch 16] [--workers 1 2] [--demand-batch 2]

Real JPEG files: scikit-image's sample photos (astronaut, coffee, chelsea, rocket), each
variant cropped a little differently, resized to COCO's typical 640 × 480 and saved as
quality-90 JPEGs in a temporary folder. The pipeline is the trainer's: `MultiLabelDataset`
(`load_image`: full decode to RGB) with the paper's train transform (`build_transforms
("paper", 448)`: resize 512², random 448² crop, flip, to float, normalise), through
`agcn_pyg.engine.inputs.make_loader`.

* per worker: decode alone, augment alone and both (``dataset[i]``) in the main process
  with one torch thread (as a DataLoader worker has), interleaved over 3 rounds;
* the DataLoader with each ``--workers`` count: one pass over all files, worker start-up
  included (the trainer's workers are not persistent, so every epoch pays it);
* demand: images/s of an A-GCN ResNet-101 @448 training step (forward, backward, SGD) measured
  here, and what an H200 would need, *computed* from 188 GFLOP per training image and its
  989 TFLOP/s dense bf16 peak (not measured).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

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

from agcn_pyg.data import MultiLabelDataset, build_transforms, load_image
from agcn_pyg.engine.inputs import make_loader

H200_PEAK_TFLOPS = 989.0
ASSUMED_FRACTION = 0.4


def make_jpegs(folder: Path, count: int, size: tuple[int, int] = (640, 480)) -> list[Path]:
    """``count`` distinct 640 × 480 quality-90 JPEGs from scikit-image's sample photos."""
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
        path = folder / f"img_{i:04d}.jpg"
        image.save(path, quality=90)
        paths.append(path)
    return paths


def loader_rate(dataset: MultiLabelDataset, batch: int, workers: int) -> float:
    """Images/s of one pass, worker start-up included (as in every epoch: not persistent)."""
    loader = make_loader(
        dataset, batch, workers, train=True, generator=torch.Generator().manual_seed(0)
    )
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


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=128, help="JPEG files to make")
    parser.add_argument("--size", type=int, default=448)
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
    train_tf, _ = build_transforms("paper", args.size)
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_jpegs(Path(tmp), args.images)
        kib = np.mean([p.stat().st_size for p in paths]) / 1024
        labels = [f"label_{i}" for i in range(80)]
        dataset = MultiLabelDataset(
            paths, np.zeros((len(paths), 80), np.int8), labels, transform=train_tf
        )
        decoded = [load_image(p) for p in paths]
        torch.manual_seed(0)

        def decode() -> None:
            for p in paths:
                load_image(p)

        def augment() -> None:
            for image in decoded:
                train_tf(image)

        def both() -> None:
            for i in range(len(dataset)):
                dataset[i]

        def steps() -> dict[str, float]:
            """Seconds per image of each transform in the recipe, applied in turn."""
            out: dict[str, float] = {}
            batch: list = decoded
            for transform in train_tf.transforms:
                start = time.perf_counter()
                batch = [transform(item) for item in batch]
                name = type(transform).__name__
                out[name] = out.get(name, 0.0) + (time.perf_counter() - start) / len(batch)
            return out

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # what torch gives each DataLoader worker
        per_worker = interleaved(
            {"decode": decode, "augment": augment, "both": both}, repeats=3, warmup=1
        )
        breakdown = [steps() for _ in range(3)]
        torch.set_num_threads(threads)
        loaders = {w: loader_rate(dataset, args.batch, w) for w in args.workers}

    rates = {k: len(paths) / median(v) for k, v in per_worker.items()}
    demand = (
        args.demand
        if args.demand is not None
        else step_demand(args.demand_batch, args.size, args.demand_repeats)
    )
    h200_full = H200_PEAK_TFLOPS * 1e3 / TRAIN_GFLOP_PER_IMAGE_448
    h200_typical = ASSUMED_FRACTION * h200_full

    command = (
        f"python bench/bench_data.py --images {args.images} --batch {args.batch} "
        f"--workers {' '.join(map(str, args.workers))} --demand-batch {args.demand_batch}"
    )
    print_header("Figure 5: data pipeline at 448 vs the training step's demand", command)
    rows = [
        ["decode JPEG 640×480 (`load_image`)", f"{rates['decode']:.1f}"],
        ["augment (paper train recipe, 448)", f"{rates['augment']:.1f}"],
        ["decode + augment (`dataset[i]`): one worker's rate", f"{rates['both']:.1f}"],
    ]
    for workers, rate in loaders.items():
        rows.append(
            [f"DataLoader, {workers} worker(s), B = {args.batch}, start-up incl.", f"{rate:.1f}"]
        )
    print(table(["pipeline stage (per image)", "images/s"], rows))
    print()
    decode_ms = 1e3 * median(per_worker["decode"]) / len(paths)
    split = [["decode (`load_image`)", f"{decode_ms:.2f}"]]
    split += [
        [f"`{name}`", f"{1e3 * median([b[name] for b in breakdown]):.2f}"] for name in breakdown[0]
    ]
    print(table(["one worker's time per image, by step", "ms"], split))
    print()
    per_worker_rate = rates["both"]
    demand_rows = [
        [
            f"A-GCN ResNet-101 @{args.size} train step, this CPU (measured, B = "
            f"{args.demand_batch})"
            if args.demand is None
            else "train step, this CPU (given with --demand)",
            f"{demand:.2f}",
            f"{demand / per_worker_rate:.2g}",
        ],
        [
            f"H200 at 100 % of {H200_PEAK_TFLOPS:.0f} TFLOP/s bf16 (computed, not measured)",
            f"{h200_full:.0f}",
            f"{h200_full / per_worker_rate:.0f}",
        ],
        [
            f"H200 at {ASSUMED_FRACTION:.0%} of peak (computed; the fraction is an assumption)",
            f"{h200_typical:.0f}",
            f"{h200_typical / per_worker_rate:.0f}",
        ],
    ]
    print(
        table(
            ["consumer", "images/s needed", "workers needed at this CPU's per-worker rate"],
            demand_rows,
        )
    )
    print()
    print(
        f"{len(paths)} JPEGs, mean {kib:.0f} KiB. Per-worker rate = decode + augment in one "
        f"thread: {per_worker_rate:.1f} images/s. Computed demand: peak TFLOP/s × 1000 ÷ "
        f"{TRAIN_GFLOP_PER_IMAGE_448:.0f} GFLOP per training image."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
