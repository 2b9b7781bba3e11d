"""The input pipeline into the GPU: JPEG files → workers → pinned uint8 batches → the device.

    python bench/bench_pipeline_gpu.py [--images 512] [--batch 64] [--workers N] [--device cuda]

On the JPEGs of `bench_data.py` (640 × 480, scikit-image photos), the `paper` train recipe at
448, through the trainer's `make_loader` (persistent workers, prefetching, pinned memory):

* **delivered**: images/s arriving on the device as normalised float32 channels_last batches
  (`DeviceNormalize` after a ``non_blocking`` copy), for the new uint8 path and for the old
  one (float recipe: normalisation in the workers, float32 batches copied);
* **with a training step**: images/s of ResNet-101 @448 A-GCN training (bf16 autocast,
  channels_last, SGD) fed by the new loader, against the same step on a batch already on the
  device: their ratio says how long the GPU waits for its input;
* **GPU JPEG decoding**: torchvision's batched ``decode_jpeg(..., device='cuda')`` (nvJPEG),
  decode only, for comparison with the workers' CPU decoding.

``--device cpu`` runs the same code on the CPU (small numbers; a check of the script).
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
from bench_data import make_jpegs
from benchlib import build_model, print_header, sync, table
from torch.utils.data import DataLoader

from agcn_pyg.data import DeviceNormalize, MultiLabelDataset, build_transforms
from agcn_pyg.engine.inputs import make_loader, resolve_workers


def _train_loader(
    dataset: MultiLabelDataset, batch: int, workers: int, device: torch.device
) -> DataLoader:
    """The trainer's training loader, pinned for ``device`` as the trainer pins it."""
    generator = torch.Generator().manual_seed(0)
    return make_loader(
        dataset, batch, workers, train=True, generator=generator, pin_memory=device.type == "cuda"
    )


def delivered(
    dataset: MultiLabelDataset, batch: int, workers: int, device: torch.device, passes: int
) -> float:
    """Images/s into ``device`` over ``passes`` passes after a first one that starts the workers."""
    loader = _train_loader(dataset, batch, workers, device)
    normalize = DeviceNormalize()
    for images, _ in loader:
        normalize(images, device, channels_last=True)
    sync(device)
    start, count = time.perf_counter(), 0
    for _ in range(passes):
        for images, _ in loader:
            normalize(images, device, channels_last=True)
            count += images.size(0)
    sync(device)
    return count / (time.perf_counter() - start)


def training(
    dataset: MultiLabelDataset,
    batch: int,
    workers: int,
    device: torch.device,
    steps: int,
    backbone: str,
) -> tuple[float, float]:
    """Images/s of training steps fed by the loader, and on one batch already on the device."""
    model = build_model("conv", backbone).to(device).train()
    model.backbone.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    dtype = torch.bfloat16 if device.type == "cuda" else None
    normalize = DeviceNormalize()

    def step(images: torch.Tensor) -> None:
        targets = torch.zeros(images.size(0), model.num_classes, device=device)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            logits, graph_loss = model(images, return_graph_loss=True)
        loss = F.binary_cross_entropy_with_logits(logits.float(), targets) + graph_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    loader = _train_loader(dataset, batch, workers, device)

    def fed() -> float:
        done, start = 0, None
        while done < steps:
            for images, _ in loader:
                step(normalize(images, device, channels_last=True))
                if start is None:  # the first step pays for start-up and warm-up
                    sync(device)
                    start = time.perf_counter()
                    continue
                done += 1
                if done == steps:
                    break
        sync(device)
        return steps * batch / (time.perf_counter() - start)

    first = next(iter(loader))[0]
    resident = normalize(first, device, channels_last=True)
    step(resident)
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step(resident)
    sync(device)
    alone = steps * batch / (time.perf_counter() - start)
    return fed(), alone


def gpu_decode(paths: list[Path], batch: int, device: torch.device) -> float | None:
    """Images/s of torchvision's batched GPU JPEG decoding; ``None`` off CUDA."""
    if device.type != "cuda":
        return None
    from torchvision.io import decode_jpeg

    blobs = [torch.frombuffer(bytearray(p.read_bytes()), dtype=torch.uint8) for p in paths]
    chunks = [blobs[i : i + batch] for i in range(0, len(blobs), batch)]
    decode_jpeg(chunks[0], device=device)
    sync(device)
    start = time.perf_counter()
    for chunk in chunks:
        decode_jpeg(chunk, device=device)
    sync(device)
    return len(blobs) / (time.perf_counter() - start)


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--workers", type=int, default=None, help="default: one per core - 1")
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20, help="training steps per case")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--backbone", default="resnet101", help="timm model of the step")
    parser.add_argument("--out", type=Path, help="also write the report here")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device here (use --device cpu for a dry run)")
        return 2
    workers = resolve_workers(args.workers)
    new_tf, _ = build_transforms("paper", 448, output="uint8")
    old_tf, _ = build_transforms("paper", 448)
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_jpegs(Path(tmp), args.images)
        labels = [f"label_{i}" for i in range(80)]
        targets = np.zeros((len(paths), 80), np.int8)
        new = MultiLabelDataset(paths, targets, labels, transform=new_tf)
        old = MultiLabelDataset(paths, targets, labels, transform=old_tf)
        rates = {
            "new": delivered(new, args.batch, workers, device, args.passes),
            "old": delivered(old, args.batch, workers, device, args.passes),
        }
        fed, alone = training(new, args.batch, workers, device, args.steps, args.backbone)
        nvjpeg = gpu_decode(paths, args.batch, device)

    command = (
        f"python bench/bench_pipeline_gpu.py --images {args.images} --batch {args.batch} "
        f"--workers {workers} --device {args.device}"
    )
    lines = [
        table(
            ["input pipeline into the device", "images/s"],
            [
                [
                    f"new: uint8 batches, normalised on the device ({workers} workers)",
                    f"{rates['new']:.0f}",
                ],
                [
                    f"old: float batches normalised in the workers ({workers} workers)",
                    f"{rates['old']:.0f}",
                ],
                [f"{args.backbone} @448 training step fed by the new loader", f"{fed:.0f}"],
                [f"{args.backbone} @448 training step on a resident batch", f"{alone:.0f}"],
                [
                    "GPU JPEG decoding, batched (decode only)",
                    "n/a (not CUDA)" if nvjpeg is None else f"{nvjpeg:.0f}",
                ],
            ],
        ),
        "",
        f"fed ÷ resident training: {fed / alone:.2f} (1.00: the GPU never waits for input). "
        f"New ÷ old delivery: {rates['new'] / rates['old']:.2f}.",
    ]
    print_header("The input pipeline into the device", command, device)
    print("\n".join(lines))
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
