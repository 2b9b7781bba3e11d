"""Training throughput on a CUDA device: baseline vs A-GCN vs a plain timm step, eager vs
``torch.compile``.

    python bench/bench_train_gpu.py [--batch 64] [--size 448] [--steps 10] [--out FILE]
        [--json FILE]

ResNet-101 @448 training steps as the trainer runs them (bf16 autocast, channels_last
backbone, SGD with momentum and the paper's two learning rates, BCE + α·L_A, one
``isfinite(loss).item()`` check per step) on synthetic images already on the device, so the
figure is the step's own speed, not the data pipeline's (``bench/bench_data.py``). Variants:
baseline and A-GCN (conv LG, 2-layer gcn), each eager and compiled the way ``train.compile``
does it (``torch.compile`` of the whole model, backbone and head). Beside them, the
reference: a plain timm model (``timm.create_model(backbone, num_classes=C)``, its own
classifier) trained by the plainest step there is (autocast forward, BCE, backward, SGD; no
per-step check or sync), eager and compiled: what a timm user's loop reaches on the same
backbone, written here rather than taken from timm's ``benchmark.py``.

Reported per variant: images/s, A-GCN ÷ baseline, A-GCN ÷ the timm reference, the fraction
of the device's dense bf16 peak that the step reaches (≈ 188 GFLOP per training image at
448; the peak is looked up by device name and printed, or given with ``--peak-tflops``) and
the peak memory allocated.
Then, eager and bf16, the graph head's forward+backward time ÷ the backbone's (figure 1) and
inference time A-GCN ÷ baseline (figure 2). Each table is printed as soon as it is measured,
so a run cut short still reports what it finished; ``--out`` (or ``$OUT/gpu_train.md``) gets
the whole report, ``--json`` the images/s of every variant (``bench/gpu_goals.py`` reads
them). Runs on the CPU too (``--device cpu --no-compile``, small sizes) as a smoke test of
the script itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from benchlib import (
    TRAIN_GFLOP_PER_IMAGE_448,
    bf16_peak_tflops,
    build_model,
    interleaved,
    machine,
    median,
    table,
    table_head,
    table_row,
)

from agcn_pyg.io import write_text


class Report:
    """Prints lines at once and keeps them for the ``--out`` file."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, text: str = "") -> None:
        print(text, flush=True)
        self.lines.append(text)


def _autocast(device: torch.device, amp: str) -> Any:
    if amp == "off":
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def _prepare(model: torch.nn.Module, device: torch.device, channels_last: bool) -> Any:
    model.to(device)
    if channels_last:
        model.backbone.to(memory_format=torch.channels_last)
    return model


def _images(args: argparse.Namespace, device: torch.device) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(args.batch, 3, args.size, args.size, generator=gen).to(device)
    if args.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    return images


def train_throughput(
    args: argparse.Namespace, graph: str, compiled: bool, device: torch.device
) -> dict[str, float]:
    """Images/s and peak allocated bytes of ``args.steps`` training steps after warm-up;
    ``graph="timm"`` is the plain timm reference step."""
    if graph == "timm":
        return _timed_steps(args, _timm_step(args, compiled, device), device)
    model = _prepare(build_model(graph, args.backbone, args.classes), device, args.channels_last)
    model.train()
    forward = torch.compile(model) if compiled else model  # as train.compile does
    optimizer = torch.optim.SGD(
        model.param_groups(0.01, 0.1), lr=0.01, momentum=0.9, weight_decay=1e-4
    )
    images = _images(args, device)
    targets = torch.randint(0, 2, (args.batch, args.classes), device=device).float()

    def step() -> None:
        with _autocast(device, args.amp):
            logits, graph_loss = forward(images, return_graph_loss=True)
        loss = F.binary_cross_entropy_with_logits(logits.float(), targets) + graph_loss.float()
        if not torch.isfinite(loss).item():  # the trainer's divergence check (a sync)
            raise RuntimeError("loss is not finite")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return _timed_steps(args, step, device)


def _timm_step(
    args: argparse.Namespace, compiled: bool, device: torch.device
) -> Callable[[], None]:
    """The plain timm step: a timm model with its own classifier, no check, no sync."""
    import timm

    torch.manual_seed(0)
    model = timm.create_model(args.backbone, num_classes=args.classes).to(device).train()
    if args.channels_last:
        model.to(memory_format=torch.channels_last)
    forward = torch.compile(model) if compiled else model
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    images = _images(args, device)
    targets = torch.randint(0, 2, (args.batch, args.classes), device=device).float()

    def step() -> None:
        with _autocast(device, args.amp):
            logits = forward(images)
        loss = F.binary_cross_entropy_with_logits(logits.float(), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def _timed_steps(
    args: argparse.Namespace, step: Callable[[], None], device: torch.device
) -> dict[str, float]:
    """``args.warmup`` untimed steps (the compile happens there), then ``args.steps`` timed."""
    start = time.perf_counter()
    for _ in range(args.warmup):
        step()
    _sync(device)
    warmup_s = time.perf_counter() - start
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    _sync(device)
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else float("nan")
    return {"img_s": args.batch * args.steps / seconds, "peak": peak, "warmup_s": warmup_s}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def head_vs_backbone(args: argparse.Namespace, device: torch.device) -> dict[str, float]:
    """Median seconds of backbone fwd+bwd and graph head fwd+bwd (eager, bf16 backbone)."""
    model = _prepare(build_model("conv", args.backbone, args.classes), device, args.channels_last)
    model.train()
    images = _images(args, device)
    with _autocast(device, args.amp):
        feats = model.forward_features(images).detach().float()
    upstream = torch.randn_like(feats)
    targets = torch.randint(0, 2, (args.batch, args.classes), device=device).float()

    def backbone() -> None:
        model.zero_grad(set_to_none=True)
        with _autocast(device, args.amp):
            out = model.forward_features(images)
        out.float().backward(upstream)

    def head() -> None:
        model.zero_grad(set_to_none=True)
        x = feats.detach().requires_grad_(True)
        with _autocast(device, args.amp):
            logits, graph_loss = model.forward_head(x, return_graph_loss=True)
        (F.binary_cross_entropy_with_logits(logits.float(), targets) + graph_loss).backward()

    times = interleaved(
        {"backbone": backbone, "head": head},
        repeats=args.steps,
        warmup=2,
        calls={"head": 5},
        device=device,
    )
    return {k: median(v) for k, v in times.items()}


def inference_ratio(args: argparse.Namespace, device: torch.device) -> dict[str, float]:
    """Median seconds per eval batch (bf16, cached W̄) of the baseline and A-GCN."""
    baseline = _prepare(build_model("none", args.backbone, args.classes), device, False)
    agcn = _prepare(build_model("conv", args.backbone, args.classes), device, False)
    agcn.backbone.load_state_dict(baseline.backbone.state_dict())
    for model in (baseline, agcn):
        model.eval()
        if args.channels_last:
            model.backbone.to(memory_format=torch.channels_last)
    images = _images(args, device)

    def run(model: torch.nn.Module) -> Callable[[], None]:
        def call() -> None:
            with _autocast(device, args.amp):
                model(images)

        return call

    with torch.inference_mode():
        times = interleaved(
            {"baseline": run(baseline), "agcn": run(agcn)},
            repeats=args.steps * 2,
            warmup=3,
            device=device,
        )
    return {k: median(v) for k, v in times.items()}


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="resnet101")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=448)
    parser.add_argument("--classes", type=int, default=80)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps (compile happens)")
    parser.add_argument("--amp", choices=["bf16", "off"], default="bf16")
    parser.add_argument(
        "--no-channels-last", dest="channels_last", action="store_false", default=True
    )
    parser.add_argument("--no-compile", dest="compile", action="store_false", default=True)
    parser.add_argument("--peak-tflops", type=float, default=None, help="override the lookup")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", default=None, help="also write the report here")
    parser.add_argument("--json", default=None, help="also write the images/s here")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("bench_train_gpu: CUDA is not available here", file=sys.stderr)
        return 2
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as the trainer sets it
    out = args.out or (
        os.path.join(os.environ["OUT"], "gpu_train.md") if "OUT" in os.environ else None
    )
    say = Report()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    peak = args.peak_tflops if args.peak_tflops is not None else bf16_peak_tflops(name)
    flop = (
        TRAIN_GFLOP_PER_IMAGE_448 * (args.size / 448) ** 2 if "resnet101" in args.backbone else None
    )

    say("## Training throughput on CUDA: baseline vs A-GCN, eager vs compile")
    say()
    say(f"`python bench/bench_train_gpu.py --batch {args.batch} --size {args.size}`  ")
    say(f"{time.strftime('%Y-%m-%d %H:%M')}; {machine(device)}")
    peak_note = (
        f"{peak:.0f} TFLOP/s dense bf16 assumed for {name!r}"
        + (" (given)" if args.peak_tflops is not None else " (spec sheet, looked up by name)")
        if peak
        else f"no bf16 peak known for {name!r}: pass --peak-tflops"
    )
    say(
        f"{args.backbone} @{args.size}, B = {args.batch}, C = {args.classes}, amp {args.amp}, "
        f"channels_last {args.channels_last}; {args.warmup} warm-up + {args.steps} timed steps; "
        f"{flop or float('nan'):.0f} GFLOP per training image; {peak_note}."
    )
    say()

    headers = [
        "model",
        "step",
        "images/s",
        "achieved TFLOP/s",
        "fraction of peak",
        "peak alloc (GiB)",
        "warm-up (s)",
    ]
    results: dict[tuple[str, bool], dict[str, float]] = {}
    names = {"none": "baseline", "conv": "A-GCN", "timm": f"timm {args.backbone} (reference)"}
    failed: list[str] = []

    def ratio(compiled: bool, base: str) -> str:
        a, b = results.get(("conv", compiled)), results.get((base, compiled))
        return f"{a['img_s'] / b['img_s']:.3f}" if a and b else ""

    def throughput_rows(compiled: bool) -> None:
        # A-GCN first: the figure the later benchmarks compare with, if time runs short
        for graph in ("conv", "timm", "none"):
            label = [names[graph], "compiled" if compiled else "eager"]
            try:
                result = train_throughput(args, graph, compiled, device)
            except Exception as err:  # e.g. a compiler failure: report it, keep going
                failed.append(" ".join(label))
                say(table_row([*label, f"failed: {type(err).__name__}: {str(err)[:120]}"]))
                continue
            finally:
                if device.type == "cuda":
                    torch.cuda.empty_cache()  # the variant's model and optimiser are gone now
            results[(graph, compiled)] = result
            _write_json(args.json, results)
            achieved = result["img_s"] * flop / 1000 if flop else None
            say(
                table_row(
                    [
                        *label,
                        f"{result['img_s']:.1f}",
                        f"{achieved:.1f}" if achieved else "n/a",
                        f"{achieved / peak:.1%}" if achieved and peak else "n/a",
                        f"{result['peak'] / 2**30:.2f}",
                        f"{result['warmup_s']:.1f}",
                    ]
                )
            )

    # The quick measurements first, the compiled variants last: a run cut short by its time
    # limit still reports everything eager.
    say(table_head(headers, align="llrrrrr"))
    throughput_rows(compiled=False)
    say()
    say(
        f"Eager: A-GCN ÷ baseline {ratio(False, 'none') or 'n/a'} (goal ≥ 0.99), "
        f"A-GCN ÷ the timm step {ratio(False, 'timm') or 'n/a'}."
    )
    say()
    eager = [results.get((g, False)) for g in ("none", "conv")]
    if all(eager) and device.type == "cuda":
        mem = eager[1]["peak"] / eager[0]["peak"]
        say(f"Peak memory of a training step (eager), A-GCN ÷ baseline: {mem:.3f} (goal ≤ 1.05).")
        say()

    parts = head_vs_backbone(args, device)
    say(
        table(
            ["part, fwd + bwd (eager)", "median (ms)", "÷ backbone"],
            [
                [f"backbone, B = {args.batch}", f"{parts['backbone'] * 1e3:.2f}", "1"],
                [
                    "graph head (LG + Eq. 4 + GNN + classifier + L_A, fp32)",
                    f"{parts['head'] * 1e3:.3f}",
                    f"{parts['head'] / parts['backbone']:.2%}",
                ],
            ],
        )
    )
    say()
    infer = inference_ratio(args, device)
    say(
        table(
            ["eval, inference_mode (eager)", "median per batch (ms)", "÷ baseline"],
            [
                ["baseline", f"{infer['baseline'] * 1e3:.2f}", "1"],
                [
                    "A-GCN, cached W̄",
                    f"{infer['agcn'] * 1e3:.2f}",
                    f"{infer['agcn'] / infer['baseline']:.3f}",
                ],
            ],
        )
    )
    if args.compile:
        say()
        say(table_head(headers, align="llrrrrr"))
        throughput_rows(compiled=True)
        say()
        say(
            f"Compiled: A-GCN ÷ baseline {ratio(True, 'none') or 'n/a'} (goal ≥ 0.99), "
            f"A-GCN ÷ the compiled timm step {ratio(True, 'timm') or 'n/a'} (goal ≥ 0.98)."
        )
    if out:
        write_text(Path(out), "\n".join(say.lines) + "\n")
        print(f"\nwritten: {out}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def _write_json(path: str | None, results: dict[tuple[str, bool], dict[str, float]]) -> None:
    """``{"eager"|"compiled": {"baseline"|"agcn"|"timm": images/s}, "warmup_s": {...}}``,
    rewritten after every variant, so a run cut short keeps what it measured."""
    if not path:
        return
    keys = {"none": "baseline", "conv": "agcn", "timm": "timm"}
    payload: dict[str, dict[str, float]] = {"eager": {}, "compiled": {}, "warmup_s": {}}
    for (graph, compiled), result in results.items():
        kind = "compiled" if compiled else "eager"
        payload[kind][keys[graph]] = result["img_s"]
        payload["warmup_s"][f"{keys[graph]}_{kind}"] = result["warmup_s"]
    write_text(Path(path), json.dumps(payload, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
