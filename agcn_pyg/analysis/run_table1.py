"""Train the paper's Table-1 rows on any data set config and collect them into one table.

Each row is a named variant (`agcn_pyg.variants`: ``baseline``, ``mlgcn``, ``agcn``, ...,
with the settings that belong to its method, such as ML-GCN's gradient clipping). A row is
the config with ``variant=<row>``, resolved exactly as ``agcn train -c CONFIG variant=<row>``
resolves it (`agcn_pyg.config.resolve_variant`): the variant's settings over the file's, the
command line's ``key=value`` overrides over both. So a row trained here and the same variant
trained with ``agcn train`` are the same run, and an override that a row's variant also sets
(``model.graph=...``) changes that row too (the script says so on stderr). The run is named
``<stem>_<row>``, where the stem is the config's name without its own variant's suffix
(``coco_agcn`` → ``coco``, so row ``mlgcn`` is ``coco_mlgcn``, as ``configs/coco_mlgcn.yaml``);
it trains end to end (``--mode end2end``) or on cached backbone features (``--mode features``:
one feature extraction shared by every row), both through `agcn_pyg.engine.train_mode`, and
its ``eval/metrics.json`` is read. The table (Markdown and CSV, through
`agcn_pyg.analysis.results_table`) is printed and written beside the runs as
``<config name>_table1_<mode>.{md,csv}``. A row whose loss diverges is reported and skipped.

``--gnns gcn,gat,...`` compares GNN layers: every row that has a GNN (all but the baseline,
and but rows that fix their own layer, such as ``agcn_gat``) is trained once per layer, as
row ``<row>_<gnn>`` with ``model.gnn=<gnn>`` applied last; the Markdown then also holds an
mAP table of rows × layers.

``--seeds 0,1,2`` trains every row once per seed (``train.seed=<k>``). The run of the
config's own seed keeps the plain name ``<stem>_<row>``, every other seed k is
``<stem>_<row>_seed<k>`` (the demo's rule). The Markdown then holds, besides one line per run,
a table of each row's mean ± standard deviation over its seeds per metric, and the paired
bootstrap interval of its mAP against the baseline and against the Â = I control (the
``identity`` variant) over the test images, seeds pooled by averaging the per-seed differences
(`agcn_pyg.analysis.bootstrap`, the function the demo's report uses); with one seed (the
default) the same table shows the intervals alone. A row compared with a reference the run
did not train says so instead of an interval. ``--resamples`` sets the draws (0: none).

``--print-configs`` trains nothing: it prints every row's resolved config as YAML, one
document per run (``---`` between them, each starting with ``# row: <row>``, and ``, seed
<k>`` with ``--seeds``), so a Table 1 can be checked before it runs.

Usage (``agcn run-table1``, ``python -m agcn_pyg.analysis.run_table1`` and
``python analysis/run_table1.py`` are the same command)::

    agcn run-table1 configs/demo.yaml train.epochs=2 --rows baseline,mlgcn,agcn
    agcn run-table1 coco_agcn --rows mlgcn,agcn --print-configs
    agcn run-table1 configs/coco_agcn.yaml --mode features --out-dir runs/coco_probe
    agcn run-table1 configs/demo_features.yaml --mode features --rows baseline,agcn,identity \
        --gnns gcn,gat,gatv2,graphconv,transformer
    agcn run-table1 configs/demo_features.yaml --mode features --seeds 0,1,2 \
        --rows baseline,mlgcn,shuffled,uniform,identity
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from agcn_pyg.analysis._common import atomic_write_text, run_cli
from agcn_pyg.analysis.bootstrap import RESAMPLES
from agcn_pyg.analysis.results_table import caption, collect_results, to_markdown
from agcn_pyg.commands.options import add_progress_option, user_path
from agcn_pyg.errors import ConfigError
from agcn_pyg.schema import brief
from agcn_pyg.variants import Variant, config_stem, get_variant, table1_variants

if TYPE_CHECKING:
    import pandas as pd

    from agcn_pyg.analysis.row_summary import SeedRun
    from agcn_pyg.config import RunConfig

# The config (torch, timm, PyG with it), the models and pandas load in the functions that use
# them, so that `agcn run-table1 --help` answers at once.

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
    #: with ``--seeds``: the seed this run trained with
    seed: int | None = None
    #: a finished run found in its folder and reported as it was, not trained again
    reused: bool = False


@dataclass(frozen=True)
class TableRow:
    """One run of a comparison: a variant, and with ``--gnns`` the layer it trains.

    ``name`` is the run's row (``<variant>``, or ``<variant>_<gnn>`` for a compared layer);
    ``gnn`` is the layer the tables file it under (``None``: every column, the baseline's;
    or no layer comparison at all)."""

    name: str
    variant: str
    gnn: str | None = None
    #: whether ``gnn`` is set by this run (``model.gnn=<gnn>``) rather than by the variant
    sets_gnn: bool = False
    #: with ``--seeds``: this run's ``train.seed``
    seed: int | None = None

    def overrides(self) -> list[str]:
        """What turns a config into this run, after the command line's overrides."""
        layer = [f"model.gnn={self.gnn}"] if self.sets_gnn else []
        seed = [f"train.seed={self.seed}"] if self.seed is not None else []
        return [f"variant={self.variant}", *layer, *seed]

    def label(self) -> str:
        """How ``--print-configs`` names the run: the row, and its seed with ``--seeds``."""
        return self.name if self.seed is None else f"{self.name}, seed {self.seed}"


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
    from agcn_pyg.models import list_gnns

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


def parse_seeds(text: str | None) -> list[int] | None:
    """``"0,1,2"`` → ``[0, 1, 2]`` (distinct ints ≥ 0); ``None`` keeps the config's seed."""
    if text is None:
        return None
    seeds = []
    for piece in (t.strip() for t in text.split(",")):
        if not piece:
            continue
        if not piece.isdigit():
            raise ConfigError(f"--seeds: {piece!r} is not an int ≥ 0")
        seeds.append(int(piece))
    if not seeds:
        raise ConfigError("--seeds: give at least one seed, e.g. 0,1,2")
    if len(set(seeds)) != len(seeds):
        raise ConfigError("--seeds: a seed is named twice")
    return seeds


def per_gnn_rows(variants: Sequence[Variant], gnns: Sequence[str] | None) -> list[TableRow]:
    """The runs to train: each GNN row once per layer (run row ``<row>_<gnn>``); a row that
    sets ``model.gnn`` itself once, with its own layer; the baseline once, with ``gnn``
    ``None``."""
    out: list[TableRow] = []
    for variant in variants:
        fixed = variant.model.get("gnn")
        if not gnns or fixed or variant.model.get("graph") == "none":
            out.append(TableRow(variant.name, variant.name, fixed if gnns else None))
            continue
        out += [TableRow(f"{variant.name}_{g}", variant.name, g, sets_gnn=True) for g in gnns]
    return out


def gnn_table(results: Sequence[RowResult], df: pd.DataFrame, gnns: Sequence[str]) -> str:
    """mAP as a rows × layers Markdown table (the baseline, which has no GNN, fills every
    column); with several seeds, their mean."""
    lines = ["| row | " + " | ".join(gnns) + " |", "|:---|" + "---:|" * len(gnns)]
    values: dict[tuple[str, str], list[float]] = {}
    for r in results:
        value = df.loc[r.run_name, "mAP"] if r.run_name in df.index else math.nan
        base = r.base_row or r.row
        for gnn in [r.gnn] if r.gnn else gnns:
            values.setdefault((base, gnn), []).append(value if r.error is None else math.nan)
    cells: dict[str, dict[str, str]] = {}
    for (base, gnn), maps in values.items():
        done = [v for v in maps if not math.isnan(v)]
        text = f"{np.mean(done):.2f}" if done else "diverged"
        cells.setdefault(base, {})[gnn] = text
    for base, by_gnn in cells.items():
        lines.append(f"| {base} | " + " | ".join(by_gnn.get(g, "-") for g in gnns) + " |")
    return "\n".join(lines)


def base_config(config: str | Path | Mapping[str, Any] | None) -> dict[str, Any]:
    """The config as a mapping: a YAML file (or the name of a shipped one), a dict, or
    ``None`` for the defaults. Overrides go to `row_config`, over the row's variant."""
    from agcn_pyg.config import load_yaml

    if config is None:
        return {}
    if isinstance(config, Mapping):
        return copy.deepcopy(dict(config))
    return load_yaml(config)


def config_stem_of(base: Mapping[str, Any], overrides: Sequence[str] = ()) -> str:
    """The stem of the rows' run names: the config's name without its own variant's suffix
    (`agcn_pyg.variants.config_stem`)."""
    from agcn_pyg.config import build_run_config

    plain = build_run_config(base, overrides)
    return config_stem(plain.name, plain.variant)


def row_config(
    base: Mapping[str, Any],
    row: TableRow | str,
    overrides: Sequence[str] = (),
    out_dir: str | Path | None = None,
    suffix: str | None = None,
) -> RunConfig:
    """``base`` as run ``row``: ``variant=<row>`` resolved with the ``overrides`` as
    ``agcn train -c <base> <overrides> variant=<row>`` resolves it, the run named
    ``<stem>_<suffix or row>`` (`config_stem_of`), under ``out_dir`` if given."""
    from agcn_pyg.config import build_run_config

    row = row if isinstance(row, TableRow) else TableRow(row, row)
    cfg = build_run_config(base, [*overrides, *row.overrides()])
    name = f"{config_stem_of(base, overrides)}_{suffix or row.name}"
    output_dir = str(out_dir) if out_dir is not None else cfg.output_dir
    return replace(cfg, name=name, output_dir=output_dir)


def _settings(cfg: RunConfig) -> dict[str, Any]:
    """What a run trains: its model, data and train sections (not the variant's name)."""
    from agcn_pyg.config import to_dict

    return {key: value for key, value in to_dict(cfg).items() if key != "variant"}


def seeded_rows(rows: Sequence[TableRow], seeds: Sequence[int] | None) -> list[TableRow]:
    """Each row once per seed (all of one row's seeds together), or as it is without
    ``--seeds``."""
    if seeds is None:
        return list(rows)
    return [replace(row, seed=seed) for row in rows for seed in seeds]


def run_suffix(row: TableRow, own_seed: int) -> str:
    """The run name's part after the stem: ``<row>``, or ``<row>_seed<k>`` for a seed k other
    than the config's own."""
    return row.name if row.seed is None or row.seed == own_seed else f"{row.name}_seed{row.seed}"


def row_configs(
    config: str | Path | Mapping[str, Any] | None,
    overrides: Sequence[str] = (),
    rows: Sequence[str] | None = None,
    out_dir: str | Path | None = None,
    gnns: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
) -> list[tuple[TableRow, RunConfig]]:
    """Every run `run_table1` trains for these arguments, with its resolved config, in order;
    reads no data and builds no model. A run that another row already makes (with ``--gnns
    gat``, row ``agcn`` on GAT is row ``agcn_gat``) is trained once, under its first row."""
    from agcn_pyg.config import build_run_config

    base = base_config(config)
    own_seed = build_run_config(base, overrides).train.seed
    variants = table1_variants(list(rows) if rows is not None else None)
    out: dict[str, tuple[TableRow, RunConfig]] = {}
    for row in seeded_rows(per_gnn_rows(variants, gnns), seeds):
        cfg = row_config(base, row, overrides, out_dir, run_suffix(row, own_seed))
        if cfg.name in out and _settings(out[cfg.name][1]) != _settings(cfg):
            raise ConfigError(
                f"rows {out[cfg.name][0].name} and {row.name} both name their run {cfg.name}"
            )
        out.setdefault(cfg.name, (row, cfg))
    return list(out.values())


def overridden_settings(overrides: Sequence[str], rows: Sequence[TableRow]) -> list[str]:
    """One line per override that changes a setting some row's variant makes (the command line
    wins, as in ``agcn train``; a Table 1 that meant otherwise should know)."""
    keys = [item.split("=", 1)[0].strip() for item in overrides if "=" in item]
    lines = []
    for key in dict.fromkeys(keys):
        section, _, field = key.partition(".")
        names = [
            row.variant
            for row in rows
            if field in get_variant(row.variant).sections().get(section, {})
        ]
        if names:
            rows_text = ", ".join(dict.fromkeys(names))
            lines.append(f"note: {key} overrides the setting of the variant of row(s) {rows_text}")
    return lines


def configs_yaml(configs: Sequence[tuple[TableRow, RunConfig]]) -> str:
    """The rows' resolved configs as YAML documents, ``---`` between them, each starting with
    ``# row: <row>``."""
    from agcn_pyg.config import to_dict

    docs = [
        f"# row: {row.label()}\n" + yaml.safe_dump(to_dict(cfg), sort_keys=False)
        for row, cfg in configs
    ]
    return "---\n".join(docs)


def train_row(
    cfg: RunConfig,
    mode: str,
    row: str,
    *,
    cache_dir: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    label: str | None = None,
) -> RowResult:
    """Train one row's config; a diverged loss is recorded, not raised. With ``label``, a
    line ``[label] training|resuming <run> (<mode>) in <folder>`` first, and one more for a
    reused run.

    A run folder that already holds this run's ``last.pt`` is resumed, as ``agcn train
    --resume`` would (unless ``overwrite``): a killed table continues where it stopped, a
    finished run is reused (``reused``), and a run whose settings differ from the row's is
    refused with the keys that differ.
    """
    # Lazy: `--print-configs` and `--help` stay free of the training imports.
    from agcn_pyg.engine import TrainingDiverged, train_mode

    start = time.perf_counter()
    error, reused = None, False
    resume = not overwrite and (cfg.run_dir / "last.pt").is_file()
    if resume:
        check_same_settings(cfg)
    if label is not None:
        verb = "resuming" if resume else "training"
        print(f"[{label}] {verb} {cfg.name} ({mode}) in {cfg.run_dir}", flush=True)
    try:
        done = train_mode(
            mode, cfg, resume=resume, cache_dir=cache_dir, overwrite=overwrite, progress=progress
        )
        reused = bool(done.get("finished_before"))
    except TrainingDiverged as err:
        error = str(err)
    if reused and label is not None:
        print(f"[{label}] {cfg.name} had finished: its evaluation is reported as it is")
    metrics = cfg.run_dir / "eval" / "metrics.json"
    return RowResult(
        row=row,
        run_name=cfg.name,
        run_dir=cfg.run_dir,
        mode=mode,
        seconds=time.perf_counter() - start,
        metrics_file=metrics if error is None and metrics.is_file() else None,
        error=error,
        reused=reused,
    )


#: what a run's stored config may differ in from its row's and still be the same run: where
#: it ran, and the label count the trainer fills in from the data
WHERE_IT_RAN = frozenset({"train.device", "data.workers", "model.num_classes"})


def check_same_settings(cfg: RunConfig) -> None:
    """Refuse to resume or reuse the run in ``cfg.run_dir`` when its stored ``config.yaml``
    differs from ``cfg`` in anything but `WHERE_IT_RAN`: a table must not report a row
    trained under other settings (``agcn train --resume`` lets ``train.epochs`` change; a
    table does not)."""
    from agcn_pyg.config import to_dict
    from agcn_pyg.engine import changed_keys

    try:
        stored = yaml.safe_load((cfg.run_dir / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return  # the trainer's resume names what is wrong with the folder
    changed = {
        k: v for k, v in changed_keys(stored or {}, to_dict(cfg)).items() if k not in WHERE_IT_RAN
    }
    if changed:
        what = ", ".join(f"{k}: {brief(a)} → {brief(b)}" for k, (a, b) in changed.items())
        raise ConfigError(
            f"{cfg.run_dir}: holds a run with other settings than its row's ({what}); "
            "--overwrite trains it afresh, or name=... gives this table other runs"
        )


def check_mode(mode: str) -> None:
    """``mode`` must name a training mode (`agcn_pyg.engine.TRAIN_MODES`)."""
    # Lazy, as in `train_row`.
    from agcn_pyg.engine import TRAIN_MODES

    if mode not in TRAIN_MODES:
        raise ConfigError(f"--mode {mode!r}: choose one of {TRAIN_MODES.names()}")


def results_frame(results: Sequence[RowResult]) -> pd.DataFrame:
    """Table-1 columns (`collect_results`) of the rows that finished, indexed by run name."""
    import pandas as pd

    done = [r for r in results if r.metrics_file is not None]
    if not done:
        return pd.DataFrame()
    return collect_results([r.metrics_file for r in done])


def seed_runs(results: Sequence[RowResult]) -> list[SeedRun]:
    """The finished runs as `agcn_pyg.analysis.row_summary` groups them."""
    from agcn_pyg.analysis.row_summary import SeedRun

    return [
        SeedRun(r.row, r.base_row or r.row, r.gnn, r.seed, r.run_name, r.run_dir / "eval")
        for r in results
        if r.metrics_file is not None
    ]


def write_table(
    results: Sequence[RowResult],
    out_dir: Path,
    name: str,
    mode: str,
    gnns: Sequence[str] | None = None,
    resamples: int = RESAMPLES,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Path]]:
    """Write ``<name>_table1_<mode>.md`` (one line per run with its caption, the rows over
    their seeds with the bootstrap intervals, the layers, the times) and ``.csv`` (per run),
    ``_summary.csv`` (per row); return the per-run and per-row frames and the files."""
    import pandas as pd

    from agcn_pyg.analysis.row_summary import summarise, summary_markdown

    df = results_frame(results)
    summary = summarise(seed_runs(results), df, resamples) if len(df) else pd.DataFrame()
    stem = out_dir / f"{name}_table1_{mode}"
    lines = [f"# Table 1 rows: {name}, {mode} mode", ""]
    if len(df):
        lines += [to_markdown(df), caption(df), ""]
        images = _test_images(results)
        lines += ["Rows over their seeds:", "", summary_markdown(summary, list(df.columns), images)]
    if gnns:
        lines += ["mAP by GNN layer:", "", gnn_table(results, df, gnns), ""]
    lines.append("| row | run | seed | mode | seconds | status |")
    lines.append("|:---|:---|---:|:---|---:|:---|")
    for r in results:
        status = _status(r) if r.error is None else f"diverged: {r.error.split(';')[0]}"
        seed = "" if r.seed is None else str(r.seed)
        lines.append(f"| {r.row} | {r.run_name} | {seed} | {r.mode} | {r.seconds:.1f} | {status} |")
    files = {"markdown": atomic_write_text(stem.with_suffix(".md"), "\n".join(lines) + "\n")}
    files["csv"] = atomic_write_text(stem.with_suffix(".csv"), runs_csv(results, df))
    if len(summary):
        path = stem.with_name(f"{stem.name}_summary.csv")
        files["summary"] = atomic_write_text(path, summary.to_csv(index_label="row"))
    return df, summary, files


def _status(result: RowResult) -> str:
    return "reused" if result.reused else "ok"


def runs_csv(results: Sequence[RowResult], df: pd.DataFrame) -> str:
    """One line per run, diverged ones too (metrics empty), with its row, seed, mode, time."""
    import pandas as pd

    records = []
    for r in results:
        metrics = df.loc[r.run_name].to_dict() if r.run_name in df.index else {}
        status = _status(r) if r.error is None else "diverged"
        records.append(
            {"Model": r.run_name, "row": r.row, "mode": r.mode, "seconds": round(r.seconds, 2)}
            | {"gnn": r.gnn or "", "seed": "" if r.seed is None else r.seed, "status": status}
            | {c: metrics.get(c, math.nan) for c in df.columns}
            | {"selected_on_reported_split": r.run_name in (df.attrs.get("marked") or ())}
        )
    return pd.DataFrame(records).to_csv(index=False)


def _test_images(results: Sequence[RowResult]) -> int | None:
    """How many test images the first finished run was scored on."""
    done = [r.metrics_file for r in results if r.metrics_file is not None]
    if not done:
        return None
    value = json.loads(done[0].read_text(encoding="utf-8")).get("num_images")
    return value if isinstance(value, int) else None


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
    seeds: Sequence[int] | None = None,
    resamples: int = RESAMPLES,
) -> pd.DataFrame:
    """Train ``rows`` (default: all of Table 1) of ``config`` and return their results table.

    Args:
        config: a YAML run config (or a shipped config's name, or the same as a dict), or
            ``None`` for the defaults.
        overrides: ``key=value`` strings, over each row's variant (as on ``agcn train``).
        rows: variant names (`agcn_pyg.variants`), trained in this order.
        mode: ``end2end`` or ``features``.
        out_dir: where the runs and the table go (default: the config's ``output_dir``).
        cache_dir: features mode's cache (default ``<out_dir>/features_cache``).
        overwrite: train runs that already exist afresh (each old folder moved aside); without
            it an existing run is resumed, or reused when finished (`train_row`).
        progress: show progress bars.
        gnns: train every GNN row once per layer named (`per_gnn_rows`).
        seeds: train every row once per seed (``train.seed``); ``None``: the config's.
        resamples: draws of the paired bootstrap (`agcn_pyg.analysis.bootstrap`); 0: none.

    The frame has the columns of `agcn_pyg.analysis.results_table.collect_results`, one row
    per run; ``df.attrs["rows"]`` holds a `RowResult` per run (diverged ones included),
    ``df.attrs["summary"]`` the rows over their seeds (`agcn_pyg.analysis.row_summary`) and
    ``df.attrs["files"]`` the Markdown and CSV paths.
    """
    from agcn_pyg.config import build_run_config

    check_mode(mode)
    if resamples < 0:
        raise ConfigError(f"--resamples: expected an int ≥ 0, got {resamples}")
    configs = row_configs(config, overrides, rows, out_dir, gnns, seeds)
    for line in overridden_settings(overrides, [row for row, _ in configs]):
        print(line, file=sys.stderr)
    plain = build_run_config(base_config(config), overrides)
    target = Path(out_dir) if out_dir is not None else Path(plain.output_dir)
    results = []
    for row, cfg in configs:
        result = train_row(
            cfg,
            mode,
            row.name,
            cache_dir=cache_dir,
            overwrite=overwrite,
            progress=progress,
            label=row.label(),
        )
        result.base_row, result.gnn, result.seed = row.variant, row.gnn, row.seed
        if result.error is not None:
            print(f"[{row.label()}] diverged: {result.error}", file=sys.stderr)
        results.append(result)
    df, summary, files = write_table(results, target, plain.name, mode, gnns, resamples)
    df.attrs["rows"] = results
    df.attrs["summary"] = summary
    df.attrs["files"] = files
    return df


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Train Table 1's rows (baseline, ML-GCN, A-GCN and its ablations) on a "
        "data set config and print their results table.",
    )
    parser.add_argument(
        "config", help="YAML run config, or the name of a shipped one (see configs/)"
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="overrides for every row, over its variant's settings, e.g. train.epochs=10",
    )
    parser.add_argument(
        "--rows",
        default=None,
        help="comma-separated rows (variants), or 'all' (default): "
        f"{','.join(v.name for v in table1_variants())}",
    )
    parser.add_argument(
        "--gnns",
        default=None,
        help="train every GNN row once per layer, e.g. gcn,gat,gatv2,graphconv,transformer "
        "(default: each row's own layer)",
    )
    parser.add_argument(
        "--seeds",
        default=None,
        help="train every row once per seed, e.g. 0,1,2 (the table shows mean ± std and "
        "pooled bootstrap intervals); default: the config's train.seed",
    )
    parser.add_argument(
        "--resamples",
        type=int,
        default=RESAMPLES,
        help=f"draws of the paired bootstrap against the baseline and Â = I (default "
        f"{RESAMPLES}; 0: no intervals)",
    )
    parser.add_argument(
        "--print-configs",
        action="store_true",
        help="print every row's resolved config as YAML (one document per run) and exit "
        "without training",
    )
    add_training_options(parser, "runs and table")
    return parser


def add_training_options(parser: argparse.ArgumentParser, outputs: str) -> None:
    """The options of every script that trains runs: ``--mode``, ``--out-dir`` (where
    ``outputs`` go), ``--cache-dir``, ``--overwrite`` and ``--no-progress``."""
    parser.add_argument(
        "--mode",
        default=DEFAULT_MODE,
        help="a mode of agcn_pyg.engine.TRAIN_MODES: end2end, train the whole model "
        "(default); features, train heads on cached features of the frozen backbone",
    )
    parser.add_argument(
        "--out-dir", type=user_path, help=f"{outputs} go here (default: output_dir)"
    )
    parser.add_argument("--cache-dir", type=user_path, help="features cache (features mode)")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="train existing runs afresh (the old folders are moved aside); without it, an "
        "existing run is resumed, or reused when it has finished",
    )
    add_progress_option(parser)


def print_configs(args: argparse.Namespace) -> int:
    """``--print-configs``: every row's resolved config on stdout, nothing trained."""
    rows, gnns, seeds = parse_rows(args.rows), parse_gnns(args.gnns), parse_seeds(args.seeds)
    configs = row_configs(args.config, args.overrides, rows, args.out_dir, gnns, seeds)
    for line in overridden_settings(args.overrides, [row for row, _ in configs]):
        print(line, file=sys.stderr)
    print(configs_yaml(configs), end="")
    return 0


def main(args: argparse.Namespace) -> int:
    if args.print_configs:
        return print_configs(args)
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
        seeds=parse_seeds(args.seeds),
        resamples=args.resamples,
    )
    if len(df):
        from agcn_pyg.analysis.row_summary import summary_markdown

        print(to_markdown(df), end="")
        images = _test_images(df.attrs["rows"])
        print("\n" + summary_markdown(df.attrs["summary"], list(df.columns), images), end="")
    for r in df.attrs["rows"]:
        status = "" if r.error is None else "  DIVERGED"
        print(f"{r.run_name}: {r.mode}, {r.seconds:.1f} s{status}")
    print(f"wrote {', '.join(str(path) for path in df.attrs['files'].values())}")
    return 0 if all(r.error is None for r in df.attrs["rows"]) else 1


def cli(argv: Sequence[str] | None = None) -> int:
    """`python -m agcn_pyg.analysis.run_table1`: parse ``argv`` and run `main`."""
    return run_cli(get_args_parser, main, argv)


if __name__ == "__main__":
    sys.exit(cli())
