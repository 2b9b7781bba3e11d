"""Collect ``metrics.json`` files into a Table-1-style comparison (Markdown and CSV).

One row per evaluated run, named by its ``name`` field; the columns follow the paper's
Table 1: ``mAP``, then CP CR CF1 OP OR OF1 over all labels, then the same six for the top-3
labels of each image, and ``AP_all`` (Fashion550K's class-agnostic AP) when any run has it.
All values are percentages.

Usage (``agcn results-table``, ``python -m agcn_pyg.analysis.results_table`` and
``python analysis/results_table.py`` are the same command)::

    agcn results-table runs/*/eval --out-md table.md --out-csv table.csv
"""

from __future__ import annotations

import argparse
import glob
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from agcn_pyg.analysis._common import METRICS_FILE, atomic_write_text, load_metrics, run_cli
from agcn_pyg.errors import DataError
from agcn_pyg.metrics import METRIC_COLUMNS
from agcn_pyg.selection import MARK, MARK_NOTE

THRESHOLD_METRICS = ("CP", "CR", "CF1", "OP", "OR", "OF1")
# Table 1's column order: mAP, six metrics on all labels, the same six on the top-3 labels.
PAPER_COLUMNS: tuple[str, ...] = tuple(METRIC_COLUMNS)
OPTIONAL_COLUMNS: tuple[str, ...] = ("AP_all",)
HEADERS = {
    "mAP": "mAP",
    **{m: f"All: {m}" for m in THRESHOLD_METRICS},
    **{f"{m}_top3": f"Top-3: {m}" for m in THRESHOLD_METRICS},
    "AP_all": "AP_all",
}
CAPTION = (
    "Values in percent. All: labels predicted by the evaluation's threshold; "
    "Top-3: the three highest-scoring labels of each image. Best value per column in bold; "
    "- = not reported."
)


def _has_magic(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def _expand_one(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        direct = path / METRICS_FILE
        if direct.is_file():
            return [direct]
        found = sorted(path.rglob(METRICS_FILE))
        if not found:
            raise DataError(f"{path}: no {METRICS_FILE} in this folder or below")
        return found
    raise DataError(f"{path}: no such file or folder")


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """``metrics.json`` files named by ``paths``: files, folders (searched recursively when
    they hold no ``metrics.json`` themselves) or glob patterns; duplicates dropped, order kept."""
    out: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        text = str(raw)
        if _has_magic(text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                raise DataError(f"{text}: no file or folder matches this pattern")
            files = [f for m in matches for f in _expand_one(Path(m))]
        else:
            files = _expand_one(Path(text))
        for f in files:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                out.append(f)
    if not out:
        raise DataError("no metrics files given")
    return out


def collect_results(paths: Iterable[str | Path]) -> pd.DataFrame:
    """One row per ``metrics.json``, indexed by run name, in the paper's column order.

    Columns are :data:`PAPER_COLUMNS`, plus ``AP_all`` when any file reports it; a metric a
    file lacks is NaN. Repeated run names get `` (2)``, `` (3)`` … appended. The source file
    of each row is in ``df.attrs["sources"]``, each row's AP protocol in
    ``df.attrs["ap_protocols"]`` and the rows whose epoch was chosen on the split they report
    (`agcn_pyg.selection`) in ``df.attrs["marked"]``; `caption` and `to_markdown` say both.
    """
    files = expand_paths(paths)
    rows: list[dict[str, float]] = []
    names: list[str] = []
    counts: dict[str, int] = {}
    protocols: dict[str, str] = {}
    marked: list[str] = []
    for f in files:
        result = load_metrics(f)
        counts[result.name] = counts.get(result.name, 0) + 1
        k = counts[result.name]
        names.append(result.name if k == 1 else f"{result.name} ({k})")
        rows.append(result.metrics)
        protocols[names[-1]] = result.ap_protocol
        if result.selected_on_reported_split:
            marked.append(names[-1])
    columns = list(PAPER_COLUMNS)
    columns += [c for c in OPTIONAL_COLUMNS if any(c in r for r in rows)]
    df = pd.DataFrame(
        [[r.get(c, math.nan) for c in columns] for r in rows],
        index=pd.Index(names, name="Model"),
        columns=columns,
        dtype="float64",
    )
    df.attrs["sources"] = [str(f) for f in files]
    df.attrs["ap_protocols"] = protocols
    df.attrs["marked"] = marked
    return df


#: how a caption names each AP protocol (`agcn_pyg.metrics.AP_PROTOCOLS`)
PROTOCOL_NAMES = {
    "mlgcn": "ML-GCN's non-interpolated AP (`mlgcn`)",
    "sklearn": "scikit-learn's AP, tied scores one threshold (`sklearn`)",
    "voc": "VOC's interpolated AP (`voc`, as SSGRL and Query2Label)",
}


def caption(df: pd.DataFrame) -> str:
    """`CAPTION`, then `notes` on ``df``'s rows."""
    return CAPTION + notes(df.attrs.get("ap_protocols") or {}, bool(df.attrs.get("marked")))


def notes(protocols: Mapping[str, str], marked: bool) -> str:
    """The AP protocol of the ``mAP`` column (``protocols``: row → protocol; named per row
    where they differ) and, where a row carries it (``marked``), what
    `agcn_pyg.selection.MARK` means."""
    kinds = sorted(set(protocols.values()))
    text = ""
    if len(kinds) == 1:
        text = f" mAP: {PROTOCOL_NAMES.get(kinds[0], kinds[0])}."
    elif kinds:
        text = " mAP protocols differ: " + ", ".join(f"{r}: {p}" for r, p in protocols.items())
        text += "."
    if marked:
        text += f" {MARK} {MARK_NOTE}."
    return text


def _escape(text: str) -> str:
    return str(text).replace("|", r"\|").replace("\n", " ")


def to_markdown(df: pd.DataFrame, decimals: int = 2, bold_best: bool = True) -> str:
    """A GitHub Markdown table of :func:`collect_results`'s frame (no ``tabulate`` needed).

    Headers say which group (All, Top-3) a metric belongs to, as Table 1's two header rows
    do; every value has ``decimals`` decimals, NaN shows as ``-``, and with ``bold_best`` the
    highest value of each column is bold (every metric here is higher-is-better). A row whose
    epoch was chosen on the split it reports carries `agcn_pyg.selection.MARK`.
    """
    headers = ["Model", *(HEADERS.get(c, str(c)) for c in df.columns)]
    lines = [
        "| " + " | ".join(_escape(h) for h in headers) + " |",
        "|" + "|".join([":---", *("---:" for _ in df.columns)]) + "|",
    ]
    best = df.max(axis=0, skipna=True) if bold_best else None
    marked = set(df.attrs.get("marked") or ())
    for name, row in df.iterrows():
        cells = [_escape(str(name)) + (f" {MARK}" if name in marked else "")]
        for col, value in row.items():
            if pd.isna(value):
                cells.append("-")
                continue
            text = f"{value:.{decimals}f}"
            if best is not None and len(df) > 1 and value == best[col]:
                text = f"**{text}**"
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def with_selection(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with each row's AP protocol and `agcn_pyg.selection` mark as columns (for CSV)."""
    protocols = df.attrs.get("ap_protocols") or {}
    marked = set(df.attrs.get("marked") or ())
    return df.assign(
        ap_protocol=[protocols.get(name, "") for name in df.index],
        selected_on_reported_split=[name in marked for name in df.index],
    )


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Collect metrics.json files into a Table-1-style Markdown and CSV table.",
    )
    parser.add_argument(
        "metrics",
        nargs="+",
        help="metrics.json files, their folders (searched recursively) or glob patterns",
    )
    parser.add_argument("--out-md", type=Path, default=None, help="Markdown file to write")
    parser.add_argument("--out-csv", type=Path, default=None, help="CSV file (full precision)")
    parser.add_argument("--decimals", type=int, default=2, help="decimals in the Markdown")
    return parser


def main(args: argparse.Namespace) -> int:
    if args.decimals < 0:
        raise DataError(f"--decimals must be >= 0, got {args.decimals}")
    df = collect_results(args.metrics)
    table = to_markdown(df, decimals=args.decimals)
    print(table, end="")
    if args.out_md is not None:
        atomic_write_text(args.out_md, f"{table}\n{caption(df)}\n")
        print(f"wrote {args.out_md}")
    if args.out_csv is not None:
        atomic_write_text(args.out_csv, with_selection(df).to_csv(index_label="Model"))
        print(f"wrote {args.out_csv}")
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """`python -m agcn_pyg.analysis.results_table`: parse ``argv`` and run `main`."""
    return run_cli(get_args_parser, main, argv)


if __name__ == "__main__":
    sys.exit(cli())
