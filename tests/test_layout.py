"""The house rules, read from the source: no import circles, one list of the modes (the registry) reachable from
every surface, sizes that keep the code readable, and an install that puts no generic names into site-packages."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = [p for p in ROOT.rglob("*.py") if not {".venv", "tests", "bench", "build"} & set(p.relative_to(ROOT).parts)]


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def imports_at_run_time(path: Path) -> set[str]:
    """The project modules `path` imports when it runs (imports under `if TYPE_CHECKING:` never run)."""
    modules = {module_name(p) for p in PROJECT}
    tree = ast.parse(path.read_text())
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for node in ast.walk(block)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.ImportFrom) and node.level:  # relative: within the package
            package = module_name(path).rsplit(".", node.level)[0]
            names = [f"{package}.{node.module}" if node.module else package]
        else:
            continue
        for name in names:
            parts = name.split(".")
            match = next(
                (".".join(parts[:k]) for k in range(len(parts), 0, -1) if ".".join(parts[:k]) in modules), None
            )
            if match and match != module_name(path):
                found.add(match)
    return found


def test_no_module_imports_one_that_imports_it_back():
    graph = {module_name(path): imports_at_run_time(path) for path in PROJECT}
    circles = []

    def visit(module: str, trail: list[str]) -> None:
        for neighbour in sorted(graph.get(module, ())):
            if neighbour in trail:
                circles.append(" -> ".join([*trail[trail.index(neighbour) :], neighbour]))
            elif len(trail) < 12:
                visit(neighbour, [*trail, neighbour])

    for module in sorted(graph):
        visit(module, [module])
    assert not circles, sorted(set(circles))[:10]


def test_the_low_layers_import_nothing_above_them():
    """errors, catalogue and settings are leaves; the engine (pipelines) knows nothing of the app."""
    graph = {module_name(path): imports_at_run_time(path) for path in PROJECT}
    assert graph["errors"] == set() and graph["catalogue"] == set()
    assert graph["settings"] <= {"catalogue"}
    app_layers = {"model", "modes", "runners", "registry", "cards", "loading", "app", "cli", "batch", "pool", "tabs"}
    for module, imported in graph.items():
        if module.startswith("pipelines"):
            assert not {m.split(".")[0] for m in imported} & app_layers, (module, imported)


def mode_words() -> tuple[set[str], set[str]]:
    from registry import MODES

    names = {mode.name for mode in MODES} | {mode.card_mode for mode in MODES}
    methods = {mode.method for mode in MODES} | {f"process_{mode.method}" for mode in MODES}
    return names, methods - names


def test_only_the_registry_lists_the_modes():
    """No collection outside the registry spells three or more modes, and no method of a mode is named as text
    outside it. (The model catalogue keys its ControlNets by the guided modes' conditions, and a few model families
    share a mode's name, pix2pix and modelscope: those are not lists of modes.)"""
    names, methods = mode_words()
    found = []
    for path in PROJECT:
        if path.name == "registry.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in methods:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
            items = node.keys if isinstance(node, ast.Dict) else getattr(node, "elts", None)
            if isinstance(node, (ast.Dict, ast.List, ast.Tuple, ast.Set)) and items:
                spelled = {item.value for item in items if isinstance(item, ast.Constant) and item.value in names}
                if len(spelled) >= 3 and not (path.name == "catalogue.py" and spelled <= {"pose", "canny", "depth"}):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {sorted(spelled)}")
    assert not found, found


def test_every_mode_is_reachable_from_every_surface(tiny_models):
    """The Python API (its method and the process_ twin), the command line, a card, the device pool and a web
    endpoint: each mode of the registry on each."""
    from app import build_demo
    from cards import Card, mode_parameters
    from cli import build_parser, mode_help
    from model import Model
    from pool import ModelPool
    from registry import MODES
    from settings import Settings

    settings = Settings.from_env().with_tiny_models()
    model = Model(settings=settings)
    pool = ModelPool([model])
    endpoints = {d.get("api_name") for d in build_demo(model).config["dependencies"]}
    commands = build_parser()._subparsers._group_actions[0].choices["generate"]._actions  # type: ignore[union-attr]
    modes_of_the_cli = next(a.choices for a in commands if a.dest == "mode")
    for mode in MODES:
        fields = {f.name for f in dataclasses.fields(mode.call)} - {"notes"}
        assert callable(getattr(model, mode.method)) and callable(getattr(model, f"process_{mode.method}"))
        assert getattr(pool, mode.method).concurrency == 1  # routed to a free device
        assert mode.name in modes_of_the_cli and mode.summary in mode_help(mode.name)
        assert Card.read({"mode": mode.card_mode}).mode == mode.card_mode
        assert fields - {theirs for _, theirs in mode.renames} <= mode_parameters(mode.name) | {"path", "save_path"}
        assert mode.name in endpoints


def function_lengths(path: Path) -> dict[str, int]:
    tree = ast.parse(path.read_text())
    return {
        node.name: node.end_lineno - node.lineno + 1  # type: ignore[operator]
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }


def test_sizes_that_keep_the_code_readable():
    assert len((ROOT / "model.py").read_text().splitlines()) <= 350
    for name in ("model.py", "loading.py", "modes.py"):
        long = {f: n for f, n in function_lengths(ROOT / name).items() if n > 60}
        assert not long, (name, long)
    for tab in (ROOT / "tabs").glob("*.py"):
        lengths = function_lengths(tab)
        for builder in ("create_demo", "guided_demo"):  # guided_demo builds the four guided tabs
            assert lengths.get(builder, 0) <= 100, (tab.name, builder, lengths.get(builder))


@pytest.mark.slow
def test_a_wheel_installs_no_top_level_names(tmp_path):
    """`pip install .` puts nothing but its metadata into site-packages: no `app`, `model` or `utils` to collide
    with other distributions or the user's own files (the studio runs from its folder)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
        ],
        check=True,
        cwd=tmp_path,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("*.whl")
    top_level = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert top_level == {wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"}
