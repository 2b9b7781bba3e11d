"""``train.compile``: its setting, the compiled step, and the fall-back to eager.

A compile is checked on its logic, not its speed: a ``torch.compile`` that fails (when it is
called, or lazily inside the first step's forward or backward) must leave one line and a run
whose numbers equal an eager run's; a real ``torch.compile`` (the ``eager`` backend on the
CPU, where inductor would take minutes; inductor on CUDA) must train the same model.
"""

from __future__ import annotations

import csv
import functools
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from agcn_pyg.config import RunConfig, TrainConfig, load_run_config
from agcn_pyg.engine.compiled import COMPILE_WARMUP_STEPS, CompiledModel, resolve_compile
from agcn_pyg.engine.trainer import Trainer

EPOCHS = {"epochs": 2, "batch_size": 8, "lr": 0.05}


def _log(run: Path) -> list[dict[str, str]]:
    with open(run / "log.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    timing = ("images_per_s", "seconds", "data_wait")
    return [{k: v for k, v in row.items() if k not in timing} for row in rows]


def _fit(cfg: RunConfig) -> dict:
    return Trainer(cfg, progress=False).fit()


def test_compile_is_auto_by_default_and_auto_means_cuda_only(run_config) -> None:
    assert TrainConfig().compile == "auto"
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert not resolve_compile("auto", cpu) and resolve_compile("auto", cuda)
    assert resolve_compile(True, cpu) and not resolve_compile(False, cuda)
    trainer = Trainer(load_run_config(run_config("auto")), progress=False)
    try:
        assert trainer.cfg.train.compile == "auto"
        assert trainer.compiled.compiled == (trainer.device.type == "cuda")
    finally:
        trainer.close()


@pytest.mark.parametrize(
    ("value", "ok"), [("true", True), ("false", True), ("auto", True), ("maybe", False)]
)
def test_train_compile_accepts_yaml_booleans_and_auto(run_config, value: str, ok: bool) -> None:
    from agcn_pyg.errors import ConfigError

    if ok:
        cfg = load_run_config(run_config("ok"), [f"train.compile={value}"])
        assert cfg.train.compile == {"true": True, "false": False}.get(value, value)
    else:
        with pytest.raises(ConfigError, match=r"train.compile: expected auto, true or false"):
            load_run_config(run_config("bad"), [f"train.compile={value}"])


def test_a_compile_refused_outright_trains_eager_with_one_line(
    run_config, monkeypatch, capsys
) -> None:
    eager = _fit(load_run_config(run_config("eager", train=EPOCHS)))

    def refuse(*args, **kwargs):
        raise RuntimeError("no compiler here\nsecond line")

    monkeypatch.setattr(torch, "compile", refuse)
    capsys.readouterr()
    cfg = load_run_config(run_config("refused", train={**EPOCHS, "compile": True}))
    result = _fit(cfg)
    notices = [line for line in capsys.readouterr().out.splitlines() if "torch.compile" in line]
    assert notices == [
        "train.compile: torch.compile failed (RuntimeError: no compiler here); training eager"
    ]
    assert result["final"] == eager["final"]
    assert _log(cfg.run_dir) == _log(Path(eager["run_dir"]))
    env = json.loads((cfg.run_dir / "env.json").read_text())
    assert env["compile"] == {
        "setting": True,
        "compiled": False,
        "fallback": "RuntimeError: no compiler here",
    }


class _FailsInBackward(torch.autograd.Function):
    """Stands for a backward that inductor compiles lazily and fails to."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("backward compile failed")


class _LazyFailure(nn.Module):
    """What ``torch.compile`` returns here: the real module's forward runs (BatchNorm's
    statistics move, random numbers are drawn), then its backward fails."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.inner = module

    def forward(self, *args, **kwargs):
        logits, graph_loss = self.inner(*args, **kwargs)
        torch.rand(3)  # a draw the eager rerun must not see
        return _FailsInBackward.apply(logits), graph_loss


def test_a_compile_failing_in_the_first_backward_reruns_the_step_eager_exactly(
    run_config, monkeypatch, capsys
) -> None:
    eager = _fit(load_run_config(run_config("eager", train=EPOCHS)))
    monkeypatch.setattr(torch, "compile", lambda module, **kw: _LazyFailure(module))
    capsys.readouterr()
    cfg = load_run_config(run_config("lazy", train={**EPOCHS, "compile": True}))
    result = _fit(cfg)
    out = capsys.readouterr().out
    assert out.count("training eager") == 1
    assert "(RuntimeError: backward compile failed)" in out
    # the failed step's BatchNorm update and random draws were undone before the rerun
    assert result["final"] == eager["final"]
    assert _log(cfg.run_dir) == _log(Path(eager["run_dir"]))


def test_real_compile_trains_the_whole_model_and_leaves_the_warmup_out(
    run_config, monkeypatch, capsys, device: str
) -> None:
    """The CPU compiles with dynamo's ``eager`` backend (the graph capture, not inductor's
    code generation); CUDA with the default inductor. Either way the model is captured whole
    (backbone and head), no fallback happens, and it trains as eager does."""
    if device == "cpu":
        monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    seen: list[nn.Module] = []
    real: Callable = torch.compile
    monkeypatch.setattr(torch, "compile", lambda module, **kw: seen.append(module) or real(module))
    train = {**EPOCHS, "device": device, "amp": "off", "compile": False}
    eager = _fit(load_run_config(run_config("eager", train=train)))
    assert not seen
    capsys.readouterr()
    cfg = load_run_config(run_config("compiled", train={**train, "compile": True}))
    trainer = Trainer(cfg, progress=False)
    assert seen == [trainer.unwrapped]  # the whole model: backbone and head
    result = trainer.fit()
    out = capsys.readouterr().out
    assert "training eager" not in out
    assert out.count("train.compile: the first steps (compiling) took") == 1
    env = json.loads((cfg.run_dir / "env.json").read_text())
    assert env["compile"] == {"setting": True, "compiled": True, "fallback": None}
    if device == "cpu":  # the same kernels in the same order
        assert result["final"] == eager["final"]
        assert _log(cfg.run_dir) == _log(Path(eager["run_dir"]))
    else:  # inductor's kernels round differently
        first = [float(_log(run)[0]["loss"]) for run in (cfg.run_dir, Path(eager["run_dir"]))]
        assert first[0] == pytest.approx(first[1], rel=1e-3)


def test_compiled_model_counts_down_its_warmup_and_restores_state_on_failure() -> None:
    model = nn.BatchNorm1d(2)
    calls: list[str] = []

    def flaky(module):
        calls.append("compiled" if module is not model else "eager")
        out = module(torch.randn(4, 2))
        if len(calls) == 1:
            raise RuntimeError("lazy failure")
        return out

    compiled = CompiledModel(model, enabled=True, say=calls.append)
    assert compiled.compiled and compiled.warming
    before = model.running_mean.clone()
    compiled.step(flaky, model)
    notice = "train.compile: torch.compile failed (RuntimeError: lazy failure); training eager"
    assert calls == ["compiled", notice, "eager"]
    assert not compiled.compiled and not compiled.warming
    assert not torch.equal(model.running_mean, before)  # only the eager rerun's update
    ok = CompiledModel(nn.Linear(2, 2), enabled=True, say=calls.append)
    for _ in range(COMPILE_WARMUP_STEPS):
        assert ok.warming
        ok.step(lambda module: None, ok.eager)
    assert not ok.warming and ok.compiled and ok.fallback is None
