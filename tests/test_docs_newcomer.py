"""What a newcomer found when running this week's examples as the guide prints them: each test runs (or reads) what a
page says and asserts that the page and the program agree (the plane an overlay shows, OME-Zarr from Python, which
provenance records the software-differs warning, examples that can be run in order, a plate field made by a command
and then a batch)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import tifffile

from labelfree.cli import main

REPO = Path(__file__).resolve().parents[1]


def _flat(name: str) -> str:
    return re.sub(r"\s+", " ", (REPO / name).read_text(encoding="utf-8"))


def _help(words: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main([*words, "--help"])
    return re.sub(r"\s+", " ", out.getvalue())


def test_the_overlay_plane_is_named_as_it_is_chosen_by_labelled_pixels_not_objects():
    """cli.md and `--overlay --help`: a z-stack's overlay shows the plane with the most labelled pixels (outputs.md);
    outputs.md: shown_plane gives {"Z": z} for labels with dims, {} for a plain array."""
    from labelfree.image import to_dataarray
    from labelfree.overlay import shown_plane

    labels = np.zeros((4, 16, 16), np.uint16)
    labels[1, 0, 0:6:2] = [1, 2, 3]          # plane 1: three objects, three pixels
    labels[3, 4:8, 4:8] = 4                  # plane 3: one object, sixteen pixels
    assert shown_plane(to_dataarray(labels, dims="ZYX")) == {"Z": 3}
    assert shown_plane(labels) == {}
    for text, where in ((_help(["threshold"]), "labelfree threshold --help"), (_flat("docs/cli.md"), "docs/cli.md")):
        assert "its plane with the most labelled pixels" in text, where
        assert "plane with the most objects" not in text, where
    outputs = _flat("docs/outputs.md")
    assert 'shown_plane(labels)` gives `{"Z": 6}` for labels with dims' in outputs
    assert "a plain NumPy array has no dims: it gives `{}`, and its first plane is shown" in outputs


def test_outputs_md_python_route_to_ome_zarr_writes_it_into_the_set(tmp_path, monkeypatch):
    """outputs.md, the output layer: Fiji and write_outputs have no OME-Zarr switch; the call it shows (an extra of the
    set) publishes <stem>_labels.ome.zarr with the set, verified by the manifest, and it reads back exactly."""
    from labelfree.image import to_dataarray
    from labelfree.io import read_image, read_manifest

    text = _flat("docs/outputs.md")
    assert "The Fiji commands have no such option and `write_outputs` no `ome_zarr=`" in text
    call = re.search(r"`(write_outputs\(\"results/\", labels, extras=\{\"ome_zarr\": [^`]*\))`", text)
    assert call, "outputs.md shows no write_outputs call with an ome_zarr extra"
    assert "`from labelfree.io.ngff import write_label_image`" in text
    monkeypatch.chdir(tmp_path)
    lab = np.zeros((2, 24, 32), np.uint16)
    lab[0, 2:8, 3:9], lab[1, 10:20, 5:15], lab[1, 1:3, 20:30] = 1, 2, 3
    labels = to_dataarray(lab, dims="TYX", scale={"Y": 0.5, "X": 0.5}, units={"Y": "µm", "X": "µm"})
    scope: dict = {"labels": labels}
    exec("from labelfree.io import write_outputs\nfrom labelfree.io.ngff import write_label_image\n"  # noqa: S102
         f"paths = {call.group(1)}", scope)
    paths = scope["paths"]
    assert paths["ome_zarr"] == tmp_path / "results" / "image_labels.ome.zarr"
    back = read_image(paths["ome_zarr"])
    assert back.dims == ("T", "Y", "X") and np.array_equal(back.values, lab)
    assert back.X.attrs["scale"] == 0.5
    assert "ome_zarr" in json.loads(paths["provenance"].read_text(encoding="utf-8"))["outputs"]
    assert read_manifest(tmp_path / "results", "image") is not None


def test_software_difference_is_recorded_by_the_command_line_not_by_run_pipeline(tmp_path, monkeypatch, caplog):
    """outputs.md: the software-differs line is logged, so a `--config RECORD` command records it in its provenance
    and a Python run_pipeline(config=record) does not (its `warnings` holds Python warnings)."""
    from labelfree.io import read_image
    from labelfree.run import run_pipeline

    text = _flat("docs/outputs.md")
    assert "a command-line run (`--config`) records it in its provenance's `warnings`" in text
    assert "a Python `run_pipeline(config=record)` run shows it through `logging` only and does not record it" in text
    assert "a warning a filter ignores (`warnings.simplefilter(\"ignore\")`) is neither shown nor recorded" in text
    monkeypatch.chdir(tmp_path)
    img = (np.random.default_rng(0).random((48, 48)) * 50).astype(np.uint16)
    img[10:30, 10:30] += 500
    tifffile.imwrite("im.tif", img)
    assert main(["threshold", "im.tif", "-o", "o1", "-q"]) == 0
    record = json.loads(Path("o1/im_provenance.json").read_text(encoding="utf-8"))
    record["software"]["numpy"] = "1.0.0"
    Path("rec.json").write_text(json.dumps(record), encoding="utf-8")
    assert main(["threshold", "im.tif", "-o", "o2", "--config", "rec.json", "-q"]) == 0
    warned = json.loads(Path("o2/im_provenance.json").read_text(encoding="utf-8")).get("warnings") or []
    assert [w for w in warned if "numpy: 1.0.0 -> " in w and "other software" in w], warned
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        labels = run_pipeline("threshold", read_image("im.tif"), config=record)
    assert any("numpy: 1.0.0 -> " in r.getMessage() for r in caplog.records)  # shown through logging
    assert not [w for w in labels.attrs["labelfree"].get("warnings") or [] if "other software" in w]


def _sets(command: str) -> tuple[str, str]:
    """(output folder, stem) of a `labelfree PIPELINE [segment] IMAGE -o DIR ...` line."""
    words = shlex.split(command.split("#")[0])
    rest = words[2:] if words[2:3] != ["segment"] else words[3:]
    out = words[words.index("-o") + 1].rstrip("/")
    image = next(w for w in rest if not w.startswith("-") and w not in (out, out + "/"))
    return out, image.split("/")[-1].split(".")[0]


def test_pipeline_examples_of_cli_md_and_fusion_md_run_in_order_into_distinct_sets():
    """cli.md's examples, then fusion.md's model-file examples, run in order: no two write the same set (the second
    would be refused with OutputExistsError)."""
    cli = (REPO / "docs" / "cli.md").read_text(encoding="utf-8").split("## Examples", 1)[1]
    block = re.search(r"```bash\n(.*?)```", cli, re.DOTALL).group(1)
    commands = [s for s in block.splitlines()
                if re.match(r"labelfree (threshold|motion|cutter|fusion) (?!train|select|eval)", s)]
    fusion = (REPO / "docs" / "fusion.md").read_text(encoding="utf-8").split("## Model files instead of a zoo", 1)[1]
    fusion = fusion.split("\n## ", 1)[0]
    commands += [re.sub(r"\s+", " ", c) for c in re.findall(r"`(labelfree fusion [^`]*-o [^`]*)`", fusion)
                 if "--overwrite" not in c and "..." not in c]
    assert len(commands) >= 8, commands
    sets = [_sets(c) for c in commands]
    twice = {s for s in sets if sets.count(s) > 1}
    assert not twice, f"these examples write the same set: {[c for c, s in zip(commands, sets) if s in twice]}"


def test_a_plate_field_made_by_the_command_is_not_skipped_by_a_batch_as_batch_md_says(tmp_path):
    """batch.md, plates: the command and the batch name a field's set alike, but a batch into the same folder refuses
    to replace a set the command made (its record is not a batch input's), before any work; --overwrite remakes it."""
    pytest.importorskip("zarr")
    from test_hcs_plates import write_plate

    from labelfree.batch import run_batch
    from labelfree.errors import OutputExistsError

    text = _flat("docs/batch.md")
    assert "a set made by the command is not skipped by a later batch into the same folder" in text
    assert "and a rerun skips the fields done" not in text
    assert "HCS (high-content screening) plate" in text
    plate, out = tmp_path / "plate.zarr", tmp_path / "o3"
    write_plate(plate, "0.4", {"A/1": ["0"]})
    assert main(["threshold", f"{plate}/A/1/0", "-o", str(out), "-q"]) == 0
    made = (out / "plate_A_1_0_labels.tif").stat().st_mtime_ns
    with pytest.raises(OutputExistsError, match=r"plate_A_1_0 .*--overwrite"):
        run_batch(plate, pipeline="threshold", out_dir=out, scheduler="sync", progress=False)
    assert (out / "plate_A_1_0_labels.tif").stat().st_mtime_ns == made
    run_batch(plate, pipeline="threshold", out_dir=out, scheduler="sync", progress=False, batch={"overwrite": True})
    assert tifffile.imread(out / "plate_A_1_0_labels.tif").max() == 1  # field 1 of write_plate: one square
