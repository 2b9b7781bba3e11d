"""The shipped YAML configs load, validate and say what the paper says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agcn_pyg.__main__ import main
from agcn_pyg.config import SHIPPED_CONFIGS, load_run_config, to_dict, validate_run_config
from agcn_pyg.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


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
        "demo",
        "demo_features",
        "demo_finetune",
        "digits",
    }
    assert expected <= names
    # the package ships the same files (agcn_pyg/configs links to configs/)
    assert sorted(p.name for p in SHIPPED_CONFIGS.glob("*.yaml")) == [p.name for p in CONFIGS]


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


#: what each official code runs on MS-COCO, restated from its source (queenie88/A-GCN's
#: demo_coco__adapt.py, engine__adapt.py, models__adapt.py; megvii-research/ML-GCN's
#: demo_coco_gcn.py, engine.py, models.py) as the README's tables give it
OFFICIAL_CODE = {
    "agcn": {
        "model": {"graph": "conv", "guard": "none", "lg_bias": True, "lg_dim": 150},
        "data": {"transforms": "agcn_official", "image_size": 448, "resize_size": 512},
        "train": {"epochs": 35, "batch_size": 32, "lr": 0.01, "lrp": 1.0, "step_epochs": [15, 30]},
    },
    "mlgcn": {
        "model": {"graph": "static", "reweight": True, "t": 0.4, "p": 0.25, "alpha": 0.0},
        "data": {"transforms": "mlgcn", "image_size": 448},
        "train": {"epochs": 20, "batch_size": 16, "lr": 0.1, "lrp": 0.1, "step_epochs": [30]},
    },
}
BOTH_CODES = {
    "model": {"backbone": "resnet101.tv_in1k", "pool": "max", "gnn_init": "mlgcn"},
    "data": {"difficult": "positive", "normalization": "imagenet"},
    "train": {
        "optimizer": "sgd",
        "momentum": 0.9,
        "weight_decay": 1e-4,
        "scheduler": "step",
        "gamma": 0.1,
        "clip_grad_norm": 10.0,
        "amp": "off",
        "loss": "bce",
    },
}


@pytest.mark.parametrize("kind", ["agcn", "mlgcn"])
def test_official_configs_run_what_the_official_code_runs(kind: str) -> None:
    cfg = load_run_config(Path(CONFIGS[0]).parent / f"coco_{kind}_official.yaml")
    assert cfg.variant == f"{kind}_official"
    for section in ("model", "data", "train"):
        values = getattr(cfg, section)
        expected = OFFICIAL_CODE[kind][section] | BOTH_CODES[section]
        for key, value in expected.items():
            assert getattr(values, key) == value, f"{section}.{key}"
    assert cfg.data.embeddings.endswith(f"{'coco'}_glove_word2vec.pkl")
    if kind == "mlgcn":
        assert cfg.data.cooccurrence.endswith("coco_adj.pkl")


def test_a_shipped_config_loads_by_name_from_any_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no configs/ here
    by_path = load_run_config(REPO / "configs" / "coco_mlgcn.yaml")
    for name in ("coco_mlgcn", "coco_mlgcn.yaml", "configs/coco_mlgcn.yaml"):
        assert to_dict(load_run_config(name)) == to_dict(by_path)  # _base_ included
    with pytest.raises(ConfigError, match=r"config file not found .*shipped configs: .*coco_agcn"):
        load_run_config("coco_nope")
    # a file of that name where the user stands wins over the shipped one
    (tmp_path / "coco_mlgcn.yaml").write_text("name: mine\n")
    assert load_run_config("coco_mlgcn.yaml").name == "mine"
    assert load_run_config("coco_mlgcn").name == "coco_mlgcn"  # no such file here: shipped


def _cli(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().out


def test_print_config_round_trips_and_writes_nothing(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["train", "-c", "coco_agcn_official", "train.epochs=3", "data.workers=0"]
    code, out = _cli([*argv, "--print-config"], capsys)
    assert code == 0 and list(tmp_path.iterdir()) == []  # no run folder, no data read
    printed = yaml.safe_load(out)
    expected = load_run_config("coco_agcn_official", ["train.epochs=3", "data.workers=0"])
    assert printed == to_dict(expected)
    assert printed["train"]["epochs"] == 3 and printed["model"]["lg_dim"] == 150
    path = tmp_path.parent / f"{tmp_path.name}_printed.yaml"
    path.write_text(out)
    assert to_dict(load_run_config(path)) == to_dict(expected)  # the printed config is the run
    assert _cli(["train", "-c", "coco_agcn", "model.graph=nope", "--print-config"], capsys)[0] == 2


def test_printing_configs_imports_no_training_code(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from agcn_pyg.__main__ import main\n"
        "assert main(['train', '-c', 'coco_mlgcn', '--print-config']) == 0\n"
        "assert main(['run-table1', 'coco_agcn', '--rows', 'mlgcn,agcn', '--print-configs']) == 0\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('agcn_pyg.engine.'))\n"
        "print('ENGINE', loaded)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "ENGINE []" in done.stdout
    assert "# row: mlgcn" in done.stdout and list(tmp_path.iterdir()) == []
