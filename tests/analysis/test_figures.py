"""Each figure rendered on tiny data, its elements asserted: titles present, wrapped and inside
the figure, colour bars and their shared scale, error bars, marked classes, legend labels."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from sklearn.metrics import average_precision_score

from agcn_pyg.analysis import alpha_sweep as sweep
from agcn_pyg.analysis import plot_ap_delta as deltas
from agcn_pyg.analysis._common import wrap_title
from agcn_pyg.analysis.plot_adjacency import (
    ANNOTATE_MAX_LABELS,
    CELL_FONT,
    adjacency_panels,
    describe_run,
    plot_adjacency_panels,
)
from agcn_pyg.errors import DataError
from agcn_pyg.graph import cooccurrence_conditional, mlgcn_adjacency

DPI = 40


def _draw(fig: Figure):
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _titles(fig: Figure) -> list:
    """Every title-like text of the figure: its title and footnote, the axes' titles, x
    labels and colour-bar labels, the legends' labels."""
    texts = [t for t in (fig._suptitle, fig._supxlabel) if t is not None]
    for ax in fig.axes:
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label]
        legend = ax.get_legend()
        texts += legend.get_texts() if legend else []
    for legend in fig.legends:
        texts += legend.get_texts()
    return [t for t in texts if t.get_text()]


def _assert_texts_inside(fig: Figure, max_title_lines: int = 2) -> None:
    """Every title-like text is inside the figure (not cut off) and no axes title or figure
    title runs past ``max_title_lines`` lines."""
    renderer = _draw(fig)
    box = fig.bbox
    for text in _titles(fig):
        extent = text.get_window_extent(renderer)
        assert extent.x0 >= box.x0 - 1 and extent.x1 <= box.x1 + 1, text.get_text()
        assert extent.y0 >= box.y0 - 1 and extent.y1 <= box.y1 + 1, text.get_text()
    heads = [fig._suptitle, *(ax.title for ax in fig.axes)]
    for text in (t for t in heads if t is not None and t.get_text()):
        assert len(text.get_text().splitlines()) <= max_title_lines, text.get_text()


def _legend_labels(fig: Figure) -> list[str]:
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    return [t.get_text() for legend in legends for t in legend.get_texts()]


# --------------------------------------------------------------------------- adjacency


def _counts(c: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Asymmetric P(j | i): labels of very different frequencies."""
    rng = np.random.default_rng(seed)
    labels = rng.random((400, c)) < np.linspace(0.05, 0.6, c)
    adj = (labels.T.astype(float) @ labels.astype(float)).copy()
    np.fill_diagonal(adj, 0.0)
    return {"adj": adj, "nums": labels.sum(0).astype(float)}


def _panels(c: int, faint: float = 0.009) -> tuple[list, dict]:
    """Panels of a near-identity learned Â (largest off-diagonal ``faint``) beside ML-GCN's."""
    rng = np.random.default_rng(1)
    a_hat = np.eye(c) * 0.98 + faint * rng.random((c, c)) * ~np.eye(c, dtype=bool)
    a_hat[0, 1] = faint
    counts = _counts(c)
    mlgcn = mlgcn_adjacency(counts["adj"], counts["nums"], t=0.4, p=0.25, reweight=True)
    att = rng.random((c, c))
    panels = adjacency_panels(
        rng.normal(scale=0.01, size=(c, c)),
        a_hat,
        counts,
        mlgcn.numpy().astype(np.float64),
        [att / att.sum(1, keepdims=True)] * 2,
        graph_name="conv",
        guard="relu",
        mlgcn_params={"t": 0.4, "p": 0.25, "reweight": True},
    )
    return panels, {"A_hat": a_hat, "mlgcn": mlgcn.numpy(), "counts": counts}


def test_adjacency_figure_elements_and_one_scale_for_every_a_hat_panel(make_labels) -> None:
    c = 6
    panels, made = _panels(c)
    fig = plot_adjacency_panels(
        panels, make_labels(c), suptitle="my_run: A-GCN; GNN gcn, 2 layers", footnote="note"
    )
    _assert_texts_inside(fig)
    heatmaps = {
        p.key: ax for p, ax in zip(panels, [ax for ax in fig.axes if ax.images], strict=True)
    }
    assert len(heatmaps) == len(panels) == 6
    for ax in heatmaps.values():
        assert ax.get_title() and ax.images[0].colorbar is not None  # a title and a colour bar
    assert len(fig.axes) == 2 * len(panels)
    off = ~np.eye(c, dtype=bool)
    top = max(made["A_hat"][off].max(), made["mlgcn"][off].max())
    for key in ("A_hat", "mlgcn"):  # the same vmin and vmax, stated in the colour bar
        norm = heatmaps[key].images[0].norm
        assert (norm.vmin, norm.vmax) == pytest.approx((0.0, top))
        label = heatmaps[key].images[0].colorbar.ax.get_ylabel()
        assert f"one scale for the 2 Â panels: 0 to {top:.2g}" in label
    own = heatmaps["A_hat"].images[0].colorbar.ax.get_ylabel()
    assert f"max {made['A_hat'][off].max():.2g}" in own  # each panel's own largest entry
    probability = heatmaps["cooccurrence"].images[0]
    assert (probability.norm.vmin, probability.norm.vmax) == (0.0, 1.0)
    att = [heatmaps[k].images[0].norm for k in ("attention1", "attention2")]
    assert (att[0].vmin, att[0].vmax) == (att[1].vmin, att[1].vmax)
    assert fig.get_suptitle() == "my_run: A-GCN; GNN gcn, 2 layers"


def test_a_near_identity_a_hat_looks_faint_beside_mlgcns(make_labels) -> None:
    # The issue: A-GCN's largest off-diagonal 0.009 drawn as bright as ML-GCN's 0.21.
    panels, made = _panels(5, faint=0.009)
    fig = plot_adjacency_panels(panels, make_labels(5))
    heatmaps = [a for a in fig.axes if a.images]
    images = {p.key: ax.images[0] for p, ax in zip(panels, heatmaps, strict=True)}
    faint = images["A_hat"].norm(made["A_hat"][0, 1])
    bright = images["mlgcn"].norm(made["mlgcn"][~np.eye(5, dtype=bool)].max())
    assert bright == pytest.approx(1.0) and faint < 0.1


def test_the_p_given_i_diagonal_is_said_to_be_one_and_unseen_labels_undefined(make_labels) -> None:
    counts = _counts(4)
    counts["adj"][3], counts["adj"][:, 3], counts["nums"][3] = 0.0, 0.0, 0.0  # never occurs
    with pytest.warns(UserWarning, match="never occur"):
        panels = adjacency_panels(None, None, counts)
    fig = plot_adjacency_panels(panels, make_labels(4))
    (ax,) = [a for a in fig.axes if a.images]
    xlabel = ax.get_xlabel()
    assert "diagonal (P(i | i) = 1) masked" in xlabel and "mean 0" not in xlabel
    assert "3 undefined entries" in xlabel  # row 3 of P(j | i) has no N(i)
    np.testing.assert_array_equal(np.diag(panels[0].matrix)[:3], [1.0, 1.0, 1.0])
    assert np.isnan(panels[0].matrix[3]).all()


def test_mlgcns_panel_notes_its_transpose_and_the_note_is_true() -> None:
    c = 6
    counts = _counts(c, seed=3)
    p = cooccurrence_conditional(counts["adj"], counts["nums"])
    assert not np.array_equal(p >= 0.4, (p >= 0.4).T)  # P(j | i) is asymmetric here
    a_hat = mlgcn_adjacency(counts["adj"], counts["nums"], t=0.4, p=0.25, reweight=True).numpy()
    off = ~np.eye(c, dtype=bool)
    # gen_adj's Â[i, j] is non-zero exactly where P(i | j), the transpose, passes t
    np.testing.assert_array_equal((a_hat > 0)[off], (p.T >= 0.4)[off])
    (panel,) = adjacency_panels(None, None, mlgcn=a_hat, mlgcn_params={"t": 0.4})
    assert "built from P(i | j): gen_adj transposes P(j | i)" in panel.title
    (static,) = adjacency_panels(None, a_hat, graph_name="static")
    assert "gen_adj transposes P(j | i)" in static.title


def test_cell_values_are_8_pt_and_fit_their_cells(make_labels) -> None:
    c = ANNOTATE_MAX_LABELS
    rng = np.random.default_rng(0)
    m = rng.uniform(-0.009, 0.009, (c, c))  # "-0.005": the widest text a cell gets
    fig = plot_adjacency_panels([("A", m)], make_labels(c))
    fig.set_dpi(DPI)
    renderer = _draw(fig)
    ax = next(a for a in fig.axes if a.images)
    cell = ax.transData.transform((1, 0))[0] - ax.transData.transform((0, 0))[0]
    assert len(ax.texts) > c * c // 2
    for text in ax.texts:
        assert text.get_fontsize() >= CELL_FONT == 8
        assert text.get_window_extent(renderer).width < cell
    many = plot_adjacency_panels([("A", rng.random((16, 16)))], make_labels(16))
    assert not next(a for a in many.axes if a.images).texts  # no numbers above 12 labels


def test_long_titles_wrap_onto_lines_inside_the_figure(make_labels) -> None:
    panels, _ = _panels(4)
    name = "a_very_long_run_name_of_a_user_who_names_runs_after_their_whole_config_file"
    fig = plot_adjacency_panels(panels[:2], make_labels(4), suptitle=f"{name}: A-GCN; GNN gcn")
    _assert_texts_inside(fig)
    assert "".join(fig.get_suptitle().split("\n")).startswith(name)


def test_wrap_title_keeps_formulas_whole_and_cuts_only_words_wider_than_a_line() -> None:
    text = r"$\hat{A} = \tilde{D}^{-1/2}$ P(j | i) with t = 0.4 " + "x" * 80
    lines = wrap_title(text, 2.0, 10).splitlines()
    assert any(r"$\hat{A} = \tilde{D}^{-1/2}$" in line for line in lines)
    assert any("P(j | i)" in line for line in lines) and any("t = 0.4" in line for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")  # nothing lost
    assert max(len(line) for line in lines if "$" not in line) <= 2.0 * 72 / (10 * 0.57)
    assert wrap_title("one\ntwo", 5, 10) == "one\ntwo"


def test_describe_run_names_the_run_its_graph_and_its_gnn() -> None:
    gat = {"graph": "conv", "gnn": "gat", "num_layers": 2}
    meta = {"run_config": {"name": "mine", "variant": "agcn_gat"}, "config": gat}
    assert describe_run(meta) == "mine: A-GCN (GAT instead of GCN); GNN gat, 2 layers"
    # the variant no longer describes the model: the graph's own title
    cos = {"run_config": {"name": "mine", "variant": "agcn"}, "config": {"graph": "cos"}}
    assert describe_run(cos).startswith("mine: A = cos(E_i, E_j) (Cos-A, Eq. 7); GNN gcn")
    plain = {"run_config": {"name": "mine"}, "config": {"graph": "conv", "gnn": "gcn"}}
    assert describe_run(plain).startswith("mine: learned A (LG module, Eq. 5)")
    folder = {"path": "runs/exp3/best.pt", "config": {"graph": "none"}}
    assert describe_run(folder) == "exp3: no label graph (baseline)"


# --------------------------------------------------------------------------- AP deltas


def _scored(n: int, c: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two runs' continuous scores (no ties) on the same ``N × C`` targets."""
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, c)) < 0.35).astype(np.int64)
    targets[:2] = 1  # every class has positives
    scores_a = targets * rng.normal(1.0, 1.0, (n, c)) + rng.normal(0, 1, (n, c))
    scores_b = targets * rng.normal(0.6, 1.0, (n, c)) + rng.normal(0, 1, (n, c))
    return scores_a, scores_b, targets


def test_paired_bootstrap_matches_an_independent_restatement() -> None:
    scores_a, scores_b, targets = _scored(30, 3)
    got = deltas.paired_class_bootstrap(scores_a, scores_b, targets, 40, seed=7, protocol="sklearn")
    rng = np.random.default_rng(7)
    expected = np.full((40, 3), np.nan)
    for r in range(40):
        idx = rng.integers(0, 30, 30)  # one draw of images for both runs
        for k in range(3):
            t = targets[idx, k]
            if t.any():
                expected[r, k] = 100 * (
                    average_precision_score(t, scores_a[idx, k])
                    - average_precision_score(t, scores_b[idx, k])
                )
    np.testing.assert_allclose(got, expected, atol=1e-9)
    intervals = deltas.intervals_of(got, np.ones(3, dtype=bool))
    np.testing.assert_allclose(intervals.low, np.nanpercentile(expected, 2.5, axis=0))
    np.testing.assert_allclose(intervals.high, np.nanpercentile(expected, 97.5, axis=0))
    means = np.percentile(expected.mean(axis=1), [2.5, 97.5])
    np.testing.assert_allclose(intervals.mean, means)


def test_ap_delta_figure_elements(make_labels) -> None:
    c = 8
    names = make_labels(c)
    scores_a, scores_b, targets = _scored(60, c, seed=1)
    from agcn_pyg.metrics import average_precision

    ap_a = 100 * average_precision(scores_a, targets)
    ap_b = 100 * average_precision(scores_b, targets)
    boot = deltas.paired_class_bootstrap(scores_a, scores_b, targets, 50)
    intervals = deltas.intervals_of(boot, np.ones(c, dtype=bool))
    marks = [names[2], names[5]]
    fig = deltas.plot_ap_delta(
        ap_a, ap_b, names, "A-GCN", "Baseline", top=3, intervals=intervals, marks=marks
    )
    _assert_texts_inside(fig)
    ax = fig.axes[0]
    bars = [k for k in ax.containers if isinstance(k, BarContainer)]
    errors = [k for k in ax.containers if isinstance(k, ErrorbarContainer)]
    assert len(bars) == 1 and len(errors) == 1
    index, _, _ = deltas.sorted_classes(ap_a, ap_b, names)
    (segments,) = errors[0].lines[2]
    spans = np.array([[seg[0][1], seg[1][1]] for seg in segments.get_segments()])
    np.testing.assert_allclose(np.sort(spans, axis=1)[:, 0], intervals.low[index])
    np.testing.assert_allclose(np.sort(spans, axis=1)[:, 1], intervals.high[index])
    shown = [t.get_text() for t in ax.get_xticklabels()]
    bold = {t.get_text() for t in ax.get_xticklabels() if t.get_fontweight() == "bold"}
    assert bold == set(marks)
    triangles = next(line for line in ax.get_lines() if line.get_marker() == "v")
    assert sorted(triangles.get_xdata()) == sorted(shown.index(m) for m in marks)
    labels = _legend_labels(fig)
    assert all(label.strip() for label in labels)
    assert any(label.startswith("marked classes: ") for label in labels)
    assert any("bootstrap" in label for label in labels)
    assert any("interval [" in label for label in labels)  # the mean Δ's interval
    assert "A-GCN" in fig.get_suptitle() and "Baseline" in fig.get_suptitle()


def test_gains_are_blue_losses_red_and_the_legend_has_no_empty_entry(make_labels) -> None:
    ap_b = np.full(4, 50.0)
    gains = ap_b + np.array([3.0, 1.0, 0.5, 0.2])
    fig = deltas.plot_ap_delta(gains, ap_b, make_labels(4), "A", "B", top=2)
    (bars,) = fig.axes[0].containers
    red, green, blue = to_rgb(bars.patches[0].get_facecolor())
    assert blue > red and blue > green  # a gain: blue
    r, g, b = to_rgb(deltas.LOSS)
    assert r > g and r > b  # a loss: red
    labels = _legend_labels(fig)
    assert labels[0] == "top 2 gains: A better"
    assert not any("loss" in label for label in labels)  # no "top-0 losses" entry
    assert all(label.strip() for label in labels)


def test_run_names_wrap_and_nothing_is_cut_off(make_labels) -> None:
    ap = np.linspace(40, 60, 4)
    # the user run: its title was cut at the right
    fig = deltas.plot_ap_delta(ap, ap[::-1], make_labels(4), "my_data_agcn", "my_data_baseline")
    _assert_texts_inside(fig)
    long = "my_data_agcn_with_a_name_as_long_as_a_users_experiment_log_would_make_it"
    fig = deltas.plot_ap_delta(ap, ap[::-1], make_labels(4), long, long + "_baseline")
    _assert_texts_inside(fig, max_title_lines=6)
    assert fig.get_suptitle().replace("\n", "").count(long) == 2  # wrapped, never cut


def _write_eval(folder: Path, name: str, scores, targets, names, ap=None) -> Path:
    from agcn_pyg.metrics import average_precision

    folder.mkdir(parents=True, exist_ok=True)
    per_class = 100 * average_precision(scores, targets) if ap is None else ap
    doc = {
        "name": name,
        "label_names": names,
        "metrics": {"mAP": float(np.nanmean(per_class))},
        "ap_protocol": "mlgcn",
        "per_class_AP": [None if math.isnan(v) else float(v) for v in per_class],
    }
    (folder / "metrics.json").write_text(json.dumps(doc))
    np.savez(folder / "scores.npz", logits=scores, targets=targets, label_names=np.array(names))
    return folder


def test_intervals_from_evaluation_folders_and_their_checks(
    tmp_path: Path, make_labels, capsys
) -> None:
    names = make_labels(5)
    scores_a, scores_b, targets = _scored(40, 5, seed=2)
    a = _write_eval(tmp_path / "a", "A-GCN", scores_a, targets, names)
    b = _write_eval(tmp_path / "b", "baseline", scores_b, targets, names)
    ea, eb = deltas.load_pair(a, b)
    intervals, note = deltas.eval_intervals(ea, eb, resamples=30, seed=3)
    boot = deltas.paired_class_bootstrap(scores_a, scores_b, targets, 30, seed=3)
    assert note is None
    np.testing.assert_allclose(intervals.low, np.nanpercentile(boot, 2.5, axis=0))
    out = tmp_path / "fig.png"
    argv = [str(a), str(b), "--out", str(out), "--mark", names[1], "--resamples", "20"]
    assert deltas.cli(argv) == 0 and out.is_file()
    assert deltas.cli([str(a), str(b), "--mark", "zebra"]) == 2
    assert "'zebra' is not a class" in capsys.readouterr().err
    # no scores: the figure says it has no intervals
    (tmp_path / "b" / "scores.npz").unlink()
    intervals, note = deltas.eval_intervals(ea, eb)
    assert intervals is None and note == f"no intervals: no scores.npz in {tmp_path.name}/b"
    # scores of other images, or of another evaluation, are refused
    _write_eval(tmp_path / "b", "baseline", scores_b[:-1], targets[:-1], names, ea.per_class_ap)
    with pytest.raises(DataError, match="different images"):
        deltas.eval_intervals(*deltas.load_pair(a, b))
    _write_eval(tmp_path / "b", "baseline", scores_b, targets, names, ea.per_class_ap)
    with pytest.raises(DataError, match="do not give"):
        deltas.eval_intervals(*deltas.load_pair(a, b))


def test_the_figures_mean_interval_is_the_demo_reports(tmp_path: Path, make_labels) -> None:
    # The demo quotes the paired bootstrap of mAP(A-GCN) − mAP(B); its figure's legend must
    # give the same interval (same resamples, same seed), not a second one.
    from agcn_pyg.demo.records import RowRun
    from agcn_pyg.demo.stats import paired_bootstrap

    names = make_labels(4)
    scores_a, scores_b, targets = _scored(50, 4, seed=5)
    runs = []
    for row, scores in (("agcn", scores_a), ("baseline", scores_b)):
        _write_eval(tmp_path / row / "eval", row, scores, targets, names)
        runs.append(RowRun(row, "features", 0, tmp_path / row, 0.0, None))
    delta, low, high = paired_bootstrap(*runs, resamples=60, seed=3)
    a, b = deltas.load_pair(tmp_path / "agcn" / "eval", tmp_path / "baseline" / "eval")
    intervals, _ = deltas.eval_intervals(a, b, resamples=60, seed=3)
    assert intervals.mean == pytest.approx((low, high))
    assert np.nanmean(a.per_class_ap - b.per_class_ap) == pytest.approx(delta)


# --------------------------------------------------------------------------- α sweep


def _sweep(spread: float, seeds: int = 3, slope: float = 0.0) -> pd.DataFrame:
    """mAP = 60 + slope · α + seed noise of standard deviation ``spread``."""
    rng = np.random.default_rng(4)
    rows = [
        {"alpha": a, "seed": s, "mAP": 60 + slope * a + rng.normal(0, spread), "status": "ok"}
        for a in (0.0, 0.5, 1.0, 2.0)
        for s in range(seeds)
    ]
    return pd.DataFrame(rows)


def test_seed_summary_and_pooled_spread_against_numpy() -> None:
    df = _sweep(0.3)
    df.loc[11, ["mAP", "status"]] = [np.nan, "diverged"]  # α = 2, last seed
    summary = sweep.seed_summary(df)
    assert summary["alpha"].tolist() == [0.0, 0.5, 1.0, 2.0]
    assert summary["runs"].tolist() == [3, 3, 3, 3] and summary["ok"].tolist() == [3, 3, 3, 2]
    groups = [df["mAP"][df["alpha"] == a].dropna().to_numpy() for a in (0.0, 0.5, 1.0, 2.0)]
    np.testing.assert_allclose(summary["mean"], [g.mean() for g in groups])
    np.testing.assert_allclose(summary["std"], [g.std(ddof=1) for g in groups])
    pooled = sum(((g - g.mean()) ** 2).sum() for g in groups) / sum(len(g) - 1 for g in groups)
    assert sweep.seed_spread(df) == pytest.approx(math.sqrt(pooled))
    assert math.isnan(sweep.seed_spread(_sweep(0.3, seeds=1)))


def test_alpha_sweep_figure_has_seed_error_bars_and_the_seed_band() -> None:
    df = _sweep(0.3)
    df.loc[11, ["mAP", "status"]] = [np.nan, "diverged"]
    fig = sweep.plot_alpha_sweep(df, title="demo: A-GCN mAP against α (4 α × 3 seeds)")
    _assert_texts_inside(fig)
    ax = fig.axes[0]
    (errors,) = [k for k in ax.containers if isinstance(k, ErrorbarContainer)]
    summary = sweep.seed_summary(df)
    (segments,) = errors.lines[2]
    half = [abs(seg[1][1] - seg[0][1]) / 2 for seg in segments.get_segments()]
    np.testing.assert_allclose(half, summary["std"])  # ± 1 std over the seeds
    np.testing.assert_allclose(np.asarray(errors.lines[0].get_ydata(), float), summary["mean"])
    spread, centre = sweep.seed_spread(df), summary["mean"].mean()
    (band,) = [p for p in ax.patches if isinstance(p, Rectangle)]  # axhspan's
    span = (band.get_y(), band.get_y() + band.get_height())
    assert span == pytest.approx((centre - spread, centre + spread))
    note = " ".join(t.get_text() for t in ax.texts).replace("\n", " ")
    assert f"seed std (pooled over α) {spread:.2f} mAP" in note
    assert "no trend in α" in note  # the means span less than the seed spread
    crosses = [line for line in ax.get_lines() if line.get_marker() == "x"]
    assert len(crosses) == 1 and crosses[0].get_xdata().tolist() == [2.0]
    labels = _legend_labels(fig)
    assert all(label.strip() for label in labels)
    assert "mean over 3 seeds ± 1 std" in labels and "diverged" in labels
    trend = sweep.plot_alpha_sweep(_sweep(0.3, slope=2.0))  # 4 mAP over α, seeds 0.3
    assert "no trend" not in " ".join(t.get_text() for t in trend.axes[0].texts)


def test_a_single_seed_sweep_says_the_spread_is_not_measured() -> None:
    fig = sweep.plot_alpha_sweep(_sweep(0.3, seeds=1))
    ax = fig.axes[0]
    assert "seed spread is not measured" in " ".join(t.get_text() for t in ax.texts)
    assert not ax.patches  # no band without a measured spread
    assert "mAP of the run (one seed)" in _legend_labels(fig)


def test_the_inside_check_sees_a_title_cut_off() -> None:
    # The checks above must not pass by measuring nothing.
    fig = Figure(figsize=(4, 3), layout="constrained")
    fig.add_subplot().plot([0, 1])
    fig.suptitle("AP(A) − AP(B) per class: A = my_data_agcn vs B = my_data_baseline " * 2)
    with pytest.raises(AssertionError):
        _assert_texts_inside(fig)
