"""`agcn demo --quick`: the demo's own code path (CLI included) on the reduced data set."""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from PIL import Image

from agcn_pyg.__main__ import main
from agcn_pyg.config import load_run_config, to_dict
from agcn_pyg.demo.plan import TABLE2_ROWS, end2end_config, make_plan, row_run_config
from agcn_pyg.errors import ConfigError
from agcn_pyg.variants import MAIN_ROWS, get_variant, table1_variants, title

TABLE1_ROWS = [variant.name for variant in table1_variants()]

REPO = Path(__file__).resolve().parents[1]
# Table 1's columns as `agcn_pyg.analysis.results_table` heads them.
HEADERS = ["mAP"] + [
    f"{group}: {m}" for group in ("All", "Top-3") for m in ("CP", "CR", "CF1", "OP", "OR", "OF1")
]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    # --mode both: the default plan (every row on cached features) and the end-to-end rows.
    assert main(["demo", "--quick", "--mode", "both", "--out", str(out), "--no-progress"]) == 0
    return out


def _section(report: str, heading: str) -> str:
    start = report.index(heading)
    end = report.find("\n### ", start + 1)
    return report[start : end if end > 0 else None]


def test_report_has_the_tables_and_says_the_modes(quick_demo: Path, capsys) -> None:
    report = (quick_demo / "report.md").read_text()
    e2e = _section(report, "### Table 1 on the demo: end to end")
    probe = _section(report, "### Table 1 on the demo: cached features")
    header = next(line for line in e2e.splitlines() if line.startswith("| Model"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert columns[: 1 + len(HEADERS)] == ["Model", *HEADERS]  # then AP_all
    for row in MAIN_ROWS:
        assert f"| {title(row)} |" in e2e
    for row in TABLE1_ROWS:  # every Table-1 row, in cached-features mode
        assert f"| {title(row)} |" in probe
    # The set-up table states each row's mode.
    for row in MAIN_ROWS:
        assert f"| {row} | {title(row)} | end to end |" in report
    for row in TABLE1_ROWS:
        assert f"| {row} | {title(row)} | cached features, frozen backbone |" in report
    # Each row's own recipe: the official code's schedule (epochs set by --quick), ML-GCN's
    # clipping end to end, where the demo's recipe does not clip.
    official = (
        "| agcn_official | A-GCN (official code) | cached features, frozen backbone | 96 | 3 |"
    )
    assert official in report and "step (÷10 after epochs 15, 30) | 10 |" in report
    assert "| mlgcn | ML-GCN (re-weighted) | end to end | 96 | 1 | 32 |" in report
    assert "0.01 / 0.001 | step (÷10 every 30 epochs) | 10 |" in report
    assert "| agcn | A-GCN | end to end | 96 | 1 | 32 |" in report
    assert "- A-GCN (official code) over `demo_features.yaml`: " in report
    assert "`train.epochs=35`, `train.batch_size=32`, `train.lr=0.01`" in report
    assert "`train.optimizer=sgd`" not in report  # the recipe's own already
    assert "- ML-GCN (re-weighted) over `demo.yaml`: `train.clip_grad_norm=10.0`" in report
    assert "docs/experiments.md" in report and "baseline 52.3" not in report
    assert "Quick mode" in report and "context only" in report and "**sandal**" not in header
    verdict = r"A-GCN (beats|does not beat) Baseline[:;]"
    assert re.search(verdict, report.split("## Reading")[1].split("## Data")[0])
    for name in ("adjacency_agcn.png", "ap_delta_agcn_vs_baseline.png"):
        assert f"(figures/{name})" in report


def test_figures_are_valid_pngs(quick_demo: Path) -> None:
    for name in (
        "adjacency_agcn.png",
        "ap_delta_agcn_vs_baseline.png",
        "ap_delta_agcn_vs_mlgcn.png",
    ):
        path = quick_demo / "figures" / name
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) > 300


def test_the_alpha_sweep_runs_every_seed_and_the_report_gives_the_spread(
    quick_demo: Path,
) -> None:
    folder = quick_demo / "runs" / "alpha_sweep"
    sweep = pd.read_csv(folder / "demo_alpha_sweep.csv")
    assert sorted(set(sweep["seed"])) == [0, 1, 2] and len(sweep) == 4 * 3  # 4 α × 3 seeds
    assert (folder / "demo_alpha0.5_seed2" / "eval" / "metrics.json").is_file()
    section = _section((quick_demo / "report.md").read_text(), "### mAP against α")
    assert "standard deviation over 3 seeds" in section and "α = 0.5: " in section


def test_runs_and_timings(quick_demo: Path) -> None:
    for row in MAIN_ROWS:
        run = quick_demo / "runs" / "end2end" / row
        assert (run / "eval" / "metrics.json").is_file() and (run / "last.pt").is_file()
    for row in TABLE1_ROWS:
        env = json.loads((quick_demo / "runs" / "features" / row / "env.json").read_text())
        assert env["mode"] == "features"
    timings = json.loads((quick_demo / "timings.json").read_text())
    stages = ["data", "setup", "end2end", "extract", "features", "table2", "report", "total"]
    assert list(timings["stages"]) == stages
    table2 = 2 * len(TABLE2_ROWS)  # noisy, then noisy + clean
    assert len(timings["rows"]) == len(MAIN_ROWS) + len(TABLE1_ROWS) + table2
    assert timings["quick"]
    assert timings["stages"]["total"] >= sum(
        v for k, v in timings["stages"].items() if k != "total"
    )


def test_table2_trains_on_noisy_labels_then_fine_tunes_on_the_clean_subset(
    quick_demo: Path,
) -> None:
    report = (quick_demo / "report.md").read_text()
    table = _section(report, "### Table 2 on the demo")
    header = next(line for line in table.splitlines() if line.startswith("| Model"))
    assert "noisy labels: mAP" in header and "noisy + clean fine-tune: AP_all" in header
    for row in TABLE2_ROWS:
        assert f"| {title(row)} |" in table
    reading = report.split("## Reading")[1].split("## Data")[0]
    assert reading.count("A-GCN against the Â = I control") == 3  # clean, noisy, noisy + clean
    folder = quick_demo / "runs" / "table2"
    subset = (folder / "train_clean_subset.csv").read_text().splitlines()
    train = (quick_demo / "data" / "train.csv").read_text().splitlines()
    assert subset == train[: 1 + 20]  # header and the first tenth of the 200 scenes, clean
    for row in TABLE2_ROWS:
        noisy = yaml.safe_load((folder / f"{row}_noisy" / "config.yaml").read_text())
        assert noisy["data"]["label_noise"] == {"drop": 0.4, "add": 0.0, "seed": 0}
        env = json.loads((folder / f"{row}_noisy" / "env.json").read_text())
        assert env["label_noise"]["dropped"] > 0
        tuned = yaml.safe_load((folder / f"{row}_noisy_clean" / "config.yaml").read_text())
        assert tuned["train"]["init_from"] == str(folder / f"{row}_noisy" / "last.pt")
        assert tuned["data"]["label_noise"] is None
        assert tuned["data"]["train"]["csv_file"].endswith("train_clean_subset.csv")
        tuned_env = json.loads((folder / f"{row}_noisy_clean" / "env.json").read_text())
        assert tuned_env["label_noise"] is None


def test_report_reads_the_controls_in_both_tables(quick_demo: Path) -> None:
    report = (quick_demo / "report.md").read_text()
    probe = _section(report, "### Table 1 on the demo: cached features")
    table2 = _section(report, "### Table 2 on the demo")
    for row in ("shuffled", "uniform", "identity", "mlgcn"):
        assert row in TABLE2_ROWS
        assert f"| {title(row)} |" in probe and f"| {title(row)} |" in table2
    reading = report.split("## Reading")[1].split("## Data")[0]
    # clean labels (cached features), noisy, noisy + clean: each with its intervals
    heads = re.findall(r"\*\*Where ML-GCN's gain comes from \(([^)]*)\)\.\*\*", reading)
    assert heads == [
        "clean labels, features",
        "Table 2, noisy labels",
        "Table 2, noisy + clean fine-tune",
    ]
    interval = r"[+-]\d+\.\d\d \[[+-]\d+\.\d\d, [+-]\d+\.\d\d\]"
    for pair in ("ML-GCN − shuffled", "ML-GCN − uniform", "ML-GCN − Â = I", "Â = I − Baseline"):
        assert len(re.findall(f"{re.escape(pair)} {interval}", reading)) == 3, pair
    assert reading.count("Intervals above zero:") == 3
    bootstrap = report.split("Paired bootstrap over the test images")[1].split("###")[0]
    label = "mAP(ML-GCN (re-weighted)) − mAP(ML-GCN, labels shuffled (control: wrong correlations))"
    assert bootstrap.count(label) == 3
    lines = [line for line in bootstrap.splitlines() if line.startswith("- ")]
    assert len(lines) == len(set(lines))  # each comparison listed once


def test_rerun_replaces_its_outputs_with_the_same_numbers(quick_demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "again"
    shutil.copytree(quick_demo, out)
    argv = ["demo", "--quick", "--out", str(out), "--mode", "features", "--no-progress"]
    assert main([*argv, "--rows", "baseline,agcn"]) == 0
    for row in ("baseline", "agcn"):
        first = json.loads((quick_demo / "runs/features" / row / "eval/metrics.json").read_text())
        second = json.loads((out / "runs/features" / row / "eval/metrics.json").read_text())
        assert second["metrics"] == first["metrics"]  # same seed, same machine: same numbers
    report = (out / "report.md").read_text()
    assert "### Table 1 on the demo: end to end" not in report  # only what this call ran
    assert "| agcn | A-GCN | cached features, frozen backbone |" in report


def test_bench_table_reads_the_timings(quick_demo: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_demo", REPO / "bench" / "bench_demo.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    text = bench.table(quick_demo, seconds=42.0, stall=0.25, goal=300.0)
    assert "| process start and imports |" in text and "| end2end |" in text
    assert "| agcn | features | noisy_clean |" in text and "| agcn | end2end | clean |" in text
    assert "| **total** | **42.0** |" in text and "25 %" in text
    assert "goal: demo total ≤ 300 s on 2 CPU cores: 42 s, 0.14 × the goal (met)" in text


def test_schedule_in_words() -> None:
    from agcn_pyg.demo.report import schedule

    assert schedule(load_run_config("coco_agcn").train) == "step (÷10 every 30 epochs)"
    assert schedule(load_run_config("coco_agcn_official").train) == (
        "step (÷10 after epochs 15, 30)"
    )
    assert schedule(load_run_config("demo_features").train) == "cosine to 0"


def _args(**kw: object) -> argparse.Namespace:
    values = {"out": "x", "quick": False, "mode": "auto", "rows": None, "seed": 0}
    values |= {"data_seed": 0, "epochs": None, "head_epochs": None, "no_progress": True}
    values |= {"seeds": 3, "alphas": "0,0.5,1,2", "table2": True}
    return argparse.Namespace(**(values | kw))


def test_plan_per_mode() -> None:
    plan = make_plan(_args())  # the default: every row on cached features
    assert plan.modes == ("features",) and plan.end2end_rows == []
    assert plan.features_rows == list(TABLE1_ROWS) and plan.features.image_size == 224
    assert (plan.data.n_train, plan.data.n_test) == (2000, 1000)
    assert plan.alphas == (0.0, 0.5, 1.0, 2.0) and plan.seeds == 3
    assert plan.table2_rows == list(TABLE2_ROWS) and plan.noise.drop == 0.4
    assert make_plan(_args(table2=False)).table2_rows == []
    assert make_plan(_args(rows="baseline,agcn")).table2_rows == ["baseline", "agcn"]
    assert make_plan(_args(mode="end2end")).table2_rows == []  # Table 2 is on cached features
    plan = make_plan(_args(mode="both"))
    assert plan.modes == ("end2end", "features") and plan.end2end_rows == list(MAIN_ROWS)
    plan = make_plan(_args(mode="features", rows="agcn,fc_a", quick=True, head_epochs=2))
    assert plan.end2end_rows == [] and plan.features_rows == ["agcn", "fc_a"]
    assert plan.features.epochs == 2 and plan.data.n_train == 200
    plan = make_plan(_args(mode="end2end", rows="baseline,fc_a", epochs=5, alphas="none"))
    assert plan.end2end_rows == ["baseline", "fc_a"] and plan.end2end.epochs == 5
    assert plan.modes == ("end2end",) and plan.alphas == ()
    with pytest.raises(ConfigError, match="unknown Table-1 row"):
        make_plan(_args(rows="agcn,resnet"))
    with pytest.raises(ConfigError, match="--epochs"):
        make_plan(_args(epochs=0))
    with pytest.raises(ConfigError, match="--alphas"):
        make_plan(_args(alphas="1,x"))


def test_end2end_config_is_configs_demo_yaml_on_a_demos_folder(tmp_path: Path) -> None:
    shipped = load_run_config("demo")
    cfg = end2end_config(tmp_path / "demo", tmp_path / "runs")
    assert cfg.data.train["csv_file"] == str(tmp_path / "demo" / "data" / "train.csv")
    assert cfg.model.pretrained == str(tmp_path / "demo" / "weights" / "efficientnet_lite0.pth")
    assert cfg.output_dir == str(tmp_path / "runs") and cfg.name == shipped.name
    for section in ("model", "train"):
        mine, theirs = to_dict(getattr(cfg, section)), to_dict(getattr(shipped, section))
        mine.pop("pretrained", None), theirs.pop("pretrained", None)
        assert mine == theirs, section


def test_a_row_is_its_variant_on_the_recipe(tmp_path: Path) -> None:
    plan = make_plan(_args(out=str(tmp_path)))
    weights = tmp_path / "w.pth"
    agcn = row_run_config(plan, "agcn", "features", weights)
    official = row_run_config(plan, "agcn_official", "features", weights)
    # the official code's own recipe, over the demo's features recipe (item 5)
    for key, value in get_variant("agcn_official").train.items():
        if key != "select":  # the official code's best epoch; the demo reports the last
            assert getattr(official.train, key) == value, key
    assert (official.model.lg_dim, official.data.transforms) == (150, "agcn_official")
    assert official.train.eval_every == official.train.epochs == 35  # the last epoch only
    assert official.train.select == agcn.train.select == "last"  # no best epoch on the test set
    assert (agcn.train.epochs, agcn.train.lr, agcn.train.batch_size) == (20, 0.04, 128)
    assert official.data.image_size == agcn.data.image_size == 224  # the demo's resolution
    # the same as `agcn train -c demo_features variant=agcn_official`, on this demo's files
    expected = load_run_config("demo_features", ["variant=agcn_official"])
    for section in ("model", "train"):
        mine, theirs = to_dict(getattr(official, section)), to_dict(getattr(expected, section))
        for key in ("pretrained", "eval_every", "select"):  # its weights; the last epoch only
            mine.pop(key, None), theirs.pop(key, None)
        assert mine == theirs, section
    # end to end, ML-GCN clips as its code does (the recipe itself does not clip)
    mlgcn = row_run_config(make_plan(_args(mode="both")), "mlgcn", "end2end", weights)
    assert mlgcn.train.clip_grad_norm == 10.0
    assert row_run_config(plan, "agcn", "end2end", weights).train.clip_grad_norm is None
    # --quick and --head-epochs go over every row's schedule, the official one's included
    quick = make_plan(_args(out=str(tmp_path), quick=True, head_epochs=2))
    short = row_run_config(quick, "agcn_official", "features", weights)
    assert (short.train.epochs, short.train.eval_every, short.data.image_size) == (2, 2, 96)


def test_the_demo_uses_the_packages_analysis_tools_from_any_folder(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)  # not the repository root: the tools come with the package
    from agcn_pyg.demo import figures, report, runner

    package = Path(importlib.util.find_spec("agcn_pyg").origin).parent
    for module in (report.tables, figures.plots, figures.deltas):
        assert Path(module.__file__).resolve().is_relative_to(package / "analysis")
    assert runner.alpha_sweep.__module__ == "agcn_pyg.analysis.alpha_sweep"
    with pytest.raises(ConfigError, match="--alphas"):
        make_plan(_args(alphas="0,-1"))
