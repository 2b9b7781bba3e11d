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
