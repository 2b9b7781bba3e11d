"""The command line as a first-time user meets it: help and --version at once, a "did you
mean" for a mistyped name, one bounded line for every mistake, offline hub weights refused
in seconds. No model is trained here (issue 21, items 2-4; issue 23, cases 16, 18 and 20)."""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import socket
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path

import pytest

from agcn_pyg.__main__ import COMMANDS, main
from agcn_pyg.commands.options import progress_default
from agcn_pyg.config import load_run_config
from agcn_pyg.errors import ConfigError, PretrainedWeightsError
from agcn_pyg.models import hub
from agcn_pyg.models.backbone import create_timm_backbone
from agcn_pyg.registry import Registry, RegistryError

REPO = Path(__file__).resolve().parents[1]
#: what no command may import before its arguments are parsed
HEAVY = (
    "torch",
    "torchvision",
    "timm",
    "torch_geometric",
    "matplotlib",
    "pandas",
    "scipy",
    "sklearn",
    "sentence_transformers",
)


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


# --- help and version ------------------------------------------------------------------------

_HELP_PROBE = """
import contextlib, io, json, sys
from agcn_pyg.__main__ import COMMANDS, main
heavy = {heavy!r}
found = {{}}
for name in COMMANDS:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            code = main([name, "--help"])
        except SystemExit as stop:
            code = stop.code
    found[name] = [code, out.getvalue().startswith("usage: agcn " + name),
                   sorted(m for m in heavy if m in sys.modules)]
import agcn_pyg.config  # the control: the scan sees what the config imports
found["control"] = sorted(m for m in heavy if m in sys.modules)
print(json.dumps(found))
"""


def test_no_command_imports_a_heavy_library_to_show_its_help(tmp_path: Path) -> None:
    # One process, the commands in turn: a heavy import shows at the first command that made it.
    proc = _python(_HELP_PROBE.format(heavy=HEAVY), tmp_path)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout.splitlines()[-1])
    control = found.pop("control")
    assert set(found) == set(COMMANDS)
    for name, (code, usage, heavy) in found.items():
        assert (code, usage, heavy) == (0, True, []), name
    assert {"torch", "timm", "torch_geometric"} <= set(control)


def test_version_names_the_package_and_its_libraries_without_importing_them(
    tmp_path: Path,
) -> None:
    code = (
        "import sys; from agcn_pyg.__main__ import main; rc = main(['--version']); "
        "main(['-V']); print(rc, 'torch' in sys.modules)"
    )
    proc = _python(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    from agcn_pyg import __version__

    assert lines[0] == f"agcn_pyg {__version__}" and lines[2] == lines[0]
    for library in ("torch", "torchvision", "timm", "torch_geometric"):
        assert f"{library} {importlib.metadata.version(library)}" in lines[1]
    assert lines[-1] == "0 False"


def test_an_unknown_command_gets_the_closest_one(capsys) -> None:
    assert main(["evalute"]) == 2
    assert "unknown command 'evalute'; did you mean 'evaluate'?" in capsys.readouterr().err


def test_pyg_s_deprecation_notice_is_silenced_where_pyg_is_imported(tmp_path: Path) -> None:
    # PyG scripts helpers at import time; `agcn`'s filter covered some commands only, and
    # `plot-adjacency` and the Python API printed torch's FutureWarning.
    code = "import agcn_pyg.models, agcn_pyg.analysis.plot_adjacency; print('quiet')"
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "error::FutureWarning"}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0 and proc.stdout == "quiet\n", proc.stderr[-500:]


def test_a_command_s_warnings_are_one_line_each(tmp_path: Path) -> None:
    # Python's default format adds the warning's file, line and source line: a run's log
    # showed a line of the trainer's code under the identity-graph warning.
    code = (
        "import warnings\n"
        "from agcn_pyg.__main__ import one_line_warnings\n"
        "with one_line_warnings():\n"
        "    warnings.warn('the graph is the identity', RuntimeWarning)\n"
        "warnings.warn('outside', UserWarning)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    lines = proc.stderr.splitlines()
    assert lines[0] == "warning: the graph is the identity", proc.stderr
    assert "UserWarning: outside" in lines[1]  # the default again after the command


# --- forgiving names ---------------------------------------------------------------------------


def test_registry_names_and_config_keys_get_a_did_you_mean() -> None:
    layers = Registry("GNN layer")
    for name in ("gat", "gcn", "graphconv"):
        layers.add(name, object())
    with pytest.raises(RegistryError, match=r"did you mean 'gcn'\?$"):
        layers.get("gcnn")
    with pytest.raises(RegistryError, match=r"^model\.gnn: .*got 'gcnn' .*did you mean 'gcn'"):
        layers.get("gcnn", field="model.gnn")
    with pytest.raises(RegistryError) as far:
        layers.get("transformer")
    assert "did you mean" not in str(far.value)  # nothing close: no guess
    cases = {
        "model.gnn=GAT": "model.gnn: expected one of ['gat', 'gatv2', 'gcn', 'graphconv', "
        "'transformer'], got 'GAT'; did you mean 'gat'",
        "train.optimizer=adam": "did you mean 'adamw'?",
        "train.epoch=3": "unknown config key train.epoch; valid keys: ",
    }
    for override, message in cases.items():
        with pytest.raises(ConfigError, match=None) as caught:
            load_run_config(None, [override])
        assert message in str(caught.value), str(caught.value)
    with pytest.raises(ConfigError, match=r"did you mean 'epochs' or 'step_epochs'\?"):
        load_run_config(None, ["train.epoch=3"])


def test_train_without_a_config_says_that_none_was_given(capsys) -> None:
    assert main(["train"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("agcn train: error: no config given: pass -c CONFIG")
    assert "data.train.csv_file=" in err and len(err.splitlines()) == 1
    assert main(["train", "--print-config"]) == 0  # the defaults are still printable
    assert "num_classes: null" in capsys.readouterr().out


def test_num_classes_defaults_to_the_data_s_and_a_model_needs_one() -> None:
    from agcn_pyg.models import AGCNConfig, create_model

    assert load_run_config(None).model.num_classes is None
    with pytest.raises(ConfigError, match=r"model\.num_classes: a model needs the number"):
        create_model(AGCNConfig(backbone="test_resnet", graph="none"))
    assert create_model(AGCNConfig(backbone="test_resnet", graph="none"), 3).num_classes == 3


def test_yaml_on_and_off_mean_the_amp_modes_and_other_words_say_to_quote(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    for written, expected in [("off", "off"), ("no", "off"), ("on", "auto"), ("fp16", "fp16")]:
        config.write_text(f"train:\n  amp: {written}\n")  # unquoted: YAML 1.1 booleans
        assert load_run_config(config).train.amp == expected, written
    assert load_run_config(None, ["train.amp=off"]).train.amp == "off"
    config.write_text("data:\n  difficult: no\n")
    with pytest.raises(ConfigError, match=r"expected str, got False .*quote the word"):
        load_run_config(config)


# --- bounded errors ----------------------------------------------------------------------------


def _alias_bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for k in range(1, levels):
        lines.append(f"a{k}: &a{k} [" + ",".join([f"*a{k - 1}"] * 9) + "]")
    return "\n".join([*lines, f"name: *a{levels - 1}", ""])


def test_a_yaml_alias_bomb_is_refused_before_it_expands(tmp_path: Path, capsys) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(_alias_bomb())  # 9⁹ strings once expanded: gigabytes
    assert len(bomb.read_bytes()) < 600
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match=r"line 2 invalid YAML \(YAML aliases \(\*a0\)"):
            load_run_config(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5 * 2**20
    assert main(["train", "-c", str(bomb)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and len(err) < 400
    with pytest.raises(ConfigError, match=r"override 'name=\[&x 1, \*x\]': YAML aliases"):
        load_run_config(None, ["name=[&x 1, *x]"])


def test_an_error_line_quotes_a_bounded_part_of_a_value(capsys) -> None:
    for override in ["name=" + "ab/" * 20_000, "model." + "k" * 20_000 + "=1"]:
        assert main(["train", override, "--print-config"]) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and len(err) < 600, err[:100]  # of 60 000 given


# --- flags, checked as config values are --------------------------------------------------------

BAD_FLAGS = [
    (["--batch-size", "0"], "--batch-size: expected an int ≥ 1, got 0"),
    (["--workers", "-1"], "--workers: expected an int ≥ 0, got -1"),
    (["--device", "foo"], "--device: expected auto or a torch device of type cpu"),
    (["--amp", "half"], "--amp: expected one of ['auto', 'bf16', 'fp16', 'off'], got 'half'"),
]


@pytest.mark.parametrize("command", ["predict", "evaluate"])
@pytest.mark.parametrize(("flags", "message"), BAD_FLAGS, ids=[f[0][0] for f in BAD_FLAGS])
def test_inference_flags_are_checked_before_anything_is_read(
    command: str, flags: list[str], message: str, tmp_path: Path, capsys
) -> None:
    # The checkpoint does not exist: the flags are refused before it is opened.
    argv = [command, str(tmp_path / "none.pt"), *([str(tmp_path)] if command == "predict" else [])]
    assert main([*argv, *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"agcn {command}: error: {message}") and len(err.splitlines()) == 1


@pytest.mark.parametrize("command", ["plot-adjacency", "plot-ap-delta"])
def test_a_figure_needs_a_positive_dpi(command: str, tmp_path: Path, capsys) -> None:
    files = [str(tmp_path / "a")] * (2 if command == "plot-ap-delta" else 1)
    assert main([command, *files, "--dpi", "0"]) == 2
    assert "error: --dpi: expected a finite number > 0, got 0.0" in capsys.readouterr().err


def test_predict_reads_a_list_file_as_utf8_and_names_its_bad_line(tmp_path: Path, capsys) -> None:
    listing = tmp_path / "list.txt"
    listing.write_bytes(b"a.png\n\xff\xfe.png\n")
    assert main(["predict", str(tmp_path / "none.pt"), "--list", str(listing)]) == 2
    assert f"error: {listing}:2: not UTF-8 text" in capsys.readouterr().err


def test_prepare_refuses_a_file_as_out_and_an_earlier_prepares_files(
    tmp_path: Path, capsys
) -> None:
    argv = ["prepare", "csv", "--train-csv", str(tmp_path / "none.csv"), "--sources", "onehot"]
    existing = tmp_path / "taken.txt"
    existing.write_text("mine")
    assert main([*argv, "--out", str(existing)]) == 2
    assert f"--out {existing}: a file, not a folder" in capsys.readouterr().err
    earlier = tmp_path / "prepared"
    earlier.mkdir()
    (earlier / "labels.txt").write_text("cat\n")
    assert main([*argv, "--out", str(earlier)]) == 2
    assert "holds labels.txt from an earlier prepare: pass --overwrite" in capsys.readouterr().err
    assert existing.read_text() == "mine" and (earlier / "labels.txt").read_text() == "cat\n"
    coco = ["prepare", "coco", "--ann-file", "a", "--image-dir", "b", "--out", str(earlier)]
    assert main([*coco, "--order", "nme"]) == 2
    assert "--order: expected one of ['name', 'id'], got 'nme'; did you mean 'name'?" in (
        capsys.readouterr().err
    )


def test_embed_labels_checks_its_source_and_never_replaces_a_file_unasked(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    labels = tmp_path / "labels.txt"
    labels.write_text("cat\ndog\n")
    argv = ["embed-labels", "--labels", "~/labels.txt", "--out", "~/e.npz"]
    assert main([*argv, "--source", "glov"]) == 2
    assert "--source: expected one of ['file', 'glove50', 'minilm', 'onehot'], got 'glov'" in (
        capsys.readouterr().err
    )
    assert main([*argv, "--source", "onehot"]) == 0  # ~ is the home folder, as in a shell
    assert (tmp_path / "e.npz").is_file() and not Path("~").exists()
    assert main([*argv, "--source", "onehot"]) == 2
    assert "e.npz exists: pass --overwrite to replace it" in capsys.readouterr().err
    assert main([*argv, "--source", "onehot", "--overwrite"]) == 0


def _help_of(parser, dest: str) -> str:
    return next(action.help for action in parser._actions if action.dest == dest)


def test_help_that_lists_choices_lists_the_ones_main_accepts() -> None:
    # The parsers do not import what defines these values (help stays fast); `main` checks
    # them against it. This keeps the help's lists and the checks the same.
    import re

    from agcn_pyg.commands import demo, embed_labels, predict, prepare
    from agcn_pyg.config import AMP_MODES
    from agcn_pyg.data.embeddings import EMBEDDING_SOURCES
    from agcn_pyg.data.images import BAD_IMAGE_POLICIES
    from agcn_pyg.demo.plan import MODES

    def words(text: str) -> set[str]:
        return set(re.findall(r"[a-z0-9_]+", text))

    expected = {
        (predict.get_args_parser(), "amp"): AMP_MODES,
        (embed_labels.get_args_parser(), "source"): EMBEDDING_SOURCES.names(),
        (demo.get_args_parser(), "mode"): list(MODES),
    }
    for name in prepare.PREPARE_TARGETS:
        target = prepare.PREPARE_TARGETS.get(name)
        child = argparse.ArgumentParser()
        target.add_arguments(child)
        prepare._add_common(child)
        for dest, values in {**target.choices(), "on_bad_image": BAD_IMAGE_POLICIES}.items():
            expected[(child, dest)] = values
        expected[(child, "sources")] = EMBEDDING_SOURCES.names()
    for (parser, dest), values in expected.items():
        assert set(values) <= words(_help_of(parser, dest)), (dest, values)


def test_progress_bars_default_to_off_where_stderr_is_not_a_terminal(monkeypatch) -> None:
    class Terminal:
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stderr", Terminal())
    assert progress_default() is False  # a terminal: bars on
    monkeypatch.setattr(sys, "stderr", open(os.devnull, "w"))  # noqa: SIM115
    try:
        assert progress_default() is True  # a file: --no-progress by default
    finally:
        sys.stderr.close()


# --- offline hub weights -----------------------------------------------------------------------


@pytest.fixture
def hub_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No offline switch, no proxy, the default endpoint; the hub client online (it reads its
    switch once, at import, maybe under another test's offline environment)."""
    from huggingface_hub import constants

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_ENDPOINT", *hub._PROXIES):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    return monkeypatch


def _fake_timm(monkeypatch: pytest.MonkeyPatch, cached: bool) -> list[bool]:
    """``timm.create_model`` that records whether the hub client was offline, and fails as
    ``huggingface_hub`` does offline without a cached file (or returns a model, ``cached``)."""
    import timm
    from huggingface_hub import constants
    from huggingface_hub.errors import LocalEntryNotFoundError

    seen: list[bool] = []
    original = timm.create_model

    def create_model(name: str, pretrained: bool = False, **kwargs):
        seen.append(constants.is_offline_mode())
        if pretrained and constants.is_offline_mode() and not cached:
            raise LocalEntryNotFoundError("no cached file, offline mode")
        return original(name, pretrained=False, **kwargs)

    monkeypatch.setattr(timm, "create_model", create_model)
    return seen


def test_offline_pretrained_weights_fail_at_once_with_one_line(hub_env) -> None:
    def unreachable(address, timeout=None):
        raise OSError(101, "Network is unreachable")

    hub_env.setattr(socket, "create_connection", unreachable)
    seen = _fake_timm(hub_env, cached=False)
    from huggingface_hub import constants

    before = constants.HF_HUB_OFFLINE
    with pytest.raises(PretrainedWeightsError) as caught:
        create_timm_backbone("test_resnet", True)
    message = str(caught.value)
    assert "no connection to huggingface.co (Network is unreachable)" in message
    assert "pretrained='<weights file>'" in message and len(message.splitlines()) == 1
    assert seen == [True]  # timm asked the hub client in its offline mode: no retries
    assert before == constants.HF_HUB_OFFLINE  # restored


def test_offline_cached_weights_still_load_and_a_reachable_hub_is_asked(hub_env) -> None:
    hub_env.setattr(socket, "create_connection", lambda address, timeout=None: _Closing())
    seen = _fake_timm(hub_env, cached=True)
    assert create_timm_backbone("test_resnet", True).num_features > 0
    assert seen == [False]  # reachable: the hub client as it is

    def unreachable(address, timeout=None):
        raise OSError(-2, "Name or service not known")

    hub_env.setattr(socket, "create_connection", unreachable)
    assert create_timm_backbone("test_resnet", True).num_features > 0
    assert seen == [False, True]  # offline, from the cache


def test_the_offline_switch_answers_without_a_probe(hub_env) -> None:
    def probe(address, timeout=None):
        raise AssertionError("probed although HF_HUB_OFFLINE is set")

    hub_env.setattr(socket, "create_connection", probe)
    hub_env.setenv("HF_HUB_OFFLINE", "1")
    assert hub.hub_unreachable() == "HF_HUB_OFFLINE is set"
    hub_env.delenv("HF_HUB_OFFLINE")
    hub_env.setenv("HTTPS_PROXY", "http://proxy:3128")
    assert hub.hub_unreachable() is None  # the proxy's to reach; nothing probed


def test_a_name_lookup_that_hangs_is_cut_short(hub_env) -> None:
    release = threading.Event()

    def hang(address, timeout=None):
        release.wait(30)
        return _Closing()

    hub_env.setattr(socket, "create_connection", hang)
    try:
        assert hub.hub_unreachable(timeout=0.2) == "no connection to huggingface.co within 0.2 s"
    finally:
        release.set()


class _Closing(contextlib.AbstractContextManager):
    def __exit__(self, *exc: object) -> None:
        return None
