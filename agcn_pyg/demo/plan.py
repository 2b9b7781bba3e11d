"""What one `agcn demo` call trains, and how: the recipes, `DemoPlan` and the rows' configs.

The recipes are shipped configs: ``configs/demo.yaml`` (end to end), ``demo_features.yaml``
(heads on cached features) and ``demo_finetune.yaml`` (Table 2's clean fine-tune). A `Recipe`
names one with the overrides this call adds (``--quick``, ``--epochs``). A row's config is its
recipe with the row's variant resolved as ``agcn train -c <recipe> variant=<row>`` resolves
it (`agcn_pyg.variants`: ML-GCN's clipping, the official code's schedule and crop), then the
recipe's overrides, then this demo's paths and run name; every row evaluates and reports its
last epoch only (``train.select: last``: the demo has no validation split, so no model
selection on the test scenes), whatever schedule or selection its variant brings.
`make_plan` turns the command line into a `DemoPlan`; `row_run_config` and
`table2_run_config` give the rows' `RunConfig`. The search behind the recipes is in the
repository's ``docs/experiments.md``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from agcn_pyg.analysis._common import last_epoch_only, parse_alphas
from agcn_pyg.config import (
    SHIPPED_CONFIGS,
    DataConfig,
    RunConfig,
    TrainConfig,
    build_run_config,
    load_yaml,
    merge,
)
from agcn_pyg.demo.data import DemoConfig
from agcn_pyg.demo.options import MODES
from agcn_pyg.errors import ConfigError
from agcn_pyg.variants import MAIN_ROWS, table1_variants

BACKBONE = "efficientnet_lite0"
MODE_TITLES = {"end2end": "end to end", "features": "cached features, frozen backbone"}
MODE_SHORT = {"end2end": "end to end", "features": "features"}


@dataclass(frozen=True)
class Recipe:
    """How one stage trains: a shipped config (`agcn_pyg.config.SHIPPED_CONFIGS`, named) and
    the ``key=value`` overrides this call puts over it (and over a row's variant)."""

    config: str
    overrides: tuple[str, ...] = ()

    @property
    def path(self) -> Path:
        """The shipped file (not a file of that name where the demo runs)."""
        return SHIPPED_CONFIGS / self.config

    def with_epochs(self, epochs: int) -> Recipe:
        """The recipe for ``epochs`` epochs, still evaluated at the last one only."""
        more = (f"train.epochs={epochs}", f"train.eval_every={epochs}")
        return replace(self, overrides=(*self.overrides, *more))

    def with_image_size(self, size: int) -> Recipe:
        """The recipe at ``size`` px, with the paper's 8/7 resize before the crop."""
        more = (f"data.image_size={size}", f"data.resize_size={round(size * 8 / 7)}")
        return replace(self, overrides=(*self.overrides, *more))

    @cached_property
    def resolved(self) -> RunConfig:
        """The recipe's own run (A-GCN, the config's variant) with the overrides."""
        return build_run_config(load_yaml(self.path), self.overrides)

    @property
    def train(self) -> TrainConfig:
        return self.resolved.train

    @property
    def data(self) -> DataConfig:
        return self.resolved.data

    @property
    def epochs(self) -> int:
        return self.train.epochs

    @property
    def image_size(self) -> int:
        return self.data.image_size


END2END = Recipe("demo.yaml")
FEATURES = Recipe("demo_features.yaml")
#: Table 2's "noisy + clean" rows: the noisy run's weights fine-tuned on the clean subset
FINETUNE = Recipe("demo_finetune.yaml")
#: ``--quick`` (CI): the same code path, smaller
QUICK_END2END = END2END.with_epochs(1)
QUICK_FEATURES = FEATURES.with_epochs(3).with_image_size(96)
QUICK_FINETUNE = FINETUNE.with_epochs(2).with_image_size(96)
QUICK_SIZES = (200, 100)
#: the rows of the Table-2 setting: the paper's three and the controls (Â = I, ML-GCN's graph
#: on shuffled labels, ML-GCN's re-weighting without structure)
TABLE2_ROWS = ("baseline", "mlgcn", "agcn", "identity", "shuffled", "uniform")
#: Table 2's settings, in order, and how the report names them
SETTINGS = {"noisy": "noisy labels", "noisy_clean": "noisy + clean fine-tune"}


@dataclass(frozen=True)
class NoiseSetting:
    """The Table-2 setting (`agcn_pyg.data.noise`): every positive training label dropped with
    probability ``drop`` (and a negative made positive with ``add``), with the data seed;
    then the first ``clean_fraction`` of the training scenes, with their clean labels, for
    the fine-tune. Chosen before looking at any result: 40 % missing tags, as in weakly
    annotated data, and a clean tenth, the proportion of a small verified subset."""

    drop: float = 0.4
    add: float = 0.0
    clean_fraction: float = 0.1

    def clean_count(self, n_train: int) -> int:
        """How many training scenes the clean subset holds."""
        return max(1, round(self.clean_fraction * n_train))

    def overrides(self, seed: int) -> list[str]:
        return [
            f"data.label_noise.drop={self.drop}",
            f"data.label_noise.add={self.add}",
            f"data.label_noise.seed={seed}",
        ]


@dataclass
class DemoPlan:
    """What one `agcn demo` call trains, and how."""

    out: Path
    data: DemoConfig
    rows: list[str]
    modes: tuple[str, ...]
    end2end_rows: list[str]
    features_rows: list[str]
    end2end: Recipe
    features: Recipe
    seed: int
    seeds: int
    alphas: tuple[float, ...]
    quick: bool
    progress: bool = True
    #: the Table-2 rows (trained on cached features); empty: no Table 2
    table2_rows: list[str] = field(default_factory=list)
    noise: NoiseSetting = NoiseSetting()
    finetune: Recipe = FINETUNE

    def recipe(self, mode: str) -> Recipe:
        return self.end2end if mode == "end2end" else self.features

    @property
    def cache_dir(self) -> Path:
        """The features cache every cached-features row of this plan shares."""
        return self.out / "cache" / "features"

    @property
    def table2_dir(self) -> Path:
        """Where the Table-2 runs and the clean subset's CSV go."""
        return self.out / "runs" / "table2"


# --------------------------------------------------------------------------- configs


def demo_paths(
    data_root: str | Path, weights: str | Path, output_dir: str | Path, seed: int = 0
) -> dict[str, Any]:
    """The settings that put a recipe on one demo's files: its scenes, its converted weights,
    its run folders, its seed (a mapping merged into the recipe, so that paths are never
    parsed as ``key=value`` text)."""
    root = Path(data_root)
    labels = str(root / "labels.txt")
    return {
        "output_dir": str(output_dir),
        "model": {"pretrained": str(weights)},
        "data": {
            "train": {"csv_file": str(root / "train.csv"), "label_names": labels},
            "val": {"csv_file": str(root / "test.csv"), "label_names": labels},
        },
        "train": {"seed": seed},
    }


def recipe_config(
    recipe: Recipe, paths: dict[str, Any], row: str, name: str, extra: tuple[str, ...] = ()
) -> RunConfig:
    """``row``'s run under ``recipe``: the recipe's config with the demo's ``paths``, the
    row's variant over them, the recipe's and the ``extra`` overrides last."""
    base = merge(load_yaml(recipe.path), paths)
    cfg = build_run_config(base, [f"variant={row}", *recipe.overrides, *extra])
    return last_epoch_only(replace(cfg, name=name))


def end2end_config(out: str | Path = "runs/demo", output_dir: str | Path = "runs") -> RunConfig:
    """The demo's end-to-end A-GCN run (``configs/demo.yaml``), reading the data and weights a
    demo wrote to ``out``, so that ``agcn train -c configs/demo.yaml`` trains A-GCN as
    ``agcn demo --mode end2end`` does."""
    out = Path(out)
    paths = demo_paths(out / "data", out / "weights" / f"{BACKBONE}.pth", output_dir)
    del paths["train"]  # the config's own seed
    return recipe_config(END2END, paths, "agcn", load_yaml(END2END.path)["name"])


def mode_paths(plan: DemoPlan, mode: str, weights: Path, seed: int | None = None) -> dict[str, Any]:
    """`demo_paths` of ``mode``'s runs: output under ``<out>/runs/<mode>``."""
    seed = plan.seed if seed is None else seed
    return demo_paths(plan.out / "data", weights, plan.out / "runs" / mode, seed)


def mode_base(plan: DemoPlan, mode: str, weights: Path) -> dict[str, Any]:
    """``mode``'s recipe config on this demo's files, as a mapping (its overrides not yet
    applied: they go over a row's variant, `Recipe.overrides`)."""
    return merge(load_yaml(plan.recipe(mode).path), mode_paths(plan, mode, weights))


def row_run_config(
    plan: DemoPlan, row: str, mode: str, weights: Path, seed: int | None = None
) -> RunConfig:
    """The `RunConfig` of one row in one mode (run name ``<row>``, or ``<row>_seed<k>``)."""
    name = row if seed is None or seed == plan.seed else f"{row}_seed{seed}"
    return recipe_config(plan.recipe(mode), mode_paths(plan, mode, weights, seed), row, name)


def table2_run_config(
    plan: DemoPlan,
    row: str,
    setting: str,
    weights: Path,
    clean_csv: Path | None = None,
    init_from: Path | None = None,
) -> RunConfig:
    """One Table-2 run on cached features: ``noisy`` trains on the noisy labels under the
    features recipe (run name ``<row>_noisy``); ``noisy_clean`` fine-tunes ``init_from`` on
    ``clean_csv`` (the clean subset) under the fine-tune recipe (``<row>_noisy_clean``)."""
    paths = merge(mode_paths(plan, "features", weights), {"output_dir": str(plan.table2_dir)})
    name = f"{row}_{setting}"
    if setting == "noisy":
        noise = tuple(plan.noise.overrides(plan.data.seed))
        return recipe_config(plan.features, paths, row, name, noise)
    if setting != "noisy_clean":
        raise ConfigError(f"Table-2 setting {setting!r}: choose one of {list(SETTINGS)}")
    if clean_csv is None or init_from is None:
        raise ConfigError("the noisy + clean setting needs the clean CSV and init_from")
    clean = {"csv_file": str(clean_csv), "image_dir": str(plan.out / "data")}
    paths = merge(paths, {"data": {"train": clean}, "train": {"init_from": str(init_from)}})
    return recipe_config(plan.finetune, paths, row, name)


# --------------------------------------------------------------------------- the plan


def make_plan(args: argparse.Namespace) -> DemoPlan:
    """The `DemoPlan` of a parsed `agcn demo` command line; bad options raise `ConfigError`."""
    names = None if args.rows in (None, "all") else _split(args.rows)
    rows = [variant.name for variant in table1_variants(names)]  # checks the names
    if args.mode not in MODES:
        raise ConfigError(f"--mode {args.mode!r}: choose one of {list(MODES)}")
    modes = MODES[args.mode]
    end2end_rows: list[str] = []
    if "end2end" in modes:
        # With both modes, only the main rows go end to end: the rest would not fit.
        end2end_rows = [r for r in rows if r in MAIN_ROWS] if len(modes) > 1 else list(rows)
    features_rows = list(rows) if "features" in modes else []
    end2end, features = (QUICK_END2END, QUICK_FEATURES) if args.quick else (END2END, FEATURES)
    if args.epochs is not None:
        end2end = end2end.with_epochs(_positive(args.epochs, "--epochs"))
    if args.head_epochs is not None:
        features = features.with_epochs(_positive(args.head_epochs, "--head-epochs"))
    data = DemoConfig(seed=args.data_seed)
    if args.quick:
        data = data.reduced(*QUICK_SIZES)
    return DemoPlan(
        out=Path(args.out),
        data=data,
        rows=rows,
        modes=tuple(m for m in modes if (end2end_rows if m == "end2end" else features_rows)),
        end2end_rows=end2end_rows,
        features_rows=features_rows,
        end2end=end2end,
        features=features,
        seed=args.seed,
        seeds=_positive(args.seeds, "--seeds"),
        alphas=tuple(_alphas(args.alphas)),
        quick=args.quick,
        progress=not args.no_progress,
        table2_rows=[r for r in TABLE2_ROWS if r in rows] if features_rows and args.table2 else [],
        finetune=QUICK_FINETUNE if args.quick else FINETUNE,
    )


def _split(text: str) -> list[str]:
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise ConfigError("--rows: give at least one Table-1 row")
    return names


def _alphas(text: str) -> list[float]:
    if text.strip().lower() in ("", "none"):
        return []
    return parse_alphas(text)


def _positive(value: int, name: str) -> int:
    if value < 1:
        raise ConfigError(f"{name}: expected an int ≥ 1, got {value}")
    return value
