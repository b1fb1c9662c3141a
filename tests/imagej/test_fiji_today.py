"""A Fiji user tries the day's changes in the real ImageJ 1.x (under ``xvfb-run -a``).

* Cutter without markers now adds a marker at each dim nucleus that detection missed (GOWT1 t021, a crop: 8
  detected, 3 added). Python logs that at info level only; ImageJ's Log said "markers 11 detected in the image"
  and nothing of the 3. Now the Log says which were added and where, once (detection runs twice), and a
  selection's positions are the image's, not the selection's box's (warnings too: a marker on the background).
* Motion's new info notes (a crop's frame of fragments; touching cells split at the size the run settled on from
  frame t on) did not reach the Log; now they do, their frames counted from 1.
* Process > Batch > Macro and the documented macro loop with Cutter and Motion instead of Threshold: every
  file's labels, its notes named by its file.
Python's logging is left as it was: the notes reach ImageJ's Log without being printed by Python's handlers.
"""

from __future__ import annotations

import logging
import re
import warnings

import numpy as np
import pytest
from test_batch_macro import restored  # noqa: F401  (a fixture: ImageJ's batch folders put back)

from labelfree.image import to_dataarray

tifffile = pytest.importorskip("tifffile")

#: GOWT1 t021, rows 512-1023, columns 384-1023: 8 nuclei detected, 3 dim ones (one region of two) added
DIM_CROP = (slice(512, 1024), slice(384, 1024))
ADDED = re.compile(r"^LabelFree Cutter on (?P<title>.+?): marker detection \(marker_method 'auto'\) added 3 "
                   r"marker\(s\) at bright regions of nucleus size that held none \(nuclei too dim to be found; 1 "
                   r"region\(s\) held touching nuclei, one marker each\): (?P<at>\(x=\d+, y=\d+\)(?:, \(x=\d+, "
                   r"y=\d+\)){2})$")
#: Fluo-C2DL-MSC/01 frames 28-33, 256 px at (256, 640): one cell among noise called cell in its first frame
MSC_FRAMES, MSC_BOX = range(28, 34), (slice(256, 512), slice(640, 896))
FRAGMENTS = re.compile(r"^LabelFree Motion on msc: frame 1 \(the stack's frames, counted from 1\): its \d+ objects of "
                       r"a typical \d+ px are fragments of larger cells \(its largest object is a cell of \d+ px\): "
                       r"the size is not lowered$")


def _data(shared_data, dataset: str, t: int) -> np.ndarray:
    path = shared_data / "ctc" / dataset / "01" / f"t{t:03d}.tif"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return tifffile.imread(path)


def _positions(text: str) -> list[tuple[int, int]]:
    """The (y, x) positions a line of ImageJ's Log gives, x first as ImageJ says them."""
    return [(int(y), int(x)) for x, y in re.findall(r"\(x=(\d+), y=(\d+)\)", text)]


# --- the wording alone (no Java) --------------------------------------------------------------------------------


def test_notes_are_said_in_imagej_terms_and_only_the_listed_ones():
    import labelfree.cutter.markers  # noqa: F401 - the pipelines register their notes when imported
    import labelfree.motion.segment  # noqa: F401
    from labelfree._log_notes import is_log_note
    from labelfree.imagej.terms import at_image_positions, note_line

    motion = ("Motion: touching cells split at a typical cell area of 1232 px from frame 1 (0-based) on; the frames "
              "before it at 5956 px")
    assert is_log_note("labelfree.motion.segment", motion)
    assert note_line("LabelFree Motion", "hela", motion) == (
        "LabelFree Motion on hela: touching cells split at a typical cell area of 1232 px from frame 2 (the stack's "
        "frames, counted from 1) on; the frames before it at 5956 px")
    cutter = ("Cutter: marker detection (marker_method 'blob') added 2 marker(s) at bright regions of nucleus size "
              "that held none (nuclei too dim to be found): (y=201, x=500), (y=305, x=315)")
    assert is_log_note("labelfree.cutter.markers", cutter)
    assert note_line("LabelFree Cutter", "", cutter) == "LabelFree Cutter: " + cutter.removeprefix("Cutter: ").replace(
        "(y=201, x=500), (y=305, x=315)", "(x=500, y=201), (x=315, y=305)")  # x first, as ImageJ says a position
    # other info messages, or a note's words from another logger, stay Python's
    assert not is_log_note("labelfree.motion.segment", "Motion: minimum object size 308 px, closing radius 4 px")
    assert not is_log_note("labelfree.cutter.segment", cutter)
    assert at_image_positions(cutter, (40, 30)).endswith("(y=231, x=540), (y=335, x=355)")
    assert at_image_positions("markers (frame 2, y=0, x=7) and (x=3, y=4, 5x5 pixels)", (10, 20)) == \
        "markers (frame 2, y=20, x=17) and (x=3, y=4, 5x5 pixels)"
    assert at_image_positions(cutter, (0, 0)) == cutter
    assert at_image_positions(note_line("LabelFree Cutter", "", cutter), (40, 30)).endswith(
        "(x=540, y=231), (x=355, y=335)")


# --- through the real ImageJ 1.x --------------------------------------------------------------------------------


def _show(array: np.ndarray, title: str, dims: str):
    import labelfree.imagej as lij

    imp = lij.xarray_to_imageplus(to_dataarray(array, dims=dims), title=title)
    imp.show()
    return imp


def _log_lines() -> list[str]:
    from scyjava import jimport

    return str(jimport("ij.IJ").getLog() or "").splitlines()


def _macro(macro: str):
    import labelfree.imagej as lij

    with warnings.catch_warnings():  # the commands re-issue their warnings for Python (errors in this suite)
        warnings.simplefilter("ignore")
        return lij.run_macro(macro)


def _labels(title: str) -> np.ndarray:
    from scyjava import jimport

    import labelfree.imagej as lij

    return np.asarray(lij.imageplus_to_xarray(jimport("ij.WindowManager").getImage(title)).values)


class _Printed(logging.Handler):
    """What Python's own handlers print: a handler on the root logger, as a user's logging configuration has."""

    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.said: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.said.append(record.getMessage())


@pytest.fixture
def printed():
    handler = _Printed()
    root = logging.getLogger()
    before = root.level
    root.setLevel(logging.WARNING)
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    root.setLevel(before)


@pytest.fixture(scope="module")
def gowt1(shared_data):
    return _data(shared_data, "Fluo-N2DH-GOWT1", 21)[DIM_CROP]


@pytest.mark.jvm
@pytest.mark.parametrize("selection", [None, (40, 30, 600, 482)], ids=["whole", "selection"])
def test_cutter_says_in_the_log_where_it_added_markers_at_dim_nuclei(clean, gowt1, printed, selection):
    """Was: the Log said "automatic settings markers 11 detected in the image" and nothing of the 3 markers added at
    dim nuclei. Now one line names them, at positions of the image (inside a selection too), each inside an object
    of the label image; Python's handlers print nothing more than before."""
    notes = logging.getLogger("labelfree.cutter.markers")
    level, filters = notes.level, list(notes.filters)
    _show(gowt1, "gowt1", "YX")
    box = "" if selection is None else "makeRectangle({}, {}, {}, {}); ".format(*selection)
    _macro(f'selectImage("gowt1"); {box}run("LabelFree Cutter", "n_steps=20 table=false");')
    labels = _labels("gowt1-labels")
    assert int(labels.max()) == (11 if selection is None else 10)  # the selection leaves one detected nucleus out
    assert int(clean.getCount()) == int(labels.max())
    added = [line for line in _log_lines() if ADDED.match(line)]
    assert len(added) == 1, _log_lines()  # once, though detection ran twice (automatic scale, then the run)
    assert ADDED.match(added[0]).group("title") == "gowt1"
    at = _positions(ADDED.match(added[0]).group("at"))
    assert all(labels[y, x] > 0 for y, x in at), at
    assert len({labels[y, x] for y, x in at}) == 3  # three objects, one per added marker
    assert max(abs(y - y0) + abs(x - x0) for (y, x), (y0, x0) in zip(at, [(201, 500), (251, 482), (305, 315)])) <= 3
    assert not [said for said in printed.said if "added 3 marker" in said]  # Python's logging as it was
    assert (notes.level, notes.filters) == (level, filters)


@pytest.mark.jvm
def test_cutter_adds_no_marker_to_the_users_own_points(clean, gowt1):
    """markers=roi_manager: 6 points, 6 objects, no note of added markers."""
    import jpype
    from scyjava import jimport

    points = [(17, 67), (21, 152), (60, 260), (108, 108), (145, 30), (180, 244)]  # (y, x) of detected nuclei
    floats = jpype.JArray(jpype.JFloat)
    clean.addRoi(jimport("ij.gui.PointRoi")(floats([float(x) for _, x in points]),
                                            floats([float(y) for y, _ in points]), len(points)))
    _show(gowt1, "gowt1", "YX")
    _macro('selectImage("gowt1"); run("LabelFree Cutter", "markers=roi_manager n_steps=20 rois=none table=false");')
    labels = _labels("gowt1-labels")
    assert int(labels.max()) == 6
    assert sorted({int(labels[y, x]) for y, x in points}) == [1, 2, 3, 4, 5, 6]
    assert not [line for line in _log_lines() if "added" in line or "warning" in line], _log_lines()


#: four bright disks (radius 14 px) on noise, 96 x 96 (tests/imagej/test_log_wording.py)
FOUR = [(25, 25), (25, 70), (70, 30), (68, 72)]


@pytest.mark.jvm
@pytest.mark.slow
def test_a_warnings_position_inside_a_selection_is_the_images(clean):
    """Was: a marker on the background at (x=90, y=48), the command run inside a selection from (x=8, y=6), was said
    at (x=82, y=42), the selection box's pixel. Now at the image's."""
    import jpype
    from scyjava import jimport

    image = np.random.default_rng(0).normal(10, 2, (96, 96)).astype(np.float32)
    yy, xx = np.mgrid[:96, :96]
    for cy, cx in FOUR:
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < 14**2] += 50
    _show(image, "cells", "YX")
    points = [*FOUR, (48, 90)]
    floats = jpype.JArray(jpype.JFloat)
    clean.addRoi(jimport("ij.gui.PointRoi")(floats([float(x) for _, x in points]),
                                            floats([float(y) for y, _ in points]), len(points)))
    _macro('selectImage("cells"); makeRectangle(8, 6, 88, 90); run("LabelFree Cutter", "markers=roi_manager '
           'n_steps=5 crop_size=32 area_size=96 rois=none table=false");')
    said = [line for line in _log_lines() if line.startswith("LabelFree Cutter warning:")]
    assert said == [
        ("LabelFree Cutter warning: 1 of 5 markers lie on the background of the foreground mask, so no cell is cut "
         "there: (x=90, y=48). If they mark cells, the mask misses them: give a mask, or change mask_signal, "
         "cell_fraction or mask_smoothing.")]


@pytest.fixture(scope="module")
def msc_crop(shared_data):
    return np.stack([_data(shared_data, "Fluo-C2DL-MSC", t)[MSC_BOX] for t in MSC_FRAMES])


@pytest.mark.jvm
def test_motion_says_a_frame_of_fragments_from_1(clean, msc_crop, printed):
    """Was: nothing in the Log of why the crop's 81 small objects of its first frame did not set the cell size."""
    _show(msc_crop, "msc", "TYX")
    _macro('selectImage("msc"); run("LabelFree Motion", "rois=none table=false");')
    lines = _log_lines()
    notes = [line for line in lines if FRAGMENTS.match(line)]
    assert len(notes) == 1, lines
    assert lines.index(notes[0]) < [k for k, line in enumerate(lines) if "automatic settings" in line][0]
    assert not [said for said in printed.said if "fragments" in said]


@pytest.mark.jvm
def test_motions_split_note_reaches_the_log_once_counted_from_1_and_other_info_does_not(clean, printed):
    """The note of touching cells split at the size a run settled on (a HeLa crop's), logged as Motion logs it."""
    from scyjava import jimport

    from labelfree.imagej.dialog import relay_log_warnings

    log = logging.getLogger("labelfree.motion.segment")
    with relay_log_warnings("LabelFree Motion", image="hela", origin=(5, 5)):
        for _ in range(2):
            log.info("Motion: touching cells split at a typical cell area of %.0f px from frame %d (0-based) on; the "
                     "frames before it at %.0f px", 1232.0, 1, 5956.0)
        log.info("Motion: minimum object size 308 px, closing radius 4 px")
        log.warning("Motion: one warning")
    assert str(jimport("ij.IJ").getLog() or "").splitlines() == [
        ("LabelFree Motion on hela: touching cells split at a typical cell area of 1232 px from frame 2 (the stack's "
         "frames, counted from 1) on; the frames before it at 5956 px"),
        "LabelFree Motion warning: one warning"]
    assert printed.said == ["Motion: one warning"]
    assert log.level == logging.NOTSET and not log.filters
    # a Python user who asked for info: Python prints the note as before, and the Log has it once too
    jimport("ij.IJ").log("\\Clear")
    log.setLevel(logging.INFO)
    try:
        with relay_log_warnings("LabelFree Motion", image="hela"):
            log.info("Motion: frame %d (0-based): its %d objects of a typical %.0f px are fragments of larger cells", 0,
                     81, 89.0)
    finally:
        log.setLevel(logging.NOTSET)
    assert str(jimport("ij.IJ").getLog() or "").splitlines() == [
        ("LabelFree Motion on hela: frame 1 (the stack's frames, counted from 1): its 81 objects of a typical 89 px "
         "are fragments of larger cells")]
    assert printed.said[1:] == ["Motion: frame 0 (0-based): its 81 objects of a typical 89 px are fragments of larger "
                                "cells"]


# --- a folder of images (docs/fiji.md) with Cutter and Motion -----------------------------------------------------


@pytest.mark.jvm
@pytest.mark.slow
@pytest.mark.usefixtures("restored")
def test_batch_macro_with_cutter_names_each_files_added_markers(gowt1, tmp_path):
    """Process > Batch > Macro with ``run("LabelFree Cutter", ...)``: each file's labels under its name; the Log's
    note of added markers names its file (a batch has no window to tell them apart)."""
    from test_batch_macro import _batch_macro, _closing_dialogs, _read, _write

    images = {"dim a.tif": gowt1, "dim b.tif": gowt1}  # the same crop twice: two files, two notes
    _write(tmp_path / "in", images)
    (tmp_path / "out").mkdir()
    with _closing_dialogs() as dialogs:
        _batch_macro('run("LabelFree Cutter", "n_steps=20 rois=none table=false");', tmp_path / "in",
                     tmp_path / "out")
    assert dialogs == []
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(images)
    titles = [ADDED.match(line).group("title") for line in _log_lines() if ADDED.match(line)]
    assert titles == sorted(images)
    for name in images:
        saved, info = _read(tmp_path / "out" / name)
        assert saved.dtype == np.uint16 and int(saved.max()) == 11 and '"pipeline": "cutter"' in info
        at = _positions([line for line in _log_lines() if line.startswith(f"LabelFree Cutter on {name}: marker")][0])
        assert all(saved[y, x] > 0 for y, x in at)


@pytest.mark.jvm
@pytest.mark.usefixtures("restored")
def test_the_documented_macro_loop_with_motion(clean, msc_crop, tmp_path):
    """docs/fiji.md's macro loop with ``run("LabelFree Motion", ...)`` instead of Threshold: labels bit for bit
    those of Python, ROIs and table per frame (counted from 1), and the crop's note named by its title."""
    from test_batch_macro import _expected, _loop, _read, _write

    import labelfree.imagej as lij
    from labelfree.io import read_rois

    clean.close()  # no ROI Manager window, as when ImageJ starts
    _write(tmp_path / "in", {"msc.tif": msc_crop})
    (tmp_path / "out").mkdir()
    code = _loop(tmp_path / "in", tmp_path / "out", batch_mode=True)
    threshold = 'run("LabelFree Threshold", "min_size=30 rois=replace table=true");'
    assert threshold in code
    lij.run_macro(code.replace(threshold, 'run("LabelFree Motion", "rois=replace table=true");'))
    saved, info = _read(tmp_path / "out" / "msc_labels.tif")
    np.testing.assert_array_equal(saved, _expected(msc_crop, "motion"))
    assert '"pipeline": "motion"' in info
    frames = [t + 1 for t in range(len(saved)) for _ in np.unique(saved[t][saved[t] > 0])]
    rows = (tmp_path / "out" / "msc_objects.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[2]) for r in rows] == frames
    assert len(read_rois(tmp_path / "out" / "msc_rois.zip")) == len(frames)
    assert [line for line in _log_lines() if FRAGMENTS.match(line.replace("on msc.tif:", "on msc:"))]
