"""What a Fiji user expects of LabelFree's dialogs and images: Browse buttons for paths, channels as ImageJ labels them.

The dialog pages showed every path (output folder, config file, model file, zoo folder) as a plain text box with no
Browse button; they now use ImageJ's own ``addFileField`` / ``addDirectoryField``, whose text box reads, records and
takes a macro's value as before. Images made from Python arrays labelled unnamed channels ``C0``, ``C1``, ... (the
title bar read ``c:1/2 - C0``); they now carry no label, as ImageJ's own hyperstacks, and named channels keep
their names. These build the real ImageJ 1.x objects (under ``xvfb-run -a``).
"""

from __future__ import annotations

import numpy as np
import pytest

from labelfree.image import to_dataarray
from labelfree.imagej.fields import command_fields, command_spec, command_titles

#: every path field of every command, and what it holds
PATHS = {
    "threshold": {"output": "folder", "config_file": "file"},
    "motion": {"output": "folder", "config_file": "file"},
    "cutter": {"model_file": "file", "save_model_file": "file", "output": "folder", "config_file": "file"},
    "fusion": {"zoo": "folder", "model_file": "file", "output": "folder", "config_file": "file"},
    "drift": {"config_file": "file"},
    "stitch": {"config_file": "file"},
}

#: ImageJ's BrowseButtonListener modes
MODES = {"file": "file", "folder": "dir"}


def test_every_path_field_and_only_those_is_a_file_or_a_folder():
    from labelfree.imagej.fields import path_kind

    assert sorted(PATHS) == sorted(command_titles().values())
    for command, expected in PATHS.items():
        fields = command_fields(command)
        assert {f.key: path_kind(f) for f in fields if path_kind(f)} == expected, command
        for inp in getattr(command_spec(command), "inputs", ()):  # the kinds the command's spec gives its extra inputs
            field = next(f for f in fields if f.key == inp.macro_key)
            wanted = {"file": "file", "output": "file", "folder": "folder"}.get(inp.kind, "")
            assert path_kind(field) == ("" if field.kind == "choice" else wanted), (command, inp.name)


def _browse_mode(text_field):
    """What the Browse button next to ``text_field`` picks ("file" or "dir"), or None when it has none."""
    from scyjava import jimport

    Button = jimport("java.awt.Button")
    parent = text_field.getParent()
    if isinstance(parent, jimport("ij.gui.GenericDialog")):  # a plain text box sits on the dialog itself
        return None
    buttons = [c for c in parent.getComponents() if isinstance(c, Button)]
    assert [str(b.getLabel()) for b in buttons] == ["Browse"]
    listener = buttons[0].getActionListeners()[0]
    mode = listener.getClass().getDeclaredField("mode")
    mode.setAccessible(True)
    return str(mode.get(listener))


def _page(command: str, values: dict):
    from labelfree.imagej.dialog import build_page

    fields = [f for f in command_fields(command) if f.key in values]
    return build_page(f"LabelFree {command}", fields, values=values), fields


@pytest.mark.jvm
@pytest.mark.parametrize("command", sorted(PATHS))
def test_a_path_field_has_imagejs_browse_button_and_reads_back_what_it_shows(ij, command):
    from labelfree.imagej.dialog import read_page

    text_keys = [f.key for f in command_fields(command) if f.kind == "str" and f.key not in ("image",)]
    values = {key: f"/data/run {i} [2]/ü_{key}.x" for i, key in enumerate(text_keys)}
    gd, fields = _page(command, values)
    boxes = {f.key: gd.getStringFields().get(i) for i, f in enumerate(fields)}
    assert {key: str(box.getText()) for key, box in boxes.items()} == values
    assert {key: _browse_mode(box) for key, box in boxes.items()} == {
        key: MODES[PATHS[command][key]] if key in PATHS[command] else None for key in values}
    read, _ = read_page(gd, fields, values=values)
    assert read == values
    gd, fields = _page(command, values)  # the user types (or browses to) other paths, or clears them
    typed = {key: ("" if i % 2 else f"C:\\Users\\me\\{key} new") for i, key in enumerate(values)}
    for i, f in enumerate(fields):
        gd.getStringFields().get(i).setText(typed[f.key])
    assert read_page(gd, fields, values=values)[0] == typed


@pytest.mark.jvm
def test_the_dialog_notices_a_path_typed_in_a_browse_field(ij):
    """The dialog's change detection (a field the user changed wins over a config file) sees the path fields."""
    from labelfree.imagej.dialog import _control_states

    values = {"output": "", "overwrite": False, "config_file": ""}
    gd, fields = _page("threshold", values)
    before = _control_states(gd, fields, values=values, channels=())
    gd.getStringFields().get(0).setText("/tmp/out")
    after = _control_states(gd, fields, values=values, channels=())
    assert _browse_mode(gd.getStringFields().get(0)) == "dir"
    assert [k for k in after if after[k] != before[k]] == ["output"]


@pytest.mark.jvm
def test_a_macros_options_fill_the_browse_fields(ij):
    """In a macro (``Macro.getOptions()`` set on a ``Run$_`` thread) the page reads the macro's keys and values;
    a key the macro leaves out keeps the value the page was given (ImageJ's folder field would add a ``/``)."""
    from awt_events import in_macro_thread

    from labelfree.imagej.dialog import read_page

    values = {"zoo": "", "model_file": "", "output": "/data/earlier out", "overwrite": False, "config_file": ""}
    options = "zoo=[/models/my zoo] model_file=[GFP=/m/g.pt,Cy5=/m/c.pt] overwrite config_file=/tmp/c.json"

    def body():
        gd, fields = _page("fusion", values)
        return {"modes": [_browse_mode(gd.getStringFields().get(i)) for i in range(4)],
                "read": read_page(gd, fields, values=values)[0]}

    out = in_macro_thread(body, options, timeout=60)
    assert out["modes"] == ["dir", "file", "dir", "file"]
    assert out["read"] == {"zoo": "/models/my zoo", "model_file": "GFP=/m/g.pt,Cy5=/m/c.pt",
                           "output": "/data/earlier out", "overwrite": True, "config_file": "/tmp/c.json"}


@pytest.fixture
def no_windows(ij):
    from labelfree.imagej.jvm import _close_imagej_windows, cancel_open_dialogs

    _close_imagej_windows()
    yield
    cancel_open_dialogs()
    _close_imagej_windows()


@pytest.mark.jvm
def test_the_menu_command_records_and_replays_a_browsed_output_folder_as_before(no_windows, tmp_path):
    """The outputs page of the menu command has the Browse buttons; the Recorder's line is the same text."""
    from awt_events import on_edt, press, recorded_line, wait_for_dialog
    from scyjava import jimport

    import labelfree.imagej as lij

    IJ, Recorder = jimport("ij.IJ"), jimport("ij.plugin.frame.Recorder")
    image = np.zeros((40, 40), np.uint8)
    image[10:20, 10:20] = 200
    lij.xarray_to_imageplus(to_dataarray(image, dims="YX"), title="square").show()
    folder = tmp_path / "my run"
    folder.mkdir()
    recorder = Recorder(False)
    try:
        IJ.doCommand("LabelFree Threshold")
        first = wait_for_dialog("LabelFree Threshold")
        on_edt(lambda: first.getCheckboxes().get(first.getCheckboxes().size() - 1).setState(True))  # advanced
        press(first, 0)
        press(wait_for_dialog("LabelFree Threshold: other"), 0)
        outputs = wait_for_dialog("LabelFree Threshold: outputs")
        boxes = outputs.getStringFields()
        modes = [_browse_mode(boxes.get(i)) for i in range(boxes.size())]
        on_edt(lambda: boxes.get(0).setText(str(folder)))
        press(outputs, 0)
        line = recorded_line(recorder)
    finally:
        recorder.close()
    assert modes == ["dir", "file"]  # output, config_file
    assert line == (f'run("LabelFree Threshold", "method=otsu dark_objects=false min_size=20 fill_holes=true '
                    f'split_touching=false threshold=auto rois=append table=true output=[{folder}] '
                    'overwrite=false");'), line
    assert (folder / "square_labels.tif").is_file()
    lij.run_macro('selectImage("square");' + line.replace("overwrite=false", "overwrite=true"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my run"]


def _labels(imp) -> list:
    stack = imp.getStack()
    return [None if stack.getSliceLabel(i) is None else str(stack.getSliceLabel(i))
            for i in range(1, stack.getSize() + 1)]


@pytest.mark.jvm
def test_unnamed_channels_of_an_array_get_no_label_as_in_imagej(ij):
    """A CZYX array without channel names labelled its planes C0, C1 (counted from 0, against ImageJ's C slider)."""
    from scyjava import jimport

    import labelfree.imagej as lij
    from labelfree.imagej.convert import imageplus_channel_names

    values = np.arange(2 * 3 * 5 * 6, dtype=np.uint16).reshape(2, 3, 5, 6)
    imp = lij.xarray_to_imageplus(to_dataarray(values, dims="CZYX"), title="unnamed")
    assert _labels(imp) == [None] * 6
    assert imp.getProperty("labelfree.channel_names") is None
    native = jimport("ij.IJ").createImage("native", "16-bit black", 6, 5, 2, 3, 1)  # ImageJ's own hyperstack
    assert _labels(native) == _labels(imp)
    back = lij.imageplus_to_xarray(imp)  # the default names come back
    assert list(back.C.values) == ["C0", "C1"]
    np.testing.assert_array_equal(back.values, values)
    assert imageplus_channel_names(imp) == ["C0", "C1"]
    try:
        imp.show()
        imp.setPosition(2, 1, 1)
        assert str(imp.getWindow().createSubtitle()).startswith("c:2/2 z:1/3; ")  # what the title bar shows
    finally:
        imp.changes = False
        imp.close()


@pytest.mark.jvm
def test_named_channels_label_their_planes_and_come_back(ij):
    import labelfree.imagej as lij

    values = np.arange(2 * 3 * 5 * 6, dtype=np.uint16).reshape(3, 2, 5, 6)
    da = to_dataarray(values, dims="ZCYX", channel_names=["GFP", "C0"])
    imp = lij.xarray_to_imageplus(da, title="named")
    assert _labels(imp) == ["GFP", "C0"] * 3
    assert str(imp.getProperty("labelfree.channel_names")) == "GFP\nC0"
    assert list(lij.imageplus_to_xarray(imp).C.values) == ["GFP", "C0"]
    try:
        imp.show()
        imp.setPosition(1, 2, 1)
        assert str(imp.getWindow().createSubtitle()).startswith("c:1/2 z:2/3 (GFP); ")
        label = lij.run_macro('selectImage("named"); Stack.setPosition(2, 3, 1); return getInfo("slice.label");')
        assert label == "C0"  # a channel's own name, even one that looks like LabelFree's default
    finally:
        imp.changes = False
        imp.close()
