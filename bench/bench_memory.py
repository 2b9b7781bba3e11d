"""Figure 6: peak memory of a training step, A-GCN ÷ baseline.

    python bench/bench_memory.py [--batch 4] [--size 448] [--classes 80] [--steps 2]

Each variant runs in a fresh child process (peak memory only grows within a process): build
the ResNet-101 model, an SGD optimiser with momentum (the paper's), then ``--steps`` training
steps as the trainer does them (forward with L_A, BCE + α·L_A, backward, step; the second step
is the steady state, with momentum buffers). On the CPU the figure is the process's peak
resident set (``ru_maxrss``), which includes Python, torch and the weights, with glibc told to
unmap freed blocks (`benchlib.exact_rss_env`) so that it tracks live tensors; the growth over
the state just before the first step is shown beside it. On CUDA it is
``torch.cuda.max_memory_allocated``. Variants: the baseline, A-GCN on the library's path (dense
gcn) and A-GCN forced onto PyG message passing (the path before the dense forms).
Goal: A-GCN ÷ baseline ≤ 1.05.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from benchlib import build_model, exact_rss_env, print_header, table, verdict

GOAL = 1.05
VARIANTS = {
    "baseline": ("none", False),
    "agcn": ("conv", False),
    "agcn_mp": ("conv", True),
}
LABELS = {
    "baseline": "baseline (linear head)",
    "agcn": "A-GCN, dense gcn (library path)",
    "agcn_mp": "A-GCN, PyG message passing",
}


def _peak(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def child(args: argparse.Namespace) -> dict[str, int]:
    device = torch.device(args.device)
    graph, message_passing = VARIANTS[args.child]
    model = build_model(graph, args.backbone, args.classes, args.embed_dim).to(device).train()
    if model.has_graph:
        model.head.gnn.message_passing = message_passing
    optimizer = torch.optim.SGD(model.param_groups(0.01, 0.1), lr=0.01, momentum=0.9)
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(args.batch, 3, args.size, args.size, generator=gen).to(device)
    targets = torch.randint(0, 2, (args.batch, args.classes), generator=gen).float().to(device)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
    before = _peak(device) if device.type != "cuda" else torch.cuda.memory_allocated(device)
    for _ in range(args.steps):
        logits, graph_loss = model(images, return_graph_loss=True)
        loss = F.binary_cross_entropy_with_logits(logits, targets) + graph_loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return {"before": before, "peak": _peak(device)}


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="resnet101")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, default=448)
    parser.add_argument("--classes", type=int, default=80)
    parser.add_argument("--embed-dim", type=int, default=300)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", choices=list(VARIANTS), help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(args)))
        return 0
    results = {}
    for variant in VARIANTS:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", variant]
        for flag in ("backbone", "batch", "size", "classes", "embed_dim", "steps", "device"):
            cmd += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=exact_rss_env())
        if proc.returncode != 0:
            print(proc.stdout + proc.stderr, file=sys.stderr)
            return 1
        results[variant] = json.loads(proc.stdout.strip().splitlines()[-1])

    base = results["baseline"]
    command = (
        f"python bench/bench_memory.py --batch {args.batch} --size {args.size} "
        f"--classes {args.classes} --steps {args.steps}"
        + (f" --device {args.device}" if args.device != "cpu" else "")
    )
    print_header("Figure 6: peak memory of a training step, A-GCN ÷ baseline", command, args.device)
    what = "max allocated" if args.device.startswith("cuda") else "peak RSS"
    rows = []
    for variant, result in results.items():
        ratio = result["peak"] / base["peak"]
        growth = result["peak"] - result["before"]
        goal = "" if variant == "baseline" else f"≤ {GOAL}: {verdict(ratio <= GOAL)}"
        rows.append(
            [
                LABELS[variant],
                f"{result['peak'] / 2**30:.2f}",
                f"{growth / 2**30:.2f}",
                f"{ratio:.3f}",
                f"{growth / max(base['peak'] - base['before'], 1):.3f}",
                goal,
            ]
        )
    print(
        table(
            [
                "variant",
                f"{what} (GiB)",
                "growth in the steps (GiB)",
                "peak ÷ baseline",
                "growth ÷ baseline",
                "goal",
            ],
            rows,
            align="lrrrrl",
        )
    )
    print()
    ratio = results["agcn"]["peak"] / base["peak"]
    print(
        f"{args.backbone} @{args.size}, B = {args.batch}, C = {args.classes}, fp32, SGD with "
        f"momentum, {args.steps} steps; one fresh process per variant."
    )
    print(f"goal: A-GCN peak ≤ {GOAL} × baseline -> {verdict(ratio <= GOAL)} ({ratio:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
