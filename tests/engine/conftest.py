from __future__ import annotations

from pathlib import Path

import pytest
import yaml


@pytest.fixture
def run_config(tmp_path: Path, color_dataset: Path):
    """Factory: write a tiny run config (with overrides as a nested dict) and return its path."""

    def make(name: str = "tiny", **sections: dict) -> Path:
        labels = str(color_dataset / "labels.txt")
        config = {
            "name": name,
            "output_dir": str(tmp_path / "runs"),
            "model": {"backbone": "test_resnet", "graph": "conv", "hidden_dim": 16},
            "data": {
                "dataset": "csv",
                "train": {"csv_file": str(color_dataset / "train.csv"), "label_names": labels},
                "val": {"csv_file": str(color_dataset / "val.csv"), "label_names": labels},
                "image_size": 32,
                "resize_size": 36,
                "embeddings": "onehot",
                "workers": 0,
            },
            "train": {"epochs": 2, "batch_size": 12, "lr": 0.05},
        }
        for section, values in sections.items():
            config[section] = {**config.get(section, {}), **values}
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    return make


@pytest.fixture
def interrupted_run(monkeypatch):
    """Factory: train a `RunConfig` and stop it, as a kill would, when epoch ``epoch``
    (0-based) starts; the epochs before it are committed."""
    from agcn_pyg.engine.trainer import Trainer

    def run(cfg, epoch: int, **kwargs) -> None:
        original = Trainer._train_epoch

        def stop(self: Trainer, current: int) -> dict:
            if current == epoch:
                raise KeyboardInterrupt
            return original(self, current)

        monkeypatch.setattr(Trainer, "_train_epoch", stop)
        try:
            with pytest.raises(KeyboardInterrupt):
                Trainer(cfg, progress=False, **kwargs).fit()
        finally:
            monkeypatch.setattr(Trainer, "_train_epoch", original)

    return run
