"""The run's record says how many detected markers were added at dim nuclei, and where.

Cutter's detected markers gain one marker at each nucleus-sized bright region that holds none (a nucleus too dim to
be found). The run's record and its one-line summary still said "markers 11 detected in the image" (GOWT1 t021's
crop: 8 detected, 3 added), counting the added ones as detected, and the provenance did not say how many were added
nor where. Now the provenance's ``markers`` entry has ``added``, ``found`` and ``added_at`` (the first 5, with
``added_not_listed``; a movie ``added_per_frame`` and ``found_per_frame``, positions (t, y, x)), and the summary
reads "markers 11 (8 detected, 3 added at dim nuclei) in the image". Markers a user gives: the record as before.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

tifffile = pytest.importorskip("tifffile")

from labelfree._config import describe_automatic  # noqa: E402
from labelfree.cutter.markers import detect_markers  # noqa: E402

#: GOWT1 t021's crop whose detection finds 8 of its nuclei and adds 3 markers at dim ones (one region is two nuclei)
DIM_CROP = (slice(512, 1024), slice(384, 1024))
#: where the 3 markers are added in the crop, (y, x) rounded (tests/imagej/test_fiji_today.py finds them there too)
ADDED_AT = [[201, 500], [251, 482], [305, 315]]
SUMMARY = "markers 11 (8 detected, 3 added at dim nuclei) in the image"


def _crop(shared_data) -> np.ndarray:
    path = shared_data / "ctc" / "Fluo-N2DH-GOWT1" / "01" / "t021.tif"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return tifffile.imread(path)[DIM_CROP]


def _near(at: list, expected: list, tolerance: int = 2) -> bool:
    return len(at) == len(expected) and all(
        max(abs(a - b) for a, b in zip(p, q)) <= tolerance for p, q in zip(at, expected))


def test_the_cli_says_how_many_markers_were_added_and_the_provenance_where(shared_data, tmp_path, capsys):
    """Was: "automatic settings: markers 11 detected in the image" and a markers entry of ``detected_in`` and
    ``method`` alone; now the printed line splits the 11 and the provenance names the 3 added markers."""
    from labelfree.cli import main

    tifffile.imwrite(tmp_path / "gowt1.tif", _crop(shared_data))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["cutter", str(tmp_path / "gowt1.tif"), "-o", str(tmp_path / "out"), "--set", "n_steps=20",
                     "--threads", "1", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert f"automatic settings: {SUMMARY}, downscale" in printed, printed
    record = json.loads((tmp_path / "out" / "gowt1_provenance.json").read_text())
    assert record["n_markers"] == [11]
    entry = record["markers"]
    assert {k: entry[k] for k in ("detected_in", "method", "added", "found", "added_not_listed")} == {
        "detected_in": "the image", "method": "auto", "added": 3, "found": 8, "added_not_listed": 0}
    assert _near(entry["added_at"], ADDED_AT), entry["added_at"]
    assert "nucleus size" in entry["added_where"] and "added_per_frame" not in entry
    assert describe_automatic(record).startswith(f"{SUMMARY}, ")  # as read back from the JSON file
    labels = tifffile.imread(tmp_path / "out" / "gowt1_labels.tif")
    assert int(labels.max()) == 11 and all(labels[y, x] > 0 for y, x in entry["added_at"])


def test_a_movie_says_them_per_frame_and_given_markers_keep_their_record(shared_data):
    """A movie of 2 frames (the crop and the crop upside down): 3 markers added in each, said per frame, their
    positions with their frame. The same markers given as points: no word of added markers."""
    from labelfree import to_dataarray
    from labelfree.cutter import segment

    crop = _crop(shared_data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        movie = segment(to_dataarray(np.stack([crop, crop[::-1]]), dims="TYX"), config={"n_steps": 5})
    record = movie.attrs["labelfree"]
    entry = record["markers"]
    assert record["n_markers"] == [11, 11]
    assert (entry["added"], entry["found"], entry["added_per_frame"], entry["found_per_frame"]) == (6, 16, [3, 3],
                                                                                                   [8, 8])
    flipped = [[1, crop.shape[0] - 1 - y, x] for y, x in ADDED_AT]
    assert _near(entry["added_at"][:3], [[0, *p] for p in ADDED_AT])
    listed = entry["added_at"][3:]  # 5 listed: 2 of frame 1's 3, where the upside-down crop has them
    assert len(listed) == 2 and all(any(_near([p], [q]) for q in flipped) for p in listed), entry["added_at"]
    assert entry["added_not_listed"] == 1
    assert describe_automatic(record).startswith("markers 11/11 (8/8 detected, 3/3 added at dim nuclei) in the image")

    points = detect_markers(crop.astype(np.float64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        given = segment(crop, markers=points, config={"n_steps": 5})
    assert "markers" not in given.attrs["labelfree"] and given.attrs["labelfree"]["n_markers"] == [11]
    assert "detected" not in describe_automatic(given.attrs["labelfree"])


@pytest.mark.parametrize("method", ["blob", "threshold"])
def test_every_method_records_the_markers_it_added(shared_data, method):
    """The other marker_methods add markers at the same dim nuclei (and two regions more), and say so alike; the
    count is noted by the detection for the frame it detects (the last markers it returns)."""
    from labelfree.cutter import segment

    crop = _crop(shared_data)
    n = {"blob": 54, "threshold": 12}[method]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        labels = segment(crop, config={"n_steps": 5, "marker_method": method})
    record = labels.attrs["labelfree"]
    entry = record["markers"]
    assert (record["n_markers"], entry["method"], entry.get("added"), entry.get("found")) == ([n], method, 5, n - 5)
    assert _near(entry["added_at"][2:], ADDED_AT), entry["added_at"]  # after two regions the others find no marker
    assert describe_automatic(record).startswith(f"markers {n} ({n - 5} detected, 5 added at dim nuclei) in the "
                                                 "image, ")

    from labelfree.cutter.markers import recording_added

    with warnings.catch_warnings(), recording_added() as added:
        warnings.simplefilter("ignore")
        pts = detect_markers(crop, method=method)
    assert added == {None: 5} and len(pts) == n, (added, len(pts))


def test_a_long_movie_is_said_in_total():
    """More than 3 frames: the markers in total, how many added and in how many frames."""
    record = {"n_markers": [10, 11, 12, 10], "markers": {
        "detected_in": "channel 1", "method": "auto", "added": 3, "found": 40, "added_per_frame": [0, 1, 2, 0],
        "found_per_frame": [10, 10, 10, 10], "added_at": [[1, 5, 6], [2, 7, 8], [2, 9, 9]], "added_not_listed": 0}}
    assert describe_automatic(record) == ("markers 43 (over 4 frames: 40 detected, 3 added at dim nuclei in 2 frames) "
                                          "in channel 1")
    record["markers"] = {"detected_in": "channel 1", "method": "auto"}  # none added: as before
    assert describe_automatic(record) == "markers 43 (over 4 frames) detected in channel 1"
