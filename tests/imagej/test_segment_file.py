"""LabelFree Segment File: a pipeline run on an image on disk (an OME-Zarr folder, which plain ImageJ cannot
open), its label image, ROIs and table opened in ImageJ; a macro gives it as any other command."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import tifffile
from awt_events import on_edt, press, recorded_line, wait_for_dialog
from ngff_images import squares

from labelfree.errors import Cancelled, ConfigError, InputError, LabelFreeError
from labelfree.imagej.files import file_command_line, image_path, terminal_command

zarr = pytest.importorskip("zarr")

#: the 20 squares of ``squares()``: 12 x 12 px with their top-left corners every 24 px from (4, 4)
SQUARES = sorted((x, y) for y in range(4, 96 - 12, 24) for x in range(4, 120 - 12, 24))


def _zarr(path: Path, *, pixel: float = 0.5) -> Path:
    """A two-channel OME-Zarr (DAPI: flat; GFP: the squares), ``pixel`` µm."""
    from labelfree.image import to_dataarray
    from labelfree.io import write_ngff

    img = np.stack([np.full((96, 120), 100, np.uint16), squares()])
    da = to_dataarray(img, dims="CYX").assign_coords(C=["DAPI", "GFP"], Y=np.arange(96) * pixel,
                                                     X=np.arange(120) * pixel)
    da["Y"].attrs["units"] = da["X"].attrs["units"] = "micrometer"
    return write_ngff(path, da)


# --- the command line it starts (no ImageJ needed) ---

def test_the_command_line_counts_channels_as_imagej_and_passes_the_pipelines_options(tmp_path):
    store = _zarr(tmp_path / "cells.ome.zarr")
    argv, out = file_command_line({"input": store, "channel": "2", "options": "min_size=30 fill_holes=false"})
    assert out == tmp_path / "cells_labelfree"  # beside the input, never into it
    assert argv[-12:] == ["threshold", str(store), "-o", str(out), "--print-paths", "--no-progress",
                          "--channel", "1", "--set", "min_size=30", "--set", "fill_holes=false"]
    assert file_command_line({"input": store, "channel": "GFP"})[0][-2:] == ["--channel", "GFP"]
    assert file_command_line({"input": store, "channel": "C2"})[0][-2:] == ["--channel", "1"]
    # a file chooser cannot choose a folder: the store's metadata file names the store
    assert image_path(store / ".zattrs") == store
    argv, _ = file_command_line({"input": store / ".zattrs", "pipeline": "cutter", "output": tmp_path / "o",
                                 "options": "markers=[/data/my nuclei.tif] nucleus_channel=1 n_steps=50"})
    assert argv[argv.index("cutter"):] == [
        "cutter", str(store), "-o", str(tmp_path / "o"), "--print-paths", "--no-progress", "--set",
        "nucleus_channel=0", "--set", "n_steps=50", "--markers", "/data/my nuclei.tif"]  # nucleus_channel from 1
    assert terminal_command(argv) == (f"labelfree cutter {store} -o {tmp_path / 'o'} --set nucleus_channel=0 "
                                      "--set n_steps=50 --markers '/data/my nuclei.tif'")


def test_python_embedded_in_another_program_still_starts_the_environment_s_interpreter(monkeypatch, tmp_path):
    """Python embedded in a launcher has the launcher as sys.executable: ``launcher -m labelfree`` would start
    the launcher, not LabelFree."""
    import sys

    from labelfree.imagej import files

    launcher = tmp_path / "fiji-linux-x64"
    launcher.write_text("")
    here = files._command_prefix()
    assert Path(here[0]).name.startswith("python") and here[1:] == ["-m", "labelfree"]
    monkeypatch.setattr(sys, "executable", str(launcher))
    embedded = files._command_prefix()
    assert Path(embedded[0]).parent.parent == Path(sys.prefix) and embedded[1:] == ["-m", "labelfree"]
    monkeypatch.setattr(sys, "executable", "")
    assert files._command_prefix() == embedded


@pytest.mark.parametrize("values, error, words", [
    ({"input": ""}, InputError, "needs the image to segment: input=[path"),
    ({"input": "{tmp}/nothing.tif"}, InputError, "there is no file or folder there"),
    ({"channel": "0"}, ConfigError, "ImageJ counts channels from 1"),
    ({"channel": "3"}, ConfigError, "this image has 2 channel(s)"),
    ({"channel": "RFP"}, LabelFreeError, "RFP"),
    ({"pipeline": "motion", "tile": 256}, ConfigError, "cannot run in tiles"),
    ({"tile": -5}, ConfigError, "tile=-5"),
    ({"options": "output=[/tmp/x]"}, ConfigError, "keys of its own"),
    ({"options": "min_sise=3"}, ConfigError, "min_sise"),
    ({"options": "min_size=many"}, ConfigError, "min_size"),
])
def test_a_bad_value_is_one_clear_error_before_anything_runs(tmp_path, values, error, words):
    store = _zarr(tmp_path / "cells.ome.zarr")
    values = {"input": store, **{k: v.format(tmp=tmp_path) if isinstance(v, str) else v for k, v in values.items()}}
    with pytest.raises(error) as err:
        file_command_line(values)
    assert words in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cells.ome.zarr"]  # nothing made


# --- in ImageJ ---

@pytest.fixture
def fresh(clean):
    from scyjava import jimport

    jimport("ij.IJ").resetEscape()
    yield clean
    jimport("ij.IJ").resetEscape()


@pytest.mark.jvm
def test_a_macro_segments_an_ome_zarr_and_opens_its_labels_rois_and_table(fresh, tmp_path, user_runs):
    """Was: plain ImageJ opens no OME-Zarr, so no LabelFree command could segment one from ImageJ."""
    from scyjava import jimport

    import labelfree.imagej as lij

    store = _zarr(tmp_path / "cells.ome.zarr")
    before = user_runs.digest(store)
    got = lij.run_macro(f'run("LabelFree Segment File", "input=[{store}] channel=2 output=[{tmp_path}/out]"); '
                        'return "" + roiManager("count") + " " + getTitle();')
    assert got == "20 cells_labels.tif"
    assert user_runs.digest(store) == before  # the input is never changed
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "cells_labels.tif", "cells_provenance.json", "cells_rois.zip", "cells_table.csv"]
    imp = jimport("ij.WindowManager").getCurrentImage()
    assert imp.getBitDepth() == 16 and imp.getProcessor().getStatistics().max == 20
    assert imp.getCalibration().pixelWidth == pytest.approx(0.5) and imp.getCalibration().getUnit() in ("micron", "µm")
    np.testing.assert_array_equal(np.asarray(imp.getProcessor().getPixels(), np.uint16).reshape(96, 120),
                                  tifffile.imread(tmp_path / "out" / "cells_labels.tif"))
    boxes = sorted((int(r.getBounds().x), int(r.getBounds().y), int(r.getBounds().width), int(r.getBounds().height))
                   for r in fresh.getRoisAsArray())
    assert boxes == [(x, y, 12, 12) for x, y in SQUARES]  # one ROI per square, where it is
    table = jimport("ij.WindowManager").getWindow("cells_table")
    assert table is not None and table.getResultsTable().size() == 20
    rt = table.getResultsTable()
    assert str(rt.getStringValue("Label", 0)).startswith("t0001-L") or str(rt.getLabel(0)).startswith("t0001-L")
    assert rt.getValue("frame", 0) == 1  # frames count from 1, as in ImageJ
    log = str(jimport("ij.IJ").getLog())
    assert f"labelfree threshold {store} -o {tmp_path}/out --channel 1" in log
    assert "LUT not found" not in log


@pytest.mark.jvm
def test_a_macro_variable_names_the_file_as_for_the_other_commands(fresh, tmp_path):
    """Was: input=&path was read as the text "&path" (no such file); the other LabelFree commands read key=&name
    as the macro's variable."""
    import labelfree.imagej as lij

    store = _zarr(tmp_path / "cells.ome.zarr")
    got = lij.run_macro(f'path = "{store}"; c = 2; run("LabelFree Segment File", "input=&path channel=&c '
                        f'output=[{tmp_path}/out] open=false"); return "" + roiManager("count");')
    assert got == "20" and (tmp_path / "out" / "cells_labels.tif").is_file()


@pytest.mark.jvm
def test_a_macro_variable_inside_options_is_the_macro_s_too(fresh, tmp_path):
    """Was: options=[min_size=&n] handed "&n" on to the pipeline, which refused it as a number; now the variables
    inside options=[...] are read while the macro runs, as the command's own keys are."""
    import labelfree.imagej as lij

    store = _zarr(tmp_path / "cells.ome.zarr")
    macro = ('n = 200; c = 2; run("LabelFree Segment File", "input=[{s}] channel=&c output=[{o}] open=false '
             'options=[min_size=&n fill_holes=true]"); return "" + roiManager("count");')
    got = lij.run_macro(macro.format(s=store, o=tmp_path / "big"))
    assert got == "0"  # every square is 144 px: none reaches 200
    lij.run_macro('roiManager("reset");')
    got = lij.run_macro(macro.replace("n = 200", "n = 100").format(s=store, o=tmp_path / "small"))
    assert got == "20"
    with pytest.raises(LabelFreeError, match="macro variable 'm'"):
        lij.run_macro(f'run("LabelFree Segment File", "input=[{store}] channel=2 output=[{tmp_path}/none] '
                      'options=[min_size=&m]");')
    assert not (tmp_path / "none").exists()


@pytest.mark.jvm
def test_a_run_that_finds_no_object_says_so_and_opens_no_rois(fresh, tmp_path):
    """Was: the run's ROI file held no ROI, and opening it in the ROI Manager stopped ImageJ's JVM."""
    import labelfree.imagej as lij
    from scyjava import jimport

    store = _zarr(tmp_path / "cells.ome.zarr")
    got = lij.run_macro(f'newImage("x", "8-bit", 9, 9, 1); makeRectangle(1, 1, 5, 5); roiManager("add"); '
                        f'run("LabelFree Segment File", "input=[{store}] channel=2 output=[{tmp_path}/out] '
                        'rois=replace open=false options=[min_size=200]"); return "" + roiManager("count");')
    assert got == "0" and (tmp_path / "out" / "cells_labels.tif").is_file()
    assert "No objects found" in str(jimport("ij.IJ").getLog())


def test_macro_variables_inside_options_text():
    from labelfree.options import resolve_macro_variables

    names = {"n": "50", "p": "/data/my cells.zip"}.get
    assert resolve_macro_variables("min_size=&n fill_holes=true", names) == "min_size=[50] fill_holes=true"
    assert resolve_macro_variables("markers=&p overwrite", names) == "markers=[/data/my cells.zip] overwrite"
    assert resolve_macro_variables("min_size=50 name=[a&b]", names) == "min_size=50 name=[a&b]"  # no variable
    with pytest.raises(ConfigError, match="'q'"):
        resolve_macro_variables("min_size=&q", names)


@pytest.mark.jvm
def test_rois_replace_or_none_and_nothing_opened(fresh, tmp_path):
    from scyjava import jimport

    from labelfree.imagej.files import segment_file

    store = _zarr(tmp_path / "cells.ome.zarr")
    roi = jimport("ij.gui.Roi")(1, 1, 5, 5)
    fresh.addRoi(roi)
    run = segment_file({"input": store, "channel": "GFP", "rois": "replace", "open": False})
    assert run.rois == 20 and fresh.getCount() == 20 and run.labels is None and run.table is None
    assert jimport("ij.WindowManager").getImageCount() == 0
    run = segment_file({"input": store, "channel": "GFP", "output": tmp_path / "again", "rois": "none"})
    assert run.rois == 0 and fresh.getCount() == 20 and run.labels is not None and not run.virtual
    assert run.paths["labels"] == tmp_path / "again" / "cells_labels.tif"


@pytest.mark.jvm
def test_a_label_image_too_big_for_the_free_memory_opens_as_a_virtual_stack(fresh, tmp_path, monkeypatch):
    from labelfree.imagej import files

    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, np.stack([squares()] * 3), imagej=True, metadata={"axes": "TYX"})
    # half of 100 kB holds one 96 x 120 plane of 16-bit labels (23 kB), not the three (69 kB)
    monkeypatch.setattr(files, "_free_memory", lambda: 100_000)
    run = files.segment_file({"input": path, "rois": "none"})
    assert run.virtual and run.labels.getStack().isVirtual() and run.labels.getNFrames() == 3
    np.testing.assert_array_equal(
        np.asarray(run.labels.getStack().getProcessor(3).getPixels(), np.uint16).reshape(96, 120),
        tifffile.imread(run.paths["labels"])[2])


@pytest.mark.jvm
def test_a_failed_run_says_why_in_imagej_terms_and_replaces_nothing(fresh, tmp_path, user_runs):
    import labelfree.imagej as lij

    store = _zarr(tmp_path / "cells.ome.zarr")
    macro = f'run("LabelFree Segment File", "input=[{store}] channel=2 output=[{tmp_path}/out] rois=none open=false");'
    lij.run_macro(macro)
    kept = user_runs.digest(tmp_path / "out")
    with pytest.raises(LabelFreeError) as err:
        lij.run_macro(macro)
    said = str(err.value)
    assert "LabelFree Segment File (threshold on cells.ome.zarr) failed:" in said
    assert "cells_labels.tif exists" in said and "Traceback" not in said
    assert user_runs.digest(tmp_path / "out") == kept


@pytest.mark.jvm
def test_esc_stops_the_run_and_it_leaves_no_outputs(fresh, tmp_path):
    from scyjava import jimport

    from labelfree.imagej.files import run_file_command

    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, np.stack([squares()] * 4), imagej=True, metadata={"axes": "TYX"})
    IJ, KeyEvent = jimport("ij.IJ"), jimport("java.awt.event.KeyEvent")
    presses = threading.Timer(6.0, lambda: IJ.setKeyDown(KeyEvent.VK_ESCAPE))
    presses.start()
    try:
        with pytest.raises(Cancelled, match="stopped \\(Esc\\)"):  # a Cutter run of 5000 steps takes minutes
            run_file_command({"input": path, "pipeline": "cutter", "options": "n_steps=5000 stop_at_plateau=false",
                              "rois": "none"})
    finally:
        presses.cancel()
    out = tmp_path / "movie_labelfree"
    left = sorted(p.name for p in out.rglob("*")) if out.exists() else []
    assert left == [], left


@pytest.mark.jvm
def test_the_fiji_script_runs_with_the_file_choosers_values(fresh, tmp_path):
    """The shipped script as SciJava runs it: its inputs as globals, the file a java.io.File (its store's
    metadata file, which the file chooser can choose), the output folder left empty."""
    from scyjava import jimport

    from labelfree.imagej.scripts import parse_script_parameters

    script = Path(__file__).resolve().parents[2] / "fiji_scripts" / "LabelFree_Segment_File.py"
    text = script.read_text(encoding="utf-8")
    store = _zarr(tmp_path / "cells.ome.zarr")
    namespace = {p.name: p.attrs.get("value") for p in parse_script_parameters(text)}
    namespace.update(__name__="__fiji_script__", input=jimport("java.io.File")(str(store / ".zattrs")),
                     channel="GFP")
    exec(compile(text, script.name, "exec"), namespace)
    run = namespace["result"]
    assert run.output == tmp_path / "cells_labelfree" and run.rois == 20 == fresh.getCount()
    assert run.labels.getProcessor().getStatistics().max == 20


@pytest.mark.jvm
def test_cutter_takes_its_markers_from_the_roi_manager(fresh, tmp_path):
    """markers=roi_manager: the ROI Manager's points, saved for the run (the command line reads a ROI zip)."""
    from scyjava import jimport

    from labelfree.imagej.files import segment_file

    path = tmp_path / "nuclei.tif"
    tifffile.imwrite(path, squares(), imagej=True)
    PointRoi = jimport("ij.gui.PointRoi")
    for x, y in SQUARES[:12]:  # 12 of the 20 squares marked
        fresh.addRoi(PointRoi(x + 6, y + 6))
    run = segment_file({"input": path, "pipeline": "cutter", "rois": "none",
                        "options": "markers=roi_manager n_steps=20"})
    labels = tifffile.imread(run.paths["labels"])
    assert len(np.unique(labels[labels > 0])) == 12
    assert [labels[y + 6, x + 6] > 0 for x, y in SQUARES[:12]] == [True] * 12
    assert "--markers" in run.command and run.command[run.command.index("--markers") + 1].endswith("roi_manager.zip")
    assert not Path(run.command[run.command.index("--markers") + 1]).exists()  # the saved ROIs are not left behind
    fresh.reset()
    with pytest.raises(InputError, match="the ROI Manager is empty"):
        segment_file({"input": path, "pipeline": "cutter", "output": tmp_path / "o", "options": "markers=roi_manager"})


@pytest.mark.jvm
def test_the_documented_macro_line_runs_as_written(fresh, tmp_path):
    import re

    import labelfree.imagej as lij

    docs = (Path(__file__).resolve().parents[2] / "docs" / "fiji.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- segment-file -->\n```\n(.*?)```", docs, re.S)
    assert found is not None, "docs/fiji.md has no segment-file example"
    store = _zarr(tmp_path / "cells.ome.zarr")
    lij.run_macro(found.group(1).replace("/data/cells.ome.zarr", str(store)))
    assert fresh.getCount() == 20  # 144 px squares: all above min_size=50
    assert (tmp_path / "cells_labelfree" / "cells_labels.tif").is_file()


@pytest.mark.jvm
def test_the_menu_dialog_runs_it_and_the_recorder_writes_a_line_that_replays_it(fresh, tmp_path):
    """A user: Plugins > LabelFree Segment File, the file typed in, the channel set, OK."""
    import time

    from scyjava import jimport

    import labelfree.imagej as lij

    store = _zarr(tmp_path / "cells.ome.zarr")
    recorder = jimport("ij.plugin.frame.Recorder")(False)
    try:
        jimport("ij.IJ").doCommand("LabelFree Segment File")  # the menu path (Executer thread)
        gd = wait_for_dialog("LabelFree Segment File")
        texts = gd.getStringFields()
        on_edt(lambda: texts.get(0).setText(str(store)))  # input
        on_edt(lambda: texts.get(1).setText("2"))  # channel
        press(gd, 0)
        line = recorded_line(recorder)
        deadline = time.time() + 120
        while fresh.getCount() < 20 and time.time() < deadline:
            time.sleep(0.2)
    finally:
        recorder.close()
    assert fresh.getCount() == 20, (line, str(jimport("ij.IJ").getLog()))
    assert line == f'run("LabelFree Segment File", "input={store} pipeline=threshold channel=2 tile=0 rois=append ' \
                   'open=true");'  # the one line: no roiManager("Open", ...) of its own, no empty keys
    first = tifffile.imread(tmp_path / "cells_labelfree" / "cells_labels.tif")
    fresh.reset()
    lij.run_macro(line.replace("channel=2", f"channel=2 output=[{tmp_path}/again]"))
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "again" / "cells_labels.tif"), first)
    assert fresh.getCount() == 20


@pytest.mark.jvm
def test_tiles_give_the_labels_of_the_whole_image(fresh, tmp_path):
    """tile=64: the command line's tiled run (for images bigger than memory), the objects cut by no tile edge."""
    from labelfree.imagej.files import segment_file

    store = _zarr(tmp_path / "cells.ome.zarr")
    whole = segment_file({"input": store, "channel": "GFP", "rois": "none", "open": False})
    tiled = segment_file({"input": store, "channel": "GFP", "rois": "none", "open": False, "tile": 64,
                          "output": tmp_path / "tiled"})
    assert "--tile" in tiled.command
    a, b = (tifffile.imread(r.paths["labels"]) for r in (whole, tiled))
    assert len(np.unique(b[b > 0])) == 20
    np.testing.assert_array_equal(a > 0, b > 0)
