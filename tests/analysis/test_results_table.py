from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agcn_pyg.analysis.results_table import PAPER_COLUMNS, cli, collect_results, to_markdown
from agcn_pyg.errors import DataError

# Table 1 of the paper: mAP, then "All" CP CR CF1 OP OR OF1, then "Top-3" the same six.
TABLE_1 = [
    "mAP",
    *("CP", "CR", "CF1", "OP", "OR", "OF1"),
    *("CP_top3", "CR_top3", "CF1_top3", "OP_top3", "OR_top3", "OF1_top3"),
]


def _metrics(base: float, ap_all: bool = False) -> dict[str, float]:
    out = {k: base + i * 0.123456 for i, k in enumerate(TABLE_1)}
    if ap_all:
        out["AP_all"] = base + 10
    return out


def _cells(line: str) -> list[str]:
    """Cells of one Markdown table row, honouring escaped pipes."""
    assert line.startswith("|") and line.endswith("|")
    parts = line[1:-1].replace(r"\|", "\0").split("|")
    return [p.strip().replace("\0", "|") for p in parts]


def test_columns_follow_table_1_and_rows_follow_files(tmp_path: Path, write_metrics) -> None:
    write_metrics("runs/agcn/eval", "A-GCN", [50.0], metrics=_metrics(80))
    write_metrics("runs/mlgcn/eval", "ML-GCN", [50.0], metrics=_metrics(79))
    base = write_metrics("base", "baseline", [50.0], metrics=_metrics(78))
    df = collect_results([base, tmp_path / "runs" / "*" / "eval"])
    assert list(df.columns) == [*TABLE_1, "AP_all"] and list(PAPER_COLUMNS) == TABLE_1
    assert list(df.index) == ["baseline", "A-GCN", "ML-GCN"]  # argument order, globs sorted
    assert df.index.name == "Model"
    assert df.loc["A-GCN", "CF1_top3"] == pytest.approx(_metrics(80)["CF1_top3"])
    assert len(df.attrs["sources"]) == 3
    # A folder without metrics.json of its own is searched below.
    assert list(collect_results([tmp_path / "runs"]).index) == ["A-GCN", "ML-GCN"]


def test_ap_all_column_and_missing_metrics(write_metrics) -> None:
    partial = _metrics(70, ap_all=True)
    del partial["OP_top3"]
    fa = write_metrics("a", "fashion A-GCN", [50.0], metrics=partial)
    fb = write_metrics("b", "fashion baseline", [50.0], metrics=_metrics(60))
    df = collect_results([fa, fb])
    assert list(df.columns) == [*TABLE_1, "AP_all"]
    assert math.isnan(df.loc["fashion A-GCN", "OP_top3"])
    assert math.isnan(df.loc["fashion baseline", "AP_all"])
    md = to_markdown(df)
    row = _cells(md.splitlines()[2])
    assert row[TABLE_1.index("OP_top3") + 1] == "-"


def test_markdown_is_a_table_with_the_paper_columns(write_metrics) -> None:
    fa = write_metrics("a", "A-GCN | conv", [50.0], metrics=_metrics(80))
    fb = write_metrics("b", "baseline", [50.0], metrics=_metrics(78))
    df = collect_results([fa, fb])
    lines = to_markdown(df, decimals=2).strip().splitlines()
    assert len(lines) == 2 + len(df)
    header = _cells(lines[0])
    assert header[:3] == ["Model", "mAP", "All: CP"]
    assert header[7:9] == ["All: OF1", "Top-3: CP"] and header[13] == "Top-3: OF1"
    assert header[14:] == ["AP_all", "AP protocol"]
    widths = {len(_cells(line)) for line in lines}
    assert widths == {1 + len(TABLE_1) + 2}
    assert set(_cells(lines[1])[1:-1]) == {"---:"}
    assert _cells(lines[2])[-2:] == ["-", "mlgcn"]  # no AP_all in the file; its protocol
    first = _cells(lines[2])
    assert first[0] == "A-GCN | conv"
    assert first[1] == "**80.00**"  # best mAP in bold, two decimals
    assert _cells(lines[3])[1] == "78.00"
    assert _cells(lines[3])[2] == f"{_metrics(78)['CP']:.2f}"
    one_decimal = _cells(to_markdown(df, decimals=1, bold_best=False).splitlines()[3])
    assert one_decimal[1] == "78.0"


def test_duplicate_names_and_csv_round_trip(tmp_path: Path, write_metrics) -> None:
    fa = write_metrics("seed0", "A-GCN", [50.0], metrics=_metrics(80))
    fb = write_metrics("seed1", "A-GCN", [50.0], metrics=_metrics(81))
    md, csv = tmp_path / "out" / "table.md", tmp_path / "out" / "table.csv"
    assert cli([str(fa), str(fb), "--out-md", str(md), "--out-csv", str(csv)]) == 0
    back = pd.read_csv(csv, index_col="Model")
    assert list(back.index) == ["A-GCN", "A-GCN (2)"]
    # the metrics, then how mAP was computed and whether the epoch was chosen on this split
    columns = [*TABLE_1, "AP_all"]
    assert list(back.columns) == [*columns, "ap_protocol", "selected_on_reported_split"]
    np.testing.assert_array_equal(back[columns].to_numpy(), collect_results([fa, fb]).to_numpy())
    text = md.read_text(encoding="utf-8")
    assert text.startswith("| Model | mAP | All: CP |") and "percent" in text


def test_input_errors(tmp_path: Path, write_metrics, capsys) -> None:
    with pytest.raises(DataError, match="no such file or folder"):
        collect_results([tmp_path / "nope.json"])
    with pytest.raises(DataError, match="no file or folder matches"):
        collect_results([str(tmp_path / "*.json")])
    bad = tmp_path / "bad" / "metrics.json"
    bad.parent.mkdir()
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(DataError, match="not valid JSON"):
        collect_results([bad])
    wrong = write_metrics("wrong", "x", [50.0], metrics={"mAP": "high"})
    with pytest.raises(DataError, match=r"metrics\.mAP"):
        collect_results([wrong])
    assert cli([str(bad)]) == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_tables_name_the_ap_protocol_and_mark_best_on_the_reported_split(
    tmp_path: Path, write_metrics, capsys
) -> None:
    import json

    from agcn_pyg.analysis.results_table import caption
    from agcn_pyg.selection import MARK, MARK_NOTE

    honest = write_metrics("honest", "honest", [50.0], metrics=_metrics(80))
    peeked = write_metrics("peeked", "peeked", [50.0], metrics=_metrics(81))
    doc = json.loads(peeked.read_text())
    doc |= {"ap_protocol": "mlgcn", "select": "best", "selected_on_reported_split": True}
    peeked.write_text(json.dumps(doc))
    df = collect_results([honest, peeked])
    assert df.attrs["marked"] == ["peeked"]
    assert df.attrs["ap_protocols"] == ["mlgcn", "mlgcn"]
    table = to_markdown(df)
    assert f"| peeked {MARK} |" in table and f"| honest {MARK}" not in table
    text = caption(df)
    assert "mAP: ML-GCN's non-interpolated AP (`mlgcn`)." in text and MARK_NOTE in text
    # another protocol in one of the files: the caption names each row's
    doc["ap_protocol"] = "voc"
    peeked.write_text(json.dumps(doc))
    mixed = caption(collect_results([honest, peeked]))
    assert "mAP protocols differ: honest: mlgcn, peeked: voc." in mixed
    out = tmp_path / "t.csv"
    assert (
        cli([str(honest), str(peeked), "--out-csv", str(out), "--out-md", str(tmp_path / "t.md")])
        == 0
    )
    csv = pd.read_csv(out)
    assert csv["ap_protocol"].tolist() == ["mlgcn", "voc"]
    assert csv["selected_on_reported_split"].tolist() == [False, True]
    assert MARK_NOTE in (tmp_path / "t.md").read_text()
    capsys.readouterr()
