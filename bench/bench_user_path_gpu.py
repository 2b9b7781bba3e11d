"""``agcn train`` as a user runs it, in steady state: ``data.decode=cpu`` against ``gpu``.

    python bench/bench_user_path_gpu.py [--images 8192] [--epochs 3] [--batch 64]
        [--resident IMG_S | --resident-from gpu_train.json] [--device cuda] [--json FILE]

A CSV data set of JPEGs (640 × 480, scikit-image photos; 256 distinct, the rest hard links,
each decoded in full) trained by the trainer's own code (`load_run_config` and `Trainer`, what
``agcn train -c`` runs) with the defaults a user gets: ResNet-101 @448 A-GCN, the ``paper``
recipe, ``train.compile: auto``, ``data.workers: null``, bf16, channels_last; evaluation only
after the last epoch. The only addition is a stopwatch on the batches the trainer takes
(`Trainer.source.batches`) and on the host's CPU time. For each ``data.decode``:

* **steady images/s**: the steps after each epoch's first batch, over the epochs after the
  first (the first holds the compile warm-up), each epoch from its second batch to its last;
* **÷ resident**: that rate ÷ the resident compiled A-GCN step (``--resident``, or the
  compiled A-GCN of ``bench_train_gpu.py --json``): 1.00 means the loader never holds the
  GPU back (goal ≥ 0.95);
* **first batch**: from an epoch's start to its first batch, median over the later epochs
  (their loaders start before the previous epoch commits);
* **epoch boundary**: from the last batch of an epoch to the first of the next, less one
  (median) step: what the commit and the next loader's start cost the GPU per epoch (0 when
  that is less than a step's jitter);
* **amortised images/s**: every image of the later epochs ÷ the time from the second epoch's
  first batch to the last epoch's last, boundaries included;
* **trainer's log**: ``log.csv``'s images/s and data wait of the later epochs, as the user
  reads them;
* **host cores per GPU**: CPU seconds of the process and its workers per image over the
  later epochs, times the resident step rate (goal for ``gpu``: ≤ 4).

Epochs must be long beside the loader's prefetch (4 batches per worker) for the steady rate
to be the loader's own: the default 8,192 images are 128 steps of 64. ``--device cpu`` runs
the same code on the CPU at toy sizes (a check of the script).
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from bench_data import make_jpegs
from benchlib import print_header, process_tree_cpu_seconds, replicate, table

from agcn_pyg.config import load_run_config
from agcn_pyg.engine.trainer import Trainer

GOAL_RATIO = 0.95
GOAL_CORES_PER_GPU = 4.0


def write_dataset(root: Path, images: int, val: int, classes: int, distinct: int) -> Path:
    """A CSV data set (``train.csv``, ``val.csv``, ``labels.txt``, ``embeddings.npy``)."""
    (root / "distinct").mkdir()
    photos = make_jpegs(root / "distinct", min(distinct, images + val))
    paths = replicate(photos, images + val, root / "images")
    rng = np.random.default_rng(0)
    labels = [f"label_{i}" for i in range(classes)]
    (root / "labels.txt").write_text("\n".join(labels) + "\n")
    for split, chunk in (("train", paths[:images]), ("val", paths[images:])):
        rows = ["image,labels"]
        for path in chunk:
            present = rng.random(classes) < 3 / classes
            present[rng.integers(classes)] = True
            rows.append(f"{path},{';'.join(np.asarray(labels)[present])}")
        (root / f"{split}.csv").write_text("\n".join(rows) + "\n")
    embeddings = rng.standard_normal((classes, 300)).astype(np.float32)  # d_e of GloVe
    np.save(root / "embeddings.npy", embeddings / np.linalg.norm(embeddings, axis=1)[:, None])
    return root


def write_config(args: argparse.Namespace, root: Path, decode: str) -> Path:
    labels = str(root / "labels.txt")
    config = {
        "name": f"user_path_{decode}",
        "output_dir": str(root / "runs"),
        "model": {"backbone": args.backbone, "num_classes": args.classes},
        "data": {
            "dataset": "csv",
            "train": {"csv_file": str(root / "train.csv"), "label_names": labels},
            "val": {"csv_file": str(root / "val.csv"), "label_names": labels},
            "image_size": args.size,
            "embeddings": str(root / "embeddings.npy"),
            "workers": args.workers,
            "decode": decode,
        },
        "train": {
            "epochs": args.epochs,
            "batch_size": args.batch,
            "eval_every": args.epochs,
            "device": args.device,
        },
    }
    path = root / f"{decode}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


class Stopwatch:
    """Stamps each batch the trainer takes, by epoch, and reads the host's CPU time at the
    first batch of the second epoch and at the last batch of the last (only there: a reading
    scans ``/proc``)."""

    def __init__(self, epochs: int, steps: int) -> None:
        self.last = (epochs, steps)
        self.epochs: list[tuple[float, list[float]]] = []
        self.cpu = [0.0, 0.0]

    def watch(self, batches: Any) -> Any:
        def timed() -> Iterator[Any]:
            start, stamps = time.perf_counter(), []
            self.epochs.append((start, stamps))
            for batch in batches():
                stamps.append(time.perf_counter())
                where = (len(self.epochs), len(stamps))
                if where == (2, 1):
                    self.cpu[0] = process_tree_cpu_seconds()
                elif where == self.last:
                    self.cpu[1] = process_tree_cpu_seconds()
                yield batch

        return timed


def run(args: argparse.Namespace, config: Path) -> dict[str, Any]:
    """Train ``config`` as ``agcn train -c`` does, with the `Stopwatch` on; its figures."""
    trainer = Trainer(load_run_config(config), progress=False)
    watch = Stopwatch(args.epochs, trainer.steps_per_epoch)
    trainer.source.batches = watch.watch(trainer.source.batches)
    trainer.fit()
    history, decode = trainer.history, trainer.env.get("decode", {})
    del trainer
    gc.collect()  # the loaders' workers go with it
    later = watch.epochs[1:]
    steps = [np.diff(stamps) for _, stamps in later if len(stamps) > 1]
    step_s = float(np.median(np.concatenate(steps))) if steps else float("nan")
    images = sum(len(stamps) - 1 for _, stamps in later) * args.batch
    seconds = sum(stamps[-1] - stamps[0] for _, stamps in later if stamps)
    gaps = [max(0.0, b[1][0] - a[1][-1] - step_s) for a, b in itertools.pairwise(watch.epochs)]
    amortised = [stamps for _, stamps in later if stamps]
    window = amortised[-1][-1] - amortised[0][0] + step_s if amortised else float("nan")
    rows = history[1:]
    return {
        "decode": decode,
        "img_s": images / seconds if seconds else float("nan"),
        "first_batch_s": float(np.median([s[0] - t for t, s in later if s])),
        "boundary_s": float(np.median(gaps)) if gaps else float("nan"),
        "amortised_img_s": sum(len(s) for s in amortised) * args.batch / window,
        "log_img_s": float(np.mean([r["images_per_s"] for r in rows])),
        "log_data_wait": float(np.mean([r["data_wait"] for r in rows])),
        "cpu_s_per_image": (watch.cpu[1] - watch.cpu[0]) / max(images, 1),
    }


def resident_rate(args: argparse.Namespace) -> tuple[float | None, str]:
    if args.resident:
        return args.resident, "given"
    if args.resident_from and Path(args.resident_from).is_file():
        compiled = json.loads(Path(args.resident_from).read_text()).get("compiled", {})
        if compiled.get("agcn"):
            return float(compiled["agcn"]), f"compiled A-GCN of {args.resident_from}"
    return None, "none"


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8192, help="training images")
    parser.add_argument("--val", type=int, default=128, help="evaluation images")
    parser.add_argument("--distinct", type=int, default=256, help="distinct JPEGs among them")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=448)
    parser.add_argument("--classes", type=int, default=80)
    parser.add_argument("--backbone", default="resnet101")
    parser.add_argument("--workers", type=int, default=None, help="default: the trainer's")
    parser.add_argument("--decode", nargs="+", default=["cpu", "gpu"], choices=["cpu", "gpu"])
    parser.add_argument("--resident", type=float, default=None, help="resident step img/s")
    parser.add_argument("--resident-from", default=None, help="bench_train_gpu.py --json file")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", type=Path, help="also write the report here")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    return parser


def report(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> list[str]:
    resident, source = resident_rate(args)
    rows = []
    for decode, r in results.items():
        ratio = f"{r['img_s'] / resident:.3f}" if resident else "n/a"
        cores = f"{r['cpu_s_per_image'] * resident:.1f}" if resident else "n/a"
        rows.append(
            [
                f"data.decode={decode}",
                f"{r['img_s']:.0f}",
                ratio,
                f"{r['first_batch_s']:.2f}",
                f"{r['boundary_s']:.2f}",
                f"{r['amortised_img_s']:.0f}",
                f"{r['log_img_s']:.0f} / {r['log_data_wait']:.1%}",
                cores,
            ]
        )
    headers = [
        "agcn train",
        "steady images/s",
        "÷ resident",
        "first batch (s)",
        "epoch boundary (s)",
        "amortised images/s",
        "log.csv: img/s / data wait",
        "host cores per GPU",
    ]
    note = f"{resident:.0f} img/s ({source})" if resident else "not given (--resident)"
    counts = "; ".join(f"{decode}: {r['decode']}" for decode, r in results.items())
    return [
        table(headers, rows),
        "",
        f"Resident compiled step: {note}. Goals: steady ÷ resident ≥ {GOAL_RATIO}; host cores "
        f"per GPU ≤ {GOAL_CORES_PER_GPU:.0f} with data.decode=gpu. {args.epochs} epochs of "
        f"{args.images} images (B = {args.batch}); the figures are over epochs 2–{args.epochs}. "
        f"env.json's decode: {counts}.",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device here (use --device cpu for a dry run)")
        return 2
    if args.epochs < 2:
        print("--epochs: at least 2 (the figures leave the first out)")
        return 2
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = write_dataset(Path(tmp), args.images, args.val, args.classes, args.distinct)
        for decode in args.decode:
            results[decode] = run(args, write_config(args, root, decode))
            if args.json is not None:  # after each: a run cut short keeps what it measured
                args.json.write_text(json.dumps(results, indent=1), encoding="utf-8")
    lines = report(args, results)
    command = (
        f"python bench/bench_user_path_gpu.py --images {args.images} --epochs {args.epochs} "
        f"--batch {args.batch} --device {args.device}"
    )
    print_header("agcn train in steady state: data.decode=cpu and gpu", command, device)
    print("\n".join(lines))
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
