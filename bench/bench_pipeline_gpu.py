"""The input pipeline into the GPU, steady state: ``data.decode=cpu`` against ``gpu``.

    python bench/bench_pipeline_gpu.py [--images 2048] [--passes 3] [--batch 64] [--workers N]
        [--step-rate IMG_S | --step-rate-from gpu_train.json] [--device cuda] [--json FILE]

JPEG files (640 × 480, scikit-image photos; 256 distinct, the rest hard links, each decoded
in full) through the trainer's own loader (`make_loader`: persistent workers, 4 batches of
prefetch each, pinned memory) and the ``paper`` train recipe at 448, finished on the device
as the trainer finishes them (`with_transforms`: `DeviceNormalize` for ``cpu``,
`DeviceDecode` for ``gpu``). For each path:

* **steady images/s**: delivered normalised float32 channels_last batches per second over
  the passes after the first, each pass's first batch left out;
* **first batch at start**: from the first ``iter()`` (workers starting) to the first batch
  on the device;
* **first batch of a later pass**: the same with the workers already running, the gap an
  epoch boundary costs when nothing hides it (the trainer starts the next epoch's loader
  before it commits, so the commit hides it);
* **host CPU per image**: CPU seconds of this process (all threads), its workers and its
  ended children over the steady passes, per image; times the step rate (``--step-rate``,
  or the compiled A-GCN step of ``bench_train_gpu.py --json``), the **host cores per GPU**
  the path needs to feed it.

Then torchvision's batched GPU JPEG decode alone (nvJPEG), for comparison. ``--device cpu``
runs the same code on the CPU (small numbers; a check of the script).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from bench_data import make_jpegs
from benchlib import print_header, process_tree_cpu_seconds, replicate, sync, table

from agcn_pyg.config import DataConfig
from agcn_pyg.data import MultiLabelDataset
from agcn_pyg.engine.inputs import RunData, make_loader, resolve_workers, with_transforms

#: the goal of issue 22 for decode=gpu
GOAL_CORES_PER_GPU = 4.0


def _run_data(paths: list[Path], decode: str, device: torch.device) -> RunData:
    labels = [f"label_{i}" for i in range(80)]
    dataset = MultiLabelDataset(paths, np.zeros((len(paths), 80), np.int8), labels)
    cfg = replace(DataConfig(), image_size=448, decode=decode)
    return with_transforms(RunData(dataset, dataset, labels), cfg, None, device)


def deliver(
    paths: list[Path], decode: str, batch: int, workers: int, device: torch.device, passes: int
) -> dict[str, Any]:
    """Pass ``passes`` times over ``paths`` through the trainer's loader, finishing every
    batch on ``device``; the figures of the module docstring."""
    data = _run_data(paths, decode, device)
    loader = make_loader(
        data.train,
        batch,
        workers,
        train=True,
        generator=torch.Generator().manual_seed(0),
        pin_memory=device.type == "cuda",
        collate_fn=data.collate,
    )
    firsts: list[float] = []
    steady_images, steady_seconds, cpu_start = 0, 0.0, 0.0
    for index in range(passes):
        if index == 1:
            cpu_start = process_tree_cpu_seconds()
        start = time.perf_counter()
        first_at = None
        count = 0
        for images, _ in loader:
            data.normalize(images, device, channels_last=True)
            if first_at is None:
                sync(device)
                first_at = time.perf_counter()
                firsts.append(first_at - start)
                continue
            count += images.size(0) if hasattr(images, "size") else len(images)
        sync(device)
        if index >= 1:
            steady_images += count
            steady_seconds += time.perf_counter() - first_at
    cpu = process_tree_cpu_seconds() - cpu_start
    counts = data.normalize.stats() if hasattr(data.normalize, "stats") else {}
    return {
        "decode": data.decode,
        "img_s": steady_images / steady_seconds if steady_seconds else float("nan"),
        "first_batch_start_s": firsts[0],
        "first_batch_later_s": float(np.median(firsts[1:])) if passes > 1 else float("nan"),
        "cpu_s_per_image": cpu / max(steady_images, 1),
        "counts": counts,
    }


def gpu_decode(paths: list[Path], batch: int, device: torch.device) -> float | None:
    """Images/s of torchvision's batched GPU JPEG decoding alone; ``None`` off CUDA."""
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


def step_rate(args: argparse.Namespace) -> tuple[float | None, str]:
    """The step rate the cores are sized for, and where it came from."""
    if args.step_rate:
        return args.step_rate, "given"
    if args.step_rate_from and Path(args.step_rate_from).is_file():
        measured = json.loads(Path(args.step_rate_from).read_text())
        rate = measured.get("compiled", {}).get("agcn") or measured.get("eager", {}).get("agcn")
        if rate:
            return float(rate), f"A-GCN step of {args.step_rate_from}"
    return None, "none"


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--distinct", type=int, default=256, help="distinct JPEGs among them")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--workers", type=int, default=None, help="default: one per core - 1")
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--step-rate", type=float, default=None, help="img/s to feed")
    parser.add_argument("--step-rate-from", default=None, help="bench_train_gpu.py --json file")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", type=Path, help="also write the report here")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device here (use --device cpu for a dry run)")
        return 2
    workers = resolve_workers(args.workers)
    rate, source = step_rate(args)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        distinct = make_jpegs(Path(tmp), min(args.distinct, args.images))
        paths = replicate(distinct, args.images, Path(tmp) / "set")
        for decode in ("cpu", "gpu"):
            results[decode] = deliver(paths, decode, args.batch, workers, device, args.passes)
        nvjpeg = gpu_decode(paths[: min(len(paths), 512)], args.batch, device)

    rows = []
    for decode, r in results.items():
        cores = r["cpu_s_per_image"] * rate if rate else None
        rows.append(
            [
                f"data.decode={decode} ({workers} workers)",
                f"{r['img_s']:.0f}",
                f"{r['first_batch_start_s']:.2f}",
                f"{r['first_batch_later_s']:.2f}",
                f"{r['cpu_s_per_image'] * 1e3:.2f}",
                "n/a" if cores is None else f"{cores:.1f}",
            ]
        )
    rate_note = f"{rate:.0f} img/s ({source})" if rate else "not given (--step-rate)"
    lines = [
        table(
            [
                "path into the device",
                "steady images/s",
                "first batch at start (s)",
                "first batch of a later pass (s)",
                "host CPU ms per image",
                "host cores per GPU",
            ],
            rows,
        ),
        "",
        f"Host cores per GPU: at the step rate {rate_note}; goal for data.decode=gpu: ≤ "
        f"{GOAL_CORES_PER_GPU:.0f}. GPU JPEG decoding alone (batched, nvJPEG): "
        + ("n/a (not CUDA)" if nvjpeg is None else f"{nvjpeg:.0f} images/s")
        + f". Device-path counts: {results['gpu']['counts']}.",
    ]
    command = (
        f"python bench/bench_pipeline_gpu.py --images {args.images} --passes {args.passes} "
        f"--batch {args.batch} --workers {workers} --device {args.device}"
    )
    print_header("The input pipeline into the device, steady state", command, device)
    print("\n".join(lines))
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if args.json is not None:
        payload = {"step_rate": rate, "workers": workers, "nvjpeg_img_s": nvjpeg, **results}
        args.json.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
