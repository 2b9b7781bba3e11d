"""Per-class AP difference between two evaluations, sorted: the paper's Fig. 4.

``Δ_c = AP_c(A) − AP_c(B)`` in percentage points for every class ``c`` that has an AP in
both runs, drawn as bars from the largest gain to the largest loss. The ``top`` largest
gains are red, the ``top`` largest losses blue, the rest grey; the dashed line is the mean
``Δ``, which equals ``mAP(A) − mAP(B)`` over the classes kept.

Usage (``agcn plot-ap-delta``, ``python -m agcn_pyg.analysis.plot_ap_delta`` and
``python analysis/plot_ap_delta.py`` are the same command)::

    agcn plot-ap-delta runs/agcn/eval runs/baseline/eval --out fig4.png
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agcn_pyg.analysis._common import EvalResult, load_metrics, run_cli, save_figure, slug
from agcn_pyg.commands.options import check_flags, user_path
from agcn_pyg.errors import DataError
from agcn_pyg.schema import POSITIVE

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# matplotlib loads in the functions that draw, so that `agcn plot-ap-delta --help` answers at
# once.

DEFAULT_DPI = 120
GAIN, LOSS, OTHER = "#d62728", "#1f77b4", "#b0b0b0"


def sorted_delta(
    ap_a: Sequence[float] | np.ndarray,
    ap_b: Sequence[float] | np.ndarray,
    label_names: Sequence[str],
) -> tuple[list[str], np.ndarray, list[str]]:
    """``(names, Δ, dropped)``: ``Δ = AP(A) − AP(B)`` sorted descending (ties by name).

    ``ap_a`` and ``ap_b`` have shape ``(C,)``; classes whose AP is NaN in either run are
    left out and their names returned in ``dropped``.
    """
    a = np.asarray(ap_a, dtype=np.float64)
    b = np.asarray(ap_b, dtype=np.float64)
    names = [str(s) for s in label_names]
    if not (a.shape == b.shape == (len(names),)):
        raise DataError(
            f"per-class AP lengths ({a.size}, {b.size}) do not match {len(names)} label names"
        )
    keep = np.isfinite(a) & np.isfinite(b)
    dropped = [n for n, k in zip(names, keep, strict=True) if not k]
    delta = (a - b)[keep]
    kept = [n for n, k in zip(names, keep, strict=True) if k]
    order = sorted(range(len(kept)), key=lambda i: (-delta[i], kept[i]))
    return [kept[i] for i in order], delta[order], dropped


def bar_colours(delta: np.ndarray, top: int) -> list[str]:
    """Colours for bars sorted by descending ``Δ``: the ``top`` largest gains (``Δ > 0``) red,
    the ``top`` largest losses (``Δ < 0``) blue, every other bar grey."""
    n = len(delta)
    colours = [OTHER] * n
    for i in range(min(top, n)):
        if delta[i] > 0:
            colours[i] = GAIN
    for i in range(max(0, n - top), n):
        if delta[i] < 0:
            colours[i] = LOSS
    return colours


def _figure_size(n: int, longest: int) -> tuple[float, float, float]:
    """``(width, height, tick font)`` in inches and points: about 11 pt of width per bar."""
    font = 8.0 if n <= 40 else 7.0
    width = max(7.0, n * (font + 4.0) / 72.0 + 2.0)
    height = 4.5 + min(longest, 24) * font * 0.6 / 72.0
    return width, height, font


def _legend(colours: Sequence[str], mean: float, n: int) -> list[Any]:
    """The legend's entries: the highlighted gains and losses, the rest, the mean Δ."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    n_gain, n_loss = colours.count(GAIN), colours.count(LOSS)
    handles: list[Any] = [
        Patch(color=GAIN, label=f"top-{n_gain} gains (A better)"),
        Patch(color=LOSS, label=f"top-{n_loss} losses (B better)"),
    ]
    if OTHER in colours:
        handles.append(Patch(color=OTHER, label="other classes"))
    label = f"mean Δ = {mean:+.2f} (= mAP(A) − mAP(B) on these {n} classes)"
    return [*handles, Line2D([], [], color="black", linestyle="--", label=label)]


def plot_ap_delta(
    ap_a: Sequence[float] | np.ndarray,
    ap_b: Sequence[float] | np.ndarray,
    label_names: Sequence[str],
    name_a: str,
    name_b: str,
    out: str | Path | None = None,
    top: int = 10,
    *,
    dpi: float = DEFAULT_DPI,
) -> Figure:
    """Bar chart of ``AP(A) − AP(B)`` per class, sorted, with the top gains and losses coloured.

    Args:
        ap_a, ap_b: per-class AP in percent, shape ``(C,)``; NaN marks a class without AP.
        label_names: the ``C`` class names.
        name_a, name_b: run names for the title and legend.
        out: PNG path; written atomically when given.
        top: how many gains (red) and losses (blue) to highlight.
        dpi: resolution; the PNG is ``figure.get_size_inches() * dpi`` pixels.

    The returned figure's first axes holds one bar container whose bars follow the sorted
    order of the tick labels.
    """
    from matplotlib.figure import Figure

    names, delta, dropped = sorted_delta(ap_a, ap_b, label_names)
    if not names:
        raise DataError(f"no class has an AP in both {name_a!r} and {name_b!r}")
    n = len(names)
    width, height, font = _figure_size(n, max(len(s) for s in names))
    colours = bar_colours(delta, top)
    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(n)
    ax.bar(x, delta, color=colours, width=0.8, edgecolor="none")
    ax.axhline(0.0, color="black", linewidth=0.8)
    mean = float(delta.mean())
    ax.axhline(mean, color="black", linewidth=1.0, linestyle="--")
    ax.set_xticks(x, names, rotation=90, fontsize=font)
    for tick, colour in zip(ax.get_xticklabels(), colours, strict=True):
        if colour != OTHER:
            tick.set_color(colour)
    ax.set_xlim(-0.7, n - 0.3)
    lim = float(np.abs(delta).max()) or 1.0
    ax.set_ylim(
        min(-0.1 * lim, float(delta.min()) * 1.15), max(0.1 * lim, float(delta.max()) * 1.15)
    )
    ax.set_ylabel("Δ AP (points)")
    ax.set_xlabel(f"class, sorted by Δ AP ({n} classes)")
    ax.grid(axis="y", linewidth=0.4, alpha=0.5)
    ax.set_axisbelow(True)
    ax.set_title(f"AP(A) − AP(B) per class: A = {name_a} vs B = {name_b}", fontsize=12)
    ax.legend(handles=_legend(colours, mean, n), loc="upper right", fontsize=9, framealpha=0.9)
    if dropped:
        shown = ", ".join(dropped[:6]) + (", …" if len(dropped) > 6 else "")
        ax.text(
            0.01,
            0.02,
            f"{len(dropped)} class(es) without AP in A or B left out: {shown}",
            transform=ax.transAxes,
            fontsize=8,
            va="bottom",
        )
    if out is not None:
        save_figure(fig, out, dpi)
    return fig


def load_pair(eval_a: str | Path, eval_b: str | Path) -> tuple[EvalResult, EvalResult]:
    """Read two ``metrics.json`` (files or folders) that must share the same label names."""
    a = load_metrics(eval_a, need_per_class=True)
    b = load_metrics(eval_b, need_per_class=True)
    if a.label_names != b.label_names:
        if len(a.label_names) != len(b.label_names):
            why = f"{len(a.label_names)} vs {len(b.label_names)} labels"
        else:
            k = next(
                i
                for i, (x, y) in enumerate(zip(a.label_names, b.label_names, strict=True))
                if x != y
            )
            why = f"label {k} is {a.label_names[k]!r} vs {b.label_names[k]!r}"
        raise DataError(f"{a.path} and {b.path}: label names differ ({why})")
    return a, b


def default_out(a: EvalResult, b: EvalResult) -> Path:
    """Where the CLI writes the figure when ``--out`` is not given: beside run A's metrics."""
    return a.path.parent / f"ap_delta_{slug(a.name)}_vs_{slug(b.name)}.png"


def plot_ap_delta_files(
    eval_a: str | Path,
    eval_b: str | Path,
    out: str | Path | None = None,
    top: int = 10,
    *,
    dpi: float = DEFAULT_DPI,
) -> Path:
    """:func:`plot_ap_delta` for two evaluation outputs; returns the PNG path."""
    a, b = load_pair(eval_a, eval_b)
    target = Path(out) if out is not None else default_out(a, b)
    plot_ap_delta(
        a.per_class_ap, b.per_class_ap, a.label_names, a.name, b.name, target, top, dpi=dpi
    )
    return target


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Per-class AP(A) − AP(B), sorted, top gains red and top losses blue "
        "(the paper's Fig. 4).",
    )
    parser.add_argument("eval_a", type=user_path, help="metrics.json of run A (or its folder)")
    parser.add_argument("eval_b", type=user_path, help="metrics.json of run B (or its folder)")
    parser.add_argument(
        "--out",
        type=user_path,
        default=None,
        help="PNG to write (default: beside A's metrics.json)",
    )
    parser.add_argument("--top", type=int, default=10, help="gains and losses to highlight")
    parser.add_argument("--dpi", type=float, default=DEFAULT_DPI, help="PNG resolution")
    return parser


def main(args: argparse.Namespace) -> int:
    check_flags(args, {"dpi": (POSITIVE,)})
    if args.top < 0:
        raise DataError(f"--top must be >= 0, got {args.top}")
    a, b = load_pair(args.eval_a, args.eval_b)
    names, delta, dropped = sorted_delta(a.per_class_ap, b.per_class_ap, a.label_names)
    target = args.out if args.out is not None else default_out(a, b)
    plot_ap_delta(
        a.per_class_ap,
        b.per_class_ap,
        a.label_names,
        a.name,
        b.name,
        target,
        args.top,
        dpi=args.dpi,
    )
    print(f"A = {a.name}, B = {b.name}: mean Δ AP = {delta.mean():+.2f} over {len(names)} classes")
    if dropped:
        print(f"left out (no AP in A or B): {', '.join(dropped)}")
    gains = [(n, d) for n, d in zip(names, delta, strict=True) if d > 0][: args.top]
    losses = [(n, d) for n, d in zip(names[::-1], delta[::-1], strict=True) if d < 0][: args.top]
    print("top gains: " + (", ".join(f"{n} {d:+.2f}" for n, d in gains) or "none"))
    print("top losses: " + (", ".join(f"{n} {d:+.2f}" for n, d in losses) or "none"))
    print(f"wrote {target}")
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """`python -m agcn_pyg.analysis.plot_ap_delta`: parse ``argv`` and run `main`."""
    return run_cli(get_args_parser, main, argv)


if __name__ == "__main__":
    sys.exit(cli())
