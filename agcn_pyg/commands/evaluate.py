"""`agcn evaluate CKPT`: metrics.json, a per-class CSV, a Table-1 row; optional thresholds."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from agcn_pyg.commands._options import add_inference_options
from agcn_pyg.metrics import AP_PROTOCOLS, DEFAULT_AP_PROTOCOL


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Evaluate a checkpoint on its run's reported split (data.test where the run "
        "has one, else data.val), or another one.",
        add_help=add_help,
    )
    parser.add_argument("checkpoint", help="a .pt written by `agcn train`")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="changes to the checkpoint's run config, e.g. data.val.csv_file=test.csv",
    )
    parser.add_argument("--out", help="output folder (default: <checkpoint dir>/eval_<stem>)")
    parser.add_argument("--name", help="row name in tables (default: the run name)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--threshold", type=float, default=0.5, help="global threshold, a probability in (0, 1)"
    )
    group.add_argument("--thresholds", help="per-class thresholds JSON (from --tune-thresholds)")
    parser.add_argument(
        "--tune-thresholds",
        metavar="JSON",
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
    from agcn_pyg.config import RunConfig, apply_overrides, from_dict
    from agcn_pyg.data import build_dataset
    from agcn_pyg.engine.checkpoint import load_model
    from agcn_pyg.engine.evaluate import (
        check_evaluation_folder,
        collect_logits,
        commit_evaluation,
        load_thresholds,
        save_thresholds,
        table_row,
    )
    from agcn_pyg.engine.inputs import make_loader, test_pipeline
    from agcn_pyg.engine.runtime import resolve_amp, resolve_device
    from agcn_pyg.errors import ConfigError, DataError
    from agcn_pyg.metrics import logit_threshold, sigmoid, tune_thresholds
    from agcn_pyg.selection import reported_split_args

    ckpt = Path(args.checkpoint)
    out = Path(args.out) if args.out else ckpt.parent / f"eval_{ckpt.stem}"
    check_evaluation_folder(out)  # before the work: the folder is replaced whole
    device = resolve_device(args.device)
    amp_dtype, _ = resolve_amp(args.amp, device)
    model, meta = load_model(args.checkpoint, map_location=device)
    label_names = meta["label_names"]
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
    transform, normalize = test_pipeline(run_config, model)
    dataset = dataset.with_transform(transform)
    loader = make_loader(
        dataset, args.batch_size, args.workers, train=False, pin_memory=device.type == "cuda"
    )
    logits, targets = collect_logits(
        model, loader, device, amp_dtype, progress=not args.no_progress, normalize=normalize
    )

    logit_thresholds = (
        load_thresholds(args.thresholds, label_names, logits=True)
        if args.thresholds
        else logit_threshold(args.threshold, where="--threshold")
    )
    report = commit_evaluation(
        out,
        args.name or cfg.name,
        logits,
        targets,
        label_names,
        checkpoint=str(ckpt),
        logit_thresholds=logit_thresholds,
        config=run_config,
        ap_protocol=args.ap_protocol,
    )
    print(table_row(report))
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
