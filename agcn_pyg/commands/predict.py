"""`agcn predict CKPT IMAGES...`: per-label probabilities and predicted labels.

With ``--out FILE`` (``.csv`` or ``.json``) the predictions go to that file, which is never
replaced without ``--overwrite``, and the terminal gets a summary (how many images, how many
labels predicted, the most frequent labels; the per-image table too for at most
`TABLE_LIMIT` images). Without ``--out`` nothing is written: the per-image table of every
image goes to stdout, after the summary.

Every input must exist: a missing file, folder or list entry is one line naming it (exit
status 2) before the model is loaded, and nothing is written. Files that exist but cannot be
decoded are skipped and listed (in the output too), with exit status 3; 0 when every file was
labelled.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agcn_pyg.commands.options import (
    add_inference_options,
    check_inference_options,
    check_new_file,
    user_path,
)

EXIT_SKIPPED = 3
#: the most images whose per-image table the summary shows (with ``--out``)
TABLE_LIMIT = 20
#: how many of the most frequent labels the summary names
FREQUENT = 5


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Label images with a trained checkpoint. Without --out nothing is "
        "written and every image's labels are printed.",
        add_help=add_help,
    )
    parser.add_argument("checkpoint", type=user_path, help="a .pt written by `agcn train`")
    parser.add_argument(
        "inputs", nargs="*", type=user_path, help="image files and/or folders (recursive)"
    )
    parser.add_argument(
        "--list",
        dest="list_file",
        type=user_path,
        help="a UTF-8 text file with one image path a line (relative to the file)",
    )
    parser.add_argument(
        "--out", type=user_path, help="write the predictions to this .csv or .json file"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--threshold", type=float, default=0.5, help="global threshold, a probability in (0, 1)"
    )
    group.add_argument(
        "--thresholds", type=user_path, help="per-class thresholds JSON (agcn evaluate)"
    )
    add_inference_options(parser)
    return parser


def main(args: argparse.Namespace) -> int:
    # Here, not at the top, so that `agcn predict --help` does not import torch.
    from agcn_pyg.engine.checkpoint import load_model
    from agcn_pyg.engine.evaluate import load_thresholds
    from agcn_pyg.engine.inputs import test_pipeline
    from agcn_pyg.engine.predict import gather_images, predict_files
    from agcn_pyg.engine.runtime import resolve_amp, resolve_device
    from agcn_pyg.errors import ConfigError
    from agcn_pyg.io import write_text
    from agcn_pyg.metrics import logit_threshold, sigmoid

    check_inference_options(args)
    out: Path | None = args.out
    if out is not None:
        if out.suffix.lower() not in {".csv", ".json"}:
            raise ConfigError(f"--out {out}: expected a .csv or .json file name")
        check_new_file("--out", out, args.overwrite)
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
    result = Predictions(names, kept, logits >= logit_thresholds, sigmoid(logits), skipped)
    if out is not None:
        write_text(out, result.json() if out.suffix.lower() == ".json" else result.csv())
    print(result.summary(out))
    if out is None or len(kept) <= TABLE_LIMIT:
        print(result.table())
    if skipped:
        print(f"skipped {len(skipped)} unreadable file(s):")
        for path, reason in skipped:
            print(f"  {path}: {reason}")
        return EXIT_SKIPPED
    return 0


class Predictions:
    """What `predict_files` found, in the forms `main` writes and prints.

    Attributes:
        names: the ``C`` label names.
        images: the ``N`` labelled files.
        predicted: ``N × C`` bool, the labels at or above their threshold.
        probs: ``N × C`` probabilities.
        skipped: ``(file, reason)`` of the files that could not be read.
    """

    def __init__(
        self,
        names: Sequence[str],
        images: Sequence[Path],
        predicted: np.ndarray,
        probs: np.ndarray,
        skipped: Sequence[tuple[Path, str]],
    ) -> None:
        self.names, self.images, self.skipped = list(names), list(images), list(skipped)
        self.predicted, self.probs = predicted, probs

    def chosen(self, row: int, by_probability: bool = False) -> list[int]:
        """The indices of the labels predicted for image ``row``: in label order, or most
        probable first."""
        chosen = np.flatnonzero(self.predicted[row])
        if by_probability:
            chosen = chosen[np.argsort(-self.probs[row, chosen], kind="stable")]
        return chosen.tolist()

    def csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["image", "labels", *self.names])
        for row, path in enumerate(self.images):
            labels = ";".join(self.names[c] for c in self.chosen(row))
            writer.writerow([str(path), labels, *(f"{float(p):.6f}" for p in self.probs[row])])
        return buffer.getvalue()

    def json(self) -> str:
        records: list[dict[str, Any]] = [
            {
                "image": str(path),
                "labels": [self.names[c] for c in self.chosen(row)],
                "scores": {
                    n: round(float(p), 6) for n, p in zip(self.names, self.probs[row], strict=True)
                },
            }
            for row, path in enumerate(self.images)
        ]
        skipped = [{"image": str(p), "reason": r} for p, r in self.skipped]
        return json.dumps({"predictions": records, "skipped": skipped}, indent=2) + "\n"

    def summary(self, out: Path | None) -> str:
        """``labelled N image(s) -> out``, how many labels were predicted (and how many images
        got none), and the most frequent labels."""
        n = len(self.images)
        where = f" -> {out}" if out is not None else " (not written; --out FILE writes them)"
        counts = Counter(self.names[c] for row in range(n) for c in self.chosen(row))
        empty = n - int(self.predicted.any(axis=1).sum()) if n else 0
        lines = [
            f"labelled {n} image(s){where}",
            f"predicted {sum(counts.values())} label(s) in all; {empty} image(s) with none",
        ]
        if counts:
            top = ", ".join(f"{name} ({k})" for name, k in counts.most_common(FREQUENT))
            lines.append(f"most frequent: {top}")
        return "\n".join(lines)

    def table(self) -> str:
        """One line per image: the file, then its labels with their probabilities, most
        probable first (``-`` for none)."""
        width = max((len(str(p)) for p in self.images), default=5)
        lines = [f"{'image':<{width}}  labels"]
        for row, path in enumerate(self.images):
            cells = [
                f"{self.names[c]} ({self.probs[row, c]:.2f})"
                for c in self.chosen(row, by_probability=True)
            ]
            lines.append(f"{path!s:<{width}}  {', '.join(cells) or '-'}")
        return "\n".join(lines)
