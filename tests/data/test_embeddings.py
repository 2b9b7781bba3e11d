from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest

from agcn_pyg.data import embed_labels, load_embeddings, save_embeddings
from agcn_pyg.data.embeddings import _glove50_index
from agcn_pyg.errors import ConfigError, DataError


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


def test_minilm_vectors():
    names = ["cat", "dog", "car", "traffic light", "t-shirt"]
    vectors = embed_labels(names, "minilm")
    assert vectors.shape == (5, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cat, dog, car = vectors[:3]
    assert _cos(cat, dog) > _cos(cat, car)
    # deterministic, and independent of the batch a name is embedded in
    again = embed_labels(names[::-1], "minilm", batch_size=2)[::-1]
    assert np.allclose(vectors, again, atol=1e-5)


def test_glove50_averages_words_and_uses_whole_tokens():
    index, matrix = _glove50_index()
    vectors, info = embed_labels(["Traffic Light", "t-shirt", "cat"], "glove50", return_info=True)
    assert vectors.shape == (3, 50)
    expected = (matrix[index["traffic"]] + matrix[index["light"]]) / 2
    assert np.allclose(vectors[0], expected, atol=1e-6)
    assert np.allclose(vectors[1], matrix[index["t-shirt"]])  # a GloVe token of its own
    assert info["oov"] == {} and info["compounds"] == {}
    dog, car = embed_labels(["dog", "car"], "glove50")
    assert _cos(vectors[2], dog) > _cos(vectors[2], car)


def test_glove50_reports_oov_and_splits_closed_compounds():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vectors, info = embed_labels(["zqxv cat", "diningtable"], "glove50", return_info=True)
    messages = [str(w.message) for w in caught]
    assert "glove50: out-of-vocabulary words skipped: 'zqxv cat': zqxv" in messages
    assert "glove50: compound names split into known words: 'diningtable' -> dining + table" in (
        messages
    )
    index, matrix = _glove50_index()
    assert info["oov"] == {"zqxv cat": ["zqxv"]}
    assert np.allclose(vectors[0], matrix[index["cat"]])
    assert info["compounds"] == {"diningtable": ["dining", "table"]}
    assert np.allclose(vectors[1], (matrix[index["dining"]] + matrix[index["table"]]) / 2)
    with pytest.raises(DataError, match=r"glove50: label 'qqzx-vvkw' has no word .* minilm"):
        embed_labels(["cat", "qqzx-vvkw"], "glove50")


def test_file_sources(tmp_path: Path):
    names = ["cat", "hot dog"]
    glove = tmp_path / "vectors.txt"
    glove.write_text("2 3\ncat 1 0 0\nhot 0 2 0\ndog 0 0 4\nhot dog 9 9 9\n")
    vectors = embed_labels(names, "file", path=glove)
    # "hot dog" as one token (GloVe 840B writes some multi-word tokens) wins over averaging
    assert vectors.tolist() == [[1, 0, 0], [9, 9, 9]]
    glove.write_text("cat 1 0 0\nhot 0 2 0\ndog 0 0 4\n")
    assert embed_labels(names, "file", path=glove).tolist() == [[1, 0, 0], [0, 1, 2]]

    npy = tmp_path / "e.npy"
    np.save(npy, np.arange(6, dtype=np.float64).reshape(2, 3))
    assert embed_labels(names, "file", path=npy).tolist() == [[0, 1, 2], [3, 4, 5]]
    np.save(npy, np.zeros((3, 3)))
    with pytest.raises(DataError, match=r"e\.npy: 3 rows, the label list has 2"):
        embed_labels(names, "file", path=npy)

    mlgcn = tmp_path / "voc_glove_word2vec.pkl"
    mlgcn.write_bytes(pickle.dumps(np.ones((2, 300), dtype=np.float32), protocol=2))
    assert embed_labels(names, "file", path=mlgcn).shape == (2, 300)

    with pytest.raises(ConfigError, match="needs a path"):
        embed_labels(names, "file")
    with pytest.raises(ConfigError, match=r"unsupported embedding file '\.bin'"):
        embed_labels(names, "file", path=tmp_path / "x.bin")


def test_onehot_and_unknown_source():
    assert embed_labels(["a", "b", "c"], "onehot").tolist() == np.eye(3).tolist()
    with pytest.raises(ConfigError, match="unknown embedding source 'word2vec'"):
        embed_labels(["a"], "word2vec")
    with pytest.raises(ConfigError, match="unexpected keyword"):
        embed_labels(["a"], "onehot", path="x")


def test_save_load_round_trip_and_order_checks(tmp_path: Path):
    names = ["person", "bicycle", "car"]
    vectors = np.random.default_rng(0).normal(size=(3, 8)).astype(np.float32)
    path = tmp_path / "embeddings_test.npz"
    save_embeddings(path, vectors, names, "test")
    loaded = load_embeddings(path, names)
    assert loaded.label_names == names and loaded.source == "test"
    assert np.array_equal(loaded.vectors, vectors)
    with np.load(path, allow_pickle=False) as archive:  # plain arrays, no pickle needed
        assert sorted(archive.files) == ["label_names", "source", "vectors"]
    with pytest.raises(
        DataError, match=r"first difference at position 1: 'bicycle', expected 'car'"
    ):
        load_embeddings(path, ["person", "car", "bicycle"])
    with pytest.raises(DataError, match=r"3 labels, expected 4; missing label .dog. at position 3"):
        load_embeddings(path, [*names, "dog"])
    assert embed_labels(names, "file", path=path).tolist() == vectors.tolist()
    with pytest.raises(DataError, match="expected a C×d matrix for 3 labels"):
        save_embeddings(tmp_path / "bad.npz", vectors[:2], names, "test")
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(DataError, match=r"broken\.npz: not a readable \.npz"):
        load_embeddings(tmp_path / "broken.npz")


def test_mlgcn_pickles_and_npy_load_as_data_embeddings(tmp_path: Path):
    from agcn_pyg.engine.inputs import resolve_embeddings

    names = ["person", "bicycle", "car"]
    vectors = np.random.default_rng(1).normal(size=(3, 300)).astype(np.float32)
    pkl = tmp_path / "coco_glove_word2vec.pkl"
    pkl.write_bytes(pickle.dumps(vectors, protocol=2))  # the layout ML-GCN ships
    loaded = load_embeddings(pkl, names)
    assert np.array_equal(loaded.vectors, vectors) and loaded.label_names == names
    assert np.array_equal(resolve_embeddings(str(pkl), names), vectors)
    npy = tmp_path / "e.npy"
    np.save(npy, vectors.astype(np.float64))
    assert np.array_equal(resolve_embeddings(str(npy), names), vectors)

    with pytest.raises(DataError, match=r"3 rows, the label list has 4"):
        load_embeddings(pkl, [*names, "dog"])
    with pytest.raises(ConfigError, match="holds no label names"):
        load_embeddings(pkl)
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"x": Path("/etc/passwd")}))
    with pytest.raises(DataError, match="refusing to unpickle global"):
        load_embeddings(evil, names)


def test_minilm_is_mean_pooling_and_normalisation_of_the_token_embeddings():
    # The definition, on raw transformers: the sentence-transformers pipeline must equal it.
    import torch
    from transformers import AutoModel, AutoTokenizer

    from agcn_pyg.data.embeddings import _minilm_path

    path = str(_minilm_path())
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    names = ["person", "dining table", "t-shirt", "a"]
    encoded = tokenizer(names, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**encoded).last_hidden_state
    mask = encoded["attention_mask"].unsqueeze(-1).float()
    expected = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1)
    np.testing.assert_allclose(embed_labels(names, "minilm"), expected.numpy(), atol=1e-6)
    # max_length truncates each name's tokens, and is not left set on the shared model
    long = ["a very long label name about a dining table"]
    full = embed_labels(long, "minilm")
    assert not np.allclose(embed_labels(long, "minilm", max_length=3), full, atol=1e-3)
    np.testing.assert_array_equal(embed_labels(long, "minilm"), full)


NAMES = ["red", "green", "blue", "square"]


def _npz(path: Path, vectors: np.ndarray) -> Path:
    np.savez(path, vectors=vectors, label_names=np.array(NAMES))
    return path


def test_bad_embeddings_are_refused_where_they_are_read_naming_file_and_row(
    tmp_path: Path,
) -> None:
    # Issue 23, case 19: NaN rows named no file; 1e38 surfaced as a diverged loss ("try a
    # lower train.lr"); booleans were reported by their shape.
    nan = np.eye(4, dtype=np.float32)
    nan[2, 1] = np.nan
    path = _npz(tmp_path / "nan.npz", nan)
    with pytest.raises(DataError, match=r"nan\.npz: row 2 \('blue'\) holds NaN or infinite"):
        load_embeddings(path, NAMES)
    huge = _npz(tmp_path / "huge.npz", np.full((4, 3), 1e38, np.float32))
    with pytest.raises(DataError, match=r"huge\.npz: row 0 .*magnitude 1e\+38, beyond 10000"):
        load_embeddings(huge, NAMES)
    flags = _npz(tmp_path / "flags.npz", np.eye(4, dtype=bool))
    with pytest.raises(DataError, match=r"flags\.npz: vectors have non-numeric dtype bool"):
        load_embeddings(flags, NAMES)
    np.save(tmp_path / "flags.npy", np.eye(4, dtype=bool))
    with pytest.raises(DataError, match=r"flags\.npy: vectors have non-numeric dtype bool"):
        load_embeddings(tmp_path / "flags.npy", NAMES)
    scaled = _npz(tmp_path / "scaled.npz", np.full((4, 3), 1e4, np.float32))  # the bound
    assert load_embeddings(scaled, NAMES).vectors.max() == 1e4


def test_non_finite_vectors_are_never_written(tmp_path: Path, capsys) -> None:
    from agcn_pyg.__main__ import main

    glove = tmp_path / "glove.txt"
    glove.write_text("red 1 2\ngreen nan 1\nblue 3 4\nsquare 1 1\n")
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(NAMES) + "\n")
    out = tmp_path / "e.npz"
    argv = ["embed-labels", "--labels", str(labels), "--source", "file", "--file", str(glove)]
    assert main([*argv, "--out", str(out)]) == 2
    assert f"{glove}: row 1 ('green') holds NaN" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(DataError, match=r"e\.npz: not written: row 0 \('red'\) holds NaN"):
        save_embeddings(out, np.full((4, 2), np.inf), NAMES, "test")
    assert not out.exists()
