"""The results table of agcn_pyg: ``metrics.json`` files into a Table-1-style comparison.

Every results table the package prints or writes (``agcn evaluate``, ``agcn results-table``,
``agcn run-table1``, the demo's report) is rendered by `format_table`, so they all have the
same columns: ``mAP``, then CP CR CF1 OP OR OF1 over the labels at the evaluation's threshold,
then the same six for the top-3 labels of each image, then ``AP_all`` (the class-agnostic AP
over every image-label pair, Fashion550K's figure) and the AP protocol that mAP, the
per-class AP and AP_all were computed under (`agcn_pyg.metrics.AP_PROTOCOLS`; ``mlgcn``, the
paper's, unless ``agcn evaluate --ap-protocol`` chose another). Values are percentages; a
metric a file lacks is ``-``. A row whose epoch was chosen as the best on the split it
reports carries `agcn_pyg.selection.MARK`, and the caption (`notes`) says what that means.

Usage (``agcn results-table``, ``python -m agcn_pyg.analysis.results_table`` and
``python analysis/results_table.py`` are the same command)::

    agcn results-table runs/*/eval --out-md table.md --out-csv table.csv
"""

from __future__ import annotations

import argparse
import glob
import math
import sys
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from agcn_pyg.analysis._common import METRICS_FILE, atomic_write_text, load_metrics, run_cli
from agcn_pyg.commands.options import user_path
from agcn_pyg.errors import DataError
from agcn_pyg.metrics import METRIC_COLUMNS
from agcn_pyg.selection import MARK, MARK_NOTE

if TYPE_CHECKING:
    import pandas as pd

THRESHOLD_METRICS = ("CP", "CR", "CF1", "OP", "OR", "OF1")
# Table 1's column order: mAP, six metrics on all labels, the same six on the top-3 labels.
PAPER_COLUMNS: tuple[str, ...] = tuple(METRIC_COLUMNS)
#: every results table's columns: Table 1's, then AP_all
COLUMNS: tuple[str, ...] = (*PAPER_COLUMNS, "AP_all")
HEADERS = {
    "mAP": "mAP",
    **{m: f"All: {m}" for m in THRESHOLD_METRICS},
    **{f"{m}_top3": f"Top-3: {m}" for m in THRESHOLD_METRICS},
    "AP_all": "AP_all",
}
#: the last column's header: the AP protocol of the row's mAP, per-class AP and AP_all
PROTOCOL_HEADER = "AP protocol"
CAPTION = (
    "Values in percent. All: labels predicted by the evaluation's threshold; "
    "Top-3: the three highest-scoring labels of each image; AP_all: AP over every "
    "(image, label) pair; AP protocol: how AP was computed (mlgcn: ML-GCN's meter, the "
    "paper's). Best value per column in bold; - = not reported."
)


def format_table(
    rows: Sequence[tuple[str, Mapping[str, float | None]]],
    protocols: Sequence[str | None] | None = None,
    decimals: int = 2,
    bold_best: bool = True,
    marked: Collection[str] = (),
) -> str:
    """The one results table: a GitHub Markdown table of ``(name, metrics)`` rows.

    Columns are `COLUMNS` (headers say which group, All or Top-3, a metric belongs to, as
    Table 1's two header rows do) and the AP protocol of each row (``protocols``, as
    ``metrics.json`` names it). Every value has ``decimals`` decimals, a missing, ``None`` or
    NaN value shows as ``-``, and with ``bold_best`` the highest value of each column is bold
    when there are several rows (every metric here is higher-is-better). The rows named in
    ``marked`` (their epoch chosen on the split they report) carry `MARK`.
    """
    protocols = list(protocols) if protocols is not None else [None] * len(rows)
    values = [[_number(metrics.get(c)) for c in COLUMNS] for _, metrics in rows]
    best = [
        max((v[j] for v in values if not math.isnan(v[j])), default=math.nan)
        for j in range(len(COLUMNS))
    ]
    headers = ["Model", *(HEADERS[c] for c in COLUMNS), PROTOCOL_HEADER]
    lines = [
        "| " + " | ".join(_escape(h) for h in headers) + " |",
        "|" + "|".join([":---", *("---:" for _ in COLUMNS), ":---"]) + "|",
    ]
    for (name, _), row, protocol in zip(rows, values, protocols, strict=True):
        cells = [_escape(str(name)) + (f" {MARK}" if name in marked else "")]
        for j, value in enumerate(row):
            text = "-" if math.isnan(value) else f"{value:.{decimals}f}"
            if bold_best and len(rows) > 1 and value == best[j]:
                text = f"**{text}**"
            cells.append(text)
        cells.append(_escape(protocol) if protocol else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _number(value: object) -> float:
    return math.nan if value is None else float(value)  # type: ignore[arg-type]


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

    Columns are :data:`COLUMNS` (Table 1's and ``AP_all``); a metric a file lacks is NaN.
    Repeated run names get `` (2)``, `` (3)`` … appended. The source file of each row is in
    ``df.attrs["sources"]``, its AP protocol in ``df.attrs["ap_protocols"]``, and the rows
    whose epoch was chosen on the split they report (`agcn_pyg.selection`) are listed in
    ``df.attrs["marked"]``; `caption` and `to_markdown` say both.
    """
    # Here, not at the top: `agcn results-table --help` answers without pandas.
    import pandas as pd

    files = expand_paths(paths)
    rows: list[dict[str, float]] = []
    names: list[str] = []
    protocols: list[str | None] = []
    marked: list[str] = []
    counts: dict[str, int] = {}
    for f in files:
        result = load_metrics(f)
        counts[result.name] = counts.get(result.name, 0) + 1
        k = counts[result.name]
        names.append(result.name if k == 1 else f"{result.name} ({k})")
        rows.append(result.metrics)
        protocols.append(result.ap_protocol)
        if result.selected_on_reported_split:
            marked.append(names[-1])
    df = pd.DataFrame(
        [[r.get(c, math.nan) for c in COLUMNS] for r in rows],
        index=pd.Index(names, name="Model"),
        columns=list(COLUMNS),
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
    protocols = dict(zip(df.index, df.attrs.get("ap_protocols") or [], strict=False))
    return CAPTION + notes(protocols, bool(df.attrs.get("marked")))


def notes(protocols: Mapping[str, str | None], marked: bool) -> str:
    """The AP protocol of the ``mAP`` column (``protocols``: row → protocol; named per row
    where they differ) and, where a row carries it (``marked``), what `MARK` means."""
    known = {row: p for row, p in protocols.items() if p}
    kinds = sorted(set(known.values()))
    text = ""
    if len(kinds) == 1:
        text = f" mAP: {PROTOCOL_NAMES.get(kinds[0], kinds[0])}."
    elif kinds:
        text = " mAP protocols differ: " + ", ".join(f"{r}: {p}" for r, p in known.items())
        text += "."
    if marked:
        text += f" {MARK} {MARK_NOTE}."
    return text


def _escape(text: str) -> str:
    return str(text).replace("|", r"\|").replace("\n", " ")


def to_markdown(df: pd.DataFrame, decimals: int = 2, bold_best: bool = True) -> str:
    """:func:`collect_results`'s frame as the results table (`format_table`)."""
    rows = [(str(name), row.to_dict()) for name, row in df.iterrows()]
    protocols = df.attrs.get("ap_protocols")
    marked = df.attrs.get("marked") or ()
    return format_table(rows, protocols, decimals=decimals, bold_best=bold_best, marked=marked)


def with_selection(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with each row's AP protocol and `agcn_pyg.selection` mark as columns (for CSV)."""
    protocols = df.attrs.get("ap_protocols") or [None] * len(df)
    marked = set(df.attrs.get("marked") or ())
    return df.assign(
        ap_protocol=[p or "" for p in protocols],
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
    parser.add_argument("--out-md", type=user_path, default=None, help="Markdown file to write")
    parser.add_argument("--out-csv", type=user_path, default=None, help="CSV file (full precision)")
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
