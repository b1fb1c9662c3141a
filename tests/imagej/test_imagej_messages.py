"""What the ImageJ Log and the errors of the "LabelFree ..." commands say, in ImageJ's terms (macro keys,
menus, planes counted from 1; no Python, --set, CLI flags or config class names), LabelFree Doctor as a
plain ImageJ 1.x command, and a cancelled dialog inside a macro (the macro goes on, as after ImageJ's own)."""

from __future__ import annotations

import re
import threading
import time

import numpy as np
import pytest
from awt_events import press

from labelfree.errors import ConfigError, DimensionError
from labelfree.image import to_dataarray
from labelfree.imagej.terms import in_imagej_terms

#: what an ImageJ user cannot act on: Python calls, command-line options, config classes, 0-based numbers
NOT_IMAGEJ = re.compile(r"Python|--[a-z]|\b[A-Z][A-Za-z]*Config\.|0-based|isel|numpy|labelfree\.")


def _not_imagej(text: str) -> list[str]:
    return NOT_IMAGEJ.findall(text)


# --- the translations alone (no Java) ---------------------------------------------------------------------------


def test_threshold_no_objects_warning_counts_planes_from_1_and_names_the_macro_key():
    said = ("No objects found in 3 of 8 planes; in plane 2 (0-based): 56 pixel(s) lie above the automatic otsu "
            "threshold 3 (values 0..20), in objects smaller than min_size=20 px. Lower min_size (--set min_size=N) "
            "to keep small objects. ... Give a fixed threshold (--set threshold=VALUE).")
    assert in_imagej_terms(said) == (
        "No objects found in 3 of 8 planes; in plane 3 (the stack's planes, counted from 1): 56 pixel(s) lie above "
        "the automatic otsu threshold 3 (values 0..20), in objects smaller than min_size=20 px. Lower min_size "
        "(min_size=N) to keep small objects. ... Give a fixed threshold (threshold=VALUE).")


def test_a_z_stack_error_names_imagejs_menus_instead_of_python():
    said = ("Cutter input has dims TCZYX (shape (6, 2, 2, 128, 128)): unexpected Z. Expected dims containing YX "
            "drawn from TCYX. Segment one plane or a projection: pick a plane (Python: image.isel(Z=k)) or make a "
            "projection (Python: image.max('Z'); Fiji: Image > Stacks > Z Project..., or Image > Duplicate... with "
            "one slice) and save it as TIFF first.")
    assert in_imagej_terms(said).endswith(
        "Segment one plane or a projection: pick a plane (Image > Duplicate... with one slice) or make a projection "
        "(Image > Stacks > Z Project...), then run the command on that image.")
    motion = ("Motion segments one 2-D time-lapse; the movie has 2 Z planes: project them or pick one first (Fiji: "
              "Image > Stacks > Z Project..., all time frames, or Image > Duplicate... with one slice; Python: "
              "image.max('Z') or image.isel(Z=k) on the DataArray of labelfree.io.read_image), then segment that "
              "movie.")
    assert in_imagej_terms(motion) == (
        "Motion segments one 2-D time-lapse; the movie has 2 Z planes: project them or pick one first (Image > "
        "Stacks > Z Project..., all time frames, or Image > Duplicate... with one slice), then segment that movie.")


def test_config_class_names_become_the_macro_key_and_a_percent_overlap_is_said_as_its_fraction():
    assert in_imagej_terms("ThresholdConfig.min_size must be a whole number >= 0; got -5. (Objects smaller ...)") \
        == "min_size must be a whole number >= 0; got -5. (Objects smaller ...)"
    said = in_imagej_terms("StitchConfig.overlap must be a finite number in [0, 1); got 20.0. (Nominal overlap "
                           "fraction of neighbouring tiles for grid layouts (0.2 = 20 %).)")
    assert said.startswith("overlap is a fraction in [0, 1): 20 % is overlap=0.2 (Fiji's Grid/Collection "), said
    assert "StitchConfig" not in said
    assert in_imagej_terms("StitchConfig.overlap must be a finite number in [0, 1); got 150.0.") == \
        "overlap must be a fraction in [0, 1); got 150."


def test_other_python_and_command_line_advice_is_left_out_or_said_for_imagej():
    """The general rules: a parenthesised list of ways keeps its ImageJ ones only; --dims is Image > Properties."""
    cases = {
        "Motion needs a time-lapse: got a Z-stack; if Z is really time, read it with dims='TYX' (CLI --dims TYX; "
        "Fiji: Image > Properties, Frames instead of Slices).":
            "Motion needs a time-lapse: got a Z-stack; if Z is really time, set Image > Properties (Frames instead "
            "of Slices).",
        "the movie has 2 channels: select one (CLI --channel; Python labelfree.image.select_channel).":
            "the movie has 2 channels: select one (the channel key, or Image > Duplicate... with one channel).",
        "It is part of Fiji: Plugins > Registration > Correct 3D drift. Start LabelFree with a Fiji installation "
        "(labelfree.imagej.start('/path/to/Fiji.app') or --fiji DIR), or use backend='python'.":
            "It is part of Fiji: Plugins > Registration > Correct 3D drift. Run the command in a Fiji that has it "
            "(or install the plugin into this ImageJ), or use backend=python.",
        "Frame 2 of the movie (0-based: the frame at position 3) has no marker; in the ROI Manager, the markers are "
        "on frame(s) 0, 4 only.":
            "Frame 3 of the movie (counted from 1) has no marker; in the ROI Manager, the markers are on frame(s) "
            "1, 5 (counted from 1) only.",
        "name them (command line and batch: --channel-names A,B, one name per channel in order; ImageJ/Fiji: slice "
        "labels; OME-TIFF: Channel Name; Python: read_image(path, channel_names=[...])) first":
            "name them (slice labels; OME-TIFF: Channel Name) first",
        "no model: train one and save it first: labelfree cutter IMAGE -o OUT --save-model-file MODEL.pt "
        "(Fiji/macro: save_model_file=MODEL.pt; Python: segment(image, save_model='MODEL.pt'))":
            "no model: train one and save it first: run LabelFree Cutter with save_model_file=MODEL.pt",
    }
    for said, logged in cases.items():
        assert in_imagej_terms(said) == logged
    plain = "rows=3 x cols=3 = 9 tiles, but the stack has 8 planes (one tile each); give a grid that matches."
    assert in_imagej_terms(plain) == plain  # nothing for Python: unchanged


# --- through the real ImageJ 1.x macro interpreter ---------------------------------------------------------------


@pytest.fixture
def fresh(ij):
    """No image open, an empty ROI Manager and Log."""
    from scyjava import jimport

    from labelfree.imagej.jvm import _close_imagej_windows

    _close_imagej_windows()
    jimport("ij.plugin.frame.RoiManager").getRoiManager().reset()
    jimport("ij.IJ").log("\\Clear")
    yield jimport("ij.IJ")
    jimport("ij.plugin.frame.RoiManager").getRoiManager().reset()


def _show(array: np.ndarray, title: str, dims: str):
    import labelfree.imagej as lij

    imp = lij.xarray_to_imageplus(to_dataarray(array, dims=dims), title=title)
    imp.show()
    return imp


def _disks(n_t: int, small_in: int) -> np.ndarray:
    """``n_t`` frames of 64 x 64 px with two bright disks, but frame ``small_in`` (0-based) with 2 x 2 px spots."""
    yy, xx = np.mgrid[:64, :64]
    disks = (((yy - 20) ** 2 + (xx - 20) ** 2) < 64) | (((yy - 44) ** 2 + (xx - 44) ** 2) < 64)
    movie = np.full((n_t, 64, 64), 10, np.uint8)
    movie[:, disks] = 200
    movie[small_in] = 10
    movie[small_in, 10:12, 10:12] = 200
    movie[small_in, 40:42, 50:52] = 200
    return movie


@pytest.mark.jvm
def test_threshold_warning_in_the_log_counts_planes_from_1_and_names_min_size_as_the_macro_key(fresh):
    """Was: "in plane 1 (0-based) ... Lower min_size (--set min_size=N)" in ImageJ's Log."""
    import labelfree.imagej as lij

    _show(_disks(3, small_in=1), "spots", "TYX")
    with pytest.warns(UserWarning, match="No objects found"):  # re-issued for Python as it was
        lij.run_macro('selectImage("spots"); run("LabelFree Threshold", "min_size=20 rois=none table=false");')
    logged = str(fresh.getLog())
    warning = next(line for line in logged.splitlines() if line.startswith("LabelFree Threshold warning:"))
    assert "No objects found in 1 of 3 planes; in plane 2 (the stack's planes, counted from 1): 8 pixel(s)" \
        in warning, warning
    assert "Lower min_size (min_size=N) to keep small objects." in warning
    assert _not_imagej(warning) == [] and "--set" not in warning


@pytest.mark.jvm
def test_a_z_hyperstack_given_to_cutter_is_refused_with_imagejs_menus(fresh):
    """Was: "(Python: image.isel(Z=k)) ... and save it as TIFF first" in the error and the Log."""
    import labelfree.imagej as lij

    _show(np.tile(_disks(2, small_in=0)[1], (2, 2, 1, 1)), "zt", "TZYX")
    with pytest.raises(DimensionError) as err:
        lij.run_macro('selectImage("zt"); run("LabelFree Cutter", "n_steps=5 table=false rois=none");')
    said = str(err.value)
    assert said.endswith("Segment one plane or a projection: pick a plane (Image > Duplicate... with one slice) or "
                         "make a projection (Image > Stacks > Z Project...), then run the command on that image. If "
                         "the planes are channels (e.g. cells and nuclei stored as planes of one file), set Image > "
                         "Properties (Channels instead of Slices)."), said
    assert _not_imagej(said) == [] and "TIFF" not in said
    logged = str(fresh.getLog())
    assert f"LabelFree error: {said}" in logged and _not_imagej(logged) == []


@pytest.mark.jvm
def test_stitch_with_fijis_percent_overlap_says_the_fraction(fresh):
    """Was: "StitchConfig.overlap must be a finite number in [0, 1); got 20.0" for Fiji's overlap=20."""
    import labelfree.imagej as lij

    _show(np.random.default_rng(0).integers(0, 255, (4, 48, 48), dtype=np.uint8), "tiles", "ZYX")
    with pytest.raises(ConfigError) as err:
        lij.run_macro('selectImage("tiles"); run("LabelFree Stitch", "rows=2 cols=2 overlap=20 table=false");')
    said = str(err.value)
    assert said.startswith("overlap is a fraction in [0, 1): 20 % is overlap=0.2"), said
    assert "StitchConfig" not in said and "StitchConfig" not in str(fresh.getLog())


@pytest.mark.jvm
def test_a_wrong_value_names_the_macro_key_not_the_config_class(fresh):
    """Was: "ThresholdConfig.min_size must be a whole number >= 0; got -5."."""
    import labelfree.imagej as lij

    _show(_disks(2, small_in=0)[1], "cells", "YX")
    with pytest.raises(ConfigError) as err:
        lij.run_macro('selectImage("cells"); run("LabelFree Threshold", "min_size=-5 rois=none table=false");')
    assert str(err.value).startswith("min_size must be a whole number >= 0; got -5."), str(err.value)
    assert "LabelFree error: min_size must be a whole number >= 0; got -5." in str(fresh.getLog())


@pytest.mark.jvm
def test_labelfree_doctor_is_a_command_of_plain_imagej(fresh):
    """Was: run("LabelFree Doctor") -> "Unrecognized command" (a Macro Error dialog) in plain ImageJ 1.x."""
    from scyjava import jimport

    import labelfree.imagej as lij

    assert str(jimport("ij.Menus").getCommands().get("LabelFree Doctor")) == 'labelfree.LabelFreeCommand("doctor")'
    assert lij.run_macro('run("LabelFree Doctor"); return "after the doctor";') == "after the doctor"
    lines = str(fresh.getLog()).splitlines()
    assert any(re.match(r"\[ +ok \] LabelFree: \S+ on Python 3", line) for line in lines), lines
    assert any(re.match(r"\[ +ok \] Java: Java \d+ at ", line) for line in lines), lines
    assert any(re.match(r"\[ +ok \] ImageJ 1\.x: \S*ij[^/]*\.jar", line) for line in lines), lines
    assert lines[-1] in ("Everything needed is present.",) or lines[-1].startswith("Missing: ")


@pytest.mark.jvm
def test_a_cancelled_dialog_lets_the_macro_go_on_and_return_its_value(fresh):
    """Was: the macro went on (as after ImageJ's own commands) but run_macro raised Cancelled, losing its value."""
    from scyjava import jimport

    import labelfree.imagej as lij

    _show(_disks(2, small_in=0)[1], "cells", "YX")
    GenericDialog, Window = jimport("ij.gui.GenericDialog"), jimport("java.awt.Window")
    outcome: dict = {}

    def go():
        try:
            outcome["value"] = lij.run_macro('selectImage("cells"); run("LabelFree Threshold"); '
                                             'print("went on"); return "after " + getTitle();')
        except BaseException as exc:  # noqa: BLE001 - asserted in the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=go)
    thread.start()
    deadline, pressed = time.time() + 60, 0
    while thread.is_alive() and time.time() < deadline:
        for w in Window.getWindows():
            if isinstance(w, GenericDialog) and w.isShowing() and str(w.getTitle()) == "LabelFree Threshold":
                press(w, 1)  # Cancel
                pressed += 1
        time.sleep(0.05)
    thread.join(5)
    assert not thread.is_alive() and pressed == 1
    assert outcome == {"value": "after cells"}, outcome
    assert "went on" in str(fresh.getLog()) and "LabelFree error" not in str(fresh.getLog())
    assert jimport("ij.WindowManager").getImage("cells-labels") is None  # nothing ran


def test_planes_offered_as_channels_name_imagejs_properties():
    said = ("If the planes are channels (e.g. cells and nuclei stored as planes of one file), read the file with "
            "--dims CYX (Python: dims='CYX'; Fiji: Image > Properties, Channels instead of Slices).")
    assert in_imagej_terms(said) == ("If the planes are channels (e.g. cells and nuclei stored as planes of one file), "
                                     "set Image > Properties (Channels instead of Slices).")
