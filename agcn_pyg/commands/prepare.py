"""`agcn prepare <dataset>`: split statistics, co-occurrence counts and label embeddings.

For one dataset it builds every split, optionally decodes every image (`--check-images`,
cached in `<out>/image_check.json`), prints the split statistics, and writes to `<out>`:

* `labels.txt`: the label order,
* `statistics.json`: the printed statistics, machine-readable,
* `cooccurrence.npz`: `adj`, `nums` from the training split (Fashion550K: the noisy set,
  plus `cooccurrence_clean.npz` from the verified train set),
* `embeddings_<source>.npz`: E for each `--sources` entry.

Skipped and counted items are listed at the end.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agcn_pyg.commands.embed_labels import embed, save_and_report, source_options
from agcn_pyg.data.coco import COCO_ORDERS, CROWD_POLICIES, coco
from agcn_pyg.data.cooccurrence import cooccurrence_counts, save_cooccurrence
from agcn_pyg.data.custom import from_csv
from agcn_pyg.data.dataset import MultiLabelDataset
from agcn_pyg.data.embeddings import EMBEDDING_SOURCES
from agcn_pyg.data.fashion550k import VERIFIED_ROWS, fashion550k
from agcn_pyg.data.images import BAD_IMAGE_POLICIES
from agcn_pyg.data.labels import check_label_order, read_label_file, write_label_file
from agcn_pyg.data.statistics import format_statistics, split_statistics
from agcn_pyg.data.voc import VOC_SPLITS, voc2007
from agcn_pyg.errors import ConfigError
from agcn_pyg.io import write_json, write_text
from agcn_pyg.registry import Registry

Splits = dict[str, MultiLabelDataset]


@dataclass(frozen=True)
class PrepareTarget:
    """How `prepare` handles one dataset: its options, its splits, its statistics files."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    build: Callable[[argparse.Namespace, dict[str, Any]], Splits]
    cooccurrence: dict[str, str]  # output file name -> split key


PREPARE_TARGETS: Registry[PrepareTarget] = Registry("prepare dataset")


def _coco_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ann-file", required=True, type=Path, help="instances_train2014.json")
    parser.add_argument("--image-dir", required=True, type=Path, help="train2014/ image folder")
    parser.add_argument("--val-ann-file", type=Path, help="instances_val2014.json")
    parser.add_argument("--val-image-dir", type=Path, help="val2014/ image folder")
    parser.add_argument("--order", choices=COCO_ORDERS, default="name", help="label order")
    parser.add_argument(
        "--crowd",
        choices=CROWD_POLICIES,
        default="positive",
        help="iscrowd annotations: count as present, or ignore crowd-only labels (-1)",
    )


def _coco_build(args: argparse.Namespace, common: dict[str, Any]) -> Splits:
    options = {"order": args.order, "crowd": args.crowd, **common}
    splits = {"train": coco(args.ann_file, args.image_dir, name="coco2014/train", **options)}
    if (args.val_ann_file is None) != (args.val_image_dir is None):
        raise ConfigError("--val-ann-file and --val-image-dir go together")
    if args.val_ann_file is not None:
        splits["val"] = coco(args.val_ann_file, args.val_image_dir, name="coco2014/val", **options)
    return splits


def _voc_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", required=True, type=Path, help="VOCdevkit/VOC2007 (or above)")
    parser.add_argument("--train-split", choices=VOC_SPLITS, default="trainval")
    parser.add_argument("--test-split", choices=VOC_SPLITS, default="test")


def _voc_build(args: argparse.Namespace, common: dict[str, Any]) -> Splits:
    return {
        "train": voc2007(args.root, args.train_split, **common),
        "test": voc2007(args.root, args.test_split, **common),
    }


def _fashion_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", required=True, type=Path, help="the Fashion550K release folder")
    parser.add_argument("--image-dir", type=Path, help="base of photos.txt paths (default: root)")
    parser.add_argument(
        "--verified-rows",
        choices=VERIFIED_ROWS,
        default="auto",
        help="rows of verified.npy: one per photo, or the train, val, test photos in order",
    )


def _fashion_build(args: argparse.Namespace, common: dict[str, Any]) -> Splits:
    options = {"image_dir": args.image_dir, "verified_rows": args.verified_rows, **common}
    return {
        "train-noisy": fashion550k(args.root, "train", "noisy", **options),
        "train-clean": fashion550k(args.root, "train", "clean", **options),
        "val": fashion550k(args.root, "val", "clean", **options),
        "test": fashion550k(args.root, "test", "clean", **options),
    }


def _csv_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--train-csv", required=True, type=Path, help="training CSV")
    parser.add_argument("--test-csv", type=Path, help="test CSV (optional)")
    parser.add_argument(
        "--image-dir", type=Path, help="base of relative image paths (default: the CSV's folder)"
    )
    parser.add_argument(
        "--labels", type=Path, help="labels.txt fixing the label order (default: sorted names)"
    )


def _csv_build(args: argparse.Namespace, common: dict[str, Any]) -> Splits:
    labels = read_label_file(args.labels) if args.labels is not None else None
    train = from_csv(args.train_csv, args.image_dir, labels, name="csv/train", **common)
    splits = {"train": train}
    if args.test_csv is not None:
        # The test split takes the training order, so both agree without a labels.txt.
        splits["test"] = from_csv(
            args.test_csv, args.image_dir, train.label_names, name="csv/test", **common
        )
    return splits


PREPARE_TARGETS.add(
    "coco",
    PrepareTarget("MS-COCO 2014", _coco_args, _coco_build, {"cooccurrence.npz": "train"}),
)
PREPARE_TARGETS.add(
    "voc2007",
    PrepareTarget("PASCAL VOC 2007", _voc_args, _voc_build, {"cooccurrence.npz": "train"}),
)
PREPARE_TARGETS.add(
    "fashion550k",
    PrepareTarget(
        "Fashion550K",
        _fashion_args,
        _fashion_build,
        {"cooccurrence.npz": "train-noisy", "cooccurrence_clean.npz": "train-clean"},
    ),
)
PREPARE_TARGETS.add(
    "csv",
    PrepareTarget(
        "a custom image,labels CSV", _csv_args, _csv_build, {"cooccurrence.npz": "train"}
    ),
)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument(
        "--sources",
        nargs="+",
        default=["minilm", "glove50"],
        choices=EMBEDDING_SOURCES.names(),
        help="embedding sources to write (default: minilm glove50)",
    )
    parser.add_argument("--file", type=Path, help="embedding file for the 'file' source")
    parser.add_argument("--batch-size", type=int, default=64, help="minilm batch size")
    parser.add_argument(
        "--check-images",
        action="store_true",
        help="decode every image once (cached in <out>/image_check.json)",
    )
    parser.add_argument(
        "--on-bad-image",
        choices=BAD_IMAGE_POLICIES,
        default="error",
        help="missing, empty or unreadable images: stop with an error, or skip and count them",
    )
    parser.add_argument("--workers", type=int, default=None, help="threads for --check-images")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agcn prepare",
        description="Print split statistics and write label co-occurrence counts and label "
        "embeddings for a dataset.",
    )
    sub = parser.add_subparsers(dest="dataset", required=True, metavar="DATASET")
    for name in PREPARE_TARGETS:
        target = PREPARE_TARGETS.get(name)
        child = sub.add_parser(name, help=target.help, description=f"Prepare {target.help}.")
        target.add_arguments(child)
        _add_common(child)
    return parser


def main(args: argparse.Namespace) -> int:
    target = PREPARE_TARGETS.get(args.dataset)
    progress = not args.no_progress
    common = {"on_bad_image": args.on_bad_image, "progress": progress}
    splits = target.build(args, common)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    first = next(iter(splits.values()))
    for split in splits.values():
        check_label_order(first.label_names, split.label_names, where=split.name)
    if args.check_images:
        for split in splits.values():
            split.check_images(
                cache_file=out / "image_check.json",
                workers=args.workers,
                progress=progress,
            )

    # Everything that can fail on the user's input runs before the first file is written.
    embeddings = {
        source: embed(first.label_names, source, source_options(source, args))
        for source in dict.fromkeys(args.sources)
    }
    statistics = {key: split_statistics(split) for key, split in splits.items()}
    for stats in statistics.values():
        print(format_statistics(stats))
        print()
    write_label_file(out / "labels.txt", first.label_names)
    write_json(out / "statistics.json", statistics)

    for file_name, key in target.cooccurrence.items():
        split = splits[key]
        adj, nums = cooccurrence_counts(split.targets)
        save_cooccurrence(out / file_name, adj, nums, split.label_names, num_images=len(split))
        print(f"co-occurrence from {split.name} ({len(split)} images) -> {out / file_name}")
    for source, (vectors, info) in embeddings.items():
        save_and_report(out / f"embeddings_{source}.npz", vectors, info, first.label_names, source)
    if any(split.report.skipped for split in splits.values()):
        # The cleaned lists: what each split keeps once the bad images are left out.
        for key, split in splits.items():
            kept = "".join(f"{path}\n" for path in split.image_paths)
            write_text(out / f"{key}_images.txt", kept)
        names = ", ".join(str(out / f"{key}_images.txt") for key in splits)
        print(f"kept images -> {names} (training with on_bad_image=skip leaves out the same)")

    summary = [(split.name, line) for split in splits.values() for line in split.report.lines()]
    if summary:
        print("\nskipped and counted items:")
        for name, line in summary:
            print(f"  {name}: {line}")
    return 0
