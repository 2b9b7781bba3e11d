"""Cached-features mode: extraction equals the model's own forward, the cache is reused and
keyed correctly, heads train through the one trainer, and a features-mode run writes what a
normal run writes and resumes like one."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from agcn_pyg.config import LabelNoiseConfig, RunConfig, load_run_config
from agcn_pyg.data import build_transforms, from_csv
from agcn_pyg.engine import sources
from agcn_pyg.engine.checkpoint import load_model, read_checkpoint
from agcn_pyg.engine.feature_cache import (
    extract_features,
    extract_run_features,
    feature_key,
    features_cache_file,
    weights_digest,
)
from agcn_pyg.engine.runlog import LOG_COLUMNS, log_csv
from agcn_pyg.engine.sources import TRAIN_MODES, cpu_threads, head_logits
from agcn_pyg.engine.trainer import Trainer, train_mode
from agcn_pyg.errors import CheckpointError, ConfigError
from agcn_pyg.metrics import compute_metrics
from agcn_pyg.models import create_model
from agcn_pyg.models.backbone import Backbone

# The labels of the `color_dataset` fixture (tests/engine/conftest.py): 48 training and 24
# validation images of 40 px, coloured stripes and a white square.
LABELS = ["red", "green", "blue", "square"]


@pytest.fixture
def probe_config(run_config: Callable[..., Path]) -> Callable[..., RunConfig]:
    """Factory: `run_config`'s tiny run on `color_dataset` (3 epochs, batch 8) as a config."""

    def make(name: str = "probe", **train: object) -> RunConfig:
        settings = {"epochs": 3, "batch_size": 8, "lr": 0.05, "device": "cpu", **train}
        return load_run_config(run_config(name, train=settings))

    return make


def _test_view(root: Path, split: str = "val", size: int = 32):
    _, test_tf = build_transforms("paper", size)
    return from_csv(root / f"{split}.csv", label_names=root / "labels.txt", transform=test_tf)


def train_features(cfg: RunConfig, **kwargs: object) -> dict:
    return train_mode("features", cfg, **kwargs)


def _model(graph: str = "conv", seed: int = 0):
    torch.manual_seed(seed)
    return create_model(
        "test_resnet", 4, label_embeddings=torch.eye(4), graph=graph, hidden_dim=16
    ).eval()


@pytest.mark.parametrize("graph", ["none", "conv"])
def test_forward_head_of_extracted_features_equals_model(color_dataset: Path, graph: str) -> None:
    model = _model(graph)
    dataset = _test_view(color_dataset)
    features, targets = extract_features(model, dataset, batch_size=7, progress=False)
    assert features.dtype == np.float32 and features.shape == (24, model.num_features)
    assert np.array_equal(targets, dataset.targets.numpy())
    images = torch.stack([dataset[i][0] for i in range(len(dataset))])
    with torch.no_grad():
        expected = model(images)
        got = model.forward_head(torch.from_numpy(features))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    logits = head_logits(model, features)
    np.testing.assert_allclose(logits, expected.numpy(), rtol=1e-4, atol=1e-5)


def test_extraction_leaves_the_model_as_it_was(color_dataset: Path) -> None:
    model = _model().train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    extract_features(model, _test_view(color_dataset), progress=False)
    assert model.training and model.backbone.training  # mode restored
    for key, value in model.state_dict().items():  # BatchNorm statistics untouched
        assert torch.equal(value, before[key]), key


def test_cache_is_reused_and_keyed(color_dataset: Path, tmp_path: Path, monkeypatch) -> None:
    model = _model()
    dataset = _test_view(color_dataset)
    first = extract_features(model, dataset, cache_dir=tmp_path, progress=False)
    files = list(tmp_path.glob("*.npz"))
    assert files == [features_cache_file(model, dataset, tmp_path)]

    def boom(*args, **kwargs):
        raise AssertionError("the backbone ran although the features were cached")

    # A second model with the same weights reads the cache instead of running.
    twin = _model()
    monkeypatch.setattr(twin.backbone, "forward", boom)
    second = extract_features(twin, dataset, cache_dir=tmp_path, progress=False)
    assert np.array_equal(first[0], second[0]) and np.array_equal(first[1], second[1])

    # Other weights, another transform or another split: another key.
    key = feature_key(model, dataset)
    assert feature_key(_model(seed=1), dataset) != key
    assert feature_key(model, _test_view(color_dataset, size=24)) != key
    assert feature_key(model, _test_view(color_dataset, split="train")) != key
    assert feature_key(_model("none"), dataset) == key  # the head is not part of the key
    torch.manual_seed(0)
    dilated = create_model(
        "test_resnet", 4, graph="none", backbone_kwargs={"output_stride": 16}
    )  # the same weights, another architecture
    assert weights_digest(dilated.backbone) == weights_digest(model.backbone)
    assert feature_key(dilated, dataset) != key

    # A truncated cache file is extracted again and replaced.
    files[0].write_bytes(b"not an npz")
    third = extract_features(model, dataset, cache_dir=tmp_path, progress=False)
    assert np.array_equal(first[0], third[0])
    with np.load(files[0]) as data:
        assert data["features"].shape == first[0].shape


def _easy_features(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Linearly separable multi-label features: label c adds a direction to x."""
    rng = np.random.default_rng(seed)
    targets = (rng.random((n, 4)) < 0.4).astype(np.int64)
    directions = np.random.default_rng(99).normal(size=(4, d))
    features = targets @ directions + 0.3 * rng.normal(size=(n, d))
    return features.astype(np.float32), targets


def _easy_trainer(
    cfg: RunConfig, monkeypatch, d: int | None = None, n: tuple[int, int] = (160, 80)
) -> tuple[Trainer, list[np.ndarray]]:
    """A features-mode `Trainer` whose cached features are `_easy_features` (zero-padded
    to the backbone's width), and the list that collects every evaluation's logits."""

    def easy(cfg, backbone, splits, cache, device, progress):
        width = d or backbone.num_features
        train = _easy_features(n[0], width, seed=0)
        val = train if n[1] == 0 else _easy_features(n[1], width, seed=1)
        pad = ((0, 0), (0, backbone.num_features - width))
        return {split: (np.pad(x, pad), y) for split, (x, y) in (("train", train), ("val", val))}

    monkeypatch.setattr(sources, "run_features", easy)
    trainer = Trainer(cfg, mode="features", progress=False)
    seen: list[np.ndarray] = []
    evaluate = trainer.source.evaluate

    def spy(model, desc):
        logits, targets = evaluate(model, desc)
        seen.append(logits)
        return logits, targets

    monkeypatch.setattr(trainer.source, "evaluate", spy)
    return trainer, seen


@pytest.mark.parametrize("graph", ["none", "conv", "static"])
def test_heads_train_on_easy_features(
    graph: str, monkeypatch, probe_config: Callable[..., RunConfig]
) -> None:
    cfg = probe_config(
        f"easy_{graph}",
        epochs=8,
        batch_size=16,
        lr=0.05,
        scheduler="constant",
        eval_every=4,
        select="best",  # the best of the evaluated epochs (the default reports the last)
    )
    cfg = replace(cfg, model=replace(cfg.model, graph=graph))
    trainer, seen = _easy_trainer(cfg, monkeypatch)
    model = trainer.unwrapped
    backbone = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    result = trainer.fit()
    history = trainer.history
    losses = [row["loss"] for row in history]
    assert losses[-1] < 0.5 * losses[0]
    assert result["final"]["mAP"] > 90  # chance is about 40
    assert [row["epoch"] for row in history] == list(range(1, 9))
    assert np.isnan(history[0]["mAP"]) and not np.isnan(history[3]["mAP"])
    assert seen[-1].shape == (80, 4) and trainer.best_epoch + 1 in (4, 8)
    assert result["best_mAP"] == max(history[3]["mAP"], history[7]["mAP"])
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, backbone[key]), key
    # The head that is left in the model is the last epoch's: it reproduces its logits.
    x_val = trainer.source.x_val
    np.testing.assert_allclose(head_logits(model, x_val), seen[-1], rtol=1e-5, atol=1e-5)
    # Only evaluated epochs commit: log.csv holds every epoch, last.pt the last.
    assert len((cfg.run_dir / "log.csv").read_text().splitlines()) == 1 + 8
    assert read_checkpoint(cfg.run_dir / "last.pt")["epoch"] == 7


def test_head_training_is_deterministic_and_restores_threads(
    monkeypatch, probe_config: Callable[..., RunConfig]
) -> None:
    def run(name: str) -> np.ndarray:
        cfg = probe_config(name, epochs=2, batch_size=16, lr=0.05)
        trainer, seen = _easy_trainer(cfg, monkeypatch, d=8, n=(64, 0))
        trainer.fit()
        return seen[-1]

    threads = torch.get_num_threads()
    assert np.array_equal(run("first"), run("second"))
    assert torch.get_num_threads() == threads
    with cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == threads


def test_train_features_writes_a_normal_run(
    color_dataset: Path, tmp_path: Path, probe_config: Callable[..., RunConfig]
) -> None:
    cfg = probe_config()
    cache = tmp_path / "cache"
    result = train_features(cfg, cache_dir=cache, progress=False)
    run = Path(result["run_dir"])
    assert result["mode"] == "features" and 0 <= result["final"]["mAP"] <= 100
    for name in ("config.yaml", "env.json", "log.csv", "best.pt", "last.pt", "eval/metrics.json"):
        assert (run / name).is_file(), name
    assert len(list(cache.glob("*.npz"))) == 2  # train and val
    env = json.loads((run / "env.json").read_text())
    assert env["mode"] == "features" and env["seed"] == 0
    resolved = yaml.safe_load((run / "config.yaml").read_text())
    assert resolved["model"]["num_classes"] == 4
    assert len((run / "log.csv").read_text().splitlines()) == 1 + 3
    checkpoint = read_checkpoint(run / "best.pt")
    assert checkpoint["mode"] == "features" and "training_state" not in checkpoint
    assert read_checkpoint(run / "last.pt")["training_state"]["history"]  # resumable

    # best.pt loads like any checkpoint, frozen backbone included, and reproduces eval/.
    model, meta = load_model(run / "best.pt")
    assert meta["label_names"] == LABELS and meta["cooccurrence"] is not None
    stored = np.load(run / "eval" / "scores.npz")
    images = torch.stack([img for img, _ in _test_view(color_dataset)])
    with torch.no_grad():
        fresh = model(images).numpy()
    np.testing.assert_allclose(fresh, stored["logits"], rtol=1e-4, atol=1e-5)
    report = json.loads((run / "eval" / "metrics.json").read_text())
    assert report["name"] == "probe"
    assert report["metrics"]["mAP"] == pytest.approx(
        compute_metrics(stored["logits"], stored["targets"], threshold=0.0)["mAP"]
    )

    with pytest.raises(ConfigError, match="exists"):
        train_features(cfg, cache_dir=cache, progress=False)
    again = train_features(cfg, cache_dir=cache, overwrite=True, progress=False)
    assert again["final"] == result["final"]  # same seed, cached features: same run


def test_run_features_fill_the_cache_that_training_reads(
    tmp_path: Path, monkeypatch, probe_config: Callable[..., RunConfig]
) -> None:
    cfg = probe_config("warm", epochs=1)
    cache = tmp_path / "cache"
    extracted = extract_run_features(cfg, cache_dir=cache, progress=False)
    assert extracted["train"][0].shape[0] == 48 and extracted["val"][0].shape[0] == 24
    assert len(list(cache.glob("*.npz"))) == 2

    def boom(*args, **kwargs):
        raise AssertionError("the backbone ran although the features were cached")

    monkeypatch.setattr(Backbone, "forward", boom)
    for graph in ("none", "conv"):  # any head: the key depends on the backbone only
        row = replace(cfg, name=f"warm_{graph}", model=replace(cfg.model, graph=graph))
        assert train_features(row, cache_dir=cache, progress=False)["final"]["mAP"] > 0
        assert (row.run_dir / "best.pt").is_file() and (row.run_dir / "last.pt").is_file()


def test_train_mode_dispatches_by_name(
    tmp_path: Path, probe_config: Callable[..., RunConfig]
) -> None:
    assert TRAIN_MODES.names() == ["end2end", "features"]
    cfg = probe_config("e2e", epochs=1)
    result = train_mode("end2end", cfg, progress=False)
    assert result["mode"] == "end2end" and (tmp_path / "runs" / "e2e" / "last.pt").is_file()
    with pytest.raises(ConfigError, match="mode 'linear'"):
        train_mode("linear", cfg)


def test_log_csv_rows_of_either_mode() -> None:
    nan, inf = float("nan"), float("inf")
    evaluated = {"epoch": 2, "lr": 0.01, "loss": 0.6931472, "bce": 0.5, "graph_loss": 0.0}
    evaluated |= {"images_per_s": 123.456789, "seconds": 1.5, "mAP": 81.25, "best_mAP": 81.25}
    not_yet = {"epoch": 1, "lr": 0.04, "loss": 1.0, "mAP": nan, "best_mAP": -inf}
    text = log_csv([not_yet, evaluated])
    assert text.splitlines() == [
        ",".join(LOG_COLUMNS),
        "1,0.04,1,,,,,,,,,,",  # missing columns, NaN and inf are empty cells
        "2,0.01,0.693147,0.5,0,123.457,1.5,81.25,,,81.25,,",
    ]
    assert text.endswith("\n") and log_csv([]) == ",".join(LOG_COLUMNS) + "\n"


def test_graph_watch_logs_offdiagonal_mass_and_warns_once_on_identity() -> None:
    import warnings

    from agcn_pyg.engine.runlog import GraphWatch
    from agcn_pyg.graph import offdiagonal_mass

    adj_hat = torch.tensor([[0.5, -0.25], [0.0, 1.0]])
    assert offdiagonal_mass(adj_hat).tolist() == [0.25, 0.0]
    model = create_model("test_resnet", 4, label_embeddings=torch.eye(4), graph="conv")
    watch = GraphWatch()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        live = watch.offdiag(model.head)
    assert live > 0
    with torch.no_grad():  # theta = -phi: every A[i, j] <= 0, relu passes nothing
        model.head.label_graph.phi.weight.copy_(torch.eye(4))
        model.head.label_graph.theta.weight.copy_(-torch.eye(4))
    with pytest.warns(RuntimeWarning, match="exactly the identity"):
        assert watch.offdiag(model.head) == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per run
        assert watch.offdiag(model.head) == 0.0
    assert math.isnan(watch.offdiag(create_model("test_resnet", 4, graph="none").head))


def test_same_images_with_other_labels_reuse_one_extraction(
    color_dataset: Path, tmp_path: Path, monkeypatch
) -> None:
    model = _model()
    dataset = _test_view(color_dataset)
    extract_features(model, dataset, cache_dir=tmp_path, progress=False)
    relabelled = dataset.subset(range(len(dataset)))
    relabelled.targets = 1 - relabelled.targets  # new labels, the same pixels

    def boom(*args, **kwargs):
        raise AssertionError("the backbone ran although the images' features were cached")

    monkeypatch.setattr(model.backbone, "forward", boom)
    features, targets = extract_features(model, relabelled, cache_dir=tmp_path, progress=False)
    assert features.shape[0] == len(dataset) and len(list(tmp_path.glob("*.npz"))) == 1
    assert np.array_equal(targets, relabelled.targets.numpy())  # the labels asked for


def test_features_mode_honours_init_from_and_label_noise(
    tmp_path: Path, probe_config: Callable[..., RunConfig]
) -> None:
    cache = tmp_path / "cache"
    first = train_features(probe_config("first"), cache_dir=cache, progress=False)
    source = read_checkpoint(Path(first["run_dir"]) / "last.pt")["state_dict"]
    # No epoch to train on: what the run starts from is what it ends with.
    tuned_cfg = probe_config("tuned", init_from=str(Path(first["run_dir"]) / "last.pt"), lr=1e-9)
    tuned = train_features(tuned_cfg, cache_dir=cache, progress=False)
    state = read_checkpoint(Path(tuned["run_dir"]) / "last.pt")["state_dict"]
    for key in ("head.label_graph.phi.weight", "head.gnn.convs.1.lin.weight"):
        torch.testing.assert_close(state[key], source[key], rtol=0, atol=1e-6)
    fresh = train_features(probe_config("fresh", lr=1e-9), cache_dir=cache, progress=False)
    other = read_checkpoint(Path(fresh["run_dir"]) / "last.pt")["state_dict"]
    assert not torch.allclose(
        other["head.gnn.convs.1.lin.weight"], source["head.gnn.convs.1.lin.weight"]
    )

    noisy_cfg = probe_config("noisy")
    noisy_cfg = replace(
        noisy_cfg,
        data=replace(noisy_cfg.data, label_noise=LabelNoiseConfig(drop=0.5, seed=3)),
    )
    noisy = train_features(noisy_cfg, cache_dir=cache, progress=False)
    env = json.loads((Path(noisy["run_dir"]) / "env.json").read_text())
    counts = env["label_noise"]
    assert counts["dropped"] > 0 and counts["added"] == 0
    assert json.loads((Path(first["run_dir"]) / "env.json").read_text())["label_noise"] is None
    assert len(list(cache.glob("*.npz"))) == 2  # noisy labels, the same two extractions
    mismatch = probe_config("mismatch", init_from=str(Path(first["run_dir"]) / "last.pt"))
    mismatch = replace(mismatch, model=replace(mismatch.model, hidden_dim=8))
    with pytest.raises(CheckpointError, match=r"model\.hidden_dim"):
        train_features(mismatch, cache_dir=cache, progress=False)


def test_features_mode_resumes_to_the_uninterrupted_run(
    tmp_path: Path, probe_config: Callable[..., RunConfig], interrupted_run
) -> None:
    cache = tmp_path / "cache"
    whole = train_features(probe_config("whole", eval_every=1), cache_dir=cache, progress=False)
    cfg = probe_config("killed", eval_every=1)
    interrupted_run(cfg, epoch=2, mode="features", cache_dir=cache)
    assert read_checkpoint(cfg.run_dir / "last.pt")["epoch"] == 1
    resumed = train_features(cfg, resume=True, cache_dir=cache, progress=False)
    assert resumed["final"] == whole["final"] and resumed["best_mAP"] == whole["best_mAP"]
    assert _same_log(cfg.run_dir, Path(whole["run_dir"]))
    env = json.loads((cfg.run_dir / "env.json").read_text())
    assert env["mode"] == "features" and env["resumed_from"].endswith("last.pt")
    with pytest.raises(CheckpointError, match="mode 'features'"):
        train_mode("end2end", cfg, resume=True, progress=False)


def _same_log(a: Path, b: Path) -> bool:
    """log.csv of two runs, without the timing columns."""
    import csv

    def rows(path: Path) -> list[dict]:
        with open(path / "log.csv", newline="") as handle:
            return [
                {k: v for k, v in row.items() if k not in ("images_per_s", "seconds", "data_wait")}
                for row in csv.DictReader(handle)
            ]

    return rows(a) == rows(b)


def test_cli_trains_and_resumes_in_features_mode(
    run_config: Callable[..., Path], tmp_path: Path, capsys
) -> None:
    from agcn_pyg.__main__ import main

    config = run_config("cli_features", train={"epochs": 2, "eval_every": 1})
    cache = tmp_path / "cli_cache"
    args = ["train", "-c", str(config), "--mode", "features", "--cache-dir", str(cache)]
    assert main([*args, "--no-progress"]) == 0
    run = tmp_path / "runs" / "cli_features"
    assert json.loads((run / "env.json").read_text())["features_cache"] == str(cache)
    assert read_checkpoint(run / "last.pt")["mode"] == "features"
    assert len(list(cache.glob("*.npz"))) == 2
    # Two more epochs on the same run: resume continues from last.pt's epoch 2.
    assert main([*args, "train.epochs=4", "--resume", "--no-progress"]) == 0
    assert "done:" in capsys.readouterr().out
    assert [row.split(",")[0] for row in (run / "log.csv").read_text().splitlines()[1:]] == [
        "1",
        "2",
        "3",
        "4",
    ]


def test_cli_refuses_an_unknown_mode_in_one_line(run_config: Callable[..., Path], capsys) -> None:
    from agcn_pyg.__main__ import main

    assert main(["train", "-c", str(run_config("bad_mode")), "--mode", "linear"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "mode 'linear': choose one of ['end2end', 'features']" in err[0]
