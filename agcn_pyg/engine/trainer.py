"""The training engine: one `Trainer` for both modes, the paper's recipe by default, AMP, EMA,
DDP, exact resume.

The mode names where a step's inputs come from (`agcn_pyg.engine.sources`): ``end2end``
trains the whole model on image batches; ``features`` trains the head alone on the frozen
backbone's cached features. Everything else is shared: the step, the divergence check,
clipping, EMA, the evaluation cadence, the best epoch, the run folder, the checkpoints and
resume, and every ``train.*`` key means the same in both.

Every run writes into ``<output_dir>/<name>/``: ``config.yaml`` (the resolved config),
``env.json`` (seed, versions, git commit, command, device), ``log.csv`` (one row per epoch),
``last.pt`` (everything ``--resume`` needs), ``best.pt`` (the epoch ``train.select`` chooses
on the selection split: `agcn_pyg.selection`), ``eval/`` (the evaluation of ``best.pt``; at
the end on the reported split, where that is another split: `agcn_pyg.engine.reporting`) and,
with ``data.holdout``, ``holdout.txt`` (the training images held out). Only rank 0 writes,
holding the folder's lock; an epoch's files commit together, ``last.pt`` last
(`agcn_pyg.engine.runfolder`). Checkpoints hold the whole model (in mode ``features`` the
frozen backbone too), so ``load_model``, ``agcn evaluate`` and the analysis tools read a run of
either mode alike.

Speed: on CUDA the step's model is compiled (``train.compile``, `agcn_pyg.engine.compiled`);
each epoch prints and logs its images/s and the fraction of it the step waited for data
(`agcn_pyg.engine.steptime`); the next epoch's loader starts before an epoch commits.

Determinism: each epoch re-seeds torch, numpy, Python and the data-order generator from
``seed + 1000 · epoch + rank``, every training item is augmented from its own seed (so
persistent workers, and any number of them, give the same batches), and ``last.pt`` holds
the optimiser, scheduler, AMP scaler, EMA weights and RNG states. A run killed at any point
and resumed from ``last.pt`` repeats the unfinished epoch with the same batches and
augmentations, so on the CPU it ends with the metrics of an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import math
import platform
import socket
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from timm.utils import ModelEmaV3
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from agcn_pyg.config import RunConfig, expand_user, to_dict, validate_run_config
from agcn_pyg.data.holdout import HOLDOUT_FILE, read_holdout_paths
from agcn_pyg.data.noise import NoiseCounts
from agcn_pyg.engine.checkpoint import (
    build_checkpoint,
    check_compatible,
    check_finite,
    first_non_finite,
    git_commit,
    init_weights_from,
    package_versions,
    read_checkpoint,
    save_checkpoint,
)
from agcn_pyg.engine.compiled import CompiledModel, resolve_compile
from agcn_pyg.engine.distributed import (
    all_reduce_mean,
    barrier,
    broadcast_buffers,
    cleanup_distributed,
    gather_objects,
    init_distributed,
    is_main_process,
)
from agcn_pyg.engine.evaluate import commit_evaluation, write_evaluation
from agcn_pyg.engine.inputs import (
    RunData,
    load_splits,
    resolve_cooccurrence,
    resolve_embeddings,
)
from agcn_pyg.engine.reporting import finished_report, reported_record, selection_record
from agcn_pyg.engine.resume import Adoption, config_changes, plan_adoption
from agcn_pyg.engine.runfolder import PENDING_BEST, PENDING_EVAL, RunFolder
from agcn_pyg.engine.runlog import GraphWatch, log_csv
from agcn_pyg.engine.runtime import (
    resolve_amp,
    resolve_device,
    rng_state,
    seed_everything,
    set_rng_state,
)
from agcn_pyg.engine.sources import TRAIN_MODES, BatchSource, SourceContext
from agcn_pyg.engine.steptime import EpochClock
from agcn_pyg.errors import AgcnError, CheckpointError, ConfigError, DegreeError
from agcn_pyg.io import write_json, write_text
from agcn_pyg.losses import build_loss, targets_and_mask
from agcn_pyg.metrics import compute_metrics
from agcn_pyg.models import AGCN, create_model
from agcn_pyg.models.label_graph import BASELINE
from agcn_pyg.optim import build_optimizer, build_scheduler
from agcn_pyg.selection import split_roles


class TrainingDiverged(AgcnError):
    """The loss became NaN or inf; training stopped without writing the bad state."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (``KeyboardInterrupt``) during `Trainer.fit`: where the run stopped and what is
    committed (``committed_epoch``, 0-based, ``None`` before the first commit)."""

    def __init__(
        self, run_dir: Path, epoch: int | None, epochs: int, committed: int | None
    ) -> None:
        self.run_dir, self.epoch, self.committed_epoch = run_dir, epoch, committed
        stopped = "before its first epoch" if epoch is None else f"in epoch {epoch + 1}/{epochs}"
        kept = (
            "nothing is committed yet"
            if committed is None
            else f"{run_dir / 'last.pt'} holds epoch {committed + 1} (committed)"
        )
        super().__init__(f"interrupted {stopped}; {kept}")


def environment(
    cfg: RunConfig, device: torch.device, world: int, noise: NoiseCounts | None = None
) -> dict[str, Any]:
    """``env.json``'s common part; ``noise``: what ``data.label_noise`` changed."""
    return {
        "seed": cfg.train.seed,
        "versions": package_versions(),
        "git_commit": git_commit(),
        "command": sys.argv,
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "world_size": world,
        "torch_threads": torch.get_num_threads(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "label_noise": None if noise is None else noise.to_dict(),
    }


class Trainer:
    """Trains one `RunConfig` in a mode; `fit` returns the final and best validation metrics.

    Args:
        cfg: the run.
        resume: ``None``, ``True`` (``<run_dir>/last.pt``) or a checkpoint path; the
            checkpoint must come from a run of the same mode.
        overwrite: allow a new history (a fresh start, or ``--resume-from`` another folder's
            checkpoint) in a run folder that holds a previous run's results, which are moved
            aside whole first.
        progress: show tqdm bars.
        mode: ``end2end`` or ``features`` (`agcn_pyg.engine.sources.TRAIN_MODES`).
        cache_dir: mode ``features``: where the features are cached (default
            ``<output_dir>/features_cache``).
    """

    def __init__(
        self,
        cfg: RunConfig,
        resume: bool | str | Path | None = None,
        overwrite: bool = False,
        progress: bool = True,
        *,
        mode: str = "end2end",
        cache_dir: str | Path | None = None,
    ) -> None:
        if mode not in TRAIN_MODES:
            raise ConfigError(f"mode {mode!r}: choose one of {TRAIN_MODES.names()}")
        validate_run_config(cfg)  # a config built in code has not met the schema yet
        cfg = expand_user(cfg)
        self.progress = progress
        self.mode = mode
        self.cache_dir = cache_dir
        self.run_dir = cfg.run_dir
        self.device = resolve_device(cfg.train.device)
        self.rank, self.local_rank, self.world = init_distributed(self.device.type)
        if self.device.type == "cuda" and self.world > 1:
            self.device = torch.device("cuda", self.local_rank)
        self.main = is_main_process()
        #: the epoch whose order `_seed_epoch` last fixed (the next one's, during a commit)
        self.seeded_epoch: int | None = None
        self.env: dict[str, Any] = {}  # env.json, once written
        # Rank 0 writes the folder, so it alone holds it; taken before anything is written.
        self.folder = RunFolder(self.run_dir)
        refused: ConfigError | None = None
        if self.main:
            try:
                self.folder.acquire()
            except ConfigError as err:
                refused = err
        # Every rank learns whether rank 0 holds the folder, so none waits for it forever.
        held = all_reduce_mean(torch.tensor(0.0 if refused else 1.0, device=self.device))
        if refused is not None:
            raise refused
        if float(held) < 1.0:
            raise ConfigError(f"{self.run_dir}: rank 0 could not take the run folder")
        #: changes of the keys a resume may change (`agcn_pyg.engine.resume`), with their epochs
        self.changes: list[dict[str, Any]] = []
        self.adoption: Adoption | None = None  # what --resume-from writes here first
        self.current_epoch: int | None = None
        try:
            self._setup(cfg, resume, overwrite)
        except BaseException:
            self.folder.release()
            raise

    def close(self) -> None:
        """Release the run folder (`fit` does this itself when it ends)."""
        self.folder.release()

    def __del__(self) -> None:
        # A Trainer that is built but never fitted must not keep its folder.
        folder = getattr(self, "folder", None)
        if folder is not None:
            with contextlib.suppress(Exception):  # at interpreter shutdown
                folder.release()

    def _setup(self, cfg: RunConfig, resume: bool | str | Path | None, overwrite: bool) -> None:
        resume_path = self._prepare(cfg, resume, overwrite)
        splits = self._load_data(cfg)
        cfg = self.cfg
        self.cooccurrence = resolve_cooccurrence(cfg.data.cooccurrence, splits.train)
        model, checkpoint = self._build_model(cfg, resume_path)
        self._build_training(cfg, model, splits)
        self.start_epoch = 0
        self.global_step = 0
        #: the selection split's mAP of the epoch best.pt holds (`agcn_pyg.selection`), and
        #: that epoch (0-based; ``None`` before the first evaluation)
        self.best_map = -math.inf
        self.best_epoch: int | None = None
        #: the epoch (0-based) that the ``last.pt`` on disk holds; ``None`` before the first
        self.committed_epoch: int | None = None
        self.final: dict[str, float] = {}
        self.history: list[dict[str, Any]] = []
        self.resumed_from: str | None = None
        self.graph_watch = GraphWatch()
        if checkpoint is not None:
            self._load_training_state(resume_path, checkpoint)

    def _prepare(
        self, cfg: RunConfig, resume: bool | str | Path | None, overwrite: bool
    ) -> Path | None:
        """Precision, determinism, the checkpoint to resume from, the seed."""
        self.amp_dtype, self.use_scaler = resolve_amp(cfg.train.amp, self.device)
        if cfg.train.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = self.device.type == "cuda" and not cfg.train.deterministic
        resume_path = self._resume_path(resume, overwrite)
        self.replace_old = overwrite and (resume_path is None or self._elsewhere(resume_path))
        if resume_path is None and self.main and not (self.run_dir / "last.pt").exists():
            self.folder.discard_pending()  # no committed epoch vouches for them
        seed_everything(cfg.train.seed)
        return resume_path

    def _load_data(self, cfg: RunConfig) -> RunData:
        """The splits and their roles (`agcn_pyg.selection`); sets ``self.cfg`` with the data's
        number of labels."""
        splits = load_splits(cfg.data, image_check=Path(cfg.output_dir) / "image_check.json")
        self.label_names = splits.label_names
        self.noise = splits.noise
        self.holdout = splits.holdout
        self.roles = split_roles(cfg.data, cfg.train)
        self.split_sizes = {
            "train": len(splits.train),
            self.roles.selection: len(splits.val),
            **({self.roles.reported: len(splits.test)} if splits.test is not None else {}),
        }
        if cfg.model.num_classes not in (None, len(self.label_names)) and self.main:
            tqdm.write(
                f"model.num_classes: {cfg.model.num_classes} in the config, the data has "
                f"{len(self.label_names)} labels: using {len(self.label_names)}"
            )
        if self.holdout is not None and cfg.data.cooccurrence is not None and self.main:
            tqdm.write(
                f"note: data.cooccurrence is read from {cfg.data.cooccurrence}; counts taken "
                "over every training image include the holdout's labels (null counts the "
                "training images without the holdout)"
            )
        self.cfg = replace(cfg, model=replace(cfg.model, num_classes=len(self.label_names)))
        return splits

    def _build_model(
        self, cfg: RunConfig, resume_path: Path | None
    ) -> tuple[AGCN, dict[str, Any] | None]:
        """The model, with the weights of ``train.init_from`` or of the checkpoint resumed
        (returned, read), on the device."""
        model_cfg = cfg.model
        needs_embeddings = model_cfg.graph != BASELINE
        embeddings = resolve_embeddings(
            cfg.data.embeddings if needs_embeddings else None, self.label_names
        )
        model = create_model(model_cfg, label_embeddings=embeddings, cooccurrence=self.cooccurrence)
        if cfg.train.init_from and resume_path is None:  # a resumed run's come from last.pt
            init_weights_from(model, cfg.train.init_from, model_cfg, self.label_names)
        checkpoint = None
        if resume_path is not None:
            # The weights first: mode ``features`` extracts with the resumed run's backbone.
            checkpoint = self._read_resume(resume_path)
            model.load_state_dict(checkpoint["state_dict"])
        model.to(self.device)
        self.channels_last = cfg.train.channels_last
        if self.channels_last:
            model.backbone.to(memory_format=torch.channels_last)
        return model, checkpoint

    def _build_training(self, cfg: RunConfig, model: AGCN, splits: RunData) -> None:
        """The mode's batch source, EMA, DDP, compiling, the optimiser, schedule and loss."""
        self.source: BatchSource = TRAIN_MODES.get(self.mode)(
            SourceContext(
                cfg,
                model,
                splits,
                self.device,
                self.world,
                self.amp_dtype,
                self.channels_last,
                self.progress,
                self.cache_dir,
            )
        )
        self.unwrapped: AGCN = model
        self.ema = ModelEmaV3(model, decay=cfg.train.ema_decay) if cfg.train.ema_decay else None
        self.model: nn.Module = model
        if self.world > 1:
            ids = [self.local_rank] if self.device.type == "cuda" else None
            self.model = DistributedDataParallel(model, device_ids=ids)
        compiles = self.source.compiles and resolve_compile(cfg.train.compile, self.device)
        self.compiled = CompiledModel(self.model, compiles, say=self._say)
        self.steps_per_epoch = self.source.steps_per_epoch
        parts = self.source.optimizer_parts(model, cfg.train.lr, cfg.train.lrp)
        self.optimizer = build_optimizer(parts, cfg.train)
        self.scheduler = build_scheduler(self.optimizer, cfg.train, self.steps_per_epoch)
        # Disabled (bf16, fp32), the scaler passes the loss and the step through unchanged.
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.use_scaler)
        self.loss_fn = build_loss(cfg.train.loss, **cfg.train.loss_kwargs)

    def _resume_path(self, resume: bool | str | Path | None, overwrite: bool) -> Path | None:
        """The checkpoint to resume from; a new history (a fresh start, or ``--resume-from``
        another folder's checkpoint) in a folder with a previous run's results needs
        ``--overwrite``, also when its ``last.pt`` is gone."""
        last = self.run_dir / "last.pt"
        found = [] if overwrite else self.folder.results()
        if resume is None or resume is False:
            if "last.pt" in found:
                raise ConfigError(
                    f"{last} exists: pass --resume to continue that run, --overwrite to start "
                    "afresh (the old run is moved aside), or name=<another> for a new run"
                )
            if found:
                raise ConfigError(
                    f"{self.run_dir} holds a previous run's {', '.join(found)} (no last.pt to "
                    "resume): pass --overwrite to start afresh (the old run is moved aside "
                    "whole), or name=<another> for a new run"
                )
            return None
        path = last if resume is True else Path(resume).expanduser()
        if not path.is_file():
            raise CheckpointError(f"--resume: {path} not found (nothing to resume)")
        if found and not _same_file(path, last):
            raise ConfigError(
                f"--resume-from {path}: {self.run_dir} holds another run's "
                f"{', '.join(found)}; pass --overwrite to move that run aside first, or "
                "name=<another> for a new folder"
            )
        return path

    def _read_resume(self, path: Path) -> dict[str, Any]:
        checkpoint = read_checkpoint(path, map_location="cpu")
        if checkpoint.get("training_state") is None:
            raise CheckpointError(f"{path}: holds no training state (use last.pt to resume)")
        mode = checkpoint.get("mode", "end2end")
        if mode != self.mode:
            raise CheckpointError(
                f"{path}: a run of mode {mode!r}, resumed in mode {self.mode!r}; give the "
                f"{self.mode} run another name (name=...)"
            )
        check_finite(checkpoint, path)
        check_compatible(checkpoint, path, self.cfg.model, self.label_names)
        self.changes = config_changes(checkpoint, path, self.cfg)
        if self._elsewhere(path):  # this folder becomes a copy of that run first
            self.adoption = plan_adoption(path, checkpoint, self.cfg.train.epochs)
            return self.adoption.checkpoint
        return checkpoint

    def _elsewhere(self, path: Path) -> bool:
        """``--resume-from`` a checkpoint other than this folder's ``last.pt``."""
        return not _same_file(path, self.run_dir / "last.pt")

    def _load_training_state(self, path: Path, checkpoint: dict[str, Any]) -> None:
        state = checkpoint["training_state"]
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler.is_enabled() and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None:
            if state.get("ema") is None:
                raise CheckpointError(f"{path}: has no EMA weights but train.ema_decay is set")
            self.ema.module.load_state_dict(state["ema"])
        set_rng_state(state["rng"])
        self.start_epoch = int(checkpoint["epoch"]) + 1
        self.committed_epoch = int(checkpoint["epoch"])
        self.global_step = int(state["global_step"])
        self.best_map = float(state["best_map"])
        self.best_epoch = state.get("best_epoch")
        self.final = dict(checkpoint.get("metrics") or {})
        self.history = list(state["history"])
        self.changes = [*state.get("changes", []), *self.changes]
        self.resumed_from = str(path)
        if self.main and _same_file(path, self.run_dir / "last.pt"):
            self._check_holdout()
            self._publish()  # finish an epoch that a kill interrupted after its commit

    def _check_holdout(self) -> None:
        """A resumed run keeps the images it held out (`agcn_pyg.data.holdout`): the
        training split they are carved from must not have changed under it."""
        listed = self.run_dir / HOLDOUT_FILE
        if self.holdout is None or not listed.is_file():
            return
        if read_holdout_paths(listed) != list(self.holdout.paths):
            raise ConfigError(
                f"{listed}: data.holdout now holds other images than this run held out (did "
                "the training split change?); resuming would select on images it trained on. "
                "Start a new run (name=...)"
            )

    @property
    def eval_model(self) -> AGCN:
        return self.ema.module if self.ema is not None else self.unwrapped

    def _seed_epoch(self, epoch: int) -> None:
        seed = self.cfg.train.seed + 1000 * epoch + self.rank
        seed_everything(seed)
        self.source.set_epoch(epoch, seed)
        self.seeded_epoch = epoch

    def _say(self, line: str) -> None:
        if self.main:
            tqdm.write(line)

    def _write_run_files(self) -> None:
        write_text(self.run_dir / "config.yaml", yaml.safe_dump(to_dict(self.cfg), sort_keys=False))
        if self.holdout is not None:
            write_text(self.run_dir / HOLDOUT_FILE, self.holdout.text())
        env = environment(self.cfg, self.device, self.world, self.noise)
        env["splits"] = {**self.roles.record(), "images": self.split_sizes}
        env["holdout"] = None if self.holdout is None else self.holdout.counts()
        env["resumed_from"] = self.resumed_from
        env["changes"] = self.changes
        env["pretrained"] = self.unwrapped.backbone.pretrained_report
        env["label_names"] = self.label_names
        env["mode"] = self.source.mode
        self.env = env
        self._write_env()

    def _write_env(self) -> None:
        """``env.json`` with the source's current counts (``data.decode``'s, by epoch)."""
        if self.env:
            self.env.update(self.source.env(), compile=self._compile_env())
            write_json(self.run_dir / "env.json", self.env)

    def _compile_env(self) -> dict[str, Any]:
        c = self.compiled
        return {"setting": self.cfg.train.compile, "compiled": c.compiled, "fallback": c.fallback}

    def fit(self) -> dict[str, Any]:
        """Train from ``start_epoch`` to ``train.epochs``.

        Returns ``final`` (the last evaluation's metrics, on the selection split),
        ``best_mAP`` (the selection split's mAP of the epoch ``best.pt`` holds), ``selection``
        (that split's name: ``val`` or ``holdout``), ``test``
        (``{"split", "selected", "last"}``: the reported split's metrics of that epoch and of
        the last, where the reported split is another one; else ``None``), ``run_dir``,
        ``mode`` and ``finished_before`` (``True`` when a resumed run had nothing left to
        do).
        """
        try:
            return self._fit()
        except KeyboardInterrupt:
            # A --resume-from run not yet written here has nothing committed in this folder.
            committed = self.committed_epoch if self.adoption is None else None
            raise TrainingInterrupted(
                self.run_dir, self.current_epoch, self.cfg.train.epochs, committed
            ) from None
        finally:
            self.close()

    def _fit(self) -> dict[str, Any]:
        cfg = self.cfg
        result = {
            "best_mAP": self.best_map,
            "run_dir": str(self.run_dir),
            "mode": self.mode,
            "selection": self.roles.selection,
        }
        finished = self.start_epoch >= cfg.train.epochs
        if self.main and (self.adoption is not None or not finished):
            self._prepare_folder()
        if finished:
            # a kill may have stopped the run between its last commit and the reported split
            test = self._report()
            return {**result, "final": self.final, "test": test, "finished_before": True}
        writer = _tensorboard(self.run_dir) if self.main else None
        final: dict[str, float] = self.final
        try:
            with self.source.context():
                for epoch in range(self.start_epoch, cfg.train.epochs):
                    final = self._epoch(epoch, final, writer)
        except DegreeError as err:
            raise err.with_label(self.label_names) from None
        finally:
            if writer is not None:
                writer.close()
        test = self._report()
        result.update(best_mAP=self.best_map, final=final, test=test, finished_before=False)
        return result

    def _report(self) -> dict[str, Any] | None:
        """Score the reported split, where it is another split than the selection split, with
        ``best.pt``'s and the last epoch's weights, and commit ``eval/`` as their evaluation
        (`agcn_pyg.engine.reporting`); ``{"split", "selected", "last"}`` metrics, ``None``
        where the selection split is reported. Done already (a resumed finished run): read."""
        if not self.roles.separate or self.best_epoch is None or self.committed_epoch is None:
            return None
        best, last = self.best_epoch, self.committed_epoch
        done = finished_report(self.run_dir / "eval", self.roles, best, last) if self.main else None
        done = gather_objects(done)[0]  # rank 0 read it; every rank scores, or none
        if done is not None:
            return done
        selected, checkpoint = self._selected_model()
        split = self.roles.reported
        logits, targets = self.source.evaluate(selected, f"{split} (selected)", split="test")
        last_logits = logits
        if best != last:
            broadcast_buffers(self.eval_model)
            last_logits, _ = self.source.evaluate(self.eval_model, f"{split} (last)", "test")
        test, test_last = (_scalars(x, targets) for x in (logits, last_logits))
        if self.main:
            selection = checkpoint.get("metrics") or {}
            commit_evaluation(
                self.run_dir / "eval",
                self.cfg.name,
                logits,
                targets,
                self.label_names,
                checkpoint=str(self.run_dir / "best.pt"),
                config=to_dict(self.cfg),
                extra=reported_record(self.roles, best, selection, test, test_last, last),
            )
            tqdm.write(
                f"{split} split ({len(targets)} images): mAP {test['mAP']:.2f} at the selected "
                f"epoch {best + 1} ({self.roles.select} on {self.roles.selection}), "
                f"{test_last['mAP']:.2f} at the last epoch {last + 1}"
            )
        barrier()
        return {"split": split, "selected": test, "last": test_last}

    def _selected_model(self) -> tuple[AGCN, dict[str, Any]]:
        """A copy of the evaluated model with ``best.pt``'s weights, and that checkpoint."""
        checkpoint = read_checkpoint(self.run_dir / "best.pt", map_location="cpu")
        selected = copy.deepcopy(self.eval_model)
        selected.load_state_dict(checkpoint["state_dict"])
        return selected, checkpoint

    def _prepare_folder(self) -> None:
        """Move a replaced run aside, adopt a ``--resume-from`` run, write the run files."""
        if self.replace_old:
            moved = self.folder.move_aside()
            if moved is not None:
                tqdm.write(f"--overwrite: the previous run in {self.run_dir} is now {moved}")
        if self.adoption is not None:
            self.adoption.write(self.run_dir)
            self._publish()
            if self.adoption.note:
                tqdm.write(self.adoption.note)
            self.adoption = None  # written: its tensors are no longer needed
        if self.unwrapped.backbone.pretrained_report:  # what model.pretrained loaded
            tqdm.write(self.unwrapped.backbone.pretrained_report)
        self._write_run_files()

    def _epoch(self, epoch: int, final: dict[str, float], writer: Any) -> dict[str, float]:
        """Train, evaluate when due, commit when due; returns the latest metrics."""
        cfg = self.cfg
        self.current_epoch = epoch
        if self.seeded_epoch != epoch:
            self._seed_epoch(epoch)
        row = self._train_epoch(epoch)
        self._check_finite_weights(epoch)
        last = epoch + 1 == cfg.train.epochs
        logits = targets = None
        if (epoch + 1) % cfg.train.eval_every == 0 or last:
            broadcast_buffers(self.eval_model)
            logits, targets = self.source.evaluate(self.eval_model, f"eval {epoch + 1}")
            final = _scalars(logits, targets)
            row.update({k: final[k] for k in ("mAP", "CF1", "OF1")})
        # ``train.select``: under ``last`` every evaluated epoch replaces the selected one.
        improved = logits is not None and (
            self.roles.select == "last" or final["mAP"] > self.best_map
        )
        if improved:
            self.best_map, self.best_epoch = final["mAP"], epoch
        row["best_mAP"] = self.best_map if self.best_map > -math.inf else math.nan
        self.history.append(row)
        if not last:
            # The next epoch's loader starts now, so its first batches are prepared while
            # this epoch commits (its order comes from its own seed: nothing changes).
            self._seed_epoch(epoch + 1)
        if self.main:
            if self.source.commit_every_epoch or logits is not None:
                self._save(epoch, final, improved, logits, targets)
            _log(writer, row)
            self._print(row)
            self._write_env()
        barrier()
        return final

    def _train_epoch(self, epoch: int) -> dict[str, Any]:
        """One pass over the training batches; the epoch's row of ``log.csv`` (without the
        evaluation's metrics). Its ``images_per_s`` and ``data_wait`` leave out the compile
        warm-up (`agcn_pyg.engine.steptime`)."""
        self.model.train()
        sums = torch.zeros(3, device=self.device)
        seen = 0
        clock = EpochClock(self.device)
        bar = tqdm(
            total=self.steps_per_epoch,
            desc=f"epoch {epoch + 1}/{self.cfg.train.epochs}",
            leave=False,
            disable=not (self.progress and self.main),
        )
        for step, (inputs, raw_targets) in enumerate(self.source.batches()):
            clock.batch_ready()
            warmup = self.compiled.warming
            run = functools.partial(self._forward_backward, inputs, raw_targets, epoch, step)
            loss, bce, graph_loss, loss_value = self.compiled.step(run, self.unwrapped)
            self._update()
            batch = inputs.size(0)
            clock.step_done(batch, warmup)
            seen += batch
            sums += torch.stack([loss.detach(), bce.detach(), graph_loss.detach().float()]) * batch
            rate = seen * self.world / max(time.perf_counter() - clock.start, 1e-9)
            bar.set_postfix(loss=f"{loss_value:.4f}", lr=f"{self._lr():.2e}", img_s=f"{rate:.0f}")
            bar.update()
        bar.close()
        times = clock.finish()
        line = self.compiled.warmup_done(times.warmup_seconds)
        if line:
            self._say(f"{line}; left out of the img/s of epoch {epoch + 1}")
        means = all_reduce_mean(sums / max(seen, 1)).tolist()
        return {
            "epoch": epoch + 1,
            "lr": self._lr(),
            "loss": means[0],
            "bce": means[1],
            "graph_loss": means[2],
            "images_per_s": times.images_per_s * self.world,
            "seconds": times.seconds,
            "data_wait": times.data_wait,
            "mAP": math.nan,
            "CF1": math.nan,
            "OF1": math.nan,
            "adj_offdiag": self.graph_watch.offdiag(self.unwrapped.head),
        }

    def _forward_backward(
        self, inputs: Tensor, raw_targets: Tensor, epoch: int, step: int, module: nn.Module
    ) -> tuple[Tensor, Tensor, Tensor, float]:
        """One step's forward, loss and backward through ``module`` (compiled or eager):
        ``(loss, bce, L_A, the loss's value)``."""
        targets, mask = targets_and_mask(raw_targets, self.cfg.data.difficult)
        targets = targets.to(self.device, non_blocking=True)
        mask = mask.to(self.device, non_blocking=True)
        logits, graph_loss = self.source.forward(module, inputs)
        bce = self.loss_fn(logits.float(), targets, mask)
        loss = bce + self.cfg.model.alpha * graph_loss.float()
        # The step's one host-device sync: the value serves the divergence check and the
        # progress bar, so the GPU never waits for the bar at the end of the step. Under DDP
        # the ranks agree on it first, so all stop together instead of one rank raising
        # while the others wait in the gradient all-reduce.
        loss_value = all_reduce_mean(loss.detach()).item()
        if not math.isfinite(loss_value):
            raise TrainingDiverged(self._diverged_message(epoch, step, bce, graph_loss))
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        return loss, bce, graph_loss, loss_value

    def _update(self) -> None:
        """Clip, step the optimiser and the schedule, update the EMA weights."""
        clip = self.cfg.train.clip_grad_norm
        if clip:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.unwrapped.parameters(), clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.global_step += 1
        if self.ema is not None:
            self.ema.update(self.unwrapped, step=self.global_step)

    def _lr(self) -> float:
        return float(self.optimizer.param_groups[-1]["lr"])

    def _kept(self) -> str:
        if self.committed_epoch is None:
            return "no checkpoint had been written yet"
        last = self.run_dir / "last.pt"
        return f"the last good checkpoint is {last} (epoch {self.committed_epoch + 1})"

    def _diverged_message(self, epoch: int, step: int, bce: Any, graph_loss: Any) -> str:
        return (
            f"loss is not finite at epoch {epoch + 1}, step {step + 1} "
            f"(bce={float(bce.detach()):.4g}, L_A={float(graph_loss.detach()):.4g}); "
            f"stopped, {self._kept()}. Try a lower train.lr or train.clip_grad_norm"
        )

    def _check_finite_weights(self, epoch: int) -> None:
        """Stop before a non-finite model is evaluated or saved (the last step's update can
        diverge after a finite loss)."""
        models = [("weights", self.unwrapped)]
        if self.ema is not None:
            models.append(("EMA weights", self.ema.module))
        for what, module in models:
            name = first_non_finite(module.state_dict())
            if name is not None:
                raise TrainingDiverged(
                    f"{what} are not finite after epoch {epoch + 1} ({name}); stopped without "
                    f"saving them, {self._kept()}. Try a lower train.lr or train.clip_grad_norm"
                )

    def _save(
        self,
        epoch: int,
        metrics: dict[str, float],
        improved: bool,
        logits: np.ndarray | None,
        targets: np.ndarray | None,
    ) -> None:
        """Commit the epoch (see `agcn_pyg.engine.runfolder`): pending best, then ``last.pt``,
        then publish."""
        common = {
            "run_config": to_dict(self.cfg),
            "mode": self.source.mode,
            "epoch": epoch,
            "metrics": metrics,
        }
        if improved:
            write_evaluation(
                self.run_dir / PENDING_EVAL,
                self.cfg.name,
                logits,
                targets,
                self.label_names,
                checkpoint=str(self.run_dir / "best.pt"),
                config=to_dict(self.cfg),
                extra=selection_record(self.roles, epoch, metrics),
            )
            best = build_checkpoint(self.eval_model, self.label_names, self.cooccurrence, **common)
            save_checkpoint(best, self.run_dir / PENDING_BEST)
        state = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "ema": self.ema.module.state_dict() if self.ema is not None else None,
            "rng": rng_state(),
            "global_step": self.global_step,
            "best_map": self.best_map,
            "best_epoch": self.best_epoch,
            "history": self.history,
            "changes": self.changes,
        }
        last = build_checkpoint(
            self.unwrapped, self.label_names, self.cooccurrence, **common, training_state=state
        )
        if self.ema is not None:
            last["ema_state_dict"] = state["ema"]
        save_checkpoint(last, self.run_dir / "last.pt")
        self.committed_epoch = epoch
        self._publish((lambda _: epoch) if improved else None)

    def _publish(self, epoch_of: Any = None) -> None:
        self.folder.publish(self.best_epoch, epoch_of or _checkpoint_epoch)
        write_text(self.run_dir / "log.csv", log_csv(self.history))

    def _print(self, row: dict[str, Any]) -> None:
        split = self.roles.selection
        val = "" if math.isnan(row["mAP"]) else f"  {split} mAP {row['mAP']:.2f}"
        best = f"  best {row['best_mAP']:.2f}" if self.roles.select == "best" else ""
        tqdm.write(
            f"epoch {row['epoch']}/{self.cfg.train.epochs}  loss {row['loss']:.4f} "
            f"(bce {row['bce']:.4f}, L_A {row['graph_loss']:.4f})  lr {row['lr']:.2e}  "
            f"{row['images_per_s']:.0f} img/s, data wait {row['data_wait']:.0%}{val}{best}"
        )


def _scalars(logits: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """`compute_metrics`' numbers at threshold 0.5 (logit 0), without the per-class APs."""
    metrics = compute_metrics(logits, targets, threshold=0.0)
    return {k: float(v) for k, v in metrics.items() if k not in ("per_class_AP", "ap_protocol")}


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def _checkpoint_epoch(path: Path) -> int | None:
    """The epoch a checkpoint file holds, read without loading its tensors."""
    try:
        epoch = torch.load(path, map_location="cpu", weights_only=True, mmap=True).get("epoch")
    except Exception:  # unreadable: not the committed epoch's file
        return None
    return int(epoch) if isinstance(epoch, int) else None


def _tensorboard(run_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # TensorBoard is optional
        return None
    return SummaryWriter(log_dir=str(run_dir / "tb"))


def _log(writer: Any, row: dict[str, Any]) -> None:
    if writer is None:
        return
    for key, value in row.items():
        if key != "epoch" and isinstance(value, float) and not math.isnan(value):
            writer.add_scalar(key, value, row["epoch"])
    writer.flush()


def train(
    cfg: RunConfig,
    resume: bool | str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
    *,
    mode: str = "end2end",
    cache_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Train ``cfg`` in ``mode`` (see `Trainer`); tears the process group down afterwards."""
    try:
        return Trainer(cfg, resume, overwrite, progress, mode=mode, cache_dir=cache_dir).fit()
    finally:
        cleanup_distributed()


def train_mode(
    mode: str,
    cfg: RunConfig,
    *,
    resume: bool | str | Path | None = None,
    cache_dir: str | Path | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """`train` with the mode first, for loops over modes."""
    return train(
        cfg, resume=resume, overwrite=overwrite, progress=progress, mode=mode, cache_dir=cache_dir
    )
