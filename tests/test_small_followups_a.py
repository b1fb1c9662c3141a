"""Small follow-ups: a batch input typed with ``..`` is recorded and logged as the summary shows it; ``labelfree
stitch`` and ``labelfree drift`` record the warnings they showed in their output's provenance; Stitch's warning of
tiles without a link counts them from 1 (as its groups warning does), in good grammar, and in ImageJ's terms."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy import ndimage as ndi

from labelfree.batch.inputs import collect_inputs
from labelfree.cli import main
from labelfree.io.labels_tiff import read_provenance
from labelfree.registration import stitch

ARGV = ["batch", "../in/a.tif", "../in/bad.tif", "-p", "threshold", "-o", "../out", "--scheduler", "sync",
        "--no-progress", "-q", "--set", "min_size=5"]


def _blobs() -> np.ndarray:
    image = np.zeros((64, 64), dtype=np.uint16)
    for y, x in ((12, 12), (12, 44), (44, 20), (46, 48)):
        image[y - 5:y + 5, x - 5:x + 5] = 1000
    return image


def _summary(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def from_bin(tmp_path, monkeypatch) -> Path:
    """``tmp_path/in`` with a.tif (blobs) and bad.tif (not a TIFF); the working folder ``tmp_path/bin``."""
    (tmp_path / "in").mkdir()
    (tmp_path / "bin").mkdir()
    tifffile.imwrite(tmp_path / "in" / "a.tif", _blobs())
    (tmp_path / "in" / "bad.tif").write_text("not an image", encoding="utf-8")
    monkeypatch.chdir(tmp_path / "bin")
    return tmp_path.resolve()


def test_collect_inputs_gives_an_input_typed_with_dotdot_without_it(from_bin):
    """Was: /tmp/x/bin/../in/a.tif."""
    (item,) = collect_inputs(["../in/a.tif"])
    assert str(item.path) == str(from_bin / "in" / "a.tif")
    (item,) = collect_inputs(["../bin/../in/a.tif"])  # the part up to the last ``..`` resolved
    assert str(item.path) == str(from_bin / "in" / "a.tif")
    (item,) = collect_inputs([from_bin / "in" / "a.tif"])  # an absolute path without ``..``: as it is
    assert str(item.path) == str(from_bin / "in" / "a.tif")


def test_a_batch_input_typed_with_dotdot_is_recorded_and_logged_as_the_summary_shows_it(from_bin, caplog):
    """Was: the provenance's batch.input and the log line of a failed input said /tmp/x/bin/../in/a.tif while the
    summary said /tmp/x/in/a.tif."""
    with caplog.at_level(logging.INFO, logger="labelfree"):
        assert main(ARGV) == 1  # one input failed
    out = from_bin / "out"
    rows = {r["stem"]: r for r in _summary(out / "batch_summary.csv")}
    assert [rows[s]["status"] for s in ("a", "bad")] == ["ok", "failed"]
    assert rows["a"]["input"] == str(from_bin / "in" / "a.tif")
    record = json.loads((out / "a_provenance.json").read_text(encoding="utf-8"))
    assert record["batch"]["input"] == rows["a"]["input"]
    assert read_provenance(out / "a_labels.tif")["batch"]["input"] == rows["a"]["input"]
    failed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("batch input ")]
    assert len(failed) == 1 and failed[0].startswith(f"batch input {from_bin / 'in' / 'bad.tif'} failed: ")
    assert not [r.getMessage() for r in caplog.records if "/bin/../" in r.getMessage()]
    # the fingerprint does not depend on how the input was typed: given by its full path, it is finished
    assert main(["batch", str(from_bin / "in" / "a.tif"), *ARGV[3:]]) == 0
    assert [r["status"] for r in _summary(out / "batch_summary.csv")] == ["skipped"]
    assert main(ARGV) == 1  # and typed with ``..`` again
    assert [r["status"] for r in _summary(out / "batch_summary.csv")] == ["skipped", "failed"]


def _textured(size: int = 168, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (ndi.gaussian_filter(rng.random((size, size)), 3) * 1000).astype(np.float32)


def _four_tiles() -> list[np.ndarray]:
    """2x2 tiles of 96 px 72 px apart (24 px overlap); the last without texture: it links to no neighbour."""
    big = _textured()
    tiles = [big[y:y + 96, x:x + 96].copy() for y in (0, 72) for x in (0, 72)]
    tiles[3][:] = 500.0
    return tiles


UNLINKED = ("stitch: 1 of 4 tiles has no trustworthy link to a neighbour and keeps its nominal position: tile 4 "
            "(tiles counted from 1 in the order given). Check the tile order (order= / --order), the overlap "
            "(overlap= / --overlap) and the grid size (--grid); overlaps without texture cannot be matched.")


def test_the_unlinked_tiles_warning_counts_from_1_as_the_groups_warning_does(caplog):
    """Was: "1 of 4 tiles have no trustworthy link ...: tiles [3] (0-based, in the order given)"."""
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        _, positions = stitch(_four_tiles(), (2, 2), backend="python")
    assert list(positions["links"])[3] == 0
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [UNLINKED]


def test_the_unlinked_tiles_warning_names_several_tiles_as_runs(caplog):
    tiles = _four_tiles()
    tiles[2][:] = 300.0
    tiles[1][:] = 200.0  # only tile 1 has texture: no tile links
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        stitch(tiles, (2, 2), backend="python")
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 1 and said[0].startswith(
        "stitch: 4 of 4 tiles have no trustworthy link to a neighbour and keep their nominal positions: tiles 1-4 "
        "(tiles counted from 1 in the order given). Check ")


def test_the_unlinked_tiles_warning_in_imagej_terms():
    """Was: "tile 4 (the planes of the stack, counted from 1)" from the 0-based list, now from the text counted
    from 1, as the groups warning is said."""
    from labelfree.imagej.terms import in_imagej_terms

    said = in_imagej_terms(UNLINKED)
    assert said.startswith("stitch: 1 of 4 tiles has no trustworthy link to a neighbour and keeps its nominal "
                           "position: tile 4 (tiles: the stack's planes, counted from 1). Check the tile order "
                           "(order=), the overlap (overlap=) and the grid size (rows= and cols=)"), said
    assert "0-based" not in said and "--" not in said


def test_labelfree_stitch_records_the_warnings_it_showed(tmp_path, caplog):
    """Was: read_provenance(out) had only "stitch", no "warnings"."""
    (tmp_path / "tiles").mkdir()
    for k, tile in enumerate(_four_tiles(), 1):
        tifffile.imwrite(tmp_path / "tiles" / f"t{k}.tif", tile)
    out = tmp_path / "mosaic.tif"
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        assert main(["stitch", str(tmp_path / "tiles"), "--grid", "2x2", "--backend", "python", "-o", str(out),
                     "-q"]) == 0
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [UNLINKED]
    record = read_provenance(out)
    assert record["warnings"] == [UNLINKED]
    assert record["stitch"]["tiles"] == ["t1.tif", "t2.tif", "t3.tif", "t4.tif"]


def test_labelfree_stitch_without_warnings_records_none(tmp_path):
    (tmp_path / "tiles").mkdir()
    big = _textured()
    for k, (y, x) in enumerate(((0, 0), (0, 72), (72, 0), (72, 72)), 1):
        tifffile.imwrite(tmp_path / "tiles" / f"t{k}.tif", big[y:y + 96, x:x + 96])
    out = tmp_path / "mosaic.tif"
    assert main(["stitch", str(tmp_path / "tiles"), "--grid", "2x2", "--backend", "python", "-o", str(out)]) == 0
    assert "warnings" not in read_provenance(out)


def test_labelfree_drift_records_the_warnings_it_showed(tmp_path, caplog):
    """Was: the corrected movie stored no record (read_provenance gave None) although drift warned of a frame
    without a usable match."""
    big = _textured(160)
    movie = np.stack([big[8 + t:136 + t, 8:136] for t in range(4)])
    movie[2] = 500.0  # a dropped frame: nothing to match
    tifffile.imwrite(tmp_path / "movie.tif", movie, imagej=True, metadata={"axes": "TYX"})
    out = tmp_path / "corrected.tif"
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        assert main(["drift", str(tmp_path / "movie.tif"), "--backend", "python", "-o", str(out), "-q"]) == 0
    shown = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(shown) >= 1 and any("frame 2 (0-based): it keeps" in line for line in shown), shown
    assert read_provenance(out)["warnings"] == sorted(shown)
