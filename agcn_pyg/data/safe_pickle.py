"""A restricted unpickler for ML-GCN's `.pkl` files: numpy arrays (and dicts of them) only.

ML-GCN ships `coco_adj.pkl` (a dict `{'adj': C×C, 'nums': C}`) and `*_glove_word2vec.pkl`
(a C×300 array). Plain `pickle.load` would run any callable the file names; this unpickler
resolves only the globals that rebuilding numpy arrays needs and refuses every other one
with a `DataError` naming the file and the refused global.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

from agcn_pyg.errors import DataError

# (module, name) pairs that numpy's array/scalar pickling uses, for numpy 1.x and 2.x.
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        # Python 3 pickles (protocol <= 2) store bytes as _codecs.encode(text, "latin1").
        ("_codecs", "encode"),
    }
)


class NumpyOnlyUnpickler(pickle.Unpickler):
    """`pickle.Unpickler` whose `find_class` allows only `ALLOWED_GLOBALS`."""

    def __init__(self, file: Any, *, source: str, **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in ALLOWED_GLOBALS or (
            module.startswith("numpy.dtypes") and name.endswith("DType")
        ):
            return super().find_class(module, name)
        raise DataError(
            f"{self.source}: refusing to unpickle global {module}.{name} "
            "(only numpy arrays are accepted from .pkl files)"
        )


def load_numpy_pickle(path: str | os.PathLike[str]) -> Any:
    """Unpickle a file holding numpy arrays, dicts, lists or numbers; refuse anything else.

    Python 2 pickles are read with `encoding="latin1"`, as numpy recommends.
    """
    file = Path(path)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{file}: file not found") from None
    except OSError as err:
        raise DataError(f"{file}: cannot read ({err})") from None
    if not data:
        raise DataError(f"{file}: empty file")
    for encoding in ("ASCII", "latin1"):
        try:
            return NumpyOnlyUnpickler(io.BytesIO(data), source=str(file), encoding=encoding).load()
        except DataError:
            raise
        except UnicodeDecodeError:
            continue
        except Exception as err:  # a malformed pickle can raise almost anything
            kind = type(err).__name__
            raise DataError(f"{file}: not a readable pickle ({kind}: {err})") from None
    raise DataError(f"{file}: not a readable pickle (undecodable Python 2 strings)")
