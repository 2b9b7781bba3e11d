"""The experiment runners: Table-1 rows on a data set config, and the α sweep (Fig. 3)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from agcn_pyg.analysis import alpha_sweep as sweep
from agcn_pyg.analysis import run_table1 as table1
from agcn_pyg.analysis.results_table import PAPER_COLUMNS
from agcn_pyg.config import load_run_config, to_dict
from agcn_pyg.errors import ConfigError


@pytest.fixture(scope="module")
def shapes_config(tmp_path_factory: pytest.TempPathFactory, color_dataset: Path) -> Path:
    """A run config over the shared 4-label CSV data set of 40 px images (tiny backbone)."""
    root = tmp_path_factory.mktemp("shapes")
    labels = str(color_dataset / "labels.txt")
    config = {
        "name": "shapes",
        "output_dir": str(root / "default_runs"),
        "model": {"backbone": "test_resnet", "hidden_dim": 16},
        "data": {
            "dataset": "csv",
            "train": {"csv_file": str(color_dataset / "train.csv"), "label_names": labels},
            "val": {"csv_file": str(color_dataset / "val.csv"), "label_names": labels},
            "image_size": 32,
            "embeddings": "onehot",
            "workers": 0,
        },
        "train": {"epochs": 1, "batch_size": 8, "lr": 0.05, "device": "cpu"},
    }
    path = root / "shapes.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_row_config_is_the_variant_with_the_command_line_over_it(
    shapes_config: Path, tmp_path: Path, capsys
) -> None:
    base = table1.base_config(shapes_config)
    cfg = table1.row_config(base, "baseline", ["model.alpha=0.5"], tmp_path)
    assert cfg.name == "shapes_baseline" and cfg.output_dir == str(tmp_path)
    assert cfg.model.graph == "none"  # the row's variant over the file
    assert cfg.model.alpha == 0.5  # the command line over both, as on `agcn train`
    no_la = table1.row_config(base, "agcn_no_la", ["model.graph=cos"], None)
    assert no_la.model.alpha == 0 and no_la.output_dir.endswith("default_runs")
    assert no_la.model.graph == "cos"  # what the row does not set stays the command line's
    mlgcn = table1.row_config(base, "mlgcn", ["train.clip_grad_norm=5"])
    assert mlgcn.train.clip_grad_norm == 5.0  # over ML-GCN's 10, and said so:
    rows = [table1.TableRow("mlgcn", "mlgcn"), table1.TableRow("agcn", "agcn")]
    notes = table1.overridden_settings(["train.clip_grad_norm=5", "train.epochs=2"], rows)
    assert notes == [
        "note: train.clip_grad_norm overrides the setting of the variant of row(s) mlgcn"
    ]
    assert table1.parse_rows(None) is None and table1.parse_rows("all") is None
    assert table1.parse_rows(" agcn, fc_a ") == ["agcn", "fc_a"]


def test_print_configs_prints_every_row_and_trains_nothing(
    shapes_config: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "printed"
    argv = [str(shapes_config), "--rows", "baseline,mlgcn,agcn", "--gnns", "gcn,gat"]
    argv += ["--out-dir", str(out), "train.epochs=2", "--print-configs"]
    assert table1.cli(argv) == 0
    printed = capsys.readouterr().out
    assert not out.exists()  # no run folder, no table, no features
    docs = printed.split("---\n")
    rows = ["baseline", "mlgcn_gcn", "mlgcn_gat", "agcn_gcn", "agcn_gat"]
    assert [doc.splitlines()[0] for doc in docs] == [f"# row: {row}" for row in rows]
    assert len(list(yaml.safe_load_all(printed))) == len(rows)
    for row, doc in zip(rows, docs, strict=True):
        parsed = yaml.safe_load(doc)
        variant, _, gnn = row.partition("_")
        overrides = ["train.epochs=2", f"variant={variant}"] + ([f"model.gnn={gnn}"] if gnn else [])
        expected = load_run_config(shapes_config, overrides)
        assert parsed["name"] == f"shapes_{row}" and parsed["output_dir"] == str(out)
        for section in ("model", "data", "train"):
            assert parsed[section] == to_dict(getattr(expected, section)), (row, section)
        # the printed document is the run: loaded back, it is itself
        path = tmp_path / f"{row}.yaml"
        path.write_text(doc)
        assert to_dict(load_run_config(path)) == parsed
    assert yaml.safe_load(docs[1])["train"]["clip_grad_norm"] == 10.0  # ML-GCN's clipping
    assert table1.cli([str(shapes_config), "--rows", "nope", "--print-configs"]) == 2


def test_run_table1_end_to_end(shapes_config: Path, tmp_path: Path) -> None:
    out = tmp_path / "t1"
    df = table1.run_table1(
        shapes_config, ["train.epochs=1"], ["baseline", "agcn"], "end2end", out, progress=False
    )
    assert list(df.index) == ["shapes_baseline", "shapes_agcn"]
    assert list(df.columns[: len(PAPER_COLUMNS)]) == list(PAPER_COLUMNS)
    assert df["mAP"].between(0, 100).all()
    for row in ("baseline", "agcn"):
        assert (out / f"shapes_{row}" / "eval" / "metrics.json").is_file()
        assert (out / f"shapes_{row}" / "last.pt").is_file()  # an end-to-end run
    md = (out / "shapes_table1_end2end.md").read_text()
    assert "| shapes_agcn |" in md and "end2end" in md and "All: CF1" in md
    csv = pd.read_csv(out / "shapes_table1_end2end.csv")
    assert list(csv["Model"]) == ["shapes_baseline", "shapes_agcn"]
    assert set(csv["status"]) == {"ok"} and (csv["seconds"] > 0).all()
    assert csv["mAP"].tolist() == pytest.approx(df["mAP"].tolist())
    # runs are not replaced silently: a second table reports the finished run as it is
    trained = (out / "shapes_baseline" / "last.pt").stat().st_mtime_ns
    again = table1.run_table1(shapes_config, rows=["baseline"], out_dir=out, progress=False)
    assert [r.reused for r in again.attrs["rows"]] == [True]
    assert again.loc["shapes_baseline", "mAP"] == df.loc["shapes_baseline", "mAP"]
    assert (out / "shapes_baseline" / "last.pt").stat().st_mtime_ns == trained


def test_run_table1_cli_features_mode(shapes_config: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "probe"
    argv = [str(shapes_config), "--rows", "baseline,mlgcn", "--mode"]
    argv += ["features", "--out-dir", str(out), "--no-progress", "train.epochs=2"]  # anywhere
    assert table1.cli(argv) == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert "| shapes_mlgcn |" in printed and "shapes_table1_features.md" in printed
    # --no-progress drops the bars, not the banners that say which row the epochs belong to
    assert "[baseline] training shapes_baseline" in printed and "[mlgcn] training" in printed
    assert "\r" not in captured.err
    env = json.loads((out / "shapes_mlgcn" / "env.json").read_text())
    assert env["mode"] == "features"
    resolved = yaml.safe_load((out / "shapes_mlgcn" / "config.yaml").read_text())
    assert resolved["train"]["epochs"] == 2
    assert len(list((out / "features_cache").glob("*.npz"))) == 2  # one extraction, two rows
    assert table1.cli([str(shapes_config), "--rows", "nope", "--out-dir", str(out)]) == 2


def test_alpha_sweep_features_mode_over_seeds(shapes_config: Path, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    df = sweep.alpha_sweep(
        shapes_config, [0.0, 1.5], ["train.epochs=2"], "features", out, seeds=2, progress=False
    )
    assert df["alpha"].tolist() == [0.0, 0.0, 1.5, 1.5] and set(df["status"]) == {"ok"}
    assert df["seed"].tolist() == [0, 1, 0, 1]  # the config's seed (0) and the next one
    assert df["mAP"].between(0, 100).all()
    runs = {
        (0.0, 0): "shapes_alpha0",
        (0.0, 1): "shapes_alpha0_seed1",
        (1.5, 0): "shapes_alpha1.5",
        (1.5, 1): "shapes_alpha1.5_seed1",
    }
    for (alpha, seed), name in runs.items():
        resolved = yaml.safe_load((out / name / "config.yaml").read_text())
        assert resolved["model"]["alpha"] == alpha and resolved["model"]["graph"] == "conv"
        assert resolved["train"]["seed"] == seed
    csv = pd.read_csv(out / "shapes_alpha_sweep.csv")
    assert csv.columns.tolist() == sweep.COLUMNS and len(csv) == 4
    assert csv["mAP"].tolist() == pytest.approx(df["mAP"].tolist())
    png = out / "shapes_alpha_sweep.png"
    with Image.open(png) as image:
        image.verify()
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size == (840, 672)  # 7 × 5.6 in at 120 dpi
    with pytest.raises(ConfigError, match="--seeds"):
        sweep.alpha_sweep(shapes_config, [0.0], seeds=0, progress=False)


def test_plot_marks_diverged_runs(tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "alpha": [0.0, 0.5, 1.0, 2.0],
            "mAP": [80.1, 80.6, 81.0, np.nan],
            "status": ["ok", "ok", "ok", "diverged"],
        }
    )
    fig = sweep.plot_alpha_sweep(df, tmp_path / "fig3.png", title="t")
    ax = fig.axes[0]
    line = ax.containers[0].lines[0]  # the means (one seed: the runs)
    cross = next(line for line in ax.lines if line.get_marker() == "x")
    assert np.asarray(line.get_xdata(), float).tolist() == [0.0, 0.5, 1.0]
    assert np.asarray(line.get_ydata(), float).tolist() == [80.1, 80.6, 81.0]
    assert cross.get_xdata() == [2.0]
    assert ax.get_xlabel().startswith("α") and "mAP" in ax.get_ylabel()
    labels = [t.get_text() for t in ax.texts]
    assert labels[:3] == ["80.10", "80.60", "81.00"]
    assert (tmp_path / "fig3.png").stat().st_size > 0


def test_parse_alphas() -> None:
    assert sweep.parse_alphas("0, 0.5,1,2") == [0.0, 0.5, 1.0, 2.0]
    assert sweep.alpha_label(0.5) == "alpha0.5" and sweep.alpha_label(1.0) == "alpha1"
    for bad, match in (("a", "not a number"), ("-1", "≥ 0"), ("1,1", "repeat"), (",", "one")):
        with pytest.raises(ConfigError, match=match):
            sweep.parse_alphas(bad)


def test_gnn_comparison_trains_each_graph_row_once_per_layer(
    shapes_config: Path, tmp_path: Path
) -> None:
    assert table1.parse_gnns(None) is None
    assert table1.parse_gnns(" gcn, gat ") == ["gcn", "gat"]
    for bad, match in (
        ("gcn,nope", "unknown GNN layer 'nope'"),
        ("gat,gat", "twice"),
        (",", "one"),
    ):
        with pytest.raises(ConfigError, match=match):
            table1.parse_gnns(bad)
    out = tmp_path / "gnns"
    rows = ["baseline", "identity", "agcn_gat"]
    df = table1.run_table1(
        shapes_config,
        ["train.epochs=1"],
        rows,
        "features",
        out,
        progress=False,
        gnns=["gcn", "graphconv"],
    )
    names = ["shapes_baseline", "shapes_identity_gcn", "shapes_identity_graphconv"]
    assert list(df.index) == [*names, "shapes_agcn_gat"]
    for run, gnn in (("identity_gcn", "gcn"), ("identity_graphconv", "graphconv")):
        resolved = yaml.safe_load((out / f"shapes_{run}" / "config.yaml").read_text())
        assert resolved["model"]["gnn"] == gnn and resolved["model"]["graph"] == "identity"
    gat = yaml.safe_load((out / "shapes_agcn_gat" / "config.yaml").read_text())
    assert gat["model"]["gnn"] == "gat"  # a row that fixes its layer keeps it
    md = (out / "shapes_table1_features.md").read_text()
    assert "| row | gcn | graphconv |" in md
    baseline = f"{df.loc['shapes_baseline', 'mAP']:.2f}"
    assert f"| baseline | {baseline} | {baseline} |" in md  # trained once, fills both
    gcn = f"{df.loc['shapes_identity_gcn', 'mAP']:.2f}"
    graphconv = f"{df.loc['shapes_identity_graphconv', 'mAP']:.2f}"
    assert f"| identity | {gcn} | {graphconv} |" in md
    csv = pd.read_csv(out / "shapes_table1_features.csv", keep_default_na=False)
    assert "| agcn_gat | - | - |" in md  # its layer is not among those compared
    assert csv["gnn"].tolist() == ["", "gcn", "graphconv", "gat"]


def test_run_table1_seeds_give_mean_std_and_pooled_intervals(
    shapes_config: Path, tmp_path: Path, capsys
) -> None:
    from agcn_pyg.analysis.bootstrap import paired_bootstrap
    from agcn_pyg.engine import load_model, read_scores
    from agcn_pyg.graph import label_derangement, mlgcn_adjacency, permuted_counts

    out = tmp_path / "seeds"
    rows = "baseline,mlgcn,identity,shuffled"
    argv = [str(shapes_config), "--rows", rows, "--seeds", "0,2", "--mode", "features"]
    assert table1.cli([*argv, "--out-dir", str(out), "--no-progress", "train.epochs=2"]) == 0
    printed = capsys.readouterr().out
    names = {row: [f"shapes_{row}", f"shapes_{row}_seed2"] for row in rows.split(",")}
    for row, (plain, seeded) in names.items():
        for name, seed in ((plain, 0), (seeded, 2)):  # the config's own seed keeps the name
            resolved = yaml.safe_load((out / name / "config.yaml").read_text())
            assert resolved["train"]["seed"] == seed and resolved["variant"] == row
    summary = pd.read_csv(out / "shapes_table1_features_summary.csv", index_col="row")
    assert list(summary.index) == rows.split(",") and (summary["seeds"] == 2).all()

    def mean_map(name: str) -> float:
        return json.loads((out / name / "eval" / "metrics.json").read_text())["metrics"]["mAP"]

    scores = {
        name: read_scores(out / name / "eval" / "scores.npz") for v in names.values() for name in v
    }
    targets = scores["shapes_baseline"][1]
    for row, runs in names.items():
        maps = [mean_map(name) for name in runs]
        assert summary.loc[row, "mAP"] == pytest.approx(np.mean(maps))
        assert summary.loc[row, "mAP_std"] == pytest.approx(np.std(maps, ddof=1))
        for ref in ("baseline", "identity"):
            if ref == row:
                assert np.isnan(summary.loc[row, f"vs_{ref}"])
                continue
            expected = paired_bootstrap(
                [scores[name][0] for name in runs],
                [scores[name][0] for name in names[ref]],
                targets,
            )
            got = summary.loc[row, [f"vs_{ref}", f"vs_{ref}_low", f"vs_{ref}_high"]]
            assert got.tolist() == pytest.approx(list(expected), abs=1e-9)
    md = (out / "shapes_table1_features.md").read_text()
    assert "| Row | seeds | mAP |" in md and "Δ mAP vs Baseline [95 % CI]" in md
    line = next(x for x in md.splitlines() if x.startswith("| mlgcn | 2 |"))
    assert f"{summary.loc['mlgcn', 'mAP']:.2f} ± {summary.loc['mlgcn', 'mAP_std']:.2f}" in line
    low, high = summary.loc["mlgcn", ["vs_baseline_low", "vs_baseline_high"]]
    assert f"[{low:+.2f}, {high:+.2f}]" in line
    assert "| baseline | 2 |" in md and "seeds paired and pooled" in md
    assert "mAP: ML-GCN's non-interpolated AP (`mlgcn`)" in md and "| Row | seeds |" in printed
    per_run = pd.read_csv(out / "shapes_table1_features.csv")
    assert sorted(per_run["seed"].tolist()) == [0, 0, 0, 0, 2, 2, 2, 2]
    # the shuffled control travels in its checkpoint: ML-GCN's graph on permuted labels
    model, meta = load_model(out / "shapes_shuffled_seed2" / "best.pt")
    counts = meta["cooccurrence"]
    perm = label_derangement(4, meta["config"]["graph_seed"])
    expected_hat = mlgcn_adjacency(
        *permuted_counts(counts["adj"], counts["nums"], perm), 0.4, 0.25, True
    )
    np.testing.assert_allclose(
        model.adjacency()[1].detach().numpy(), expected_hat.numpy(), atol=1e-6
    )


def test_one_seed_still_has_intervals_and_a_missing_reference_is_said(
    shapes_config: Path, tmp_path: Path
) -> None:
    df = table1.run_table1(
        shapes_config,
        ["train.epochs=1"],
        ["baseline", "uniform"],
        "features",
        tmp_path,
        progress=False,
    )
    summary = df.attrs["summary"]
    assert list(summary["seeds"]) == [1, 1] and np.isnan(summary.loc["uniform", "mAP_std"])
    assert not np.isnan(summary.loc["uniform", "vs_baseline_low"])
    assert summary.attrs["versus"]["uniform", "identity"] == "no Â = I row in this run"
    md = df.attrs["files"]["markdown"].read_text()
    assert "no Â = I row in this run" in md
    assert table1.parse_seeds(" 0, 1,2 ") == [0, 1, 2] and table1.parse_seeds(None) is None
    for bad, match in (
        ("a", "not an int"),
        ("1,1", "twice"),
        (",", "at least one"),
        ("-1", "not an int"),
    ):
        with pytest.raises(ConfigError, match=match):
            table1.parse_seeds(bad)


def test_run_table1_resumes_or_reuses_its_runs_and_refuses_changed_ones(
    shapes_config: Path, tmp_path: Path, capsys
) -> None:
    # A second table over some of the same rows (another seed, another row) used to stop at
    # the first existing run folder, asking for --overwrite.
    argv = [str(shapes_config), "--rows", "baseline,identity", "--mode", "features"]
    argv += ["--out-dir", str(tmp_path), "--no-progress", "train.epochs=1"]
    assert table1.cli(argv) == 0
    checkpoint = tmp_path / "shapes_identity" / "last.pt"
    trained = checkpoint.stat().st_mtime_ns
    capsys.readouterr()
    assert table1.cli([*argv, "--seeds", "0,1"]) == 0
    out = capsys.readouterr().out
    assert "[identity, seed 0] resuming shapes_identity" in out
    assert "shapes_identity had finished: its evaluation is reported as it is" in out
    assert checkpoint.stat().st_mtime_ns == trained  # not trained again
    per_run = pd.read_csv(tmp_path / "shapes_table1_features.csv", keep_default_na=False)
    assert dict(zip(per_run["Model"], per_run["status"], strict=True)) == {
        "shapes_baseline": "reused",
        "shapes_baseline_seed1": "ok",
        "shapes_identity": "reused",
        "shapes_identity_seed1": "ok",
    }
    # a row whose settings changed is refused with the keys, not silently mixed in, even
    # train.epochs, which `agcn train --resume` may change
    for override, key in (
        ("train.lr=0.5", "train.lr: 0.05 → 0.5"),
        ("train.epochs=3", "train.epochs: 1 → 3"),
    ):
        assert table1.cli([*argv, override]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "holds a run with other settings" in err[0], err
        assert key in err[0], err
    assert checkpoint.stat().st_mtime_ns == trained


def test_a_killed_table_continues_its_unfinished_run(
    shapes_config: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    from agcn_pyg.engine import read_checkpoint
    from agcn_pyg.engine.trainer import Trainer

    original = Trainer._train_epoch
    trained: list[int] = []
    kills = [1]  # the epoch to stop in, once

    def killed_in_epoch_2(self: Trainer, epoch: int) -> dict:
        if kills and epoch == kills[0]:
            kills.pop()
            raise KeyboardInterrupt
        trained.append(epoch)
        return original(self, epoch)

    monkeypatch.setattr(Trainer, "_train_epoch", killed_in_epoch_2)
    argv = dict(rows=["identity"], mode="features", out_dir=tmp_path, progress=False)
    with pytest.raises(KeyboardInterrupt):
        table1.run_table1(shapes_config, ["train.epochs=2"], **argv)
    assert read_checkpoint(tmp_path / "shapes_identity" / "last.pt")["epoch"] == 0
    capsys.readouterr()
    df = table1.run_table1(shapes_config, ["train.epochs=2"], **argv)
    assert "[identity] resuming shapes_identity" in capsys.readouterr().out
    assert trained == [0, 1]  # epoch 1 trained once more, epoch 0 not again
    assert read_checkpoint(tmp_path / "shapes_identity" / "last.pt")["epoch"] == 1
    assert not df.attrs["rows"][0].reused
