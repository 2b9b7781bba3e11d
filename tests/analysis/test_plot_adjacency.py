from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from agcn_pyg.analysis.plot_adjacency import (
    Panel,
    adjacency_panels,
    cluster_order,
    default_out,
    figure_size,
    get_args_parser,
    plot_adjacency_panels,
    plot_model,
)
from agcn_pyg.errors import CheckpointError, DataError
from agcn_pyg.models.label_graph import ConvGraph

DPI = 40  # small PNGs keep the tests fast; sizes and overlaps scale with dpi


def _normalise(a: np.ndarray) -> np.ndarray:
    tilde = np.clip(a, 0, None) + np.eye(len(a))
    d = tilde.sum(1) ** -0.5
    return d[:, None] * tilde * d[None, :]


def _graph(c: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(c, c))
    counts = np.triu(rng.integers(0, 30, size=(c, c)), 1).astype(float)
    counts = counts + counts.T
    nums = counts.sum(1) + 5.0
    att = np.exp(rng.normal(size=(c, c)))
    return {
        "A": a,
        "A_hat": _normalise(a),
        "cooccurrence": {"adj": counts, "nums": nums},
        "mlgcn": _normalise(counts / nums[:, None]),
        "attention": [att / att.sum(1, keepdims=True)],
    }


def _assert_png(path: Path, fig: Figure, dpi: float) -> None:
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == "PNG"
        width, height = im.size
    w_in, h_in = fig.get_size_inches()
    assert abs(width - w_in * dpi) <= 1 and abs(height - h_in * dpi) <= 1


def _assert_ticks_apart(fig: Figure) -> None:
    """No two tick labels of any heatmap overlap (after layout, in display pixels)."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    for ax in fig.axes:
        if not ax.images:
            continue  # colour bars and unused grid cells
        axes = ((ax.get_yticklabels(), "y0", "y1"), (ax.get_xticklabels(), "x0", "x1"))
        for labels, lo, hi in axes:
            boxes = sorted(
                (t.get_window_extent(renderer) for t in labels if t.get_text()),
                key=lambda b: getattr(b, lo),
            )
            assert boxes
            for a, b in itertools.pairwise(boxes):
                assert getattr(a, hi) <= getattr(b, lo) + 0.5, "tick labels overlap"


@pytest.mark.parametrize("c", [10, 80])
def test_png_has_figsize_times_dpi_and_every_label(
    tmp_path: Path, c: int, make_labels, make_blocks
) -> None:
    names = make_labels(c)
    g = _graph(c)
    panels = adjacency_panels(
        g["A"], g["A_hat"], g["cooccurrence"], g["mlgcn"], g["attention"], graph_name="conv"
    )
    if c == 80:
        panels = panels[1:2]  # Â alone checks the sizing at C = 80 in half the time
    order = cluster_order(g["A_hat"])
    out = tmp_path / f"adj_{c}.png"
    fig = plot_adjacency_panels(panels, names, order=order, out=out, annotate=False, dpi=DPI)
    fig.set_dpi(DPI)  # the overlap check below then lays out at the PNG's resolution
    _assert_png(out, fig, DPI)
    assert tuple(fig.get_size_inches()) == pytest.approx(
        figure_size(c, len(panels), names), abs=1e-6
    )
    heatmaps = [ax for ax in fig.axes if ax.images]
    assert len(heatmaps) == len(panels)
    shown = [names[k] for k in order]
    for ax in heatmaps:
        assert [t.get_text() for t in ax.get_yticklabels()] == shown
        assert [t.get_text() for t in ax.get_xticklabels()] == shown
    _assert_ticks_apart(fig)


def test_figure_grows_with_number_of_labels() -> None:
    small = figure_size(10, 2, ["label"] * 10)
    large = figure_size(80, 2, ["label"] * 80)
    assert large[0] > small[0] and large[1] > small[1]


def test_cluster_order_groups_blocks_contiguously(make_blocks) -> None:
    m, group = make_blocks(30, blocks=3, seed=1)
    order = cluster_order(m)
    assert sorted(order.tolist()) == list(range(30))
    runs = [group[k] for k in order]
    changes = sum(a != b for a, b in itertools.pairwise(runs))
    assert changes == 2  # three blocks, each one contiguous run
    np.testing.assert_array_equal(order, cluster_order(m))  # deterministic
    np.testing.assert_array_equal(order, cluster_order(torch.from_numpy(m)))


def test_cluster_order_ignores_diagonal_and_asymmetry(make_blocks) -> None:
    m, group = make_blocks(12, blocks=2, seed=3)
    noisy = m.copy()
    np.fill_diagonal(noisy, 100.0)  # a dominant self-weight must not change the grouping
    noisy = noisy + np.triu(np.full_like(m, 0.01))  # mild asymmetry
    runs = [group[k] for k in cluster_order(noisy)]
    assert sum(a != b for a, b in itertools.pairwise(runs)) == 1


def test_adjacency_panels_assembly() -> None:
    g = _graph(6)
    params = {"t": 0.4, "p": 0.25, "reweight": True}
    panels = adjacency_panels(
        g["A"],
        g["A_hat"],
        g["cooccurrence"],
        g["mlgcn"],
        g["attention"] * 2,
        graph_name="conv",
        guard="relu",
        mlgcn_params=params,
    )
    titles = [p.title for p in panels]
    assert len(panels) == 6
    assert titles[0].startswith(ConvGraph.title) and "Eq. 5" in ConvGraph.title
    assert "Eq. 4" in titles[1] and "g = relu" in titles[1]
    assert titles[2].startswith("co-occurrence P(j | i)")
    assert "ML-GCN" in titles[3] and "t = 0.4" in titles[3] and "p = 0.25" in titles[3]
    assert "layer 1" in titles[4] and "layer 2" in titles[5]
    assert panels[0].scale == "diverging" and not panels[0].mask_diagonal
    assert all(p.mask_diagonal for p in panels[1:])
    assert [p.key for p in panels] == [
        "A",
        "A_hat",
        "cooccurrence",
        "mlgcn",
        "attention1",
        "attention2",
    ]
    assert [p.group for p in panels] == [None, "Â", None, "Â", "attention", "attention"]
    adj, nums = g["cooccurrence"]["adj"], g["cooccurrence"]["nums"]
    off = ~np.eye(6, dtype=bool)
    np.testing.assert_allclose(panels[2].matrix[off], (adj / nums[:, None])[off])
    # N(i and i) / N(i): the diagonal of P(j | i) is 1, not the 0 of the counts' diagonal
    np.testing.assert_array_equal(np.diag(panels[2].matrix), np.ones(6))
    assert panels[2].limits == (0.0, 1.0) and panels[2].diagonal_note == "P(i | i) = 1"
    # Optional parts are left out; tensors are accepted.
    only = adjacency_panels(torch.from_numpy(g["A"]), torch.from_numpy(g["A_hat"]))
    assert len(only) == 2 and only[0].matrix.dtype == np.float64
    attention_only = adjacency_panels(None, None, attention=g["attention"])
    assert len(attention_only) == 1 and "attention" in attention_only[0].title


def test_binary_mlgcn_title_has_no_p() -> None:
    g = _graph(4)
    params = {"t": 0.4, "p": 0.25, "reweight": False}
    (panel,) = adjacency_panels(None, None, mlgcn=g["mlgcn"], mlgcn_params=params)
    assert "binary" in panel.title and "p =" not in panel.title


def test_colour_scales_and_masked_diagonal(make_labels) -> None:
    c = 8
    g = _graph(c)
    a_hat = g["A_hat"].copy()
    np.fill_diagonal(a_hat, 5.0)  # dominant diagonal, as Eq. 6 encourages
    panels = adjacency_panels(g["A"], a_hat)
    fig = plot_adjacency_panels(panels, make_labels(c))
    ax_a, ax_hat = [ax for ax in fig.axes if ax.images]
    norm_a = ax_a.images[0].norm
    assert norm_a.vmin == pytest.approx(-norm_a.vmax)  # diverging, centred at 0
    assert norm_a.vmax == pytest.approx(np.abs(g["A"]).max())
    shown = ax_hat.images[0].get_array()
    assert np.ma.getmaskarray(shown)[np.diag_indices(c)].all()
    off = a_hat[~np.eye(c, dtype=bool)]
    assert ax_hat.images[0].norm.vmax == pytest.approx(off.max())  # diagonal not in scale
    assert "diagonal (mean 5) masked in white" in ax_hat.get_xlabel()
    assert len(fig.axes) == 4  # two heatmaps, each with its colour bar


def test_tuple_panels_and_cell_values(make_labels) -> None:
    m = np.arange(9, dtype=float).reshape(3, 3) / 10
    fig = plot_adjacency_panels([("plain", m)], make_labels(3))
    ax = next(ax for ax in fig.axes if ax.images)
    texts = {t.get_text() for t in ax.texts}
    assert {"0.10", "0.80"} <= texts and "0.00" not in texts  # zeros stay blank


def test_bad_inputs_raise_data_error(make_labels) -> None:
    with pytest.raises(DataError, match="does not match 4 label names"):
        plot_adjacency_panels([("x", np.zeros((3, 3)))], make_labels(4))
    with pytest.raises(DataError, match="permutation"):
        plot_adjacency_panels([("x", np.zeros((3, 3)))], make_labels(3), order=[0, 0, 1])
    with pytest.raises(DataError, match="square"):
        cluster_order(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="scale"):
        Panel("x", np.zeros((2, 2)), scale="rainbow")


class _FakeModel:
    """Duck-typed stand-in for what `agcn_pyg.load_model` returns; its attention maps reach
    `model_panels` through `_fake_attention`."""

    def __init__(self, g: dict | None, attention: bool) -> None:
        self.g = g
        self.attention = attention

    def adjacency(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        if self.g is None:
            return None
        return torch.from_numpy(self.g["A"]).float(), torch.from_numpy(self.g["A_hat"]).float()

    def attention_maps(self) -> list[torch.Tensor]:
        if self.g is None or not self.attention:
            return []
        return [torch.from_numpy(a).float() for a in self.g["attention"]]


@pytest.fixture(autouse=True)
def _fake_attention(monkeypatch: pytest.MonkeyPatch) -> None:
    """`model_panels` reads a model's attention through `attention_maps(model)`, which takes
    a real model apart (`tests/analysis/test_attention.py`); a fake hands over its own."""
    import agcn_pyg.analysis.plot_adjacency as plot_adjacency

    monkeypatch.setattr(plot_adjacency, "attention_maps", lambda model: model.attention_maps())


def test_labels_are_ordered_by_the_cooccurrence_never_by_the_learned_graph(
    tmp_path: Path, make_labels, make_blocks
) -> None:
    c = 9
    learned, _ = make_blocks(c, blocks=3, seed=2)
    together, group = make_blocks(c, blocks=3, seed=5)  # other groups than Â's
    g = _graph(c)
    g["A_hat"] = learned
    counts = np.round(together * 40)
    np.fill_diagonal(counts, 0.0)
    counts = (counts + counts.T) / 2
    meta = {
        "label_names": make_labels(c),
        "config": {"graph": "conv", "gnn": "gat", "guard": "relu", "t": 0.4, "p": 0.25},
        "cooccurrence": {"adj": counts, "nums": counts.sum(1)},
        "run_config": {"name": "my_run", "variant": "agcn_gat"},
    }
    out = tmp_path / "model.png"
    fig = plot_model(_FakeModel(g, attention=True), meta, out, dpi=DPI)
    _assert_png(out, fig, DPI)
    heatmaps = [ax for ax in fig.axes if ax.images]
    assert len(heatmaps) == 5  # A, Â, P(j | i), ML-GCN's Â, one attention map
    assert fig.get_suptitle() == "my_run: A-GCN (GAT instead of GCN); GNN gat, 2 layers"
    assert "clustering the training labels' co-occurrence" in fig.get_supxlabel()
    names = [t.get_text() for t in heatmaps[0].get_yticklabels()]
    runs = [group[meta["label_names"].index(n)] for n in names]
    assert sum(a != b for a, b in itertools.pairwise(runs)) == 2  # the co-occurrence's blocks
    # without counts (or with --no-cluster) the data set's order, never Â's clusters
    for cooccurrence, cluster in ((None, True), (meta["cooccurrence"], False)):
        plain = plot_model(
            _FakeModel(g, attention=False), {**meta, "cooccurrence": cooccurrence}, cluster=cluster
        )
        assert [t.get_text() for t in plain.axes[0].get_yticklabels()] == meta["label_names"]
        assert "in the data set's order" in plain.get_supxlabel()


def test_plot_model_with_cooccurrence_uses_mlgcn(make_labels) -> None:
    c = 5
    g = _graph(c)
    meta = {
        "label_names": make_labels(c),
        "config": {"graph": "conv", "t": 0.4, "p": 0.25, "reweight": True},
        "cooccurrence": g["cooccurrence"],
    }
    fig = plot_model(_FakeModel(g, attention=False), meta)
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert len(titles) == 4
    assert titles[2].startswith("co-occurrence") and titles[3].startswith("ML-GCN")


def test_baseline_has_nothing_to_plot(make_labels) -> None:
    meta = {"label_names": make_labels(3), "config": {"graph": "none"}, "cooccurrence": None}
    with pytest.raises(CheckpointError, match="no label graph"):
        plot_model(_FakeModel(None, attention=False), meta)


def test_cli_arguments() -> None:
    args = get_args_parser().parse_args(["runs/x/checkpoint.pt", "--no-cluster"])
    assert args.cluster is False and args.out is None
    assert default_out(args.checkpoint) == Path("runs/x/checkpoint_adjacency.png")
    assert get_args_parser().parse_args(["c.pt"]).cluster is True


def test_graph_learning_figures_on_a_hand_made_graph() -> None:
    from agcn_pyg.analysis.plot_adjacency import graph_learning

    names = ["a", "b", "c", "d"]
    # P(j|i) from counts: a and b always together, c and d never with anything
    counts = {"adj": np.array([[0, 4, 1, 0], [4, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0.0]])}
    counts["nums"] = np.array([4, 4, 2, 1.0])
    adj_hat = np.array(
        [
            [0.7, 0.3, 0.05, 0.0],
            [0.3, 0.7, 0.0, 0.0],
            [0.1, 0.0, 0.9, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )
    summary = graph_learning(adj_hat - np.eye(4) * 0.5, adj_hat, names, counts)
    np.testing.assert_allclose(summary.offdiag, [0.35, 0.3, 0.1, 0.0])
    assert summary.neighbours[0] == [("b", 0.3), ("c", 0.05)]
    assert summary.neighbours[3] == []  # d gathers from nobody
    assert summary.spearman["Â vs P(j|i)"] > 0.8  # it follows the co-occurrence
    lines = summary.lines(names)
    assert lines[0].startswith("off-diagonal mass of Â per row") and "max 0.3500 (a)" in lines[0]
    assert "  a: b 0.3, c 0.05" in lines and "  d: -" in lines
    identity = graph_learning(np.zeros((4, 4)), np.eye(4), names, counts)
    assert np.isnan(identity.spearman["Â vs P(j|i)"])  # Â = I: nothing to correlate
    assert "undefined (constant)" in identity.lines(names)[1]


def test_the_plotted_p_j_given_i_is_the_graph_modules_with_unseen_labels_masked() -> None:
    from agcn_pyg.analysis.plot_adjacency import conditional_probability
    from agcn_pyg.graph import cooccurrence_conditional

    adj = np.array([[0.0, 2.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    nums = np.array([4.0, 2.0, 0.0])
    with pytest.warns(UserWarning, match=r"\[2\]"):
        expected = cooccurrence_conditional(adj, nums)
    with pytest.warns(UserWarning, match=r"\[2\]"):
        shown = conditional_probability(adj, nums)
    assert np.array_equal(shown[:2], expected[:2])
    assert np.isnan(shown[2]).all() and (expected[2] == 0).all()
    with pytest.raises(DataError, match="diagonal"):  # the one count rule, not a second one
        conditional_probability(np.eye(3), nums)
