"""Tests for agcn_pyg.data.npz: arrays by name, and one DataError per kind of bad file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agcn_pyg.data.embeddings import load_embeddings
from agcn_pyg.data.npz import load_npz
from agcn_pyg.errors import DataError


def test_arrays_by_name(tmp_path: Path) -> None:
    np.savez(tmp_path / "a.npz", adj=np.eye(2), nums=np.array([3.0, 4.0]))
    arrays = load_npz(tmp_path / "a.npz", required=("adj",))
    assert sorted(arrays) == ["adj", "nums"]
    np.testing.assert_array_equal(arrays["nums"], [3.0, 4.0])


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"none\.npz: file not found"):
        load_npz(tmp_path / "none.npz", required=())


def test_not_an_archive(tmp_path: Path) -> None:
    (tmp_path / "bad.npz").write_text("plain text")
    with pytest.raises(DataError, match=r"bad\.npz: not a readable \.npz file"):
        load_npz(tmp_path / "bad.npz", required=())


def test_pickled_array_is_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "p.npz", vectors=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match=r"p\.npz: not a readable \.npz file"):
        load_npz(tmp_path / "p.npz", required=("vectors",))


def test_missing_required_array(tmp_path: Path) -> None:
    np.savez(tmp_path / "m.npz", adj=np.eye(2))
    with pytest.raises(DataError, match=r"m\.npz: missing array\(s\) \['nums'\]"):
        load_npz(tmp_path / "m.npz", required=("adj", "nums"))


def test_embeddings_with_text_vectors_are_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "e.npz", vectors=np.array([["x"]]), label_names=np.array(["cat"]))
    with pytest.raises(DataError, match=r"e\.npz: vectors have non-numeric dtype"):
        load_embeddings(tmp_path / "e.npz")
