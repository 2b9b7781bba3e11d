"""Figure 1: graph head forward+backward time ÷ backbone forward+backward time.

    python bench/bench_head.py [--batch 8] [--size 448] [--classes 80] [--repeats 3]

One process, ResNet-101 A-GCN (conv LG, 2-layer gcn d_e → 1024 → 2048, d_e = 300 as GloVe),
train mode, fp32. Each round times, in rotated order:

* the backbone: ``forward_features(images)`` and its backward from a fixed upstream gradient;
* the graph head (LG + Eq. 4 + GNN + classifier + L_A) forward and backward from fixed pooled
  features, ``--head-calls`` times per round, once on the library's path (the dense form of
  ``gcn``) and once forced onto PyG message passing (the path before the dense forms);
* the LG + Eq. 4 part alone (informative).

The head's cost does not depend on the batch (bar the B × D × C classifier product), so the
ratio falls as 1/B; the default B = 8 is set by time on a 2-core CPU, not by memory. Both
parts run with ``--threads`` torch threads (default 1; see `benchlib` for why).
Goal: ≤ 1 %.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from benchlib import (
    build_model,
    interleaved,
    median,
    model_bench_parser,
    print_header,
    set_threads,
    spread,
    table,
    verdict,
)

GOAL = 0.01


def get_args_parser() -> argparse.ArgumentParser:
    return model_bench_parser(
        __doc__.splitlines()[0],
        batch=8,
        repeats=3,
        head_calls=5,
        repeats_help="timed rounds (after 1 warm-up)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    set_threads(args.threads)
    device = torch.device(args.device)
    model = build_model("conv", args.backbone, args.classes, args.embed_dim).to(device).train()
    head = model.head
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(args.batch, 3, args.size, args.size, generator=gen).to(device)
    with torch.no_grad():
        feats = model.forward_features(images[:1]).expand(args.batch, -1).contiguous()
    upstream = torch.randn(feats.shape, generator=gen).to(device)
    targets = torch.randint(0, 2, (args.batch, args.classes), generator=gen).float().to(device)

    def backbone() -> None:
        model.zero_grad(set_to_none=True)
        model.forward_features(images).backward(upstream)

    def graph_head(message_passing: bool) -> None:
        model.zero_grad(set_to_none=True)
        head.gnn.message_passing = message_passing
        x = feats.detach().requires_grad_(True)  # the backbone's output needs its gradient
        logits, graph_loss = model.forward_head(x, return_graph_loss=True)
        (F.binary_cross_entropy_with_logits(logits, targets) + graph_loss).backward()

    def label_graph() -> None:
        model.zero_grad(set_to_none=True)
        adj, adj_hat = head.label_graph(head.embeddings)
        (adj.sum() + adj_hat.sum()).backward()

    cases = {
        "backbone": backbone,
        "head_dense": lambda: graph_head(False),
        "head_mp": lambda: graph_head(True),
        "lg": label_graph,
    }
    calls = {"head_dense": args.head_calls, "head_mp": args.head_calls, "lg": args.head_calls}
    times = interleaved(cases, args.repeats, warmup=1, calls=calls, device=device)
    head.gnn.message_passing = False

    base = median(times["backbone"])
    command = (
        f"python bench/bench_head.py --batch {args.batch} --size {args.size} "
        f"--classes {args.classes} --repeats {args.repeats} --threads {args.threads}"
    )
    print_header("Figure 1: graph head ÷ backbone, forward + backward", command, device)
    rows = [
        [
            f"backbone {args.backbone} @{args.size}, B = {args.batch}",
            f"{base * 1e3:.0f}",
            spread([t * 1e3 for t in times["backbone"]]),
            "1",
            "",
        ]
    ]
    labels = {
        "head_dense": "graph head, dense gcn (library path)",
        "head_mp": "graph head, PyG message passing",
        "lg": "… of which LG + Eq. 4 alone",
    }
    for key, label in labels.items():
        ratio = median(times[key]) / base
        goal = "" if key == "lg" else f"≤ 1 %: {verdict(ratio <= GOAL)}"
        rows.append(
            [
                label,
                f"{median(times[key]) * 1e3:.1f}",
                spread([t * 1e3 for t in times[key]]),
                f"{100 * ratio:.2f} %",
                goal,
            ]
        )
    print(
        table(
            ["part (fwd + bwd, fp32)", "median (ms)", "range (ms)", "÷ backbone", "goal"],
            rows,
            align="lrrrl",
        )
    )
    print()
    ratio = median(times["head_dense"]) / base
    print(
        f"C = {args.classes}, d_e = {args.embed_dim}, D = {model.num_features}; "
        f"{torch.get_num_threads()} torch thread(s) for both parts; "
        f"{args.repeats} rounds × {args.head_calls} head calls. "
        f"Per image the backbone costs {base / args.batch * 1e3:.0f} ms; the head's share at "
        f"batch B is ≈ {100 * ratio * args.batch:.1f} % / B."
    )
    print(f"goal: head ≤ 1 % of backbone -> {verdict(ratio <= GOAL)} ({100 * ratio:.2f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
