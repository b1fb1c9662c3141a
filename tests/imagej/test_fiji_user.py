"""What a Fiji user meets beyond the plain run: signed and calibrated images, the advanced dialog pages,
recorded folders with brackets, earlier results in the output folder and macro calls of the Fiji scripts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from awt_events import in_macro_thread, on_edt, press, recorded_line, wait_for_dialog

from labelfree.image import to_dataarray

pytestmark = pytest.mark.jvm

SCRIPTS = Path(__file__).resolve().parents[2] / "fiji_scripts"
#: centres of the four bright disks (radius 8 px) of :func:`_cells`
CENTRES = [(16, 16), (16, 46), (46, 16), (46, 46)]


def _cells(seed: int = 0) -> np.ndarray:
    """A 64 x 64 image: four bright disks on a dark, noisy background."""
    img = np.random.default_rng(seed).normal(10, 2, (64, 64)).clip(0)
    yy, xx = np.mgrid[:64, :64]
    for cy, cx in CENTRES:
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < 8**2] += 100
    return img


def _show(image: np.ndarray, title: str):
    import labelfree.imagej as lij

    imp = lij.xarray_to_imageplus(to_dataarray(image, dims="YX"), title=title)
    imp.show()
    return imp


def test_the_label_image_of_a_signed_16_bit_image_holds_the_label_ids(clean):
    """A signed 16-bit image (ImageJ keeps it as 16-bit + 32768 with a calibration function) gave its
    calibration to the label image: label 1 read as -32767 in the status bar, getValue and Measure."""
    from scyjava import jimport

    import labelfree.imagej as lij

    imp = _show((_cells() * 100 + 30000).astype(np.uint16), "signed")
    cal = imp.getCalibration()
    cal.setSigned16BitCalibration()
    cal.pixelWidth = cal.pixelHeight = 0.5
    cal.setUnit("micron")
    imp.setCalibration(cal)
    assert imp.getCalibration().isSigned16Bit()
    said = lij.run_macro('selectImage("signed"); run("LabelFree Threshold", "rois=none table=false");'
                         'return "" + getValue(16, 16) + " " + getValue(46, 46);')
    assert said.split() == ["1", "4"]
    labels = jimport("ij.WindowManager").getImage("signed-labels")
    kept = labels.getCalibration()
    assert not kept.isSigned16Bit() and not kept.calibrated()
    assert (kept.pixelWidth, str(kept.getUnit())) == (0.5, "micron")  # the spatial calibration stays
    assert imp.getCalibration().isSigned16Bit()  # the input is untouched


def test_an_optional_number_can_be_set_to_auto_in_the_dialog(ij):
    """Motion's flow_downsample and fine_iterations take "auto" (null), but their dialog fields were number
    boxes: "auto" typed there was read as NaN and refused as ``fine_iterations=nan``."""
    from labelfree.errors import ConfigError
    from labelfree.imagej.dialog import build_page, read_page
    from labelfree.imagej.fields import command_fields

    fields = [f for f in command_fields("motion") if f.key in ("fine_iterations", "flow_blur", "flow_downsample")]
    values = {f.key: f.default for f in fields}
    gd = build_page("LabelFree Motion: optical flow", fields, values=values)
    texts = {str(t.getText()): t for t in gd.getStringFields() or []}
    assert sorted(texts) == ["1", "2"]  # fine_iterations and flow_downsample: text boxes showing their numbers
    texts["2"].setText("auto")
    read, _ = read_page(gd, fields, values=values)
    assert read == {"fine_iterations": None, "flow_blur": 3.0, "flow_downsample": 1}
    gd = build_page("LabelFree Motion: optical flow", fields, values=values)
    gd.getNumericFields().get(0).setText("three")  # flow_blur, a number that cannot be automatic
    with pytest.raises(ConfigError, match=r"flow_blur='three' is not valid; expected a number"):
        read_page(gd, fields, values=values)


def test_an_output_folder_with_brackets_is_recorded_as_typed(clean, tmp_path):
    """The Recorder wrote ``output=[.../run [2]`` (the value's closing bracket cut off), so the recorded
    line stopped with "the '[' has no matching ']'"; a folder ending in ']' without a space was
    recorded as another folder."""
    from scyjava import jimport

    import labelfree.imagej as lij
    from labelfree.imagej.fields import command_fields
    from labelfree.options import parse_macro_options

    IJ, Recorder = jimport("ij.IJ"), jimport("ij.plugin.frame.Recorder")
    _show(_cells().astype(np.uint8), "cells")
    folder = tmp_path / "run [2]"
    folder.mkdir()
    recorder = Recorder(False)
    try:
        IJ.doCommand("LabelFree Threshold")  # the menu path: first page, then the advanced pages
        first = wait_for_dialog("LabelFree Threshold")
        on_edt(lambda: first.getCheckboxes().get(first.getCheckboxes().size() - 1).setState(True))  # advanced
        press(first, 0)
        press(wait_for_dialog("LabelFree Threshold: other"), 0)
        outputs = wait_for_dialog("LabelFree Threshold: outputs")
        on_edt(lambda: outputs.getStringFields().get(0).setText(str(folder)))
        press(outputs, 0)
        line = recorded_line(recorder)
    finally:
        recorder.close()
    assert line.startswith('run("LabelFree Threshold", "'), line
    options = line.split('", "', 1)[1].rsplit('");', 1)[0]
    assert parse_macro_options(options, command_fields("threshold"))["output"] == str(folder)
    assert (folder / "cells_labels.tif").is_file()
    lij.run_macro('selectImage("cells");' + line.replace("overwrite=false", "overwrite=true"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run [2]"]  # the replay wrote the same folder


def test_an_earlier_result_in_the_output_folder_names_the_commands_overwrite_key(clean, tmp_path):
    """The refusal to replace an earlier result said "CLI --overwrite, API overwrite=True": neither is
    what a Fiji user types."""
    from scyjava import jimport

    import labelfree.imagej as lij
    from labelfree.errors import OutputExistsError

    _show(_cells().astype(np.uint8), "cells")
    macro = f'selectImage("cells"); run("LabelFree Threshold", "rois=none output=[{tmp_path}]'
    lij.run_macro(macro + '");')
    with pytest.raises(OutputExistsError) as caught:
        lij.run_macro(macro + '");')
    for said in (str(caught.value), str(jimport("ij.IJ").getLog())):
        assert "(overwrite=true; in the dialog: tick advanced_options, then overwrite on the outputs page)" in said
        assert "--overwrite" not in said and "API" not in said
    lij.run_macro(macro + ' overwrite=true");')  # the advice works


def _run_script_in_a_macro(name: str, imp, options: str, **params):
    """Run a shipped Fiji script's body as Fiji runs it from a macro: on the macro's thread (ImageJ names it
    ``Run$_...``), the macro's options readable with ``Macro.getOptions()``, ``imp`` the active image."""
    text = (SCRIPTS / name).read_text(encoding="utf-8")
    namespace = {"__name__": "__fiji_script__", "imp": imp, **params}

    def body():
        exec(compile(text, name, "exec"), namespace)  # noqa: S102 - the shipped script, as Fiji runs it
        return namespace["result"]

    return in_macro_thread(body, options)


def test_a_macro_calling_the_fiji_script_with_image_segments_that_image(clean):
    """In Fiji, ``run("LabelFree Threshold", "image=[b] ...")`` segmented the active image: the script's
    ``imp`` (SciJava's active image) won over the image the macro named."""
    named = _show(_cells(1).astype(np.uint8), "named")
    active = _show(np.zeros((64, 64), np.uint8), "active")
    params = {"method": "otsu", "dark_objects": False, "min_size": 20, "fill_holes": True,
              "split_touching": False, "channel": "auto", "rois": "none", "table": False, "advanced_options": False}
    result = _run_script_in_a_macro("LabelFree_Threshold.py", active, "image=named rois=none table=false", **params)
    assert str(result.label_image.getTitle()) == "named-labels"
    assert sorted(int(result.labels.values[cy, cx]) for cy, cx in CENTRES) == [1, 2, 3, 4]
    assert named.getRoi() is None and int(active.getStatistics().max) == 0



def test_the_drift_corrected_movie_keeps_the_value_calibration(clean):
    """Drift keeps the movie's pixel values, but the corrected movie lost a signed 16-bit calibration (its
    values read 32768 higher than the input's) and a function set with Analyze > Calibrate."""
    from scyjava import jimport

    import labelfree.imagej as lij

    movie = np.stack([np.roll(_cells(t), 2 * t, axis=1) for t in range(3)])
    for bits, data in ((16, movie * 100 + 30000), (8, movie)):
        title = f"drifting{bits}"
        imp = lij.xarray_to_imageplus(to_dataarray(data.astype(f"uint{bits}"), dims="TYX"), title=title)
        cal = imp.getCalibration()
        if bits == 16:
            cal.setSigned16BitCalibration()
        else:
            cal.setFunction(cal.STRAIGHT_LINE, [1.0, 2.0], "OD")
        imp.setCalibration(cal)
        imp.show()
        lij.run_macro(f'selectImage("{title}"); run("LabelFree Drift", "backend=python table=false");')
        out = jimport("ij.WindowManager").getImage(f"{title}-drift-corrected")
        kept = out.getCalibration()
        assert int(out.getBitDepth()) == bits
        assert [kept.getCValue(v) for v in (0, 200)] == [cal.getCValue(v) for v in (0, 200)]
        assert str(kept.getValueUnit()) == str(cal.getValueUnit())


def test_the_fiji_script_counts_channels_from_1(clean):
    """The shipped Threshold script with channel "1" segments the first channel of a two-channel image and "2" the
    second (ImageJ's numbering; the scripts passed 0-based numbers before)."""
    import labelfree.imagej as lij

    one = _cells(0)
    two = np.random.default_rng(1).normal(10, 2, (64, 64)).clip(0)
    two[(np.mgrid[:64, :64][0] - 16) ** 2 + (np.mgrid[:64, :64][1] - 16) ** 2 < 64] += 100  # one disk only
    imp = lij.xarray_to_imageplus(to_dataarray(np.stack([one, two]).astype(np.uint8), dims="CYX"), title="pair")
    imp.show()
    params = {"method": "otsu", "dark_objects": False, "min_size": 20, "fill_holes": True,
              "split_touching": False, "rois": "none", "table": False, "advanced_options": False}
    counts = {}
    for channel in ("1", "2"):
        result = _run_script_in_a_macro("LabelFree_Threshold.py", imp, "", channel=channel, **params)
        counts[channel] = len(np.unique(result.labels.values)) - 1
    assert counts == {"1": 4, "2": 1}


def test_the_fiji_script_reads_macro_variables_as_the_command_does(clean):
    """``min_size=&sz`` in a macro's call of the Fiji script goes to the running macro's variables, as the
    ImageJ 1.x command reads them (:func:`labelfree.imagej.commands.macro_variable`); with no macro running, the
    error names the variable (before: "min_size='&sz' is not valid; expected an integer")."""
    from labelfree.errors import ConfigError

    active = _show(_cells(1).astype(np.uint8), "active")
    params = {"method": "otsu", "dark_objects": False, "min_size": 20, "fill_holes": True,
              "split_touching": False, "channel": "auto", "rois": "none", "table": False, "advanced_options": False}
    with pytest.raises(ConfigError, match=r"&sz names a macro variable, but no ImageJ macro is running"):
        _run_script_in_a_macro("LabelFree_Threshold.py", active, "min_size=&sz rois=none table=false", **params)
