"""`agcn evaluate CKPT`: metrics.json, a per-class CSV, the results table; optional thresholds.

Where an evaluation goes (without ``--out``), beside the checkpoint: ``eval_<stem>/`` on the
run's own validation split (``eval_best/`` for ``best.pt``), ``eval_<stem>_<data>/`` when
``key=value`` overrides change the data (``<data>`` is the evaluated split's name, e.g.
``eval_best_csv_test/``). ``eval/`` is training's own evaluation of ``best.pt`` and is never
replaced here. A folder is replaced whole, and only when it holds an earlier evaluation's
files and nothing else.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from agcn_pyg.commands.options import add_inference_options, check_inference_options, user_path
from agcn_pyg.metrics import AP_PROTOCOLS, DEFAULT_AP_PROTOCOL


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Evaluate a checkpoint on its run's reported split (data.test where the run "
        "has one, else data.val), or another one.",
        add_help=add_help,
    )
    parser.add_argument("checkpoint", type=user_path, help="a .pt written by `agcn train`")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="changes to the checkpoint's run config, e.g. data.val.csv_file=test.csv",
    )
    parser.add_argument(
        "--out",
        type=user_path,
        help="output folder (default: eval_<stem>/ beside the checkpoint; "
        "eval_<stem>_<data>/ with data overrides)",
    )
    parser.add_argument("--name", help="row name in tables (default: the run name)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--threshold", type=float, default=0.5, help="global threshold, a probability in (0, 1)"
    )
    group.add_argument(
        "--thresholds",
        type=user_path,
        help="per-class thresholds JSON (from --tune-thresholds; its probabilities count)",
    )
    parser.add_argument(
        "--tune-thresholds",
        metavar="JSON",
        type=user_path,
        help="also choose per-class thresholds maximising F1 on this split and write them",
    )
    parser.add_argument(
        "--ap-protocol",
        default=DEFAULT_AP_PROTOCOL,
        choices=AP_PROTOCOLS.names(),
        help="how mAP is computed: mlgcn (ML-GCN's meter, the paper's tables; default), sklearn "
        "(scikit-learn's: tied scores form one threshold) or voc (interpolated, as SSGRL and "
        "Query2Label); metrics.json holds all three as mAP_<name>",
    )
    add_inference_options(parser)
    return parser


def main(args: argparse.Namespace) -> int:
    # Here, not at the top, so that `agcn evaluate --help` does not import torch.
    from agcn_pyg.analysis._common import slug
    from agcn_pyg.analysis.results_table import CAPTION, format_table
    from agcn_pyg.config import RunConfig, apply_overrides, from_dict
    from agcn_pyg.data import build_dataset
    from agcn_pyg.engine.checkpoint import load_model
    from agcn_pyg.engine.evaluate import (
        check_evaluation_folder,
        commit_evaluation,
        load_thresholds,
        save_thresholds,
    )
    from agcn_pyg.engine.runtime import resolve_amp, resolve_device
    from agcn_pyg.errors import ConfigError, DataError
    from agcn_pyg.metrics import logit_threshold, sigmoid, tune_thresholds
    from agcn_pyg.selection import reported_split_args

    check_inference_options(args)
    threshold = logit_threshold(args.threshold, where="--threshold")
    if args.out is not None:
        check_evaluation_folder(args.out)  # before the work: the folder is replaced whole
    device = resolve_device(args.device)
    amp_dtype, _ = resolve_amp(args.amp, device)
    model, meta = load_model(args.checkpoint, map_location=device)
    label_names = meta["label_names"]
    # The overrides go through the schema with the stored config, before any data is read.
    run_config = apply_overrides(meta["run_config"] or {}, args.overrides)
    cfg = from_dict(RunConfig, run_config)
    if not cfg.data.val:
        raise ConfigError(
            f"{args.checkpoint} names no evaluation data (an imported checkpoint, for one): pass "
            "data.dataset=coco|voc2007|fashion550k|csv and the split's files, e.g. "
            "data.val.ann_file=... data.val.image_dir=..."
        )
    # the reported split: data.test where the run has one, else data.val (agcn_pyg.selection)
    dataset = build_dataset(cfg.data.dataset, **reported_split_args(cfg.data))
    if dataset.label_names != label_names:
        raise DataError(
            f"evaluation data has another label list or order than {args.checkpoint} "
            f"({dataset.num_classes} vs {len(label_names)} labels)"
        )
    out = args.out or default_folder(args.checkpoint, args.overrides, slug(dataset.name))
    check_evaluation_folder(out)
    logit_thresholds = (
        load_thresholds(args.thresholds, label_names, logits=True) if args.thresholds else threshold
    )
    logits, targets = _score(args, run_config, model, dataset, device, amp_dtype)
    report = commit_evaluation(
        out,
        args.name or cfg.name,
        logits,
        targets,
        label_names,
        checkpoint=str(args.checkpoint),
        logit_thresholds=logit_thresholds,
        config=run_config,
        ap_protocol=args.ap_protocol,
    )
    print(format_table([(report["name"], report["metrics"])], [report["ap_protocol"]]), end="")
    print(f"\n{CAPTION}\n")
    print(f"wrote {out / 'metrics.json'}, {out / 'per_class.csv'}, {out / 'scores.npz'}")
    if args.tune_thresholds:
        tuned = tune_thresholds(logits, targets, default=0.0)
        save_thresholds(args.tune_thresholds, tuned, label_names)
        print(
            f"wrote {args.tune_thresholds}: per-class thresholds maximising F1 on this split "
            f"(median probability {float(np.median(sigmoid(tuned))):.3f}); evaluate them on "
            "another split"
        )
    return 0


def default_folder(checkpoint: Path, overrides: list[str], data_name: str) -> Path:
    """``eval_<stem>/`` beside the checkpoint; ``eval_<stem>_<data_name>/`` when
    ``overrides`` change what is evaluated (`eval/` stays training's)."""
    stem = checkpoint.stem
    return checkpoint.parent / (f"eval_{stem}_{data_name}" if overrides else f"eval_{stem}")


def _score(
    args: argparse.Namespace,
    run_config: dict[str, Any],
    model: Any,
    dataset: Any,
    device: Any,
    amp_dtype: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """The logits and targets of ``dataset`` under the checkpoint's test transform."""
    from agcn_pyg.engine.evaluate import collect_logits
    from agcn_pyg.engine.inputs import make_loader, test_pipeline

    transform, normalize = test_pipeline(run_config, model)
    loader = make_loader(
        dataset.with_transform(transform),
        args.batch_size,
        args.workers,
        train=False,
        pin_memory=device.type == "cuda",
    )
    return collect_logits(
        model, loader, device, amp_dtype, progress=not args.no_progress, normalize=normalize
    )
