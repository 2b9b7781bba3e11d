"""Label lists: reading `labels.txt`, validating names, and checking that two orders agree.

The label order is part of every artefact (targets, embeddings E, co-occurrence counts,
checkpoints): row `i` of E and row/column `i` of `adj` belong to `label_names[i]`. Any
mismatch in count or order is a `DataError` naming the first differing position.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from agcn_pyg.errors import DataError
from agcn_pyg.io import write_text

LabelSource = Sequence[str] | str | os.PathLike[str]


def read_line_list(path: str | os.PathLike[str], what: str, hint: str = "") -> list[str]:
    """Read one entry per line (UTF-8, a BOM allowed), stripped; blank lines at the end are
    ignored.

    A missing or unreadable file, a blank line in the middle or no entry at all is a
    `DataError` naming the file and ``what`` (e.g. "label list"); ``hint`` is appended to
    the not-found message.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{file}: {what} not found{hint}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"{file}: cannot read {what} ({err})") from None
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    for number, entry in enumerate(lines, start=1):
        if not entry:
            raise DataError(f"{file}:{number}: blank line inside the {what}")
    if not lines:
        raise DataError(f"{file}: {what} is empty")
    return lines


def read_label_file(path: str | os.PathLike[str]) -> list[str]:
    """Read one label name per line (UTF-8). Blank lines at the end are ignored.

    A blank line in the middle, a duplicate name or an empty file is a `DataError`.
    """
    return validate_label_names(
        read_line_list(path, "label list"), where=str(Path(path)), first_line=1
    )


def write_label_file(path: str | os.PathLike[str], label_names: Sequence[str]) -> None:
    names = validate_label_names(label_names, where=str(path))
    write_text(path, "".join(f"{name}\n" for name in names))


def validate_label_names(
    label_names: Sequence[str], *, where: str = "label list", first_line: int | None = None
) -> list[str]:
    """Return the names as a list; empty, non-string, multi-line or duplicate names are errors.

    Messages name 0-based positions, or the lines of a file whose first name is on line
    ``first_line``.
    """
    names = list(label_names)
    if not names:
        raise DataError(f"{where}: no label names")

    def at(index: int) -> str:
        return f"position {index}" if first_line is None else f"line {index + first_line}"

    seen: dict[str, int] = {}
    for index, name in enumerate(names):
        if not isinstance(name, str) or not name.strip():
            raise DataError(f"{where}: label at {at(index)} is empty or not a string: {name!r}")
        if "\n" in name or "\r" in name:
            raise DataError(f"{where}: label at {at(index)} contains a line break: {name!r}")
        if name in seen:
            raise DataError(
                f"{where}: duplicate label {name!r} at {at(seen[name])} and {at(index)}"
            )
        seen[name] = index
    return names


def resolve_label_names(source: LabelSource) -> list[str]:
    """A list of names, or a path to a `labels.txt` file."""
    if isinstance(source, str | os.PathLike):
        return read_label_file(source)
    return validate_label_names(list(source))


def first_label_difference(expected: Sequence[str], actual: Sequence[str]) -> str | None:
    """Describe the first difference between two label orders, or None when they are equal."""
    expected, actual = list(expected), list(actual)
    if len(expected) != len(actual):
        return f"{len(actual)} labels, expected {len(expected)}" + _first_mismatch(expected, actual)
    mismatch = _first_mismatch(expected, actual)
    return mismatch.removeprefix("; ") if mismatch else None


def _first_mismatch(expected: list[str], actual: list[str]) -> str:
    for index, (want, got) in enumerate(zip(expected, actual, strict=False)):
        if want != got:
            return f"; first difference at position {index}: {got!r}, expected {want!r}"
    if len(actual) > len(expected):
        return f"; extra label {actual[len(expected)]!r} at position {len(expected)}"
    if len(expected) > len(actual):
        return f"; missing label {expected[len(actual)]!r} at position {len(actual)}"
    return ""


def check_label_order(expected: Sequence[str], actual: Sequence[str], *, where: str) -> None:
    """Raise a `DataError` naming `where` when `actual` differs from `expected`."""
    difference = first_label_difference(expected, actual)
    if difference is not None:
        raise DataError(f"{where}: label order does not match the dataset ({difference})")
