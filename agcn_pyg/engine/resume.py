"""What ``--resume`` may change, and what ``--resume-from`` brings into a new folder.

**A truthful history.** A resumed run continues the history its ``last.pt`` records, so the
settings that made that history stay as they were: `config_changes` compares the checkpoint's
run config with the resumed run's, key by key (``data.train.csv_file``, ``train.lr``, ...),
and refuses a change of data, labels, model or optimiser settings with one line naming the
keys. Only `SAFE_TO_CHANGE` may differ; each such change is recorded with the epoch it starts
at (``changes`` in ``last.pt``'s training state and in ``env.json``), while ``config.yaml``
holds the settings in force now. ``name`` and ``output_dir`` say where a run lives, not what
it did, and are not compared. Model selection is history too (`agcn_pyg.selection`):
``data.holdout`` says which training images were never trained on, ``train.select`` which
epoch ``best.pt`` holds and ``data.test`` what is reported, so a change of any of them is
refused like a change of data; the trainer also checks that the holdout it carves now lists
the images of the run's ``holdout.txt``.

**A copied run.** ``--resume-from CKPT`` into another folder first makes that folder a
copy of the run (`plan_adoption`, `Adoption.write`): ``last.pt``, and ``best.pt`` and
``eval/`` when they stand beside CKPT and hold its best epoch (checked: digest, epoch,
labels, settings). Without them the best epoch's weights are not at hand, so the new folder's
best is counted afresh from its first epoch on, which the run says and records; a finished
run without them is refused, since its folder could never hold a ``best.pt``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agcn_pyg.config import RunConfig, from_dict, to_dict
from agcn_pyg.engine.checkpoint import read_checkpoint, save_checkpoint
from agcn_pyg.engine.evaluate import EVAL_FILES
from agcn_pyg.engine.runfolder import PENDING_BEST, PENDING_EVAL
from agcn_pyg.errors import AgcnError, ConfigError
from agcn_pyg.io import write_bytes
from agcn_pyg.optim import SCHEDULERS_SHAPED_BY_EPOCHS

#: keys a resumed run may change, and why each leaves the history as it was
SAFE_TO_CHANGE: dict[str, str] = {
    "train.epochs": "how far the run goes (except under a schedule shaped by it)",
    "train.eval_every": "how often it is evaluated",
    "train.device": "where it runs",
    "data.workers": "how many processes load the data (the batches do not depend on it)",
}
#: where a run lives, not what it did
LOCATION_KEYS = frozenset({"name", "output_dir"})
_MISSING = "<absent>"


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 0.01}}`` → ``{"train.lr": 0.01}``, mappings at any depth."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{dotted}."))
        else:
            out[dotted] = value
    return out


#: fields whose default changed when they were added: a stored config without one ran under
#: the old behaviour (``best.pt`` the best epoch on data.val, before `agcn_pyg.selection`)
LEGACY_DEFAULTS = {("train", "select"): "best"}


def _normalised(run_config: Mapping[str, Any]) -> dict[str, Any]:
    """A stored run config through the dataclasses, so that a checkpoint from before a field
    existed reads as that field's default then (`LEGACY_DEFAULTS`, else the default now)."""
    run_config = dict(run_config)
    for (section, key), value in LEGACY_DEFAULTS.items():
        part = run_config.get(section)
        if isinstance(part, Mapping) and key not in part:
            run_config[section] = {**part, key: value}
    try:
        return flatten(to_dict(from_dict(RunConfig, run_config)))
    except (AgcnError, TypeError, ValueError):
        return flatten(run_config)


def changed_keys(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, tuple]:
    """``{dotted key: (before, after)}`` for every key but `LOCATION_KEYS` that differs."""
    old, new = _normalised(before), _normalised(after)
    keys = sorted((old.keys() | new.keys()) - LOCATION_KEYS)
    return {
        k: (old.get(k, _MISSING), new.get(k, _MISSING))
        for k in keys
        if old.get(k, _MISSING) != new.get(k, _MISSING)
    }


def _refused(changes: Mapping[str, tuple], cfg: RunConfig) -> list[str]:
    refused = _unsafe(changes)
    if "train.epochs" in changes and cfg.train.scheduler in SCHEDULERS_SHAPED_BY_EPOCHS:
        refused.append("train.epochs")
    return sorted(refused)


def _unsafe(changes: Mapping[str, tuple]) -> list[str]:
    return [k for k in changes if k not in SAFE_TO_CHANGE]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def config_changes(checkpoint: Mapping[str, Any], path: Path, cfg: RunConfig) -> list[dict]:
    """The changes of `SAFE_TO_CHANGE` keys between ``checkpoint``'s run config and ``cfg``, as
    ``{"epoch", "key", "from", "to"}`` records (``epoch``: the first one trained under the
    new value, 1-based); any other change is a `ConfigError` naming the keys."""
    stored = checkpoint.get("run_config")
    if not isinstance(stored, Mapping):
        return []  # an imported checkpoint: no history to keep
    changes = changed_keys(stored, to_dict(cfg))
    refused = _refused(changes, cfg)
    if refused:
        first, others = refused[0], refused[1:6]
        more = f", {', '.join(others)}" + (", ..." if len(refused) > 6 else "") if others else ""
        why = (
            f", train.scheduler={cfg.train.scheduler} is shaped by it"
            if first == "train.epochs"
            else ""
        )
        raise ConfigError(
            f"{path}: resuming with changed {first} ({_short(changes[first][0])} → "
            f"{_short(changes[first][1])}{why}){more}; a resumed run keeps its data, labels, "
            f"model and optimiser settings (only {', '.join(SAFE_TO_CHANGE)} may change). "
            "Start a new run (name=...) with train.init_from=<this checkpoint> instead"
        )
    epoch = int(checkpoint.get("epoch", -1)) + 2
    return [{"epoch": epoch, "key": k, "from": a, "to": b} for k, (a, b) in changes.items()]


@dataclass
class Adoption:
    """What ``--resume-from CKPT`` writes into a new folder before training on.

    ``checkpoint`` becomes ``last.pt``; ``best`` and ``eval_files`` (``eval/``'s files by
    name) are CKPT's best epoch, or ``None`` and ``{}`` with ``note`` saying why not.
    """

    checkpoint: dict[str, Any]
    best: dict[str, Any] | None = None
    eval_files: dict[str, bytes] = field(default_factory=dict)
    note: str | None = None

    def write(self, run_dir: Path) -> None:
        """The best epoch's files as pending ones, then ``last.pt`` (the commit point); the
        caller publishes them (`agcn_pyg.engine.runfolder.RunFolder.publish`)."""
        if self.best is not None:
            for name, data in self.eval_files.items():
                write_bytes(run_dir / PENDING_EVAL / name, data)
            save_checkpoint(self.best, run_dir / PENDING_BEST)
        save_checkpoint(self.checkpoint, run_dir / "last.pt")


def plan_adoption(path: Path, checkpoint: dict[str, Any], epochs: int) -> Adoption:
    """Find CKPT's best epoch beside it; without it, count the best afresh (the checkpoint's
    training state is changed to say so) or, for a finished run, raise `ConfigError`."""
    state = checkpoint["training_state"]
    best_epoch = state.get("best_epoch")
    if best_epoch is None:
        return Adoption(checkpoint)  # nothing evaluated yet: nothing to bring
    best, files, reason = _best_beside(path, checkpoint, int(best_epoch))
    if best is not None:
        return Adoption(checkpoint, best, files)
    start = int(checkpoint["epoch"]) + 1
    if start >= epochs:
        raise ConfigError(
            f"--resume-from {path}: a finished run ({start} epochs) whose best epoch cannot be "
            f"copied ({reason}), so the new folder could hold no best.pt or eval/; copy the "
            "whole run folder, or raise train.epochs to train on"
        )
    previous = f"epoch {int(best_epoch) + 1} (mAP {float(state['best_map']):.2f})"
    note = (
        f"--resume-from: the best epoch, {previous}, cannot be copied ({reason}); best.pt "
        f"and eval/ here will be the best of epochs {start + 1} on"
    )
    state = {**state, "best_map": -math.inf, "best_epoch": None}
    change = {"epoch": start + 1, "key": "best", "from": previous, "to": "counted afresh"}
    state["changes"] = [*state.get("changes", []), change]
    return Adoption({**checkpoint, "training_state": state}, note=note)


def _best_beside(
    path: Path, checkpoint: Mapping[str, Any], best_epoch: int
) -> tuple[dict[str, Any] | None, dict[str, bytes], str]:
    """``(best.pt, eval/'s files, "")`` beside ``path`` when they hold its best epoch, else
    ``(None, {}, why not)``."""
    best_path, eval_dir = path.parent / "best.pt", path.parent / "eval"
    missing = [p.name for p in (best_path, *(eval_dir / n for n in EVAL_FILES)) if not p.is_file()]
    if missing:
        return None, {}, f"no {missing[0]} beside it"
    try:
        best = read_checkpoint(best_path)
    except AgcnError as err:
        return None, {}, str(err)
    same = (
        best.get("epoch") == best_epoch
        and best.get("mode", "end2end") == checkpoint.get("mode", "end2end")
        and list(best["label_names"]) == list(checkpoint["label_names"])
        and not _unsafe(
            changed_keys(best.get("run_config") or {}, checkpoint.get("run_config") or {})
        )
    )
    if not same:
        return None, {}, f"{best_path} is not its best epoch, {best_epoch + 1}"
    return best, {name: (eval_dir / name).read_bytes() for name in EVAL_FILES}, ""
