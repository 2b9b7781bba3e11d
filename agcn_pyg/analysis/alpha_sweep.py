"""mAP against α, the weight of the sparse correlation constraint L_A: the paper's Fig. 3.

The total loss is ``L = L_classifier + α · L_A`` (Eq. 6). For every α in ``--alphas`` and every
seed (``--seeds k``: the config's ``train.seed`` and the ``k − 1`` after it) the script trains
the A-GCN row (``--row``, a variant of `agcn_pyg.variants`, default ``agcn``) of a data set
config as `agcn_pyg.analysis.run_table1` does, with ``model.alpha=α`` and ``train.seed=s``
last, names the run ``<stem>_alpha<α>`` (``_seed<s>`` added for the other seeds; the stem is
the config's name without its variant's suffix), and reads its ``eval/metrics.json``. It
writes ``<config name>_alpha_sweep.csv`` (α, seed, mAP, CF1, OF1, status, seconds, run folder)
and ``<config name>_alpha_sweep.png``: the mean mAP over the seeds against α with ± 1 standard
deviation error bars, each seed's run as a dot, and a band of ± 1 seed standard deviation
(pooled over α, `seed_spread`) around the mean of all runs, so that differences between α
smaller than the seed spread are not read as a trend. A run whose loss diverged, as α = 2
did in the paper, is drawn as a cross on the x axis.

Usage (``agcn alpha-sweep``, ``python -m agcn_pyg.analysis.alpha_sweep`` and
``python analysis/alpha_sweep.py`` are the same command)::

    agcn alpha-sweep configs/demo.yaml --alphas 0,0.5,1,2 --seeds 3 --mode features
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agcn_pyg.analysis._common import (
    atomic_write_text,
    parse_alphas,
    run_cli,
    save_figure,
    wrap_title,
)
from agcn_pyg.analysis.run_table1 import (
    add_training_options,
    base_config,
    check_mode,
    row_config,
    train_row,
)
from agcn_pyg.commands.options import user_path
from agcn_pyg.errors import ConfigError
from agcn_pyg.variants import VARIANTS, short_title, table1_variants

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# pandas, matplotlib and the config (torch with it) load in the functions that use them, so
# that `agcn alpha-sweep --help` answers at once.

DEFAULT_ALPHAS = (0.0, 0.5, 1.0, 2.0)
DEFAULT_DPI = 120
COLUMNS = ["alpha", "seed", "mAP", "CF1", "OF1", "status", "seconds", "run_dir"]
MEAN_COLOUR, SEED_COLOUR, BAND_COLOUR, DIVERGED_COLOUR = "#1f77b4", "#7f7f7f", "#ff7f0e", "#d62728"

__all__ = [
    "alpha_label",
    "alpha_sweep",
    "parse_alphas",
    "plot_alpha_sweep",
    "seed_spread",
    "seed_summary",
]


def alpha_label(alpha: float) -> str:
    """The run-name suffix of ``alpha``: ``0.5`` → ``alpha0.5``, ``1.0`` → ``alpha1``."""
    return f"alpha{alpha:g}"


def _finished(df: pd.DataFrame) -> pd.DataFrame:
    return df[(df["status"] == "ok") & np.isfinite(df["mAP"].astype(float))]


def seed_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per α (ascending): ``runs`` (how many seeds trained), ``ok`` (how many finished),
    ``mean`` and ``std`` of their mAP (the sample standard deviation, ddof 1; NaN with fewer
    than two finished seeds)."""
    ok = _finished(df).groupby("alpha")["mAP"]
    import pandas as pd

    out = pd.DataFrame({"runs": df.groupby("alpha").size()})
    out["ok"] = ok.size().reindex(out.index, fill_value=0)
    out["mean"] = ok.mean().reindex(out.index)
    out["std"] = ok.std(ddof=1).reindex(out.index)
    return out.reset_index().sort_values("alpha", ignore_index=True)


def seed_spread(df: pd.DataFrame) -> float:
    r"""The standard deviation of mAP between seeds, pooled over α:
    :math:`\sqrt{\sum_\alpha (n_\alpha - 1) s_\alpha^2 / \sum_\alpha (n_\alpha - 1)}` with
    :math:`n_\alpha` finished seeds of standard deviation :math:`s_\alpha`; NaN when no α
    has two."""
    summary = seed_summary(df)
    dof = (summary["ok"] - 1).clip(lower=0)
    if dof.sum() == 0:
        return math.nan
    return float(np.sqrt((dof * summary["std"].fillna(0.0) ** 2).sum() / dof.sum()))


def _spread_note(summary: pd.DataFrame, spread: float) -> str:
    """What the seeds say about the range of the means over α."""
    means = summary["mean"].dropna()
    if not math.isfinite(spread):
        return "one seed per α: the seed spread is not measured (--seeds 3 measures it)"
    span = float(means.max() - means.min()) if len(means) else math.nan
    text = f"means over α span {span:.2f} mAP; seed std (pooled over α) {spread:.2f} mAP"
    if span < spread:
        text += ": the span is inside the seed spread, no trend in α can be read from it"
    return text


def _draw_means(ax: Axes, df: pd.DataFrame, summary: pd.DataFrame, several: bool) -> None:
    """Each run as a dot, the means over the seeds with ± 1 std error bars, their values."""
    done = summary[summary["ok"] > 0]
    if several:
        runs = _finished(df)
        ax.plot(runs["alpha"], runs["mAP"], "o", color=SEED_COLOUR, alpha=0.6, markersize=4)
    yerr = done["std"].fillna(0.0) if several else None
    ax.errorbar(
        done["alpha"],
        done["mean"],
        yerr=yerr,
        fmt="-o",
        color=MEAN_COLOUR,
        markersize=6,
        linewidth=1.5,
        capsize=4,
    )
    for a, m in zip(done["alpha"], done["mean"], strict=True):
        offset = {"textcoords": "offset points", "xytext": (7, 5), "va": "bottom"}
        ax.annotate(f"{m:.2f}", (a, m), fontsize=9, **offset)


def _legend(several: bool, spread: float, diverged: bool, seeds: int) -> list[Any]:
    mean = f"mean over {seeds} seeds ± 1 std" if several else "mAP of the run (one seed)"
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles: list[Any] = [Line2D([], [], color=MEAN_COLOUR, marker="o", label=mean)]
    if several:
        handles.append(
            Line2D([], [], color=SEED_COLOUR, marker="o", ls="none", ms=4, label="one seed's run")
        )
    if math.isfinite(spread):
        label = "± 1 seed std (pooled over α) around the mean of all runs"
        handles.append(Patch(color=BAND_COLOUR, alpha=0.2, label=label))
    if diverged:
        handles.append(
            Line2D([], [], color=DIVERGED_COLOUR, marker="x", ls="none", mew=2, label="diverged")
        )
    return handles


def plot_alpha_sweep(
    df: pd.DataFrame,
    out: str | Path | None = None,
    *,
    title: str = "A-GCN: mAP against α",
    dpi: float = DEFAULT_DPI,
) -> Figure:
    """Fig. 3: mAP (y) against α (x), the mean over the seeds joined by a line.

    ``df`` has the columns ``alpha``, ``mAP``, ``status`` (``ok`` or ``diverged``) and, for
    several seeds per α, ``seed``. With several seeds: ± 1 standard deviation error bars, each
    run as a dot, and the pooled seed spread (`seed_spread`) as a band around the mean of all
    runs, with a note that compares it to the span of the means. An α with a diverged run
    gets a cross on the x axis.
    """
    summary = seed_summary(df)
    spread = seed_spread(df)
    several = bool((summary["runs"] > 1).any())
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 5.6), layout="constrained")
    ax = fig.add_subplot()
    finished = _finished(df)
    if len(finished):
        _draw_means(ax, df, summary, several)
        lo, hi = float(finished["mAP"].min()), float(finished["mAP"].max())
        centre = float(summary["mean"].mean())
        if math.isfinite(spread):
            ax.axhspan(centre - spread, centre + spread, color=BAND_COLOUR, alpha=0.2, lw=0)
            lo, hi = min(lo, centre - spread), max(hi, centre + spread)
        pad = max(0.5, 0.25 * (hi - lo))
        # room below for the crosses of diverged runs, above for the note
        ax.set_ylim(lo - pad, hi + 1.5 * pad)
    bad = df[df["status"] != "ok"]
    if len(bad):
        y0, y1 = ax.get_ylim() if len(finished) else (0.0, 1.0)
        alphas = sorted(set(bad["alpha"]))
        ax.plot(
            alphas, [y0 + 0.03 * (y1 - y0)] * len(alphas), "x", color=DIVERGED_COLOUR, ms=10, mew=2
        )
    alphas = sorted(set(df["alpha"]))
    ax.set_xticks(alphas, [f"{a:g}" for a in alphas])
    if len(alphas) > 1:
        span = max(alphas) - min(alphas)
        ax.set_xlim(min(alphas) - 0.08 * span, max(alphas) + 0.12 * span)
    ax.set_xlabel("α (weight of the sparse correlation loss L_A)")
    ax.set_ylabel("mAP (%)")
    ax.grid(linewidth=0.4, alpha=0.5)
    ax.text(
        0.02,
        0.97,
        wrap_title(_spread_note(summary, spread), 6.0, 9),
        transform=ax.transAxes,
        fontsize=9,
        va="top",
    )
    fig.suptitle(wrap_title(title, 6.6, 11), fontsize=11)
    seeds = int(summary["runs"].max()) if len(summary) else 0
    fig.legend(
        handles=_legend(several, spread, len(bad) > 0, seeds),
        loc="outside lower center",
        ncols=2,
        fontsize=9,
        frameon=False,
    )
    if out is not None:
        save_figure(fig, out, dpi)
    return fig


def _metrics(path: Path | None) -> dict[str, float]:
    if path is None:
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))["metrics"]
    return {k: math.nan if v is None else float(v) for k, v in data.items()}


def run_suffix(alpha: float, seed: int, first_seed: int) -> str:
    """A sweep run's name suffix: ``alpha<α>`` for the config's own seed, ``alpha<α>_seed<s>``
    for the others (as the demo names its runs of other seeds)."""
    return alpha_label(alpha) + ("" if seed == first_seed else f"_seed{seed}")


def alpha_sweep(
    config: str | Path | Mapping[str, Any] | None,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    overrides: Sequence[str] = (),
    mode: str = "end2end",
    out_dir: str | Path | None = None,
    *,
    row: str = "agcn",
    seeds: int = 1,
    cache_dir: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> pd.DataFrame:
    """Train ``row`` of ``config`` once per α and seed; write and return the sweep table and
    plot.

    ``config`` is a YAML run config, the same as a dict, or ``None`` (the defaults). ``seeds``
    runs per α: the config's ``train.seed`` (after ``overrides``) and the ``seeds − 1`` after
    it. The frame has the columns `COLUMNS`, one line per run; ``df.attrs["files"]`` holds
    the CSV and PNG paths.
    """
    check_mode(mode)
    table1_variants([row])  # checks the name
    if seeds < 1:
        raise ConfigError(f"--seeds: expected an int ≥ 1, got {seeds}")
    base = base_config(config)
    import pandas as pd

    from agcn_pyg.config import build_run_config

    plain = build_run_config(base, overrides)
    target = Path(out_dir) if out_dir is not None else Path(plain.output_dir)
    first = plain.train.seed
    records = []
    for alpha in alphas:
        for seed in range(first, first + seeds):
            at = [*overrides, f"model.alpha={float(alpha)!r}", f"train.seed={seed}"]
            cfg = row_config(base, row, at, out_dir, suffix=run_suffix(alpha, seed, first))
            result = train_row(
                cfg,
                mode,
                row,
                cache_dir=cache_dir,
                overwrite=overwrite,
                progress=progress,
                label=f"α = {alpha:g}, seed {seed}",
            )
            metrics = _metrics(result.metrics_file)
            records.append(
                {
                    "alpha": float(alpha),
                    "seed": seed,
                    **{k: metrics.get(k, math.nan) for k in ("mAP", "CF1", "OF1")},
                    "status": "ok" if result.error is None else "diverged",
                    "seconds": round(result.seconds, 2),
                    "run_dir": str(result.run_dir),
                }
            )
    df = pd.DataFrame(records, columns=COLUMNS)
    stem = target / f"{plain.name}_alpha_sweep"
    csv = atomic_write_text(stem.with_suffix(".csv"), df.to_csv(index=False))
    png = stem.with_suffix(".png")
    title = (
        f"{plain.name}: {short_title(row)} mAP against α ({mode}, {len(alphas)} α × "
        f"{seeds} seed{'s' if seeds > 1 else ''})"
    )
    plot_alpha_sweep(df, png, title=title)
    df.attrs["files"] = {"csv": csv, "png": png}
    return df


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Train A-GCN for several α (weight of L_A) and plot mAP against α "
        "(the paper's Fig. 3).",
    )
    parser.add_argument("config", type=user_path, help="YAML run config (see configs/)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="overrides for every run")
    parser.add_argument(
        "--alphas",
        default=",".join(f"{a:g}" for a in DEFAULT_ALPHAS),
        help="comma-separated α values (default: %(default)s)",
    )
    parser.add_argument(
        "--row",
        default="agcn",
        choices=VARIANTS.registered(),
        help="the Table-1 row (variant) to sweep (default: agcn)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="runs per α: the config's train.seed and the ones after it; with 2 or more the "
        "figure shows the seed spread (default: %(default)s)",
    )
    add_training_options(parser, "runs, CSV and figure")
    return parser


def main(args: argparse.Namespace) -> int:
    df = alpha_sweep(
        args.config,
        parse_alphas(args.alphas),
        args.overrides,
        args.mode,
        args.out_dir,
        row=args.row,
        seeds=args.seeds,
        cache_dir=args.cache_dir,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    print(df.drop(columns=["run_dir"]).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    summary = seed_summary(df)
    for a, ok, mean, std in zip(*(summary[k] for k in ("alpha", "ok", "mean", "std")), strict=True):
        spread = f" ± {std:.2f}" if math.isfinite(std) else ""
        print(f"α = {a:g}: mAP {mean:.2f}{spread} over {ok} seed(s)")
    print(_spread_note(summary, seed_spread(df)))
    files = df.attrs["files"]
    print(f"wrote {files['csv']} and {files['png']}")
    return 0 if (df["status"] == "ok").all() else 1


def cli(argv: Sequence[str] | None = None) -> int:
    """`python -m agcn_pyg.analysis.alpha_sweep`: parse ``argv`` and run `main`."""
    return run_cli(get_args_parser, main, argv)


if __name__ == "__main__":
    sys.exit(cli())
