"""Per-class AP difference between two evaluations, sorted: the paper's Fig. 4.

``Δ_c = AP_c(A) − AP_c(B)`` in percentage points for every class ``c`` that has an AP in
both runs, drawn as bars from the largest gain to the largest loss. The ``top`` largest
gains are blue (A better), the ``top`` largest losses red (B better), the rest grey; the
dashed line is the mean ``Δ``, which equals ``mAP(A) − mAP(B)`` over the classes kept.

Each bar carries a 95 % paired bootstrap interval: the test images are resampled with
replacement (the same images for A and B, read from each evaluation's ``scores.npz``), both
runs' per-class AP recomputed under the evaluation's AP protocol, and the 2.5 and 97.5
percentiles of each class's Δ taken. A Δ whose interval spans 0 is not a measured
difference. Classes of interest (``--mark``) get a triangle above their bar and a bold name.

Usage (``agcn plot-ap-delta``, ``python -m agcn_pyg.analysis.plot_ap_delta`` and
``python analysis/plot_ap_delta.py`` are the same command)::

    agcn plot-ap-delta runs/agcn/eval runs/baseline/eval --out fig4.png --mark sandal,shirt
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agcn_pyg.analysis._common import (
    EvalResult,
    load_metrics,
    run_cli,
    save_figure,
    slug,
    wrap_title,
)
from agcn_pyg.analysis.bootstrap import RESAMPLES, kept_draw_means, resampled_aps
from agcn_pyg.commands.options import check_flags, user_path
from agcn_pyg.errors import DataError
from agcn_pyg.metrics import DEFAULT_AP_PROTOCOL, average_precision
from agcn_pyg.schema import POSITIVE

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# matplotlib loads in the functions that draw, so that `agcn plot-ap-delta --help` answers at
# once.

DEFAULT_DPI = 120
#: gain blue, loss red: the usual reading (and one that colour-blind readers can tell apart)
GAIN, LOSS, OTHER = "#1f77b4", "#d62728", "#b0b0b0"
MARK_COLOUR = "black"
LEVEL = 0.95
SCORES_FILE = "scores.npz"


@dataclass(frozen=True)
class DeltaIntervals:
    """Paired bootstrap intervals of ``Δ = AP(A) − AP(B)`` in points.

    ``low`` and ``high`` have shape ``(C,)`` in the evaluations' class order (NaN for a class
    without an interval); ``mean`` is the interval of the mean Δ over the classes with an AP
    in both runs, i.e. of ``mAP(A) − mAP(B)``.
    """

    low: np.ndarray
    high: np.ndarray
    mean: tuple[float, float]
    resamples: int
    level: float = LEVEL


def paired_class_bootstrap(
    scores_a: np.ndarray,
    scores_b: np.ndarray,
    targets: np.ndarray,
    resamples: int = RESAMPLES,
    seed: int = 0,
    protocol: str | None = None,
) -> np.ndarray:
    """``(R, C)``: ``AP(A) − AP(B)`` in points per class on the ``R`` draws of the test images
    that every interval of the package shares (`agcn_pyg.analysis.bootstrap.resampled_aps`);
    NaN where a draw has no positive of a class. ``scores_*`` and ``targets`` are ``N × C``."""
    protocol = protocol or DEFAULT_AP_PROTOCOL
    aps = resampled_aps([scores_a, scores_b], targets, resamples, seed, protocol)
    return aps[0] - aps[1]


def intervals_of(deltas: np.ndarray, kept: np.ndarray, level: float = LEVEL) -> DeltaIntervals:
    """Percentile intervals of bootstrap ``deltas`` (``R × C``, `paired_class_bootstrap`);
    ``kept`` (``(C,)`` bool): the classes whose mean is ``mAP(A) − mAP(B)``."""
    tails = [50.0 * (1.0 - level), 100.0 - 50.0 * (1.0 - level)]
    low, high = np.full(deltas.shape[1], np.nan), np.full(deltas.shape[1], np.nan)
    defined = np.isfinite(deltas).any(axis=0)
    if defined.any():
        low[defined], high[defined] = np.nanpercentile(deltas[:, defined], tails, axis=0)
    # The mean's interval from the resamples in which every kept class has an AP.
    means = kept_draw_means(deltas, kept)
    mean = tuple(np.percentile(means, tails)) if means.size else (np.nan, np.nan)
    return DeltaIntervals(low, high, (float(mean[0]), float(mean[1])), len(deltas), level)


def _ap_protocol(result: EvalResult) -> str | None:
    return json.loads(result.path.read_text(encoding="utf-8")).get("ap_protocol")


def eval_intervals(
    a: EvalResult, b: EvalResult, resamples: int = RESAMPLES, seed: int = 0
) -> tuple[DeltaIntervals | None, str | None]:
    """The intervals of two evaluations from the ``scores.npz`` beside their ``metrics.json``,
    or ``(None, why)`` when a scores file is missing or ``resamples`` is 0.

    Raises `DataError` when the two were scored on different images or labels, or when a
    scores file does not give its metrics' per-class AP (it belongs to another evaluation).
    """
    from agcn_pyg.engine import read_scores

    if resamples <= 0:
        return None, "no intervals (--resamples 0)"
    files = [r.path.parent / SCORES_FILE for r in (a, b)]
    missing = [f for f in files if not f.is_file()]
    if missing:
        # the folders' last two parts: the figure names which run, a path would not fit
        where = ", ".join(str(Path(*f.parent.parts[-2:])) for f in missing)
        return None, f"no intervals: no {SCORES_FILE} in {where}"
    (scores_a, targets), (scores_b, targets_b) = (read_scores(f) for f in files)
    if targets.shape != targets_b.shape or not np.array_equal(targets, targets_b):
        raise DataError(f"{files[0]} and {files[1]}: the two runs were scored on different images")
    protocol, protocol_b = (_ap_protocol(r) or DEFAULT_AP_PROTOCOL for r in (a, b))
    if protocol != protocol_b:
        raise DataError(f"{a.path} and {b.path}: AP protocols differ ({protocol} vs {protocol_b})")
    for result, scores, path in ((a, scores_a, files[0]), (b, scores_b, files[1])):
        ap = 100.0 * average_precision(scores, targets, protocol)
        if not np.allclose(ap, result.per_class_ap, atol=1e-3, equal_nan=True):
            raise DataError(f"{path}: its scores do not give {result.path}'s per-class AP")
    deltas = paired_class_bootstrap(scores_a, scores_b, targets, resamples, seed, protocol)
    kept = np.isfinite(a.per_class_ap) & np.isfinite(b.per_class_ap)
    return intervals_of(deltas, kept), None


def sorted_classes(
    ap_a: Sequence[float] | np.ndarray,
    ap_b: Sequence[float] | np.ndarray,
    label_names: Sequence[str],
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(index, Δ, dropped)``: the classes with an AP in both runs, by descending
    ``Δ = AP(A) − AP(B)`` (ties by name), as indices into ``label_names``, their Δ, and the
    names of the classes left out (AP NaN in either run)."""
    a = np.asarray(ap_a, dtype=np.float64)
    b = np.asarray(ap_b, dtype=np.float64)
    names = [str(s) for s in label_names]
    if not (a.shape == b.shape == (len(names),)):
        raise DataError(
            f"per-class AP lengths ({a.size}, {b.size}) do not match {len(names)} label names"
        )
    keep = np.isfinite(a) & np.isfinite(b)
    dropped = [n for n, k in zip(names, keep, strict=True) if not k]
    index = np.array(
        sorted(np.flatnonzero(keep), key=lambda i: (-(a[i] - b[i]), names[i])), dtype=np.int64
    )
    return index, (a - b)[index], dropped


def sorted_delta(
    ap_a: Sequence[float] | np.ndarray,
    ap_b: Sequence[float] | np.ndarray,
    label_names: Sequence[str],
) -> tuple[list[str], np.ndarray, list[str]]:
    """``(names, Δ, dropped)``: `sorted_classes` with the classes named."""
    index, delta, dropped = sorted_classes(ap_a, ap_b, label_names)
    return [str(label_names[i]) for i in index], delta, dropped


def bar_colours(delta: np.ndarray, top: int) -> list[str]:
    """Colours for bars sorted by descending ``Δ``: the ``top`` largest gains (``Δ > 0``)
    `GAIN`, the ``top`` largest losses (``Δ < 0``) `LOSS`, every other bar `OTHER`."""
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
    """``(width, height, tick font)`` in inches and points: about 11 pt of width per bar, and
    room above the axes for a two-line title and the legend."""
    font = 8.0 if n <= 40 else 7.0
    width = max(7.0, n * (font + 4.0) / 72.0 + 2.0)
    height = 5.6 + min(longest, 24) * font * 0.6 / 72.0
    return width, height, font


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _percent(level: float) -> str:
    return f"{100 * level:g} %"


@dataclass(frozen=True)
class _Legend:
    """What the legend says; an entry appears only when the figure shows it."""

    name_a: str
    name_b: str
    mean: float
    n: int
    intervals: DeltaIntervals | None
    marked: Sequence[str]
    mark_label: str

    def handles(self, colours: Sequence[str], width: float) -> list[Any]:
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        def wrap(text: str) -> str:
            return wrap_title(text, width, 9)

        n_gain, n_loss = colours.count(GAIN), colours.count(LOSS)
        out: list[Any] = []
        if n_gain:
            label = f"top {_count(n_gain, 'gain')}: {self.name_a} better"
            out.append(Patch(color=GAIN, label=wrap(label)))
        if n_loss:
            label = f"top {_count(n_loss, 'loss', 'losses')}: {self.name_b} better"
            out.append(Patch(color=LOSS, label=wrap(label)))
        if OTHER in colours:
            out.append(Patch(color=OTHER, label="other classes"))
        mean = f"mean Δ = mAP(A) − mAP(B) on these {self.n} classes: {self.mean:+.2f}"
        if self.intervals is not None and np.isfinite(self.intervals.mean).all():
            low, high = self.intervals.mean
            mean += f", {_percent(self.intervals.level)} interval [{low:+.2f}, {high:+.2f}]"
        out.append(Line2D([], [], color="black", linestyle="--", label=wrap(mean)))
        if self.intervals is not None:
            label = (
                f"{_percent(self.intervals.level)} interval per class: {self.intervals.resamples} "
                "bootstrap resamples of the test images, the same for A and B"
            )
            out.append(Line2D([], [], color="black", marker="|", ls="none", label=wrap(label)))
        if self.marked:
            label = wrap(f"{self.mark_label}: {', '.join(self.marked)}")
            out.append(Line2D([], [], color=MARK_COLOUR, marker="v", ls="none", label=label))
        return out


def _check_marks(marks: Sequence[str], names: Sequence[str]) -> None:
    unknown = [m for m in marks if m not in names]
    if unknown:
        raise DataError(
            f"--mark: {unknown[0]!r} is not a class of these evaluations; classes: "
            f"{', '.join(names)}"
        )


def _draw_intervals(ax: Any, x: np.ndarray, low: np.ndarray, high: np.ndarray) -> None:
    # The error bar spans [low, high] exactly: a percentile interval need not be centred on
    # Δ (nor, for a skewed AP, even contain it), so it is drawn from its midpoint.
    defined = np.isfinite(low) & np.isfinite(high)
    mid, half = (low + high) / 2.0, (high - low) / 2.0
    ax.errorbar(
        x[defined],
        mid[defined],
        yerr=half[defined],
        fmt="none",
        ecolor="black",
        elinewidth=0.9,
        capsize=2.5,
    )


def _xlabel(n: int, dropped: Sequence[str], note: str | None, marks_dropped: list[str]) -> str:
    """The x label, and under it what the figure leaves out: classes without an AP, marked
    classes among them, the reason for missing intervals (below the axes, so that no bar
    hides it)."""
    lines = [f"class, sorted by Δ AP ({n} classes)"]
    if dropped:
        shown = ", ".join(dropped[:6]) + (", …" if len(dropped) > 6 else "")
        lines.append(f"{len(dropped)} class(es) without AP in A or B left out: {shown}")
    if marks_dropped:
        lines.append(f"marked but without AP in A or B: {', '.join(marks_dropped)}")
    if note:
        lines.append(note)
    return "\n".join(lines)


def _title_and_legend(fig: Figure, legend: _Legend, colours: Sequence[str]) -> None:
    """The title, wrapped to the figure's width, and the legend below the axes (where no bar
    or interval can hide under it)."""
    width = fig.get_size_inches()[0]
    title = f"Per-class AP(A) − AP(B): A = {legend.name_a}, B = {legend.name_b}"
    fig.suptitle(wrap_title(title, width - 0.4, 12), fontsize=12)
    ncols = 2 if width < 12 else 3
    fig.legend(
        handles=legend.handles(colours, width / ncols - 0.6),
        loc="outside lower center",
        ncols=ncols,
        fontsize=9,
        frameon=False,
    )


def _class_ticks(
    ax: Any, shown: Sequence[str], colours: Sequence[str], marked: Sequence[int], font: float
) -> None:
    """Class names under the bars, in their bar's colour; marked classes in bold."""
    ax.set_xticks(np.arange(len(shown)), shown, rotation=90, fontsize=font)
    for k, (tick, colour) in enumerate(zip(ax.get_xticklabels(), colours, strict=True)):
        tick.set_color(colour if colour != OTHER else "black")
        if k in marked:
            tick.set_fontweight("bold")


def plot_ap_delta(
    ap_a: Sequence[float] | np.ndarray,
    ap_b: Sequence[float] | np.ndarray,
    label_names: Sequence[str],
    name_a: str,
    name_b: str,
    out: str | Path | None = None,
    top: int = 10,
    *,
    intervals: DeltaIntervals | None = None,
    marks: Sequence[str] = (),
    mark_label: str = "marked classes",
    note: str | None = None,
    dpi: float = DEFAULT_DPI,
) -> Figure:
    """Bar chart of ``AP(A) − AP(B)`` per class, sorted, with the top gains and losses coloured.

    Args:
        ap_a, ap_b: per-class AP in percent, shape ``(C,)``; NaN marks a class without AP.
        label_names: the ``C`` class names.
        name_a, name_b: run names for the title and legend.
        out: PNG path; written atomically when given.
        top: how many gains (blue) and losses (red) to highlight.
        intervals: per-class intervals (`eval_intervals`), drawn as error bars.
        marks: class names to mark (classes of interest), under ``mark_label`` in the legend.
        note: a line under the x label (e.g. why there are no intervals).
        dpi: resolution; the PNG is ``figure.get_size_inches() * dpi`` pixels.

    The returned figure's axes hold one bar container whose bars follow the sorted order of
    the tick labels, and with ``intervals`` one error-bar container.
    """
    names = [str(s) for s in label_names]
    _check_marks(marks, names)
    index, delta, dropped = sorted_classes(ap_a, ap_b, names)
    if not len(index):
        raise DataError(f"no class has an AP in both {name_a!r} and {name_b!r}")
    n = len(index)
    shown = [names[i] for i in index]
    width, height, font = _figure_size(n, max(len(s) for s in shown))
    colours = bar_colours(delta, top)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(n)
    ax.bar(x, delta, color=colours, width=0.8, edgecolor="none")
    low = high = delta
    if intervals is not None:
        low, high = intervals.low[index], intervals.high[index]
        _draw_intervals(ax, x, low, high)
    ax.axhline(0.0, color="black", linewidth=0.8)
    mean = float(delta.mean())
    ax.axhline(mean, color="black", linewidth=1.0, linestyle="--")
    top_y = np.fmax(delta, high)
    lim = float(np.nanmax(np.abs(np.concatenate([low, high, delta])))) or 1.0
    marked = [k for k, name in enumerate(shown) if name in marks]
    _class_ticks(ax, shown, colours, marked, font)
    if marked:
        ax.plot(x[marked], top_y[marked] + 0.06 * lim, "v", color=MARK_COLOUR, markersize=7)
    ax.set_xlim(-0.7, n - 0.3)
    ax.set_ylim(
        min(-0.1 * lim, float(np.nanmin(low)) * 1.12),
        max(0.1 * lim, float(np.nanmax(top_y)) + 0.15 * lim),
    )
    ax.set_ylabel("Δ AP (points)")
    # wrapped to the axes: a long path in a note must not push the layout out of the figure
    xlabel = _xlabel(n, dropped, note, [m for m in marks if m in dropped])
    ax.set_xlabel(wrap_title(xlabel, width - 1.5, 10))
    ax.grid(axis="y", linewidth=0.4, alpha=0.5)
    ax.set_axisbelow(True)
    legend = _Legend(name_a, name_b, mean, n, intervals, [shown[k] for k in marked], mark_label)
    _title_and_legend(fig, legend, colours)
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


def plot_pair(
    a: EvalResult,
    b: EvalResult,
    out: str | Path | None = None,
    top: int = 10,
    *,
    marks: Sequence[str] = (),
    mark_label: str = "marked classes",
    name_a: str | None = None,
    name_b: str | None = None,
    resamples: int = RESAMPLES,
    seed: int = 0,
    dpi: float = DEFAULT_DPI,
) -> Figure:
    """:func:`plot_ap_delta` of two loaded evaluations (`load_pair`) with their bootstrap
    intervals (`eval_intervals`); the runs are named by their metrics unless ``name_*``."""
    _check_marks(marks, a.label_names)
    intervals, note = eval_intervals(a, b, resamples, seed)
    return plot_ap_delta(
        a.per_class_ap,
        b.per_class_ap,
        a.label_names,
        name_a or a.name,
        name_b or b.name,
        out,
        top,
        intervals=intervals,
        marks=marks,
        mark_label=mark_label,
        note=note,
        dpi=dpi,
    )


def plot_ap_delta_files(
    eval_a: str | Path,
    eval_b: str | Path,
    out: str | Path | None = None,
    top: int = 10,
    *,
    marks: Sequence[str] = (),
    resamples: int = RESAMPLES,
    seed: int = 0,
    dpi: float = DEFAULT_DPI,
) -> Path:
    """`plot_pair` for two evaluation outputs (files or folders); returns the PNG path."""
    a, b = load_pair(eval_a, eval_b)
    target = Path(out) if out is not None else default_out(a, b)
    plot_pair(a, b, target, top, marks=marks, resamples=resamples, seed=seed, dpi=dpi)
    return target


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Per-class AP(A) − AP(B), sorted, top gains blue and top losses red, with "
        "paired bootstrap intervals (the paper's Fig. 4).",
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
    parser.add_argument(
        "--mark",
        default="",
        help="comma-separated classes of interest to mark, e.g. sandal,shirt,bag",
    )
    parser.add_argument(
        "--resamples",
        type=int,
        default=RESAMPLES,
        help="bootstrap resamples of the test images for the intervals; each recomputes both "
        "runs' AP, so lower it for a large test set; 0: no intervals (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    parser.add_argument("--dpi", type=float, default=DEFAULT_DPI, help="PNG resolution")
    return parser


def _print_summary(a: EvalResult, b: EvalResult, top: int) -> None:
    names, delta, dropped = sorted_delta(a.per_class_ap, b.per_class_ap, a.label_names)
    print(f"A = {a.name}, B = {b.name}: mean Δ AP = {delta.mean():+.2f} over {len(names)} classes")
    if dropped:
        print(f"left out (no AP in A or B): {', '.join(dropped)}")
    gains = [(n, d) for n, d in zip(names, delta, strict=True) if d > 0][:top]
    losses = [(n, d) for n, d in zip(names[::-1], delta[::-1], strict=True) if d < 0][:top]
    print("top gains: " + (", ".join(f"{n} {d:+.2f}" for n, d in gains) or "none"))
    print("top losses: " + (", ".join(f"{n} {d:+.2f}" for n, d in losses) or "none"))


def main(args: argparse.Namespace) -> int:
    check_flags(args, {"dpi": (POSITIVE,)})
    if args.top < 0:
        raise DataError(f"--top must be >= 0, got {args.top}")
    if args.resamples < 0:
        raise DataError(f"--resamples must be >= 0, got {args.resamples}")
    marks = [m.strip() for m in args.mark.split(",") if m.strip()]
    a, b = load_pair(args.eval_a, args.eval_b)
    _print_summary(a, b, args.top)
    for result in (a, b):
        if not (result.path.parent / SCORES_FILE).is_file():
            print(f"no {SCORES_FILE} beside {result.path}: the figure has no intervals")
    target = args.out if args.out is not None else default_out(a, b)
    plot_pair(
        a, b, target, args.top, marks=marks, resamples=args.resamples, seed=args.seed, dpi=args.dpi
    )
    print(f"wrote {target}")
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """`python -m agcn_pyg.analysis.plot_ap_delta`: parse ``argv`` and run `main`."""
    return run_cli(get_args_parser, main, argv)


if __name__ == "__main__":
    sys.exit(cli())
