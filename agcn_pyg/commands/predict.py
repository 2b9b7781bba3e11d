"""`agcn predict CKPT IMAGES...`: per-label probabilities and predicted labels.

Exit status: 0 when every file was labelled, 3 when some were skipped as unreadable (they
are listed at the end and in the output), 2 on an error.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

import numpy as np

from agcn_pyg.commands._options import add_inference_options

EXIT_SKIPPED = 3


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Label images with a trained checkpoint.", add_help=add_help
    )
    parser.add_argument("checkpoint", help="a .pt written by `agcn train`")
    parser.add_argument("inputs", nargs="*", help="image files and/or folders (recursive)")
    parser.add_argument("--list", dest="list_file", help="a text file with one image path a line")
    parser.add_argument("--out", default="predictions.csv", help="output .csv or .json")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--threshold", type=float, default=0.5, help="global threshold")
    group.add_argument("--thresholds", help="per-class thresholds JSON (agcn evaluate)")
    add_inference_options(parser)
    return parser


def main(args: argparse.Namespace) -> int:
    from agcn_pyg.engine.checkpoint import load_model
    from agcn_pyg.engine.evaluate import load_thresholds
    from agcn_pyg.engine.inputs import test_pipeline
    from agcn_pyg.engine.predict import gather_images, predict_files
    from agcn_pyg.engine.runtime import resolve_amp, resolve_device
    from agcn_pyg.errors import ConfigError
    from agcn_pyg.io import write_text
    from agcn_pyg.metrics import logit_threshold, sigmoid

    out = Path(args.out)
    if out.suffix.lower() not in {".csv", ".json"}:
        raise ConfigError(f"--out {out}: expected a .csv or .json file name")
    paths = gather_images(args.inputs, args.list_file)
    if not paths:
        raise ConfigError("no images given: pass files, folders or --list")
    device = resolve_device(args.device)
    amp_dtype, _ = resolve_amp(args.amp, device)
    model, meta = load_model(args.checkpoint, map_location=device)
    names = meta["label_names"]
    # Decisions compare logits, as evaluate does; probabilities are only for reading.
    logit_thresholds = (
        load_thresholds(args.thresholds, names, logits=True)
        if args.thresholds
        else np.full(len(names), logit_threshold(args.threshold, where="--threshold"))
    )
    transform, normalize = test_pipeline(meta["run_config"], model)
    logits, kept, skipped = predict_files(
        model,
        paths,
        transform,
        batch_size=args.batch_size,
        workers=args.workers,
        device=device,
        amp_dtype=amp_dtype,
        progress=not args.no_progress,
        normalize=normalize,
    )
    predicted = logits >= logit_thresholds
    probs = sigmoid(logits)
    if out.suffix.lower() == ".json":
        records = [
            {
                "image": str(path),
                "labels": [n for n, p in zip(names, row, strict=True) if p],
                "scores": {n: round(float(s), 6) for n, s in zip(names, prob, strict=True)},
            }
            for path, row, prob in zip(kept, predicted, probs, strict=True)
        ]
        skipped_records = [{"image": str(p), "reason": r} for p, r in skipped]
        text = json.dumps({"predictions": records, "skipped": skipped_records}, indent=2)
        write_text(out, text + "\n")
    else:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["image", "labels", *names])
        for path, row, prob in zip(kept, predicted, probs, strict=True):
            labels = ";".join(n for n, p in zip(names, row, strict=True) if p)
            writer.writerow([str(path), labels, *(f"{float(s):.6f}" for s in prob)])
        write_text(out, buffer.getvalue())
    print(f"labelled {len(kept)} image(s) -> {out}")
    if skipped:
        print(f"skipped {len(skipped)} unreadable file(s):")
        for path, reason in skipped:
            print(f"  {path}: {reason}")
        return EXIT_SKIPPED
    return 0
