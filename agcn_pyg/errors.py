"""User-facing errors. The CLI prints their one-line message and exits with status 2."""

from __future__ import annotations


class AgcnError(Exception):
    """Base class for errors caused by input (files, configs, options), not by a bug."""


class ConfigError(AgcnError, ValueError):
    """A config value or command-line option is invalid; the message names the field."""


class DataError(AgcnError, ValueError):
    """A data file (image, annotation, label list, embedding) is missing or malformed."""


class CheckpointError(AgcnError):
    """A checkpoint is missing, truncated or does not describe the model asked for."""


class PretrainedWeightsError(AgcnError):
    """Pretrained weights could not be obtained (no network, missing or mismatched file)."""


class DegreeError(AgcnError):
    """Plain Eq. 4 (``model.guard: none``) met a row of A + I whose sum is not positive.

    ``row`` is the label's index; `with_label` names the label where its name is known.
    """

    def __init__(self, row: int, degree: float, label: str | None = None) -> None:
        self.row, self.degree, self.label = row, degree, label
        who = f"label {row}" if label is None else f"label {row} ({label!r})"
        super().__init__(
            f"Eq. 4 without a guard (model.guard=none): {who} has degree {degree:.6g}, the sum "
            "of its row of A + I, and D^-1/2 needs a positive one (the official A-GCN code "
            "would turn it into NaN); use model.guard=relu or signed"
        )

    def with_label(self, label_names: list[str]) -> DegreeError:
        if 0 <= self.row < len(label_names):
            return DegreeError(self.row, self.degree, label_names[self.row])
        return self


class StorageError(AgcnError):
    """A file could not be written: the disk is full, or the folder is not writable."""
