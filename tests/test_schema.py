"""The config schema, in one table: every bad value stops loading with one `ConfigError` line
that names its key, before any data is read; the command line prints it as one line with exit
status 2; the same rules meet configs built in code and `create_model`'s options."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agcn_pyg import create_model
from agcn_pyg.config import (
    DataConfig,
    LabelNoiseConfig,
    RunConfig,
    TrainConfig,
    load_run_config,
    validate_run_config,
)
from agcn_pyg.data import DATASETS, EMBEDDING_SOURCES, build_dataset, embed_labels
from agcn_pyg.errors import ConfigError
from agcn_pyg.models import AGCNConfig
from agcn_pyg.registry import Registry, RegistryError
from agcn_pyg.schema import QUOTE_LIMIT, Section, rules_of

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


#: ``(override, the start of the error line)``: one row per rule
CASES = [
    # top level
    ("name=''", "name: expected a plain folder name"),
    ("output_dir=''", "output_dir: expected a non-empty string"),
    ("model=3", "model: expected a mapping, got int"),
    ("variant=typo", "variant: expected one of ['baseline', 'mlgcn_binary', "),
    # model
    ("model.backbone=no_such_net", "model.backbone: unknown timm model 'no_such_net'"),
    ("model.backbone=resnet10", "model.backbone: unknown timm model 'resnet10'; did you mean"),
    ("model.num_classes=0", "model.num_classes: expected null (the data's number of labels) or"),
    ("model.graph=typo", "model.graph: expected one of ['conv', "),
    ("model.gnn=typo", "model.gnn: expected one of ['gat', "),
    ("model.guard=typo", "model.guard: expected one of ["),
    ("model.pool=typo", "model.pool: expected one of ['max', 'avg', 'avgmax'], got 'typo'"),
    ("model.pretrained=3", "model.pretrained: expected bool or str, got 3"),
    ("model.alpha=-1", "model.alpha: expected a finite number ≥ 0, got -1.0"),
    ("model.num_layers=0", "model.num_layers: expected an int ≥ 1, got 0"),
    ("model.hidden_dim=0", "model.hidden_dim: expected an int ≥ 1, got 0"),
    ("model.negative_slope=.nan", "model.negative_slope: expected a finite number, got nan"),
    ("model.gnn_bias=3", "model.gnn_bias: expected bool, got 3"),
    ("model.heads=0", "model.heads: expected an int ≥ 1, got 0"),
    ("model.lg_dim=0", "model.lg_dim: expected null or an int ≥ 1, got 0"),
    ("model.gnn_init=xavier", "model.gnn_init: expected one of ['mlgcn', 'pyg'], got 'xavier'"),
    ("model.embedding_norm=pca", "model.embedding_norm: expected one of ['center', "),
    ("model.t=1.5", "model.t: expected a number in (0, 1], got 1.5"),
    ("model.p=0", "model.p: expected a number in (0, 1], got 0.0"),
    ("model.backbone_kwargs=3", "model.backbone_kwargs: expected dict, got 3"),
    ("model.backbone_kwargs={bogus: 1}", "model.backbone_kwargs.bogus: expected one of"),
    ("model.backbone_kwargs={drop_rate: x/y.pt}", "model.backbone_kwargs.drop_rate: expected"),
    ("model.backbone_kwargs={output_stride: 3}", "model.backbone_kwargs {'output_stride': 3}:"),
    # data
    ("data.dataset=typo", "data.dataset: expected one of ["),
    ("data.train=3", "data.train: expected dict, got 3"),
    ("data.train.bogus=1", "data.train.bogus: dataset 'csv' takes no 'bogus'"),
    ("data.val.bogus=1", "data.val.bogus: dataset 'csv' takes no 'bogus'"),
    ("data.train.transform=x", "data.train.transform: dataset 'csv' takes no"),
    ("data.train.check_files=maybe", "data.train.check_files: expected bool, got 'maybe'"),
    ("data.train.on_bad_image=drop", "data.train.on_bad_image: expected one of ['error', 'skip']"),
    ("data.transforms=typo", "data.transforms: expected one of ['agcn_official', "),
    ("data.image_size=0", "data.image_size: expected an int in [1, 4096], got 0"),
    # issue 23, case 20: a typo'd size is one line, not a petabyte allocation
    ("data.image_size=100000000", "data.image_size: expected an int in [1, 4096], got 100000000"),
    ("data.resize_size=16", "data.resize_size: expected null or an int in [data.image_size (32)"),
    ("data.resize_size=100000", "data.resize_size: expected null or an int in [data.image_size"),
    ("data.hflip=3", "data.hflip: expected bool, got 3"),
    ("data.normalization=typo", "data.normalization: expected one of ['backbone', 'imagenet']"),
    ("data.embeddings=typo", "data.embeddings: expected null, an embeddings file (.npz, .npy"),
    ("data.cooccurrence=''", "data.cooccurrence: expected null (count the training split) or"),
    ("data.difficult=typo", "data.difficult: expected one of ['ignore', 'negative', "),
    ("data.workers=-1", "data.workers: expected null (one per CPU core) or an int ≥ 0"),
    ("data.decode=nvjpeg", "data.decode: expected one of ['auto', 'cpu', 'gpu'], got 'nvjpeg'"),
    ("data.label_noise={drop: 1.5}", "data.label_noise.drop: expected a probability in [0, 1]"),
    ("data.label_noise={add: 2}", "data.label_noise.add: expected a probability in [0, 1]"),
    ("data.label_noise={seed: x}", "data.label_noise.seed: expected int, got 'x'"),
    # train
    ("train.epochs=0", "train.epochs: expected an int ≥ 1, got 0"),
    ("train.batch_size=two", "train.batch_size: expected int, got 'two'"),
    ("train.optimizer=adam", "train.optimizer: expected one of ['adamw', 'sgd'], got 'adam'"),
    ("train.lr=.inf", "train.lr: expected a finite number > 0, got inf"),
    ("train.lr=0", "train.lr: expected a finite number > 0, got 0.0"),
    ("train.lrp=-1", "train.lrp: expected a finite number ≥ 0, got -1.0"),
    ("train.momentum=-1", "train.momentum: expected a number in [0, 1], got -1"),
    ("train.weight_decay=-1", "train.weight_decay: expected a finite number ≥ 0, got -1.0"),
    ("train.scheduler=typo", "train.scheduler: expected one of ['constant', 'cosine', "),
    ("train.step_epochs=[30, 15]", "train.step_epochs: expected an int ≥ 1 or an increasing"),
    ("train.step_epochs=0", "train.step_epochs: expected an int ≥ 1 or an increasing"),
    ("train.gamma=-1", "train.gamma: expected a finite number > 0, got -1"),
    ("train.warmup_epochs=-5", "train.warmup_epochs: expected a finite number ≥ 0, got -5.0"),
    ("train.loss=typo", "train.loss: expected one of ['asl', 'bce'], got 'typo'"),
    ("train.loss_kwargs={bogus: 1}", "train.loss_kwargs.bogus: loss 'bce' takes no 'bogus'"),
    ("train.clip_grad_norm=0", "train.clip_grad_norm: expected null or a finite number > 0"),
    ("train.amp=typo", "train.amp: expected one of ['auto', 'bf16', 'fp16', 'off']"),
    ("train.channels_last=3", "train.channels_last: expected bool, got 3"),
    ("train.compile=sometimes", "train.compile: expected auto, true or false, got 'sometimes'"),
    ("train.ema_decay=1", "train.ema_decay: expected null or a number in (0, 1), got 1.0"),
    ("train.seed=1180591620717411303424", "train.seed: expected an int in [0, 2**63)"),
    ("train.seed=-1", "train.seed: expected an int in [0, 2**63), got -1"),
    ("train.eval_every=0", "train.eval_every: expected an int ≥ 1, got 0"),
    ("train.max_steps_per_epoch=0", "train.max_steps_per_epoch: expected null or an int ≥ 1"),
    ("train.device=tpu", "train.device: expected auto or a torch device of type cpu, cuda"),
    ("train.init_from=''", "train.init_from: expected null or a checkpoint file"),
]


@pytest.mark.parametrize(("override", "message"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_value_stops_loading(config_file: Path, override: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_run_config(config_file, [override])
    assert str(caught.value).startswith(message), str(caught.value)
    assert "\n" not in str(caught.value)


def test_every_field_has_a_rule() -> None:
    """Each field declares its rules beside it; a field added without one is caught here."""
    for cls in (AGCNConfig, DataConfig, TrainConfig, LabelNoiseConfig, RunConfig):
        bare = [
            name
            for name, rules in rules_of(cls).items()
            if not rules and name != "label_noise"  # a section of its own, or null
        ]
        assert not bare, f"{cls.__name__}: {bare} have no rule"
        assert issubclass(cls, Section)


def test_every_case_is_one_line_and_exit_2_on_the_command_line(
    config_file: Path, capsys, monkeypatch
) -> None:
    from agcn_pyg.__main__ import main
    from agcn_pyg.engine import trainer

    def never(*args, **kwargs):
        raise AssertionError("train() was reached")

    monkeypatch.setattr(trainer, "train", never)
    for override, message in CASES:
        assert main(["train", "-c", str(config_file), override]) == 2, override
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"agcn train: error: {err[0].removeprefix('agcn train: error: ')}"]
        assert err[0].removeprefix("agcn train: error: ").startswith(message), err[0]
    assert not (config_file.parent / "runs").exists()  # refused before anything was written


def test_a_rule_across_fields(config_file: Path) -> None:
    assert load_run_config(config_file, ["model.graph=fc"]).model.graph == "fc"
    # model.lg_bias is for the graphs built on 1×1 convolutions only
    assert load_run_config(config_file, ["model.lg_bias=true"]).model.lg_bias is True
    with pytest.raises(ConfigError, match=r"^model\.lg_bias: expected false for graph 'fc'"):
        load_run_config(config_file, ["model.graph=fc", "model.lg_bias=true"])
    with pytest.raises(ConfigError, match=r"^model\.embedding_norm: expected 'none' for a single"):
        load_run_config(config_file, ["model.num_classes=1", "model.embedding_norm=whiten"])


def test_an_error_quotes_a_bounded_value(config_file: Path) -> None:
    huge = "x" * 100_000
    with pytest.raises(ConfigError) as caught:
        load_run_config(config_file, [f"train.amp={huge}"])
    assert len(str(caught.value)) < QUOTE_LIMIT + 100


def test_loss_option_values_are_checked_against_the_parameter_type(config_file: Path) -> None:
    with pytest.raises(ConfigError, match=r"^train\.loss_kwargs\.gamma_neg: expected float"):
        load_run_config(config_file, ["train.loss=asl", "train.loss_kwargs={gamma_neg: x}"])
    # YAML 1.1 reads 1e-2 as a string; the parameter is a float, as a config field would be
    cfg = load_run_config(config_file, ["train.loss=asl", "train.loss_kwargs={clip: 1e-2}"])
    assert cfg.train.loss_kwargs == {"clip": 0.01}


def test_configs_built_in_code_meet_the_same_rules() -> None:
    validate_run_config(RunConfig())
    with pytest.raises(ConfigError, match=r"^data\.difficult: expected one of"):
        DataConfig(difficult="typo")
    with pytest.raises(ConfigError, match=r"^train\.max_steps_per_epoch: expected null or"):
        TrainConfig(max_steps_per_epoch="3")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^train\.loss_kwargs\.bogus"):
        dataclasses.replace(TrainConfig(), loss_kwargs={"bogus": 1})
    cfg = RunConfig()
    cfg.train.lr = -1.0  # changed in place after it was built: the run-level check finds it
    with pytest.raises(ConfigError, match=r"^train\.lr: expected a finite number > 0"):
        validate_run_config(cfg)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"graph": "nope"}, "model.graph: expected one of"),
        ({"alpha": -1.0}, "model.alpha: expected a finite number ≥ 0"),
        ({"graph": "fc", "lg_bias": True}, "model.lg_bias: expected false for graph 'fc'"),
        ({"colour": "red"}, "create_model: unknown option 'colour'"),
    ],
)
def test_create_model_options_meet_the_model_rules(options: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        create_model("test_resnet", 4, **options)
    assert str(caught.value).startswith(message), str(caught.value)


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
    from agcn_pyg.config import RUN_NAME_MAX_BYTES

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
