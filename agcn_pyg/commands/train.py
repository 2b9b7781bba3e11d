"""`agcn train -c CONFIG [key=value ...]`: train a model (also under `torchrun`).

Ctrl-C stops the run with one line: the epoch it stopped in, what is committed, and the
exact command that resumes it (or starts it again, before its first commit); exit status 130
(128 + SIGINT), as a shell reports an interrupted program.

``--print-config`` prints the fully resolved run config (the file, its variant, the
overrides) as YAML and exits, without reading data, building a model or writing anything.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from agcn_pyg.commands.options import add_progress_option, user_path


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Train A-GCN, ML-GCN or the baseline from a YAML config.",
        add_help=add_help,
    )
    parser.add_argument(
        "-c",
        "--config",
        type=user_path,
        help="YAML run config, or the name of a shipped one (see configs/)",
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="config overrides, e.g. train.epochs=10 model.graph=fc data.workers=8",
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue the run from <run_dir>/last.pt"
    )
    parser.add_argument(
        "--resume-from",
        metavar="CKPT",
        type=user_path,
        help="continue from another last.pt (a copy, say): the run folder becomes a copy of "
        "that run first (best.pt and eval/ too, when they stand beside CKPT)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="start a new history in a run folder that holds a previous run's results "
        "(moved aside whole to <name>.replaced-<time>)",
    )
    parser.add_argument(
        "--mode",
        default="end2end",
        help="a mode of agcn_pyg.engine.TRAIN_MODES: end2end, the whole model on images "
        "(default); features, the head alone on the frozen backbone's cached features",
    )
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        type=user_path,
        help="--mode features: where the features are cached (default <output_dir>/features_cache)",
    )
    add_progress_option(parser, "no progress bars, one line an epoch")
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="print the resolved run config as YAML and exit without training",
    )
    return parser


#: exit status after Ctrl-C: 128 + SIGINT
EXIT_INTERRUPTED = 130


def main(args: argparse.Namespace) -> int:
    # Here, not at the top: the config imports torch, timm and PyG, and `--help` must not.
    import yaml

    from agcn_pyg.config import load_run_config, shipped_configs, to_dict
    from agcn_pyg.errors import ConfigError

    if args.resume and args.resume_from:
        raise ConfigError("pass --resume or --resume-from CKPT, not both")
    cfg = load_run_config(args.config, args.overrides)
    if args.print_config:
        print(yaml.safe_dump(to_dict(cfg), sort_keys=False), end="")
        return 0
    if args.config is None and not (cfg.data.train and cfg.data.val):
        raise ConfigError(
            "no config given: pass -c CONFIG (a YAML file, or the name of a shipped one: "
            f"{', '.join(shipped_configs()[:3])}, ...), or give both splits on the command "
            "line (data.train.csv_file=... data.val.csv_file=...)"
        )
    # Lazy: `--print-config` stays free of the training imports too.
    from agcn_pyg.engine.trainer import train

    resume = args.resume_from or (True if args.resume else None)
    # torchrun's RANK: the process group is gone once train() returns.
    main_process = int(os.environ.get("RANK", "0")) == 0
    try:
        result = train(
            cfg,
            resume=resume,
            overwrite=args.overwrite,
            progress=not args.no_progress,
            mode=args.mode,
            cache_dir=args.cache_dir,
        )
    except KeyboardInterrupt as stop:
        if main_process:
            print(f"agcn train: {interrupted(stop, args)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not main_process:
        return 0
    final = result["final"]
    best = result["best_mAP"]
    if result["finished_before"]:
        print(
            f"{result['run_dir']} is already finished ({cfg.train.epochs} epochs); nothing to "
            f"do. Best mAP {best:.2f}; raise train.epochs to train on"
        )
    elif final:
        test = result.get("test")  # the reported split, where it is not the selection split
        scored = f"; {test['split']} mAP {test['selected']['mAP']:.2f} (reported)" if test else ""
        split = result["selection"]
        line = f"done: {result['run_dir']}  {split} mAP {final['mAP']:.2f} (last epoch)"
        print(f"{line}, best mAP {best:.2f} (best.pt){scored}")
    else:
        print(f"done: {result['run_dir']} (not evaluated)")
    return 0


def interrupted(stop: KeyboardInterrupt, args: argparse.Namespace) -> str:
    """The line for Ctrl-C: where the run stopped (`TrainingInterrupted`), what is committed,
    and the command that resumes it (or, with nothing committed, starts it again)."""
    from agcn_pyg.engine.trainer import TrainingInterrupted

    if isinstance(stop, TrainingInterrupted):
        where, committed = str(stop), stop.committed_epoch is not None
    else:  # during set-up (data, model, features): no epoch ran
        where, committed = "interrupted before training started; nothing is committed", False
    how = "resume with" if committed else "start it again with"
    return f"{where}; {how}: {command_line(args, resume=committed)}"


def command_line(args: argparse.Namespace, resume: bool) -> str:
    """``agcn train`` with ``args`` as given, or (``resume``) continuing from the run folder's
    ``last.pt`` instead of starting afresh or from another checkpoint."""
    config = ["-c", str(args.config)] if args.config else []
    argv = ["agcn", "train", *config, *args.overrides]
    if resume:
        argv.append("--resume")
    else:
        argv += ["--resume"] if args.resume else []
        argv += ["--resume-from", str(args.resume_from)] if args.resume_from else []
        argv += ["--overwrite"] if args.overwrite else []
    argv += ["--mode", args.mode] if args.mode != "end2end" else []
    argv += ["--cache-dir", str(args.cache_dir)] if args.cache_dir else []
    argv += ["--no-progress"] if args.no_progress else []
    return shlex.join(argv)
