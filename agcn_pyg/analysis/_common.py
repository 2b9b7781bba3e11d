"""Shared helpers for the analysis tools and the demo: reading ``metrics.json``, writing
figures, parsing the α list, the command line.

No plotting library is imported here at run time, so that `results_table` and the demo's plan
load without matplotlib.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from agcn_pyg.errors import AgcnError, ConfigError, DataError
from agcn_pyg.io import atomic_path, write_text

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from agcn_pyg.config import RunConfig

METRICS_FILE = "metrics.json"


@dataclass(frozen=True)
class EvalResult:
    """One ``metrics.json`` written by ``agcn evaluate``.

    ``per_class_ap`` has shape ``(C,)`` in percent; classes without positives are NaN.
    """

    path: Path
    name: str
    label_names: list[str]
    metrics: dict[str, float | None]
    per_class_ap: np.ndarray
    #: how its AP was computed (`agcn_pyg.metrics.AP_PROTOCOLS`); ``None`` in older files
    ap_protocol: str | None = None
    #: its epoch was chosen as the best on the split it reports (`agcn_pyg.selection`)
    selected_on_reported_split: bool = False


def resolve_metrics_path(path: str | os.PathLike[str]) -> Path:
    """Return the ``metrics.json`` that ``path`` names: the file itself or inside a folder."""
    p = Path(path)
    if p.is_dir():
        p = p / METRICS_FILE
    if not p.is_file():
        raise DataError(f"{p}: no such metrics file (pass a metrics.json or its folder)")
    return p


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from err
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object at the top level")
    return data


def _as_float(value: object, where: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(f"{where}: expected a number or null, got {value!r}")
    return float(value)


def load_metrics(path: str | os.PathLike[str], *, need_per_class: bool = False) -> EvalResult:
    """Read one evaluation output; a missing or malformed field raises ``DataError``."""
    p = resolve_metrics_path(path)
    data = _read_json(p)
    metrics = data.get("metrics")
    if not isinstance(metrics, dict):
        raise DataError(f"{p}: field 'metrics' is missing or not an object")
    clean = {str(k): _as_float(v, f"{p}: field 'metrics.{k}'") for k, v in metrics.items()}
    labels = data.get("label_names", [])
    if not isinstance(labels, list) or not all(isinstance(s, str) for s in labels):
        raise DataError(f"{p}: field 'label_names' must be a list of strings")
    ap_raw = data.get("per_class_AP")
    if ap_raw is None:
        if need_per_class:
            raise DataError(f"{p}: field 'per_class_AP' is missing")
        ap = np.full(len(labels), np.nan)
    else:
        if not isinstance(ap_raw, list):
            raise DataError(f"{p}: field 'per_class_AP' must be a list")
        ap = np.array(
            [_as_float(v, f"{p}: field 'per_class_AP[{i}]'") for i, v in enumerate(ap_raw)],
            dtype=np.float64,
        )
        if need_per_class and len(ap) != len(labels):
            raise DataError(
                f"{p}: 'per_class_AP' has {len(ap)} entries but 'label_names' has {len(labels)}"
            )
    name = data.get("name")
    if not isinstance(name, str) or not name:
        name = p.parent.name or p.stem
    protocol = data.get("ap_protocol")
    return EvalResult(
        path=p,
        name=name,
        label_names=labels,
        metrics=clean,
        per_class_ap=ap,
        ap_protocol=protocol if isinstance(protocol, str) else None,
        selected_on_reported_split=data.get("selected_on_reported_split") is True,
    )


def slug(text: str) -> str:
    """A file-name-safe version of a run name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "run"


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    write_text(path, text)
    return Path(path)


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: float) -> Path:
    """Save ``fig`` as PNG atomically; the size is exactly ``figsize * dpi`` (no tight bbox)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return Path(path)


#: the width of an average character of matplotlib's default font (DejaVu Sans) in ems, a
#: little generous, so that a line wrapped to this estimate stays inside its width
CHAR_EM = 0.57
#: what a line never breaks inside: mathtext, a short formula in parentheses ("P(j | i)"),
#: a setting ("t = 0.4")
_UNBROKEN = re.compile(r"\$[^$]*\$|\([^()$]{1,10}\)|\S+ = \S+")


def _visible_length(word: str) -> int:
    """Characters ``word`` shows: in mathtext (``$...$``) commands and braces draw nothing."""
    if "$" not in word:
        return len(word)
    return len(re.sub(r"\\[A-Za-z]+|[{}^_$]", "", word))


def wrap_title(text: str, width_in: float, fontsize: float) -> str:
    """``text`` wrapped so that every line fits ``width_in`` inches at ``fontsize`` points.

    Its own line breaks are kept; lines break at spaces, never inside mathtext (``$...$``),
    a short formula in parentheses or a ``key = value``; a word wider than a whole line (a
    long run name) is cut into pieces, so that a title is wrapped, never cut off at the
    figure's edge.
    """
    limit = max(12, int(width_in * 72 / (fontsize * CHAR_EM)))
    out = []
    for line in text.splitlines() or [""]:
        # Spaces inside what is kept whole are not break points: hidden while splitting.
        hidden = _UNBROKEN.sub(lambda m: m.group(0).replace(" ", "\x00"), line)
        words = [w.replace("\x00", " ") for w in hidden.split(" ") if w]
        current: list[str] = []
        for word in words:
            while "$" not in word and len(word) > limit:
                if current:
                    out.append(" ".join(current))
                    current = []
                out.append(word[:limit])
                word = word[limit:]
            if current and _visible_length(" ".join([*current, word])) > limit:
                out.append(" ".join(current))
                current = []
            current.append(word)
        out.append(" ".join(current))
    return "\n".join(out)


def last_epoch_only(cfg: RunConfig) -> RunConfig:
    """``cfg`` evaluated at its last epoch only (``train.eval_every = train.epochs``) and
    reporting it (``train.select = last``): a study that reports the last epoch must not let a
    variant with its own schedule or selection (the official code's 35 epochs, its best epoch)
    pick its epoch on the split it is scored on."""
    train = replace(cfg.train, eval_every=cfg.train.epochs, select="last")
    return replace(cfg, train=train)


def parse_alphas(text: str) -> list[float]:
    """``"0,0.5,1"`` → ``[0.0, 0.5, 1.0]``; every α must be a finite number ≥ 0."""
    out = []
    for piece in text.split(","):
        piece = piece.strip()
        if not piece:
            continue
        try:
            value = float(piece)
        except ValueError:
            raise ConfigError(f"--alphas: {piece!r} is not a number") from None
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"--alphas: {piece!r} must be a finite number ≥ 0")
        out.append(value)
    if not out:
        raise ConfigError("--alphas: give at least one value, e.g. 0,0.5,1,2")
    if len(set(out)) != len(out):
        raise ConfigError("--alphas: values repeat")
    return out


def run_cli(
    get_args_parser: Callable[[], argparse.ArgumentParser],
    main: Callable[[argparse.Namespace], int],
    argv: Sequence[str] | None = None,
) -> int:
    """A script's command line: parse ``argv`` (default ``sys.argv[1:]``) and run ``main``.

    Returns ``main``'s exit code; an error caused by input (`AgcnError`) is printed as one line,
    ``<prog>: error: <message>``, on stderr and gives exit code 2, as for ``agcn``.
    """
    parser = get_args_parser()
    # Intermixed, as `agcn`: key=value overrides may stand before, between or after the flags.
    try:
        args = parser.parse_intermixed_args(argv)
    except TypeError:
        args = parser.parse_args(argv)
    try:
        return main(args)
    except AgcnError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
