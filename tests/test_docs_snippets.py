"""The user guide tells the truth: its commands, snippets, links and printed results.

Each test runs something a reader copies from README.md or docs/*.md (or checks what the text
says about it) and asserts the documented result, so a renamed flag, file or function breaks
a test instead of a user's first run.
"""
import ast
import contextlib
import dataclasses
import importlib
import inspect
import io
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labelfree.cli import main

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FLAG = re.compile(r"(?<![\w-])(--?[a-zA-Z][\w-]*)")


def _help(words: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()), contextlib.suppress(SystemExit):
        main([*words, "--help"])
    return out.getvalue()


def _doc_commands(text: str) -> list[str]:
    """`labelfree ...` lines of code blocks (fenced or indented), continuation lines joined."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, re.DOTALL)
    blocks += re.findall(r"(?m)^    (labelfree .*(?:\n {5,}.*)*)", text)
    found = []
    for block in blocks:
        for line in block.splitlines():
            s = line.strip()
            if s.startswith("labelfree "):
                found.append(s)
            elif found and line.startswith(" ") and s.startswith(("[", "--")) and found[-1] is not None:
                found[-1] += " " + s
            else:
                found.append(None)
    return [c.split("#")[0] for c in found if c]


def _heading_anchors(path: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    anchors, seen = set(), {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"#{1,6}\s+(.*)", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).replace("`", "").strip().lower()).replace(" ", "-")
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def test_every_documented_command_line_uses_existing_flags():
    """Every `--flag` in a documented `labelfree ...` command is in that (sub)command's --help."""
    checked, wrong = 0, []
    for doc in DOCS:
        for cmd in _doc_commands(doc.read_text(encoding="utf-8")):
            words = cmd.split()[1:]
            path = words[:1]
            if len(words) > 1 and not words[1].startswith("-"):
                verb = words[1].split("|")[0]
                if _help([words[0], verb]).startswith(f"usage: labelfree {words[0]} {verb}"):
                    path.append(verb)
            text = _help(path)
            assert text.startswith("usage:"), f"{doc.name}: `{cmd}`: no such command"
            unknown = sorted(set(FLAG.findall(cmd)) - set(FLAG.findall(text)))
            if unknown:
                wrong.append(f"{doc.name}: {unknown} in `{cmd}`")
            checked += 1
    assert checked > 30  # the guide's command lines were found
    assert not wrong, "\n".join(wrong)


def test_internal_links_and_anchors_resolve():
    checked, broken = 0, []
    for doc in DOCS:
        for target in re.findall(r"\[[^\]]*\]\(([^)\s]+)\)", doc.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            path, _, anchor = target.partition("#")
            dest = (doc.parent / path).resolve() if path else doc
            checked += 1
            if not dest.exists():
                broken.append(f"{doc.name}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in _heading_anchors(dest):
                broken.append(f"{doc.name}: {target} (no such heading)")
    assert checked > 20
    assert not broken, "\n".join(broken)


def _readme_block(first_line: str) -> str:
    """The fenced code block of README.md that starts with ``first_line``."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = next((b for b in re.findall(r"```[a-z]*\n(.*?)```", text, re.DOTALL) if b.startswith(first_line)), None)
    assert block is not None, f"README.md has no code block starting with {first_line!r}"
    return block


def _readme_command(block: str, start: str) -> list[str]:
    """The arguments of the README block's ``labelfree ...`` line that starts with ``start``, comment removed."""
    line = next(s for s in block.splitlines() if s.startswith(start))
    return shlex.split(line.split("#")[0])[1:]


def test_readme_quick_start_motion_on_the_bundled_movie(tmp_path, capsys, monkeypatch):
    """README "Use", copied in order: the sample's `cp` lines, `labelfree motion ...`, `labelfree eval ...`, then the
    Python block in the same folder; the outputs of concepts.md."""
    from labelfree.io import read_rois

    monkeypatch.chdir(tmp_path)
    copy = _readme_block('cp "$(python -c')
    python = shlex.quote(sys.executable)
    done = subprocess.run(["bash", "-euc", copy.replace('"$(python -c', f'"$({python} -c')], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert {p.name for p in tmp_path.iterdir()} == {"movie.tif", "gt_labels.tif"}
    use = _readme_block("labelfree motion movie.tif")
    assert main([*_readme_command(use, "labelfree motion "), "-q"]) == 0
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "movie_labels.tif", "movie_provenance.json", "movie_rois.zip", "movie_table.csv"]
    # docs/outputs.md, "Table": the columns, in order
    table = pd.read_csv(out / "movie_table.csv")
    assert list(table.columns) == ["label", "frame", "z", "area", "centroid_x", "centroid_y", "bbox_x", "bbox_y",
                                   "bbox_width", "bbox_height", "mean_intensity"]
    # concepts.md / outputs.md: ROIs named t<frame>-L<label>, 1-based frame, with their T position
    rois = read_rois(out / "movie_rois.zip")
    assert len(rois) == len(table)
    assert all(re.fullmatch(r"t\d{4}-L\d{5}", r.name) for r in rois)
    # outputs.md, "ROIs": a movie's ROI carries its 1-based frame as ImageJ's stack position
    assert [r.position for r in rois] == [int(r.name[1:5]) for r in rois] and rois[-1].position == 12
    capsys.readouterr()
    # an earlier result is replaced only with --overwrite (README)
    assert main([*_readme_command(use, "labelfree motion "), "-q"]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert main(_readme_command(use, "labelfree eval ")) == 0
    text = capsys.readouterr().out
    f1 = float(re.search(r"object F1\s+([\d.]+)", text).group(1))
    assert f1 >= 0.9  # `labelfree demo` prints object F1 1.000 on this movie
    # the README's Python block, run next in the same folder, writes beside the command's outputs, not over them
    namespace: dict = {}
    code = compile(_readme_block("import labelfree.motion"), "README.md", "exec")
    exec(code, namespace)  # noqa: S102 (the guide's snippet is the test)
    assert namespace["labels"].dtype == np.uint16 and int(namespace["labels"].max()) > 0
    assert len(list(out.iterdir())) == 4
    assert len([p for p in tmp_path.iterdir() if p.is_dir() and p != out and len(list(p.iterdir())) == 4]) == 1


def test_readme_python_snippet_and_write_outputs_paths(tmp_path):
    """README "Use" Python block and docs/outputs.md "Writing outputs": same coords, uint16, the four paths."""
    import labelfree.motion
    from labelfree import datasets
    from labelfree.io import read_image, write_outputs

    movie = read_image(datasets.SAMPLE_MOVIE)
    assert movie.dims == ("T", "Y", "X") and movie.X.attrs == {"units": "µm", "scale": 0.65}
    labels = labelfree.motion.segment(movie)
    assert labels.dtype == np.uint16 and labels.dims == movie.dims
    assert np.array_equal(labels.X.values, movie.X.values) and np.array_equal(labels["T"].values, movie["T"].values)
    paths = write_outputs(tmp_path / "results", labels, image=movie)
    stem = Path(datasets.SAMPLE_MOVIE).stem
    assert {k: p.name for k, p in paths.items()} == {
        "labels": f"{stem}_labels.tif", "rois": f"{stem}_rois.zip", "table": f"{stem}_table.csv",
        "provenance": f"{stem}_provenance.json"}


def test_registration_macro_strings_are_the_documented_ones():
    """docs/registration.md, "Fiji macro strings": the printed results of the two calls."""
    from labelfree.imagej.plugins import (
        correct_3d_drift_options,
        grid_stitching_options,
    )

    text = (REPO / "docs" / "registration.md").read_text(encoding="utf-8")
    drift, grid = re.findall(r"^# '(.*?)(?:'|\.\.\.')$", text, re.MULTILINE)
    assert correct_3d_drift_options(channel=1, sub_pixel=True, max_shift=(10, 10, 10)) == drift
    options = grid_stitching_options("/data/tiles", file_names="tile_{iii}.tif", grid=(3, 3), overlap=20)
    assert grid.endswith("grid_size_x=3 ") and options.startswith(grid)  # the doc cuts it after a space
    assert "order=[Right & Down" + " " * 16 + "]" in options  # "followed by 16 spaces"


def test_cutter_model_is_applied_with_the_channels_it_was_trained_on(tmp_path):
    """docs/cutter.md, "Python API": fit + save, then apply; the model brings its channels, others are refused."""
    from labelfree.cutter import CutterConfig, fit, segment
    from labelfree.datasets import synthetic_cells_and_nuclei
    from labelfree.errors import InputError

    image, truth = synthetic_cells_and_nuclei((96, 96), n_cells=4, seed=2)
    image = image.assign_coords(C=["actin", "dapi"])
    cfg = CutterConfig(cell_channels=("actin",), nucleus_channel="dapi", n_steps=2, area_size=64)
    nuclei_labels = np.zeros(truth.shape, np.uint16)
    for i in range(1, int(truth.max()) + 1):
        ys, xs = np.nonzero(truth.values == i)
        y, x = int(ys.mean()), int(xs.mean())
        nuclei_labels[y - 2:y + 3, x - 2:x + 3] = i
    model = fit(image, markers=nuclei_labels, config=cfg)
    model.save(tmp_path / "cells.pt")
    assert (tmp_path / "cells.pt.json").exists()  # "Model files": the sidecar
    labels = segment(image, markers=nuclei_labels, model=tmp_path / "cells.pt", config=cfg)
    assert labels.dtype == np.uint16 and labels.dims == ("Y", "X") and labels.attrs["labelfree"]["model_sha256"]
    alone = segment(image, markers=nuclei_labels, model=tmp_path / "cells.pt")  # no config: the model's channels
    np.testing.assert_array_equal(alone.values, labels.values)
    assert alone.attrs["labelfree"]["config"]["cell_channels"] == ["actin"]
    with pytest.raises(InputError, match="trained on 1 image channel"):
        segment(image, markers=nuclei_labels, model=tmp_path / "cells.pt", config={"cell_channels": ["actin", "dapi"]})


def test_batch_md_names_every_batchconfig_field():
    """docs/batch.md's list of BatchConfig fields names each of them (an error may tell a user to pass one)."""
    import dataclasses

    from labelfree.batch import BatchConfig

    text = (REPO / "docs" / "batch.md").read_text(encoding="utf-8")
    listed = text.split("`BatchConfig` fields:", 1)[1].split("\n\n", 1)[0]
    missing = [f.name for f in dataclasses.fields(BatchConfig) if f.init and f"`{f.name}" not in listed]
    assert not missing, f"docs/batch.md does not list the BatchConfig field(s) {missing}"
    # and the defaults it writes as `name=value` are BatchConfig's
    quoted = dict(re.findall(r"`(\w+)=([^`]+)`", listed))
    defaults = {f.name: f.default for f in dataclasses.fields(BatchConfig) if f.init}
    assert len(quoted) >= 15
    wrong = {k: (v, defaults[k]) for k, v in quoted.items() if ast.literal_eval(v) != defaults[k]}
    assert not wrong, f"docs/batch.md: quoted default vs BatchConfig's: {wrong}"


def test_the_documented_exit_code_of_a_usage_error_is_the_cli_s(tmp_path, capsys):
    """docs/cli.md and docs/batch.md give the exit code of a usage error; batch's own is that of every command."""
    for args in (["batch", str(tmp_path), "-p", "threshold", "-o", "out", "--bogus"],
                 ["batch", str(tmp_path), "-p", "threshold", "-o", ""],
                 ["threshold", "a.tif", "-o", "out", "--bogus"]):
        with pytest.raises(SystemExit) as exit_:
            main(args)
        assert exit_.value.code == 2
    capsys.readouterr()
    batch = re.sub(r"\s+", " ", (REPO / "docs" / "batch.md").read_text(encoding="utf-8"))
    assert re.search(r"Exit code: .*`2` a usage error", batch) and "or a usage error;" not in batch
    cli = re.sub(r"\s+", " ", (REPO / "docs" / "cli.md").read_text(encoding="utf-8"))
    assert "2 usage error" in cli


# -- Python calls and defaults quoted in the guide ------------------------------------------------------------------

# the module a page's bare names (`segment(...)`, `stitch(...)`) belong to, tried before labelfree and labelfree.io
_HOME = {"motion.md": "labelfree.motion", "cutter.md": "labelfree.cutter", "fusion.md": "labelfree.fusion",
         "registration.md": "labelfree.registration", "outputs.md": "labelfree.io", "fiji.md": "labelfree.imagej",
         "batch.md": "labelfree.batch"}


def _top_level_split(args: str) -> list[str]:
    """``args`` split at the commas outside brackets."""
    parts, depth, current = [], 0, ""
    for char in args:
        depth += char in "([{"
        depth -= char in ")]}"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def _python_snippets(text: str) -> list[str]:
    """The ```python blocks, and each one-line `call(...)` of the prose as a call: a signature's `/` and `*` markers
    and `-> result` dropped, the parameters before a `/` (positional-only) without their defaults, `key=,` as
    `key=None`."""
    found = re.findall(r"```python\n(.*?)```", text, re.DOTALL)
    prose = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    for span in re.findall(r"(?<!`)`([\w.]+\([^`\n]*\))`(?!`)", prose):
        span = re.sub(r"=\s*(?=[,)])", "=None", span)  # `f(x, min_size=, config=)`: the keywords it takes
        name, _, args = re.sub(r"\)\s*->.*$", ")", span).partition("(")
        parts = [part.strip() for part in _top_level_split(args[:-1])]
        if "/" in parts or "*" in parts:
            positional_only = "/" in parts
            kept = []
            for part in parts:
                if part == "/":
                    positional_only = False
                elif part != "*":
                    kept.append(part.split("=")[0].strip() if positional_only else part)
            span = f"{name}({', '.join(kept)})"
        found.append(span)
    return found


def _resolve(name: str, modules: list[str]):
    """The object a documented (dotted) name stands for, looked up in ``modules`` in turn; None if none has it."""
    if name.startswith("labelfree."):
        parts = name.split(".")
        for i in range(len(parts), 1, -1):
            try:
                obj = importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            for part in parts[i:]:
                obj = getattr(obj, part, None)
            return obj
        return None
    for module in modules:
        obj = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part, None)
        if obj is not None:
            return obj
    return None


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return base and f"{base}.{node.attr}"
    return None


def test_documented_python_calls_use_the_functions_keywords():
    """Every keyword of a LabelFree call in the guide (code blocks and one-line signatures in the prose) is a keyword
    parameter of that function: `start(fiji=...)` for a positional-only `fiji` would fail when copied."""
    checked, wrong = 0, []
    for doc in DOCS:
        if doc.name in ("benchmarks.md", "options.md"):
            continue
        trees = []
        for snippet in _python_snippets(doc.read_text(encoding="utf-8")):
            try:
                trees.append(ast.parse(snippet))
            except SyntaxError:
                continue
        imported = {}
        for node in (n for tree in trees for n in ast.walk(tree)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("labelfree"):
                imported.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names})
            elif isinstance(node, ast.Import):
                imported.update({a.asname or a.name: a.name for a in node.names if a.name.startswith("labelfree")})
        modules = [_HOME.get(doc.name, "labelfree"), "labelfree", "labelfree.io"]
        for node in (n for tree in trees for n in ast.walk(tree)):
            name = _dotted(node.func) if isinstance(node, ast.Call) and node.keywords else None
            if not name:
                continue
            head, _, rest = name.partition(".")
            obj = _resolve(imported[head] + (f".{rest}" if rest else "") if head in imported else name, modules)
            try:
                params = inspect.signature(obj).parameters if callable(obj) else None
            except (TypeError, ValueError):
                params = None
            if params is None or any(p.kind is p.VAR_KEYWORD for p in params.values()):
                continue
            checked += 1
            bad = [k.arg for k in node.keywords if k.arg is not None and (
                k.arg not in params or params[k.arg].kind is inspect.Parameter.POSITIONAL_ONLY)]
            if bad:
                wrong.append(f"{doc.name}: {name}(...) has no keyword {bad}: {name}{inspect.signature(obj)}")
    assert checked > 40  # the guide's calls were found
    assert not wrong, "\n".join(wrong)


_WORDS = {"true": True, "false": False, "none": None, "null": None, "automatic": None, "auto": None, "empty": ""}


def _quoted_default(text: str):
    """The default a parenthesis after an option names: the first of a `a | b` choice, true/false/None/automatic,
    a quoted word or a number; ``...`` when it names none."""
    for part in re.split(r"[;,]", text):
        part = part.strip().strip("`")
        if "|" in part:
            return part.split("|")[0].strip().strip("`\"")
        word = re.match(r"(?:all\s+)?(true|false|none|null|automatic|auto|empty)\b", part.lower())
        if word:
            return _WORDS[word.group(1)]
        quoted = re.match(r'"(\w+)"', part)
        if quoted:
            return quoted.group(1)
        number = re.match(r"-?\d+(?:\.\d+)?(?:e-?\d+)?\b", part)
        if number:
            return float(number.group(0))
    return ...


@pytest.mark.parametrize("doc, heading, config", [
    ("motion.md", "## Parameters (`MotionConfig`)", "labelfree.motion.MotionConfig"),
    ("cutter.md", "## Parameters (CutterConfig)", "labelfree.cutter.CutterConfig"),
    ("fusion.md", "## Parameters (`FusionConfig`)", "labelfree.fusion.FusionConfig"),
    ("fusion.md", "\n`FinetuneConfig`:", "labelfree.fusion.FinetuneConfig"),
])
def test_parameter_defaults_in_the_prose_are_the_config_defaults(doc, heading, config):
    """A pipeline page's "Parameters" list gives defaults in parentheses (`flow_blur` (3), `cell_channels`, ...,
    `restrict_to_mask`, ... (all True)); each equals the config class's default. Cutter's and Fusion's lists name
    every field (Motion's gives the main ones)."""
    cls = _resolve(config, [])
    defaults = {f.name: getattr(cls(), f.name) for f in dataclasses.fields(cls)}
    section = re.split(r"\n#+ ", (REPO / "docs" / doc).read_text(encoding="utf-8").split(heading, 1)[1], maxsplit=1)[0]
    section = section.split("\n`FinetuneConfig`:")[0]  # FusionConfig's list ends there
    checked, wrong = 0, []
    for group, inside in re.findall(r"((?:`\w+`(?:,\s*|\s*/\s*)?)+)\s*\(([^()]*)\)", section):
        names = re.findall(r"`(\w+)`", group)
        for name in names if inside.lstrip().startswith("all") or "/" in group else names[-1:]:
            quoted = _quoted_default(inside)
            if name not in defaults or quoted is ...:  # another name, or words without a value
                continue
            actual = defaults[name]
            checked += 1
            if quoted == "" or actual in ("", ()):  # "(empty: ...)"
                same = quoted == "" and actual in ("", ())
            elif isinstance(actual, (bool, str, type(None))):
                same = quoted == actual
            else:
                same = isinstance(quoted, float) and quoted == pytest.approx(actual)
            if not same:
                wrong.append(f"`{name}` ({' '.join(inside.split())}): the text says {quoted!r}, {cls.__name__} has "
                             f"{actual!r}")
    assert checked >= 8
    assert not wrong, f"docs/{doc}:\n" + "\n".join(wrong)
    if doc != "motion.md":
        missing = [name for name in defaults if f"`{name}`" not in section]
        assert not missing, f"docs/{doc} does not list the {cls.__name__} field(s) {missing}"


def test_motion_python_block_runs_on_a_short_movie(tmp_path, monkeypatch):
    """docs/motion.md, "Python": the whole block, on a 6-frame cut of the bundled movie written as `movie.tif`."""
    import tifffile

    from labelfree import datasets

    monkeypatch.chdir(tmp_path)
    frames = tifffile.imread(datasets.SAMPLE_MOVIE)[:6]
    tifffile.imwrite("movie.tif", frames, imagej=True, resolution=(1 / 0.65, 1 / 0.65),
                     metadata={"axes": "TYX", "unit": "um"})
    text = (REPO / "docs" / "motion.md").read_text(encoding="utf-8")
    block = re.search(r"## Python\n\n```python\n(.*?)```", text, re.DOTALL).group(1)
    namespace: dict = {}
    code = compile(block.replace("progress=True", "progress=False"), "motion.md", "exec")
    exec(code, namespace)  # noqa: S102 (the guide's snippet is the test)
    labels, speed = namespace["labels"], namespace["speed"]
    assert labels.dims == ("T", "Y", "X") and labels.dtype == np.uint16 and labels.shape == frames.shape
    assert int(labels.max()) > 0 and labels.attrs["labelfree"]["threads"] >= 1  # run_pipeline's record
    assert speed.dims == ("T", "Y", "X") and speed.dtype == np.float32  # "px/frame, TYX float32"


def test_outputs_reading_and_ctc_blocks_run(tmp_path, monkeypatch, shared_data):
    """docs/outputs.md, "Reading images" and "Cell Tracking Challenge folders": both blocks as printed (the CTC one
    on the first 12 frames of Fluo-C2DL-MSC/01, the folder the text names), and the figures in their comments."""
    import tifffile

    from labelfree import datasets
    from labelfree.io import read_ctc

    monkeypatch.chdir(tmp_path)
    frames = tifffile.imread(datasets.SAMPLE_MOVIE)
    tifffile.imwrite("movie.tif", frames, imagej=True, metadata={"axes": "TYX"})
    tifffile.imwrite("plain_stack.tif", frames, photometric="minisblack")
    tifffile.imwrite("long_movie.tif", frames, imagej=True, metadata={"axes": "TYX"})
    text = (REPO / "docs" / "outputs.md").read_text(encoding="utf-8")
    reading, ctc = (re.search(rf"{h}\n```python\n(.*?)```", text, re.DOTALL).group(1)
                    for h in ("## Reading images", "### Cell Tracking Challenge folders"))
    namespace: dict = {}
    exec(compile(reading, "outputs.md", "exec"), namespace)  # noqa: S102 (the guide's snippet is the test)
    for name in ("movie", "stack", "long"):
        assert namespace[name].dims == ("T", "Y", "X") and namespace[name].shape == frames.shape
    assert '"../shared/data/ctc/Fluo-C2DL-MSC", sequence="01")' in ctc
    code = compile(ctc.replace('"../shared/data', f'"{shared_data.as_posix()}').replace(
        'sequence="01")', 'sequence="01", frames=range(12))'), "outputs.md", "exec")
    exec(code, namespace)  # noqa: S102 (the guide's snippet is the test)
    ds = namespace["ds"]
    assert ds.movie.dims == ("T", "Y", "X") and list(ds.movie["T"].values) == list(range(12))
    assert ds.seg_frames[:3] == [5, 7, 9] and ds.seg_labels().dims == ("T", "Y", "X")
    assert list(ds.lineage.columns) == ["id", "start", "end", "parent"]
    assert len(read_ctc(shared_data / "ctc" / "Fluo-C2DL-MSC", sequence="01").seg_frames) == 18  # "(18 for MSC)"


def test_registration_parameter_table_gives_the_config_defaults():
    """docs/registration.md, "Parameters (Python backend)": each default in the table (split per backend step where
    it says "(drift)" / "(stitch)") is DriftConfig's or StitchConfig's default."""
    from labelfree.registration import DriftConfig, StitchConfig

    text = (REPO / "docs" / "registration.md").read_text(encoding="utf-8")
    table = text.split("## Parameters (Python backend)", 1)[1].split("\n\n", 2)[1]
    configs = {"drift": DriftConfig(), "stitch": StitchConfig()}
    checked, wrong = 0, []
    for row in table.splitlines()[2:]:
        names_cell, default_cell = row.split("|")[1:3]
        names = re.findall(r"`(\w+)`", names_cell)
        pieces = re.split(r"\s*\((drift|stitch)\)[;,]?\s*", default_cell.strip())
        per_step = dict(zip(pieces[1::2], pieces[0::2])) if len(pieces) > 1 else dict.fromkeys(configs, pieces[0])
        for step, chunk in per_step.items():
            values = [v.strip().removesuffix("px").strip().strip('`"') for v in chunk.split(",")]
            values = values * len(names) if len(values) == 1 else values
            for name, value in zip(names, values):
                if not hasattr(configs[step], name) or not re.fullmatch(r"[\w.\-]+", value):
                    continue  # not this step's setting, or words ("a third of the frame")
                actual = getattr(configs[step], name)
                checked += 1
                if (str(actual) != value) if isinstance(actual, str) else float(value) != pytest.approx(actual):
                    wrong.append(f"{name} ({step}): the table says {value}, the config has {actual!r}")
    assert checked >= 12
    assert not wrong, "\n".join(wrong)


def test_batch_md_option_list_is_the_command_s():
    """docs/batch.md, "Command line": the listing names every option of `labelfree batch --help`, and no other."""
    text = (REPO / "docs" / "batch.md").read_text(encoding="utf-8")
    listing = text.split("## Command line", 1)[1].split("```", 2)[1]
    documented = set(FLAG.findall(listing)) - {"-h", "--help"}
    real = set(FLAG.findall(_help(["batch"]))) - {"-h", "--help"}
    assert real, "labelfree batch --help printed no options"
    assert documented == real, (f"missing from docs/batch.md: {sorted(real - documented)}; "
                                f"not options of labelfree batch: {sorted(documented - real)}")


def test_install_md_fiji_uninstall_puts_the_fiji_back(tmp_path, capsys):
    """docs/install.md, "conda / Fiji's Python mode": `labelfree fiji uninstall FIJI_DIR` removes the scripts and the
    record, puts back the user's environment file (the backup stays) and the launch mode."""
    text = re.sub(r"\s+", " ", (REPO / "docs" / "install.md").read_text(encoding="utf-8"))
    assert "`labelfree fiji uninstall FIJI_DIR`" in text and "There is no `fiji uninstall`" not in text
    fiji = tmp_path / "Fiji.app"
    (fiji / "jars").mkdir(parents=True)
    (fiji / "jars" / "ij-1.54f.jar").touch()
    (fiji / "config" / "jaunch").mkdir(parents=True)
    (fiji / "config" / "environment.yml").write_text("name: mine\n", encoding="utf-8")
    (fiji / "config" / "jaunch" / "fiji.cfg").write_text("launch-mode=JVM\n", encoding="utf-8")
    assert main(["fiji", "install", str(fiji)]) == 0
    assert (fiji / "config" / "labelfree-install.json").is_file()
    assert (fiji / "config" / "jaunch" / "fiji.cfg").read_text(encoding="utf-8") == "launch-mode=PYTHON\n"
    assert main(["fiji", "uninstall", str(fiji)]) == 0
    capsys.readouterr()
    assert not (fiji / "scripts" / "Plugins" / "LabelFree").exists()
    assert not (fiji / "config" / "labelfree-install.json").exists()
    assert (fiji / "config" / "environment.yml").read_text(encoding="utf-8") == "name: mine\n"
    assert (fiji / "config" / "environment.yml.bak").read_text(encoding="utf-8") == "name: mine\n"
    assert (fiji / "config" / "jaunch" / "fiji.cfg").read_text(encoding="utf-8") == "launch-mode=JVM\n"


def test_concepts_md_coordinate_examples_hold_for_the_bundled_movie():
    """docs/concepts.md, "Images are xarray.DataArrays": the `da... == ...` examples of X and T, evaluated on the
    bundled movie (0.65 µm pixels, 300 s frames); `da.T` would be xarray's transpose, so T is written `da["T"]`."""
    from labelfree import datasets
    from labelfree.io import read_image

    text = (REPO / "docs" / "concepts.md").read_text(encoding="utf-8")
    examples = [e for e in re.findall(r"`(da[.\[][^`]*==[^`]*)`", text) if not e.startswith("da.C")]
    assert any(e.startswith('da["T"]') for e in examples) and not any(e.startswith("da.T.") for e in examples)
    movie = read_image(datasets.SAMPLE_MOVIE)
    for example in examples:
        assert eval(example, {"da": movie}), example


def test_cli_md_negative_label_values_are_refused_as_written(tmp_path, capsys):
    """docs/cli.md, "Scoring": a negative label is an error naming the range found, from a TIFF (it named none)
    and from the Python API."""
    import tifffile

    from labelfree.errors import InputError
    from labelfree.metrics import evaluate

    text = re.sub(r"\s+", " ", (REPO / "docs" / "cli.md").read_text(encoding="utf-8"))
    assert "holds negative values (from -1 to 2)" in text
    truth = np.zeros((8, 8), np.int16)
    truth[2:5, 2:5] = 1
    pred = truth.copy()
    pred[0, 0] = -1
    tifffile.imwrite(tmp_path / "pred.tif", pred)
    tifffile.imwrite(tmp_path / "gt.tif", truth)
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "pred.tif"), str(tmp_path / "gt.tif")]) == 1
    assert "holds negative values (from -1 to 1)" in capsys.readouterr().err
    with pytest.raises(InputError, match="from -1 to 1"):
        evaluate(pred, truth)


def test_cli_md_demo_outputs_share_one_folder(tmp_path):
    """docs/cli.md, `labelfree demo`: the outputs are named after the sample (Motion `sample_movie_*`, threshold
    `sample_movie_threshold_*`), so both demos keep theirs in one folder; a demo run again replaces its own."""
    text = re.sub(r"\s+", " ", (REPO / "docs" / "cli.md").read_text(encoding="utf-8"))
    assert "Motion `sample_movie_*`" in text and "writes `sample_movie_threshold_*`" in text
    out = str(tmp_path / "demo")
    for args in (["demo", "-o", out, "-q"], ["demo", "--pipeline", "threshold", "-o", out, "-q"],
                 ["demo", "-o", out, "-q"]):
        assert main(args) == 0, args
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == sorted(
        f"sample_movie{extra}_{kind}" for extra in ("", "_threshold")
        for kind in ("labels.tif", "rois.zip", "table.csv", "provenance.json"))


def test_fusion_md_zoo_loop_files_each_model_with_its_starting_model(tmp_path, monkeypatch):
    """docs/fusion.md, "Python": the loop that files `finetune_channelwise`'s results in a zoo, run on a result
    (a fresh tiny network, no training) as `finetune_channelwise` returns it; the zoo's index records where it
    started, as `labelfree fusion train` files it."""
    from labelfree.fusion import FinetuneConfig, FinetuneResult, ModelZoo, new_model
    from labelfree.fusion.training import TrainingHistory

    monkeypatch.chdir(tmp_path)
    block = re.search(r"## Python\n```python\n(.*?)```", (REPO / "docs" / "fusion.md").read_text(encoding="utf-8"),
                      re.DOTALL).group(1)
    loop = "\n".join(line for line in block.splitlines() if line.startswith(("zoo = ", "for ", "    ")))
    history = TrainingHistory([1.0], [1.0], best_epoch=0, epochs_run=1, seconds_per_epoch=0.1, stopped_early=False)
    result = FinetuneResult(new_model(nbase=(8, 16, 32, 64), device="cpu"), history, ("GFP",), "/models/cyto3",
                            FinetuneConfig(starting_model="/models/cyto3"))
    namespace = {"ModelZoo": ModelZoo, "results": {"GFP": result}}
    exec(compile(loop, "fusion.md", "exec"), namespace)  # noqa: S102 (the guide's snippet is the test)
    index = (tmp_path / "my_zoo" / "index.json").read_text(encoding="utf-8")
    assert '"channels": [' in index and '"GFP"' in index
    assert '"starting_model": "/models/cyto3"' in index, index
