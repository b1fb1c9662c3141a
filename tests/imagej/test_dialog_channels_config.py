"""The commands' dialogs show and read channels as a macro gives them (counted from 1), and a ``config_file``
typed in the dialog is read.

Was: Cutter's ``cell_channels`` and Fusion's ``channels`` (text fields) showed and read channels counted from 0,
so a user who typed ``1,2`` (as docs/fiji.md and macros write the first two channels) ran the second and third;
so did the channel of a one-channel image (Drift's ``channel`` showed ``0`` and refused the ``1`` a macro gives).
A ``config_file`` typed on the dialog's outputs page was ignored: the file was read only before the dialog
opened, so its settings were silently lost and the recorded line did not name them either.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from awt_events import on_edt, press, recorded_line, wait_for_dialog
from channel_images import drift_movie
from scipy import ndimage as ndi

from labelfree.image import to_dataarray


pytestmark = pytest.mark.jvm


def _show(image, title: str, *, dims: str, **kw):
    import labelfree.imagej as lij

    imp = lij.xarray_to_imageplus(to_dataarray(image, dims=dims, **kw), title=title)
    imp.show()
    return imp


def _control(gd, key: str):
    """The control (text field, choice or checkbox) of the field labelled ``key`` on dialog page ``gd``."""
    from scyjava import jimport

    Label, Container = jimport("java.awt.Label"), jimport("java.awt.Container")
    Checkbox = jimport("java.awt.Checkbox")
    components = list(gd.getComponents())
    shown = key.replace("_", " ")  # ImageJ shows a key's underscores as spaces
    for i, c in enumerate(components):
        if isinstance(c, Checkbox) and str(c.getLabel()).strip() in (key, shown):
            return c
        if isinstance(c, Label) and str(c.getText()).strip() in (key, shown):
            nxt = components[i + 1]
            if isinstance(nxt, Container) and not hasattr(nxt, "getText") and not hasattr(nxt, "getSelectedItem"):
                nxt = next(k for k in nxt.getComponents() if hasattr(k, "getText") or hasattr(k, "getSelectedItem"))
            return nxt
    raise AssertionError(f"no field {key!r} on {gd.getTitle()}")


def _text(gd, key: str) -> str:
    return str(_control(gd, key).getText())


def _type(gd, key: str, text: str) -> None:
    field = _control(gd, key)
    on_edt(lambda: field.setText(text))


def _in_thread(fn):
    """Run ``fn()`` (a command with its dialog) on a thread of its own; returns a function giving its result."""
    out: dict = {}

    def body():
        try:
            out["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            out["error"] = exc

    thread = threading.Thread(target=body, daemon=True)
    thread.start()

    def result():
        thread.join(180)
        assert not thread.is_alive(), "the command did not end"
        if "error" in out:
            raise out["error"]
        return out["result"]

    return result


# ---- the pages, built and read (not shown) -------------------------------------------------------------------------

def test_channel_lists_are_shown_and_read_from_one(ij):
    from labelfree.imagej.dialog import build_page, read_page
    from labelfree.imagej.fields import command_fields

    fields = [f for f in command_fields("cutter") if f.key in ("cell_channels", "nucleus_channel")]
    names = ["C0", "C1", "C2"]
    values = {"cell_channels": (0, 1), "nucleus_channel": 2}
    gd = build_page("LabelFree Cutter", fields, values=values, channels=names)
    assert _text(gd, "cell_channels") == "1,2"  # as docs/fiji.md and a macro write the first two channels
    assert str(_control(gd, "nucleus_channel").getSelectedItem()) == "3"
    assert read_page(gd, fields, values=values, channels=names)[0] == values  # untouched: the same channels
    gd = build_page("LabelFree Cutter", fields, values=values, channels=names)
    _control(gd, "cell_channels").setText("1,3")
    assert read_page(gd, fields, values=values, channels=names)[0] == {"cell_channels": (0, 2), "nucleus_channel": 2}
    # a config file's channels (from 0: C1 is the second channel) are shown as a macro gives them
    fusion = [f for f in command_fields("fusion") if f.key == "channels"]
    gd = build_page("LabelFree Fusion", fusion, values={"channels": ("C1", "-1")}, channels=names)
    assert _text(gd, "channels") == "2,3"
    gd = build_page("LabelFree Fusion", fusion, values={"channels": ("GFP", 0)}, channels=["DAPI", "GFP"],
                    named=True)
    assert _text(gd, "channels") == "GFP,1"
    _control(gd, "channels").setText("2, dapi")
    assert read_page(gd, fusion, values={"channels": ()}, channels=["DAPI", "GFP"], named=True)[0] == {
        "channels": (1, "dapi")}


def test_the_channel_of_a_one_channel_image_is_shown_and_read_from_one(ij):
    from labelfree.errors import ConfigError
    from labelfree.imagej.dialog import build_page, read_page
    from labelfree.imagej.fields import command_fields

    fields = [f for f in command_fields("drift") if f.key == "channel"]
    gd = build_page("LabelFree Drift", fields, values={"channel": 0}, channels=["C0"])
    assert _text(gd, "channel") == "1"
    _control(gd, "channel").setText(" 1 ")
    assert read_page(gd, fields, values={"channel": 0}, channels=["C0"])[0] == {"channel": 0}
    gd = build_page("LabelFree Drift", fields, values={"channel": 0}, channels=["C0"])
    _control(gd, "channel").setText("0")
    with pytest.raises(ConfigError, match="channel=0 is no channel: ImageJ counts channels from 1"):
        read_page(gd, fields, values={"channel": 0}, channels=["C0"])
    threshold = [f for f in command_fields("threshold") if f.key == "channel"]
    gd = build_page("LabelFree Threshold", threshold, values={"channel": None}, channels=["C0"])
    assert _text(gd, "channel") == "auto"
    assert read_page(gd, threshold, values={"channel": None}, channels=["C0"])[0] == {"channel": None}


# ---- the real dialogs, filled in and run ---------------------------------------------------------------------------

def _fake_fusion(seen: list):
    """A stand-in for Fusion's segment (no model zoo): labels of the mean of the channels Fusion would fuse
    (chosen by its own rule), which it notes in ``seen``."""
    from labelfree.fusion.segment import _channels_to_fuse
    from labelfree.image import labels_like

    def segment(image, /, *, config=None, progress=False, **_):
        _, chosen = _channels_to_fuse(image, config)
        seen.append(tuple(str(c) for c in chosen))
        return labels_like(ndi.label(image.sel(C=chosen).mean("C").values > 50)[0], image)

    return segment


def _three_channels() -> np.ndarray:
    rng = np.random.default_rng(0)
    image = rng.normal(10, 2, (3, 64, 64)).clip(0)
    for c, (cy, cx) in enumerate([(16, 16), (16, 48), (48, 32)]):
        image[c, cy - 6:cy + 6, cx - 6:cx + 6] += 200
    return image.astype(np.uint8)


@pytest.mark.parametrize("typed, used", [(None, ("C0", "C1", "C2")), ("1,2", ("C0", "C1")), ("3", ("C2",)),
                                         ("C1,C3", ("C0", "C2"))])
def test_fusion_dialog_channels_count_from_one_as_a_macro(clean, monkeypatch, typed, used):
    """An untouched dialog runs the channels a run without options runs; ``1,2`` typed runs the first two, as
    ``channels=1,2`` in a macro does (the old dialog ran the second and third)."""
    import importlib

    import labelfree.imagej as lij

    seen: list = []
    monkeypatch.setattr(importlib.import_module("labelfree.fusion.segment"), "segment", _fake_fusion(seen))
    imp = _show(_three_channels(), "three", dims="CYX")
    plain = lij.run_command("fusion", imp, options="rois=none table=false")
    done = _in_thread(lambda: lij.run_command("fusion", imp, options="rois=none table=false", dialog=True))
    gd = wait_for_dialog("LabelFree Fusion")
    assert _text(gd, "channels") == ""
    if typed is not None:
        _type(gd, "channels", typed)
    press(gd, 0)
    result = done()
    macro = lij.run_command("fusion", imp, options=f"channels={typed} rois=none table=false" if typed else
                            "rois=none table=false")
    assert seen == [("C0", "C1", "C2"), used, used]  # without options, from the dialog, from the macro
    assert np.array_equal(result.labels.values, macro.labels.values)
    assert result.options == macro.options
    if typed is None:
        assert np.array_equal(result.labels.values, plain.labels.values)


def test_cutter_dialog_shows_the_macros_channels_from_one_and_ok_runs_them(clean, monkeypatch):
    """A macro's ``cell_channels=2,3`` shown in the dialog (given with dialog=True): the field says ``2,3`` and
    OK runs those channels (the old field said ``1,2``: a user reading it as ImageJ counts saw other channels)."""
    import importlib

    import labelfree.imagej as lij

    from labelfree.image import labels_like

    seen: list = []

    def segment(image, /, *, config=None, progress=False, **_):
        seen.append((tuple(config.cell_channels), config.nucleus_channel))
        return labels_like((image.isel(C=0).values > 50).astype(np.uint8), image)

    monkeypatch.setattr(importlib.import_module("labelfree.cutter.segment"), "segment", segment)
    imp = _show(_three_channels(), "three", dims="CYX")
    done = _in_thread(lambda: lij.run_command("cutter", imp, dialog=True, options="cell_channels=2,3 "
                                              "nucleus_channel=1 rois=none table=false"))
    gd = wait_for_dialog("LabelFree Cutter")
    assert _text(gd, "cell_channels") == "2,3"
    assert str(_control(gd, "nucleus_channel").getSelectedItem()) == "1"
    press(gd, 0)
    result = done()
    assert seen == [((1, 2), 0)]
    assert "cell_channels=2,3" in result.options.split() and "nucleus_channel=1" in result.options.split()


@pytest.mark.parametrize("typed, macro", [(None, ""), ("2", "channel=2"), ("G", "channel=G"), ("3", "channel=3")])
def test_drift_dialog_of_an_rgb_movie_keeps_the_brightness_and_reads_colours_from_one(clean, typed, macro):
    """An RGB movie is one channel for ImageJ: Drift's channel is a text field. It shows ``auto`` for the default,
    the brightness, and OK keeps it; ``2`` typed is the green, as ``channel=2`` in a macro (the old field showed
    ``0`` and read ``2`` as the blue)."""
    import labelfree.imagej as lij

    imp = _show(drift_movie(np.uint8), "colour", dims="TCYX", channel_names=["R", "G", "B"])
    assert int(imp.getBitDepth()) == 24
    done = _in_thread(lambda: lij.run_command("drift", imp, options="backend=python table=false", dialog=True))
    gd = wait_for_dialog("LabelFree Drift")
    shown = _text(gd, "channel")
    if typed is not None:
        _type(gd, "channel", typed)
    press(gd, 0)
    result = done()
    expected = lij.run_command("drift", imp, options=f"backend=python table=false {macro}".strip())
    assert result.options == expected.options
    assert np.array_equal(result.labels.values, expected.labels.values)
    assert shown == "auto"


def _sized_disks() -> np.ndarray:
    """A 96 x 96 uint8 image: two large disks (radius 12 px, ~450 px) and two small ones (radius 6 px, ~110 px)."""
    img = np.random.default_rng(0).normal(10, 2, (96, 96)).clip(0)
    yy, xx = np.mgrid[:96, :96]
    for (cy, cx), r in zip([(22, 22), (22, 70), (70, 22), (70, 70)], (12, 12, 6, 6)):
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r**2] += 100
    return img.astype(np.uint8)


@pytest.mark.parametrize("min_size, objects", [(None, 2), ("30", 4)])
def test_a_config_file_typed_in_the_dialog_is_read_and_the_recorded_line_replays_it(clean, tmp_path, min_size,
                                                                                      objects):
    """The file's values apply to the fields the user left; a field changed in the dialog wins (min_size); the
    Recorder's line writes them all out and replays the run."""
    from scyjava import jimport

    import labelfree.imagej as lij

    IJ, Recorder = jimport("ij.IJ"), jimport("ij.plugin.frame.Recorder")
    _show(_sized_disks(), "disks", dims="YX")
    config = tmp_path / "big only.json"
    config.write_text(json.dumps({"min_size": 200, "fill_holes": False, "method": "li"}), encoding="utf-8")
    recorder = Recorder(False)
    try:
        IJ.doCommand("LabelFree Threshold")  # the menu path: first page, then the advanced pages
        first = wait_for_dialog("LabelFree Threshold")
        if min_size is not None:
            _type(first, "min_size", min_size)
        advanced = _control(first, "advanced_options")
        on_edt(lambda: advanced.setState(True))
        press(first, 0)
        press(wait_for_dialog("LabelFree Threshold: other"), 0)
        outputs = wait_for_dialog("LabelFree Threshold: outputs")
        _type(outputs, "config_file", str(config))
        press(outputs, 0)
        line = recorded_line(recorder)
    finally:
        recorder.close()
    labels = lij.imageplus_to_xarray(jimport("ij.WindowManager").getImage("disks-labels")).values
    assert int(labels.max()) == objects, line
    options = line.split('", "', 1)[1].rsplit('");', 1)[0].split()
    assert {f"min_size={min_size or 200}", "fill_holes=false", "method=li"} <= set(options), line
    assert not any(o.startswith("config_file") for o in options)
    lij.run_macro('selectImage("disks"); ' + line)
    replayed = lij.imageplus_to_xarray(jimport("ij.WindowManager").getImage("disks-labels-1")).values
    assert np.array_equal(replayed, labels)


def test_a_config_file_typed_in_the_dialog_gives_way_to_the_options_given(clean, tmp_path):
    """run_command(options=..., dialog=True): the options given before the dialog win over a file typed in it, as
    they win over a file given with them; the result's options replay the run."""
    import labelfree.imagej as lij

    imp = _show(_sized_disks(), "disks", dims="YX")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"min_size": 200, "method": "li"}), encoding="utf-8")
    done = _in_thread(lambda: lij.run_command("threshold", imp, options="method=otsu rois=none table=false",
                                              dialog="advanced"))
    press(wait_for_dialog("LabelFree Threshold: other"), 0)
    outputs = wait_for_dialog("LabelFree Threshold: outputs")
    _type(outputs, "config_file", str(config))
    press(outputs, 0)
    result = done()
    assert {"min_size=200", "method=otsu"} <= set(result.options.split()), result.options
    assert int(result.labels.max()) == 2
    again = lij.run_command("threshold", imp, options=result.options)
    assert again.options == result.options
    assert np.array_equal(again.labels.values, result.labels.values)


def test_a_config_file_typed_in_the_fiji_scripts_advanced_pages_takes_the_parameters_left_at_their_default(
        clean, tmp_path):
    """The shipped Threshold script passes every one of its parameters: those left at their default take the
    file's values (min_size, method), the one the user changed in the script's dialog keeps it (fill_holes)."""
    import labelfree.imagej as lij

    imp = _show(_sized_disks(), "disks", dims="YX")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"min_size": 200, "method": "li", "fill_holes": True}), encoding="utf-8")
    script = Path(__file__).resolve().parents[2] / "fiji_scripts" / "LabelFree_Threshold.py"
    namespace = {"__name__": "__fiji_script__", "imp": imp, "method": "otsu", "dark_objects": False, "min_size": 20,
                 "fill_holes": False, "split_touching": False, "channel": "auto", "rois": "none", "table": False,
                 "advanced_options": True}

    def run():
        exec(compile(script.read_text(encoding="utf-8"), script.name, "exec"), namespace)  # noqa: S102 - as Fiji
        return namespace["result"]

    done = _in_thread(run)
    press(wait_for_dialog("LabelFree Threshold: other"), 0)
    outputs = wait_for_dialog("LabelFree Threshold: outputs")
    _type(outputs, "config_file", str(config))
    press(outputs, 0)
    result = done()
    assert {"min_size=200", "method=li", "fill_holes=false", "rois=none", "table=false"} <= set(
        result.options.split()), result.options
    assert int(result.labels.max()) == 2
    again = lij.run_command("threshold", imp, options=result.options)
    assert np.array_equal(again.labels.values, result.labels.values)
