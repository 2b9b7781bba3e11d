"""The demo data set generator: determinism, its label model against the analytic statistics,
the pixel source and the rendering of hard items. Real pixels come from Fashion-MNIST (installed
by `make pixels`); the idx-reader error tests write their own broken files."""

from __future__ import annotations

import csv
import dataclasses
import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from agcn_pyg.demo.data import (
    FASHION_MNIST_ENV,
    LABEL_NAMES,
    DemoConfig,
    Style,
    analytic_statistics,
    build_demo_dataset,
    context_posterior,
    empirical_statistics,
    load_fashion_mnist,
    sample_labels,
)
from agcn_pyg.errors import ConfigError, DataError

SMALL = DemoConfig(n_train=60, n_test=30, seed=3)
N_SAMPLE = 20_000  # scenes drawn (labels only) to compare with the analytic model
SIGMAS = 5.0


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _label_matrix(rows: list[dict[str, str]]) -> np.ndarray:
    index = {name: i for i, name in enumerate(LABEL_NAMES)}
    y = np.zeros((len(rows), len(LABEL_NAMES)), dtype=bool)
    for r, row in enumerate(rows):
        for name in row["labels"].split(";"):
            y[r, index[name]] = True
    return y


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "generator.json"
    }


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo") / "small"
    build_demo_dataset(root, SMALL, progress=False)
    return root


# --------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_files_and_another_seed_differs(
    small_demo: Path, tmp_path: Path
) -> None:
    again = build_demo_dataset(tmp_path / "again", SMALL, progress=False)
    assert again.built
    first, second = _tree_bytes(small_demo), _tree_bytes(tmp_path / "again")
    assert len([k for k in first if k.endswith(".png")]) == SMALL.n_train + SMALL.n_test
    assert first == second
    meta_a = json.loads((small_demo / "generator.json").read_text())
    meta_b = json.loads((tmp_path / "again" / "generator.json").read_text())
    assert meta_a == meta_b

    other = DemoConfig(n_train=SMALL.n_train, n_test=SMALL.n_test, seed=SMALL.seed + 1)
    build_demo_dataset(tmp_path / "other", other, progress=False)
    third = _tree_bytes(tmp_path / "other")
    assert third["train.csv"] != first["train.csv"]
    assert third["test.csv"] != first["test.csv"]
    assert third["images/train/00000.png"] != first["images/train/00000.png"]


def test_reduced_build_is_a_prefix_of_the_full_one(small_demo: Path, tmp_path: Path) -> None:
    smaller = build_demo_dataset(tmp_path / "smaller", SMALL.reduced(20, 10), progress=False)
    for split, n in (("train", 20), ("test", 10)):
        rows = _read_csv(smaller.root / f"{split}.csv")
        assert rows == _read_csv(small_demo / f"{split}.csv")[:n]
        for row in rows:
            assert (smaller.root / row["image"]).read_bytes() == (
                small_demo / row["image"]
            ).read_bytes()


def test_smaller_split_is_a_prefix_and_splits_are_independent() -> None:
    cfg = DemoConfig()
    styles_big, labels_big = sample_labels(cfg, "train", 5000)
    styles_small, labels_small = sample_labels(cfg, "train", 200)
    np.testing.assert_array_equal(styles_big[:200], styles_small)
    np.testing.assert_array_equal(labels_big[:200], labels_small)
    # The test split does not depend on the train size.
    _, test_a = sample_labels(cfg, "test")
    _, test_b = sample_labels(cfg.reduced(n_train=7, n_test=cfg.n_test), "test")
    np.testing.assert_array_equal(test_a, test_b)
    assert not np.array_equal(labels_big[:1000], sample_labels(cfg, "test", 1000)[1])


def test_build_is_idempotent_and_rebuilds_on_change(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    cfg = DemoConfig(n_train=25, n_test=10, seed=1)
    assert build_demo_dataset(root, cfg, progress=False).built
    stamp = (root / "images" / "train" / "00000.png").stat().st_mtime_ns
    info = build_demo_dataset(root, cfg, progress=False)
    assert not info.built
    assert (root / "images" / "train" / "00000.png").stat().st_mtime_ns == stamp

    # Fewer scenes: rebuilt, and no stale image of the larger build is left behind.
    fewer = DemoConfig(n_train=12, n_test=5, seed=1)
    assert build_demo_dataset(root, fewer, progress=False).built
    assert len(list((root / "images" / "train").glob("*.png"))) == 12
    assert len(list((root / "images" / "test").glob("*.png"))) == 5
    assert len(_read_csv(root / "train.csv")) == 12

    # Same sizes, another parameter: rebuilt too, and the record follows.
    fainter = dataclasses.replace(fewer, hard_contrast=0.3)
    assert build_demo_dataset(root, fainter, progress=False).built
    assert json.loads((root / "generator.json").read_text())["params"] == fainter.to_dict()
    fewer = fainter

    # A build without its completion marker (interrupted) is redone.
    (root / "generator.json").unlink()
    assert build_demo_dataset(root, fewer, progress=False).built
    # So is one that lost an image.
    (root / "images" / "test" / "00003.png").unlink()
    assert build_demo_dataset(root, fewer, progress=False).built
    assert (root / "images" / "test" / "00003.png").is_file()


# --------------------------------------------------------------------------- label model


def _assert_matches_model(labels: np.ndarray, cfg: DemoConfig) -> None:
    """Empirical marginals, joint and P(j|i) within SIGMAS binomial standard errors."""
    n = len(labels)
    marg, joint, cond = analytic_statistics(cfg)
    e_marg, e_joint, e_cond = empirical_statistics(labels)
    tol_marg = SIGMAS * np.sqrt(marg * (1 - marg) / n) + 1e-12
    np.testing.assert_array_less(np.abs(e_marg - marg), tol_marg)
    tol_joint = SIGMAS * np.sqrt(joint * (1 - joint) / n) + 1e-12
    np.testing.assert_array_less(np.abs(e_joint - joint), tol_joint)
    # P(j|i) is a proportion over the ≈ n·P(i) scenes holding i.
    tol_cond = SIGMAS * np.sqrt(cond * (1 - cond) / (n * marg[:, None])) + 1e-12
    np.testing.assert_array_less(np.abs(e_cond - cond), tol_cond)


@pytest.mark.parametrize("split", ["train", "test"])
def test_empirical_cooccurrence_matches_the_documented_model(split: str) -> None:
    cfg = DemoConfig()
    styles, labels = sample_labels(cfg, split, N_SAMPLE)
    assert labels.shape == (N_SAMPLE, len(LABEL_NAMES))
    assert labels.any(axis=1).all()
    _assert_matches_model(labels, cfg)
    # Style frequencies follow π conditioned on a non-empty scene: π_s (1 - Π_i(1 - q_si)) / Z.
    nonempty = 1 - np.prod(1 - cfg.q, axis=1)
    post = cfg.prior * nonempty / (cfg.prior * nonempty).sum()
    freq = np.bincount(styles, minlength=len(cfg.styles)) / N_SAMPLE
    np.testing.assert_array_less(
        np.abs(freq - post), SIGMAS * np.sqrt(post * (1 - post) / N_SAMPLE)
    )


def test_analytic_statistics_account_for_the_nonempty_rule() -> None:
    # A sparse model where a third of the raw draws are empty, so the correction is large.
    q_a = (0.10, 0.05, 0.02, 0.20, 0.05, 0.10, 0.02, 0.05, 0.05, 0.01)
    q_b = (0.02, 0.15, 0.10, 0.01, 0.20, 0.02, 0.10, 0.02, 0.02, 0.05)
    cfg = DemoConfig(styles=(Style("a", 1.0, q_a), Style("b", 3.0, q_b)), seed=11)
    marg, joint, cond = analytic_statistics(cfg)
    z = 1 - cfg.prior @ np.prod(1 - cfg.q, axis=1)
    assert 0.4 < z < 0.75
    np.testing.assert_allclose(np.diag(cond), 1.0)
    np.testing.assert_allclose(np.diag(joint), marg)
    np.testing.assert_allclose(joint, joint.T)

    _, labels = sample_labels(cfg, "train", N_SAMPLE)
    assert labels.any(axis=1).all()
    _assert_matches_model(labels, cfg)
    # Without the 1/Z factor the marginals would be far outside the tolerance.
    uncorrected = cfg.prior @ cfg.q
    e_marg = labels.mean(axis=0)
    assert np.max(np.abs(e_marg - uncorrected) / np.sqrt(marg * (1 - marg) / N_SAMPLE)) > 20


def _enumerated_distribution(cfg: DemoConfig) -> tuple[np.ndarray, np.ndarray]:
    """All 2^C label sets and their probabilities, by brute force, conditioned on Y ≠ ∅."""
    c = len(LABEL_NAMES)
    states = ((np.arange(2**c)[:, None] >> np.arange(c)) & 1).astype(bool)
    lik = np.prod(np.where(states[:, None, :], cfg.q[None], 1 - cfg.q[None]), axis=2)
    p = lik @ cfg.prior
    p[~states.any(axis=1)] = 0.0
    return states, p / p.sum()


def test_analytic_statistics_and_context_posterior_match_enumeration() -> None:
    q = np.array(DemoConfig().q)
    q[0, 3] = 0.0  # exact zeros and ones must not break the leave-one-out products
    q[1, 1] = 1.0
    defaults = DemoConfig().styles
    styles = tuple(Style(s.name, s.prior, row.tolist()) for s, row in zip(defaults, q, strict=True))
    cfg = DemoConfig(styles=styles)
    states, p = _enumerated_distribution(cfg)
    marg, joint, cond = analytic_statistics(cfg)
    y = states.astype(np.float64)
    np.testing.assert_allclose(marg, p @ y, atol=1e-12)
    np.testing.assert_allclose(joint, y.T @ (p[:, None] * y), atol=1e-12)
    np.testing.assert_allclose(cond, joint / marg[:, None], atol=1e-12)

    post = context_posterior(cfg, states)
    index = {tuple(row): k for k, row in enumerate(states)}
    for k in range(1, len(states), 37):
        for i in range(len(LABEL_NAMES)):
            on, off = states[k].copy(), states[k].copy()
            on[i], off[i] = True, False
            p_on, p_off = p[index[tuple(on)]], p[index[tuple(off)]]
            if p_on + p_off > 0:
                assert post[k, i] == pytest.approx(p_on / (p_on + p_off), abs=1e-12)


def test_written_files_match_the_sampler_and_the_model(small_demo: Path) -> None:
    assert (small_demo / "labels.txt").read_text().splitlines() == list(LABEL_NAMES)
    meta = json.loads((small_demo / "generator.json").read_text())
    assert meta["seed"] == SMALL.seed
    assert meta["params"] == SMALL.to_dict()
    marg, joint, cond = analytic_statistics(SMALL)
    np.testing.assert_allclose(meta["analytic"]["marginals"], marg)
    np.testing.assert_allclose(meta["analytic"]["joint"], joint)
    np.testing.assert_allclose(meta["analytic"]["conditional"], cond)
    objects = _read_csv(small_demo / "objects.csv")
    for split, n in (("train", SMALL.n_train), ("test", SMALL.n_test)):
        text = (small_demo / f"{split}.csv").read_text()
        assert text.splitlines()[0] == "image,labels"
        rows = _read_csv(small_demo / f"{split}.csv")
        assert len(rows) == n
        assert all(row["labels"] for row in rows)
        styles, expected = sample_labels(SMALL, split)
        np.testing.assert_array_equal(_label_matrix(rows), expected)
        assert all((small_demo / row["image"]).is_file() for row in rows)
        # objects.csv: one row per present label, with the scene's style.
        per_image: dict[str, set[str]] = {}
        style_of: dict[str, str] = {}
        for obj in objects:
            if obj["split"] == split:
                per_image.setdefault(obj["image"], set()).add(obj["label"])
                style_of[obj["image"]] = obj["style"]
        for r, row in enumerate(rows):
            assert per_image[row["image"]] == set(row["labels"].split(";"))
            assert style_of[row["image"]] == SMALL.style_names[styles[r]]
        counts = meta["counts"][split]
        assert counts["scenes"] == n
        assert counts["per_label"] == dict(
            zip(LABEL_NAMES, expected.sum(axis=0).tolist(), strict=True)
        )


# --------------------------------------------------------------------------- pixels


def test_train_and_test_scenes_use_different_fashion_mnist_splits(small_demo: Path) -> None:
    fm = {split: load_fashion_mnist(split) for split in ("train", "t10k")}
    objects = _read_csv(small_demo / "objects.csv")
    used: dict[str, list[int]] = {"train": [], "t10k": []}
    for obj in objects:
        expected = {"train": "train", "test": "t10k"}[obj["split"]]
        assert obj["source_split"] == expected
        index = int(obj["source_index"])
        _, fm_labels = fm[expected]
        assert 0 <= index < len(fm_labels)
        # The recorded source really is an item of the labelled class.
        assert LABEL_NAMES[fm_labels[index]] == obj["label"]
        used[expected].append(index)
    assert used["train"] and used["t10k"]
    # Without need to recycle, no source image is drawn twice within a split.
    for indices in used.values():
        assert len(set(indices)) == len(indices)

    # The pixels of a normal item (not hard, nothing but black around) are the source's, tinted.
    meta = json.loads((small_demo / "generator.json").read_text())
    assert meta["pixels"]["train_scenes_from"] == "train"
    assert meta["pixels"]["test_scenes_from"] == "t10k"
    obj = next(o for o in objects if o["label"] == "trouser" and o["split"] == "test")
    image = np.asarray(Image.open(small_demo / obj["image"]), dtype=np.float64)
    x, y, w = int(obj["x"]), int(obj["y"]), int(obj["width"])
    crop = image[y : y + w, x : x + w].max(axis=2)
    source = fm["t10k"][0][int(obj["source_index"])].astype(np.float64)
    assert np.corrcoef(crop.ravel(), source.ravel())[0, 1] > 0.9


def test_images_are_rgb_pngs_of_the_configured_size(small_demo: Path, tmp_path: Path) -> None:
    for split in ("train", "test"):
        for row in _read_csv(small_demo / f"{split}.csv")[:20]:
            with Image.open(small_demo / row["image"]) as im:
                assert im.format == "PNG"
                assert im.mode == "RGB"
                assert im.size == (SMALL.image_size, SMALL.image_size)
    cfg = DemoConfig(n_train=8, n_test=4, image_size=64, object_size=18, jitter=2)
    build_demo_dataset(tmp_path / "d64", cfg, progress=False)
    for path in (tmp_path / "d64" / "images").rglob("*.png"):
        with Image.open(path) as im:
            assert (im.format, im.mode, im.size) == ("PNG", "RGB", (64, 64))


def test_hard_items_are_rendered_smaller_and_fainter(tmp_path: Path) -> None:
    # No background, so every bright pixel in a box belongs to an item.
    cfg = DemoConfig(n_train=150, n_test=5, background=0, noise=0, seed=5)
    root = tmp_path / "clean"
    build_demo_dataset(root, cfg, progress=False)
    area: dict[bool, list[float]] = {True: [], False: []}
    peak: dict[bool, list[float]] = {True: [], False: []}
    images: dict[str, np.ndarray] = {}
    for obj in _read_csv(root / "objects.csv"):
        if obj["image"] not in images:
            images[obj["image"]] = np.asarray(Image.open(root / obj["image"])).max(axis=2)
        x, y, w = int(obj["x"]), int(obj["y"]), int(obj["width"])
        crop = images[obj["image"]][y : y + w, x : x + w].astype(np.float64)
        hard = obj["label"] in cfg.hard_items
        assert w == (cfg.hard_size if hard else cfg.object_size)
        area[hard].append(float((crop > 20).sum()))
        peak[hard].append(float(np.percentile(crop, 99)))
    assert len(area[True]) > 30 and len(area[False]) > 30
    # Expected ratios: area hard_scale² = 0.25, brightness hard_contrast = 0.4.
    assert np.median(area[True]) < 0.4 * np.median(area[False])
    assert np.median(peak[True]) < 0.6 * np.median(peak[False])
    assert np.median(peak[True]) > 40  # faint, not invisible


# --------------------------------------------------------------------------- errors


def _write_idx(path: Path, magic: int, dims: tuple[int, ...], data: bytes) -> None:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    path.write_bytes(gzip.compress(header + data))


def _fake_fashion_mnist(folder: Path, per_class: int = 3) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10, dtype=np.uint8), per_class)
    images = rng.integers(0, 256, size=(len(labels), 28, 28), dtype=np.uint8)
    for prefix in ("train", "t10k"):
        _write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", 2051, images.shape, images.tobytes())
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", 2049, labels.shape, labels.tobytes())


def _one_line_error(err: pytest.ExceptionInfo[DataError], filename: str) -> None:
    message = str(err.value)
    assert "\n" not in message
    assert filename in message
    assert "make pixels" in message
    assert FASHION_MNIST_ENV in message


def test_missing_pixel_source_is_a_clear_data_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FASHION_MNIST_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(DataError) as err:
        load_fashion_mnist("train")
    _one_line_error(err, "train-images-idx3-ubyte.gz")
    # The build fails before writing anything.
    with pytest.raises(DataError):
        build_demo_dataset(tmp_path / "out", SMALL, progress=False)
    assert not (tmp_path / "out").exists()


def test_corrupt_pixel_files_are_clear_data_errors(tmp_path: Path) -> None:
    good = tmp_path / "good"
    _fake_fashion_mnist(good)
    images, labels = load_fashion_mnist("t10k", good)
    assert images.shape == (30, 28, 28) and images.dtype == np.uint8
    assert labels.tolist() == np.repeat(np.arange(10), 3).tolist()
    assert not images.flags.writeable

    cases = {
        "not-gzip": lambda p: p.write_bytes(b"definitely not gzip"),
        "bad-magic": lambda p: _write_idx(p, 2049, (2, 28, 28), bytes(2 * 784)),
        "truncated": lambda p: _write_idx(p, 2051, (5, 28, 28), bytes(3 * 784)),
        "wrong-shape": lambda p: _write_idx(p, 2051, (2, 20, 20), bytes(2 * 400)),
    }
    for name, corrupt in cases.items():
        folder = tmp_path / name
        _fake_fashion_mnist(folder)
        corrupt(folder / "train-images-idx3-ubyte.gz")
        with pytest.raises(DataError) as err:
            load_fashion_mnist("train", folder)
        _one_line_error(err, "train-images-idx3-ubyte.gz")

    mismatched = tmp_path / "mismatched"
    _fake_fashion_mnist(mismatched)
    _write_idx(mismatched / "t10k-labels-idx1-ubyte.gz", 2049, (4,), bytes([0, 1, 2, 3]))
    with pytest.raises(DataError, match="labels"):
        load_fashion_mnist("t10k", mismatched)


def test_tiny_pixel_source_builds_by_recycling_items(tmp_path: Path) -> None:
    pixels = tmp_path / "pixels"
    _fake_fashion_mnist(pixels, per_class=2)
    cfg = DemoConfig(n_train=20, n_test=10)
    info = build_demo_dataset(tmp_path / "demo", cfg, folder=pixels, progress=False)
    assert info.built and info.label_names == LABEL_NAMES
    rows = _read_csv(info.train_csv)
    assert len(rows) == 20
    indices = {int(o["source_index"]) for o in _read_csv(info.objects_csv)}
    assert indices <= set(range(20))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("grid", 3),
        ("hard_items", ("sandal", "hat")),
        ("hard_scale", 0.0),
        ("n_train", 0),
        ("object_size", 40),
        ("styles", (Style("x", 1.0, (0.5,) * 9),)),
        ("styles", (Style("x", 1.0, (0.0,) * 10),)),
    ],
)
def test_invalid_config_is_a_config_error(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field if field != "styles" else "x|styles"):
        DemoConfig(**{field: value})
