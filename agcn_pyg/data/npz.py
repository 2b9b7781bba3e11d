"""Reading this project's `.npz` archives (embeddings, co-occurrence counts) with pickles
refused and every failure turned into a `DataError` that names the file."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from agcn_pyg.errors import DataError


def load_npz(path: str | os.PathLike[str], required: Iterable[str]) -> dict[str, np.ndarray]:
    """Every array of the archive at ``path``, by name; the ``required`` ones must be there.

    A missing file, a file that is not an `.npz` archive, an array that would need pickle,
    or a missing required array is a `DataError`.
    """
    file = Path(path)
    try:
        with np.load(file, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise DataError(f"{file}: file not found") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"{file}: not a readable .npz file ({err})") from None
    missing = set(required) - set(arrays)
    if missing:
        raise DataError(f"{file}: missing array(s) {sorted(missing)}")
    return arrays
