"""Table-1 rows over seeds: mean ± standard deviation per metric, and each row's paired
bootstrap interval against the baseline and against the Â = I control.

`agcn run-table1` trains every row once per seed (``--seeds``); `summarise` turns the finished
runs into one line per row: the mean and the standard deviation (``ddof=1``; none for one
seed) of every metric of `agcn_pyg.analysis.results_table`, and, from the runs'
``eval/scores.npz`` (the reported split), ``mAP(row) − mAP(reference)`` with its 95 %
interval for each reference in `REFERENCES` (`agcn_pyg.analysis.bootstrap`: resampled test
images, seeds paired by value and pooled by averaging the per-seed differences, every
comparison on the same draws). A row whose reference the run did not train says so instead;
with ``--gnns`` a row is compared with the reference on its own layer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from agcn_pyg.analysis import results_table as tables
from agcn_pyg.analysis.bootstrap import RESAMPLES, Interval, paired_interval, resampled_maps
from agcn_pyg.errors import DataError
from agcn_pyg.metrics import DEFAULT_AP_PROTOCOL
from agcn_pyg.selection import MARK
from agcn_pyg.variants import short_title

#: the variants every row is compared with
REFERENCES = ("baseline", "identity")


@dataclass(frozen=True)
class SeedRun:
    """One finished run of a row: the row (``mlgcn``, ``identity_gcn``), its variant and GNN
    layer (``None``: the variant's own), its seed (``None``: the config's), its run name (the
    row of `results_table.collect_results`' frame) and its ``eval/`` folder."""

    row: str
    variant: str
    gnn: str | None
    seed: int | None
    run_name: str
    eval_dir: Path


def _groups(runs: Sequence[SeedRun]) -> dict[str, list[SeedRun]]:
    out: dict[str, list[SeedRun]] = {}
    for run in runs:
        out.setdefault(run.row, []).append(run)
    return out


def _reference(groups: dict[str, list[SeedRun]], variant: str, gnn: str | None) -> str | None:
    """The row of variant ``variant`` to compare a row on layer ``gnn`` with: the one on the
    same layer, else the only one."""
    rows = [row for row, runs in groups.items() if runs[0].variant == variant]
    same = [row for row in rows if groups[row][0].gnn == gnn]
    return same[0] if same else (rows[0] if len(rows) == 1 else None)


def _scores(runs: Sequence[SeedRun]) -> tuple[list[np.ndarray], np.ndarray]:
    """Every run's test scores, and the targets they share (checked)."""
    # Lazy: the engine loads torch; `--print-configs` and `--help` stay light.
    from agcn_pyg.engine import read_scores

    scores, targets = [], None
    for run in runs:
        s, t = read_scores(run.eval_dir / "scores.npz")
        if targets is None:
            targets, first = t, run
        elif t.shape != targets.shape or not np.array_equal(t, targets):
            raise DataError(
                f"{run.eval_dir}: scored on other test images than {first.eval_dir}; a "
                "table's rows must share their reported split"
            )
        scores.append(s)
    return scores, np.asarray(targets)


def intervals(
    runs: Sequence[SeedRun],
    resamples: int = RESAMPLES,
    seed: int = 0,
    protocol: str = DEFAULT_AP_PROTOCOL,
) -> dict[tuple[str, str], Interval | str]:
    """``(row, reference) → Interval`` of every row against every reference in `REFERENCES`,
    or the reason there is none (``"reference"`` for the reference itself)."""
    groups = _groups(runs)
    scores, targets = _scores(runs)
    full, draws = resampled_maps(scores, targets, resamples, seed, protocol)
    position = {run.run_name: k for k, run in enumerate(runs)}
    out: dict[tuple[str, str], Interval | str] = {}
    for row, group in groups.items():
        for variant in REFERENCES:
            ref = _reference(groups, variant, group[0].gnn)
            if ref is None:
                title = short_title(variant)
                several = any(runs[0].variant == variant for runs in groups.values())
                out[row, variant] = (
                    f"one {title} row per layer, none on this row's"
                    if several
                    else f"no {title} row in this run"
                )
                continue
            if ref == row:
                out[row, variant] = "reference"
                continue
            theirs = {run.seed: run for run in groups[ref]}
            pairs = [(run, theirs[run.seed]) for run in group if run.seed in theirs]
            if not pairs:
                out[row, variant] = f"no seed in common with {ref}"
                continue
            a = [position[mine.run_name] for mine, _ in pairs]
            b = [position[other.run_name] for _, other in pairs]
            out[row, variant] = paired_interval(full[a], draws[a], full[b], draws[b])
    return out


def summarise(
    runs: Sequence[SeedRun], df: pd.DataFrame, resamples: int = RESAMPLES, seed: int = 0
) -> pd.DataFrame:
    """One line per row of ``runs`` (finished runs; ``df`` is their `collect_results` frame):
    ``seeds``, every metric's mean and ``<metric>_std``, and ``vs_<reference>``,
    ``vs_<reference>_low``, ``vs_<reference>_high`` (NaN where there is no interval; the
    reason is in ``attrs["versus"]``, the intervals' texts too). ``resamples=0``: no
    intervals."""
    groups = _groups(runs)
    records = {}
    for row, group in groups.items():
        values = df.loc[[run.run_name for run in group], list(df.columns)]
        record: dict[str, float] = {"seeds": len(group)}
        for column in df.columns:
            record[column] = float(values[column].mean())
            spread = values[column].std(ddof=1) if len(group) > 1 else math.nan
            record[f"{column}_std"] = float(spread)
        records[row] = record
    out = pd.DataFrame.from_dict(records, orient="index")
    out.index.name = "row"
    # a run without a recorded protocol (an older metrics.json) was scored by the default
    named = zip(df.index, df.attrs.get("ap_protocols") or [], strict=False)
    protocols = {run: p or DEFAULT_AP_PROTOCOL for run, p in named}
    protocol = next(iter(protocols.values()), DEFAULT_AP_PROTOCOL)
    found = intervals(runs, resamples, seed, protocol) if resamples and runs else {}
    texts: dict[tuple[str, str], str] = {}
    for variant in REFERENCES:
        cells = [found.get((row, variant), "not computed") for row in out.index]
        for k, name in enumerate(("", "_low", "_high")):
            out[f"vs_{variant}{name}"] = [
                c[k] if isinstance(c, Interval) else math.nan for c in cells
            ]
        texts.update({(row, variant): _cell(c) for row, c in zip(out.index, cells, strict=True)})
    marked = set(df.attrs.get("marked") or ())
    out.attrs["versus"] = texts
    out.attrs["marked"] = [row for row, g in groups.items() if any(r.run_name in marked for r in g)]
    out.attrs["ap_protocols"] = {
        row: protocols.get(g[0].run_name, protocol) for row, g in groups.items()
    }
    out.attrs["resamples"] = resamples
    return out


def _cell(value: Interval | str) -> str:
    if isinstance(value, Interval):
        return "-" if math.isnan(value.low) else value.text()
    return "—" if value == "reference" else value


def summary_markdown(summary: pd.DataFrame, metrics: Sequence[str], images: int | None) -> str:
    """The Markdown of `summarise`'s frame: ``mean ± std`` per metric (the mean alone for one
    seed), the intervals, and a caption that says what they are."""
    headers = ["Row", "seeds", *(tables.HEADERS.get(m, m) for m in metrics)]
    headers += [f"Δ mAP vs {short_title(v)} [95 % CI]" for v in REFERENCES]
    lines = ["| " + " | ".join(headers) + " |", "|:---|" + "---:|" * (len(headers) - 1)]
    marked = set(summary.attrs.get("marked") or ())
    for row, values in summary.iterrows():
        cells = [row + (f" {MARK}" if row in marked else ""), f"{int(values['seeds'])}"]
        for m in metrics:
            mean, std = values[m], values[f"{m}_std"]
            cells.append("-" if math.isnan(mean) else f"{mean:.2f}" + _spread(std))
        cells += [summary.attrs["versus"].get((row, v), "-") for v in REFERENCES]
        lines.append("| " + " | ".join(cells) + " |")
    on = f"the {images} test images" if images else "the test images"
    caption = (
        "Mean ± standard deviation over each row's seeds (one seed: the value alone). "
        f"Δ mAP: the row's mAP minus the reference's, with the 95 % paired-bootstrap interval "
        f"over {on} ({summary.attrs.get('resamples', 0)} draws, seeds paired and pooled: "
        "`agcn_pyg.analysis.bootstrap`); it reflects the test images, the ± the seeds."
    )
    caption += tables.notes(summary.attrs.get("ap_protocols") or {}, bool(marked))
    return "\n".join(lines) + "\n\n" + caption + "\n"


def _spread(std: float) -> str:
    return "" if math.isnan(std) else f" ± {std:.2f}"
