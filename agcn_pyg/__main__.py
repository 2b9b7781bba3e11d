"""`python -m agcn_pyg <command>` and the `agcn` console script.

Every command's module is imported only when it runs, and builds its parser without torch,
timm, PyG, matplotlib or pandas (each ``main`` imports what it needs), so that ``agcn`` and
``agcn <command> --help`` answer at once.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import platform
import sys
import warnings
from collections.abc import Iterator, Sequence
from importlib import metadata

from agcn_pyg._version import __version__
from agcn_pyg.analysis import COMMANDS as ANALYSIS_COMMANDS
from agcn_pyg.errors import AgcnError
from agcn_pyg.schema import brief

# Each module exposes get_args_parser() and main(args), as torchvision's references do.
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("agcn_pyg.commands.train", "train a model from a YAML config"),
    "evaluate": ("agcn_pyg.commands.evaluate", "evaluate a checkpoint, tune thresholds"),
    "predict": ("agcn_pyg.commands.predict", "label images, folders or a list file"),
    "embed-labels": ("agcn_pyg.commands.embed_labels", "write label embeddings E to .npz"),
    "prepare": ("agcn_pyg.commands.prepare", "write label statistics and embeddings"),
    "import-official": (
        "agcn_pyg.commands.import_official",
        "convert an official A-GCN / ML-GCN checkpoint",
    ),
    "demo": ("agcn_pyg.commands.demo", "build the demo data set, train, write a report"),
    # The analysis tools (`agcn_pyg.analysis`), loaded as the others only when they run.
    **ANALYSIS_COMMANDS,
}


#: the libraries whose versions ``agcn --version`` reports beside the package's
LIBRARIES = ("torch", "torchvision", "timm", "torch_geometric")


def _usage() -> str:
    lines = ["usage: agcn <command> [options]", "       agcn --version", "", "commands:"]
    lines += [f"  {name:<16}{help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def version_lines() -> list[str]:
    """``agcn_pyg <version>`` and the versions of Python and `LIBRARIES`, read from the
    installed distributions' metadata: no library is imported, so the answer is immediate."""
    found = []
    for name in LIBRARIES:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} not installed")
    return [f"agcn_pyg {__version__}", f"python {platform.python_version()}, {', '.join(found)}"]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print(_usage())
        return 0
    if argv[0] in {"-V", "--version"}:
        print("\n".join(version_lines()))
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        close = difflib.get_close_matches(name, list(COMMANDS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        print(f"agcn: unknown command {brief(name)}{hint}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    parser: argparse.ArgumentParser = module.get_args_parser()
    parser.prog = f"agcn {name}"
    # Intermixed: key=value overrides may stand before, between or after the flags. argparse
    # documents a TypeError for parsers that cannot be read that way (subcommands: prepare).
    try:
        args = parser.parse_intermixed_args(rest)
    except TypeError:
        args = parser.parse_args(rest)
    try:
        with one_line_warnings():
            return int(module.main(args) or 0)
    except AgcnError as err:
        print(f"agcn {name}: error: {one_line(err)}", file=sys.stderr)
        return 2


@contextlib.contextmanager
def one_line_warnings() -> Iterator[None]:
    """Warnings as ``warning: <message>`` lines while a command runs: Python's default format
    adds the file, line number and source line of the warning, which a user's log does not
    need."""
    default = warnings.formatwarning
    warnings.formatwarning = lambda message, *_, **__: f"warning: {message}\n"
    try:
        yield
    finally:
        warnings.formatwarning = default


def one_line(err: BaseException) -> str:
    """The error's message on one line; for errors re-raised from a DataLoader worker (whose
    message carries the worker's traceback) the original message, marked as such."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    if len(lines) > 1 and lines[0].startswith("Caught "):
        last = lines[-1]
        prefix = f"{type(err).__module__}.{type(err).__name__}: "
        return f"{last.removeprefix(prefix)} (in a DataLoader worker)"
    return " ".join(lines)


if __name__ == "__main__":
    sys.exit(main())
