"""An epoch commits whole, a run folder has one owner, non-finite weights are never saved."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

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
    with (
        pytest.warns(UserWarning, match="content hash"),
        pytest.raises(CheckpointError, match="'model_config' missing"),
    ):
        load_model(path)
    with pytest.warns(UserWarning, match="content hash"):
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


# --------------------------------------------------------------------------- issue 23's cases


def _files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by relative path, with its bytes."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _one_line(capsys, argv: list[str], *expected: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert all(e in err[0] for e in expected), err[0]
    return err[0]


def _best_is_the_recorded_best(run: Path) -> None:
    """``best.pt`` and ``eval/`` are the epoch ``last.pt`` records as the best."""
    last, best = read_checkpoint(run / "last.pt"), read_checkpoint(run / "best.pt")
    assert best["epoch"] == last["training_state"]["best_epoch"]
    metrics = json.loads((run / "eval" / "metrics.json").read_text())["metrics"]
    assert metrics["mAP"] == pytest.approx(best["metrics"]["mAP"])
    assert best["metrics"]["mAP"] == pytest.approx(last["training_state"]["best_map"])


def test_resume_from_into_a_finished_run_needs_overwrite_and_keeps_it_whole(
    run_config, tmp_path: Path, interrupted_run, capsys
) -> None:
    # Case 1: `--resume-from OTHER/last.pt` replaced a finished run's last.pt without a word,
    # and left its best.pt and eval/ beside a history whose best was another model.
    runs = tmp_path / "runs"
    config = run_config("source", **SECTIONS)
    interrupted_run(load_run_config(config), epoch=2)  # two epochs committed
    argv = ["train", "-c", str(config), "--no-progress"]
    assert main([*argv, "name=occupied", "train.epochs=1"]) == 0
    before = _files(runs / "occupied")
    resume_from = [*argv, "name=occupied", "--resume-from", str(runs / "source" / "last.pt")]
    _one_line(capsys, resume_from, "holds another run's last.pt", "--overwrite")
    assert _files(runs / "occupied") == before

    assert main([*resume_from, "--overwrite"]) == 0
    (aside,) = runs.glob("occupied.replaced-*")
    assert _files(aside) == before  # the finished run, whole and unchanged
    # the copy went on as the source itself does, and ends with the files of that history
    assert main([*argv, "--resume"]) == 0
    _same(_outputs(runs / "occupied"), _outputs(runs / "source"))
    _best_is_the_recorded_best(runs / "occupied")


def test_resume_from_a_lone_copy_of_last_pt_ends_with_best_pt_and_eval(
    run_config, tmp_path: Path, interrupted_run, capsys
) -> None:
    # Case 8: a copy of last.pt resumed into a new folder finished "best mAP X" with neither
    # best.pt nor eval/.
    runs = tmp_path / "runs"
    config = run_config("lone", **SECTIONS)
    interrupted_run(load_run_config(config), epoch=2)
    copy = tmp_path / "copy.pt"
    shutil.copy(runs / "lone" / "last.pt", copy)
    argv = ["train", "-c", str(config), "--no-progress"]
    assert main([*argv, "name=copied", "--resume-from", str(copy)]) == 0
    out = capsys.readouterr().out
    assert "cannot be copied (no best.pt beside it)" in out and "best of epochs 3 on" in out
    run = runs / "copied"
    expected = ["best.pt", "config.yaml", "env.json", "eval", "last.pt", "log.csv"]
    assert expected == sorted(p.name for p in run.iterdir() if p.name != "tb")
    _best_is_the_recorded_best(run)
    assert read_checkpoint(run / "best.pt")["epoch"] == 2  # the only epoch trained here
    best_map = read_checkpoint(run / "best.pt")["metrics"]["mAP"]
    assert f"best mAP {best_map:.2f}" in out
    changes = json.loads((run / "env.json").read_text())["changes"]
    assert [(c["epoch"], c["key"]) for c in changes] == [(3, "best")]

    # a finished run without its best epoch beside it could never end with best.pt: refused
    finished = tmp_path / "finished.pt"
    shutil.copy(run / "last.pt", finished)
    _one_line(capsys, [*argv, "name=third", "--resume-from", str(finished)], "a finished run")
    assert not (runs / "third").exists() or not any((runs / "third").iterdir())


def test_a_finished_run_without_last_pt_is_not_replaced_without_overwrite(
    run_config, tmp_path: Path, capsys
) -> None:
    # Case 2: with its last.pt deleted (to save space), a finished run was silently replaced.
    run = tmp_path / "runs" / "slim"
    argv = ["train", "-c", str(run_config("slim", train={"epochs": 1})), "--no-progress"]
    assert main(argv) == 0
    (run / "last.pt").unlink()
    before = _files(run)
    _one_line(capsys, argv, "holds a previous run's best.pt, eval, log.csv", "--overwrite")
    assert _files(run) == before
    assert main([*argv, "--overwrite"]) == 0
    (aside,) = (tmp_path / "runs").glob("slim.replaced-*")
    assert _files(aside) == before


def test_a_run_name_is_one_folder_inside_output_dir(run_config, tmp_path: Path, capsys) -> None:
    # Case 3: name=. made output_dir the run folder; --overwrite then moved every run in it
    # aside, and the start-up clean-up deleted the other runs' temporaries. Case 15: a
    # 250-character name failed on the lock's file name with a traceback.
    runs = tmp_path / "runs"
    other = runs / "other"
    other.mkdir(parents=True)
    (other / ".last.pt.0123456789ab.tmp").write_bytes(b"another run's write in progress")
    before = _files(runs)
    config = run_config("plain", train={"epochs": 1})
    for name in (".", "..", "a/b", "n" * 250):
        argv = ["train", "-c", str(config), f"name={name}", "--overwrite", "--no-progress"]
        _one_line(capsys, argv, "name: expected a plain folder name")
    assert _files(runs) == before and sorted(p.name for p in runs.iterdir()) == ["other"]

    from agcn_pyg.config import RUN_NAME_MAX_BYTES

    longest = ["train", "-c", str(config), f"name={'n' * RUN_NAME_MAX_BYTES}", "--no-progress"]
    assert main(longest) == 0
    assert main([*longest, "--overwrite"]) == 0  # room for <name>.replaced-<time>
    assert len(list(runs.glob("n*.replaced-*"))) == 1
    assert _files(other) == {".last.pt.0123456789ab.tmp": b"another run's write in progress"}


def test_one_owner_per_folder_through_links_and_without_its_lock_file(
    run_config, tmp_path: Path, capsys
) -> None:
    # Case 4: the lock was keyed on the path: a link to the run folder got a lock of its own,
    # and deleting the lock file let a second run in.
    runs = tmp_path / "runs"
    real = runs / "real"
    with RunFolder(real):
        (runs / "alias").symlink_to(real, target_is_directory=True)
        (tmp_path / "linked_runs").symlink_to(runs, target_is_directory=True)
        for path in (runs / "alias", tmp_path / "linked_runs" / "real"):
            with pytest.raises(ConfigError, match=f"PID {os.getpid()}"):
                RunFolder(path).acquire()
        config = run_config("alias", train={"epochs": 1})
        _one_line(capsys, ["train", "-c", str(config)], "in use by another run")
        (runs / ".real.lock").unlink()  # deleted while its run holds it
        with pytest.raises(ConfigError, match=r"in use by another run.*lock file was removed"):
            RunFolder(real).acquire()
    with RunFolder(runs / "alias"):  # released: free again, by any of its names
        pass
    assert not (real / "config.yaml").exists()


def _resume_argv(config: Path, *overrides: str) -> list[str]:
    return ["train", "-c", str(config), "--resume", *overrides, "--no-progress"]


def test_resume_with_changed_settings_is_refused_and_safe_changes_are_recorded(
    run_config, tmp_path: Path, color_dataset: Path, interrupted_run, capsys
) -> None:
    # Case 7: --resume with another training CSV or lr was accepted, and config.yaml then
    # claimed the new data and lr for the whole run.
    config = run_config("history", **SECTIONS)
    interrupted_run(load_run_config(config), epoch=1)
    run = tmp_path / "runs" / "history"
    before = _files(run)
    for override, key in [
        ("train.lr=0.01", "changed train.lr (0.05 → 0.01)"),
        (f"data.train.csv_file={color_dataset / 'val.csv'}", "data.train.csv_file"),
        ("train.optimizer=adamw", "train.optimizer"),
        ("data.image_size=34", "data.image_size"),
        ("model.hidden_dim=8", "model.hidden_dim"),
    ]:
        _one_line(capsys, _resume_argv(config, override), key)
        assert _files(run) == before
    both = _resume_argv(config, "train.lr=0.01", "train.batch_size=4")
    _one_line(capsys, both, "changed train.batch_size (8 → 4), train.lr;")
    assert main(_resume_argv(config, "train.epochs=4", "train.eval_every=2")) == 0
    changes = [
        {"epoch": 2, "key": "train.epochs", "from": 3, "to": 4},
        {"epoch": 2, "key": "train.eval_every", "from": 1, "to": 2},
    ]
    assert json.loads((run / "env.json").read_text())["changes"] == changes
    last = read_checkpoint(run / "last.pt")
    assert last["training_state"]["changes"] == changes and last["epoch"] == 3
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["epochs"] == 4


def test_train_epochs_stays_under_a_schedule_it_shapes(
    run_config, tmp_path: Path, interrupted_run
) -> None:
    train = {**SECTIONS["train"], "scheduler": "cosine"}
    interrupted_run(load_run_config(run_config("cosine", train=train)), epoch=1)
    longer = load_run_config(run_config("cosine", train=train), ["train.epochs=5"])
    with pytest.raises(
        ConfigError, match=r"train\.epochs \(3 → 5, train\.scheduler=cosine is shaped"
    ):
        Trainer(longer, resume=True, progress=False)


def _flip_a_bit_in_a_tensor(path: Path) -> str:
    """Flip one bit inside the bytes of ``path``'s largest weight tensor; its name."""
    state = read_checkpoint(path)["state_dict"]
    key = max(
        (k for k, v in state.items() if v.is_floating_point()), key=lambda k: state[k].numel()
    )
    # the bytes as stored: the whole storage, in its layout (channels_last, say)
    raw = torch.empty(0, dtype=torch.uint8).set_(state[key].untyped_storage()).numpy().tobytes()
    data = bytearray(path.read_bytes())
    at = data.find(raw)
    assert at >= 0 and data.find(raw, at + 1) < 0
    data[at + len(raw) // 2] ^= 0x10
    path.write_bytes(bytes(data))
    return key


def test_a_flipped_bit_in_a_checkpoint_is_refused_on_every_load_path(
    run_config, tmp_path: Path, color_dataset: Path, capsys
) -> None:
    # Case 10: torch stores CRC-32s but does not check them on load, so evaluate and predict
    # ran a damaged best.pt with exit 0.
    config = run_config("flip", train={"epochs": 1})
    assert main(["train", "-c", str(config), "--no-progress"]) == 0
    run = tmp_path / "runs" / "flip"
    best, last = run / "best.pt", run / "last.pt"
    good = read_checkpoint(best)["state_dict"]
    key = _flip_a_bit_in_a_tensor(best)
    loaded = torch.load(best, weights_only=True)["state_dict"][key]  # torch: not a word
    assert not torch.equal(loaded, good[key])
    image = next((color_dataset / "images").iterdir())
    for argv in (
        ["evaluate", str(best), "--workers", "0", "--no-progress"],
        ["predict", str(best), str(image), "--out", str(tmp_path / "p.csv")],
        ["plot-adjacency", str(best), "--out", str(tmp_path / "a.png")],
    ):
        _one_line(capsys, argv, f"{best}: damaged")
    with pytest.raises(CheckpointError, match="damaged"):
        load_model(best)
    fine_tune = load_run_config(run_config("fine"), [f"train.init_from={best}"])
    with pytest.raises(CheckpointError, match="damaged"):
        Trainer(fine_tune, progress=False)
    _flip_a_bit_in_a_tensor(last)
    _one_line(capsys, ["train", "-c", str(config), "--resume"], f"{last}: damaged")


def test_an_evaluation_folder_commits_whole(
    run_config, tmp_path: Path, monkeypatch, capsys
) -> None:
    # Case 11: a kill during `agcn evaluate` left metrics.json, per_class.csv and scores.npz
    # of two different checkpoints in one folder.
    import agcn_pyg.engine.evaluate as evaluate_module

    assert (
        main(["train", "-c", str(run_config("evals", train={"epochs": 1})), "--no-progress"]) == 0
    )
    best = tmp_path / "runs" / "evals" / "best.pt"
    other = read_checkpoint(best)
    other["state_dict"] = {
        k: v * 0.5 if v.is_floating_point() else v for k, v in other["state_dict"].items()
    }
    save_checkpoint(other, tmp_path / "other.pt")
    out = tmp_path / "scored"
    options = ["--out", str(out), "--workers", "0", "--no-progress"]
    assert main(["evaluate", str(best), *options]) == 0
    first = _files(out)
    assert sorted(first) == ["metrics.json", "per_class.csv", "scores.npz"]

    def killed(*args, **kwargs):  # after metrics.json and per_class.csv were written
        raise Killed

    monkeypatch.setattr(evaluate_module, "save_npz", killed)
    with pytest.raises(Killed):
        main(["evaluate", str(tmp_path / "other.pt"), *options])
    monkeypatch.undo()
    assert _files(out) == first  # whole, and the first checkpoint's
    assert main(["evaluate", str(tmp_path / "other.pt"), *options]) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["checkpoint"] == str(tmp_path / "other.pt")
    assert _files(out)["scores.npz"] != first["scores.npz"]

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "notes.txt").write_text("mine")
    argv = ["evaluate", str(best), "--out", str(mixed), "--workers", "0"]
    _one_line(capsys, argv, "'notes.txt', which an evaluation did not write")
    assert _files(mixed) == {"notes.txt": b"mine"}


def test_a_leading_tilde_is_the_home_folder(
    run_config, tmp_path: Path, monkeypatch, capsys
) -> None:
    # Case 12: output_dir: ~/runs went to ./~/runs. The same for --resume-from and
    # model.pretrained (a Lightning-style file here, which case 6 loaded as nothing).
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    import timm

    body = timm.create_model("test_resnet", num_classes=0).state_dict()
    torch.save({"state_dict": {f"model.{k}": v for k, v in body.items()}}, home / "w.pth")
    config = run_config("tilde", train={"epochs": 1})
    argv = ["train", "-c", str(config), "output_dir=~/runs", "--no-progress"]
    assert main([*argv, "model.pretrained=~/w.pth"]) == 0
    out = capsys.readouterr().out
    assert f"model.pretrained: loaded {len(body)} tensors" in out and "'model.'" in out
    assert (home / "runs" / "tilde" / "best.pt").is_file() and not (tmp_path / "~").exists()
    again = [*argv, "model.pretrained=~/w.pth", "name=again", "train.epochs=2"]
    assert main([*again, "--resume-from", "~/runs/tilde/last.pt"]) == 0
    assert read_checkpoint(home / "runs" / "again" / "last.pt")["epoch"] == 1
    _best_is_the_recorded_best(home / "runs" / "again")
    assert not (tmp_path / "~").exists()

    torch.save({"encoder.weight": torch.ones(2)}, home / "foreign.pth")
    _one_line(capsys, [*argv, "name=f", "model.pretrained=~/foreign.pth"], "missing key conv1.0")
