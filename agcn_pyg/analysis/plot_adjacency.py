"""Heatmaps of a model's label graph: learned A, normalised Â, co-occurrence and attention.

Every panel is a ``C × C`` matrix whose entry ``[i, j]`` sits at row ``i``, column ``j``; in
a GCN layer ``H' = δ(Â H W)`` (Eq. 3) row ``i`` of ``Â`` says how much label ``i`` gathers
from label ``j``. How a figure is meant to be read:

* **One colour scale per quantity.** Every Â panel of a figure (the learned Â, ML-GCN's Â)
  has the same vmin and vmax, stated in its colour bar beside the panel's own largest
  off-diagonal entry; probabilities (P(j | i)) run from 0 to 1; attention layers share one
  scale. A scale per panel was the alternative: it shows each panel's structure at full
  contrast, but it makes an Â whose largest off-diagonal entry is 0.009 as bright as one
  whose largest is 0.2, and these panels stand side by side to be compared. The diagonal of
  Â and of attention is masked (its mean written under the panel): a self-weight near 1
  would otherwise take the whole scale.
* **Label order** comes from the training labels (their co-occurrence P(j | i), clustered so
  that labels that occur together sit together) or is the data set's, never from the learned
  graph being shown, which would make any graph look structured.
* **ML-GCN's Â is the transpose of its P(j | i) pattern**: its ``gen_adj`` computes
  ``(A D)ᵀ D`` (`agcn_pyg.graph`), so its row i gathers from column j with a weight built from
  P(i | j). Its panel says so.
* The figure's title names the run, its graph and its GNN (`describe_run`).

Usage (``agcn plot-adjacency``, ``python -m agcn_pyg.analysis.plot_adjacency`` and
``python analysis/plot_adjacency.py`` are the same command)::

    agcn plot-adjacency runs/coco_agcn/best.pt --out graph.png
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from agcn_pyg.analysis._common import run_cli, save_figure, wrap_title
from agcn_pyg.analysis.attention import attention_maps
from agcn_pyg.commands.options import check_flags, user_path
from agcn_pyg.errors import CheckpointError, DataError
from agcn_pyg.schema import POSITIVE
from agcn_pyg.variants import VARIANTS

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colors import Colormap, Normalize
    from matplotlib.figure import Figure

# matplotlib, SciPy and the models (torch) load in the functions that use them, so that
# `agcn plot-adjacency --help` answers at once.

#: the ``graph`` of a baseline model (`agcn_pyg.models.label_graph.BASELINE`, without torch)
BASELINE = "none"

DEFAULT_DPI = 120
MASK_NOTE = {"sequential": "white", "diverging": "black"}
# Colour maps per scale: diverging is centred at 0 so the sign of a learned A is visible.
CMAPS = {"sequential": "viridis", "diverging": "RdBu_r"}
#: the groups of panels that share one colour scale, as their colour bars name them
ADJ_GROUP, ATTENTION_GROUP = "Â", "attention"
#: cell values are written up to this many labels (above it they would not fit at 8 pt)
ANNOTATE_MAX_LABELS = 12
CELL_FONT = 8.0  # pt: the cell values
TITLE_FONT, SUPTITLE_FONT = 10.0, 12.0
#: what a masked diagonal of P(j | i) holds, by definition
SELF_PROBABILITY = "P(i | i) = 1"
TRANSPOSE_NOTE = "Â[i, j] built from P(i | j): gen_adj transposes P(j | i)"


@dataclass(frozen=True)
class Panel:
    """One ``C × C`` heatmap.

    ``scale`` is ``"diverging"`` (colour scale symmetric about 0), ``"sequential"`` or
    ``"auto"`` (diverging when any shown entry is negative). Panels with the same ``group``
    share one colour scale (the same vmin and vmax, stated in their colour bars);
    ``limits`` fixes the scale instead (P(j | i): 0 to 1). With ``mask_diagonal`` the
    diagonal is drawn in a neutral colour and left out of the colour scale, so that a
    dominant self-weight does not wash out the off-diagonal structure; ``diagonal_note``
    says what it holds (default: its mean). ``key`` names the panel's kind for code that
    picks panels: ``A``, ``A_hat``, ``cooccurrence``, ``mlgcn``, ``attention<k>``.
    """

    title: str
    matrix: np.ndarray
    scale: str = "auto"
    mask_diagonal: bool = False
    colorbar_label: str = ""
    key: str = ""
    group: str | None = None
    limits: tuple[float, float] | None = None
    diagonal_note: str | None = None

    def __post_init__(self) -> None:
        if self.scale not in {"auto", *CMAPS}:
            raise ValueError(f"Panel.scale must be 'auto' or one of {sorted(CMAPS)}")

    def shown(self, order: np.ndarray | None = None) -> np.ma.MaskedArray:
        """The matrix in ``order`` (rows and columns), undefined entries and a masked
        diagonal masked."""
        m = self.matrix if order is None else self.matrix[np.ix_(order, order)]
        mask = ~np.isfinite(m)
        if self.mask_diagonal:
            mask = mask | np.eye(len(m), dtype=bool)
        return np.ma.array(m, mask=mask)


class GraphModel(Protocol):
    """What :func:`model_panels` needs from a model returned by ``agcn_pyg.load_model``: its
    ``(A, Â)``, and the parts `agcn_pyg.analysis.attention.attention_maps` reads."""

    def adjacency(self) -> tuple[Any, Any] | None: ...


# --------------------------------------------------------------------------- matrices


def to_numpy(x: Any) -> np.ndarray:
    """A tensor or array as a float64 NumPy array (detached, on the CPU)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def conditional_probability(adj: np.ndarray, nums: np.ndarray) -> np.ndarray:
    """``P(j | i) = adj[i, j] / nums[i]``, shape ``(C, C)``, for display.

    The values are `agcn_pyg.graph.cooccurrence_conditional`'s (the P(j|i) ML-GCN's graph
    is built from). That function gives a zero row to a label that never occurs
    (``nums[i] = 0``); here that row is NaN instead, so the heatmap draws it as undefined
    rather than as "never co-occurs".
    """
    from agcn_pyg.graph import cooccurrence_conditional

    nums = to_numpy(nums).reshape(-1)
    out = cooccurrence_conditional(to_numpy(adj), nums)
    out[nums == 0] = np.nan
    return out


def cluster_order(matrix: np.ndarray) -> np.ndarray:
    """A label order that puts strongly linked labels next to each other.

    The ``C × C`` matrix is symmetrised, ``S = (M + Mᵀ) / 2``, its diagonal is ignored, and
    ``d(i, j) = max S − S[i, j]`` is clustered with average linkage; the dendrogram's leaves
    (with SciPy's optimal leaf ordering) give the order. Deterministic for a given matrix.
    Returns a permutation of ``range(C)``.
    """
    m = to_numpy(matrix)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise DataError(f"cluster_order: expected a square matrix, got shape {m.shape}")
    c = m.shape[0]
    if c <= 2:
        return np.arange(c)
    s = (m + m.T) / 2.0
    off = ~np.eye(c, dtype=bool)
    finite = s[off & np.isfinite(s)]
    if finite.size == 0:
        return np.arange(c)
    s = np.where(np.isfinite(s), s, finite.min())
    dist = finite.max() - s
    np.fill_diagonal(dist, 0.0)
    dist = np.clip(dist, 0.0, None)
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    tree = linkage(squareform(dist, checks=False), method="average", optimal_ordering=True)
    return leaves_list(tree).astype(np.int64)


def graph_title(graph_name: str | None) -> str:
    """How figures name a label graph's A: its module's ``title`` (`LabelGraph.title`)."""
    if graph_name is None:
        return "learned A"
    if graph_name.lower() == BASELINE:
        return "no label graph (baseline)"
    from agcn_pyg.models import LABEL_GRAPHS

    if graph_name.lower() in LABEL_GRAPHS:
        return LABEL_GRAPHS.get(graph_name.lower()).title
    return f"A (graph {graph_name!r})"


def _correlation_panel(A: Any, graph_name: str | None, static: bool) -> Panel:
    """``A``, titled by its label graph's ``title``: a learned A on a scale symmetric about 0
    (its sign matters), ML-GCN's static A (never negative) on a sequential one."""
    return Panel(
        title=graph_title(graph_name),
        matrix=to_numpy(A),
        scale="sequential" if static else "diverging",
        colorbar_label="A[i, j]" if static else "A[i, j]: red > 0 > blue",
        key="A",
    )


def _normalised_panel(A_hat: Any, gen_adj: bool, guard: str | None) -> Panel:
    """``Â``, titled by how it was normalised (Eq. 4 with its guard, or ML-GCN's gen_adj)."""
    if gen_adj:
        title = r"ML-GCN's $\hat{A}=(AD)^\top D$ (gen_adj), used by the GCN" + f"\n{TRANSPOSE_NOTE}"
    else:
        inner, where = ("g(A)", f"Eq. 4, g = {guard}") if guard else ("A", "Eq. 4")
        title = (
            rf"$\hat{{A}}=\tilde{{D}}^{{-1/2}}({inner}+I)\tilde{{D}}^{{-1/2}}$ ({where}), "
            "used by the GCN"
        )
    return Panel(
        title=title,
        matrix=to_numpy(A_hat),
        mask_diagonal=True,
        colorbar_label="Â[i, j], i ≠ j",
        key="A_hat",
        group=ADJ_GROUP,
    )


def probability_panel(title: str, p: Any, key: str = "cooccurrence") -> Panel:
    """A ``P(j | i)`` panel on the 0–1 scale; its diagonal, ``P(i | i) = 1`` by definition, is
    set to 1 (rows that are undefined stay NaN) and masked with that note."""
    m = to_numpy(p).copy()
    diagonal = np.diag(m)
    m[np.diag_indices_from(m)] = np.where(np.isfinite(diagonal), 1.0, np.nan)
    return Panel(
        title=title,
        matrix=m,
        scale="sequential",
        mask_diagonal=True,
        colorbar_label="P(j | i), i ≠ j",
        key=key,
        limits=(0.0, 1.0),
        diagonal_note=SELF_PROBABILITY,
    )


def _mlgcn_panel(mlgcn: Any, params: Mapping[str, Any]) -> Panel:
    """ML-GCN's ``Â`` from the co-occurrence counts, titled by ``t``, ``p``, ``reweight``."""
    kind = "re-weighted" if params.get("reweight", True) else "binary"
    # p only enters the re-weighted variant.
    keys = ("t", "p") if kind == "re-weighted" else ("t",)
    detail = [f"{k} = {params[k]}" for k in keys if k in params]
    return Panel(
        title=f"ML-GCN's $\\hat{{A}}$ from the co-occurrence ({', '.join([kind, *detail])})\n"
        f"{TRANSPOSE_NOTE}",
        matrix=to_numpy(mlgcn),
        mask_diagonal=True,
        colorbar_label="Â[i, j], i ≠ j",
        key="mlgcn",
        group=ADJ_GROUP,
    )


def _attention_panel(att: Any, layer: int) -> Panel:
    return Panel(
        title=f"attention, layer {layer} (heads averaged): row i target, column j source",
        matrix=to_numpy(att),
        scale="sequential",
        mask_diagonal=True,
        colorbar_label="attention weight, i ≠ j",
        key=f"attention{layer}",
        group=ATTENTION_GROUP,
    )


def adjacency_panels(
    A: Any | None,
    A_hat: Any | None,
    cooccurrence: Mapping[str, Any] | None = None,
    mlgcn: Any | None = None,
    attention: Sequence[Any] = (),
    *,
    graph_name: str | None = None,
    guard: str | None = None,
    mlgcn_params: Mapping[str, Any] | None = None,
) -> list[Panel]:
    """The panels for one model, in display order.

    Args:
        A: learned correlation matrix ``(C, C)``; may be negative (Eq. 5, 7-9).
        A_hat: its normalisation ``D̃^-1/2 (A + I) D̃^-1/2`` (Eq. 4), ``(C, C)``.
        cooccurrence: ``{"adj": (C, C) pair counts, "nums": (C,) label counts}`` from the
            training labels, shown as ``P(j | i)``.
        mlgcn: ML-GCN's normalised ``Â`` built from those statistics, ``(C, C)``.
        attention: one ``(C, C)`` map per attention layer, ``[i, j]`` = weight of target
            ``i`` on source ``j``, heads averaged.
        graph_name: the config's ``graph`` name, for the title of ``A`` (its label graph's
            ``title``; a generic one for an unknown name).
        guard: the config's ``guard`` ``g`` in ``Â = D̃^-1/2 (g(A) + I) D̃^-1/2``, for the title.
        mlgcn_params: ``t``, ``p``, ``reweight`` used for ``mlgcn``, for its title.
    """
    from agcn_pyg.models import LABEL_GRAPHS

    panels: list[Panel] = []
    name = (graph_name or "").lower()
    static = name == "static"
    # ML-GCN's controls (shuffled, uniform) are normalised by its gen_adj too
    gen_adj = name in LABEL_GRAPHS and LABEL_GRAPHS.get(name).gen_adj
    if A is not None:
        panels.append(_correlation_panel(A, graph_name, static))
    if A_hat is not None:
        panels.append(_normalised_panel(A_hat, gen_adj, guard))
    if cooccurrence is not None:
        p = conditional_probability(cooccurrence["adj"], cooccurrence["nums"])
        title = "co-occurrence P(j | i) = N(i and j) / N(i) of the training labels"
        panels.append(probability_panel(title, p))
    if mlgcn is not None and not static:  # for the static graph, Â above is ML-GCN's Â
        panels.append(_mlgcn_panel(mlgcn, mlgcn_params or {}))
    panels += [_attention_panel(att, k) for k, att in enumerate(attention, start=1)]
    return panels


def find_panel(panels: Sequence[Panel], key: str) -> Panel | None:
    """The first panel of kind ``key`` (`Panel.key`), or ``None``."""
    return next((p for p in panels if p.key == key), None)


# --------------------------------------------------------------------------- scales


@dataclass(frozen=True)
class Scale:
    """A panel's colour scale: ``kind`` (``sequential`` or ``diverging``), its ``norm``, and
    how many panels share it (1: its own)."""

    kind: str
    norm: Normalize
    shared_by: int = 1


def _norm(values: np.ndarray, scales: set[str], limits: tuple[float, float] | None) -> Scale:
    from matplotlib.colors import Normalize

    if limits is not None:
        return Scale("sequential", Normalize(*limits))
    if "diverging" in scales or ("auto" in scales and values.size and values.min() < 0):
        lim = float(np.abs(values).max()) if values.size else 1.0
        return Scale("diverging", Normalize(-lim, lim) if lim > 0 else Normalize(-1.0, 1.0))
    lo = min(0.0, float(values.min())) if values.size else 0.0
    hi = float(values.max()) if values.size else 1.0
    return Scale("sequential", Normalize(lo, hi if hi > lo else lo + 1.0))


def panel_scales(panels: Sequence[Panel]) -> list[Scale]:
    """Each panel's colour scale: from its shown (unmasked) entries, and from those of every
    panel of its ``group``, so that a group's panels have the same vmin and vmax."""
    members: dict[object, list[Panel]] = {}
    for k, panel in enumerate(panels):
        members.setdefault(panel.group if panel.group is not None else k, []).append(panel)
    scales = {}
    for key, group in members.items():
        values = np.concatenate([p.shown().compressed() for p in group])
        scale = _norm(values, {p.scale for p in group}, group[0].limits)
        scales[key] = Scale(scale.kind, scale.norm, len(group))
    return [scales[p.group if p.group is not None else k] for k, p in enumerate(panels)]


def _colorbar_label(panel: Panel, scale: Scale) -> str:
    """What the colour bar shows, this panel's largest shown entry when its scale is shared,
    and the scale itself when it is shared or fixed."""
    label = panel.colorbar_label or "value"
    values = panel.shown().compressed()
    if scale.shared_by > 1 and values.size:
        label += f"; max {values.max():.2g}"
    lo, hi = scale.norm.vmin, scale.norm.vmax
    if scale.shared_by > 1:
        group = f"{scale.shared_by} {panel.group} panels"
        label += f"\n(one scale for the {group}: {lo:.2g} to {hi:.2g})"
    elif panel.limits is not None:
        label += f"\n(scale {lo:g} to {hi:g})"
    return label


# --------------------------------------------------------------------------- drawing


@dataclass(frozen=True)
class _Geometry:
    font: float  # tick-label font size (pt)
    step: int  # label every `step`-th class
    side: float  # heatmap side (inches)
    cell_w: float  # one panel with its labels and colour bar (inches)
    cell_h: float
    ncols: int
    nrows: int


def _geometry(c: int, n_panels: int, max_label_chars: int, annotate: bool = False) -> _Geometry:
    # One tick label needs about font + 2 pt of height; the heatmap grows with C until every
    # label fits, and labels are thinned only beyond a side of 11 inches (C > ~100). Written
    # cell values need cells of about 0.45 inch: "-0.004" at 8 pt.
    font = 9.0 if c <= 20 else 7.0 if c <= 48 else 6.0
    need = c * (font + 2.0) / 72.0
    side = max(3.2, need, 0.45 * c if annotate else 0.0)
    step = 1
    if side > 11.0:
        step = math.ceil(need / 11.0)
        side = 11.0
    label_in = min(max_label_chars, 24) * font * 0.6 / 72.0 + 0.35
    ncols = max(1, min(n_panels, 2 if c > 24 or n_panels == 4 else 3))
    nrows = max(1, math.ceil(n_panels / ncols))
    return _Geometry(
        font=font,
        step=step,
        side=side,
        cell_w=side + label_in + 1.5,
        # two title lines, the tick labels, a two-line x label
        cell_h=side + label_in + 1.2,
        ncols=ncols,
        nrows=nrows,
    )


def figure_size(
    c: int, n_panels: int, label_names: Sequence[str] = (), annotate: bool = False
) -> tuple[float, float]:
    """The figure size (inches) used for ``n_panels`` heatmaps of ``C`` labels."""
    longest = max((len(s) for s in label_names), default=12)
    g = _geometry(c, n_panels, longest, annotate)
    # the figure's title (two lines) and its footnote
    return g.ncols * g.cell_w, g.nrows * g.cell_h + 1.0


def _short(name: str, limit: int = 24) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _annotate(ax: Axes, m: np.ndarray, mask: np.ndarray, cmap: Colormap, norm: Normalize) -> None:
    """Write each unmasked value in its cell; values that round to 0 stay blank."""
    finite = np.abs(m[~mask & np.isfinite(m)])
    decimals = 2 if finite.size == 0 or finite.max() >= 0.1 else 3
    for i, j in zip(*np.nonzero(~mask), strict=True):
        text = f"{m[i, j]:.{decimals}f}"
        if float(text) == 0.0:
            continue
        r, g, b, _ = cmap(norm(m[i, j]))
        dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
        ax.text(
            j, i, text, ha="center", va="center", fontsize=CELL_FONT, color="w" if dark else "k"
        )


def _diagonal_label(panel: Panel, m: np.ndarray, colour: str) -> str:
    """The x label: the column index, and what is masked (the diagonal, undefined entries)."""
    notes = []
    if panel.mask_diagonal:
        if panel.diagonal_note is not None:
            held = panel.diagonal_note
        else:
            diag = np.diag(m)
            held = f"mean {np.nanmean(diag):.3g}" if np.isfinite(diag).any() else "undefined"
        notes.append(f"diagonal ({held}) masked in {colour}")
    undefined = int((~np.isfinite(m[~np.eye(len(m), dtype=bool)])).sum())
    if undefined:
        notes.append(f"{undefined} undefined entries in {colour}")
    return "; ".join(["column j", *notes])


def _draw_panel(
    ax: Axes,
    panel: Panel,
    scale: Scale,
    order: np.ndarray,
    names: list[str],
    g: _Geometry,
    annotate: bool,
) -> None:
    import matplotlib as mpl

    c = len(order)
    m = panel.matrix[np.ix_(order, order)]
    shown = panel.shown(order)
    colour = MASK_NOTE[scale.kind]
    cmap: Colormap = mpl.colormaps[CMAPS[scale.kind]].with_extremes(bad=colour)
    im = ax.imshow(shown, cmap=cmap, norm=scale.norm, interpolation="nearest", aspect="equal")
    ax.set_title(wrap_title(panel.title, g.cell_w - 0.2, TITLE_FONT), fontsize=TITLE_FONT)
    ticks = np.arange(0, c, g.step)
    ax.set_xticks(ticks, [names[k] for k in ticks], rotation=90, fontsize=g.font)
    ax.set_yticks(ticks, [names[k] for k in ticks], fontsize=g.font)
    ax.tick_params(length=2, pad=1)
    thinned = f" (one label in {g.step} named)" if g.step > 1 else ""
    xlabel = _diagonal_label(panel, m, colour) + thinned
    ax.set_xlabel(wrap_title(xlabel, g.side + 0.4, 9), fontsize=9)
    ax.set_ylabel("row i", fontsize=9)
    cb = ax.figure.colorbar(im, ax=ax, shrink=0.9, pad=0.02, fraction=0.05)
    cb.set_label(_colorbar_label(panel, scale), fontsize=8)
    cb.ax.tick_params(labelsize=8)
    if annotate:
        _annotate(ax, m, np.ma.getmaskarray(shown), cmap, scale.norm)


def plot_adjacency_panels(
    panels: Sequence[Panel | tuple[str, np.ndarray]],
    label_names: Sequence[str],
    order: Sequence[int] | np.ndarray | None = None,
    out: str | Path | None = None,
    *,
    suptitle: str | None = None,
    footnote: str | None = None,
    annotate: bool | None = None,
    dpi: float = DEFAULT_DPI,
) -> Figure:
    """Draw ``C × C`` heatmaps side by side with label names on both axes.

    Args:
        panels: :class:`Panel` objects, or ``(title, matrix)`` pairs (auto colour scale).
        label_names: the ``C`` class names, in the matrices' order.
        order: a permutation of ``range(C)`` applied to rows and columns of every panel
            (e.g. :func:`cluster_order` of the co-occurrence); ``None`` keeps the given order.
        out: PNG path; written atomically when given.
        suptitle: the figure's title (wrapped to its width).
        footnote: a note under the panels (how labels are ordered, summary figures).
        annotate: write each value in its cell (at 8 pt); default for ``C <= 12``.
        dpi: resolution of the PNG; its size is ``figure.get_size_inches() * dpi``.
    """
    items = [
        p if isinstance(p, Panel) else Panel(title=p[0], matrix=to_numpy(p[1])) for p in panels
    ]
    if not items:
        raise DataError("plot_adjacency_panels: no matrices to plot")
    names = [str(s) for s in label_names]
    c = len(names)
    for p in items:
        if p.matrix.shape != (c, c):
            raise DataError(
                f"panel {p.title.splitlines()[0]!r}: matrix shape {p.matrix.shape} "
                f"does not match {c} label names"
            )
    perm = np.arange(c) if order is None else np.asarray(order, dtype=np.int64)
    if sorted(perm.tolist()) != list(range(c)):
        raise DataError(f"order must be a permutation of range({c})")
    shown_names = [_short(names[k]) for k in perm]
    do_annotate = c <= ANNOTATE_MAX_LABELS if annotate is None else annotate
    g = _geometry(c, len(items), max((len(s) for s in shown_names), default=1), do_annotate)
    size = figure_size(c, len(items), shown_names, do_annotate)
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(g.nrows, g.ncols, squeeze=False).ravel()
    for ax, panel, scale in zip(axes, items, panel_scales(items), strict=False):
        _draw_panel(ax, panel, scale, perm, shown_names, g, do_annotate)
    for ax in axes[len(items) :]:
        ax.set_axis_off()
    head = suptitle or f"Label graph, {c} labels"
    fig.suptitle(wrap_title(head, size[0] - 0.4, SUPTITLE_FONT), fontsize=SUPTITLE_FONT)
    if footnote:
        fig.supxlabel(wrap_title(footnote, size[0] - 0.4, 9), fontsize=9)
    if out is not None:
        save_figure(fig, out, dpi)
    return fig


# --------------------------------------------------------------------------- checkpoints


def _mlgcn_adjacency(cooccurrence: Mapping[str, Any], config: Mapping[str, Any]) -> np.ndarray:
    from agcn_pyg.graph import mlgcn_adjacency

    adj = mlgcn_adjacency(
        cooccurrence["adj"],
        cooccurrence["nums"],
        t=config.get("t", 0.4),
        p=config.get("p", 0.25),
        reweight=config.get("reweight", True),
    )
    return to_numpy(adj)


def model_panels(model: GraphModel, meta: Mapping[str, Any]) -> list[Panel]:
    """The panels of a loaded model (`adjacency_panels`).

    ``meta`` is the dict returned by ``agcn_pyg.load_model``: ``label_names``, ``config``
    and ``cooccurrence`` (``{"adj", "nums"}`` or ``None``).
    """
    import torch

    config = dict(meta.get("config") or {})
    with torch.no_grad():
        adjacency = model.adjacency()
        attention = [to_numpy(a) for a in attention_maps(model)]
    A, A_hat = (None, None) if adjacency is None else (to_numpy(x) for x in adjacency)
    cooc = meta.get("cooccurrence")
    mlgcn = _mlgcn_adjacency(cooc, config) if cooc is not None else None
    params = {k: config[k] for k in ("t", "p", "reweight") if k in config}
    return adjacency_panels(
        A,
        A_hat,
        cooccurrence=cooc,
        mlgcn=mlgcn,
        attention=attention,
        graph_name=config.get("graph"),
        guard=config.get("guard"),
        mlgcn_params=params,
    )


def describe_run(meta: Mapping[str, Any]) -> str:
    """``<run>: <graph>; GNN <layer>, <L> layers`` for a loaded checkpoint's ``meta``.

    The run is the name in its run config (else its folder's name). The graph is the title
    of the run config's variant (`agcn_pyg.variants`) while the model still has that
    variant's settings, else its label graph's title (`graph_title`): ``variant: agcn``
    trained with ``model.graph=cos`` is named by its Cos-A graph, not as A-GCN.
    """
    run = dict(meta.get("run_config") or {})
    model = dict(meta.get("config") or {})
    name = run.get("name") or Path(str(meta.get("path", "checkpoint"))).parent.name
    graph = model.get("graph")
    variant = VARIANTS.get(run["variant"]) if run.get("variant") in VARIANTS else None
    if variant is not None and all(model.get(k) == v for k, v in variant.model.items()):
        what = variant.title
    else:
        what = graph_title(graph)
    if graph == BASELINE:  # the baseline has no GNN
        return f"{name}: {what}"
    return f"{name}: {what}; GNN {model.get('gnn', 'gcn')}, {model.get('num_layers', 2)} layers"


def label_order(panels: Sequence[Panel], cluster: bool = True) -> tuple[np.ndarray | None, str]:
    """The label order of a model's figure and how it was found: the training labels'
    P(j | i) clustered (`cluster_order`) when the panels have it, else the data set's order.
    Never the learned graph: ordered by itself, any graph shows blocks."""
    cooccurrence = find_panel(panels, "cooccurrence")
    if cluster and cooccurrence is not None:
        return cluster_order(cooccurrence.matrix), (
            "ordered by clustering the training labels' co-occurrence P(j | i)"
        )
    why = " (the checkpoint has no co-occurrence counts)" if cluster else ""
    return None, f"in the data set's order{why}"


def plot_model(
    model: GraphModel,
    meta: Mapping[str, Any],
    out: str | Path | None = None,
    *,
    cluster: bool = True,
    title: str | None = None,
    note: str | None = None,
    dpi: float = DEFAULT_DPI,
) -> Figure:
    """Heatmaps of a loaded model's label graph (see :func:`model_panels`), titled by
    `describe_run` unless ``title`` is given; ``note`` goes into the footnote."""
    names = list(meta.get("label_names") or [])
    panels = model_panels(model, meta)
    title = title or describe_run(meta)
    if not panels:
        graph = (meta.get("config") or {}).get("graph", "none")
        raise CheckpointError(f"{title}: the model has no label graph to plot (graph {graph!r})")
    order, how = label_order(panels, cluster)
    footnote = f"{len(names)} labels, {how}; cell [i, j] at row i, column j."
    if note:
        footnote += f" {note}"
    return plot_adjacency_panels(
        panels, names, order=order, out=out, suptitle=title, footnote=footnote, dpi=dpi
    )


@dataclass
class GraphLearning:
    """What a learned graph holds, in numbers: see `graph_learning`."""

    offdiag: np.ndarray  # (C,) Σ_{j≠i} |Â_ij|: what label i receives from the others
    spearman: dict[str, float]  # "A vs P(j|i)", "A vs P(i|j)", "Â vs P(j|i)", "Â vs P(i|j)"
    neighbours: list[list[tuple[str, float]]]  # per label: its three largest off-diagonal Â_ij

    def lines(self, names: Sequence[str]) -> list[str]:
        out = [
            f"off-diagonal mass of Â per row (Σ_j≠i |Â_ij|; 0: Â = I): mean "
            f"{self.offdiag.mean():.4f}, max {self.offdiag.max():.4f} "
            f"({names[int(self.offdiag.argmax())]})"
        ]
        if self.spearman:
            cells = [
                f"{key} {'undefined (constant)' if math.isnan(v) else f'{v:+.3f}'}"
                for key, v in self.spearman.items()
            ]
            out.append("Spearman ρ over the off-diagonal pairs: " + "; ".join(cells))
        else:
            out.append("Spearman ρ: no co-occurrence counts in the checkpoint")
        out.append("top-3 neighbours by Â (row i gathers from):")
        for name, row in zip(names, self.neighbours, strict=True):
            listed = ", ".join(f"{n} {w:.3g}" for n, w in row) or "-"
            out.append(f"  {name}: {listed}")
        return out


def spearman_rho(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's ρ of two vectors; NaN when either is constant (ρ is undefined)."""
    from scipy.stats import spearmanr

    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(spearmanr(x, y).statistic)


def graph_learning(
    adj: np.ndarray,
    adj_hat: np.ndarray,
    names: Sequence[str],
    cooccurrence: Mapping[str, Any] | None = None,
) -> GraphLearning:
    """Off-diagonal mass of Â per row, the Spearman correlation of A and of Â with the
    training split's P(j|i) in both orientations (``[i, j]`` against P(j|i) and against
    P(i|j)), and each label's three strongest neighbours in Â."""
    import torch

    from agcn_pyg.graph import cooccurrence_conditional, offdiagonal_mass

    adj, adj_hat = np.asarray(adj, dtype=np.float64), np.asarray(adj_hat, dtype=np.float64)
    c = adj_hat.shape[0]
    off = ~np.eye(c, dtype=bool)
    offdiag = offdiagonal_mass(torch.from_numpy(adj_hat)).numpy()
    spearman: dict[str, float] = {}
    if cooccurrence is not None and c > 2:
        p = cooccurrence_conditional(cooccurrence["adj"], cooccurrence["nums"])
        for label, matrix in (("A", adj), ("Â", adj_hat)):
            for orientation, target in (("P(j|i)", p), ("P(i|j)", p.T)):
                spearman[f"{label} vs {orientation}"] = spearman_rho(matrix[off], target[off])
    neighbours = []
    for i in range(c):
        row = np.where(off[i], adj_hat[i], -np.inf)
        top = [j for j in np.argsort(-row, kind="stable")[:3] if row[j] > 0]
        neighbours.append([(names[j], float(adj_hat[i, j])) for j in top])
    return GraphLearning(offdiag, spearman, neighbours)


def default_out(ckpt: str | Path) -> Path:
    """Where the CLI writes the figure when ``--out`` is not given: beside the checkpoint."""
    p = Path(ckpt)
    return p.with_name(f"{p.stem}_adjacency.png")


def plot_checkpoint(
    ckpt: str | Path, out: str | Path | None = None, cluster: bool = True, dpi: float = DEFAULT_DPI
) -> Path:
    """Load ``ckpt`` with ``agcn_pyg.load_model``, write its label-graph PNG, return its path."""
    from agcn_pyg import load_model

    model, meta = load_model(ckpt, map_location="cpu")
    target = Path(out) if out is not None else default_out(ckpt)
    summary = checkpoint_graph_learning(model, meta)
    note = None
    if summary is not None:
        print("\n".join(summary.lines(list(meta["label_names"]))))
        note = headline(summary) + "."
    plot_model(model, meta, target, cluster=cluster, note=note, dpi=dpi)
    return target


def checkpoint_graph_learning(model: GraphModel, meta: Mapping[str, Any]) -> GraphLearning | None:
    """`graph_learning` of a loaded model; ``None`` for the baseline."""
    graph = model.adjacency()
    if graph is None:
        return None
    adj, adj_hat = (to_numpy(m) for m in graph)
    return graph_learning(adj, adj_hat, list(meta["label_names"]), meta.get("cooccurrence"))


def headline(summary: GraphLearning) -> str:
    """`GraphLearning` in one sentence, for a figure's footnote."""
    rho = summary.spearman.get("Â vs P(j|i)")
    corr = "" if rho is None or math.isnan(rho) else f", Spearman ρ(Â, P(j|i)) {rho:+.2f}"
    return f"Mean off-diagonal mass of Â per row {summary.offdiag.mean():.4f}{corr}"


# --------------------------------------------------------------------------- CLI


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Heatmaps of a checkpoint's learned label graph A, Â, co-occurrence "
        "P(j|i), ML-GCN's Â and attention maps.",
    )
    parser.add_argument("checkpoint", type=user_path, help="checkpoint written by `agcn train`")
    parser.add_argument(
        "--out",
        type=user_path,
        default=None,
        help="PNG to write (default: <checkpoint>_adjacency.png beside it)",
    )
    parser.add_argument(
        "--no-cluster",
        dest="cluster",
        action="store_false",
        help="keep the data set's label order instead of clustering the training labels' "
        "co-occurrence P(j|i)",
    )
    parser.add_argument("--dpi", type=float, default=DEFAULT_DPI, help="PNG resolution")
    return parser


def main(args: argparse.Namespace) -> int:
    check_flags(args, {"dpi": (POSITIVE,)})
    out = plot_checkpoint(args.checkpoint, args.out, cluster=args.cluster, dpi=args.dpi)
    print(f"wrote {out}")
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """`python -m agcn_pyg.analysis.plot_adjacency`: parse ``argv`` and run `main`."""
    return run_cli(get_args_parser, main, argv)


if __name__ == "__main__":
    sys.exit(cli())
