"""`agcn train -c CONFIG [key=value ...]`: train a model (also under `torchrun`)."""

from __future__ import annotations

import argparse

from agcn_pyg.config import load_run_config


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Train A-GCN, ML-GCN or the baseline from a YAML config.",
        add_help=add_help,
    )
    parser.add_argument("-c", "--config", help="YAML run config (see configs/)")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="config overrides, e.g. train.epochs=10 model.graph=fc data.workers=8",
    )
    parser.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=None,
        metavar="CKPT",
        help="continue from CKPT, or from <run_dir>/last.pt without a value",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="start afresh in a run folder with a last.pt"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def main(args: argparse.Namespace) -> int:
    from agcn_pyg.engine.train import train

    cfg = load_run_config(args.config, args.overrides)
    result = train(cfg, resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress)
    final = result["final"]
    if final:
        print(
            f"done: {result['run_dir']}  final mAP {final['mAP']:.2f}  "
            f"best mAP {result['best_mAP']:.2f}"
        )
    return 0
