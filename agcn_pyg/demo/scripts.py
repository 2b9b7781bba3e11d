"""The repository's ``analysis/`` scripts, which the demo reuses (they are not in the wheel).

``analysis/`` is a folder of scripts at the repository root, beside the package. The demo
imports them as ``analysis.<module>`` from the checkout the package lives in, which works for
an editable install and when run from the repository root alike.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from agcn_pyg.errors import ConfigError

#: the checkout that holds this package (``agcn_pyg/demo/scripts.py`` → three levels up)
REPO_ROOT = Path(__file__).resolve().parents[2]


def analysis_module(module: str) -> Any:
    """``analysis.<module>`` from the repository root (the scripts are not part of the wheel)."""
    if not (REPO_ROOT / "analysis" / f"{module}.py").is_file():
        raise ConfigError(
            f"agcn demo needs the repository's analysis/{module}.py; run it from a checkout"
        )
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    return importlib.import_module(f"analysis.{module}")
