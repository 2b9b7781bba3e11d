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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agcn_pyg.commands.embed_labels import check_sources, embed, save_and_report, source_options
from agcn_pyg.commands.options import (
    add_progress_option,
    check_choice,
    check_flags,
    user_path,
)
from agcn_pyg.errors import ConfigError
from agcn_pyg.registry import Registry
from agcn_pyg.schema import int_at_least, optional

if TYPE_CHECKING:
    from agcn_pyg.data.dataset import MultiLabelDataset

# The data modules (and torch with them) are imported where the splits are built, not here,
# so that `agcn prepare --help` answers at once; the flags whose values those modules define
# are checked against them in `main` (`PrepareTarget.choices`).

Splits = dict[str, "MultiLabelDataset"]


@dataclass(frozen=True)
class PrepareTarget:
    """How `prepare` handles one dataset: its options, its splits, its statistics files.

    ``choices`` gives, for each of its options whose values a data module defines, the
    allowed values (read when `main` checks them)."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    build: Callable[[argparse.Namespace, dict[str, Any]], Splits]
    cooccurrence: dict[str, str]  # output file name -> split key
    choices: Callable[[], Mapping[str, Sequence[str]]] = dict


PREPARE_TARGETS: Registry[PrepareTarget] = Registry("prepare dataset")
#: what `main` writes into ``--out`` (``image_check.json``, a cache, is not among them)
OUTPUT_PATTERNS = ("labels.txt", "statistics.json", "cooccurrence*.npz", "embeddings_*.npz")


def _coco_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ann-file", required=True, type=user_path, help="instances_train2014.json"
    )
    parser.add_argument(
        "--image-dir", required=True, type=user_path, help="train2014/ image folder"
    )
    parser.add_argument("--val-ann-file", type=user_path, help="instances_val2014.json")
    parser.add_argument("--val-image-dir", type=user_path, help="val2014/ image folder")
    parser.add_argument(
        "--order", default="name", help="label order: name (sorted names) or id (category id)"
    )
    parser.add_argument(
        "--crowd",
        default="positive",
        help="iscrowd annotations: positive (count as present) or ignore (crowd-only labels "
        "become -1)",
    )


def _coco_choices() -> dict[str, Sequence[str]]:
    from agcn_pyg.data.coco import COCO_ORDERS, CROWD_POLICIES

    return {"order": COCO_ORDERS, "crowd": CROWD_POLICIES}


def _coco_build(args: argparse.Namespace, common: dict[str, Any]) -> Splits:
    from agcn_pyg.data.coco import coco

    options = {"order": args.order, "crowd": args.crowd, **common}
    splits = {"train": coco(args.ann_file, args.image_dir, name="coco2014/train", **options)}
    if (args.val_ann_file is None) != (args.val_image_dir is None):
        raise ConfigError("--val-ann-file and --val-image-dir go together")
    if args.val_ann_file is not None:
        splits["val"] = coco(args.val_ann_file, args.val_image_dir, name="coco2014/val", **options)
    return splits


def _voc_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root", required=True, type=user_path, help="VOCdevkit/VOC2007 (or above)"
    )
    splits = "train, val, trainval or test"
    parser.add_argument("--train-split", default="trainval", help=f"{splits} (default trainval)")
    parser.add_argument("--test-split", default="test", help=f"{splits} (default test)")


def _voc_choices() -> dict[str, Sequence[str]]:
    from agcn_pyg.data.voc import VOC_SPLITS

    return {"train_split": VOC_SPLITS, "test_split": VOC_SPLITS}


def _voc_build(args: argparse.Namespace, common: dict[str, Any]) -> Splits:
    from agcn_pyg.data.voc import voc2007

    return {
        "train": voc2007(args.root, args.train_split, **common),
        "test": voc2007(args.root, args.test_split, **common),
    }


def _fashion_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root", required=True, type=user_path, help="the Fashion550K release folder"
    )
    parser.add_argument(
        "--image-dir", type=user_path, help="base of photos.txt paths (default: root)"
    )
    parser.add_argument(
        "--verified-rows",
        default="auto",
        help="rows of verified.npy: photo (one per photo), splits (the train, val, test photos "
        "in order) or auto (default)",
    )


def _fashion_choices() -> dict[str, Sequence[str]]:
    from agcn_pyg.data.fashion550k import VERIFIED_ROWS

    return {"verified_rows": VERIFIED_ROWS}


def _fashion_build(args: argparse.Namespace, common: dict[str, Any]) -> Splits:
    from agcn_pyg.data.fashion550k import fashion550k

    options = {"image_dir": args.image_dir, "verified_rows": args.verified_rows, **common}
    return {
        "train-noisy": fashion550k(args.root, "train", "noisy", **options),
        "train-clean": fashion550k(args.root, "train", "clean", **options),
        "val": fashion550k(args.root, "val", "clean", **options),
        "test": fashion550k(args.root, "test", "clean", **options),
    }


def _csv_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--train-csv", required=True, type=user_path, help="training CSV")
    parser.add_argument("--test-csv", type=user_path, help="test CSV (optional)")
    parser.add_argument(
        "--image-dir",
        type=user_path,
        help="base of relative image paths (default: the CSV's folder)",
    )
    parser.add_argument(
        "--labels",
        type=user_path,
        help="labels.txt fixing the label order (default: sorted names)",
    )


def _csv_build(args: argparse.Namespace, common: dict[str, Any]) -> Splits:
    from agcn_pyg.data.custom import from_csv
    from agcn_pyg.data.labels import read_label_file

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
    PrepareTarget(
        "MS-COCO 2014", _coco_args, _coco_build, {"cooccurrence.npz": "train"}, _coco_choices
    ),
)
PREPARE_TARGETS.add(
    "voc2007",
    PrepareTarget(
        "PASCAL VOC 2007", _voc_args, _voc_build, {"cooccurrence.npz": "train"}, _voc_choices
    ),
)
PREPARE_TARGETS.add(
    "fashion550k",
    PrepareTarget(
        "Fashion550K",
        _fashion_args,
        _fashion_build,
        {"cooccurrence.npz": "train-noisy", "cooccurrence_clean.npz": "train-clean"},
        _fashion_choices,
    ),
)
PREPARE_TARGETS.add(
    "csv",
    PrepareTarget(
        "a custom image,labels CSV", _csv_args, _csv_build, {"cooccurrence.npz": "train"}
    ),
)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=user_path, help="output folder")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the files of an earlier prepare in --out",
    )
    parser.add_argument(
        "--sources",
        nargs="+",
        default=["minilm", "glove50"],
        help="embedding sources to write (default: minilm glove50): minilm, glove50, file "
        "(--file), onehot",
    )
    parser.add_argument("--file", type=user_path, help="embedding file for the 'file' source")
    parser.add_argument("--batch-size", type=int, default=64, help="minilm batch size (≥ 1)")
    parser.add_argument(
        "--check-images",
        action="store_true",
        help="decode every image once (cached in <out>/image_check.json)",
    )
    parser.add_argument(
        "--on-bad-image",
        default="error",
        help="missing, empty or unreadable images: error (stop; default) or skip (leave them "
        "out, and count them)",
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="threads for --check-images (≥ 1)"
    )
    add_progress_option(parser, "hide progress bars")


def check_options(target: PrepareTarget, args: argparse.Namespace) -> None:
    """The flags of ``target`` and the common ones, as one line naming the first bad one;
    ``--out`` must be a folder without an earlier prepare's files (unless ``--overwrite``)."""
    from agcn_pyg.data.images import BAD_IMAGE_POLICIES

    for dest, allowed in {**target.choices(), "on_bad_image": BAD_IMAGE_POLICIES}.items():
        check_choice("--" + dest.replace("_", "-"), getattr(args, dest), allowed)
    check_sources("--sources", args.sources)
    check_flags(
        args,
        {"batch_size": (int_at_least(1),), "workers": (optional(int_at_least(1)),)},
    )
    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: a file, not a folder")
    earlier = sorted(p.name for pattern in OUTPUT_PATTERNS for p in out.glob(pattern))
    if earlier and not args.overwrite:
        raise ConfigError(
            f"--out {out} holds {earlier[0]} from an earlier prepare: pass --overwrite to "
            "replace its files, or name another folder"
        )


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
    from agcn_pyg.data.cooccurrence import cooccurrence_counts, save_cooccurrence
    from agcn_pyg.data.labels import check_label_order, write_label_file
    from agcn_pyg.data.statistics import format_statistics, split_statistics
    from agcn_pyg.io import write_json, write_text

    target = PREPARE_TARGETS.get(args.dataset)
    check_options(target, args)
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
