"""A Fiji user meets the day's new messages and dialogs in the real ImageJ 1.x (under ``xvfb-run -a``).

* Cutter's missed-nuclei warning (a GOWT1 crop) and its refusal of whole cells without markers (an MSC frame):
  their advice named what the ``markers`` key refuses (a points CSV, a label TIFF: the command line's files), left
  out the macro form of ``marker_method`` (``CLI --set KEY=VALUE`` was dropped whole) and
  named Motion and Threshold without their ImageJ commands. Now: ``markers=roi_manager`` (File > Open puts a ROI
  zip's ROIs in the ROI Manager), ``marker_method=NAME``, ``LabelFree Motion``.
* Motion's size resting on few objects (the 384 px MSC crop of frames 28-33) counts its frame from 1 and told to
  read min_size "in the provenance" (written only with ``output=``); now the Log's "automatic settings" line.
* Stitch's tile-gap warning advised "(layout / TileConfiguration.txt)": LabelFree Stitch has no layout key; now
  Fiji's Grid/Collection stitching with positions from file. Drift's frames are counted from 1.
* The Browse fields of each pipeline's menu command (advanced pages): a typed path is recorded and replayed.
"""

from __future__ import annotations

import json
import re
import time
import warnings

import numpy as np
import pytest
from awt_events import on_edt, press, recorded_line

from labelfree.image import to_dataarray
from labelfree.imagej.terms import in_imagej_terms

tifffile = pytest.importorskip("tifffile")

#: what an ImageJ user cannot act on: Python calls, command-line options and commands, config classes, 0-based numbers
NOT_IMAGEJ = re.compile(r"Python|--[a-z]|\b[A-Z][A-Za-z]*Config\.|0-based|numpy|labelfree[. ]|CLI|CSV|label TIFF")

#: the markers advice in ImageJ terms: what the markers key takes, and how a ROI zip gets there
MARKERS = ("give markers (markers=roi_manager with point selections or nucleus outlines in the ROI Manager; File > "
           "Open puts a ROI zip file's ROIs there)")
#: a crop of GOWT1 t021 (tests/test_cutter_marker_recall.py): 8 markers for 12 nuclei, two dim ones named
DIM_CROP = (slice(512, 1024), slice(384, 1024))
#: MSC frames 28-33, a 384 px crop of two touching cells (tests/test_motion_short_crops.py)
MSC_FRAMES, MSC_BOX = range(28, 34), (slice(336, 720), slice(224, 608))


def _data(shared_data, dataset: str, t: int):
    path = shared_data / "ctc" / dataset / "01" / f"t{t:03d}.tif"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return tifffile.imread(path)


# --- the translations alone (no Java) ---------------------------------------------------------------------------


def test_the_missed_nuclei_advice_names_what_the_markers_and_marker_method_keys_take():
    """Was: "... or a points CSV, label TIFF or ROI zip file), or try another marker_method ('auto', 'blob',
    'threshold')." The markers key refuses files, and the macro form of marker_method was dropped with the CLI's."""
    from labelfree.cutter.markers import _warn_unmarked

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _warn_unmarked(np.array([[224.0, 492.0], [305.0, 315.0]]), np.zeros((8, 2)), "auto")
    said = in_imagej_terms(str(caught[0].message))
    assert said == (
        "Marker detection (marker_method 'auto') left 2 bright region(s) of nucleus size without a marker, beside the "
        "8 marker(s) it found: (x=492, y=224), (x=315, y=305). Probably nuclei too dim (or too faint against their "
        "background) to be found; Cutter cuts no cell without a marker, so they will have no object. Check the "
        f"markers; to segment them, {MARKERS}, or try another marker_method ('auto', 'blob', 'threshold'; "
        "marker_method=NAME).")
    assert NOT_IMAGEJ.findall(said) == []


WHOLE_CELLS_IN_IMAGEJ = (
    "Cutter needs one marker per cell, detected in an image of nuclei, and this image seems to show whole cells: "
    "automatic marker detection found objects of solidity 0.61 (area / convex hull area; nuclei 0.8-0.97, whole cells "
    "about 0.5-0.6). Each cell would get several markers and be cut into as many pieces (an MSC frame of 8 cells: 76 "
    "markers, 76 objects, object F1 0.10), so nothing was trained. To segment these cells with Cutter, "
    f"{MARKERS}, or an image with a nucleus channel (nucleus_channel); without markers, use LabelFree Motion (a "
    "time-lapse) or LabelFree Threshold. If the image does show nuclei, choose marker_method 'threshold' or 'blob' "
    "(marker_method=threshold), which do not make this check.")


def test_the_whole_cells_refusal_names_imagejs_commands_and_macro_keys():
    """Was: "... (nucleus_channel); without markers, use Motion (a time-lapse) or Threshold. ... choose marker_method
    'threshold' or 'blob', which ..." (the commands and the macro form left out with the command line's)."""
    from labelfree.cutter.marker_checks import _whole_cells_refusal

    found = (  # the text of _check_objects for whole cells, from which the refusal is made
        "Automatic marker detection found objects of solidity 0.61 (area / convex hull area; nuclei 0.8-0.97, "
        "whole cells about 0.5-0.6): the image seems to show whole cells, not nuclei, and a cell may get several "
        "markers. Give the nucleus channel (nucleus_channel; CLI --set nucleus_channel=NAME), or give markers= "
        "(points or a nucleus label image) (CLI --markers FILE).")
    assert in_imagej_terms(_whole_cells_refusal(found)) == WHOLE_CELLS_IN_IMAGEJ
    assert in_imagej_terms(found).endswith(
        f"markers. Give the nucleus channel (nucleus_channel), or {MARKERS}.")


def test_a_stitch_gap_names_fijis_positions_from_file_not_a_layout_key():
    said = in_imagej_terms(
        "stitch: the 1x4 grid row-by-row found from the tiles puts side by side tiles 2 and 3 (best NCC 0.18) (tiles "
        "counted from 1 in the order given), whose overlaps hold structure but match at no shift: a tile is likely "
        "missing between them, and the tiles after it are placed one cell early. Check that no tile is missing; to "
        "stitch tiles with a gap, give each tile's position (layout / TileConfiguration.txt).")
    assert said.endswith(
        "(tiles: the stack's planes, counted from 1), whose overlaps hold structure but match at no shift: a tile is "
        "likely missing between them, and the tiles after it are placed one cell early. Check that no tile is "
        "missing; to stitch tiles with a gap, give each tile's position in a TileConfiguration.txt (Plugins > "
        "Stitching > Grid/Collection stitching, Type: Positions from file).")
    assert "layout" not in said


@pytest.mark.parametrize("start", [
    "Motion: the automatic cell size rests on 2 object(s) of frame 0 (0-based) (min_size 910 px, typical cell 3640 "
    "px): few cells in view (a crop?) or cells joined into one object. If touching cells come out as one object or dim "
    "cells are missing, set min_size: ",
    "Motion: the automatic cell size is the optical flow's alone (min_size 910 px, typical cell 3640 px): ... If "
    "touching cells come out as one object or smaller cells are missing, set min_size: "])
def test_motions_size_advice_names_the_logs_automatic_settings_line(start):
    """Was: "set min_size: the 'min_size' in the provenance of a run ...": a Fiji run writes one only with output=."""
    said = in_imagej_terms(start + "the 'min_size' in the provenance of a run on a larger field of the same movie, or "
                                   "about 0.25 x the area (px) of one cell.")
    assert said.endswith(
        """set min_size (min_size=N): the min_size that the Log's "automatic settings" line gives for a run on a """
        "larger field of the same movie, or about 0.25 x the area (px) of one cell.")
    assert NOT_IMAGEJ.findall(said) == [] and "provenance" not in said


# --- through the real ImageJ 1.x --------------------------------------------------------------------------------


def _show(array: np.ndarray, title: str, dims: str):
    import labelfree.imagej as lij

    imp = lij.xarray_to_imageplus(to_dataarray(array, dims=dims), title=title)
    imp.show()
    return imp


def _log() -> str:
    from scyjava import jimport

    return str(jimport("ij.IJ").getLog() or "")


def _logged(prefix: str) -> list[str]:
    return [line for line in _log().splitlines() if line.startswith(prefix)]


def _macro(macro: str):
    import labelfree.imagej as lij

    with warnings.catch_warnings():  # the commands re-issue their warnings for Python (errors in this suite)
        warnings.simplefilter("ignore")
        return lij.run_macro(macro)


@pytest.mark.jvm
def test_cutter_on_a_gowt1_crop_says_the_missed_nuclei_in_imagejs_terms(clean, shared_data, monkeypatch):
    """The warning's words in ImageJ, on the crop's real regions with the markers added there left out (they are
    marked since; tests/cutter/test_missed_nuclei_markers.py checks the Log of that)."""
    import labelfree.cutter.markers as markers

    def warn_only(parts, pts, method, *, dark_side=False):
        markers._warn_unmarked(markers._unmarked_regions(parts, pts, dark_side=dark_side), pts, method)
        return pts

    monkeypatch.setattr(markers, "_add_unmarked", warn_only)
    _show(_data(shared_data, "Fluo-N2DH-GOWT1", 21)[DIM_CROP], "gowt1", "YX")
    _macro('selectImage("gowt1"); run("LabelFree Cutter", "n_steps=20 rois=none table=false");')
    (said,) = _logged("LabelFree Cutter warning: Marker detection")
    assert said.startswith("LabelFree Cutter warning: Marker detection (marker_method 'auto') left 2 bright region(s) "
                           "of nucleus size without a marker, beside the 8 marker(s) it found: (x="), said
    assert said.endswith(f"{MARKERS}, or try another marker_method ('auto', 'blob', 'threshold'; marker_method=NAME).")
    assert NOT_IMAGEJ.findall(said) == []
    assert "LabelFree Cutter on gowt1: automatic settings markers 8 detected in the image" in _log()


@pytest.mark.jvm
def test_cutter_refuses_an_msc_frame_of_whole_cells_in_imagejs_terms(clean, shared_data):
    from labelfree.errors import InputError

    _show(_data(shared_data, "Fluo-C2DL-MSC", 5), "msc", "YX")
    with pytest.raises(InputError) as err:
        _macro('selectImage("msc"); run("LabelFree Cutter", "n_steps=20 rois=none table=false");')
    assert str(err.value) == WHOLE_CELLS_IN_IMAGEJ
    assert _logged("LabelFree error:") == [f"LabelFree error: {WHOLE_CELLS_IN_IMAGEJ}"]
    assert NOT_IMAGEJ.findall(_log()) == []


@pytest.fixture(scope="module")
def msc_crop(shared_data):
    return np.stack([_data(shared_data, "Fluo-C2DL-MSC", t)[MSC_BOX] for t in MSC_FRAMES])


@pytest.mark.jvm
def test_motion_on_a_crop_of_few_cells_counts_the_frame_from_1_and_points_at_the_log(clean, msc_crop):
    """The min_size the warning names is the one the Log's automatic settings line gives, as the advice says."""
    _show(msc_crop, "crop", "TYX")
    _macro('selectImage("crop"); run("LabelFree Motion", "rois=none table=false");')
    (said,) = _logged("LabelFree Motion warning:")
    assert said.startswith("LabelFree Motion warning: the automatic cell size rests on 2 object(s) of frame 1 "
                           "(the stack's frames, counted from 1) (min_size "), said
    assert """set min_size (min_size=N): the min_size that the Log's "automatic settings" line gives""" in said
    assert NOT_IMAGEJ.findall(said) == []
    size = re.search(r"\(min_size (\d+) px", said).group(1)
    assert f"LabelFree Motion on crop: automatic settings min_size {size}," in _log()


@pytest.mark.jvm
def test_stitch_names_a_likely_missing_tile_in_imagejs_terms(clean, shared_data):
    """Five MSC tiles of a row less the middle one, as the planes of a stack; the grid is found from the tiles."""
    from registration.test_stitch_auto_grid import _cut

    tiles = _cut(_data(shared_data, "Fluo-C2DL-MSC", 0), 1, 5, (300, 200), noise=60.0)
    _show(np.stack(tiles[:2] + tiles[3:]), "strip", "ZYX")
    _macro('selectImage("strip"); run("LabelFree Stitch", "table=false");')
    (said,) = [line for line in _logged("LabelFree Stitch warning:") if "puts side by side" in line]
    assert said.startswith("LabelFree Stitch warning: the 1x4 grid row-by-row found from the tiles puts side "
                           "by side tiles 2 and 3 (best NCC "), said
    assert "(tiles: the stack's planes, counted from 1)" in said
    assert said.endswith("give each tile's position in a TileConfiguration.txt (Plugins > Stitching > Grid/Collection "
                         "stitching, Type: Positions from file).")
    assert NOT_IMAGEJ.findall(_log()) == []


@pytest.mark.jvm
def test_drift_counts_an_unmatched_frame_from_1(clean, shared_data):
    rng = np.random.default_rng(0)
    frame = _data(shared_data, "Fluo-N2DH-GOWT1", 0)[:256, :256].astype(np.float32)
    movie = np.stack([np.roll(frame, (k, 2 * k), (0, 1)) + rng.normal(0, 3, frame.shape) for k in range(6)])
    movie[3] = 7  # frame 4 as ImageJ counts it: no content
    _show(movie.astype(np.float32), "drifting", "TYX")
    _macro('selectImage("drifting"); run("LabelFree Drift", "table=false");')
    assert _logged("LabelFree Drift warning:") == [
        "LabelFree Drift warning: no usable match (no content, or a correlation no better than chance) for "
        "frame 4 (the stack's frames, counted from 1): it keeps the drift of the frame before and is not used as "
        "reference; check that frame."]


# --- the Browse fields of each menu command ----------------------------------------------------------------------


def _controls(gd) -> dict:
    """A page's controls by macro key: a Browse field as (its text box, its buttons' labels)."""
    from scyjava import jimport

    Label, Checkbox, Panel = (jimport(f"java.awt.{name}") for name in ("Label", "Checkbox", "Panel"))
    TextField, Button = jimport("java.awt.TextField"), jimport("java.awt.Button")
    parts, out = list(gd.getComponents()), {}
    for i, c in enumerate(parts):
        if isinstance(c, Checkbox):
            out[str(c.getLabel()).strip().replace(" ", "_")] = c
        elif isinstance(c, Label) and i + 1 < len(parts):
            key, nxt = str(c.getText()).strip().replace(" ", "_"), parts[i + 1]
            if isinstance(nxt, Panel):
                inside = list(nxt.getComponents())
                boxes = [k for k in inside if isinstance(k, TextField)]
                out[key] = (boxes[0], [str(k.getLabel()) for k in inside if isinstance(k, Button)]) if boxes else nxt
            else:
                out[key] = nxt
    return out


def _set(control, value) -> None:
    """Tick, pick or type ``value`` in a page's ``control`` (on AWT's event thread)."""
    if hasattr(control, "setState"):
        control.setState(bool(value))
    elif hasattr(control, "setText"):
        control.setText(str(value))
    else:
        control.select(str(value))


def _through_the_menu(menu: str, first: dict, typed: dict, timeout: float = 60.0) -> tuple[str, dict]:
    """Run ``menu`` as a user: ``first`` set on its first page (advanced_options ticked), ``typed`` into the text
    boxes of the Browse fields of the pages after it, OK on every page. The recorded line and the Browse fields
    met (key -> the buttons beside its box)."""
    from scyjava import jimport

    IJ, Recorder = jimport("ij.IJ"), jimport("ij.plugin.frame.Recorder")
    GenericDialog, Window = jimport("ij.gui.GenericDialog"), jimport("java.awt.Window")
    recorder, pressed, browse = Recorder(False), set(), {}
    try:
        IJ.doCommand(menu)
        deadline = time.time() + timeout
        while "run(" not in str(recorder.getText()) and time.time() < deadline:
            shown = [w for w in Window.getWindows() if isinstance(w, GenericDialog) and w.isShowing()
                     and str(w.getTitle()).startswith(menu) and w.hashCode() not in pressed]
            if not shown:
                time.sleep(0.05)
                continue
            gd = shown[0]
            pressed.add(gd.hashCode())
            controls = _controls(gd)
            values = {**first, "advanced_options": True} if not browse and str(gd.getTitle()) == menu else {}
            for key, value in values.items():
                control = controls[key]
                on_edt(lambda c=control, v=value: _set(c, v))
            for key, control in controls.items():
                if isinstance(control, tuple):
                    browse[key] = control[1]
                    if key in typed:
                        on_edt(lambda box=control[0], text=typed[key]: box.setText(text))
            press(gd, 0)
        line = recorded_line(recorder, timeout=5)
    finally:
        recorder.close()
    return line, browse


@pytest.mark.jvm
def test_motions_browse_fields_record_and_replay_a_typed_folder_and_config_file(clean, msc_crop, tmp_path):
    from scyjava import jimport

    import labelfree.imagej as lij

    _show(msc_crop[:3], "crop", "TYX")
    out, config = tmp_path / "motion run [1]", tmp_path / "my motion.json"
    out.mkdir()
    config.write_text(json.dumps({"min_size": 700}))
    line, browse = _through_the_menu("LabelFree Motion", {"table": False, "rois": "none"},
                                     {"output": str(out), "config_file": str(config)})
    assert browse == {"output": ["Browse"], "config_file": ["Browse"]}
    assert f"output=[{out}] overwrite=false" in line and " min_size=700 " in line, line
    assert "config_file" not in line  # the Recorder writes the file's values out
    assert sorted(p.name for p in out.iterdir()) == [f"crop_{k}" for k in ("labels.tif", "provenance.json",
                                                                             "rois.zip", "table.csv")]
    first = tifffile.imread(out / "crop_labels.tif")
    shown = lij.imageplus_to_xarray(jimport("ij.WindowManager").getImage("crop-labels")).values
    assert np.array_equal(shown, first) and first.max() > 0
    _macro('selectImage("crop"); ' + line.replace("overwrite=false", "overwrite=true"))
    assert np.array_equal(tifffile.imread(out / "crop_labels.tif"), first)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["motion run [1]", "my motion.json"]


@pytest.mark.jvm
def test_cutters_browse_fields_record_a_typed_model_file_and_folder(clean, shared_data, tmp_path):
    image = _data(shared_data, "Fluo-N2DH-GOWT1", 21)[256:768, 256:768]
    _show(image, "nuclei", "YX")
    out, model = tmp_path / "cutter run", tmp_path / "my model [1].pt"
    out.mkdir()
    line, browse = _through_the_menu("LabelFree Cutter", {"n_steps": 2, "table": False, "rois": "none"},
                                     {"output": str(out), "save_model_file": str(model)})
    assert browse == {"model_file": ["Browse"], "save_model_file": ["Browse"], "output": ["Browse"],
                      "config_file": ["Browse"]}
    assert f"model_file= save_model_file=[{model}] " in line and f"output=[{out}] overwrite=false" in line, line
    assert model.is_file() and (out / "nuclei_labels.tif").is_file()
    before = model.stat().st_mtime_ns
    _macro('selectImage("nuclei"); ' + line.replace("overwrite=false", "overwrite=true"))
    assert model.stat().st_mtime_ns > before  # the replay wrote the same file, brackets in its name and all
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cutter run", "my model [1].pt", "my model [1].pt.json"]


@pytest.mark.jvm
@pytest.mark.parametrize("menu, config, recorded", [
    ("LabelFree Drift", {"upsample": 4}, " upsample=4 "),
    ("LabelFree Stitch", {"overlap": 0.2, "fusion": "max"}, " fusion=max ")])
def test_drift_and_stitch_read_a_config_file_typed_in_its_browse_field(clean, shared_data, tmp_path, menu, config,
                                                                      recorded):
    if menu == "LabelFree Drift":
        frame = _data(shared_data, "Fluo-N2DH-GOWT1", 0)[:256, :256].astype(np.float32)
        _show(np.stack([np.roll(frame, (k, 2 * k), (0, 1)) for k in range(3)]), "input", "TYX")
    else:
        from registration.test_stitch_auto_grid import _cut

        _show(np.stack(_cut(_data(shared_data, "Fluo-C2DL-MSC", 0), 2, 2, (200, 200), noise=60.0)), "input", "ZYX")
    path = tmp_path / "my settings [2].json"
    path.write_text(json.dumps(config))
    line, browse = _through_the_menu(menu, {"table": False}, {"config_file": str(path)})
    assert browse == {"config_file": ["Browse"]}
    assert recorded in line and "config_file" not in line, line
