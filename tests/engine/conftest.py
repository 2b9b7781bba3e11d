from __future__ import annotations

import builtins
import errno
import os
from pathlib import Path
from typing import Any

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


class FailingFile:
    """A file whose writes fail with errno ``code`` once ``after`` bytes are written, as on a
    device that fills up (``ENOSPC``) or a file system that refuses writes (``EROFS``)."""

    def __init__(self, handle: Any, code: int, after: int = 64) -> None:
        self.handle, self.code, self.left = handle, code, after

    def write(self, data: bytes) -> int:
        self.left -= len(data)
        if self.left < 0:
            raise OSError(self.code, os.strerror(self.code))
        return self.handle.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.handle, name)

    def __enter__(self) -> FailingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()


@pytest.fixture
def failing_writes(monkeypatch):
    """Factory: every write through `agcn_pyg.io` to a file whose name contains ``part`` fails
    with errno ``code`` after a few bytes (inside ``torch.save`` too)."""
    import agcn_pyg.io as io_module

    def make(part: str, code: int) -> None:
        def fake(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            handle = builtins.open(file, mode, *args, **kwargs)  # noqa: SIM115 (returned)
            if part in Path(file).name and "w" in mode:
                return FailingFile(handle, code)
            return handle

        monkeypatch.setattr(io_module, "open", fake, raising=False)

    return make


@pytest.fixture
def read_only(monkeypatch, request):
    """Factory: make the folder ``root`` read-only with ``chmod``. Where that does not bind
    (root ignores permission bits), every change under ``root`` (creating, opening for
    writing, renaming, removing) fails with ``EROFS`` instead, as on a read-only mount.
    Returns which of the two it used."""
    import agcn_pyg.engine.runfolder as runfolder_module
    import agcn_pyg.io as io_module

    def make(root: Path) -> str:
        root.chmod(0o555)
        request.addfinalizer(lambda: root.chmod(0o755))
        probe = root / ".probe"
        try:
            probe.touch()
        except PermissionError:
            return "chmod"
        probe.unlink()
        real_root = os.path.realpath(root)

        def inside(path: Any) -> bool:
            return os.path.realpath(os.fspath(path)).startswith(real_root)

        def refuse(path: Any) -> None:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))

        def guard(fn: Any, *, writes: Any = lambda *a, **k: True) -> Any:
            def wrapped(path: Any, *args: Any, **kwargs: Any) -> Any:
                if isinstance(path, str | os.PathLike) and inside(path) and writes(*args, **kwargs):
                    refuse(path)
                return fn(path, *args, **kwargs)

            return wrapped

        def opens_for_writing(mode: str = "r", *args: Any, **kwargs: Any) -> bool:
            return any(c in mode for c in "wax+")

        def os_open_writes(flags: int, *args: Any, **kwargs: Any) -> bool:
            return bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))

        for name in ("mkdir", "unlink", "rmdir", "rename", "replace"):
            monkeypatch.setattr(os, name, guard(getattr(os, name)))
        monkeypatch.setattr(os, "open", guard(os.open, writes=os_open_writes))
        for module in (io_module, runfolder_module):
            monkeypatch.setattr(
                module, "open", guard(builtins.open, writes=opens_for_writing), raising=False
            )
        return "emulated"

    return make
