"""Shared helpers for the benchmarks: side-by-side timing, models, tables, the machine.

Every benchmark times its cases *interleaved* in one process (case A, case B, case A, ...,
with the order rotated each round) and reports medians and ratios, because the machines
these run on are shared and noisy: a slow spell hits every case of a round alike.

Threads: on a small shared machine (2 cores, other jobs running), torch's OpenMP threads wait
for each other at the end of every operator, and a thread the OS has descheduled costs a
scheduler time slice each time. Large operators hardly notice; a run of small ones does: the
graph head measured 19 ms single-threaded and 350 ms with 2 threads in the same minute. The
benchmarks that time small operators next to large ones therefore take ``--threads`` (default
1) and run *both* sides of each ratio with it; ``--threads 0`` keeps torch's default.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from agcn_pyg import create_model
from agcn_pyg.models import AGCN

#: ResNet-101 at 448 px: about 31.3 GMAC forward, so ≈ 62.6 GFLOP forward and ≈ 188 GFLOP for
#: forward + backward (backward ≈ 2 × forward) per training image.
TRAIN_GFLOP_PER_IMAGE_448 = 188.0
#: Dense (no sparsity) bf16 tensor-core peaks from the vendors' spec sheets, TFLOP/s, matched
#: against ``torch.cuda.get_device_name`` in this order.
BF16_PEAK_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H200", 989.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.0),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L4", 121.0),
)

Case = Callable[[], Any]

#: the 1-minute load average when the benchmark started (other work on a shared machine)
START_LOAD = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def model_bench_parser(
    description: str, batch: int, repeats: int, head_calls: int, repeats_help: str
) -> argparse.ArgumentParser:
    """The options shared by the ResNet-101 @448 benchmarks of figures 1 and 2."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--backbone", default="resnet101")
    parser.add_argument("--batch", type=int, default=batch)
    parser.add_argument("--size", type=int, default=448)
    parser.add_argument("--classes", type=int, default=80)
    parser.add_argument("--embed-dim", type=int, default=300)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads for both sides (0: torch's default); see bench/benchlib.py",
    )
    parser.add_argument("--repeats", type=int, default=repeats, help=repeats_help)
    parser.add_argument("--head-calls", type=int, default=head_calls, help="head calls per round")
    parser.add_argument("--device", default="cpu")
    return parser


def exact_rss_env() -> dict[str, str]:
    """The environment for a child whose peak RSS is measured: glibc serves every block over
    128 KiB with its own mmap and unmaps it on free, so the peak RSS follows the peak of live
    tensors instead of what the heap happened to keep (ResNet-101 @448, B = 4: with glibc's
    defaults two runs of the same baseline step peaked 0.3 GiB apart; with these, < 0.1 MiB)."""
    return {
        **os.environ,
        "MALLOC_MMAP_THRESHOLD_": "131072",
        "MALLOC_TRIM_THRESHOLD_": "131072",
    }


def set_threads(threads: int) -> int:
    """``torch.set_num_threads(threads)`` unless 0; returns the count in use."""
    if threads > 0:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def sync(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def timed(fn: Case, device: torch.device | str = "cpu") -> float:
    """Wall time of one call, waiting for the device before and after."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def interleaved(
    cases: Mapping[str, Case],
    repeats: int,
    warmup: int = 1,
    calls: Mapping[str, int] | None = None,
    device: torch.device | str = "cpu",
) -> dict[str, list[float]]:
    """Per-call seconds of each case, measured round-robin.

    Each of ``warmup + repeats`` rounds runs every case ``calls[name]`` times (default 1),
    starting one case later than the previous round; warm-up rounds are discarded.
    """
    names = list(cases)
    calls = calls or {}
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(warmup + repeats):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            for _ in range(calls.get(name, 1)):
                seconds = timed(cases[name], device)
                if round_ >= warmup:
                    times[name].append(seconds)
    return times


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def paired_ratio(numerator: Sequence[float], denominator: Sequence[float]) -> float:
    """Median over rounds of ``numerator[i] / denominator[i]`` (one call per case and round):
    each round's two cases ran back to back, so a slow spell cancels out of their ratio."""
    return median([a / b for a, b in zip(numerator, denominator, strict=True)])


def _short(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def spread(values: Sequence[float]) -> str:
    """``min–max`` of the timings, to show how noisy the run was."""
    return f"{_short(min(values))}–{_short(max(values))}"


def table_row(cells: Sequence[Any]) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def table_head(headers: Sequence[str], align: str = "") -> str:
    """A Markdown table's header and rule; ``align``: ``l``/``r`` per column (default l, r…)."""
    align = align or "l" + "r" * (len(headers) - 1)
    rule = ["---:" if a == "r" else "---" for a in align]
    return table_row(headers) + "\n|" + "|".join(rule) + "|"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str = "") -> str:
    """A Markdown table."""
    return "\n".join([table_head(headers, align), *(table_row(row) for row in rows)])


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _meminfo_kib(field: str) -> int | None:
    """A ``/proc/meminfo`` field in KiB; ``None`` where the file or the field is missing."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def memory_gib() -> float:
    kib = _meminfo_kib("MemTotal")
    return float("nan") if kib is None else kib / 2**20


def available_memory_bytes() -> int:
    kib = _meminfo_kib("MemAvailable")
    return 0 if kib is None else kib * 1024


def machine(device: torch.device | str = "cpu") -> str:
    """One line: the processor or GPU, cores, memory, torch and its thread count, the load."""
    device = torch.device(device)
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        what = f"{props.name} ({props.total_memory / 2**30:.0f} GiB), host {cpu_model()}"
    else:
        what = f"{cpu_model()}, {os.cpu_count()} cores, {memory_gib():.0f} GiB RAM"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{what}; torch {torch.__version__} on {torch.get_num_threads()} thread(s); "
        f"1-min load average {START_LOAD:.1f} at start, {load:.1f} at end"
    )


def unit_embeddings(num_classes: int, dim: int, seed: int = 0) -> Tensor:
    """Random unit-norm label embeddings (the scale MiniLM/GloVe rows have after norming);
    only their shape matters for speed."""
    gen = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(num_classes, dim, generator=gen), dim=-1)


def build_model(
    graph: str,
    backbone: str = "resnet101",
    num_classes: int = 80,
    embed_dim: int = 300,
    **options: Any,
) -> AGCN:
    """A-GCN (``graph='conv'``, ``gcn``, the paper's 2 layers d_e → 1024 → D) or the baseline
    (``graph='none'``), random weights."""
    torch.manual_seed(0)
    embeddings = None if graph == "none" else unit_embeddings(num_classes, embed_dim)
    return create_model(backbone, num_classes, label_embeddings=embeddings, graph=graph, **options)


def bf16_peak_tflops(device_name: str) -> float | None:
    for key, peak in BF16_PEAK_TFLOPS:
        if key.lower() in device_name.lower():
            return peak
    return None


def print_header(title: str, command: str, device: torch.device | str = "cpu") -> None:
    print(f"## {title}")
    print()
    print(f"`{command}`  ")
    print(f"{time.strftime('%Y-%m-%d')}; {machine(device)}")
    print()


def _clock_ticks(pid: int | str) -> int:
    """User + system CPU clock ticks of a process so far (``/proc/<pid>/stat``); 0 if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)


def process_tree_cpu_seconds() -> float:
    """CPU seconds used so far by this process (all its threads: the pinning thread too),
    its live child processes (DataLoader workers) and its children that have ended.

    The difference of two readings, divided by the images delivered between them, is what
    an image costs the host; times the images/s a GPU consumes, the host cores it needs."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    me = os.getpid()
    children = 0
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if not entry.name.isdigit():
            continue
        try:
            ppid = int(Path(entry, "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == me:
            children += _clock_ticks(entry.name)
    times = os.times()
    own = times.user + times.system + times.children_user + times.children_system
    return own + children / ticks


def replicate(paths: Sequence[Path], count: int, folder: Path) -> list[Path]:
    """``count`` files in ``folder``: ``paths`` repeated as hard links (copies where links
    fail), so a large data set costs the time of its distinct files; each link is decoded in
    full, as a distinct file would be."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(count):
        source = paths[i % len(paths)]
        target = folder / f"{i:06d}{source.suffix}"
        try:
            os.link(source, target)
        except OSError:
            target.write_bytes(source.read_bytes())
        out.append(target)
    return out
