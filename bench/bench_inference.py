"""Figure 2: A-GCN inference time (eval mode, cached classifier) ÷ baseline inference time.

    python bench/bench_inference.py [--batch 4] [--size 448] [--classes 80] [--repeats 5]

One process, ResNet-101 models with the *same* backbone weights: the baseline (linear
classifier), A-GCN (conv LG, gcn) and a second copy of the baseline (an A/A control whose
ratio shows the noise floor), all in eval mode under ``torch.inference_mode``, so A-GCN
reuses its cached W̄ (`GraphHead.cached_classifier`). Rounds rotate which model goes first.

The end-to-end figure is the median over rounds of A-GCN's time ÷ the baseline's in the same
round. Besides it (noisy on a shared machine: the backbone is ~all of it), the heads alone
are timed many times on fixed features, which gives the ratio "from parts",
(backbone + A-GCN head) ÷ (backbone + linear head), and shows what the cache saves (the head
with W̄ rebuilt on every call). ``--threads`` as in `benchlib` (default 1). Goal: ≤ 1.02.
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
    paired_ratio,
    print_header,
    set_threads,
    spread,
    table,
    verdict,
)

GOAL = 1.02


def get_args_parser() -> argparse.ArgumentParser:
    return model_bench_parser(
        __doc__.splitlines()[0],
        batch=4,
        repeats=5,
        head_calls=200,
        repeats_help="timed end-to-end rounds",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    set_threads(args.threads)
    device = torch.device(args.device)
    baseline = build_model("none", args.backbone, args.classes).to(device).eval()
    agcn = build_model("conv", args.backbone, args.classes, args.embed_dim).to(device).eval()
    agcn.backbone.load_state_dict(baseline.backbone.state_dict())
    control = build_model("none", args.backbone, args.classes).to(device).eval()
    control.load_state_dict(baseline.state_dict())
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(args.batch, 3, args.size, args.size, generator=gen).to(device)

    with torch.inference_mode():
        feats = baseline.forward_features(images)
        torch.testing.assert_close(agcn.forward_features(images), feats)
        head = agcn.head
        cached = head.cached_classifier()
        assert head.classifier()[0] is cached, "eval + inference_mode must use the cached W̄"

        def rebuilt() -> None:
            F.linear(feats, head.graph()[0])

        e2e = interleaved(
            {
                "baseline": lambda: baseline(images),
                "agcn": lambda: agcn(images),
                "control": lambda: control(images),
            },
            args.repeats,
            warmup=1,
            device=device,
        )
        heads = interleaved(
            {
                "baseline": lambda: baseline.forward_head(feats),
                "agcn": lambda: agcn.forward_head(feats),
                "rebuilt": rebuilt,
            },
            repeats=3,
            warmup=1,
            calls=dict.fromkeys(("baseline", "agcn", "rebuilt"), args.head_calls),
            device=device,
        )
        assert head.classifier()[0] is cached, "the cached W̄ was rebuilt"

    base, ours = median(e2e["baseline"]), median(e2e["agcn"])
    h_base, h_ours, h_rebuilt = (median(heads[k]) for k in ("baseline", "agcn", "rebuilt"))
    backbone = base - h_base
    measured = paired_ratio(e2e["agcn"], e2e["baseline"])
    noise = paired_ratio(e2e["control"], e2e["baseline"])
    from_parts = (backbone + h_ours) / (backbone + h_base)
    command = (
        f"python bench/bench_inference.py --batch {args.batch} --size {args.size} "
        f"--classes {args.classes} --repeats {args.repeats} --threads {args.threads}"
    )
    print_header("Figure 2: A-GCN inference ÷ baseline inference (eval, cached W̄)", command, device)
    rows = [
        [
            "baseline (linear head)",
            f"{base * 1e3:.0f}",
            spread([t * 1e3 for t in e2e["baseline"]]),
            "1",
            f"{h_base * 1e6:.1f}",
        ],
        [
            "A-GCN, cached W̄",
            f"{ours * 1e3:.0f}",
            spread([t * 1e3 for t in e2e["agcn"]]),
            f"{measured:.3f}",
            f"{h_ours * 1e6:.1f}",
        ],
        [
            "baseline, a second copy (A/A control: the noise floor)",
            f"{median(e2e['control']) * 1e3:.0f}",
            spread([t * 1e3 for t in e2e["control"]]),
            f"{noise:.3f}",
            "",
        ],
        [
            "A-GCN head with W̄ rebuilt per call (no cache)",
            "",
            "",
            f"{(backbone + h_rebuilt) / (backbone + h_base):.3f} (from parts)",
            f"{h_rebuilt * 1e6:.0f}",
        ],
    ]
    print(
        table(
            [
                "model",
                "end-to-end median (ms)",
                "range (ms)",
                "÷ baseline (median of per-round ratios)",
                "head alone (µs)",
            ],
            rows,
            align="lrrrr",
        )
    )
    print()
    print(
        f"{args.backbone} @{args.size}, B = {args.batch}, C = {args.classes}; "
        f"{args.repeats} end-to-end rounds, 3 × {args.head_calls} head calls. "
        f"From parts: (backbone + cached head) ÷ (backbone + linear head) = {from_parts:.4f}."
    )
    ok = measured <= GOAL and from_parts <= GOAL
    print(f"goal: ≤ {GOAL} -> {verdict(ok)} (measured {measured:.3f}, from parts {from_parts:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
