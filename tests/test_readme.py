"""The README's "Your own data in five minutes": its config loads and every command in it
parses with the flags and overrides it gives, so that a newcomer following it meets no error
the text caused. (The commands' behaviour is tested where each command is.)"""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import pytest

from agcn_pyg.__main__ import COMMANDS
from agcn_pyg.analysis import run_table1 as table1
from agcn_pyg.config import load_run_config

REPO = Path(__file__).resolve().parents[1]
TITLE = "## Your own data in five minutes"


def _section() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert TITLE in text, "the README lost its own-data section"
    rest = text.split(TITLE, 1)[1]
    return rest.split("\n## ", 1)[0]


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", _section(), re.S)


def _commands() -> list[list[str]]:
    lines = [
        line.split("#", 1)[0].strip() for block in _blocks("bash") for line in block.splitlines()
    ]
    return [shlex.split(line) for line in lines if line]


def test_the_config_loads_with_every_override_the_section_gives(tmp_path: Path) -> None:
    (config,) = _blocks("yaml")
    path = tmp_path / "my_data.yaml"
    path.write_text(config, encoding="utf-8")
    cfg = load_run_config(path)
    assert cfg.data.dataset == "csv" and cfg.data.embeddings == "minilm"
    assert cfg.data.holdout is not None  # the epoch is chosen off the reported split
    for argv in _commands():
        if argv[:2] == ["agcn", "train"]:
            load_run_config(path, [a for a in argv[2:] if "=" in a and not a.startswith("-")])
        if argv[:2] == ["agcn", "run-table1"]:
            # the rows, layers and seeds it names resolve to run configs (no data read)
            args = table1.get_args_parser().parse_intermixed_args(argv[2:])
            rows = table1.row_configs(
                path,
                args.overrides,
                table1.parse_rows(args.rows),
                tmp_path,
                table1.parse_gnns(args.gnns),
                table1.parse_seeds(args.seeds),
            )
            assert rows and all(cfg.data.holdout is not None for _, cfg in rows)


@pytest.mark.parametrize("argv", _commands(), ids=lambda argv: " ".join(argv[:3]))
def test_every_command_parses(argv: list[str]) -> None:
    if argv[0] == "python":
        assert argv[1:3] == ["-m", "agcn_pyg.demo.weights"]
        module, rest = importlib.import_module(argv[2]), argv[3:]
    else:
        assert argv[0] == "agcn" and argv[1] in COMMANDS, argv
        module, rest = importlib.import_module(COMMANDS[argv[1]][0]), argv[2:]
    args = module.get_args_parser().parse_intermixed_args(rest)
    assert args is not None
