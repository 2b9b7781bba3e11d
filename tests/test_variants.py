"""Named variants: one definition per row, the same run from every entry point."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agcn_pyg.analysis import run_table1 as table1
from agcn_pyg.config import SHIPPED_CONFIGS, load_run_config, to_dict
from agcn_pyg.errors import ConfigError
from agcn_pyg.variants import (
    MAIN_ROWS,
    VARIANTS,
    config_stem,
    get_variant,
    short_title,
    table1_variants,
    title,
)

CONFIGS = sorted(SHIPPED_CONFIGS.glob("*.yaml"))
ROWS = [variant.name for variant in table1_variants()]


def test_table1_rows_are_the_papers_in_order_with_the_controls() -> None:
    assert ROWS == [
        "baseline",
        "mlgcn_binary",
        "mlgcn",
        "agcn",
        "agcn_no_la",
        "cos_a",
        "fc_a",
        "dot_a",
        "agcn_gat",
        "identity",
        "shuffled",
        "uniform",
        "agcn_official",
    ]
    assert set(MAIN_ROWS) <= set(ROWS)
    assert "mlgcn_official" in VARIANTS and "mlgcn_official" not in ROWS
    assert [v.name for v in table1_variants(["agcn", "mlgcn_official"])] == [
        "agcn",
        "mlgcn_official",
    ]
    with pytest.raises(ConfigError, match="unknown Table-1 row or variant 'resnet'"):
        table1_variants(["agcn", "resnet"])
    assert (title("identity"), short_title("identity")) == (
        "Â = I (control: no label correlations)",
        "Â = I",
    )
    assert title("agcn_whiten") == "agcn_whiten"  # a study's own name stays as it is


def test_config_stem_drops_only_the_configs_own_variant() -> None:
    assert config_stem("coco_agcn", "agcn") == "coco"
    assert config_stem("coco_agcn_official", "agcn_official") == "coco"
    assert config_stem("coco_agcn_official", "agcn") == "coco_official"
    assert config_stem("fashion550k_agcn_noisy", "agcn") == "fashion550k_noisy"
    assert config_stem("coco_agcnx", "agcn") == "coco_agcnx"  # not a whole suffix
    assert config_stem("digits", "agcn") == "digits"
    assert config_stem("shapes", None) == "shapes"


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_run_table1_rows_are_agcn_train_with_the_variant(path: Path) -> None:
    """The row `agcn run-table1 CONFIG` trains is `agcn train -c CONFIG variant=<row>`."""
    rows = table1.row_configs(path)
    assert [row.name for row, _ in rows] == ROWS
    for row, cfg in rows:
        expected = load_run_config(path, [f"variant={row.name}"])
        assert cfg.variant == row.name
        for section in ("model", "train"):
            assert to_dict(getattr(cfg, section)) == to_dict(getattr(expected, section)), (
                row.name,
                section,
            )


def _per_variant_configs() -> list[tuple[Path, str, Path]]:
    """``(config, variant, base)``: every shipped ``<dataset>_<variant>.yaml`` beside its data
    set's ``<dataset>_agcn.yaml``."""
    out = []
    for path in CONFIGS:
        variant = yaml.safe_load(path.read_text(encoding="utf-8")).get("variant")
        dataset = path.stem.removesuffix(f"_{variant}")
        base = path.with_name(f"{dataset}_agcn.yaml")
        if variant and dataset != path.stem and base.is_file() and base != path:
            out.append((path, variant, base))
    return out


PER_VARIANT = _per_variant_configs()


def test_the_per_variant_configs_are_found() -> None:
    names = {path.stem for path, _, _ in PER_VARIANT}
    assert {"coco_mlgcn", "coco_baseline", "coco_agcn_official", "coco_mlgcn_official"} <= names
    assert {"coco_cos_a", "coco_fc_a", "coco_dot_a", "coco_agcn_no_la"} <= names


@pytest.mark.parametrize(
    ("path", "variant", "base"), PER_VARIANT, ids=[p.stem for p, _, _ in PER_VARIANT]
)
def test_a_per_variant_config_is_its_row_on_the_data_sets_base(
    path: Path, variant: str, base: Path
) -> None:
    shipped = load_run_config(path)
    cfg = table1.row_configs(base, rows=[variant])[0][1]
    assert shipped.name == cfg.name == path.stem  # coco_agcn.yaml's row mlgcn: coco_mlgcn
    for section in ("model", "train"):
        assert to_dict(getattr(shipped, section)) == to_dict(getattr(cfg, section)), section
    # and the file restates nothing the variant or the base already says
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert "model" not in raw and "train" not in raw


def test_run_table1s_mlgcn_row_clips_as_configs_coco_mlgcn_yaml() -> None:
    # The defect: the row only switched the graph, so Table 1's ML-GCN trained unclipped.
    ((_, row),) = table1.row_configs("coco_agcn", rows=["mlgcn"])
    assert row.train.clip_grad_norm == 10.0
    assert load_run_config("coco_mlgcn").train.clip_grad_norm == 10.0
    assert load_run_config("coco_agcn").train.clip_grad_norm is None  # A-GCN's row does not
    # on any data set: the clipping belongs to the method
    ((_, demo),) = table1.row_configs("demo", rows=["mlgcn"])
    assert demo.train.clip_grad_norm == 10.0


def test_official_row_trains_the_official_recipe_on_any_config() -> None:
    ((_, row),) = table1.row_configs("demo", rows=["agcn_official"])
    official = get_variant("agcn_official")
    for key, value in official.train.items():
        assert getattr(row.train, key) == value, key
    assert (row.model.lg_dim, row.model.guard, row.data.transforms) == (
        150,
        "none",
        "agcn_official",
    )
    assert row.data.image_size == 96  # the resolution stays the data set's


def test_row_names_carry_no_doubled_prefix() -> None:
    rows = table1.row_configs("coco_agcn", rows=["mlgcn", "agcn", "agcn_gat"], gnns=["gcn", "gat"])
    names = ["coco_mlgcn_gcn", "coco_mlgcn_gat", "coco_agcn_gcn", "coco_agcn_gat"]
    assert [cfg.name for _, cfg in rows] == names
    # row agcn_gat is row agcn on GAT: one run, filed under the first row that makes it
    assert [row.name for row, _ in rows] == ["mlgcn_gcn", "mlgcn_gat", "agcn_gcn", "agcn_gat"]
    assert rows[3][0].variant == "agcn" and rows[3][1].model.gnn == "gat"
    ((_, row),) = table1.row_configs("fashion550k_agcn_noisy", rows=["mlgcn"])
    assert row.name == "fashion550k_noisy_mlgcn"
    ((_, row),) = table1.row_configs("demo_features", rows=["cos_a"])
    assert row.name == "demo_features_cos_a"


def test_a_file_has_the_last_word_over_its_variant_and_the_command_line_over_both(
    tmp_path: Path,
) -> None:
    path = tmp_path / "short_official.yaml"
    base = SHIPPED_CONFIGS / "coco_agcn_official.yaml"
    path.write_text(f"_base_: {base}\nname: short\ntrain: {{epochs: 10}}\n")
    cfg = load_run_config(path)
    assert (cfg.variant, cfg.train.epochs, cfg.train.lrp, cfg.model.lg_dim) == (
        "agcn_official",
        10,  # the file's own key
        1.0,  # the variant's, over coco_agcn.yaml's 0.1
        150,
    )
    assert load_run_config(path, ["train.epochs=3"]).train.epochs == 3
    # a variant named on the command line goes over the whole file, as a Table-1 row does
    assert load_run_config(path, ["variant=agcn_official"]).train.epochs == 35
    mlgcn = load_run_config(path, ["variant=mlgcn"])
    assert (mlgcn.model.graph, mlgcn.model.lg_dim, mlgcn.train.clip_grad_norm) == (
        "static",
        None,  # the file's variant is replaced, not stacked
        10.0,
    )
    with pytest.raises(ConfigError, match=r"short_official\.yaml: variant: expected one of"):
        path.write_text("variant: typo\n")
        load_run_config(path)
