"""``data.decode: gpu`` in the trainer: workers read bytes, the batches decode where the model
runs (here the CPU, the same code), the counts reach ``env.json``, and resume stays exact."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PIL import Image

from agcn_pyg.__main__ import main
from agcn_pyg.config import load_run_config
from agcn_pyg.engine.trainer import Trainer

TRAIN = {"epochs": 2, "batch_size": 8, "lr": 0.05}


@pytest.fixture(scope="module")
def jpeg_dataset(color_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`color_dataset` with every image saved as a JPEG (the device decoder's input)."""
    root = tmp_path_factory.mktemp("jpeg_colors")
    (root / "images").mkdir()
    for split in ("train", "val"):
        text = (color_dataset / f"{split}.csv").read_text()
        for name in [line.split(",")[0] for line in text.splitlines()[1:]]:
            image = Image.open(color_dataset / name)
            image.convert("RGB").save(root / name.replace(".png", ".jpg"), quality=95)
        (root / f"{split}.csv").write_text(text.replace(".png", ".jpg"))
    (root / "labels.txt").write_text((color_dataset / "labels.txt").read_text())
    return root


def _data(root: Path, **options) -> dict:
    labels = str(root / "labels.txt")
    return {
        "train": {"csv_file": str(root / "train.csv"), "label_names": labels},
        "val": {"csv_file": str(root / "val.csv"), "label_names": labels},
        **options,
    }


def _losses(run: Path) -> list[float]:
    with open(run / "log.csv", newline="") as handle:
        return [float(row["loss"]) for row in csv.DictReader(handle)]


def test_decode_gpu_trains_with_workers_reading_bytes(run_config, jpeg_dataset: Path) -> None:
    cpu = load_run_config(run_config("cpu", data=_data(jpeg_dataset, decode="cpu"), train=TRAIN))
    Trainer(cpu, progress=False).fit()
    options = _data(jpeg_dataset, decode="gpu", workers=1)
    cfg = load_run_config(run_config("gpu", data=options, train=TRAIN))
    Trainer(cfg, progress=False).fit()
    env = json.loads((cfg.run_dir / "env.json").read_text())
    # 2 epochs of 48 images (6 batches of 8) and 2 evaluations of 24, all decoded in batches
    assert env["decode"] == {"mode": "gpu", "device": 2 * 48 + 2 * 24, "cpu": 0, "refused": 0}
    assert json.loads((cpu.run_dir / "env.json").read_text())["decode"] == {"mode": "cpu"}
    # the same batches and crops; pixels within one uint8 step of the CPU path's
    assert _losses(cfg.run_dir) == pytest.approx(_losses(cpu.run_dir), rel=1e-2)


def test_decode_gpu_resumes_exactly(run_config, jpeg_dataset: Path, interrupted_run) -> None:
    data = _data(jpeg_dataset, decode="gpu")
    whole = load_run_config(run_config("whole", data=data, train={**TRAIN, "epochs": 3}))
    expected = Trainer(whole, progress=False).fit()
    cfg = load_run_config(run_config("killed", data=data, train={**TRAIN, "epochs": 3}))
    interrupted_run(cfg, epoch=2)
    resumed = Trainer(cfg, resume=True, progress=False).fit()
    assert resumed["final"] == expected["final"]
    assert _losses(cfg.run_dir) == _losses(whole.run_dir)


def test_a_bad_decode_value_is_one_line(run_config, capsys) -> None:
    assert main(["train", "-c", str(run_config("bad")), "data.decode=nvjpeg", "--no-progress"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "agcn train: error: data.decode: expected one of ['auto', 'cpu', 'gpu'], got 'nvjpeg'"
    ]
