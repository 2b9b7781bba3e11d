"""The end-to-end study on digit scenes: where the graph heads lose to the baseline, and why.

Builds the digit-scene data set (`agcn_pyg.data.digit_scenes`: scikit-learn's digits in fixed
co-occurring groups, one faint member per group) under ``<out>/data``, then trains every
entry of `STUDY` asked for, for every seed, end to end from scratch with the shipped recipe
``configs/digits.yaml`` (`agcn_pyg.config.find_config`; ``--config`` for another). Each entry
is a named variant (`agcn_pyg.variants`, resolved as ``agcn train -c digits.yaml
variant=<name>`` resolves it) with the study's own overrides over it; every run evaluates
its last epoch only, and goes to ``<out>/runs/<stem>_<entry>_seed<k>``.

It writes ``<out>/end2end_gap.md`` and ``.csv``: per variant the validation mAP of every seed,
their mean and standard deviation, the mean AP of the faint digits, the off-diagonal mass of
Â after the last epoch (``log.csv``'s ``adj_offdiag``, averaged over labels and seeds) and how
many of the seeds ended with Â exactly I.

Usage (``agcn end2end-gap``, ``python -m agcn_pyg.analysis.end2end_gap`` and
``python analysis/end2end_gap.py`` are the same command)::

    agcn end2end-gap --out runs/digits --seeds 0,1
    agcn end2end-gap --out runs/digits --variants baseline,agcn,agcn_whiten
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from agcn_pyg.analysis._common import atomic_write_text, last_epoch_only, load_metrics, run_cli
from agcn_pyg.analysis.run_table1 import TableRow, base_config, row_config, train_row
from agcn_pyg.commands.options import user_path
from agcn_pyg.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from agcn_pyg.config import RunConfig
    from agcn_pyg.data.digit_scenes import DigitScenesConfig

# pandas, the config and the data modules (torch with them) load in the functions that use
# them, so that `agcn end2end-gap --help` answers at once.

#: the study's recipe: a shipped config (package data, so the installed package runs the study)
DEFAULT_CONFIG = "digits.yaml"
WHITEN = ("model.embedding_norm=whiten",)

#: entry → (variant, overrides over it); the first block is Table 1 as it ships
STUDY: dict[str, tuple[str, tuple[str, ...]]] = {
    **{row: (row, ()) for row in ("baseline", "mlgcn", "agcn", "identity")},
    **{row: (row, ()) for row in ("agcn_official", "agcn_gat")},
    # Candidate causes, one at a time:
    "agcn_signed": ("agcn", ("model.guard=signed",)),
    "agcn_leaky": ("agcn", ("model.guard=leaky",)),
    "agcn_plain": ("agcn", ("model.guard=none",)),
    "identity_bias": ("identity", ("model.classifier_bias=true",)),
    "identity_mlgcn_init": ("identity", ("model.gnn_init=mlgcn",)),
    "identity_onehot": ("identity", ("data.embeddings=onehot",)),
    "agcn_onehot": ("agcn", ("data.embeddings=onehot",)),
    "agcn_centered": ("agcn", ("model.embedding_norm=center",)),
    "agcn_gat_onehot": ("agcn_gat", ("data.embeddings=onehot",)),
    # Whitened label embeddings (`model.embedding_norm=whiten`):
    **{
        f"{row}_whiten": (row, WHITEN)
        for row in ("mlgcn", "agcn", "identity", "agcn_official", "agcn_gat")
    },
}
DEFAULT_VARIANTS = ("baseline", "mlgcn", "agcn", "identity", "agcn_gat")


def faint_names() -> list[str]:
    """The names of the digits the scenes draw small and faint."""
    from agcn_pyg.data.digit_scenes import LABEL_NAMES, DigitScenesConfig

    return [LABEL_NAMES[d] for d in DigitScenesConfig().faint]


@dataclass
class Trained:
    """One variant and seed: its validation metrics and what its graph did."""

    variant: str
    seed: int
    mAP: float
    faint_AP: float
    offdiag: float
    identity: bool
    seconds: float
    error: str | None = None


def parse_names(text: str | None, known: Sequence[str], what: str) -> list[str]:
    if text is None:
        return list(DEFAULT_VARIANTS)
    if text.strip() == "all":
        return list(known)
    names = [t.strip() for t in text.split(",") if t.strip()]
    for name in names:
        if name not in known:
            raise ConfigError(f"--{what}: unknown name {name!r}; choose from {list(known)}")
    if not names:
        raise ConfigError(f"--{what}: give at least one name")
    return names


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ConfigError(f"--seeds: expected integers, e.g. 0,1; got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError("--seeds: give distinct seeds, e.g. 0,1")
    return seeds


def _graph_at_end(run_dir: Path) -> tuple[float, bool]:
    with (run_dir / "log.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    value = rows[-1].get("adj_offdiag", "") if rows else ""
    if value in ("", None):
        return math.nan, False  # no label graph (the baseline)
    return float(value), float(value) == 0.0


def _same_config(cfg: RunConfig) -> bool:
    """Whether the finished run in ``cfg.run_dir`` was trained with ``cfg`` (the label count,
    which the trainer fills in from the data, aside)."""
    from agcn_pyg.config import to_dict

    try:
        stored = yaml.safe_load((cfg.run_dir / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    wanted = to_dict(cfg)
    for config in (stored, wanted):
        config.get("model", {}).pop("num_classes", None)
    return stored == wanted


def study_config(
    name: str, seed: int, data_root: Path, out: Path, config: str | Path | Mapping[str, Any]
) -> RunConfig:
    """The run of study entry ``name`` for ``seed``: its variant on ``config`` with the
    study's overrides, on the data under ``data_root``, evaluated at its last epoch."""
    from agcn_pyg.config import merge

    labels = str(data_root / "labels.txt")
    paths = {
        "data": {
            "train": {"csv_file": str(data_root / "train.csv"), "label_names": labels},
            "val": {"csv_file": str(data_root / "val.csv"), "label_names": labels},
        }
    }
    variant, overrides = STUDY[name]
    base = merge(base_config(config), paths)
    row = TableRow(name, variant)
    cfg = row_config(base, row, [*overrides, f"train.seed={seed}"], out, f"{name}_seed{seed}")
    return last_epoch_only(cfg)


def train_variant(
    variant: str,
    seed: int,
    data_root: Path,
    out: Path,
    config: str | Path | Mapping[str, Any],
    overwrite: bool,
) -> Trained:
    """Train one study entry for one seed; a finished run of the same config is read, not
    retrained."""
    cfg = study_config(variant, seed, data_root, out, config)
    metrics_file = cfg.run_dir / "eval" / "metrics.json"
    start = time.perf_counter()
    if overwrite or not metrics_file.is_file() or not _same_config(cfg):
        result = train_row(cfg, "end2end", variant, overwrite=True, progress=False)
        if result.error is not None:
            return Trained(variant, seed, math.nan, math.nan, math.nan, False, 0.0, result.error)
    seconds = time.perf_counter() - start
    metrics = load_metrics(metrics_file)
    faint = [metrics.label_names.index(name) for name in faint_names()]
    offdiag, identity = _graph_at_end(cfg.run_dir)
    return Trained(
        variant,
        seed,
        float(metrics.metrics["mAP"]),
        float(np.nanmean(metrics.per_class_ap[faint])),
        offdiag,
        identity,
        seconds,
    )


def _config_name(config: str | Path | Mapping[str, Any]) -> str:
    if isinstance(config, Mapping):
        return str(config.get("name", "a config dict"))
    return Path(config).name


def summary(results: Sequence[Trained], seeds: Sequence[int]) -> pd.DataFrame:
    """One line per variant: mAP per seed, mean ± std, faint-digit AP, Â's off-diagonal mass."""
    import pandas as pd

    records = []
    for variant in dict.fromkeys(r.variant for r in results):
        runs = [r for r in results if r.variant == variant]
        maps = np.array([r.mAP for r in runs])
        record: dict[str, object] = {"variant": variant}
        for r in runs:
            record[f"seed {r.seed}"] = r.mAP
        ok = maps[np.isfinite(maps)]
        record["mean"] = float(ok.mean()) if len(ok) else math.nan
        record["std"] = float(ok.std(ddof=1)) if len(ok) > 1 else math.nan
        record["faint AP"] = float(np.nanmean([r.faint_AP for r in runs]))
        offdiag = [r.offdiag for r in runs if math.isfinite(r.offdiag)]
        record["offdiag(Â)"] = float(np.mean(offdiag)) if offdiag else math.nan
        record["Â = I at the end"] = (
            f"{sum(r.identity for r in runs)}/{len(runs)}" if offdiag else "-"
        )
        records.append(record)
    columns = ["variant", *(f"seed {s}" for s in seeds), "mean", "std", "faint AP"]
    return pd.DataFrame(records, columns=[*columns, "offdiag(Â)", "Â = I at the end"])


def to_markdown(df: pd.DataFrame) -> str:
    header = "| " + " | ".join(df.columns) + " |"
    lines = [header, "|:---|" + "---:|" * (len(df.columns) - 1)]
    for _, row in df.iterrows():
        cells = []
        for column, value in row.items():
            if isinstance(value, float):
                digits = 4 if column == "offdiag(Â)" else 2
                cells.append("-" if math.isnan(value) else f"{value:.{digits}f}")
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def end2end_gap(
    out: str | Path,
    variants: Sequence[str] = DEFAULT_VARIANTS,
    seeds: Sequence[int] = (0, 1),
    config: str | Path | Mapping[str, Any] | None = None,
    data: DigitScenesConfig | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> pd.DataFrame:
    """Build the data, train ``variants`` × ``seeds``, write the tables; returns the summary.

    ``config`` is the base run config: a YAML file (or a shipped config's name), the same as
    a dict, or ``None`` for `DEFAULT_CONFIG`.
    """
    from agcn_pyg.config import SHIPPED_CONFIGS
    from agcn_pyg.data.digit_scenes import DigitScenesConfig, build_digit_scenes

    out = Path(out)
    base = SHIPPED_CONFIGS / DEFAULT_CONFIG if config is None else config
    source = f"configs/{DEFAULT_CONFIG}" if config is None else _config_name(config)
    data_root = build_digit_scenes(out / "data", data or DigitScenesConfig())
    results = []
    for variant in variants:
        for seed in seeds:
            trained = train_variant(variant, seed, data_root, out / "runs", base, overwrite)
            if progress:
                status = trained.error or f"mAP {trained.mAP:.2f}"
                print(f"[{variant} seed {seed}] {status} ({trained.seconds:.0f} s)", flush=True)
            results.append(trained)
    df = summary(results, seeds)
    text = (
        "# End to end on digit scenes\n\n"
        f"Validation mAP, `{source}`, seeds {', '.join(map(str, seeds))}; faint "
        f"digits: {', '.join(faint_names())}.\n\n" + to_markdown(df)
    )
    atomic_write_text(out / "end2end_gap.md", text)
    atomic_write_text(out / "end2end_gap.csv", df.to_csv(index=False))
    df.attrs["results"] = results
    return df


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Train baseline, ML-GCN, A-GCN and their controls end to end on digit "
        "scenes, for several seeds, and tabulate mAP, faint-digit AP and the learned graph.",
    )
    parser.add_argument("--out", type=user_path, default=Path("runs/digits"), help="output folder")
    parser.add_argument(
        "--variants",
        default=None,
        help=f"comma-separated, or 'all'; default {','.join(DEFAULT_VARIANTS)}; "
        f"known: {','.join(STUDY)}",
    )
    parser.add_argument("--seeds", default="0,1", help="comma-separated seeds (default 0,1)")
    parser.add_argument(
        "--config",
        type=user_path,
        default=None,
        help=f"the base run config (default: the shipped {DEFAULT_CONFIG})",
    )
    parser.add_argument("--overwrite", action="store_true", help="retrain finished runs")
    parser.add_argument("--no-progress", action="store_true", help="no per-run lines")
    return parser


def main(args: argparse.Namespace) -> int:
    df = end2end_gap(
        args.out,
        parse_names(args.variants, list(STUDY), "variants"),
        parse_seeds(args.seeds),
        args.config,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    print(to_markdown(df), end="")
    print(f"wrote {args.out / 'end2end_gap.md'} and {args.out / 'end2end_gap.csv'}")
    results = df.attrs["results"]
    return 0 if all(r.error is None for r in results) else 1


def cli(argv: Sequence[str] | None = None) -> int:
    """`python -m agcn_pyg.analysis.end2end_gap`: parse ``argv`` and run `main`."""
    return run_cli(get_args_parser, main, argv)


if __name__ == "__main__":
    sys.exit(cli())
