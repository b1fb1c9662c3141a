"""Layer contracts of the package, checked on the source (see CONTRIBUTING.md)."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "labelfree"
HEAVY = {"torch", "cellpose", "imagej", "scyjava", "jpype", "dask", "distributed"}


def modules():
    for path in sorted(SRC.rglob("*.py")):
        yield path.relative_to(SRC).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def imported_names(tree, *, top_level_only):
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


@pytest.mark.parametrize("name, tree", list(modules()), ids=lambda v: v if isinstance(v, str) else "")
def test_no_heavy_import_at_module_level(name, tree):
    heavy = {m for m in imported_names(tree, top_level_only=True) if m.split(".")[0] in HEAVY}
    assert not heavy, f"{name} imports {heavy} at module level; import inside the function that needs it"


@pytest.mark.parametrize("pipeline", ["motion", "cutter", "fusion"])
def test_pipelines_never_import_the_bridge_batch_or_cli(pipeline):
    for path in (SRC / pipeline).rglob("*.py"):
        if path.name == "cli.py":  # the pipeline's own sub-commands may use the CLI helpers
            continue
        names = set(imported_names(ast.parse(path.read_text(encoding="utf-8")), top_level_only=False))
        bad = {n for n in names if n.startswith(("labelfree.imagej", "labelfree.batch", "labelfree.cli"))}
        assert not bad, f"{path.relative_to(SRC)} imports {bad}"


def test_core_modules_do_not_import_pipelines_or_bridge_at_module_level():
    core = ["image.py", "labels.py", "metrics.py", "measure.py", "errors.py", "_deps.py", "_progress.py",
            "_config.py", "datasets.py", "pipelines.py"] + [p.relative_to(SRC).as_posix() for p in (SRC / "io").glob("*.py")]
    for name in core:
        tree = ast.parse((SRC / name).read_text(encoding="utf-8"))
        bad = {
            n for n in imported_names(tree, top_level_only=True)
            if n.startswith(("labelfree.motion", "labelfree.cutter", "labelfree.fusion", "labelfree.imagej",
                             "labelfree.batch", "labelfree.registration"))
        }
        assert not bad, f"{name} imports {bad} at module level"


def test_no_print_in_library_code():
    for name, tree in modules():
        if name.endswith("cli.py") or name in ("cli_core.py", "batch_cli.py", "__main__.py"):
            continue
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "print"]
        assert not calls, f"{name} calls print() on line {calls[0].lineno}; use logging"
