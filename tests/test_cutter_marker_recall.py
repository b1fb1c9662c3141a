"""Cutter's detected markers: nuclei they miss are said, and whole cells are refused before training.

* Automatic marker detection left GOWT1's dim nuclei unmarked without a word (19-20 of 23-24 nuclei found
  in a whole frame); an unmarked nucleus gets no patch and no object. Bright regions of nucleus size that
  hold no marker (:func:`labelfree.cutter.markers.unmarked_nuclei`) are said with a
  :class:`~labelfree.cutter.markers.MissedNucleiWarning` (how many, where, what to do), once per run, into
  the provenance's warnings; frames whose nuclei are all found stay silent. Such regions now get a marker
  (tests/cutter/test_missed_nuclei_markers.py) and the warning names those still unmarked after that; the tests
  here give the crop's real regions to the warning with the additions left out (``no_additions``).
* A one-channel image of whole cells (MSC) given no markers warned and then trained for minutes to cut each
  cell into pieces (76 markers and objects for 8 cells, object F1 0.10); it is now an InputError before
  training that says what to give instead.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

tifffile = pytest.importorskip("tifffile")

from labelfree.cutter import detect_markers  # noqa: E402
from labelfree.cutter.markers import MarkerWarning, marker_pixels  # noqa: E402
from labelfree.errors import InputError  # noqa: E402
from gowt1_dim_crop import DIM_CROP, GOOD_CROP, gowt1  # noqa: E402
from gowt1_dim_crop import read_shared as _read  # noqa: E402


def _gowt1(shared_data, t: int, what: str = "image"):
    return gowt1(shared_data, t, truth=what != "image")


@pytest.fixture
def no_additions(monkeypatch):
    """Detection that warns of the regions it leaves unmarked and adds no marker there, as it did before such
    regions got a marker (tests/cutter/test_missed_nuclei_markers.py): the warning's words, its once-per-run
    rule, its record and a movie's summary are tested on the crop's real regions."""
    import labelfree.cutter.markers as markers

    def warn_only(parts, pts, method, *, dark_side=False):
        markers._warn_unmarked(markers._unmarked_regions(parts, pts, dark_side=dark_side), pts, method)
        return pts

    monkeypatch.setattr(markers, "_add_unmarked", warn_only)


def _missed_texts(caught) -> list[str]:
    """The texts of the warnings about nuclei left without a marker (by their words: the old code had no class)."""
    return [str(w.message) for w in caught if issubclass(w.category, MarkerWarning)
            and "without a marker" in str(w.message)]


def test_dim_gowt1_nuclei_without_a_marker_are_said_with_their_count_and_place(shared_data, no_additions):
    """Was silent: 8 markers for the crop's 12 nuclei. The two dim nuclei that stand apart are named."""
    image, truth = _gowt1(shared_data, 21)[DIM_CROP], _gowt1(shared_data, 21, "truth")[DIM_CROP]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pts = detect_markers(image)
    hit = set(np.unique(truth[tuple(marker_pixels(pts, truth.shape).T)])) - {0}
    assert len(pts) == 8 and len(hit) == 8  # 8 of the 12 nuclei found, as before
    texts = _missed_texts(caught)
    assert len(texts) == 1, texts
    text = texts[0]
    assert "left 2 bright region(s) of nucleus size without a marker" in text and "the 8 marker(s)" in text
    assert "--markers FILE" in text and "marker_method" in text and "no object" in text
    warning = next(w.message for w in caught if "without a marker" in str(w.message))
    regions = warning.regions
    assert regions.shape == (2, 2) and warning.n_markers == 8
    assert sorted(int(truth[y, x]) for y, x in marker_pixels(regions, truth.shape)) == [15, 17]  # missed nuclei
    assert not hit & {15, 17}
    for y, x in regions:  # the text gives the centroids it found, (y, x) in pixels of the crop
        assert f"(y={y:.0f}, x={x:.0f})" in text


def test_the_warning_is_said_the_fiji_way_in_imagej():
    """In Fiji's Log the advice names the ROI Manager (the markers=roi_manager choice) instead of markers=, and the
    position x first, as ImageJ shows positions."""
    from labelfree.cutter.markers import _warn_unmarked
    from labelfree.imagej.terms import in_imagej_terms

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _warn_unmarked(np.array([[10.0, 20.0]]), np.zeros((3, 2)), "auto")
    said = in_imagej_terms(str(caught[0].message))
    assert "ROI Manager" in said and "markers=roi_manager" in said and "(x=20, y=10)" in said
    assert "(y=10, x=20)" in str(caught[0].message)


@pytest.mark.parametrize("which", ["GOWT1 t021 crop", "GOWT1 t069", "SIM+ t030"])
def test_frames_whose_nuclei_are_found_stay_silent(shared_data, which):
    if which == "SIM+ t030":
        image = _read(shared_data, "ctc", "Fluo-N2DH-SIM+", "01", "t030.tif")
    elif which == "GOWT1 t069":  # 20 of its 21 nuclei found; the 21st touches a found one
        image = _gowt1(shared_data, 69)
    else:
        image = _gowt1(shared_data, 21)[GOOD_CROP]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert len(detect_markers(image)) > 10
    assert _missed_texts(caught) == []


def test_blob_and_threshold_detection_are_checked_too(shared_data, no_additions):
    """The authors' blob detection finds 6 of the crop's 12 nuclei (49 blobs): said, as for "auto"."""
    image = _gowt1(shared_data, 21)[DIM_CROP]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        detect_markers(image, method="threshold")
    texts = _missed_texts(caught)
    assert len(texts) == 1 and "marker_method 'threshold'" in texts[0] and "left 4 bright region(s)" in texts[0]


def test_cutter_says_the_missed_nuclei_once_and_records_them_in_the_provenance(shared_data, no_additions):
    """The pipeline detects the markers twice (for the cell size, then for the frame): one warning, in the
    record's warnings. Two training steps: the warning comes before the training."""
    from labelfree.run import run_pipeline

    image = _gowt1(shared_data, 21)[DIM_CROP]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        labels = run_pipeline("cutter", image, config={"n_steps": 2})
    texts = _missed_texts(caught)
    assert len(texts) == 1 and "left 2 bright region(s)" in texts[0]
    recorded = [t for t in labels.attrs["labelfree"]["warnings"] if "without a marker" in t]
    assert len(recorded) == 1 and "left 2 bright region(s)" in recorded[0]


def test_a_movie_says_in_how_many_frames_nuclei_were_missed(shared_data, no_additions):
    from labelfree.cutter.segment import prepare
    from labelfree.image import to_dataarray

    box = (slice(600, 900), slice(600, 1000))  # SEG 15 and 17 of t021, dim in every frame
    movie = np.stack([_gowt1(shared_data, t)[box] for t in (21, 24, 75)])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prepare(to_dataarray(movie, dims="TYX"))
    texts = _missed_texts(caught)
    assert len(texts) == 1, texts
    assert texts[0].startswith("In 2 of the 3 frames of the movie the detected markers leave nuclei out; the first "
                               "such frame, frame 0 (0-based): Marker detection (marker_method 'auto') left 2 bright "
                               "region(s)"), texts
    said = next(w.message for w in caught if str(w.message) == texts[0])
    assert said.frame == 0 and len(said.regions) == 2


def _msc(shared_data):
    return _read(shared_data, "ctc", "Fluo-C2DL-MSC", "01", "t005.tif")


def test_whole_cells_without_markers_are_refused_before_training(shared_data, monkeypatch):
    """Was: a warning, then minutes of training for 76 objects on 8 cells (object F1 0.10)."""
    import labelfree.cutter.train as train

    def no_training(*args, **kwargs):
        raise AssertionError("trained")

    monkeypatch.setattr(train, "train_cutter", no_training)
    from labelfree.cutter import segment

    with pytest.raises(InputError) as info:
        segment(_msc(shared_data))
    text = str(info.value)
    assert "seems to show whole cells" in text and "solidity 0.61" in text and "nothing was trained" in text
    assert "--markers FILE" in text and "nucleus_channel" in text
    assert "Motion" in text and "Threshold" in text and "marker_method 'threshold'" in text


def test_whole_cells_are_refused_in_a_nucleus_channel_too_and_threshold_detection_is_let_through(shared_data):
    from labelfree.cutter.segment import prepare
    from labelfree.image import to_dataarray

    cells = _msc(shared_data)[:512, :512].astype(np.float32)
    two = to_dataarray(np.stack([cells, cells[::-1]]), dims="CYX", channel_names=["a", "b"])
    with pytest.raises(InputError, match="seems to show whole cells"):
        prepare(two, config={"nucleus_channel": "b"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = prepare(cells, config={"marker_method": "threshold"})  # the user says they are nuclei
    assert len(prepared.frames[0].ids) > 0
