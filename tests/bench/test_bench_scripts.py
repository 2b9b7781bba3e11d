"""The benchmark scripts still run (tiny sizes, no timing asserted): above all the GPU one,
which no CPU machine would otherwise ever execute."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / "bench"


def _benchlib():
    # By path: benchlib imports only the installed package, never a sibling script.
    spec = importlib.util.spec_from_file_location("benchlib", BENCH / "benchlib.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(script: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        cwd=REPO,
        env={**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_interleaved_rotates_the_order_and_drops_warmup() -> None:
    benchlib = _benchlib()
    order: list[str] = []
    times = benchlib.interleaved(
        {"a": lambda: order.append("a"), "b": lambda: order.append("b")},
        repeats=2,
        warmup=1,
        calls={"b": 2},
    )
    assert order == ["a", "b", "b", "b", "b", "a", "a", "b", "b"]
    assert len(times["a"]) == 2 and len(times["b"]) == 4
    assert benchlib.bf16_peak_tflops("NVIDIA H200") == 989.0
    assert benchlib.bf16_peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert benchlib.bf16_peak_tflops("a CPU") is None


def test_gnn_scaling_reports_both_paths() -> None:
    out = _run(
        "bench_gnn_scaling.py",
        *("--classes", "3", "6", "--embed-dim", "8", "--hidden", "8", "--features", "8"),
        *("--repeats", "1"),
    )
    rows = [line for line in out.splitlines() if line.startswith(("| 3 |", "| 6 |"))]
    assert len(rows) == 2 and all(row.rstrip(" |").endswith(("dense", "passing")) for row in rows)


def test_gpu_training_benchmark_runs_on_the_cpu(tmp_path: Path) -> None:
    report, figures = tmp_path / "gpu_train.md", tmp_path / "gpu_train.json"
    out = _run(
        "bench_train_gpu.py",
        *("--device", "cpu", "--backbone", "test_resnet", "--size", "32", "--batch", "2"),
        *("--steps", "1", "--warmup", "1", "--no-compile", "--out", str(report)),
        *("--json", str(figures)),
    )
    assert "| A-GCN | eager |" in out and "A-GCN, cached W̄" in out
    assert "| timm test_resnet (reference) | eager |" in out and "A-GCN ÷ the timm step" in out
    assert report.read_text().startswith("## Training throughput")
    measured = json.loads(figures.read_text())
    assert set(measured["eager"]) == {"agcn", "baseline", "timm"} and measured["compiled"] == {}


@pytest.mark.slow
def test_memory_benchmark_compares_three_variants() -> None:
    out = _run(
        "bench_memory.py",
        *("--backbone", "test_resnet", "--size", "32", "--batch", "2", "--classes", "5"),
    )
    assert "| baseline (linear head) |" in out and "goal: A-GCN peak" in out


def test_gpu_check_is_valid_bash_and_stops_with_2_without_cuda(tmp_path: Path) -> None:
    proc = subprocess.run(["bash", "-n", str(BENCH / "gpu_check.sh")], capture_output=True)
    assert proc.returncode == 0, proc.stderr
    env = {**os.environ, "PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": "", "OUT": str(tmp_path)}
    proc = subprocess.run(
        ["bash", str(BENCH / "gpu_check.sh")], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no CUDA device here" in proc.stdout and not list(tmp_path.iterdir())


def test_gpu_goals_reads_the_reports_and_marks_what_is_missing(tmp_path: Path) -> None:
    train = {"eager": {"agcn": 99.0, "baseline": 100.0, "timm": 101.0}, "compiled": {"agcn": 200.0}}
    (tmp_path / "gpu_train.json").write_text(json.dumps(train))
    user = {"gpu": {"img_s": 192.0, "cpu_s_per_image": 0.01}}
    (tmp_path / "gpu_user_path.json").write_text(json.dumps(user))
    sys.modules.setdefault("benchlib", _benchlib())  # what gpu_goals imports by name
    spec = importlib.util.spec_from_file_location("gpu_goals", BENCH / "gpu_goals.py")
    goals = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(goals)
    assert goals.main([str(tmp_path), "--tests-rc", "0"]) == 0
    out = (tmp_path / "gpu_goals.md").read_text()
    rows = {line.split(" | ")[0].strip("| "): line for line in out.splitlines()}
    assert "| 0.990 | met |" in rows["A-GCN ÷ baseline per step, eager (≥ 0.99)"]
    assert "not measured" in rows["A-GCN ÷ baseline per step, compiled (≥ 0.99)"]
    assert "| 0.960 | met |" in rows["agcn train, decode=gpu: steady ÷ resident (≥ 0.95)"]
    assert "| 2.000 | met |" in rows["agcn train, decode=gpu: host cores per GPU (≤ 4)"]
    assert "not measured" in rows["compiled A-GCN ÷ compiled timm step (≥ 0.98)"]
    assert rows["pytest -m cuda"] == "| pytest -m cuda | passed |  |"


@pytest.mark.slow
def test_data_benchmark_reports_old_new_and_minimal_paths() -> None:
    out = _run(
        "bench_data.py",
        *("--images", "8", "--large", "1", "--rounds", "1", "--workers", "1"),
        *("--batch", "4", "--demand", "0.5"),
    )
    assert "| **new path**" in out and "new path ÷ minimal torch pipeline" in out
    assert "at most 1 uint8 step(s) apart" in out


def test_gpu_pipeline_benchmark_runs_both_decode_paths_on_the_cpu(tmp_path: Path) -> None:
    report, figures = tmp_path / "gpu_pipeline.md", tmp_path / "gpu_pipeline.json"
    out = _run(
        "bench_pipeline_gpu.py",
        *("--device", "cpu", "--images", "12", "--distinct", "4", "--batch", "4"),
        *("--passes", "2", "--workers", "1", "--step-rate", "50", "--out", str(report)),
        *("--json", str(figures)),
    )
    assert "| data.decode=cpu (1 workers) |" in out and "| data.decode=gpu (1 workers) |" in out
    assert "host cores per GPU" in report.read_text()
    measured = json.loads(figures.read_text())
    assert measured["gpu"]["counts"] == {"device": 24, "cpu": 0, "refused": 0}  # 2 passes
    assert measured["cpu"]["decode"] == "cpu" and measured["cpu"]["cpu_s_per_image"] > 0


def test_user_path_benchmark_trains_both_decode_paths_on_the_cpu(tmp_path: Path) -> None:
    figures = tmp_path / "user.json"
    out = _run(
        "bench_user_path_gpu.py",
        *("--device", "cpu", "--backbone", "test_resnet", "--size", "32", "--images", "16"),
        *("--val", "4", "--distinct", "4", "--batch", "8", "--classes", "4", "--workers", "0"),
        *("--epochs", "2", "--resident", "100", "--json", str(figures)),
    )
    assert "| data.decode=cpu |" in out and "| data.decode=gpu |" in out
    measured = json.loads(figures.read_text())
    assert measured["gpu"]["decode"]["mode"] == "gpu" and measured["cpu"]["decode"]["mode"] == "cpu"
    # 2 epochs of 2 batches of 8, and 4 evaluation images, decoded in batches
    assert measured["gpu"]["decode"]["device"] == 2 * 16 + 4
    for run in measured.values():
        assert run["img_s"] > 0 and 0 <= run["log_data_wait"] <= 1 and run["boundary_s"] >= 0
        assert run["cpu_s_per_image"] > 0


def test_metrics_benchmark_loads_the_oracle_from_the_tests() -> None:
    out = _run("bench_metrics.py", *("--n", "300", "--c", "6", "--repeats", "1"))
    assert "| n | C | vectorised (s) |" in out and "| 300 | 6 |" in out
