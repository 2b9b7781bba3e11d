"""Package boundaries: what the installed wheel holds and how its parts import each other.

Static checks (AST scans and a few subprocesses), no wheel build: the package never reaches
outside itself for code or files, ``analysis`` and ``demo`` use the engine's public names
only, nothing edits ``sys.path``, and the analysis tools run as ``agcn`` sub-commands.
"""

from __future__ import annotations

import ast
import importlib
import os
import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import agcn_pyg
import agcn_pyg.engine
from agcn_pyg.__main__ import COMMANDS

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "agcn_pyg"
ANALYSIS_TOOLS = [
    "plot_adjacency",
    "plot_ap_delta",
    "results_table",
    "run_table1",
    "alpha_sweep",
    "end2end_gap",
]


def _modules(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _imported(tree: ast.Module) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def _engine_submodules() -> set[str]:
    return {info.name for info in pkgutil.iter_modules(agcn_pyg.engine.__path__)}


@pytest.mark.parametrize("folder", ["analysis", "demo"])
def test_analysis_and_demo_use_only_the_engines_public_names(folder: str) -> None:
    submodules = {f"agcn_pyg.engine.{name}" for name in _engine_submodules()}
    offenders = []
    for path in _modules(PACKAGE / folder):
        for name in _imported(_tree(path)):
            if any(name == sub or name.startswith(f"{sub}.") for sub in submodules):
                offenders.append(f"{path.relative_to(REPO)}: {name}")
    assert offenders == []


def test_the_scan_sees_a_private_engine_import() -> None:
    # The scan above must not pass by reading nothing.
    probe = ast.parse("from agcn_pyg.engine.trainer import train_mode\n")
    assert "agcn_pyg.engine.trainer" in _imported(probe)
    assert "trainer" in _engine_submodules()


def test_the_engines_public_names_resolve_and_shadow_no_submodule() -> None:
    engine = agcn_pyg.engine
    # An exported name equal to a submodule would flip between the function and the module
    # with import order (as `train` did beside `engine/train.py`), so none may exist.
    assert set(engine.__all__).isdisjoint(_engine_submodules())
    for name in engine.__all__:
        value = getattr(engine, name)
        assert getattr(value, "__name__", name) == name or name.isupper(), name
    assert callable(agcn_pyg.train) and agcn_pyg.train.__module__ == "agcn_pyg.engine.trainer"
    assert engine.train is agcn_pyg.train
    assert engine.load_model is agcn_pyg.load_model


def _sys_path_edits(tree: ast.Module) -> int:
    return sum(
        isinstance(node, ast.Attribute)
        and node.attr == "path"
        and isinstance(node.value, ast.Name)
        and node.value.id == "sys"
        for node in ast.walk(tree)
    )


def test_nothing_edits_sys_path() -> None:
    files = [*_modules(PACKAGE), *_modules(REPO / "analysis"), *_modules(REPO / "bench")]
    files += _modules(REPO / "tests")
    offenders = [str(p.relative_to(REPO)) for p in files if _sys_path_edits(_tree(p))]
    assert offenders == []
    assert _sys_path_edits(ast.parse("import sys\nsys.path.insert(0, 'x')\n")) == 1


def _reaches_outside(tree: ast.Module) -> list[int]:
    """Lines that climb from a module's own file towards a repository root: ``.parents``
    or ``.parent.parent``."""
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        climbs = isinstance(node.value, ast.Attribute) and node.value.attr == "parent"
        if node.attr == "parents" or (node.attr == "parent" and climbs):
            lines.append(node.lineno)
    return lines


def test_no_package_module_resolves_paths_outside_the_package() -> None:
    offenders = {
        str(p.relative_to(REPO)): lines
        for p in _modules(PACKAGE)
        if (lines := _reaches_outside(_tree(p)))
    }
    assert offenders == {}
    assert _reaches_outside(ast.parse("Path(__file__).resolve().parents[2]\n")) == [1]


def test_package_data_covers_every_non_python_file_the_package_holds() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = pyproject["tool"]["setuptools"]
    assert setuptools["packages"]["find"]["include"] == ["agcn_pyg*"]
    declared = setuptools.get("package-data", {})
    tracked = subprocess.run(
        ["git", "ls-files", "agcn_pyg"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    data = [f for f in tracked if not f.endswith(".py")]
    # A linked folder (agcn_pyg/configs -> ../configs) ships the files it holds.
    data = [
        f"{name}/{child.name}" if (REPO / name).is_dir() else name
        for name in data
        for child in (sorted((REPO / name).iterdir()) if (REPO / name).is_dir() else [None])
    ]
    assert "agcn_pyg/configs/coco_agcn.yaml" in data
    for name in data:
        parts = name.split("/")
        # the package that declares a file is the deepest folder above it with patterns
        owners = [
            ("/".join(parts[k:]), declared.get(".".join(parts[:k]), []))
            for k in range(len(parts) - 1, 0, -1)
        ]
        assert any(Path(rest).match(p) for rest, patterns in owners for p in patterns), (
            f"{name} is not package data"
        )
    # The test oracle ships with the tests, not the wheel.
    assert not (PACKAGE / "metrics_reference.py").exists()
    assert (REPO / "tests" / "metrics_reference.py").is_file()


def test_every_analysis_tool_is_an_agcn_command_and_a_thin_wrapper() -> None:
    for name in ANALYSIS_TOOLS:
        command = name.replace("_", "-")
        assert COMMANDS[command][0] == f"agcn_pyg.analysis.{name}"
        module = importlib.import_module(f"agcn_pyg.analysis.{name}")
        assert callable(module.get_args_parser) and callable(module.main)
        wrapper = REPO / "analysis" / f"{name}.py"
        assert f"from agcn_pyg.analysis.{name} import cli" in wrapper.read_text()
        assert len(wrapper.read_text().splitlines()) < 20
    assert not (REPO / "analysis" / "__init__.py").exists()


def _python(code: str | None, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # This checkout's package, whichever copy is installed in the environment.
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "ignore"}
    argv = [sys.executable, *(["-c", code] if code is not None else []), *args]
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_agcn_help_stays_light_and_tools_run_from_any_folder(tmp_path: Path) -> None:
    probe = (
        "import sys; from agcn_pyg.__main__ import main; main(['--help']); "
        "print(sorted(m for m in ('matplotlib', 'torch', 'scipy', 'pandas') if m in sys.modules))"
    )
    proc = _python(probe, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "plot-adjacency" in proc.stdout and proc.stdout.strip().endswith("[]")
    proc = _python(None, "-m", "agcn_pyg.analysis.plot_adjacency", "--help", cwd=tmp_path)
    assert proc.returncode == 0 and "checkpoint" in proc.stdout, proc.stderr
    proc = _python(None, "-m", "agcn_pyg", "results-table", str(tmp_path / "none"), cwd=tmp_path)
    assert proc.returncode == 2 and "agcn results-table: error:" in proc.stderr
    proc = _python(None, str(REPO / "analysis" / "plot_ap_delta.py"), "--help", cwd=tmp_path)
    assert proc.returncode == 0 and "eval_a" in proc.stdout, proc.stderr


# --- the import graph ------------------------------------------------------------------------

#: what each part of the package must never import (the layers point one way: the engine uses
#: models and data, the analysis uses the engine, never the reverse)
FORBIDDEN = {
    "agcn_pyg.models": ("agcn_pyg.engine", "agcn_pyg.config", "agcn_pyg.analysis"),
    "agcn_pyg.data": ("agcn_pyg.engine", "agcn_pyg.config", "agcn_pyg.analysis"),
    "agcn_pyg.schema": ("agcn_pyg.engine", "agcn_pyg.models"),
    "agcn_pyg.variants": ("agcn_pyg.engine", "agcn_pyg.models"),
}


def _module_names(root: Path) -> dict[str, Path]:
    names = {}
    for path in _modules(root):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _imports_of(tree: ast.Module, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The package's modules that ``module`` imports anywhere: at module level, inside
    functions and under ``TYPE_CHECKING``. ``from X import Y`` counts as importing ``X.Y``
    when that is a module, else ``X``; a name not a module counts as its closest module."""
    package = module if is_package else module.rpartition(".")[0]
    targets: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parts, *([base] if base else [])])
            targets += [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
    found = set()
    for name in targets:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != module:
            found.add(name)
    return found


def _import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    names = _module_names(root)
    return {
        name: _imports_of(_tree(path), name, path.name == "__init__.py", set(names))
        for name, path in names.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph.get(node, ())):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(f"{prefix}.")


def test_the_package_has_no_import_cycle() -> None:
    graph = _import_graph()
    assert len(graph) > 50 and "agcn_pyg.models.agcn" in graph
    assert _cycles(graph) == []


def test_dependencies_point_one_way() -> None:
    graph = _import_graph()
    offenders = sorted(
        f"{module} imports {target}"
        for module, targets in graph.items()
        for part, forbidden in FORBIDDEN.items()
        if _under(module, part)
        for target in targets
        if any(_under(target, f) for f in forbidden)
    )
    assert offenders == []


def test_the_import_scan_sees_every_kind_of_import(tmp_path: Path) -> None:
    # The checks above must not pass by reading nothing: a function-level, a TYPE_CHECKING, a
    # relative and a `from package import module` import all count, and so does a cycle.
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "sub" / "__init__.py").write_text("")
    (root / "a.py").write_text("def f():\n    from pkg.sub import b\n")
    (root / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import c\n"
    )
    (root / "sub" / "c.py").write_text("from ..a import f\n")
    graph = _import_graph(root)
    assert graph["pkg.a"] == {"pkg.sub.b"}
    assert graph["pkg.sub.b"] == {"pkg.sub.c"}
    assert graph["pkg.sub.c"] == {"pkg.a"}
    assert _cycles(graph) == [["pkg.a", "pkg.sub.b", "pkg.sub.c"]]
    assert _cycles({"x": {"y"}, "y": set()}) == []
