"""The repository's ``analysis/`` scripts, which the demo reuses (they are not in the wheel).

``analysis/`` is a folder of scripts at the repository root, beside the package. The demo
imports them as ``analysis.<module>`` from the checkout the package lives in, which works for
an editable install and when run from the repository root alike.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from agcn_pyg.errors import ConfigError

#: the checkout that holds this package (``agcn_pyg/demo/scripts.py`` → three levels up)
REPO_ROOT = Path(__file__).resolve().parents[2]


def analysis_module(module: str) -> Any:
    """``analysis.<module>`` from this checkout (the scripts are not part of the wheel).

    Loaded by file path, so another installed package called ``analysis`` cannot shadow it.
    """
    if not (REPO_ROOT / "analysis" / f"{module}.py").is_file():
        raise ConfigError(
            f"agcn demo needs the repository's analysis/{module}.py; run it from a checkout"
        )
    _load("analysis", REPO_ROOT / "analysis" / "__init__.py")
    return _load(f"analysis.{module}", REPO_ROOT / "analysis" / f"{module}.py")


def _load(name: str, path: Path) -> Any:
    loaded = sys.modules.get(name)
    if loaded is not None and Path(getattr(loaded, "__file__", "")).resolve() == path.resolve():
        return loaded
    spec = importlib.util.spec_from_file_location(
        name, path, submodule_search_locations=[str(path.parent)] if name == "analysis" else None
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
