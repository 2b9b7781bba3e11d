from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from agcn_pyg.data import (
    cooccurrence_counts,
    load_cooccurrence,
    load_numpy_pickle,
    save_cooccurrence,
)
from agcn_pyg.data.cooccurrence import zero_diagonal
from agcn_pyg.errors import DataError
from agcn_pyg.graph import check_counts

TARGETS = [
    [1, 1, 0],
    [1, 1, 1],
    [0, 1, -1],  # -1 is neither an occurrence nor a co-occurrence
    [1, -1, 1],
]


def test_counts_by_hand():
    adj, nums = cooccurrence_counts(torch.tensor(TARGETS, dtype=torch.int8))
    assert nums.tolist() == [3, 3, 2]
    assert adj.tolist() == [[0, 2, 2], [2, 0, 1], [2, 1, 0]]
    assert adj.dtype == np.int64


def test_npz_round_trip_and_label_checks(tmp_path: Path):
    adj, nums = cooccurrence_counts(np.array(TARGETS))
    path = tmp_path / "cooccurrence.npz"
    save_cooccurrence(path, adj, nums, ["a", "b", "c"], num_images=4)
    loaded_adj, loaded_nums = load_cooccurrence(path, ["a", "b", "c"])
    assert loaded_adj.tolist() == adj.tolist() and loaded_nums.tolist() == nums.tolist()
    with np.load(path, allow_pickle=False) as archive:
        assert int(archive["num_images"]) == 4
        assert [str(n) for n in archive["label_names"]] == ["a", "b", "c"]
    with pytest.raises(DataError, match=r"cooccurrence\.npz: label order .* position 0: 'a'"):
        load_cooccurrence(path, ["b", "a", "c"])
    with pytest.raises(DataError, match="not symmetric"):
        save_cooccurrence(tmp_path / "x.npz", np.triu(np.ones((3, 3))) - np.eye(3), nums, "abc")


class _Evil:
    """Unpickling this would create a file if the unpickler allowed `builtins.open`."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


class _Shell:
    def __reduce__(self):
        return (os.system, ("echo should-never-run",))


def test_restricted_unpickler_refuses_code(tmp_path: Path):
    canary = tmp_path / "canary"
    evil = tmp_path / "coco_adj.pkl"
    evil.write_bytes(pickle.dumps({"adj": _Evil(canary), "nums": np.zeros(2)}))
    with pytest.raises(
        DataError, match=r"coco_adj\.pkl: refusing to unpickle global (io|builtins)\.open"
    ):
        load_cooccurrence(evil)
    assert not canary.exists()
    shell = tmp_path / "shell.pkl"
    shell.write_bytes(pickle.dumps(_Shell()))
    with pytest.raises(DataError, match=r"shell\.pkl: refusing .* (posix|os)\.system"):
        load_numpy_pickle(shell)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_mlgcn_adj_pickle_imports(tmp_path: Path, protocol: int):
    adj = np.array([[0, 5, 1], [5, 0, 2], [1, 2, 0]], dtype=np.int64)
    nums = np.array([10, 8, 3], dtype=np.int64)
    path = tmp_path / "voc_adj.pkl"
    path.write_bytes(pickle.dumps({"adj": adj, "nums": nums}, protocol=protocol))
    loaded_adj, loaded_nums = load_cooccurrence(path, ["x", "y", "z"])
    assert loaded_adj.tolist() == adj.tolist() and loaded_nums.tolist() == nums.tolist()
    with pytest.raises(DataError, match=r"voc_adj\.pkl: 3 labels, the dataset has 2"):
        load_cooccurrence(path, ["x", "y"])


def test_bad_pickles(tmp_path: Path):
    path = tmp_path / "adj.pkl"
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(DataError, match="expected a dict with 'adj' and 'nums'"):
        load_cooccurrence(path)
    path.write_bytes(b"\x80\x04 truncated")
    with pytest.raises(DataError, match=r"adj\.pkl: not a readable pickle"):
        load_cooccurrence(path)
    path.write_bytes(pickle.dumps({"adj": np.eye(3), "nums": np.ones(3)}))
    with pytest.warns(UserWarning, match="non-zero diagonal"):
        adj, _ = load_cooccurrence(path)
    assert adj.tolist() == np.zeros((3, 3)).tolist()
    path.write_bytes(pickle.dumps({"adj": np.zeros((3, 3)), "nums": np.ones(4)}))
    with pytest.raises(DataError, match=r"nums has shape \(4,\), expected \(3,\)"):
        load_cooccurrence(path)


def test_one_count_rule_and_an_explicit_diagonal_repair(tmp_path: Path):
    # The graph code refuses a non-zero diagonal; the data path repairs it first, on purpose.
    raw = np.array([[2.0, 1.0], [1.0, 3.0]])
    with pytest.raises(DataError, match=r"counts\.npz: adj has a non-zero diagonal"):
        check_counts(raw, [2, 3], "counts.npz")
    with pytest.warns(UserWarning, match="set to zero"):
        repaired = zero_diagonal(raw, "counts.npz")
    adj, nums = check_counts(repaired, [[2], [3]], "counts.npz")
    assert adj.tolist() == [[0.0, 1.0], [1.0, 0.0]] and nums.tolist() == [2.0, 3.0]
    assert raw[0, 0] == 2.0  # the caller's array is left alone
    # Invalid diagonals are not "repaired" into valid ones: the check still names them.
    for bad, match in (([[-1.0, 1.0], [1.0, 0.0]], "negative"), ([[np.nan, 0], [0, 0]], "NaN")):
        load_path = tmp_path / "bad_adj.pkl"
        load_path.write_bytes(pickle.dumps({"adj": np.array(bad), "nums": np.ones(2)}))
        with pytest.raises(DataError, match=match):
            load_cooccurrence(load_path)
    with pytest.raises(DataError, match="non-numeric"):
        check_counts(np.array([["a", "b"], ["c", "d"]]), [1, 1])
