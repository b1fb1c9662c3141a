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
            "_config.py", "datasets.py", "pipelines.py", "noise.py"]
    core += [p.relative_to(SRC).as_posix() for p in (SRC / "io").glob("*.py")]
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


# -- layers and cycles, counting imports anywhere in a file (inside functions too) --------------------------------

UPPER = ("labelfree.imagej", "labelfree.batch", "labelfree.cli", "labelfree.batch_cli")


def _module_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (module level and inside functions)."""
    names = {}
    for path in SRC.rglob("*.py"):
        parts = ("labelfree",) + path.relative_to(SRC).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def resolve(name):
        while name and name not in names:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for mod, path in names.items():
        is_pkg = path.name == "__init__.py"
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    base = ".".join(pkg[: len(pkg) - node.level + 1] + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" for a in node.names] + [base]
            for t in targets:
                r = resolve(t) if t.startswith("labelfree") else None
                if r and r != mod and not mod.startswith(r + "."):
                    edges.add(r)
        graph[mod] = edges
    for mod, path in names.items():  # a package's face stands for its submodules
        if path.name == "__init__.py" and mod != "labelfree":
            graph[mod] |= {m for m in names if m.startswith(mod + ".") and "." not in m[len(mod) + 1:]}
    return graph


def test_no_import_cycles_between_modules():
    graph = _module_graph()
    index, low, stack, on, cycles = {}, {}, [], set(), []

    def visit(v, counter=[0]):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            inits = [c for c in comp if any(o.startswith(c + ".") for o in comp)]
            rest = [c for c in comp if c not in inits]
            keep = [c for c in comp if not (c in inits and all(r.startswith(c + ".") for r in rest))]
            if len(keep) > 1:
                cycles.append(sorted(keep))

    for v in list(graph):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_layers_point_one_way():
    """core -> io -> pipelines/registration -> bridge/batch/CLI: nothing below reaches up."""
    graph = _module_graph()
    lower = [m for m in graph if not m.startswith(UPPER) and not m.endswith(".cli") and m not in ("labelfree", "labelfree.__main__")]
    ups = sorted(f"{m} -> {t}" for m in lower for t in graph[m] if t.startswith(UPPER))
    assert not ups, ups


_LOOKUPS = {"get_pipeline", "get_command", "run_pipeline", "command_spec", "command_fields", "resolve",
            "prepare_image", "coerce_config", "run_command"}


def _pipeline_references(tree, name: str, package: str):
    """Where a module refers to a pipeline: imports or module paths of its package, its name handed to a
    registry lookup, or compared with (a word like "threshold" used for something else does not count)."""
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            yield from (f"import {n}" for n in names if n == package or n.startswith(package + "."))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and (
                node.value == package or node.value.startswith(package + ".") or node.value.startswith(package + ":")):
            yield repr(node.value)
        elif isinstance(node, ast.Call):
            func = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if func in _LOOKUPS and any(isinstance(a, ast.Constant) and a.value == name for a in node.args):
                yield f"{func}({name!r})"
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            about_pipelines = any(getattr(c, "id", getattr(c, "attr", "")) in ("pipeline", "name", "key", "command")
                                  for c in sides)
            if about_pipelines and any(isinstance(c, ast.Constant) and c.value == name for c in sides):
                yield f"comparison with {name!r}"


def test_a_pipeline_is_named_only_in_its_package_and_the_registry():
    """A search for a pipeline's name outside its package finds only the registry (labelfree.pipelines)."""
    from labelfree.pipelines import pipelines

    offenders = []
    for spec in pipelines().values():
        package = spec.segment.split(":")[0].rsplit(".", 1)[0]  # labelfree.<name>
        for path in SRC.rglob("*.py"):
            mod = "labelfree." + ".".join(path.relative_to(SRC).with_suffix("").parts)
            if mod == package or mod.startswith(package + ".") or mod == "labelfree.pipelines":
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            offenders += [f"{path.relative_to(SRC)}: {ref}" for ref in _pipeline_references(tree, spec.name, package)]
    assert not offenders, offenders


def test_every_option_has_its_own_help_and_first_dialogs_stay_small():
    from labelfree.imagej.fields import command_fields, split_fields
    from labelfree.pipelines import pipelines, tools

    for spec in (*pipelines().values(), *tools().values()):
        fields = command_fields(spec.name)
        helps = [f.help for f in fields]
        assert all(h.strip() for h in helps), [f.key for f in fields if not f.help.strip()]
        assert len(set(helps)) == len(helps), f"{spec.name}: two options share a help text"
        basic, _ = split_fields(fields)
        assert 1 <= len(basic) <= 12, f"{spec.name}: {len(basic)} fields in the first dialog"


def test_the_version_is_written_once():
    """pyproject.toml reads the version from labelfree.__version__ (it was written in both, free to drift)."""
    import importlib.metadata
    import tomllib

    import labelfree

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "labelfree.__version__"}
    assert importlib.metadata.version("labelfree") == labelfree.__version__
