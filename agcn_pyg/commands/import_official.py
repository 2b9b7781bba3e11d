"""`agcn import-official`: an official A-GCN or ML-GCN checkpoint → an agcn_pyg checkpoint."""

from __future__ import annotations

import argparse

from agcn_pyg.commands.options import check_new_file, user_path


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Convert a checkpoint published with A-GCN (queenie88/A-GCN) or ML-GCN "
        "(megvii-research/ML-GCN) into an agcn_pyg checkpoint that `agcn evaluate`, "
        "`agcn predict` and the analysis scripts read.",
        add_help=add_help,
    )
    parser.add_argument("checkpoint", type=user_path, help="the official .pth.tar")
    parser.add_argument("--kind", required=True, choices=["agcn", "mlgcn"])
    parser.add_argument(
        "--embeddings",
        required=True,
        type=user_path,
        help="the label embeddings the model was trained with, e.g. ML-GCN's "
        "coco_glove_word2vec.pkl (or an .npz / .npy in the same label order)",
    )
    parser.add_argument(
        "--labels",
        required=True,
        type=user_path,
        help="labels.txt in the embeddings' order (COCO: datasets/coco2014/labels.txt)",
    )
    parser.add_argument("--out", required=True, type=user_path, help="the agcn_pyg .pt to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    return parser


def main(args: argparse.Namespace) -> int:
    # Here, not at the top, so that `agcn import-official --help` does not import torch.
    from agcn_pyg.data.embeddings import load_embeddings
    from agcn_pyg.data.labels import read_label_file
    from agcn_pyg.engine.checkpoint import save_imported
    from agcn_pyg.models.official import import_official

    check_new_file("--out", args.out, args.overwrite)
    names = read_label_file(args.labels)
    vectors = load_embeddings(args.embeddings, names).vectors
    model, meta = import_official(args.checkpoint, args.kind, vectors, names)
    save_imported(model, names, meta, args.out)
    cfg = model.config
    score = "" if meta.best_score is None else f", official best score {meta.best_score:.3f}"
    epoch = "" if meta.epoch is None else f", epoch {meta.epoch}"
    print(
        f"imported {args.kind} {cfg['backbone']} ({cfg['num_classes']} labels, d_e = "
        f"{vectors.shape[1]}{epoch}{score}) -> {args.out}"
    )
    print(
        f"evaluate it: agcn evaluate {args.out} data.dataset=coco "
        "data.val.ann_file=<instances_val2014.json> data.val.image_dir=<val2014>"
    )
    return 0
