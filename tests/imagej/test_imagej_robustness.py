"""The LabelFree commands on the images Fiji users have: RGB, inverting LUTs, selections, odd titles, reruns."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from awt_events import press

from labelfree.errors import NoObjectsWarning
from labelfree.image import to_dataarray

pytestmark = pytest.mark.jvm

#: centres of the four bright disks (radius 10 px) of :func:`_cells`
CENTRES = [(20, 20), (20, 70), (70, 20), (70, 70)]


def _cells(seed: int = 0) -> np.ndarray:
    """A 96 x 96 uint8 image: four bright disks on a dark, noisy background."""
    img = np.random.default_rng(seed).normal(10, 2, (96, 96)).clip(0)
    yy, xx = np.mgrid[:96, :96]
    for cy, cx in CENTRES:
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < 10**2] += 100
    return img.astype(np.uint8)


def _show(image, title: str, *, dims: str = "YX", **kw):
    import labelfree.imagej as lij

    imp = lij.xarray_to_imageplus(to_dataarray(image, dims=dims, **kw), title=title)
    imp.show()
    return imp


def _from_menu(command: str, title: str) -> tuple[list[BaseException], list[str]]:
    """``run(command)`` in a macro without options, as from the menu, pressing OK on every dialog it opens.
    Returns the errors it raised and the dialogs it opened."""
    from scyjava import jimport

    import labelfree.imagej as lij

    GenericDialog, Window = jimport("ij.gui.GenericDialog"), jimport("java.awt.Window")
    errors: list[BaseException] = []
    dialogs: list[str] = []

    def go():
        try:
            lij.run_macro(f'selectImage("{title}"); run("{command}");')
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(exc)

    thread = threading.Thread(target=go)
    thread.start()
    deadline = time.time() + 60
    while thread.is_alive() and time.time() < deadline:
        for w in Window.getWindows():
            if isinstance(w, GenericDialog) and w.isShowing() and str(w.getTitle()) == command:
                dialogs.append(command)
                press(w, 0)
        time.sleep(0.05)
    thread.join(5)
    assert not thread.is_alive(), f"{command} did not finish"
    return errors, dialogs


def _untouched_dialog(command: str, title: str) -> None:
    """``run(command)`` from the menu: the dialog opens and the user presses OK; errors are raised here."""
    errors, _ = _from_menu(command, title)
    if errors:
        raise errors[0]


def _labels(title: str):
    from scyjava import jimport

    import labelfree.imagej as lij

    imp = jimport("ij.WindowManager").getImage(title)
    assert imp is not None, f"no image titled {title}"
    return imp, lij.imageplus_to_xarray(imp).values


def _table(title: str):
    from scyjava import jimport

    import labelfree.imagej as lij

    window = jimport("ij.WindowManager").getWindow(title)
    assert window is not None, f"no table titled {title}"
    return lij.resultstable_to_table(window.getResultsTable())


def _log() -> str:
    from scyjava import jimport

    return str(jimport("ij.IJ").getLog() or "")


def test_an_rgb_image_is_segmented_on_its_brightness_from_an_untouched_dialog(clean):
    """Coloured RGB (ColorProcessor): was a DimensionError asking for a channel the dialog does not list."""
    img = _cells()
    rgb = np.stack([img, img // 2, img // 4])
    imp = _show(rgb, "colour", dims="CYX", channel_names=["R", "G", "B"])
    assert imp.getBitDepth() == 24
    _untouched_dialog("LabelFree Threshold", "colour")
    _, labels = _labels("colour-labels")
    assert sorted(int(labels[cy, cx]) for cy, cx in CENTRES) == [1, 2, 3, 4] and int(labels.max()) == 4
    assert "segmented the RGB image's brightness (as Image > Type > 8-bit)" in _log()
    from scyjava import jimport

    weights = [float(w) for w in jimport("ij.process.ColorProcessor").getWeightingFactors()]
    grey = np.floor(sum(w * c.astype(float) for w, c in zip(weights, rgb)) + 0.5)
    table = _table("colour-objects")
    assert np.isclose(table["mean_intensity"][0], grey[labels == 1].mean())
    assert int(clean.getCount()) == 4


def test_an_rgb_image_with_a_chosen_colour_segments_that_colour(clean):
    import labelfree.imagej as lij

    img = _cells()
    rgb = np.stack([img, np.zeros_like(img), img // 2])
    rgb[1, 60:80, 60:80] = 200  # a square only in green
    _show(rgb, "colour", dims="CYX", channel_names=["R", "G", "B"])
    lij.run_macro('selectImage("colour"); run("LabelFree Threshold", "channel=G rois=none table=false");')
    _, labels = _labels("colour-labels")
    assert int(labels.max()) == 1 and int(labels[70, 70]) == 1 and int(labels[20, 20]) == 0
    assert "brightness" not in _log()


def test_an_image_shown_through_an_inverting_lut_is_segmented_on_its_values_as_imagej_thresholds_it(clean):
    """Blobs-like: bright values shown dark by an inverting LUT. ImageJ's default threshold (light
    background) takes them as the objects, and so does LabelFree; the LUT does not turn them into background."""
    import labelfree.imagej as lij

    img = _cells()
    imp = _show(img, "blobs")
    lij.run_macro('selectImage("blobs"); run("Invert LUT");')
    assert imp.isInvertedLut()
    lij.run_macro('selectImage("blobs"); setAutoThreshold("Default"); run("Convert to Mask");')
    mask = _labels("blobs")[1] > 0  # ImageJ's own objects (the macro turned the window into its mask)
    assert mask[CENTRES[0]] and not mask[45, 45]
    imp = _show(img, "blobs2")
    lij.run_macro('selectImage("blobs2"); run("Invert LUT");')
    _untouched_dialog("LabelFree Threshold", "blobs2")
    _, labels = _labels("blobs2-labels")
    assert sorted(int(labels[cy, cx]) for cy, cx in CENTRES) == [1, 2, 3, 4] and int(labels.max()) == 4
    assert int(labels[45, 45]) == 0 and int(clean.getCount()) == 4
    assert "LUT" not in _log()


def test_a_rectangle_selection_limits_the_command_and_rois_stay_in_image_positions(clean):
    """Was: the selection ignored, every object of the image segmented."""
    from scyjava import jimport

    img = _cells()
    imp = _show(img, "selected", scale={"X": 0.5, "Y": 0.5}, units={"X": "µm", "Y": "µm"})
    imp.setRoi(jimport("ij.gui.Roi")(40, 0, 56, 50))  # the top-right cell only
    _untouched_dialog("LabelFree Threshold", "selected")
    label_imp, labels = _labels("selected-labels")
    assert labels.shape == (96, 96) and int(labels.max()) == 1
    assert int(labels[20, 70]) == 1 and int(labels[20, 20]) == 0
    rois = list(clean.getRoisAsArray())
    assert [(int(r.getBounds().x), int(r.getBounds().y)) for r in rois] == [(61, 11)]
    assert label_imp.getCalibration().pixelWidth == 0.5
    assert imp.getRoi() is not None  # the user's selection is kept
    assert "segmented inside the selection (x=40, y=0, 56x50 pixels)" in _log()
    assert "segmented inside the selection" in str(label_imp.getProperty("Info"))  # the provenance says so


def test_an_oval_selection_cuts_objects_at_its_outline(clean):
    from scyjava import jimport

    import labelfree.imagej as lij

    img = _cells()
    imp = _show(img, "oval")
    imp.setRoi(jimport("ij.gui.OvalRoi")(0, 0, 96, 96))
    lij.run_macro('selectImage("oval"); run("LabelFree Threshold", "rois=none table=false");')
    _, labels = _labels("oval-labels")
    yy, xx = np.mgrid[:96, :96]
    outside = (yy + 0.5 - 48) ** 2 + (xx + 0.5 - 48) ** 2 > 48**2 + 4
    assert int(labels.max()) == 4 and not labels[outside].any()
    whole = lij.run_command("threshold", imp, options={"rois": "none", "table": False}).labels  # still the oval
    imp.deleteRoi()
    full = lij.run_command("threshold", imp, options={"rois": "none", "table": False}).labels.values
    assert (full > 0).sum() > (whole.values > 0).sum()


def test_a_point_selection_does_not_limit_the_command(clean):
    import jpype
    from scyjava import jimport

    import labelfree.imagej as lij

    imp = _show(_cells(), "points")
    floats = jpype.JArray(jpype.JFloat)
    imp.setRoi(jimport("ij.gui.PointRoi")(floats([20.0]), floats([20.0]), 1))
    lij.run_macro('selectImage("points"); run("LabelFree Threshold", "rois=none table=false");')
    assert int(_labels("points-labels")[1].max()) == 4


def test_running_twice_gives_a_new_label_image_and_table_each_time(clean):
    """Was: two windows titled "<title>-labels", so selectImage picked the first run's."""
    import labelfree.imagej as lij

    _show(_cells(), "twice")
    first = lij.run_macro('selectImage("twice"); run("LabelFree Threshold", "rois=replace"); return getTitle();')
    with pytest.warns(NoObjectsWarning):  # no object of 400 px: the run says so, and gives its (empty) outputs
        second = lij.run_macro('selectImage("twice"); run("LabelFree Threshold", "rois=append min_size=400");'
                               'return getTitle();')
    assert (first, second) == ("twice-labels", "twice-labels-1")
    assert int(_labels("twice-labels")[1].max()) == 4 and int(_labels("twice-labels-1")[1].max()) == 0
    assert len(_table("twice-objects")) == 4 and len(_table("twice-objects-1")) == 0
    assert int(clean.getCount()) == 4


def test_a_title_with_spaces_and_brackets_is_accepted_as_image_key(clean):
    """ImageJ reads image=[a [1] b.tif] as the whole title (nested brackets); was a ConfigError."""
    import labelfree.imagej as lij

    title = "my image [1] (copy).tif"
    _show(_cells(), title)
    _show(np.zeros((96, 96), np.uint8), "other")
    out = lij.run_macro(f'run("LabelFree Threshold", "image=[{title}] rois=none table=false"); return getTitle();')
    assert out == f"{title}-labels" and int(_labels(out)[1].max()) == 4


@pytest.mark.slow
def test_cutter_markers_from_the_roi_manager_are_not_taken_for_a_selection(clean):
    """The marker the user just added (still shown as the selection) is an input, not a limit."""
    from scyjava import jimport

    import labelfree.imagej as lij

    imp = _show(_cells().astype(np.float32), "marked")
    OvalRoi = jimport("ij.gui.OvalRoi")
    for cy, cx in CENTRES:
        clean.addRoi(OvalRoi(cx - 3, cy - 3, 7, 7))
    imp.setRoi(OvalRoi(CENTRES[-1][1] - 3, CENTRES[-1][0] - 3, 7, 7))
    lij.run_macro('selectImage("marked"); run("LabelFree Cutter", '
                  '"markers=roi_manager n_steps=5 crop_size=32 area_size=96 rois=none table=false");')
    _, labels = _labels("marked-labels")
    assert sorted(int(labels[cy, cx]) for cy, cx in CENTRES) == [1, 2, 3, 4]
    assert "the selection is one of the ROI Manager's markers" in _log()
    imp.setRoi(jimport("ij.gui.Roi")(0, 0, 50, 50))  # a real limit: only the marker inside it
    lij.run_macro('selectImage("marked"); run("LabelFree Cutter", '
                  '"markers=roi_manager n_steps=5 crop_size=32 area_size=96 rois=none table=false");')
    _, labels = _labels("marked-labels-1")
    assert int(labels[20, 20]) == 1 and int(labels.max()) == 1



def test_labelfree_logged_warnings_reach_the_imagej_log(clean):
    """A grey image saved as two identical channels: Cutter takes them as one grey channel, and says so
    where a Fiji user looks (it went to Python logging only)."""
    from scyjava import jimport

    import labelfree.imagej as lij

    img = _cells()
    _show(np.stack([img, img]), "twins", dims="CYX", channel_names=["a", "b"])
    jimport("ij.IJ").log("\\Clear")
    lij.run_macro('selectImage("twins"); run("LabelFree Cutter", "n_steps=5 crop_size=32 area_size=96 table=false");')
    _, labels = _labels("twins-labels")
    assert sorted(int(labels[cy, cx]) for cy, cx in CENTRES) == [1, 2, 3, 4]
    logged = str(jimport("ij.IJ").getLog())
    assert "LabelFree Cutter warning: The image's 2 channels ['a', 'b'] are identical" in logged, logged


@pytest.mark.parametrize("command", ["LabelFree Motion", "LabelFree Drift"])
def test_a_still_image_is_refused_before_the_dialog_opens(command, clean):
    """As Correct 3D Drift: a command that needs frames says so before asking for its options."""
    from labelfree.errors import DimensionError

    _show(np.stack([_cells(0), _cells(1)]), "planes", dims="ZYX")  # two planes stored as slices
    errors, dialogs = _from_menu(command, "planes")
    assert not dialogs, f"a dialog opened: {dialogs}"
    assert len(errors) == 1 and isinstance(errors[0], DimensionError)
    assert "needs a time-lapse" in str(errors[0]) and "Frames 2" in str(errors[0]), errors[0]


def test_errors_give_their_advice_in_imagej_terms(clean):
    """NaN is ImageJ's "no data" in 32-bit images; the error said to use numpy.nan_to_num, advice a
    Fiji user cannot follow. Threshold now reads NaN as missing, as ImageJ's Auto Threshold does; where
    a command still needs every pixel, the advice names ImageJ's menu command."""
    from scyjava import jimport

    import labelfree.imagej as lij
    from labelfree.errors import NonFiniteError
    from labelfree.imagej.commands import in_imagej_terms

    img = _cells().astype(np.float32)
    img[:5, :5] = np.nan
    _show(img, "holes")
    lij.run_macro('selectImage("holes"); run("LabelFree Threshold", "rois=none table=false");')
    logged = str(jimport("ij.IJ").getLog())
    assert "NaN" not in logged and "Remove NaNs" not in logged, logged
    from labelfree.image import validate_image

    with pytest.raises(NonFiniteError) as err:
        validate_image(img, name="movie")
    said = in_imagej_terms(str(err.value))
    assert "25 NaN/inf pixel(s)" in said and "replace them first (Process > Math > Remove NaNs..." in said, said
    assert "numpy" not in said and "CLI" not in said
    said = in_imagej_terms("Cutter needs one marker per cell: give markers= (points or a nucleus label image), or")
    assert "markers=roi_manager" in said and "markers= (" not in said


def test_a_virtual_stack_larger_than_the_memory_left_is_refused_before_the_dialog(clean, tmp_path, monkeypatch):
    """A pipeline command reads the whole image into Python's memory: on a virtual stack of a movie larger than the
    memory left, the system killed Fiji part way through. It is refused before the dialog, naming the file and
    LabelFree Segment File (which reads it in chunks of frames); with the memory its pixels and labels take, it
    runs."""
    import tifffile
    from scyjava import jimport

    import labelfree.imagej as lij
    from labelfree.errors import InputError

    path = tmp_path / "long movie.tif"
    tifffile.imwrite(path, np.stack([_cells(s) for s in range(4)]), imagej=True, metadata={"axes": "TYX"})
    imp = jimport("ij.plugin.FileInfoVirtualStack").openVirtual(str(path))
    assert imp.getStack().isVirtual() and imp.getNFrames() == 4
    imp.setTitle("virtual")
    imp.show()
    need = 96 * 96 * 4 * (1 + 2) + 8 * 96 * 96  # the uint8 pixels, the uint16 labels, Threshold's work on a plane
    monkeypatch.setattr("labelfree._threads.available_memory", lambda *a: need - 1)
    errors, dialogs = _from_menu("LabelFree Threshold", "virtual")
    assert not dialogs, f"a dialog opened: {dialogs}"
    assert len(errors) == 1 and isinstance(errors[0], InputError), errors
    said = str(errors[0])
    assert "(4 planes of 96x96, a virtual stack)" in said and "Run LabelFree Segment File on its file" in said
    assert f"({path})" in said and "chunks of frames" in said and "its labels and its work on one plane" in said
    monkeypatch.setattr("labelfree._threads.available_memory", lambda *a: need)
    result = lij.run_command("threshold", imp, options="rois=none table=false")
    assert result.labels.shape == (4, 96, 96) and int(result.labels[0].max()) == 4


def test_a_plane_whose_work_cannot_fit_beside_its_pixels_is_segmented_in_tiles(clean, tmp_path, monkeypatch):
    """Threshold's work on one whole plane (8 bytes a pixel) would not fit beside the pixels and labels, its work on
    a 512 px tile would: the command runs in tiles (it was refused before the dialog), says so in the Log and gives
    the labels of a tiled run; with less memory than that it is still refused before the dialog."""
    import tifffile
    from scyjava import jimport

    import labelfree.imagej as lij
    from labelfree._label_memory import tile_bytes
    from labelfree.errors import InputError
    from labelfree.threshold.spec import SPEC

    side = 1200
    rng = np.random.default_rng(3)
    pixels = rng.normal(100, 5, (side, side)).astype(np.uint16)
    yy, xx = np.ogrid[:side, :side]
    pixels[((yy % 40) - 20) ** 2 + ((xx % 40) - 20) ** 2 < 80] += 300
    path = tmp_path / "large plane.tif"
    tifffile.imwrite(path, pixels)
    imp = jimport("ij.IJ").openImage(str(path))
    imp.show()
    need = 2 * side * side * 2 + tile_bytes(SPEC, 512)  # the pixels and labels (16 bits), the work on a tile
    monkeypatch.setattr("labelfree._threads.available_memory", lambda *a: need - 1)
    errors, dialogs = _from_menu("LabelFree Threshold", "large plane.tif")
    assert not dialogs and len(errors) == 1 and isinstance(errors[0], InputError), (errors, dialogs)
    assert "Run LabelFree Segment File on its file" in str(errors[0])
    monkeypatch.setattr("labelfree._threads.available_memory", lambda *a: need)
    result = lij.run_command("threshold", imp, options="rois=none table=false")
    np.testing.assert_array_equal(result.labels.values, _threshold_in_tiles(pixels, 512))
    assert result.labels.attrs["labelfree"]["tiles"]["tile"] == 512
    assert ("LabelFree Threshold on large plane.tif: its labels (2.7 MiB) and Threshold's work on one whole plane "
            "(11 MiB) would take more than the") in _log(), _log()
    assert "each plane segmented in tiles of 512 px, 128 px of overlap" in _log()


def _threshold_in_tiles(pixels: np.ndarray, tile: int) -> np.ndarray:
    from labelfree.run import run_pipeline

    return run_pipeline("threshold", pixels, tile=tile).values


@pytest.mark.parametrize(("command", "options", "said", "more"), [
    ("drift", "table=false", "LabelFree Drift (backend python) reads the whole image into memory", 2.0),
    ("stitch", "rows=2 cols=2 table=false", "LabelFree Stitch reads the whole image into memory", 0.5),
])
def test_drift_and_stitch_refuse_a_virtual_stack_larger_than_the_memory_left(command, options, said, more, clean,
                                                                              tmp_path, monkeypatch):
    """Drift with its Python backend and Stitch read the stack whole into Python's memory and make a result of at
    least its size (drift) or a quarter of it (a mosaic), and ImageJ's copy of it: refused when that cannot fit,
    saying what to use instead; drift runs when it fits."""
    import tifffile
    from scyjava import jimport

    import labelfree.imagej as lij
    from labelfree.errors import InputError

    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, np.stack([_cells(s) for s in range(4)]), imagej=True, metadata={"axes": "TYX"})
    imp = jimport("ij.plugin.FileInfoVirtualStack").openVirtual(str(path))
    imp.show()
    need = int(96 * 96 * 4 * (1 + more))
    monkeypatch.setattr("labelfree._threads.available_memory", lambda *a: need - 1)
    with pytest.raises(InputError, match="memory is left") as refused:
        lij.run_command(command, imp, options=options)
    assert said in str(refused.value) and "(4 planes of 96x96, a virtual stack)" in str(refused.value)
    assert ("Correct 3D Drift" if command == "drift" else "Grid/Collection stitching") in str(refused.value)
    if command == "drift":
        monkeypatch.setattr("labelfree._threads.available_memory", lambda *a: need)
        assert lij.run_command(command, imp, options=options).labels.shape == (4, 96, 96)  # the corrected movie
