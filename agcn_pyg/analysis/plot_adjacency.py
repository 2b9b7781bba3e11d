"""Heatmaps of a model's label graph: learned A, normalised Â, co-occurrence and attention.

Every panel is a ``C × C`` matrix whose entry ``[i, j]`` sits at row ``i``, column ``j``; in
a GCN layer ``H' = δ(Â H W)`` (Eq. 3) row ``i`` of ``Â`` says how much label ``i`` gathers
from label ``j``. Panels share one label order, optionally found by hierarchical clustering
so that groups of labels that are strongly linked show as blocks on the diagonal.

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
from typing import Any, Protocol

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure
from scipy.cluster.hierarchy import leaves_list, linkage
from scipy.spatial.distance import squareform

from agcn_pyg.analysis._common import run_cli, save_figure
from agcn_pyg.analysis.attention import attention_maps
from agcn_pyg.errors import CheckpointError, DataError
from agcn_pyg.models import LABEL_GRAPHS

DEFAULT_DPI = 120
MASK_NOTE = {"sequential": "white", "diverging": "black"}
# Colour maps per scale: diverging is centred at 0 so the sign of a learned A is visible.
CMAPS = {"sequential": "viridis", "diverging": "RdBu_r"}


@dataclass(frozen=True)
class Panel:
    """One ``C × C`` heatmap.

    ``scale`` is ``"diverging"`` (colour scale symmetric about 0), ``"sequential"`` or
    ``"auto"`` (diverging when any shown entry is negative). With ``mask_diagonal`` the
    diagonal is drawn in a neutral colour and left out of the colour scale, so that a
    dominant self-weight does not wash out the off-diagonal structure.
    """

    title: str
    matrix: np.ndarray
    scale: str = "auto"
    mask_diagonal: bool = False
    colorbar_label: str = ""

    def __post_init__(self) -> None:
        if self.scale not in {"auto", *CMAPS}:
            raise ValueError(f"Panel.scale must be 'auto' or one of {sorted(CMAPS)}")


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
    tree = linkage(squareform(dist, checks=False), method="average", optimal_ordering=True)
    return leaves_list(tree).astype(np.int64)


def _correlation_panel(A: Any, graph_name: str | None) -> Panel:
    """``A``, titled by its label graph's ``title`` (`LabelGraph.title`)."""
    if graph_name is None:
        head = "learned A"
    elif graph_name.lower() in LABEL_GRAPHS:
        head = LABEL_GRAPHS.get(graph_name.lower()).title
    else:
        head = f"A (graph {graph_name!r})"
    return Panel(
        title=f"{head}\nred > 0 > blue, white = 0",
        matrix=to_numpy(A),
        scale="diverging",
        colorbar_label="A[i, j]",
    )


def _normalised_panel(A_hat: Any, static: bool, guard: str | None) -> Panel:
    """``Â``, titled by how it was normalised (Eq. 4 with its guard, or ML-GCN's gen_adj)."""
    normalisation = (
        r"$\hat{A} = (A D)^\top D$, ML-GCN's gen_adj"
        if static
        else rf"$\hat{{A}} = \tilde{{D}}^{{-1/2}}({'g(A)' if guard else 'A'} + I)"
        rf"\tilde{{D}}^{{-1/2}}$ (Eq. 4{f', g = {guard}' if guard else ''})"
    )
    return Panel(
        title=f"{normalisation}\nused by the GCN: row i aggregates from column j",
        matrix=to_numpy(A_hat),
        mask_diagonal=True,
        colorbar_label=r"$\hat{A}[i, j]$ (off-diagonal)",
    )


def _mlgcn_panel(mlgcn: Any, params: Mapping[str, Any]) -> Panel:
    """ML-GCN's ``Â`` from the co-occurrence counts, titled by ``t``, ``p``, ``reweight``."""
    kind = "re-weighted" if params.get("reweight", True) else "binary"
    # p only enters the re-weighted variant.
    keys = ("t", "p") if kind == "re-weighted" else ("t",)
    detail = [f"{k} = {params[k]}" for k in keys if k in params]
    return Panel(
        title=f"ML-GCN $\\hat{{A}}$ from co-occurrence\n({', '.join([kind, *detail])})",
        matrix=to_numpy(mlgcn),
        mask_diagonal=True,
        colorbar_label=r"ML-GCN $\hat{A}[i, j]$ (off-diagonal)",
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
    panels: list[Panel] = []
    name = (graph_name or "").lower()
    static = name == "static"
    # ML-GCN's controls (shuffled, uniform) are normalised by its gen_adj too
    gen_adj = name in LABEL_GRAPHS and LABEL_GRAPHS.get(name).gen_adj
    if A is not None:
        panels.append(_correlation_panel(A, graph_name))
    if A_hat is not None:
        panels.append(_normalised_panel(A_hat, gen_adj, guard))
    if cooccurrence is not None:
        panels.append(
            Panel(
                title="co-occurrence P(j | i) = N(i and j) / N(i)\nrow i: given label i",
                matrix=conditional_probability(cooccurrence["adj"], cooccurrence["nums"]),
                scale="sequential",
                mask_diagonal=True,
                colorbar_label="P(j | i)",
            )
        )
    if mlgcn is not None and not static:  # for the static graph, Â above is ML-GCN's Â
        panels.append(_mlgcn_panel(mlgcn, mlgcn_params or {}))
    for k, att in enumerate(attention, start=1):
        panels.append(
            Panel(
                title=f"attention, layer {k} (heads averaged)\nrow i: target, column j: source",
                matrix=to_numpy(att),
                scale="sequential",
                mask_diagonal=True,
                colorbar_label="attention weight (off-diagonal)",
            )
        )
    return panels


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


def _geometry(c: int, n_panels: int, max_label_chars: int) -> _Geometry:
    # One tick label needs about font + 2 pt of height; the heatmap grows with C until every
    # label fits, and labels are thinned only beyond a side of 11 inches (C > ~100).
    font = 9.0 if c <= 20 else 7.0 if c <= 48 else 6.0
    need = c * (font + 2.0) / 72.0
    side = max(3.2, need)
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
        cell_w=side + label_in + 1.3,
        cell_h=side + label_in + 0.9,
        ncols=ncols,
        nrows=nrows,
    )


def figure_size(c: int, n_panels: int, label_names: Sequence[str] = ()) -> tuple[float, float]:
    """The figure size (inches) used for ``n_panels`` heatmaps of ``C`` labels."""
    longest = max((len(s) for s in label_names), default=12)
    g = _geometry(c, n_panels, longest)
    return g.ncols * g.cell_w, g.nrows * g.cell_h + 0.6


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
        ax.text(j, i, text, ha="center", va="center", fontsize=6, color="w" if dark else "k")


def _draw_panel(
    ax: Axes, panel: Panel, order: np.ndarray, names: list[str], g: _Geometry, annotate: bool
) -> None:
    c = len(order)
    m = panel.matrix[np.ix_(order, order)]
    mask = ~np.isfinite(m)
    title = panel.title
    if panel.mask_diagonal:
        mask = mask | np.eye(c, dtype=bool)
    shown = np.ma.array(m, mask=mask)
    values = shown.compressed()
    scale = panel.scale
    if scale == "auto":
        scale = "diverging" if values.size and values.min() < 0 else "sequential"
    if scale == "diverging":
        lim = float(np.abs(values).max()) if values.size else 1.0
        lim = lim if lim > 0 else 1.0
        norm = Normalize(-lim, lim)
    else:
        lo = min(0.0, float(values.min())) if values.size else 0.0
        hi = float(values.max()) if values.size else 1.0
        norm = Normalize(lo, hi if hi > lo else lo + 1.0)
    notes = []
    if panel.mask_diagonal:
        diag = np.diag(m)
        mean = float(np.nanmean(diag)) if np.isfinite(diag).any() else math.nan
        notes.append(f"diagonal masked in {MASK_NOTE[scale]}: mean {mean:.3g}")
    undefined = int((~np.isfinite(m[~np.eye(c, dtype=bool)])).sum())
    if undefined:
        notes.append(f"{undefined} undefined entries in {MASK_NOTE[scale]}")
    if notes:
        title += f"\n({'; '.join(notes)})"
    cmap: Colormap = mpl.colormaps[CMAPS[scale]].with_extremes(bad=MASK_NOTE[scale])
    im = ax.imshow(shown, cmap=cmap, norm=norm, interpolation="nearest", aspect="equal")
    ax.set_title(title, fontsize=10)
    ticks = np.arange(0, c, g.step)
    ax.set_xticks(ticks, [names[k] for k in ticks], rotation=90, fontsize=g.font)
    ax.set_yticks(ticks, [names[k] for k in ticks], fontsize=g.font)
    ax.tick_params(length=2, pad=1)
    thinned = f" (one label in {g.step} named)" if g.step > 1 else ""
    ax.set_xlabel(f"column j{thinned}", fontsize=9)
    ax.set_ylabel("row i", fontsize=9)
    cb = ax.figure.colorbar(im, ax=ax, shrink=0.8, pad=0.02, fraction=0.05)
    cb.set_label(panel.colorbar_label or "value", fontsize=9)
    cb.ax.tick_params(labelsize=8)
    if annotate:
        _annotate(ax, m, mask, cmap, norm)


def plot_adjacency_panels(
    panels: Sequence[Panel | tuple[str, np.ndarray]],
    label_names: Sequence[str],
    order: Sequence[int] | np.ndarray | None = None,
    out: str | Path | None = None,
    *,
    suptitle: str | None = None,
    annotate: bool | None = None,
    dpi: float = DEFAULT_DPI,
) -> Figure:
    """Draw ``C × C`` heatmaps side by side with label names on both axes.

    Args:
        panels: :class:`Panel` objects, or ``(title, matrix)`` pairs (auto colour scale).
        label_names: the ``C`` class names, in the matrices' order.
        order: a permutation of ``range(C)`` applied to rows and columns of every panel
            (e.g. from :func:`cluster_order`); ``None`` keeps the given order.
        out: PNG path; written atomically when given.
        suptitle: first line of the figure title.
        annotate: write each value in its cell; default only for ``C <= 12``.
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
    g = _geometry(c, len(items), max((len(s) for s in shown_names), default=1))
    fig = Figure(figsize=figure_size(c, len(items), shown_names), layout="constrained")
    axes = fig.subplots(g.nrows, g.ncols, squeeze=False).ravel()
    do_annotate = c <= 12 if annotate is None else annotate
    for ax, panel in zip(axes, items, strict=False):
        _draw_panel(ax, panel, perm, shown_names, g, do_annotate)
    for ax in axes[len(items) :]:
        ax.set_axis_off()
    head = suptitle or "Label graph"
    fig.suptitle(f"{head}\n{c} labels; entry [i, j] is drawn at row i, column j", fontsize=12)
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


def model_panels(
    model: GraphModel, meta: Mapping[str, Any]
) -> tuple[list[Panel], tuple[str, np.ndarray] | None]:
    """Panels for a loaded model, and the ``(name, matrix)`` to cluster labels by.

    Labels are clustered by ``Â`` (the graph the GCN uses), else by the first attention map.

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
    panels = adjacency_panels(
        A,
        A_hat,
        cooccurrence=cooc,
        mlgcn=mlgcn,
        attention=attention,
        graph_name=config.get("graph"),
        guard=config.get("guard"),
        mlgcn_params=params,
    )
    basis = None
    if A_hat is not None:
        basis = ("Â", A_hat)
    elif attention:
        basis = ("layer-1 attention", attention[0])
    return panels, basis


def plot_model(
    model: GraphModel,
    meta: Mapping[str, Any],
    out: str | Path | None = None,
    *,
    cluster: bool = True,
    title: str = "Label graph",
    dpi: float = DEFAULT_DPI,
) -> Figure:
    """Heatmaps of a loaded model's label graph (see :func:`model_panels`)."""
    names = list(meta.get("label_names") or [])
    panels, basis = model_panels(model, meta)
    if not panels:
        graph = (meta.get("config") or {}).get("graph", "none")
        raise CheckpointError(f"{title}: the model has no label graph to plot (graph {graph!r})")
    order = None
    if cluster and basis is not None:
        order = cluster_order(basis[1])
        title = f"{title}, labels clustered by {basis[0]}"
    return plot_adjacency_panels(panels, names, order=order, out=out, suptitle=title, dpi=dpi)


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
    title = f"Label graph of {Path(ckpt).name}"
    summary = checkpoint_graph_learning(model, meta)
    if summary is not None:
        print("\n".join(summary.lines(list(meta["label_names"]))))
        title += "\n" + _headline(summary)
    plot_model(model, meta, target, cluster=cluster, title=title, dpi=dpi)
    return target


def checkpoint_graph_learning(model: GraphModel, meta: Mapping[str, Any]) -> GraphLearning | None:
    """`graph_learning` of a loaded model; ``None`` for the baseline."""
    graph = model.adjacency()
    if graph is None:
        return None
    adj, adj_hat = (to_numpy(m) for m in graph)
    return graph_learning(adj, adj_hat, list(meta["label_names"]), meta.get("cooccurrence"))


def _headline(summary: GraphLearning) -> str:
    rho = summary.spearman.get("Â vs P(j|i)")
    corr = "" if rho is None or math.isnan(rho) else f", Spearman ρ(Â, P(j|i)) {rho:+.2f}"
    return f"mean off-diagonal mass of Â per row {summary.offdiag.mean():.4f}{corr}"


# --------------------------------------------------------------------------- CLI


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Heatmaps of a checkpoint's learned label graph A, Â, co-occurrence "
        "P(j|i), ML-GCN's Â and attention maps.",
    )
    parser.add_argument("checkpoint", type=Path, help="checkpoint written by `agcn train`")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="PNG to write (default: <checkpoint>_adjacency.png beside it)",
    )
    parser.add_argument(
        "--no-cluster",
        dest="cluster",
        action="store_false",
        help="keep the data set's label order instead of clustering",
    )
    parser.add_argument("--dpi", type=float, default=DEFAULT_DPI, help="PNG resolution")
    return parser


def main(args: argparse.Namespace) -> int:
    out = plot_checkpoint(args.checkpoint, args.out, cluster=args.cluster, dpi=args.dpi)
    print(f"wrote {out}")
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """`python -m agcn_pyg.analysis.plot_adjacency`: parse ``argv`` and run `main`."""
    return run_cli(get_args_parser, main, argv)


if __name__ == "__main__":
    sys.exit(cli())
