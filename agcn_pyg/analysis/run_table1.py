"""Train the paper's Table-1 rows on any data set config and collect them into one table.

Each row of `agcn_pyg.ablations.TABLE1_ROWS` is a set of config overrides (``baseline`` is
``model.graph=none``, ``mlgcn`` the re-weighted static graph, ``agcn`` the LG module of Eq. 5,
...). For every row asked for, the script applies the command line's ``key=value`` overrides,
then the row's own (so a row always is what its name says), names the run
``<config name>_<row>``, trains it end to end (``--mode end2end``) or on cached backbone
features (``--mode features``: one feature extraction shared by every row), both through
`agcn_pyg.engine.train_mode`, and reads its ``eval/metrics.json``. The table (Markdown and CSV,
through `agcn_pyg.analysis.results_table`) is printed and written beside the runs as
``<config name>_table1_<mode>.{md,csv}``. A row whose loss diverges is reported and skipped.

``--gnns gcn,gat,...`` compares GNN layers: every row that has a GNN (all but the baseline,
and but rows that fix their own layer, such as ``agcn_gat``) is trained once per layer, as
row ``<row>_<gnn>`` with ``model.gnn=<gnn>`` applied last; the Markdown then also holds an
mAP table of rows × layers.

Usage (``agcn run-table1``, ``python -m agcn_pyg.analysis.run_table1`` and
``python analysis/run_table1.py`` are the same command)::

    agcn run-table1 configs/demo.yaml train.epochs=2 --rows baseline,mlgcn,agcn
    agcn run-table1 configs/coco.yaml --mode features --out-dir runs/coco_probe
    agcn run-table1 configs/demo.yaml --mode features --rows baseline,agcn,identity \
        --gnns gcn,gat,gatv2,graphconv,transformer
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from agcn_pyg import list_gnns
from agcn_pyg.ablations import TABLE1_ROWS, Row, table1_rows
from agcn_pyg.analysis._common import atomic_write_text, run_cli
from agcn_pyg.analysis.results_table import CAPTION, collect_results, to_markdown
from agcn_pyg.config import RunConfig, apply_overrides, from_dict, load_yaml
from agcn_pyg.engine import TRAIN_MODES, TrainingDiverged, train_mode
from agcn_pyg.errors import ConfigError

DEFAULT_MODE = "end2end"


@dataclass
class RowResult:
    """One trained (or diverged) row: its run, mode, wall time and ``metrics.json``."""

    row: str
    run_name: str
    run_dir: Path
    mode: str
    seconds: float
    metrics_file: Path | None
    error: str | None = None
    #: with ``--gnns``: the Table-1 row and the layer this run trained
    base_row: str | None = None
    gnn: str | None = None


def parse_rows(text: str | None) -> list[str] | None:
    """``"baseline,mlgcn"`` → ``["baseline", "mlgcn"]``; ``None`` or ``"all"`` → every row."""
    if text is None or text.strip().lower() == "all":
        return None
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise ConfigError("--rows: give at least one row name")
    return names


def parse_gnns(text: str | None) -> list[str] | None:
    """``"gcn,gat"`` → ``["gcn", "gat"]`` (checked against `agcn_pyg.list_gnns`); ``None``
    keeps each row's own layer."""
    if text is None:
        return None
    names = [t.strip() for t in text.split(",") if t.strip()]
    known = list_gnns()
    if not names:
        raise ConfigError("--gnns: give at least one GNN layer")
    for name in names:
        if name not in known:
            raise ConfigError(f"--gnns: unknown GNN layer {name!r}; choose from {known}")
    if len(set(names)) != len(names):
        raise ConfigError("--gnns: a layer is named twice")
    return names


def per_gnn_rows(
    rows: Sequence[Row], gnns: Sequence[str] | None
) -> list[tuple[Row, str, str | None]]:
    """``(run row, Table-1 row name, gnn)`` to train: each GNN row once per layer (run row
    ``<row>_<gnn>``); a row that sets ``model.gnn`` itself once, with its own layer; the
    baseline once, with ``gnn`` ``None``."""
    out: list[tuple[Row, str, str | None]] = []
    for row in rows:
        fixed = [o.split("=", 1)[1] for o in row.overrides if o.startswith("model.gnn=")]
        if not gnns or fixed or "model.graph=none" in row.overrides:
            out.append((row, row.name, (fixed or [None])[0] if gnns else None))
            continue
        for gnn in gnns:
            spec = Row(f"{row.name}_{gnn}", (*row.overrides, f"model.gnn={gnn}"))
            out.append((spec, row.name, gnn))
    return out


def gnn_table(results: Sequence[RowResult], df: pd.DataFrame, gnns: Sequence[str]) -> str:
    """mAP as a rows × layers Markdown table (the baseline, which has no GNN, fills every
    column)."""
    lines = ["| row | " + " | ".join(gnns) + " |", "|:---|" + "---:|" * len(gnns)]
    cells: dict[str, dict[str, str]] = {}
    for r in results:
        value = df.loc[r.run_name, "mAP"] if r.run_name in df.index else math.nan
        text = "diverged" if r.error is not None else f"{value:.2f}"
        base = r.base_row or r.row
        for gnn in [r.gnn] if r.gnn else gnns:
            cells.setdefault(base, {})[gnn] = text
    for base, by_gnn in cells.items():
        lines.append(f"| {base} | " + " | ".join(by_gnn.get(g, "-") for g in gnns) + " |")
    return "\n".join(lines)


def base_config(
    config: str | Path | Mapping[str, Any] | None, overrides: Sequence[str] = ()
) -> dict[str, Any]:
    """The config (a YAML file, a dict, or ``None`` for the defaults) with the overrides."""
    if config is None:
        data: dict[str, Any] = {}
    elif isinstance(config, Mapping):
        data = copy.deepcopy(dict(config))
    else:
        data = load_yaml(config)
    return apply_overrides(data, overrides)


def row_config(
    base: dict[str, Any], row: Row, out_dir: str | Path | None = None, suffix: str | None = None
) -> RunConfig:
    """``base`` turned into ``row``: its overrides on top, run name ``<name>_<suffix or row>``."""
    cfg = from_dict(RunConfig, apply_overrides(base, row.overrides))
    output_dir = str(out_dir) if out_dir is not None else cfg.output_dir
    return replace(cfg, name=f"{cfg.name}_{suffix or row.name}", output_dir=output_dir)


def train_row(
    cfg: RunConfig,
    mode: str,
    row: str,
    *,
    cache_dir: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> RowResult:
    """Train one row's config; a diverged loss is recorded, not raised."""
    start = time.perf_counter()
    error = None
    try:
        train_mode(mode, cfg, cache_dir=cache_dir, overwrite=overwrite, progress=progress)
    except TrainingDiverged as err:
        error = str(err)
    metrics = cfg.run_dir / "eval" / "metrics.json"
    return RowResult(
        row=row,
        run_name=cfg.name,
        run_dir=cfg.run_dir,
        mode=mode,
        seconds=time.perf_counter() - start,
        metrics_file=metrics if error is None and metrics.is_file() else None,
        error=error,
    )


def results_frame(results: Sequence[RowResult]) -> pd.DataFrame:
    """Table-1 columns (`collect_results`) of the rows that finished, indexed by run name."""
    done = [r for r in results if r.metrics_file is not None]
    if not done:
        return pd.DataFrame()
    return collect_results([r.metrics_file for r in done])


def write_table(
    results: Sequence[RowResult],
    out_dir: Path,
    name: str,
    mode: str,
    gnns: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, Path, Path]:
    """Write ``<name>_table1_<mode>.md`` (table, caption, times) and ``.csv``; return them."""
    df = results_frame(results)
    stem = out_dir / f"{name}_table1_{mode}"
    lines = [f"# Table 1 rows: {name}, {mode} mode", ""]
    if len(df):
        lines += [to_markdown(df), CAPTION, ""]
    if gnns:
        lines += ["mAP by GNN layer:", "", gnn_table(results, df, gnns), ""]
    lines.append("| row | run | mode | seconds | status |")
    lines.append("|:---|:---|:---|---:|:---|")
    for r in results:
        status = "ok" if r.error is None else f"diverged: {r.error.split(';')[0]}"
        lines.append(f"| {r.row} | {r.run_name} | {r.mode} | {r.seconds:.1f} | {status} |")
    md = atomic_write_text(stem.with_suffix(".md"), "\n".join(lines) + "\n")
    # The CSV keeps diverged rows too (metrics empty), with each row's mode and time.
    records = []
    for r in results:
        metrics = df.loc[r.run_name].to_dict() if r.run_name in df.index else {}
        status = "ok" if r.error is None else "diverged"
        records.append(
            {"Model": r.run_name, "row": r.row, "mode": r.mode, "seconds": round(r.seconds, 2)}
            | {"gnn": r.gnn or "", "status": status}
            | {c: metrics.get(c, math.nan) for c in df.columns}
        )
    csv = atomic_write_text(stem.with_suffix(".csv"), pd.DataFrame(records).to_csv(index=False))
    return df, md, csv


def run_table1(
    config: str | Path | Mapping[str, Any] | None,
    overrides: Sequence[str] = (),
    rows: Sequence[str] | None = None,
    mode: str = DEFAULT_MODE,
    out_dir: str | Path | None = None,
    *,
    cache_dir: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    gnns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Train ``rows`` (default: all of Table 1) of ``config`` and return their results table.

    Args:
        config: a YAML run config (or the same as a dict), or ``None`` for the defaults.
        overrides: ``key=value`` strings applied before each row's own overrides.
        rows: names in `agcn_pyg.ablations.TABLE1_ROWS`, trained in this order.
        mode: ``end2end`` or ``features``.
        out_dir: where the runs and the table go (default: the config's ``output_dir``).
        cache_dir: features mode's cache (default ``<out_dir>/features_cache``).
        overwrite: replace runs that already exist.
        progress: show progress bars.
        gnns: train every GNN row once per layer named (`per_gnn_rows`).

    The frame has the columns of `agcn_pyg.analysis.results_table.collect_results`;
    ``df.attrs["rows"]`` holds a `RowResult` per row (diverged ones included) and
    ``df.attrs["files"]`` the Markdown and CSV paths.
    """
    if mode not in TRAIN_MODES:
        raise ConfigError(f"--mode {mode!r}: choose one of {TRAIN_MODES.names()}")
    selected = table1_rows(list(rows) if rows is not None else None)
    base = base_config(config, overrides)
    plain = from_dict(RunConfig, base)
    name = plain.name
    target = Path(out_dir) if out_dir is not None else Path(plain.output_dir)
    results = []
    for row, original, gnn in per_gnn_rows(selected, gnns):
        cfg = row_config(base, row, out_dir)
        if progress:
            print(f"[{row.name}] training {cfg.name} ({mode}) in {cfg.run_dir}", flush=True)
        result = train_row(
            cfg, mode, row.name, cache_dir=cache_dir, overwrite=overwrite, progress=progress
        )
        result.base_row, result.gnn = original, gnn
        if result.error is not None:
            print(f"[{row.name}] diverged: {result.error}", file=sys.stderr)
        results.append(result)
    df, md, csv = write_table(results, target, name, mode, gnns)
    df.attrs["rows"] = results
    df.attrs["files"] = {"markdown": md, "csv": csv}
    return df


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Train Table 1's rows (baseline, ML-GCN, A-GCN and its ablations) on a "
        "data set config and print their results table.",
    )
    parser.add_argument("config", type=Path, help="YAML run config (see configs/)")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="overrides for every row, e.g. train.epochs=10 data.workers=2",
    )
    parser.add_argument(
        "--rows",
        default=None,
        help=f"comma-separated rows, or 'all' (default): {','.join(TABLE1_ROWS)}",
    )
    parser.add_argument(
        "--gnns",
        default=None,
        help="train every GNN row once per layer, e.g. gcn,gat,gatv2,graphconv,transformer "
        "(default: each row's own layer)",
    )
    add_training_options(parser, "runs and table")
    return parser


def add_training_options(parser: argparse.ArgumentParser, outputs: str) -> None:
    """The options of every script that trains runs: ``--mode``, ``--out-dir`` (where
    ``outputs`` go), ``--cache-dir``, ``--overwrite`` and ``--no-progress``."""
    parser.add_argument(
        "--mode",
        default=DEFAULT_MODE,
        choices=TRAIN_MODES.names(),
        help="end2end: train the whole model; features: train heads on cached features "
        "of the frozen backbone",
    )
    parser.add_argument(
        "--out-dir", type=Path, default=None, help=f"{outputs} go here (default: output_dir)"
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="features cache (features mode)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing runs")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def main(args: argparse.Namespace) -> int:
    df = run_table1(
        args.config,
        args.overrides,
        parse_rows(args.rows),
        args.mode,
        args.out_dir,
        cache_dir=args.cache_dir,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        gnns=parse_gnns(args.gnns),
    )
    if len(df):
        print(to_markdown(df), end="")
    for r in df.attrs["rows"]:
        status = "" if r.error is None else "  DIVERGED"
        print(f"{r.run_name}: {r.mode}, {r.seconds:.1f} s{status}")
    files = df.attrs["files"]
    print(f"wrote {files['markdown']} and {files['csv']}")
    return 0 if all(r.error is None for r in df.attrs["rows"]) else 1


def cli(argv: Sequence[str] | None = None) -> int:
    """`python -m agcn_pyg.analysis.run_table1`: parse ``argv`` and run `main`."""
    return run_cli(get_args_parser, main, argv)


if __name__ == "__main__":
    sys.exit(cli())
