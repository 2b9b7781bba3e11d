from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from PIL import Image

from agcn_pyg.analysis.plot_ap_delta import (
    GAIN,
    LOSS,
    OTHER,
    cli,
    load_pair,
    plot_ap_delta,
    plot_ap_delta_files,
    sorted_delta,
)
from agcn_pyg.errors import DataError

DPI = 40


def _bars(fig: Figure) -> tuple[list[str], list[str], np.ndarray]:
    """(tick names, bar colours as hex, bar heights) in drawing order."""
    ax = fig.axes[0]
    (bars,) = ax.containers
    names = [t.get_text() for t in ax.get_xticklabels()]
    colours = [to_hex(p.get_facecolor()) for p in bars.patches]
    heights = np.array([p.get_height() for p in bars.patches])
    return names, colours, heights


def _aps(c: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ap_b = rng.uniform(30, 90, c)
    # Distinct deltas, half gains and half losses.
    delta = rng.permutation(np.linspace(-9, 9, c) + 0.01)
    return ap_b + delta, ap_b


def test_top_gains_blue_top_losses_red_others_grey(make_labels) -> None:
    c = 30
    ap_a, ap_b = _aps(c)
    names = make_labels(c)
    fig = plot_ap_delta(ap_a, ap_b, names, "A-GCN", "baseline", top=10)
    shown, colours, heights = _bars(fig)
    delta = ap_a - ap_b
    by_delta = [names[k] for k in np.argsort(-delta)]
    assert shown == by_delta
    np.testing.assert_allclose(heights, np.sort(delta)[::-1])
    assert colours[:10] == [GAIN] * 10
    assert colours[-10:] == [LOSS] * 10
    assert colours[10:-10] == [OTHER] * (c - 20)
    gains = {n for n, col in zip(shown, colours, strict=True) if col == GAIN}
    assert gains == {names[k] for k in np.argsort(-delta)[:10]}
    ax = fig.axes[0]
    assert "A-GCN" in fig.get_suptitle() and "baseline" in fig.get_suptitle()
    assert "Δ AP (points)" in ax.get_ylabel()
    mean_line = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert len(mean_line) == 1
    assert mean_line[0].get_ydata()[0] == pytest.approx(delta.mean())
    zero_line = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-"]
    assert zero_line[0].get_ydata()[0] == 0.0


def test_only_real_gains_and_losses_are_coloured(make_labels) -> None:
    ap_b = np.full(12, 50.0)
    delta = np.array([3.0, 2.0, 1.0, -0.5, -1, -2, -3, -4, -5, -6, -7, -8])
    fig = plot_ap_delta(ap_b + delta, ap_b, make_labels(12), "a", "b", top=10)
    _, colours, _ = _bars(fig)
    assert colours.count(GAIN) == 3  # only three classes improved
    assert colours.count(LOSS) == 9  # all nine losses are within the top 10
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[0].startswith("top 3 gains") and legend[1].startswith("top 9 losses")


def test_nan_classes_dropped_and_counted(make_labels) -> None:
    ap_a, ap_b = _aps(20)
    ap_a[3] = np.nan
    ap_b[7] = np.nan
    names = make_labels(20)
    fig = plot_ap_delta(ap_a, ap_b, names, "a", "b")
    shown, _, heights = _bars(fig)
    assert len(shown) == 18 and names[3] not in shown and names[7] not in shown
    notes = fig.axes[0].get_xlabel()
    assert "2 class(es)" in notes and names[3] in notes
    mean_line = next(ln for ln in fig.axes[0].get_lines() if ln.get_linestyle() == "--")
    assert mean_line.get_ydata()[0] == pytest.approx(heights.mean())
    _, _, dropped = sorted_delta(ap_a, ap_b, names)
    assert dropped == [names[3], names[7]]


@pytest.mark.parametrize("c", [10, 80])
def test_png_size_and_readable_labels(tmp_path: Path, c: int, make_labels) -> None:
    ap_a, ap_b = _aps(c, seed=c)
    out = tmp_path / f"delta_{c}.png"
    fig = plot_ap_delta(ap_a, ap_b, make_labels(c), "A-GCN", "ML-GCN", out=out, dpi=DPI)
    with Image.open(out) as im:
        im.verify()
    with Image.open(out) as im:
        size = im.size
    w_in, h_in = fig.get_size_inches()
    assert abs(size[0] - w_in * DPI) <= 1 and abs(size[1] - h_in * DPI) <= 1
    fig.set_dpi(DPI)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    boxes = sorted(
        (t.get_window_extent(canvas.get_renderer()) for t in fig.axes[0].get_xticklabels()),
        key=lambda b: b.x0,
    )
    assert len(boxes) == c
    for a, b in itertools.pairwise(boxes):
        assert a.x1 <= b.x0 + 0.5, "class names overlap"


def test_wider_figure_for_more_classes(make_labels) -> None:
    small = plot_ap_delta(*_aps(10), make_labels(10), "a", "b").get_size_inches()
    large = plot_ap_delta(*_aps(80), make_labels(80), "a", "b").get_size_inches()
    assert large[0] > small[0]


def test_files_and_folders(tmp_path: Path, write_metrics) -> None:
    ap_a, ap_b = _aps(12)
    ap_b[0] = np.nan
    fa = write_metrics("agcn", "A-GCN", ap_a)
    fb = write_metrics("base", "baseline", ap_b)
    a, b = load_pair(fa.parent, fb)  # a folder or the file itself
    assert a.name == "A-GCN" and np.isnan(b.per_class_ap[0])
    out = plot_ap_delta_files(fa.parent, fb.parent)
    assert out == fa.parent / "ap_delta_A-GCN_vs_baseline.png" and out.is_file()
    custom = tmp_path / "figs" / "fig4.png"
    assert cli([str(fa), str(fb), "--out", str(custom), "--top", "3"]) == 0
    assert custom.is_file()


def test_label_mismatch_is_a_data_error(tmp_path: Path, write_metrics, make_labels, capsys) -> None:
    labels = make_labels(6)
    fa = write_metrics("a", "a", _aps(6)[0], labels=labels)
    fb = write_metrics("b", "b", _aps(6)[1], labels=[*labels[:4], "zebra", labels[5]])
    with pytest.raises(DataError, match=r"label names differ \(label 4 is"):
        load_pair(fa, fb)
    fc = write_metrics("c", "c", _aps(5)[1], labels=labels[:5])
    with pytest.raises(DataError, match="6 vs 5 labels"):
        load_pair(fa, fc)
    assert cli([str(fa), str(fb)]) == 2
    assert "label names differ" in capsys.readouterr().err
    with pytest.raises(DataError, match="no such metrics file"):
        load_pair(tmp_path / "missing", fb)
    with pytest.raises(DataError, match="do not match"):
        plot_ap_delta([1.0, 2.0], [1.0], ["x", "y"], "a", "b")
