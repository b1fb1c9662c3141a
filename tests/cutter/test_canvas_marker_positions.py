"""A crop in a constant canvas names the markers added at dim nuclei, and the nuclei still missed, at the image's
pixels.

Cutter segments the part of a padded image inside its constant canvas (:mod:`labelfree.cutter.canvas`) and detects
its markers there. The provenance's ``added_at`` was the image's pixels, but the note of the added markers (Python's
info log, ImageJ's Log) and a :class:`~labelfree.cutter.markers.MissedNucleiWarning` (its text, its ``regions``)
named positions in the box: GOWT1's crop padded by 37 rows and 53 columns said its 3 added markers at
(y=201, x=500), (y=251, x=482), (y=305, x=315), the unpadded crop's positions, while they lie 37 rows and 53
columns further. Now every position they name is the image's; the labels are the crop's, shifted, as before.
"""

from __future__ import annotations

import logging
import re
import warnings

import numpy as np
import pytest

pytest.importorskip("tifffile")

import labelfree.cutter.markers as markers_module  # noqa: E402
from labelfree.cutter.markers import MissedNucleiWarning  # noqa: E402
from gowt1_dim_crop import DIM_CROP  # noqa: E402
from gowt1_dim_crop import gowt1 as _gowt1  # noqa: E402

#: the canvas: rows above and below, columns left and right of the crop
PAD = ((37, 21), (53, 30))
OFFSET = np.array([PAD[0][0], PAD[1][0]])
#: a GOWT1 movie box whose frames 21 and 24 each gain 3 markers (tests/cutter/test_missed_nuclei_markers.py)
MOVIE_BOX = (slice(600, 900), slice(600, 1000))
NOTE = "labelfree.cutter.markers"


def _positions(text: str) -> np.ndarray:
    """The (y, x) positions a message gives: (y=, x=) as Python says them, or x first as ImageJ's Log does."""
    found = re.findall(r"\(y=(-?\d+), x=(-?\d+)\)|\(x=(-?\d+), y=(-?\d+)\)", text)
    return np.array([(int(y), int(x)) if y else (int(y2), int(x2)) for y, x, x2, y2 in found]).reshape(-1, 2)


def _notes(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == NOTE and "added" in r.getMessage()]


def _padded(image: np.ndarray) -> np.ndarray:
    pad = ((0, 0),) * (image.ndim - 2) + PAD
    return np.pad(image, pad, constant_values=0)


def _segment(image, caplog) -> tuple[np.ndarray, dict, list[str]]:
    from labelfree.cutter import segment

    caplog.clear()
    with caplog.at_level(logging.INFO, logger=NOTE), warnings.catch_warnings():
        warnings.simplefilter("error", MissedNucleiWarning)  # none here: every region got its marker
        labels = segment(image, config={"n_steps": 20})
    return labels.values, labels.attrs["labelfree"], _notes(caplog)


def test_a_padded_crop_names_its_added_markers_at_the_images_pixels(shared_data, caplog):
    """The note of the 3 added markers names the unpadded crop's positions plus the canvas's offset, as the
    provenance's ``added_at`` does; the labels are the unpadded crop's, shifted, with nothing on the canvas."""
    image = _gowt1(shared_data, 21)[DIM_CROP]
    labels, record, notes = _segment(image, caplog)
    padded_labels, padded_record, padded_notes = _segment(_padded(image), caplog)
    assert padded_record["canvas"] == {"rows": [37, 549], "columns": [53, 693]}
    at = _positions(notes[0])
    assert len(at) == 3 and at.tolist() == record["markers"]["added_at"]
    assert len(padded_notes) == len(notes) == 2, padded_notes  # the automatic scale's detection, then the run's
    for note in padded_notes:
        assert "added 3 marker(s) at bright regions" in note, note
        np.testing.assert_array_equal(_positions(note), at + OFFSET)
    assert padded_record["markers"]["added_at"] == (at + OFFSET).tolist()
    np.testing.assert_array_equal(padded_labels[37:-21, 53:-30], labels)  # the labels: the crop's, shifted
    assert not padded_labels[:37].any() and not padded_labels[-21:].any()
    assert not padded_labels[:, :53].any() and not padded_labels[:, -30:].any()
    assert labels.max() == 11


def _leave_all_but_one(monkeypatch) -> None:
    """Detection adds a marker at the first unmarked nucleus only: the others are still unmarked and warned of."""
    real = markers_module._unmarked_nuclei
    monkeypatch.setattr(markers_module, "_unmarked_nuclei", lambda parts, pts, **kw: (real(parts, pts, **kw)[0][:1], 0))


def _prepare(image, dims: str, caplog) -> tuple[list, list[str]]:
    from labelfree.cutter.segment import prepare
    from labelfree.image import to_dataarray

    caplog.clear()
    with caplog.at_level(logging.INFO, logger=NOTE), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prepare(to_dataarray(image, dims=dims))
    return [w.message for w in caught if issubclass(w.category, MissedNucleiWarning)], _notes(caplog)


def test_nuclei_still_missed_are_warned_of_at_the_images_pixels(shared_data, monkeypatch, caplog):
    """The warning's text and its ``regions`` name the nuclei still unmarked at the unpadded crop's positions plus
    the canvas's offset; so does the note of the one marker added."""
    _leave_all_but_one(monkeypatch)
    image = _gowt1(shared_data, 21)[DIM_CROP]
    (plain,), notes = _prepare(image, "YX", caplog)
    (padded,), padded_notes = _prepare(_padded(image), "YX", caplog)
    regions = _positions(str(plain))
    assert len(regions) == 1 and "left 1 bright region(s) of nucleus size without a marker" in str(plain)
    np.testing.assert_array_equal(_positions(str(padded)), regions + OFFSET)
    np.testing.assert_allclose(padded.regions, plain.regions + OFFSET)
    assert str(padded).replace(_positions_text(regions + OFFSET), _positions_text(regions)) == str(plain)
    assert len(notes) == len(padded_notes) == 2 and "added 1 marker(s) at" in notes[0]
    for note, padded_note in zip(notes, padded_notes):
        np.testing.assert_array_equal(_positions(padded_note), _positions(note) + OFFSET)


def _positions_text(at: np.ndarray) -> str:
    return ", ".join(f"(y={y}, x={x})" for y, x in at)


def test_a_padded_movie_names_the_frame_and_the_images_pixels(shared_data, monkeypatch, caplog):
    """A movie (frames 21, 24, 75): each note names its frame (0-based) and the image's pixels; the one warning of
    the movie names its first frame with nuclei still missed and their positions in the image."""
    _leave_all_but_one(monkeypatch)
    movie = np.stack([_gowt1(shared_data, t)[MOVIE_BOX] for t in (21, 24, 75)])
    (plain,), notes = _prepare(movie, "TYX", caplog)
    (padded,), padded_notes = _prepare(_padded(movie), "TYX", caplog)
    assert "In 2 of the 3 frames of the movie" in str(plain) and "frame 0 (0-based)" in str(plain), str(plain)
    assert padded.frame == plain.frame == 0
    assert str(padded).split(":")[0] == str(plain).split(":")[0]
    np.testing.assert_array_equal(_positions(str(padded)), _positions(str(plain)) + OFFSET)
    np.testing.assert_allclose(padded.regions, plain.regions + OFFSET)
    frames = [int(f) for note in padded_notes
              for f in re.findall(r"added 1 marker\(s\) in frame (\d) \(0-based\)", note)]
    assert len(frames) == len(padded_notes) and {0, 1} <= set(frames), padded_notes
    assert [re.sub(r"\(y=.*", "", n) for n in notes] == [re.sub(r"\(y=.*", "", n) for n in padded_notes]
    for note, padded_note in zip(notes, padded_notes):
        np.testing.assert_array_equal(_positions(padded_note), _positions(note) + OFFSET)


@pytest.mark.jvm
def test_fiji_names_the_added_markers_at_the_images_pixels_inside_a_selection(ij, shared_data, caplog):
    """In Fiji, LabelFree Cutter run inside a selection of the padded crop that holds part of the canvas: the
    selection's origin (the bridge's) and the canvas box's (Cutter's) add up: the Log names the unpadded crop's
    added markers plus the canvas's offset."""
    from scyjava import jimport

    import labelfree.imagej as lij
    from labelfree.image import to_dataarray
    from labelfree.imagej.jvm import _close_imagej_windows

    image = _gowt1(shared_data, 21)[DIM_CROP]
    _, record, _ = _segment(image, caplog)
    at = np.array(record["markers"]["added_at"])
    _close_imagej_windows()
    log = jimport("ij.IJ")
    log.log("\\Clear")
    try:
        imp = lij.xarray_to_imageplus(to_dataarray(_padded(image), dims="YX"), title="padded")
        imp.show()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the command re-issues its warnings for Python
            lij.run_macro('selectImage("padded"); makeRectangle(20, 10, 690, 550); '
                          'run("LabelFree Cutter", "n_steps=20 rois=none table=false");')
        lines = str(log.getLog() or "").splitlines()
        said = [line for line in lines if "marker detection (marker_method 'auto') added 3 marker(s)" in line]
        assert len(said) == 1, lines
        np.testing.assert_array_equal(_positions(said[0]), at + OFFSET)
    finally:
        _close_imagej_windows()
