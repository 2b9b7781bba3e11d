"""`agcn_pyg.analysis.end2end_gap`: variants × seeds end to end on digit scenes, one table."""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pytest
import yaml

from agcn_pyg.analysis import end2end_gap as gap
from agcn_pyg.config import SHIPPED_CONFIGS, load_yaml
from agcn_pyg.data.digit_scenes import DigitScenesConfig
from agcn_pyg.errors import ConfigError


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    config = copy.deepcopy(load_yaml(SHIPPED_CONFIGS / gap.DEFAULT_CONFIG))
    config["model"].update({"backbone": "test_resnet", "hidden_dim": 16})
    config["data"].update({"image_size": 32, "resize_size": 32, "workers": 0})
    config["data"]["embeddings"] = "onehot"
    config["train"].update({"epochs": 2, "batch_size": 8, "eval_every": 2})
    path = tmp_path / "tiny_digits.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_study_trains_each_variant_and_seed_and_tabulates_the_graph(
    tiny_config: Path, tmp_path: Path, monkeypatch
) -> None:
    out = tmp_path / "study"
    data = DigitScenesConfig(n_train=24, n_val=12)
    variants = ["baseline", "agcn", "identity"]
    df = gap.end2end_gap(out, variants, [0, 1], tiny_config, data, progress=False)
    assert df["variant"].tolist() == variants
    assert df[["seed 0", "seed 1", "mean"]].stack().between(0, 100).all()
    for variant in variants:
        for seed in (0, 1):
            resolved = yaml.safe_load(
                (out / "runs" / f"digits_{variant}_seed{seed}" / "config.yaml").read_text()
            )
            assert resolved["train"]["seed"] == seed
            assert resolved["data"]["train"]["csv_file"] == str(out / "data" / "train.csv")
    by = df.set_index("variant")
    assert by.loc["identity", "Â = I at the end"] == "2/2" and by.loc["identity", "offdiag(Â)"] == 0
    assert by.loc["baseline", "Â = I at the end"] == "-"
    md = (out / "end2end_gap.md").read_text()
    assert "| variant | seed 0 | seed 1 | mean | std | faint AP |" in md and "| identity |" in md
    csv = pd.read_csv(out / "end2end_gap.csv")
    assert csv["variant"].tolist() == variants

    def boom(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    with monkeypatch.context() as patch:
        patch.setattr(gap, "train_row", boom)
        again = gap.end2end_gap(out, variants, [0, 1], tiny_config, data, progress=False)
    assert again["mean"].tolist() == df["mean"].tolist()
    # Another recipe under the same run names is trained again, not read back.
    changed = yaml.safe_load(tiny_config.read_text())
    changed["train"]["epochs"], changed["train"]["eval_every"] = 1, 1
    tiny_config.write_text(yaml.safe_dump(changed))
    rerun = gap.end2end_gap(out, ["baseline"], [0], tiny_config, data, progress=False)
    stored = yaml.safe_load((out / "runs" / "digits_baseline_seed0" / "config.yaml").read_text())
    assert stored["train"]["epochs"] == 1 and len(rerun) == 1


def test_arguments_are_checked(capsys) -> None:
    assert gap.parse_names(None, list(gap.STUDY), "variants") == list(gap.DEFAULT_VARIANTS)
    assert gap.parse_names("all", list(gap.STUDY), "variants") == list(gap.STUDY)
    with pytest.raises(ConfigError, match="unknown name 'nope'"):
        gap.parse_names("agcn,nope", list(gap.STUDY), "variants")
    assert gap.parse_seeds("0, 2") == [0, 2]
    for bad in ("0,x", "1,1", ""):
        with pytest.raises(ConfigError, match="--seeds"):
            gap.parse_seeds(bad)
    assert gap.cli(["--seeds", "a"]) == 2
    assert "--seeds" in capsys.readouterr().err
    root, out = Path("runs/digits/data"), Path("runs/digits/runs")
    for name, (variant, _) in gap.STUDY.items():  # every entry builds a valid config
        cfg = gap.study_config(name, 1, root, out, SHIPPED_CONFIGS / gap.DEFAULT_CONFIG)
        assert cfg.name == f"digits_{name}_seed1" and cfg.data.hflip is False
        assert cfg.variant == variant and cfg.train.seed == 1
        assert cfg.train.eval_every == cfg.train.epochs  # the last epoch only
    official = gap.study_config("agcn_official", 0, root, out, SHIPPED_CONFIGS / gap.DEFAULT_CONFIG)
    assert official.train.epochs == 35 and official.train.eval_every == 35  # its own schedule
    assert official.data.image_size == 48  # on the study's data
    whiten = gap.study_config("agcn_gat_whiten", 0, root, out, SHIPPED_CONFIGS / gap.DEFAULT_CONFIG)
    assert (whiten.model.gnn, whiten.model.embedding_norm) == ("gat", "whiten")


def test_the_default_recipe_is_the_shipped_digits_yaml() -> None:
    # The installed package has no repository: the study's default is a shipped config.
    assert (SHIPPED_CONFIGS / gap.DEFAULT_CONFIG).is_file()
    assert load_yaml(SHIPPED_CONFIGS / gap.DEFAULT_CONFIG)["model"]["backbone"] == "resnet10t"
    assert gap.get_args_parser().parse_args([]).config is None
