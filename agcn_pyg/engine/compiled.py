"""``train.compile``: the training step's model under ``torch.compile``, eager when that fails.

`resolve_compile` reads the setting: ``auto`` compiles on CUDA and not on the CPU, where
compiling a step takes longer than it saves in a short run. `CompiledModel` compiles the whole
module the step calls (backbone and head in one ``torch.compile``, the DDP wrapper included
under DDP, so its optimiser splits the graph at the gradient buckets). The module itself is
not changed: its state dict, checkpoints, EMA copy and evaluation stay eager.

``torch.compile`` fails lazily: it returns at once and compiles at the first call, forward
first and backward at the first backward. So the first `COMPILE_WARMUP_STEPS` steps run
through `CompiledModel.step`, which remembers the module's buffers (BatchNorm's running
statistics) and the RNG states before each; a failure restores them, says why in one line,
and runs the step eager, which then gives the same numbers an eager run would. Errors of the
run itself (`agcn_pyg.errors.AgcnError`: a diverged loss, a bad degree) are not compile
failures and go on up. The warm-up steps are also what the trainer leaves out of the epoch's
images/s (`agcn_pyg.engine.steptime`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from agcn_pyg.errors import AgcnError

#: steps that compile (forward, backward, and a recompile a second call may trigger)
COMPILE_WARMUP_STEPS = 2

T = TypeVar("T")


def resolve_compile(value: bool | str, device: torch.device) -> bool:
    """``train.compile``: ``True``/``False`` as given; ``auto`` compiles on CUDA only."""
    if value == "auto":
        return device.type == "cuda"
    return bool(value)


def _reason(err: BaseException) -> str:
    first = (str(err).strip().splitlines() or [""])[0][:200]
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


class CompiledModel:
    """The module a training step calls, compiled or eager.

    Args:
        module: what the step calls (the model, or its DDP wrapper).
        enabled: compile it (`resolve_compile`).
        say: where the one-line notice of a fallback goes.

    Attributes:
        module: the callable to use: ``torch.compile(module)``, or ``module`` itself.
        fallback: why compiling failed (``None``: it did not, or was not asked for).
    """

    def __init__(
        self, module: nn.Module, enabled: bool, say: Callable[[str], None] = print
    ) -> None:
        self.eager = module
        self.module: Callable[..., Any] = module
        self.fallback: str | None = None
        self.say = say
        self.warmup_left = 0
        self.warmup_seconds = 0.0
        self._reported = False
        if enabled:
            try:
                self.module = torch.compile(module)
            except Exception as err:  # torch.compile refused the module outright
                self._fall_back(err)
            else:
                self.warmup_left = COMPILE_WARMUP_STEPS

    @property
    def compiled(self) -> bool:
        return self.module is not self.eager

    @property
    def warming(self) -> bool:
        """Whether the next step is one of the compile warm-up steps."""
        return self.warmup_left > 0

    def warmup_done(self, seconds: float) -> str | None:
        """Add an epoch's warm-up ``seconds``; once the warm-up is over, the one line that
        says what it cost (``None`` before, after, and without a warm-up)."""
        self.warmup_seconds += seconds
        if self._reported or self.warming or not self.warmup_seconds:
            return None
        self._reported = True
        what = "compiling" if self.compiled else "a failed compile"
        return f"train.compile: the first steps ({what}) took {self.warmup_seconds:.1f} s"

    def _fall_back(self, err: BaseException) -> None:
        self.fallback = _reason(err)
        self.module = self.eager
        self.warmup_left = 0
        self.say(f"train.compile: torch.compile failed ({self.fallback}); training eager")

    def step(self, run: Callable[[Callable[..., Any]], T], state: nn.Module) -> T:
        """``run(module)``: one step's forward and backward. During the warm-up a failure
        restores ``state``'s buffers and the RNG states, and reruns the step eager."""
        if not self.warming:
            return run(self.module)
        saved = _snapshot(state)
        try:
            out = run(self.module)
        except AgcnError:
            raise
        except Exception as err:
            self._fall_back(err)
            _restore(state, saved)
            return run(self.module)
        self.warmup_left -= 1
        return out


def _snapshot(module: nn.Module) -> dict[str, Any]:
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    return {
        "buffers": {name: b.detach().clone() for name, b in module.named_buffers()},
        "cpu_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if cuda else None,
    }


def _restore(module: nn.Module, saved: dict[str, Any]) -> None:
    buffers: dict[str, Tensor] = saved["buffers"]
    with torch.no_grad():
        for name, buffer in module.named_buffers():
            buffer.copy_(buffers[name])
    module.zero_grad(set_to_none=True)
    torch.set_rng_state(saved["cpu_rng"])
    if saved["cuda_rng"] is not None:
        torch.cuda.set_rng_state_all(saved["cuda_rng"])
