"""Figure 4: cost of the graph head as C grows, PyG message passing vs the dense form.

    python bench/bench_gnn_scaling.py [--classes 20 80 400 1000] [--repeats 3]

For each C, a fresh child process builds the head of A-GCN (conv LG, Eq. 4, 2-layer gcn
d_e → 1024 → 2048 with d_e = 300) and runs it forward + backward in fp32 from a fixed upstream
gradient on W̄ (what the classifier sends back). In the child, one step on the dense form and
then one on message passing give the peak resident memory of each (``ru_maxrss`` only grows,
and message passing needs more), then the two paths are timed interleaved.

Message passing over the complete graph materialises ``C² × F`` messages and their gradients;
where that would not fit in the memory this machine has free (estimated as
``--mp-bytes-factor × C² × (hidden + D) × 4`` bytes; the factor 3 matches the measured peaks
at C = 80 and 400), it is reported as not run, with the estimate.
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
from benchlib import (
    available_memory_bytes,
    interleaved,
    median,
    print_header,
    set_threads,
    table,
    unit_embeddings,
)

from agcn_pyg.graph import complete_edge_index, sparsity_loss
from agcn_pyg.models import AGCNConfig
from agcn_pyg.models.gnn import LabelGNN
from agcn_pyg.models.label_graph import ConvGraph


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, nargs="+", default=[20, 80, 400, 1000])
    parser.add_argument("--embed-dim", type=int, default=300)
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--features", type=int, default=2048, help="D (ResNet-101: 2048)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads for both sides (0: torch's default); see bench/benchlib.py",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (after 1 warm-up)")
    parser.add_argument("--mp-bytes-factor", type=float, default=3.0)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--skip-mp", action="store_true", help=argparse.SUPPRESS)
    return parser


def _rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def child(args: argparse.Namespace) -> dict[str, float | None]:
    """Measure one C; returns seconds and peak-memory increments per path."""
    num_classes = args.child
    torch.manual_seed(0)
    embeddings = unit_embeddings(num_classes, args.embed_dim)
    cfg = AGCNConfig(num_classes=num_classes)  # the A-GCN head at its defaults
    label_graph = ConvGraph.build(args.embed_dim, num_classes, None, cfg)
    gnn = LabelGNN(
        "gcn",
        args.embed_dim,
        args.features,
        hidden_dims=[args.hidden],
        negative_slope=cfg.negative_slope,
        bias=cfg.gnn_bias,
        heads=cfg.heads,
        init=cfg.gnn_init,
    )
    edge_index = complete_edge_index(num_classes)
    upstream = torch.randn(num_classes, args.features)

    def step(message_passing: bool) -> None:
        label_graph.zero_grad(set_to_none=True)
        gnn.zero_grad(set_to_none=True)
        gnn.message_passing = message_passing
        _, adj_hat = label_graph(embeddings)
        weight = gnn(embeddings, edge_index, adj_hat)
        ((weight * upstream).sum() + sparsity_loss(adj_hat)).backward()

    start = _rss_bytes()
    step(False)
    dense_peak = _rss_bytes() - start
    mp_peak = None
    cases = {"dense": lambda: step(False)}
    if not args.skip_mp:
        step(True)
        mp_peak = _rss_bytes() - start
        cases["mp"] = lambda: step(True)
    times = interleaved(cases, args.repeats, warmup=1)
    return {
        "dense_s": median(times["dense"]),
        "mp_s": median(times["mp"]) if "mp" in times else None,
        "dense_peak": dense_peak,
        "mp_peak": mp_peak,
    }


def _gib(value: float) -> str:
    return f"{value / 2**30:.2f}"


def main(argv: Sequence[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    set_threads(args.threads)
    if args.child is not None:
        print(json.dumps(child(args)))
        return 0

    rows = []
    for num_classes in args.classes:
        estimate = args.mp_bytes_factor * num_classes**2 * (args.hidden + args.features) * 4
        skip_mp = estimate > 0.7 * available_memory_bytes()
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            str(num_classes),
            "--embed-dim",
            str(args.embed_dim),
            "--hidden",
            str(args.hidden),
            "--features",
            str(args.features),
            "--repeats",
            str(args.repeats),
            "--threads",
            str(args.threads),
        ] + (["--skip-mp"] if skip_mp else [])
        # Default malloc settings: `exact_rss_env` would add page faults to every large
        # allocation and so slow message passing's C²-row tensors down unfairly.
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(proc.stdout + proc.stderr, file=sys.stderr)
            return 1
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        dense_s, mp_s = result["dense_s"], result["mp_s"]
        if mp_s is None:
            mp_time = f"not run: needs ≈ {_gib(estimate)} GiB (est.)"
            mp_mem, speedup, faster = "—", "—", "dense"
        else:
            mp_time = f"{mp_s * 1e3:.1f}"
            mp_mem = _gib(result["mp_peak"])
            speedup = f"{mp_s / dense_s:.1f}×"
            faster = "dense" if dense_s < mp_s else "message passing"
        rows.append(
            [
                num_classes,
                f"{num_classes**2:,}",
                mp_time,
                f"{dense_s * 1e3:.1f}",
                speedup,
                mp_mem,
                _gib(result["dense_peak"]),
                faster,
            ]
        )

    command = (
        "python bench/bench_gnn_scaling.py --classes "
        + " ".join(map(str, args.classes))
        + f" --threads {args.threads}"
    )
    print_header("Figure 4: graph head cost vs C, message passing vs dense", command)
    print(
        table(
            [
                "C",
                "edges C²",
                "message passing (ms)",
                "dense (ms)",
                "dense speed-up",
                "MP peak +GiB",
                "dense peak +GiB",
                "faster",
            ],
            rows,
            align="rrrrrrrl",
        )
    )
    print()
    print(
        f"Head = conv LG + Eq. 4 + gcn {args.embed_dim} → {args.hidden} → {args.features} + "
        f"L_A, forward + backward, fp32, {torch.get_num_threads()} torch thread(s); medians of "
        f"{args.repeats} interleaved rounds, one child process per C. Peak +GiB: growth of the "
        "child's peak RSS over its state before the first step."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
