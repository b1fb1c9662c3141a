"""The wording of LabelFree's warnings and errors in ImageJ's Log, run through the real ImageJ 1.x (``xvfb-run -a``).

* A warning's Log line named its command twice: ``LabelFree Motion warning: Motion: ...``, ``LabelFree Drift warning:
  drift: ...``, ``LabelFree Stitch warning: stitch: ...``, ``LabelFree Cutter warning: Cutter: ...``. Now once;
  Python's warnings and the command line keep the pipeline's name in front, as before.
* Channel advice said "(names or 0-based indices)" in ImageJ, where channels count from 1 (``cell_channels=1,2``);
  now "(names or numbers counted from 1)". The Python text is unchanged.
* Number agreement: drift's one unmatched frame "they keep" (now "it keeps ... and is not used as reference; check
  that frame", in Python and in the Log), Motion's one blank frame "1 of 6 frames have ...: frames [3] ... are left
  empty, and the pairs with them" (now "has ...: frame 3 ... is ... with it", in Python and in the Log).
  Threshold's empty volume of a hyperstack was counted from 0 in the Log; Motion's blank frames beyond the twenty
  it names were left 0-based.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest

from labelfree.image import to_dataarray
from labelfree.imagej.terms import in_imagej_terms

tifffile = pytest.importorskip("tifffile")

#: MSC frames 28-33, a 384 px crop of two touching cells (as tests/imagej/test_fiji_new_warnings.py)
MSC_FRAMES, MSC_BOX = range(28, 34), (slice(336, 720), slice(224, 608))

DRIFT_ONE = ("LabelFree Drift warning: no usable match (no content, or a correlation no better than chance) for "
             "frame 4 (the stack's frames, counted from 1): it keeps the drift of the frame before and is not used "
             "as reference; check that frame.")
DRIFT_TWO = ("LabelFree Drift warning: no usable match (no content, or a correlation no better than chance) for frames "
             "3, 5 (the stack's frames, counted from 1): they keep the drift of the frame before and are not used as "
             "reference; check those frames.")


def _data(shared_data, dataset: str, t: int) -> np.ndarray:
    path = shared_data / "ctc" / dataset / "01" / f"t{t:03d}.tif"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return tifffile.imread(path)


# --- the wording alone (no Java) --------------------------------------------------------------------------------


@pytest.mark.parametrize("title, message, line", [
    ("LabelFree Motion", "Motion: the automatic cell size rests on 2 object(s)",
     "LabelFree Motion warning: the automatic cell size rests on 2 object(s)"),
    ("LabelFree Drift", "drift: a weak match", "LabelFree Drift warning: a weak match"),
    ("LabelFree Stitch", "stitch: the linked tiles", "LabelFree Stitch warning: the linked tiles"),
    ("LabelFree Cutter", "Cutter: 1 of 9 markers", "LabelFree Cutter warning: 1 of 9 markers"),
    ("LabelFree Cutter", "Cutter automatic scale: no cell", "LabelFree Cutter warning: automatic scale: no cell"),
    ("LabelFree Fusion", "fusion: m1 (trained on GFP+Cy5", "LabelFree Fusion warning: m1 (trained on GFP+Cy5"),
    # another pipeline's name, or the name inside a sentence, stays
    ("LabelFree Cutter", "Motion: x", "LabelFree Cutter warning: Motion: x"),
    ("LabelFree Fusion", "Fusion found no object in frame 1", ("LabelFree Fusion warning: Fusion found no object in "
                                                              "frame 1")),
    ("LabelFree Motion", "Motion segments one movie", "LabelFree Motion warning: Motion segments one movie"),
])
def test_a_warning_line_names_its_command_once(title, message, line):
    from labelfree.imagej.terms import warning_line

    assert warning_line(title, message) == line


def test_channel_advice_counts_from_1_in_imagej_and_from_0_in_python():
    from labelfree.errors import InputError
    from labelfree.image import channel_by_name

    with pytest.raises(InputError) as caught:
        channel_by_name(["DAPI", "GFP"], "Foo")
    assert str(caught.value) == "Channel 'Foo' not found; the image has channels ['DAPI', 'GFP'] (names or 0-based " \
                                "indices)."
    assert in_imagej_terms(str(caught.value)) == ("Channel 'Foo' not found; the image has channels ['DAPI', 'GFP'] "
                                                  "(names or numbers counted from 1).")
    said = in_imagej_terms("The model was trained on 2 image channel(s), but this image would give it its one "
                           "channel. Set cell_channels to the 2 channel(s) that show what the model's did (names or "
                           "0-based indices; the nucleus channel is left out of the cell channels when none are set).")
    assert said.endswith("(names or numbers counted from 1; the nucleus channel is left out of the cell channels when "
                         "none are set).")


def test_frames_named_in_a_list_count_from_1_in_imagej():
    cutter = ("Cutter: no marker lies in the foreground mask of 13 of the 15 frames (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, "
              "11, ...; 0-based) (mask empty), so no cell can be cut there and their labels are empty.")
    assert in_imagej_terms(cutter) == (
        "Cutter: no marker lies in the foreground mask of 13 of the 15 frames (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, "
        "...; counted from 1) (mask empty), so no cell can be cut there and their labels are empty.")
    assert "(1, 4; counted from 1)" in in_imagej_terms("of 2 of the 5 frames (0, 3; 0-based) (mask empty)")
    shown = list(range(20))
    motion = (f"24 of 30 frames have one value in every pixel (dropped, flat or saturated frames): frames {shown} ... "
              "(0-based) are left empty, and the pairs with them teach the classifier nothing.")
    assert in_imagej_terms(motion) == (
        "24 of 30 frames have one value in every pixel (dropped, flat or saturated frames): frames "
        f"{', '.join(str(k + 1) for k in shown)}, ... (the stack's frames, counted from 1) are left empty, and the "
        "pairs with them teach the classifier nothing.")


def test_drifts_weak_match_of_one_frame_is_singular(caplog):
    from labelfree.registration.drift import _warn_unmatched

    ncc = np.array([1.0, 0.9, 0.1, 0.95, 0.15, 0.9])
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        _warn_unmatched([4], ncc, "", reference=True)
    assert [r.getMessage() for r in caplog.records] == [
        ("drift: no usable match (no content, or a correlation no better than chance) for frame 4 (0-based): it keeps "
        "the drift of the frame before and is not used as reference; check that frame."),
        "drift: a weak match (NCC < 0.2) at frame 2 (0-based); check that shift."]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        _warn_unmatched([], ncc, " inside the selection", reference=False)
    assert [r.getMessage() for r in caplog.records] == [
        "drift: weak matches (NCC < 0.2) inside the selection at frames [2, 4] (0-based); check those shifts."]


# --- through the real ImageJ 1.x --------------------------------------------------------------------------------


def _show(array: np.ndarray, title: str, dims: str, **kw):
    import labelfree.imagej as lij

    imp = lij.xarray_to_imageplus(to_dataarray(array, dims=dims, **kw), title=title)
    imp.show()
    return imp


def _log_lines() -> list[str]:
    from scyjava import jimport

    return str(jimport("ij.IJ").getLog() or "").splitlines()


def _warned(title: str) -> list[str]:
    return [line for line in _log_lines() if line.startswith(f"{title} warning:")]


def _macro(macro: str):
    import labelfree.imagej as lij

    with warnings.catch_warnings():  # the commands re-issue their warnings for Python (errors in this suite)
        warnings.simplefilter("ignore")
        return lij.run_macro(macro)


@pytest.fixture(scope="module")
def msc_crop(shared_data):
    return np.stack([_data(shared_data, "Fluo-C2DL-MSC", t)[MSC_BOX] for t in MSC_FRAMES])


@pytest.mark.jvm
@pytest.mark.parametrize("blank, line", [((3,), DRIFT_ONE), ((2, 4), DRIFT_TWO)])
def test_drift_says_its_unmatched_frames_once_with_the_verb_of_their_number(clean, shared_data, caplog, blank, line):
    rng = np.random.default_rng(0)
    frame = _data(shared_data, "Fluo-N2DH-GOWT1", 0)[:256, :256].astype(np.float32)
    movie = np.stack([np.roll(frame, (k, 2 * k), (0, 1)) + rng.normal(0, 3, frame.shape) for k in range(6)])
    movie[list(blank)] = 7
    _show(movie.astype(np.float32), "drifting", "TYX")
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        _macro('selectImage("drifting"); run("LabelFree Drift", "table=false");')
    assert _warned("LabelFree Drift") == [line]
    # Python's logging keeps its "drift:" and its 0-based frames
    python = [r.getMessage() for r in caplog.records if "no usable match" in r.getMessage()]
    assert python == [("drift: no usable match (no content, or a correlation no better than chance) for "
                       + ("frame 3 (0-based): it keeps the drift of the frame before and is not used as reference; "
                          "check that frame." if len(blank) == 1 else
                          "frames [2, 4] (0-based): they keep the drift of the frame before and are not used as "
                          "reference; check those frames."))]


@pytest.mark.jvm
def test_motion_names_itself_once_in_the_log_and_still_in_python(clean, msc_crop, caplog):
    _show(msc_crop, "crop", "TYX")
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        _macro('selectImage("crop"); run("LabelFree Motion", "rois=none table=false");')
    (said,) = _warned("LabelFree Motion")
    assert said.startswith("LabelFree Motion warning: the automatic cell size rests on 2 object(s) of frame 1 (the "
                           "stack's frames, counted from 1) (min_size "), said
    assert "Motion:" not in said
    (python,) = [r.getMessage() for r in caplog.records if "automatic cell size" in r.getMessage()]
    assert python.startswith("Motion: the automatic cell size rests on 2 object(s) of frame 0 (0-based) (min_size ")


@pytest.mark.jvm
def test_motions_one_blank_frame_is_said_in_the_singular(clean, msc_crop):
    movie = msc_crop.copy()
    movie[3] = 0
    _show(movie, "gap", "TYX")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import labelfree.imagej as lij

        lij.run_macro('selectImage("gap"); run("LabelFree Motion", "rois=none table=false");')
    blank = [line for line in _warned("LabelFree Motion") if "one value in every pixel" in line]
    assert blank == [
        ("LabelFree Motion warning: 1 of 6 frames has one value in every pixel (dropped, flat or saturated frames): "
        "frame 4 (the stack's frames, counted from 1) is left empty, and the pairs with it teach the classifier "
        "nothing.")]
    python = [str(w.message) for w in caught if "one value in every pixel" in str(w.message)]
    assert python and set(python) == {
        ("1 of 6 frames has one value in every pixel (dropped, flat or saturated frames): frame 3 (0-based) is "
        "left empty, and the pairs with it teach the classifier nothing.")}


@pytest.mark.jvm
def test_stitch_names_itself_once_in_the_log(clean, shared_data):
    from registration.test_stitch_auto_grid import _cut

    tiles = _cut(_data(shared_data, "Fluo-C2DL-MSC", 0), 1, 5, (300, 200), noise=60.0)
    _show(np.stack(tiles[:2] + tiles[3:]), "strip", "ZYX")
    _macro('selectImage("strip"); run("LabelFree Stitch", "table=false");')
    said = _warned("LabelFree Stitch")
    gap = [line for line in said if "puts side by side" in line]
    assert len(gap) == 1 and gap[0].startswith(
        "LabelFree Stitch warning: the 1x4 grid row-by-row found from the tiles puts side by side tiles 2 and 3 "
        "(best NCC "), said
    assert not [line for line in said if line.startswith("LabelFree Stitch warning: stitch")]


@pytest.mark.jvm
def test_threshold_counts_an_empty_volume_of_a_hyperstack_from_1(clean):
    rng = np.random.default_rng(0)
    stack = rng.normal(100, 5, (3, 4, 64, 64)).astype(np.float32)
    stack[:, :, 20:40, 20:40] += 200
    stack[1] = 50  # frame 2 as ImageJ counts it: one value throughout
    _show(stack, "volumes", "TZYX")
    _macro('selectImage("volumes"); run("LabelFree Threshold", "rois=none table=false");')
    assert _warned("LabelFree Threshold") == [
        ("LabelFree Threshold warning: No objects found in 1 of 3 volumes (4 planes each); in volume 2 (the stack's "
        "frames, counted from 1): every plane has one value throughout, so there is nothing to threshold.")]


@pytest.mark.jvm
@pytest.mark.parametrize("command, key", [
    ("LabelFree Cutter", "cell_channels"), ("LabelFree Cutter", "nucleus_channel"), ("LabelFree Threshold", "channel")])
def test_a_channel_name_the_image_lacks_is_answered_in_imagejs_counting(clean, command, key):
    from labelfree.errors import LabelFreeError

    image = np.zeros((2, 64, 64), np.uint16)
    image[:, 20:40, 20:40] = 500
    _show(image, "named", "CYX", channel_names=["DAPI", "GFP"])
    with pytest.raises(LabelFreeError) as caught:
        _macro(f'selectImage("named"); run("{command}", "{key}=Foo rois=none table=false");')
    said = "Channel 'Foo' not found; the image has channels ['DAPI', 'GFP'] (names or numbers counted from 1)."
    assert str(caught.value) == said
    assert [line for line in _log_lines() if line.startswith("LabelFree error:")] == [f"LabelFree error: {said}"]


#: four bright disks (radius 14 px) on noise, 96 x 96 (as tests/imagej/test_commands.py)
FOUR = [(25, 25), (25, 70), (70, 30), (68, 72)]


@pytest.mark.jvm
@pytest.mark.slow
def test_cutter_names_itself_once_for_a_marker_on_the_background(clean):
    import jpype
    from scyjava import jimport

    import labelfree.imagej as lij

    image = np.random.default_rng(0).normal(10, 2, (96, 96)).astype(np.float32)
    yy, xx = np.mgrid[:96, :96]
    for cy, cx in FOUR:
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < 14**2] += 50
    _show(image, "cells", "YX")
    points = [*FOUR, (48, 90)]  # the last one on the background, between the disks and the edge
    floats = jpype.JArray(jpype.JFloat)
    clean.addRoi(jimport("ij.gui.PointRoi")(floats([float(x) for _, x in points]),
                                            floats([float(y) for y, _ in points]), len(points)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lij.run_macro('selectImage("cells"); run("LabelFree Cutter", "markers=roi_manager n_steps=5 crop_size=32 '
                      'area_size=96 rois=none table=false");')
    assert _warned("LabelFree Cutter") == [
        ("LabelFree Cutter warning: 1 of 5 markers lie on the background of the foreground mask, so no cell is cut "
        "there: (x=90, y=48). If they mark cells, the mask misses them: give a mask, or change mask_signal, "
        "cell_fraction or mask_smoothing.")]
    python = {str(w.message) for w in caught if "on the background" in str(w.message)}
    assert python == {("Cutter: 1 of 5 markers lie on the background of the foreground mask, so no cell is cut there: "
                      "(y=48, x=90). If they mark cells, the mask misses them: give a mask, or change mask_signal, "
                      "cell_fraction or mask_smoothing.")}
