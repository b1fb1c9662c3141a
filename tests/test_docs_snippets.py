"""The user guide tells the truth: its commands, snippets, links and printed results.

Each test runs something a reader copies from README.md or docs/*.md (or checks what the text
says about it) and asserts the documented result, so a renamed flag, file or function breaks
a test instead of a user's first run.
"""
import contextlib
import io
import re
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


def test_readme_quick_start_motion_on_the_bundled_movie(tmp_path, capsys):
    """README "Use": `labelfree motion movie.tif -o out/` then `labelfree eval ...`; the outputs of concepts.md."""
    import shutil

    from labelfree import datasets
    from labelfree.io import read_rois

    shutil.copy(datasets.SAMPLE_MOVIE, tmp_path / "movie.tif")
    shutil.copy(datasets.SAMPLE_TRUTH, tmp_path / "gt_labels.tif")
    out = tmp_path / "out"
    assert main(["motion", str(tmp_path / "movie.tif"), "-o", str(out), "-q"]) == 0
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
    assert rois[0].t_position == int(rois[0].name[1:5]) >= 1
    capsys.readouterr()
    # an earlier result is replaced only with --overwrite (README)
    assert main(["motion", str(tmp_path / "movie.tif"), "-o", str(out), "-q"]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert main(["eval", str(out / "movie_labels.tif"), str(tmp_path / "gt_labels.tif")]) == 0
    text = capsys.readouterr().out
    f1 = float(re.search(r"object F1\s+([\d.]+)", text).group(1))
    assert f1 >= 0.9  # the demo prints object F1 0.977 on this movie


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
    from labelfree.imagej.plugins import correct_3d_drift_options, grid_stitching_options

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
