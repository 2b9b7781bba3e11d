"""The benchmark scripts still run (tiny sizes, no timing asserted): above all the GPU one,
which no CPU machine would otherwise ever execute."""

from __future__ import annotations

import importlib.util
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
    report = tmp_path / "gpu_train.md"
    out = _run(
        "bench_train_gpu.py",
        *("--device", "cpu", "--backbone", "test_resnet", "--size", "32", "--batch", "2"),
        *("--steps", "1", "--warmup", "1", "--no-compile", "--out", str(report)),
    )
    assert "| A-GCN | eager |" in out and "A-GCN, cached W̄" in out
    assert report.read_text().startswith("## Training throughput")


@pytest.mark.slow
def test_memory_benchmark_compares_three_variants() -> None:
    out = _run(
        "bench_memory.py",
        *("--backbone", "test_resnet", "--size", "32", "--batch", "2", "--classes", "5"),
    )
    assert "| baseline (linear head) |" in out and "goal: A-GCN peak" in out


def test_gpu_check_is_valid_bash() -> None:
    proc = subprocess.run(["bash", "-n", str(BENCH / "gpu_check.sh")], capture_output=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_data_benchmark_reports_old_new_and_minimal_paths() -> None:
    out = _run(
        "bench_data.py",
        *("--images", "8", "--large", "1", "--rounds", "1", "--workers", "1"),
        *("--batch", "4", "--demand", "0.5"),
    )
    assert "| **new path**" in out and "new path ÷ minimal torch pipeline" in out
    assert "at most 1 uint8 step(s) apart" in out


def test_gpu_pipeline_benchmark_runs_on_the_cpu(tmp_path: Path) -> None:
    report = tmp_path / "gpu_pipeline.md"
    out = _run(
        "bench_pipeline_gpu.py",
        *("--device", "cpu", "--backbone", "test_resnet", "--images", "8", "--batch", "4"),
        *("--steps", "1", "--passes", "1", "--workers", "1", "--out", str(report)),
    )
    assert "new: uint8 batches, normalised on the device" in out
    assert "fed ÷ resident training" in report.read_text()


def test_metrics_benchmark_loads_the_oracle_from_the_tests() -> None:
    out = _run("bench_metrics.py", *("--n", "300", "--c", "6", "--repeats", "1"))
    assert "| n | C | vectorised (s) |" in out and "| 300 | 6 |" in out
