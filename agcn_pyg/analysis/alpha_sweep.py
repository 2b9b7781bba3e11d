"""mAP against α, the weight of the sparse correlation constraint L_A: the paper's Fig. 3.

The total loss is ``L = L_classifier + α · L_A`` (Eq. 6). For every α in ``--alphas`` the script
trains the A-GCN row (``--row``, a variant of `agcn_pyg.variants`, default ``agcn``) of a data
set config as `agcn_pyg.analysis.run_table1` does, with ``model.alpha=α`` last, names the run
``<stem>_alpha<α>`` (the config's name without its variant's suffix), and reads its
``eval/metrics.json``. It writes ``<config name>_alpha_sweep.csv`` (α, mAP, CF1, OF1, status,
seconds, run folder) and ``<config name>_alpha_sweep.png`` (mAP against α, points and a line;
a run whose loss diverged, as α = 2 did in the paper, is drawn as a cross on the x axis).

Usage (``agcn alpha-sweep``, ``python -m agcn_pyg.analysis.alpha_sweep`` and
``python analysis/alpha_sweep.py`` are the same command)::

    agcn alpha-sweep configs/demo.yaml --alphas 0,0.5,1,2 --mode features
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

from agcn_pyg.analysis._common import atomic_write_text, parse_alphas, run_cli, save_figure
from agcn_pyg.analysis.run_table1 import (
    add_training_options,
    base_config,
    check_mode,
    row_config,
    train_row,
)
from agcn_pyg.commands.options import user_path
from agcn_pyg.variants import VARIANTS, table1_variants

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

# pandas, matplotlib and the config (torch with it) load in the functions that use them, so
# that `agcn alpha-sweep --help` answers at once.

DEFAULT_ALPHAS = (0.0, 0.5, 1.0, 2.0)
DEFAULT_DPI = 120
COLUMNS = ["alpha", "mAP", "CF1", "OF1", "status", "seconds", "run_dir"]

__all__ = ["alpha_label", "alpha_sweep", "parse_alphas", "plot_alpha_sweep"]


def alpha_label(alpha: float) -> str:
    """The run-name suffix of ``alpha``: ``0.5`` → ``alpha0.5``, ``1.0`` → ``alpha1``."""
    return f"alpha{alpha:g}"


def plot_alpha_sweep(
    df: pd.DataFrame,
    out: str | Path | None = None,
    *,
    title: str = "A-GCN: mAP against α",
    dpi: float = DEFAULT_DPI,
) -> Figure:
    """Fig. 3: mAP (y) against α (x), one point per run joined by a line.

    ``df`` has the columns ``alpha``, ``mAP`` and ``status`` (``ok`` or ``diverged``).
    Each point is labelled with its mAP; diverged runs are crosses on the x axis.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    df = df.sort_values("alpha")
    ok = df[(df["status"] == "ok") & np.isfinite(df["mAP"].astype(float))]
    bad = df[df["status"] != "ok"]
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.add_subplot()
    if len(ok):
        ax.plot(ok["alpha"], ok["mAP"], "-o", color="#1f77b4", markersize=6, linewidth=1.5)
        for a, m in zip(ok["alpha"], ok["mAP"], strict=True):
            offset = {"textcoords": "offset points", "xytext": (0, 7), "ha": "center"}
            ax.annotate(f"{m:.2f}", (a, m), fontsize=9, **offset)
        lo, hi = float(ok["mAP"].min()), float(ok["mAP"].max())
        pad = max(0.5, 0.25 * (hi - lo))
        ax.set_ylim(lo - pad - (pad if len(bad) else 0), hi + pad)
    if len(bad):
        y0 = ax.get_ylim()[0] if len(ok) else 0.0
        ax.plot(bad["alpha"], [y0] * len(bad), "x", color="#d62728", markersize=10, mew=2)
    alphas = df["alpha"].tolist()
    ax.set_xticks(alphas, [f"{a:g}" for a in alphas])
    if len(alphas) > 1:
        span = max(alphas) - min(alphas)
        ax.set_xlim(min(alphas) - 0.08 * span, max(alphas) + 0.08 * span)
    ax.set_xlabel("α (weight of the sparse correlation loss L_A)")
    ax.set_ylabel("mAP (%)")
    ax.grid(linewidth=0.4, alpha=0.5)
    ax.set_title(title, fontsize=11)
    handles = [Line2D([], [], color="#1f77b4", marker="o", label="mAP of the run")]
    if len(bad):
        handles.append(
            Line2D([], [], color="#d62728", marker="x", linestyle="", mew=2, label="diverged")
        )
    ax.legend(handles=handles, loc="best", fontsize=9)
    if out is not None:
        save_figure(fig, out, dpi)
    return fig


def _metrics(path: Path | None) -> dict[str, float]:
    if path is None:
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))["metrics"]
    return {k: math.nan if v is None else float(v) for k, v in data.items()}


def alpha_sweep(
    config: str | Path | Mapping[str, Any] | None,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    overrides: Sequence[str] = (),
    mode: str = "end2end",
    out_dir: str | Path | None = None,
    *,
    row: str = "agcn",
    cache_dir: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> pd.DataFrame:
    """Train ``row`` of ``config`` once per α; write and return the sweep table and plot.

    ``config`` is a YAML run config, the same as a dict, or ``None`` (the defaults). The
    frame has the columns `COLUMNS`; ``df.attrs["files"]`` holds the CSV and PNG paths.
    """
    import pandas as pd

    from agcn_pyg.config import build_run_config

    check_mode(mode)
    table1_variants([row])  # checks the name
    base = base_config(config)
    plain = build_run_config(base, overrides)
    target = Path(out_dir) if out_dir is not None else Path(plain.output_dir)
    records = []
    for alpha in alphas:
        at = [*overrides, f"model.alpha={float(alpha)!r}"]
        cfg = row_config(base, row, at, out_dir, suffix=alpha_label(alpha))
        print(f"[α = {alpha:g}] training {cfg.name} ({mode})", flush=True)
        result = train_row(
            cfg, mode, row, cache_dir=cache_dir, overwrite=overwrite, progress=progress
        )
        metrics = _metrics(result.metrics_file)
        records.append(
            {
                "alpha": float(alpha),
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
    title = f"{plain.name}: {row} mAP against α ({mode}, {len(df)} runs)"
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
        cache_dir=args.cache_dir,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    print(df.drop(columns=["run_dir"]).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    files = df.attrs["files"]
    print(f"wrote {files['csv']} and {files['png']}")
    return 0 if (df["status"] == "ok").all() else 1


def cli(argv: Sequence[str] | None = None) -> int:
    """`python -m agcn_pyg.analysis.alpha_sweep`: parse ``argv`` and run `main`."""
    return run_cli(get_args_parser, main, argv)


if __name__ == "__main__":
    sys.exit(cli())
