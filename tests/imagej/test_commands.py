"""The "LabelFree ..." commands through ImageJ's real macro interpreter, recorder and batch mode."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from awt_events import on_edt, press, recorded_line, wait_for_dialog

from labelfree.errors import Cancelled, ConfigError, DimensionError, InputError
from labelfree.image import to_dataarray

pytestmark = pytest.mark.jvm

THRESHOLD = "method=otsu min_size=5 rois=replace"


def _blobs_movie(n_t: int = 3, seed: int = 0) -> tuple[np.ndarray, list[int]]:
    """TYX movie with separated square cells; returns the movie and the count per frame."""
    rng = np.random.default_rng(seed)
    movie = rng.integers(0, 60, (n_t, 64, 80)).astype(np.uint16)
    counts = []
    for t in range(n_t):
        k = 2 + t
        for i in range(k):
            y, x = 10 + 14 * (i % 3), 10 + 22 * (i // 3) + 3 * t
            movie[t, y : y + 8, x : x + 8] += 1000
        counts.append(k)
    return movie, counts


@pytest.fixture
def movie_imp(ij):
    from scyjava import jimport

    import labelfree.imagej as lij
    from labelfree.imagej.jvm import _close_imagej_windows

    _close_imagej_windows()  # without save prompts
    WindowManager = jimport("ij.WindowManager")
    movie, counts = _blobs_movie()
    da = to_dataarray(movie, dims="TYX", scale={"X": 0.5, "Y": 0.5, "T": 60.0},
                      units={"X": "µm", "Y": "µm", "T": "s"})
    imp = lij.xarray_to_imageplus(da, title="movie")
    imp.show()
    WindowManager.setTempCurrentImage(imp)
    rm = jimport("ij.plugin.frame.RoiManager").getRoiManager()
    rm.reset()
    yield imp, counts
    rm.reset()


def _labels_of(title: str):
    from scyjava import jimport

    import labelfree.imagej as lij

    imp = jimport("ij.WindowManager").getImage(title)
    assert imp is not None, f"no image titled {title}"
    return imp, lij.imageplus_to_xarray(imp)


def test_macro_gives_labels_rois_and_table(movie_imp):
    from scyjava import jimport

    import labelfree.imagej as lij

    imp, counts = movie_imp
    out = lij.run_macro(f'run("LabelFree Threshold", "{THRESHOLD}"); return getTitle();')
    assert out == "movie-labels"
    label_imp, labels = _labels_of("movie-labels")
    assert label_imp.getBitDepth() == 16 and label_imp.getNFrames() == 3
    assert [int(labels[t].max()) for t in range(3)] == counts
    cal = label_imp.getCalibration()
    assert (cal.pixelWidth, str(cal.getUnit()), cal.frameInterval) == (0.5, "µm", 60.0)
    lut = label_imp.getProcessor().getLut()
    colours = {int(lut.getRGB(jimport("java.lang.Integer")(i).intValue())) & 0xFFFFFF for i in range(1, 6)}
    assert len(colours) == 5 and int(lut.getRGB(jimport("java.lang.Integer")(0).intValue())) & 0xFFFFFF == 0
    rois = list(jimport("ij.plugin.frame.RoiManager").getInstance().getRoisAsArray())
    assert len(rois) == sum(counts)
    assert [int(r.getPosition()) for r in rois] == [t + 1 for t, k in enumerate(counts) for _ in range(k)]
    assert str(rois[0].getName()) == "t0001-L00001" and str(rois[0].getProperty("label")) == "1"
    table = jimport("ij.WindowManager").getWindow("movie-objects")
    assert table is not None
    rt = table.getResultsTable()
    assert int(rt.size()) == sum(counts)
    assert np.allclose(lij.resultstable_to_table(rt)["area"], 64 * 0.25)


def test_rois_append_by_default_and_replace_on_request(movie_imp):
    from scyjava import jimport

    import labelfree.imagej as lij

    imp, counts = movie_imp
    rm = jimport("ij.plugin.frame.RoiManager").getInstance()
    rm.addRoi(jimport("ij.gui.Roi")(1, 1, 5, 5))  # the user's own ROI
    lij.run_macro('run("LabelFree Threshold", "min_size=5 table=false");')
    assert rm.getCount() == 1 + sum(counts)
    lij.run_macro('selectImage("movie"); run("LabelFree Threshold", "min_size=5 rois=replace table=false");')
    assert rm.getCount() == sum(counts)


def test_batch_mode_outputs_are_reachable_by_the_macro(movie_imp):
    import labelfree.imagej as lij

    imp, counts = movie_imp
    out = lij.run_macro(
        'setBatchMode(true); selectImage("movie");'
        f'run("LabelFree Threshold", "{THRESHOLD}");'
        'title = getTitle(); frames = nSlices; getMinAndMax(lo, hi); Stack.setFrame(3); getStatistics(a, m, mn, mx);'
        'setBatchMode(false); return title + " " + frames + " " + mx;'
    )
    assert out == f"movie-labels 3 {counts[2]}"


def test_recorder_records_a_line_that_replays_to_the_same_labels(movie_imp):
    """A user runs the menu command, edits the dialog, presses OK; the recorded line replays."""
    from scyjava import jimport

    import labelfree.imagej as lij

    imp, counts = movie_imp
    Recorder = jimport("ij.plugin.frame.Recorder")
    recorder = Recorder(False)
    try:
        jimport("ij.IJ").doCommand("LabelFree Threshold")  # the menu path (Executer thread)
        gd = wait_for_dialog("LabelFree Threshold")
        on_edt(lambda: gd.getNumericFields().get(0).setText("40"))  # min_size
        press(gd, 0)
        line = recorded_line(recorder)
    finally:
        recorder.close()
    assert line.startswith('run("LabelFree Threshold", "method=otsu dark_objects=false ')
    assert "min_size=40 " in line and "rois=append table=true" in line
    _, first = _labels_of("movie-labels")
    first.attrs.clear()
    jimport("ij.WindowManager").getImage("movie-labels").close()
    lij.run_macro('selectImage("movie");' + line)
    _, again = _labels_of("movie-labels")
    assert np.array_equal(again.values, first.values) and int(first.max()) > 0


def test_errors_reach_python_and_the_log(movie_imp):
    from scyjava import jimport

    import labelfree.imagej as lij

    with pytest.raises(ConfigError, match="Unknown option 'minsize'.*min_size"):
        lij.run_macro('run("LabelFree Threshold", "minsize=5");')
    assert "LabelFree error: Unknown option 'minsize'" in str(jimport("ij.IJ").getLog())
    with pytest.raises(InputError, match="No open image is titled 'nothing'"):
        lij.run_macro('run("LabelFree Threshold", "image=nothing");')
    jimport("ij.IJ").log("a line")  # opens the Log window
    with pytest.raises(InputError, match="'Log' is a .*window, not an image"):
        lij.run_macro('run("LabelFree Threshold", "image=Log");')
    with pytest.raises(DimensionError):
        lij.run_command("motion", lij.xarray_to_imageplus(np.arange(64 * 64, dtype=np.uint8).reshape(64, 64)),
                        options={"rois": "none", "table": False})


def test_no_image_open_is_a_clear_error(ij):
    from scyjava import jimport

    import labelfree.imagej as lij
    from labelfree.imagej.jvm import _close_imagej_windows

    _close_imagej_windows()
    WindowManager = jimport("ij.WindowManager")
    WindowManager.setTempCurrentImage(None)
    with pytest.raises(InputError, match="There is no image open"):
        lij.run_macro('run("LabelFree Threshold", "rois=none");')


def test_python_api_returns_the_result_and_the_reproducing_options(movie_imp):
    import labelfree.imagej as lij

    imp, counts = movie_imp
    result = lij.run_command("LabelFree Threshold", imp, options={"min_size": 5, "rois": "none", "table": False})
    assert [int(result.labels[t].max()) for t in range(3)] == counts
    assert result.n_rois == 0 and result.table is None
    assert result.options == ("method=otsu dark_objects=false min_size=5 fill_holes=true "
                              "split_touching=false threshold=auto rois=none table=false")
    assert str(result.label_image.getTitle()) == "movie-labels"


def test_escape_key_cancels_through_the_progress_sink(ij):
    from scyjava import jimport

    from labelfree._progress import Progress
    from labelfree.imagej.dialog import ImageJProgress

    sink = ImageJProgress("LabelFree Test")
    with Progress(sink, total=3, desc="test") as bar:
        bar.update(message="frame 1")
        jimport("ij.IJ").setKeyDown(jimport("java.awt.event.KeyEvent").VK_ESCAPE)
        with pytest.raises(Cancelled):
            bar.update(message="frame 2")
    jimport("ij.IJ").resetEscape()


#: centres of the four bright disks of :func:`_four_cells`
FOUR = [(25, 25), (25, 70), (70, 30), (68, 72)]


def _four_cells(title: str, seed: int):
    """A 96 x 96 image of four bright disks (radius 14 px) on noise, shown in ImageJ."""
    import labelfree.imagej as lij

    img = np.random.default_rng(seed).normal(10, 2, (96, 96)).astype(np.float32)
    yy, xx = np.mgrid[:96, :96]
    for cy, cx in FOUR:
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < 14**2] += 50
    imp = lij.xarray_to_imageplus(to_dataarray(img, dims="YX"), title=title)
    imp.show()
    return imp


@pytest.mark.slow
def test_cutter_on_a_one_channel_image_detects_its_markers_with_an_untouched_dialog(ij):
    """No markers in the ROI Manager, no nucleus channel: the image's own bright bodies are the markers."""
    from scyjava import jimport

    import labelfree.imagej as lij

    _four_cells("nuclei", seed=1)
    centres = FOUR
    jimport("ij.plugin.frame.RoiManager").getRoiManager().reset()
    jimport("ij.IJ").log("\\Clear")
    lij.run_macro('selectImage("nuclei"); run("LabelFree Cutter", "n_steps=5 crop_size=32 area_size=96 table=false");')
    _, labels = _labels_of("nuclei-labels")
    assert sorted(int(labels.values[cy, cx]) for cy, cx in centres) == [1, 2, 3, 4]
    logged = str(jimport("ij.IJ").getLog())
    assert "LabelFree Cutter on nuclei: automatic settings markers 4 detected in the image, downscale" in logged, logged


@pytest.mark.slow
def test_cutter_on_a_cells_and_nuclei_image_guesses_the_nucleus_channel_with_an_untouched_dialog(ij):
    """Two channels, no markers, nucleus channel left at auto: the nuclei channel gives the markers."""
    from scyjava import jimport

    import labelfree.imagej as lij

    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[:96, :96]
    image = rng.normal(10, 2, (2, 96, 96)).astype(np.float32)
    for cy, cx in FOUR:
        d2 = (yy - cy) ** 2 + (xx - cx) ** 2
        image[0][d2 < 14**2] += 40  # cells
        image[1][d2 < 5**2] += 60  # their nuclei
    imp = lij.xarray_to_imageplus(to_dataarray(image, dims="CYX", channel_names=["cells", "nuclei"]), title="two")
    imp.show()
    jimport("ij.plugin.frame.RoiManager").getRoiManager().reset()
    jimport("ij.IJ").log("\\Clear")
    lij.run_macro('selectImage("two"); run("LabelFree Cutter", "n_steps=5 crop_size=32 area_size=96 table=false");')
    _, labels = _labels_of("two-labels")
    assert sorted(int(labels.values[cy, cx]) for cy, cx in FOUR) == [1, 2, 3, 4]
    assert int(labels.values[FOUR[0][0] + 11, FOUR[0][1]]) > 0  # whole cells, not nuclei
    logged = str(jimport("ij.IJ").getLog())
    # the second channel, counted from 1 as ImageJ counts (the provenance keeps the 0-based index 1)
    assert ("automatic settings markers 4 detected in channel 2 (nuclei, guessed: its objects lie inside a "
            "larger channel's)") in logged, logged


@pytest.mark.slow
def test_cutter_takes_its_markers_from_the_roi_manager(ij):
    """One point per cell clicked by the user -> one object per point, with the point's id."""
    import jpype
    from scyjava import jimport

    import labelfree.imagej as lij

    _four_cells("cells", seed=0)
    centres = FOUR
    rm = jimport("ij.plugin.frame.RoiManager").getRoiManager()
    rm.reset()
    floats = jpype.JArray(jpype.JFloat)
    rm.addRoi(jimport("ij.gui.PointRoi")(floats([float(c[1]) for c in centres]),
                                         floats([float(c[0]) for c in centres]), 4))
    jimport("ij.IJ").log("\\Clear")
    lij.run_macro('selectImage("cells"); run("LabelFree Cutter", '
                  '"markers=roi_manager n_steps=5 crop_size=32 area_size=96 rois=append table=false");')
    _, labels = _labels_of("cells-labels")
    assert [int(labels.values[cy, cx]) for cy, cx in centres] == [1, 2, 3, 4]
    # the scale chosen from the data is in the Log window, as in the provenance
    logged = str(jimport("ij.IJ").getLog())
    assert re.search(r"LabelFree Cutter on cells: automatic settings downscale [0-9.]+, marker_sigma [0-9.]+, "
                     r"mask_smoothing [0-9.]+", logged), logged
    assert rm.getCount() == 1 + 4
    rm.reset()


def test_pipeline_warnings_reach_the_log_and_python(ij):
    """More than 65535 objects: ImageJ users see the 32-bit float warning in the Log window."""
    from scyjava import jimport

    import labelfree.imagej as lij

    checker = np.indices((512, 512)).sum(axis=0) % 2 == 0  # 131072 one-pixel objects
    imp = lij.xarray_to_imageplus(checker.astype(np.uint8) * 200, title="checker")
    jimport("ij.IJ").log("\\Clear")
    with pytest.warns(UserWarning, match="exceeds 16-bit"):
        result = lij.run_command("threshold", imp, options={"min_size": 0, "rois": "none", "table": False,
                                                            "fill_holes": False})
    assert result.label_image.getBitDepth() == 32 and int(result.labels.max()) == 512 * 512 // 2
    assert "LabelFree Threshold warning:" in str(jimport("ij.IJ").getLog())


def test_cancelling_the_dialog_changes_nothing_and_shows_no_error(movie_imp):
    from scyjava import jimport

    WindowManager = jimport("ij.WindowManager")
    jimport("ij.IJ").doCommand("LabelFree Threshold")
    gd = wait_for_dialog("LabelFree Threshold")
    press(gd, 1)
    time.sleep(1.0)
    assert WindowManager.getImage("movie-labels") is None
    assert jimport("ij.plugin.frame.RoiManager").getInstance().getCount() == 0
    shown = [str(w.getTitle()) for w in jimport("java.awt.Window").getWindows() if w.isShowing()]
    assert "LabelFree" not in shown  # no IJ.error dialog


@pytest.fixture
def no_roimanager_window(ij):
    """No ROI Manager window open: a batch-mode macro then has only its own hidden ROI Manager."""
    from scyjava import jimport

    from labelfree.imagej.jvm import _close_imagej_windows

    _close_imagej_windows()
    RoiManager = jimport("ij.plugin.frame.RoiManager")

    def close():
        window = RoiManager.getRawInstance()
        if window is not None:
            window.reset()
            on_edt(window.close)

    close()
    assert RoiManager.getRawInstance() is None
    yield
    close()


def test_batch_mode_rois_reach_the_macros_roi_manager_without_a_window(no_roimanager_window):
    """Was: the ROIs went to a second hidden manager, so roiManager("count") was 0 and
    roiManager("select", 0) aborted the macro."""
    from scyjava import jimport

    import labelfree.imagej as lij

    out = lij.run_macro(
        'setBatchMode(true); newImage("blobs", "8-bit black", 96, 96, 1, 1, 1); setColor(200);'
        'fillOval(10, 10, 20, 20); fillOval(60, 60, 15, 15);'
        'run("LabelFree Threshold", "min_size=5 rois=append table=false"); n = roiManager("count");'
        'if (n != 2) { setBatchMode(false); return "count " + n; }'  # select would abort (a modal error)
        'roiManager("select", 1); getSelectionBounds(x, y, w, h); name = Roi.getName;'
        'setBatchMode(false); return "" + n + " " + name + " " + x + "," + y + " " + w + "x" + h;'
    )
    assert out == "2 t0001-L00002 60,60 15x15", out
    assert jimport("ij.plugin.frame.RoiManager").getRawInstance() is None  # no window was opened


@pytest.mark.slow
def test_batch_mode_cutter_takes_the_markers_the_macro_added(no_roimanager_window):
    """Was: "markers=roi_manager but the ROI Manager holds no ROI inside the image" for markers added
    with roiManager("add") in batch mode."""
    import labelfree.imagej as lij

    out = lij.run_macro(
        'setBatchMode(true); newImage("b", "8-bit black", 96, 96, 1, 1, 1); setColor(200);'
        'fillOval(10, 10, 20, 20); fillOval(60, 60, 20, 20);'
        'makePoint(20, 20); roiManager("add"); makePoint(70, 70); roiManager("add"); run("Select None");'
        'run("LabelFree Cutter", "n_steps=5 crop_size=32 area_size=96 stop_at_plateau=false markers=roi_manager '
        'rois=append table=false");'
        'a = getPixel(20, 20); b = getPixel(70, 70); c = getPixel(2, 90); n = roiManager("count");'
        'setBatchMode(false); return getTitle() + " " + a + " " + b + " " + c + " " + n;'
    )
    assert out == "b-labels 1 2 0 4", out  # marker i -> object i; the 2 markers + 2 outlines


def test_a_key_given_twice_takes_its_first_value_as_imagej_does(movie_imp):
    """ImageJ's Macro.getValue reads the first `key=`; LabelFree read the last one."""
    from scyjava import jimport

    import labelfree.imagej as lij

    assert str(jimport("ij.Macro").getValue("min_size=5 min_size=500 ", "min_size", "d")) == "5"
    out = lij.run_macro('run("LabelFree Threshold", "min_size=5 min_size=500 rois=none table=false");'
                        'Stack.setFrame(3); getStatistics(a, m, mn, mx); return "" + mx;')
    assert out == str(movie_imp[1][2])  # 8 x 8 cells kept: min_size=5, not 500


def test_stitch_warning_in_the_log_names_the_commands_keys_and_counts_planes_from_one(ij):
    """Was: "(order= / --order) ... (--grid)" and tiles counted from 0, in ImageJ's Log."""
    from scipy import ndimage as ndi
    from scyjava import jimport

    import labelfree.imagej as lij
    from labelfree.imagej.jvm import _close_imagej_windows

    _close_imagej_windows()
    IJ = jimport("ij.IJ")
    IJ.log("\\Clear")
    rng = np.random.default_rng(3)
    big = ndi.gaussian_filter(rng.random((168, 168)), 3) * 1000
    tiles = np.stack([big[y:y + 96, x:x + 96] for y in (0, 72) for x in (0, 72)]).astype(np.float32)
    tiles[3] = 500.0  # a tile without texture: it cannot be matched to its neighbours
    lij.xarray_to_imageplus(to_dataarray(tiles, dims="ZYX"), title="tiles").show()
    lij.run_macro('run("LabelFree Stitch", "image=tiles rows=2 cols=2 table=false");')
    logged = str(IJ.getLog())
    warning = next(line for line in logged.splitlines() if line.startswith("LabelFree Stitch warning:"))
    assert "1 of 4 tiles has no trustworthy link to a neighbour and keeps its nominal position: tile 4 (tiles: the " \
        "stack's planes, counted from 1)" in warning, warning
    assert "Check the tile order (order=), the overlap (overlap=) and the grid size (rows= and cols=)" in warning
    assert "--" not in warning and "0-based" not in warning and "[3]" not in warning
    # the positions table counts its tiles as the Log and the stack do, from 1 (it said 0..3)
    lij.run_macro('run("LabelFree Stitch", "image=tiles rows=2 cols=2 table=true");')
    window = jimport("ij.WindowManager").getWindow("tiles-positions-1")  # the second run: "-1", as its mosaic
    assert window is not None
    shown = lij.resultstable_to_table(window.getResultsTable())
    assert shown["tile"].tolist() == [1, 2, 3, 4]


def test_fusion_without_a_zoo_says_the_macro_key_first(ij, tmp_path, monkeypatch):
    """Was: "give its folder with --zoo FOLDER (Fiji: ...)", command-line advice before zoo=[FOLDER]."""
    import labelfree.imagej as lij
    from labelfree.imagej.jvm import _close_imagej_windows

    _close_imagej_windows()
    monkeypatch.setenv("LABELFREE_CACHE_DIR", str(tmp_path))  # a model cache without a zoo
    noise = np.random.default_rng(0).integers(0, 200, (32, 32)).astype(np.uint8)
    lij.xarray_to_imageplus(to_dataarray(noise, dims="YX"), title="cells").show()
    with pytest.raises(InputError) as caught:
        lij.run_macro('run("LabelFree Fusion", "image=cells rois=none table=false");')
    message = str(caught.value)
    assert message.startswith("Fusion needs a model zoo: give its folder with zoo=[FOLDER] (in the dialog: the zoo "
                              "field). None was given"), message
    assert "--zoo FOLDER (" not in message and "Python:" not in message
    assert message.index("zoo=[FOLDER]") < message.index("`labelfree fusion train")
    assert "Make one outside ImageJ, with LabelFree's command line in a terminal: `labelfree fusion train" in message
