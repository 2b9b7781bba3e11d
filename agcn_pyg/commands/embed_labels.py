"""`agcn embed-labels`: write label embeddings E (C×d_e) for a label list to an `.npz` file."""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agcn_pyg.data.embeddings import EMBEDDING_SOURCES, embed_labels, save_embeddings
from agcn_pyg.data.labels import read_label_file


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agcn embed-labels",
        add_help=add_help,
        description="Embed a label list offline and save vectors, label names and source "
        "to an .npz file.",
    )
    parser.add_argument(
        "--labels", required=True, type=Path, help="labels.txt: one label name per line"
    )
    parser.add_argument(
        "--source",
        default="minilm",
        choices=EMBEDDING_SOURCES.names(),
        help="minilm (384-d, any text), glove50 (50-d), file (--file), onehot (ablation)",
    )
    parser.add_argument("--out", required=True, type=Path, help="output .npz file")
    parser.add_argument(
        "--file",
        type=Path,
        help="for --source file: GloVe .txt, C×d .npy, ML-GCN *_glove_word2vec.pkl or .npz",
    )
    parser.add_argument("--batch-size", type=int, default=64, help="minilm batch size")
    return parser


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
    save_embeddings(out, vectors, label_names, source)
    print(f"{source}: {vectors.shape[0]} labels × {vectors.shape[1]} dims -> {out}")
    for label, words in (info.get("compounds") or {}).items():
        print(f"  {source}: {label!r} split into known words {' + '.join(words)}")
    for label, words in (info.get("oov") or {}).items():
        print(f"  {source}: out-of-vocabulary in {label!r}: {', '.join(words)} (skipped)")


def main(args: argparse.Namespace) -> int:
    label_names = read_label_file(args.labels)
    embed_and_save(label_names, args.source, args.out, source_options(args.source, args))
    return 0
