"""The config schema: every bad value stops `load_run_config` with one `ConfigError` naming its
key, before any data is read; the command line prints it as one line with exit status 2."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agcn_pyg.config import DataConfig, RunConfig, TrainConfig, load_run_config
from agcn_pyg.data import DATASETS, EMBEDDING_SOURCES, build_dataset, embed_labels
from agcn_pyg.errors import ConfigError
from agcn_pyg.registry import Registry, RegistryError
from agcn_pyg.validation import validate_run_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """A complete config whose data files do not exist: a check that ran after the data was
    read would meet a missing file first, so every error below proves the order too."""
    missing = str(tmp_path / "absent" / "train.csv")
    config = {
        "name": "schema",
        "output_dir": str(tmp_path / "runs"),
        "model": {"backbone": "test_resnet", "num_classes": 4, "hidden_dim": 8},
        "data": {
            "dataset": "csv",
            "train": {"csv_file": missing, "label_names": ["a", "b", "c", "d"]},
            "val": {"csv_file": missing, "label_names": ["a", "b", "c", "d"]},
            "image_size": 32,
            "embeddings": "onehot",
        },
        "train": {"epochs": 1, "batch_size": 2},
    }
    path = tmp_path / "schema.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_base_config_is_valid(config_file: Path) -> None:
    cfg = load_run_config(config_file)
    assert (cfg.data.dataset, cfg.data.difficult, cfg.train.loss) == ("csv", "ignore", "bce")


#: one unknown registry name in every section that has one
BAD_NAMES = [
    "model.graph",
    "model.gnn",
    "model.guard",
    "model.gnn_init",
    "model.pool",
    "model.embedding_norm",
    "data.dataset",
    "data.transforms",
    "data.difficult",
    "data.normalization",
    "data.embeddings",
    "train.optimizer",
    "train.scheduler",
    "train.loss",
    "train.amp",
]


@pytest.mark.parametrize("key", BAD_NAMES)
def test_an_unknown_name_stops_loading(config_file: Path, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{key}: expected .*'typo'"):
        load_run_config(config_file, [f"{key}=typo"])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.loss_kwargs={bogus: 1}"], "train.loss_kwargs.bogus: loss 'bce' takes no 'bogus'"),
        (
            ["train.loss=asl", "train.loss_kwargs={gamma: 1}"],
            "train.loss_kwargs.gamma: loss 'asl' takes no 'gamma'; it takes: gamma_neg, ",
        ),
        (["data.train.bogus=1"], "data.train.bogus: dataset 'csv' takes no 'bogus'"),
        (["data.val.bogus=1"], "data.val.bogus: dataset 'csv' takes no 'bogus'"),
        # the engine sets the transform itself
        (["data.train.transform=x"], "data.train.transform: dataset 'csv' takes no"),
        (["model.backbone_kwargs={bogus: 1}"], "model.backbone_kwargs.bogus: expected one of"),
        (["model.backbone_kwargs={output_stride: 3}"], "timm's 'test_resnet' refused them"),
    ],
)
def test_an_unknown_option_stops_loading(
    config_file: Path, overrides: list[str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_run_config(config_file, overrides)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("name=''", "name: expected a plain folder name"),
        ("model.backbone=no_such_net", "model.backbone: unknown timm model 'no_such_net'"),
        ("model.num_classes=0", "model.num_classes: expected an int ≥ 1, got 0"),
        ("model.alpha=-1", "model.alpha: expected a number ≥ 0"),
        ("train.epochs=0", "train.epochs: expected an int ≥ 1, got 0"),
        ("train.batch_size=two", "train.batch_size: expected int, got 'two'"),
        ("train.max_steps_per_epoch=0", "train.max_steps_per_epoch: expected null or an int ≥ 1"),
        ("train.step_epochs=[30, 15]", "train.step_epochs: expected an int ≥ 1 or an increasing"),
        ("data.image_size=0", "data.image_size: expected an int ≥ 1, got 0"),
        ("data.resize_size=16", "data.resize_size: expected null or an int ≥ data.image_size (32)"),
        ("data.workers=-1", "data.workers: expected null (one per CPU core) or an int ≥ 0"),
        ("data.label_noise={add: 2}", "data.label_noise.add: expected a probability in [0, 1]"),
        ("data.train.check_files=maybe", "data.train.check_files: expected bool, got 'maybe'"),
    ],
)
def test_a_bad_value_stops_loading(config_file: Path, override: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_run_config(config_file, [override])
    assert str(caught.value).startswith(message), str(caught.value)


def test_a_rule_across_fields(config_file: Path) -> None:
    assert load_run_config(config_file, ["model.graph=fc"]).model.graph == "fc"
    # model.lg_bias is for the graphs built on 1×1 convolutions only
    assert load_run_config(config_file, ["model.lg_bias=true"]).model.lg_bias is True
    with pytest.raises(ConfigError, match=r"^model\.lg_bias: expected false for graph 'fc'"):
        load_run_config(config_file, ["model.graph=fc", "model.lg_bias=true"])


def test_loss_option_values_are_checked_against_the_parameter_type(config_file: Path) -> None:
    with pytest.raises(ConfigError, match=r"^train\.loss_kwargs\.gamma_neg: expected float"):
        load_run_config(config_file, ["train.loss=asl", "train.loss_kwargs={gamma_neg: x}"])
    # YAML 1.1 reads 1e-2 as a string; the parameter is a float, as a config field would be
    cfg = load_run_config(config_file, ["train.loss=asl", "train.loss_kwargs={clip: 1e-2}"])
    assert cfg.train.loss_kwargs == {"clip": 0.01}


def test_a_config_built_in_code_meets_the_same_schema() -> None:
    validate_run_config(RunConfig())
    with pytest.raises(ConfigError, match=r"^data\.difficult: expected one of"):
        validate_run_config(RunConfig(data=DataConfig(difficult="typo")))
    with pytest.raises(ConfigError, match=r"^train\.max_steps_per_epoch: expected null or"):
        validate_run_config(RunConfig(train=TrainConfig(max_steps_per_epoch="3")))  # type: ignore[arg-type]
    cfg = RunConfig()
    cfg.train = dataclasses.replace(cfg.train, loss_kwargs={"bogus": 1})
    with pytest.raises(ConfigError, match=r"^train\.loss_kwargs\.bogus"):
        validate_run_config(cfg)


def test_the_cli_stops_before_training_with_one_line(config_file: Path, capsys, monkeypatch):
    from agcn_pyg.__main__ import main
    from agcn_pyg.engine import trainer

    def never(*args, **kwargs):
        raise AssertionError("train() was reached")

    monkeypatch.setattr(trainer, "train", never)
    for override, expected in [
        ("data.difficult=typo", "data.difficult: expected one of ['ignore', 'negative', "),
        ("data.transforms=typo", "data.transforms: expected one of ['agcn_official', "),
        ("train.loss_kwargs={bogus: 1}", "train.loss_kwargs.bogus: loss 'bce' takes no"),
    ]:
        assert main(["train", "-c", str(config_file), override]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("agcn train: error: "), err
        assert expected in err[0], err[0]


def test_python_m_agcn_pyg_exits_2_with_one_line(config_file: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "agcn_pyg", "train", "--config", str(config_file)]
    done = subprocess.run(
        [*argv, "data.difficult=typo"], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("agcn train: error: data.difficult: expected one of"), lines
    assert not (config_file.parent / "runs").exists()


# --- the registry and library callers -------------------------------------------------------


def test_registry_errors_are_config_errors_and_name_the_field() -> None:
    registry: Registry[object] = Registry("colour")
    registry.add("red", object())
    with pytest.raises(ConfigError, match=r"^unknown colour 'blue'; choose one of: red$"):
        registry.get("blue")
    with pytest.raises(
        RegistryError, match=r"^paint\.colour: expected one of \['red'\], got 'blue'"
    ):
        registry.get("blue", field="paint.colour")


def test_an_unknown_builder_option_is_named_without_calling_the_builder(monkeypatch) -> None:
    calls: list[dict] = []

    def builder(csv_file: str, *, check_files: bool = True) -> None:
        calls.append({"csv_file": csv_file, "check_files": check_files})

    monkeypatch.setitem(DATASETS._items, "probe", builder)
    with pytest.raises(ConfigError, match=r"dataset 'probe': unexpected keyword 'colour'"):
        build_dataset("probe", csv_file="x.csv", colour="red")
    assert calls == []
    with pytest.raises(ConfigError, match="unknown dataset 'nope'"):
        build_dataset("nope")


def test_a_type_error_inside_a_dataset_builder_propagates(monkeypatch) -> None:
    bug = TypeError("unsupported operand type(s) for +: 'int' and 'str' (an argument)")

    def broken(csv_file: str) -> None:
        raise bug

    monkeypatch.setitem(DATASETS._items, "broken", broken)
    with pytest.raises(TypeError) as caught:
        build_dataset("broken", csv_file="x.csv")
    assert caught.value is bug and not isinstance(caught.value, ConfigError)


def test_a_type_error_inside_an_embedding_source_propagates(monkeypatch) -> None:
    bug = TypeError("got an unexpected keyword argument 'inner' (from a library)")

    def broken(names: list[str], *, width: int = 2) -> None:
        raise bug

    monkeypatch.setitem(EMBEDDING_SOURCES._items, "broken", broken)
    with pytest.raises(TypeError) as caught:
        embed_labels(["a", "b"], "broken", width=3)
    assert caught.value is bug
    with pytest.raises(ConfigError, match=r"embedding source 'broken': unexpected keyword 'depth'"):
        embed_labels(["a", "b"], "broken", depth=3)
    # the label names fill the first parameter: they cannot be passed again as an option
    with pytest.raises(ConfigError, match=r"unexpected keyword 'names'; it takes: width$"):
        embed_labels(["a", "b"], "broken", names=["c"])


@pytest.mark.parametrize(
    "name", [".", "..", "a/b", "../up", "a\\b", "", "x" * 201, "é" * 101, "nul\0"]
)
def test_name_is_one_plain_folder_name_with_room_for_what_a_run_derives(
    config_file: Path, name: str
) -> None:
    # `.` made output_dir itself the run folder (and --overwrite renamed every run in it); a
    # 235-character name left no room for `<name>.replaced-<time>` or the lock file.
    with pytest.raises(ConfigError, match=r"^name: expected a plain folder name"):
        load_run_config(config_file, [f"name={json.dumps(name)}"])  # JSON is YAML


def test_the_longest_name_leaves_room_for_every_file_a_run_derives(config_file: Path) -> None:
    from agcn_pyg.validation import RUN_NAME_MAX_BYTES

    longest = "n" * RUN_NAME_MAX_BYTES
    assert load_run_config(config_file, [f"name={longest}"]).name == longest
    derived = [f"{longest}.replaced-20261231-235959-9999", f".{longest}.lock"]
    assert all(len(name.encode()) <= 255 for name in derived)  # NAME_MAX


def test_a_leading_tilde_is_the_home_folder_in_every_path_a_run_names(
    config_file: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    overrides = ["output_dir=~/runs", "train.init_from=~/a.pt", "model.pretrained=~/w.pth"]
    cfg = load_run_config(config_file, overrides)
    home = tmp_path / "home"
    assert cfg.run_dir == home / "runs" / "schema"
    assert (cfg.train.init_from, cfg.model.pretrained) == (str(home / "a.pt"), str(home / "w.pth"))
