"""The demo's command-line choices and defaults, apart from the plan (`agcn_pyg.demo.plan`),
which imports the config and torch: ``agcn demo --help`` reads them from here."""

from __future__ import annotations

#: ``--mode`` → (modes trained, in order); ``auto`` is the five-minute plan
MODES: dict[str, tuple[str, ...]] = {
    "auto": ("features",),
    "features": ("features",),
    "end2end": ("end2end",),
    "both": ("end2end", "features"),
}
#: ``--alphas``: the α of the sweep on cached features
DEFAULT_ALPHAS = (0.0, 0.5, 1.0, 2.0)
#: ``--seeds``: seeds of the main rows on cached features
DEFAULT_SEEDS = 3
