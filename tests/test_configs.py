"""The shipped YAML configs load, validate and say what the paper says."""

from __future__ import annotations

from pathlib import Path

import pytest

from agcn_pyg.config import load_run_config, validate_run_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def test_every_setting_is_shipped() -> None:
    names = {p.stem for p in CONFIGS}
    expected = {
        "coco_agcn",
        "coco_mlgcn",
        "coco_baseline",
        "coco_cos_a",
        "coco_fc_a",
        "coco_dot_a",
        "coco_agcn_no_la",
        "voc2007_agcn",
        "fashion550k_agcn_noisy",
        "fashion550k_agcn_clean",
        "modern",
    }
    assert expected <= names


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_loads_and_validates(path: Path) -> None:
    cfg = load_run_config(path)
    validate_run_config(cfg)
    assert cfg.name == path.stem or path.stem == "modern" or path.stem.startswith("demo")


def test_paper_recipe_in_coco_agcn() -> None:
    cfg = load_run_config(Path(CONFIGS[0]).parent / "coco_agcn.yaml")
    m, d, t = cfg.model, cfg.data, cfg.train
    assert (m.graph, m.gnn, m.pool, m.alpha, m.num_layers, m.hidden_dim) == (
        "conv",
        "gcn",
        "max",
        1.0,
        2,
        1024,
    )
    assert m.backbone.startswith("resnet101") and m.pretrained is True
    assert (d.image_size, d.resize_size, d.transforms) == (448, 512, "paper")
    assert (t.optimizer, t.lr, t.lrp, t.momentum, t.weight_decay) == ("sgd", 0.01, 0.1, 0.9, 1e-4)
    assert (t.scheduler, t.step_epochs, t.gamma, t.epochs, t.batch_size) == (
        "step",
        30,
        0.1,
        65,
        32,
    )


def test_ablation_configs_change_only_their_row() -> None:
    root = CONFIGS[0].parent
    base = load_run_config(root / "coco_agcn.yaml")
    expected = {
        "coco_mlgcn": {"graph": "static", "alpha": 0.0},
        "coco_baseline": {"graph": "none", "alpha": 0.0},
        "coco_cos_a": {"graph": "cos"},
        "coco_fc_a": {"graph": "fc"},
        "coco_dot_a": {"graph": "dot"},
        "coco_agcn_no_la": {"alpha": 0.0},
    }
    for name, changes in expected.items():
        model = load_run_config(root / f"{name}.yaml").model
        for field, value in vars(base.model).items():
            assert getattr(model, field) == changes.get(field, value), (name, field)


def test_fashion550k_clean_fine_tunes_from_noisy() -> None:
    root = CONFIGS[0].parent
    noisy = load_run_config(root / "fashion550k_agcn_noisy.yaml")
    clean = load_run_config(root / "fashion550k_agcn_clean.yaml")
    assert noisy.model.backbone.startswith("resnet50") and noisy.data.image_size == 224
    assert noisy.data.train["labels"] == "noisy" and clean.data.train["labels"] == "clean"
    assert clean.train.init_from == f"runs/{noisy.name}/best.pt"


def test_base_chain_loop_is_a_config_error(tmp_path: Path) -> None:
    from agcn_pyg.errors import ConfigError

    (tmp_path / "a.yaml").write_text("_base_: b.yaml\nname: a\n")
    (tmp_path / "b.yaml").write_text("_base_: a.yaml\nname: b\n")
    with pytest.raises(ConfigError, match="loops back"):
        load_run_config(tmp_path / "a.yaml")


def test_base_values_are_overridden_by_the_child(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("name: base\ntrain: {epochs: 5, lr: 0.1}\n")
    (tmp_path / "child.yaml").write_text("_base_: base.yaml\nname: child\ntrain: {lr: 1e-3}\n")
    cfg = load_run_config(tmp_path / "child.yaml", ["train.batch_size=4"])
    assert (cfg.name, cfg.train.epochs, cfg.train.lr, cfg.train.batch_size) == (
        "child",
        5,
        1e-3,
        4,
    )


@pytest.mark.parametrize("kind", ["agcn", "mlgcn"])
def test_official_configs_are_the_official_recipes(kind: str) -> None:
    from agcn_pyg.models import OFFICIAL_RECIPES

    cfg = load_run_config(Path(CONFIGS[0]).parent / f"coco_{kind}_official.yaml")
    recipe = OFFICIAL_RECIPES[kind]
    for section in ("model", "data", "train"):
        values = getattr(cfg, section)
        for key, expected in recipe[section].items():
            assert getattr(values, key) == expected, f"{section}.{key}"
    assert cfg.data.embeddings.endswith(f"{'coco'}_glove_word2vec.pkl")
    if kind == "mlgcn":
        assert cfg.data.cooccurrence.endswith("coco_adj.pkl")
