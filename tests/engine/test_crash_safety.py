"""An epoch commits whole, a run folder has one owner, non-finite weights are never saved."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from agcn_pyg.__main__ import main
from agcn_pyg.config import load_run_config
from agcn_pyg.engine.checkpoint import load_model, read_checkpoint, save_checkpoint
from agcn_pyg.engine.runfolder import RunFolder
from agcn_pyg.engine.trainer import Trainer, TrainingDiverged
from agcn_pyg.errors import CheckpointError, ConfigError
from agcn_pyg.io import save_torch

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SECTIONS = {"train": {"epochs": 3, "batch_size": 8, "lr": 0.05}}


class Killed(BaseException):
    """Stands for SIGKILL at one instant: nothing after it runs."""


def _outputs(run: Path) -> dict:
    best = read_checkpoint(run / "best.pt")
    return {
        "best_epoch": best["epoch"],
        "best_state": best["state_dict"],
        "metrics": json.loads((run / "eval" / "metrics.json").read_text())["metrics"],
        "log": list(csv.DictReader((run / "log.csv").open())),
        "last_epoch": read_checkpoint(run / "last.pt")["epoch"],
    }


def _same(a: dict, b: dict) -> None:
    assert a["best_epoch"] == b["best_epoch"] and a["last_epoch"] == b["last_epoch"]
    assert a["metrics"] == b["metrics"]
    assert [r["mAP"] for r in a["log"]] == [r["mAP"] for r in b["log"]]
    assert len(a["log"]) == len(b["log"])
    for key, tensor in a["best_state"].items():
        assert torch.equal(tensor, b["best_state"][key]), key


@pytest.mark.parametrize("instant", ["after_pending_best", "after_last_pt"])
@pytest.mark.parametrize("epoch", [1, 2])
def test_a_kill_at_a_commit_instant_resumes_to_the_uninterrupted_result(
    run_config, tmp_path: Path, monkeypatch, capsys, instant: str, epoch: int
) -> None:
    runs = tmp_path / "runs"
    Trainer(load_run_config(run_config("straight", **SECTIONS)), progress=False).fit()
    reference = _outputs(runs / "straight")
    # the reference improved on its last epoch, so the final commit has a pending best.pt
    assert reference["best_epoch"] == 2

    config = run_config("killed", **SECTIONS)
    calls = {"n": 0}
    if instant == "after_last_pt":
        original = RunFolder.publish

        def publish(self, *args, **kwargs):
            calls["n"] += 1
            if calls["n"] == epoch + 1:
                raise Killed
            return original(self, *args, **kwargs)

        monkeypatch.setattr(RunFolder, "publish", publish)
    else:
        import agcn_pyg.engine.trainer as train_module

        original = train_module.save_checkpoint

        def save(checkpoint, path):
            original(checkpoint, path)
            if Path(path).name == "best.pt.next" and checkpoint["epoch"] == epoch:
                raise Killed

        monkeypatch.setattr(train_module, "save_checkpoint", save)
    with pytest.raises(Killed):
        Trainer(load_run_config(config), progress=False).fit()
    monkeypatch.undo()

    assert main(["train", "-c", str(config), "--resume", "--no-progress"]) == 0
    out = capsys.readouterr().out
    if instant == "after_last_pt" and epoch == 2:
        assert "already finished" in out  # the last epoch was committed: only repaired
    _same(_outputs(runs / "killed"), reference)
    leftovers = [p.name for p in (runs / "killed").iterdir() if ".next" in p.name]
    assert leftovers == []


@pytest.mark.filterwarnings("ignore:Seems like `optimizer.step\\(\\)` has been overridden")
def test_a_divergent_last_step_is_never_saved(run_config, tmp_path: Path, monkeypatch) -> None:
    cfg = load_run_config(run_config("diverge", train={**SECTIONS["train"], "eval_every": 2}))
    trainer = Trainer(cfg, progress=False)
    optimizer = trainer.optimizer
    original = optimizer.step
    steps_per_epoch = trainer.steps_per_epoch

    def step(*args, **kwargs):
        out = original(*args, **kwargs)
        if trainer.global_step == 2 * steps_per_epoch - 1:  # epoch 2's last update
            with torch.no_grad():
                optimizer.param_groups[0]["params"][0].fill_(float("nan"))
        return out

    monkeypatch.setattr(optimizer, "step", step)
    with pytest.raises(TrainingDiverged) as info:
        trainer.fit()
    message = str(info.value)
    assert "not finite after epoch 2" in message and "(epoch 1)" in message
    last = read_checkpoint(tmp_path / "runs" / "diverge" / "last.pt")
    assert last["epoch"] == 0
    assert all(
        torch.isfinite(t).all() for t in last["state_dict"].values() if t.is_floating_point()
    )


def test_non_finite_checkpoints_are_refused_by_predict_and_evaluate(
    run_config, tmp_path: Path, color_dataset: Path, capsys
) -> None:
    cfg = run_config("finite", train={"epochs": 1})
    assert main(["train", "-c", str(cfg), "--no-progress"]) == 0
    good = read_checkpoint(tmp_path / "runs" / "finite" / "best.pt")
    bad = dict(good)
    bad["state_dict"] = dict(good["state_dict"])
    key = next(k for k, v in bad["state_dict"].items() if v.is_floating_point())
    bad["state_dict"][key] = torch.full_like(bad["state_dict"][key], float("nan"))
    path = tmp_path / "nan.pt"
    save_checkpoint(bad, path)  # with a digest of its own: refused for its values
    with pytest.raises(CheckpointError, match="non-finite weights"):
        load_model(path)
    image = next((color_dataset / "images").iterdir())
    for argv in (
        ["predict", str(path), str(image), "--out", str(tmp_path / "p.csv")],
        ["evaluate", str(path), "--workers", "0", "--no-progress"],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "non-finite weights" in err[0]


def test_a_checkpoint_that_names_a_file_for_the_backbone_is_refused(
    run_config, tmp_path: Path, capsys
) -> None:
    cfg = run_config("honest", train={"epochs": 1})
    assert main(["train", "-c", str(cfg), "--no-progress"]) == 0
    checkpoint = read_checkpoint(tmp_path / "runs" / "honest" / "best.pt")
    victim = tmp_path / "elsewhere.pth"
    victim.write_bytes(b"not weights")
    for kwargs in (
        {"checkpoint_path": str(victim)},
        {"pretrained_cfg_overlay": {"file": str(victim)}},
        {"img_size": str(victim)},
    ):
        crafted = {**checkpoint, "model_config": {**checkpoint["model_config"]}}
        crafted["model_config"]["backbone_kwargs"] = kwargs
        path = tmp_path / "crafted.pt"
        save_checkpoint(crafted, path)  # a valid digest does not make it acceptable
        with pytest.raises(CheckpointError, match="not allowed in a checkpoint"):
            load_model(path)
        assert main(["evaluate", str(path), "--workers", "0"]) == 2
        assert "not allowed in a checkpoint" in capsys.readouterr().err


def test_a_held_run_folder_is_refused_with_the_holders_pid(
    run_config, tmp_path: Path, capsys
) -> None:
    cfg = run_config("shared", train={"epochs": 1})
    folder = tmp_path / "runs" / "shared"
    with RunFolder(folder):
        assert main(["train", "-c", str(cfg), "--no-progress"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and f"PID {os.getpid()}" in err and str(folder) in err
    assert not (folder / "config.yaml").exists()  # the refused run wrote nothing
    assert main(["train", "-c", str(cfg), "--no-progress"]) == 0  # released: free again


def test_two_processes_racing_into_one_folder(run_config, tmp_path: Path) -> None:
    cfg = run_config("race", train={"epochs": 40})  # long enough to be running still
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}

    def start(seed: int) -> subprocess.Popen:
        argv = [sys.executable, "-m", "agcn_pyg", "train", "-c", str(cfg), f"train.seed={seed}"]
        return subprocess.Popen(
            [*argv, "--no-progress"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    first = start(0)
    lock = tmp_path / "runs" / ".race.lock"
    deadline = time.time() + 120
    while time.time() < deadline and not (lock.exists() and lock.read_text().strip()):
        time.sleep(0.05)
    second = start(1)
    second_out = second.communicate(timeout=300)[0]
    first_out = first.communicate(timeout=300)[0]
    assert first.returncode == 0, first_out
    assert second.returncode == 2, second_out
    assert f"PID {first.pid}" in second_out and "in use by another run" in second_out
    env_json = json.loads((tmp_path / "runs" / "race" / "env.json").read_text())
    assert env_json["seed"] == 0  # every file is the first run's


def test_overwrite_moves_the_old_run_aside_and_never_mixes(
    run_config, tmp_path: Path, monkeypatch, capsys
) -> None:
    cfg = run_config("again", train={"epochs": 1})
    assert main(["train", "-c", str(cfg), "--no-progress"]) == 0
    run = tmp_path / "runs" / "again"
    old_best = read_checkpoint(run / "best.pt")["state_dict"]

    def fail(self, epoch):
        raise RuntimeError("crash before the first save")

    monkeypatch.setattr(Trainer, "_train_epoch", fail)
    with pytest.raises(RuntimeError):
        main(["train", "-c", str(cfg), "--overwrite", "--no-progress"])
    monkeypatch.undo()
    # The new run's files only: the old run is complete in its own folder.
    assert sorted(p.name for p in run.iterdir() if p.name != "tb") == [
        "config.yaml",
        "env.json",
    ]
    (aside,) = list((tmp_path / "runs").glob("again.replaced-*"))
    assert {"last.pt", "best.pt", "log.csv", "eval"} <= {p.name for p in aside.iterdir()}
    moved = read_checkpoint(aside / "best.pt")["state_dict"]
    assert all(torch.equal(moved[k], old_best[k]) for k in old_best)
    assert main(["train", "-c", str(cfg), "--resume", "--no-progress"]) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_stale_temporaries_of_a_killed_write_are_removed_on_start(
    run_config, tmp_path: Path
) -> None:
    run = tmp_path / "runs" / "tidy"
    (run / "eval").mkdir(parents=True)
    orphans = [run / ".last.pt.0123456789ab.tmp", run / "eval" / ".metrics.json.abc.tmp"]
    for orphan in orphans:
        orphan.write_bytes(b"half")
    assert main(["train", "-c", str(run_config("tidy", train={"epochs": 1})), "--no-progress"]) == 0
    assert not any(orphan.exists() for orphan in orphans)


def test_overrides_may_follow_flags_and_resume_takes_no_value(
    run_config, tmp_path: Path, capsys
) -> None:
    cfg = run_config("flags", train={"epochs": 1})
    assert main(["train", "-c", str(cfg), "--no-progress", "train.lr=0.01"]) == 0
    argv = ["train", "-c", str(cfg), "--overwrite", "train.lr=0.02", "--no-progress"]
    assert main(argv) == 0
    saved = read_checkpoint(tmp_path / "runs" / "flags" / "last.pt")["run_config"]
    assert saved["train"]["lr"] == 0.02
    # `--resume name=x` is the flag and an override, not a checkpoint called "name=x" (the
    # run's lr stays what its history used)
    argv = ["train", "-c", str(cfg), "--resume", "name=flags", "train.lr=0.02", "--no-progress"]
    assert main(argv) == 0
    assert "already finished" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="exists: pass --resume"):
        Trainer(load_run_config(cfg), progress=False)
    assert "--name" not in str(_error(lambda: Trainer(load_run_config(cfg), progress=False)))


def _error(fn) -> BaseException:
    try:
        fn()
    except BaseException as err:
        return err
    raise AssertionError("no error")


def test_a_safe_but_malformed_checkpoint_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    path = tmp_path / "partial.pt"
    save_torch({"format": "agcn_pyg.checkpoint/1", "state_dict": {}}, path)
    with pytest.raises(CheckpointError, match="'model_config' missing"):
        load_model(path)
    assert main(["evaluate", str(path), "--workers", "0"]) == 2
    assert "'model_config' missing" in capsys.readouterr().err


def test_the_lock_goes_with_its_process_not_with_forked_children(tmp_path: Path) -> None:
    folder = tmp_path / "runs" / "forked"
    script = (
        "import os, sys, time\n"
        "from agcn_pyg.engine.runfolder import RunFolder\n"
        f"RunFolder({str(folder)!r}).acquire()\n"
        "if os.fork() == 0:\n"
        "    time.sleep(30)\n"  # a child (a DataLoader worker, say) outlives its parent
        "    os._exit(0)\n"
        "print('held', flush=True)\n"
        "os._exit(0)\n"  # the parent dies without releasing anything
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.stdout.strip() == "held", proc.stderr
    with RunFolder(folder):  # free at once, although the child still runs
        pass


def test_checkpoints_from_before_a_model_option_existed_still_resume(
    run_config, tmp_path: Path, interrupted_run
) -> None:
    cfg = load_run_config(run_config("older", **SECTIONS))
    interrupted_run(cfg, epoch=1)
    last = tmp_path / "runs" / "older" / "last.pt"
    checkpoint = read_checkpoint(last)
    for key in ("lg_bias", "gnn_init"):  # what a checkpoint of the previous version lacks
        del checkpoint["model_config"][key]
    del checkpoint["content_sha256"]  # as does its digest
    save_torch(checkpoint, last)
    relative = os.path.relpath(last)  # --resume-from names the same file another way
    with pytest.warns(UserWarning, match="before checkpoints carried a content hash"):
        result = Trainer(cfg, resume=relative, progress=False).fit()
    assert result["final"] and read_checkpoint(last)["epoch"] == 2
