"""Command-line options and their checks, shared by every `agcn` command (the analysis
tools too).

The parsers stay free of torch and the data modules (``agcn <command> --help`` answers at
once), so a flag whose values a config field or a registry defines is checked in the
command's ``main`` (`check_flags`, `check_choice`) with the same rule, as one line naming the
flag: ``--batch-size: expected an int ≥ 1, got 0``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from agcn_pyg.errors import ConfigError
from agcn_pyg.schema import Check, brief, did_you_mean, int_at_least


def progress_default() -> bool:
    """Whether ``--no-progress`` is the default: when stderr is not a terminal (a log file, a
    pipe), progress bars would write one carriage-return frame after another into it."""
    isatty = getattr(sys.stderr, "isatty", None)
    return not (callable(isatty) and isatty())


def add_progress_option(parser: argparse.ArgumentParser, help: str = "no progress bars") -> None:
    """``--no-progress``, on by default where stderr is not a terminal (`progress_default`)."""
    parser.add_argument(
        "--no-progress",
        action="store_true",
        default=progress_default(),
        help=f"{help} (the default when stderr is not a terminal)",
    )


def add_inference_options(parser: argparse.ArgumentParser) -> None:
    """``--batch-size``, ``--workers``, ``--device``, ``--amp`` and ``--no-progress``, checked
    by `check_inference_options`."""
    parser.add_argument("--batch-size", type=int, default=32, help="images a batch (≥ 1)")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader worker processes (≥ 0)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument(
        "--amp", default="auto", help="autocast: auto, bf16, fp16 or off (train.amp's values)"
    )
    add_progress_option(parser)


def check_inference_options(args: argparse.Namespace) -> None:
    """`add_inference_options`' flags under the rules of the config fields they stand for
    (``train.batch_size``, ``train.device``, ``train.amp``; ``data.workers``, whose ``null``
    the flag does not have)."""
    # Here, not at the top: the config's rules import torch, and `--help` must not.
    from agcn_pyg.config import TrainConfig
    from agcn_pyg.schema import rules_of

    train = rules_of(TrainConfig)
    check_flags(
        args,
        {
            "batch_size": train["batch_size"],
            "workers": (int_at_least(0),),
            "device": train["device"],
            "amp": train["amp"],
        },
    )


def check_flags(args: argparse.Namespace, rules: Mapping[str, Iterable[Check]]) -> None:
    """Each parsed option ``dest`` of ``rules`` against its rules, named as its flag."""
    for dest, checks in rules.items():
        for rule in checks:
            rule.check(flag_name(dest), getattr(args, dest), args)


def flag_name(dest: str) -> str:
    """``batch_size`` → ``--batch-size``."""
    return "--" + dest.replace("_", "-")


def check_choice(flag: str, value: Any, choices: Iterable[str]) -> str:
    """``value`` if it is one of ``choices``; else `ConfigError` naming ``flag``, the choices
    and the closest ones (for choices that a registry or a data module holds, which the
    parser does not import)."""
    names = list(choices)
    if value in names:
        return value
    hint = did_you_mean(value, names)
    raise ConfigError(f"{flag}: expected one of {names}, got {brief(value)}{hint}")


def user_path(value: str) -> Path:
    """An argparse ``type`` for path flags: a leading ``~`` expanded, as a shell would have
    (a path given as ``--out=~/x`` or from a script reaches us unexpanded)."""
    return Path(os.path.expanduser(value))


def check_new_file(flag: str, path: Path, overwrite: bool) -> None:
    """``path`` may be written: absent, or ``overwrite`` given (and not a folder)."""
    if path.is_dir():
        raise ConfigError(f"{flag} {path}: a folder, not a file")
    if path.exists() and not overwrite:
        raise ConfigError(f"{flag} {path} exists: pass --overwrite to replace it")
