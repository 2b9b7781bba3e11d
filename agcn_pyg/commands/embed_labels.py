"""`agcn embed-labels`: write label embeddings E (C×d_e) for a label list to an `.npz` file."""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agcn_pyg.commands.options import check_flags, check_new_file, user_path
from agcn_pyg.schema import int_at_least

#: what ``--source`` names (`agcn_pyg.data.EMBEDDING_SOURCES`, checked in `main`: the parser
#: does not import the data modules, so that ``--help`` answers at once)
SOURCE_HELP = (
    "an embedding source (agcn_pyg.data.EMBEDDING_SOURCES): minilm (384-d, any text), "
    "glove50 (50-d), file (--file), onehot (ablation)"
)


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agcn embed-labels",
        add_help=add_help,
        description="Embed a label list offline and save vectors, label names and source "
        "to an .npz file.",
    )
    parser.add_argument(
        "--labels", required=True, type=user_path, help="labels.txt: one label name per line"
    )
    parser.add_argument("--source", default="minilm", help=SOURCE_HELP)
    parser.add_argument("--out", required=True, type=user_path, help="output .npz file")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument(
        "--file",
        type=user_path,
        help="for --source file: GloVe .txt, C×d .npy, ML-GCN *_glove_word2vec.pkl or .npz",
    )
    parser.add_argument("--batch-size", type=int, default=64, help="minilm batch size (≥ 1)")
    return parser


def check_sources(flag: str, sources: Sequence[str]) -> None:
    """Each of ``sources`` must name an embedding source (with a "did you mean")."""
    from agcn_pyg.data.embeddings import EMBEDDING_SOURCES

    for source in sources:
        EMBEDDING_SOURCES.get(source, field=flag)


# Which parsed arguments each embedding source takes as keyword options.
_SOURCE_OPTIONS: dict[str, Callable[[argparse.Namespace], dict[str, object]]] = {
    "file": lambda args: {"path": args.file},
    "minilm": lambda args: {"batch_size": args.batch_size},
}


def source_options(source: str, args: argparse.Namespace) -> dict[str, object]:
    """Keyword options for an embedding source from parsed arguments."""
    return _SOURCE_OPTIONS.get(source, lambda _: {})(args)


def embed(
    label_names: list[str], source: str, options: dict[str, object]
) -> tuple[Any, dict[str, Any]]:
    """``(vectors, info)``; out-of-vocabulary words are reported by `save_and_report`."""
    from agcn_pyg.data.embeddings import embed_labels

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return embed_labels(label_names, source, return_info=True, **options)


def embed_and_save(
    label_names: list[str], source: str, out: Path, options: dict[str, object]
) -> None:
    """Embed, save, and print a one-line summary (plus out-of-vocabulary words)."""
    vectors, info = embed(label_names, source, options)
    save_and_report(out, vectors, info, label_names, source)


def save_and_report(
    out: Path, vectors: Any, info: dict[str, Any], label_names: list[str], source: str
) -> None:
    from agcn_pyg.data.embeddings import save_embeddings

    save_embeddings(out, vectors, label_names, source)
    print(f"{source}: {vectors.shape[0]} labels × {vectors.shape[1]} dims -> {out}")
    for label, words in (info.get("compounds") or {}).items():
        print(f"  {source}: {label!r} split into known words {' + '.join(words)}")
    for label, words in (info.get("oov") or {}).items():
        print(f"  {source}: out-of-vocabulary in {label!r}: {', '.join(words)} (skipped)")


def main(args: argparse.Namespace) -> int:
    # Here, not at the top: the data modules import torch, and `--help` must not.
    from agcn_pyg.data.labels import read_label_file

    check_sources("--source", [args.source])
    check_flags(args, {"batch_size": (int_at_least(1),)})
    check_new_file("--out", args.out, args.overwrite)
    label_names = read_label_file(args.labels)
    embed_and_save(label_names, args.source, args.out, source_options(args.source, args))
    return 0
