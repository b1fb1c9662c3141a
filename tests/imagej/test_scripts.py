"""Fiji scripts: their SciJava `#@` headers parse, match the macro keys, and their bodies run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from labelfree.imagej.fields import ADVANCED_KEY, channel_keys, command_fields, split_fields
from labelfree.imagej.files import FILE_COMMAND, file_fields
from labelfree.imagej.scripts import ScriptSyntaxError, parse_script_parameters, render_script, script_files
from labelfree.options import coerce_value

SCRIPTS = Path(__file__).resolve().parents[2] / "fiji_scripts"
SCRIPT_FILES = script_files()


def test_parser_reads_types_io_and_attributes():
    text = (
        '#@ ImagePlus imp\n'
        '#@ String (choices={"a", "b c"}, value="b c", label="Mode") mode\n'
        '#@ int (value=3, min=1, max=9, style="slider") n\n'
        '#@output ImagePlus result\n'
        '\n'
        'print(mode)\n'
        '#@ int ignored_after_code\n'
    )
    params = parse_script_parameters(text)
    assert [(p.io, p.type, p.name) for p in params] == [
        ("input", "ImagePlus", "imp"), ("input", "String", "mode"), ("input", "int", "n"), ("output", "ImagePlus", "result")]
    assert params[1].attrs == {"choices": ["a", "b c"], "value": "b c", "label": "Mode"}
    assert params[2].attrs == {"value": 3, "min": 1, "max": 9, "style": "slider"}


@pytest.mark.parametrize("line, message", [
    ("#@ Strng name", "unknown parameter type 'Strng'"),
    ("#@ int (vale=3) n", "unknown attribute 'vale'"),
    ('#@ String (choices={"a", "b") x', "not closed"),
    ('#@ String (value="a) x', "unterminated string"),
    ('#@ String (choices={"a"}, value="z") x', "not one of the choices"),
    ("#@ int (value=3 n", "unbalanced parentheses"),
    ("#@ int", "expected '#@ \\[io\\] Type name'"),
    ("#@ int n\n#@ int n", "declared twice"),
])
def test_parser_rejects_mistakes_with_the_line_number(line, message):
    with pytest.raises(ScriptSyntaxError, match=message):
        parse_script_parameters(line)
    with pytest.raises(ScriptSyntaxError, match=f"line {line.count(chr(10)) + 1}:"):
        parse_script_parameters(line)


@pytest.mark.parametrize("command", sorted(SCRIPT_FILES))
def test_rendered_script_parameters_are_exactly_the_macro_keys(command):
    params = parse_script_parameters(render_script(command))
    if command == "doctor":
        assert [p.name for p in params] == ["log"]
        return
    if command == FILE_COMMAND:  # no image: the file and the output folder are file choosers
        fields = file_fields()
        assert [p.name for p in params] == [f.key for f in fields]
        assert [(p.name, p.attrs.get("style")) for p in params if p.type == "File"] == [("input", "open")]
        for p, f in zip(params, fields):
            assert p.attrs["description"].startswith(f.help)  # a channel's says ImageJ counts from 1
            if p.type != "File":
                assert coerce_value(f, p.attrs["value"]) == f.default
        assert [p.name for p in params if p.attrs.get("required") is False] == ["output", "options"]
        return
    assert params[0].type == "ImagePlus" and params[0].name == "imp"
    basic, groups = split_fields(command_fields(command))
    assert 1 <= len(basic) <= 12, f"{command}: {len(basic)} basic fields; a first dialog has at most 12"
    assert [p.name for p in params[1:]] == [f.key for f in basic] + ([ADVANCED_KEY] if groups else [])
    keys = channel_keys(basic)
    for p, f in zip(params[1:], basic):  # each default, as the script writes it, reads back to the config default
        expected = coerce_value(f, f.default if f.default is not None else "auto")
        if f.key in keys and isinstance(expected, int):  # a channel number: the script counts from 1, as ImageJ
            expected += 1
        assert coerce_value(f, p.attrs["value"]) == expected
    # every parameter has its own description, as plain text
    descriptions = [p.attrs.get("description", "") for p in params[1:]]
    assert all(descriptions) and len(set(descriptions)) == len(descriptions)
    assert not any("`" in d for d in descriptions)


@pytest.mark.parametrize("command", sorted(SCRIPT_FILES))
def test_shipped_script_still_fits_the_command(command):
    """A shipped script whose key was renamed or removed would fail in Fiji: refresh with
    `python -m labelfree.imagej.scripts fiji_scripts` (`labelfree fiji install` always renders fresh ones)."""
    params = parse_script_parameters((SCRIPTS / SCRIPT_FILES[command]).read_text(encoding="utf-8"))
    if command == "doctor":
        return
    fields = {f.key: f for f in (file_fields() if command == FILE_COMMAND else command_fields(command))}
    for p in params[int(command != FILE_COMMAND):]:
        if p.name == ADVANCED_KEY:
            continue
        assert p.name in fields, f"{SCRIPT_FILES[command]}: {p.name!r} is no longer an option of {command}"
        if p.type != "File":
            coerce_value(fields[p.name], p.attrs["value"])


def test_recorded_cutter_and_fusion_macro_keys_still_parse(monkeypatch, tmp_path):
    """Macros recorded when model files and device were settings keep working: the keys are the inputs'."""
    from labelfree.imagej import commands
    from labelfree.options import parse_macro_options

    fields = command_fields("cutter")
    values = parse_macro_options("n_steps=5 model_file=[/data/m 1.pt] save_model_file= device=cuda", fields)
    assert values == {"n_steps": 5, "model_file": "/data/m 1.pt", "save_model_file": "", "device": "cuda"}
    from labelfree.pipelines import get_pipeline

    spec = get_pipeline("cutter")
    inputs = commands._input_values(spec, values, None)
    assert inputs == {"model": "/data/m 1.pt", "device": "cuda"}  # the segment function's keywords
    assert parse_macro_options("device=cpu", command_fields("fusion"))["device"] == "cpu"
    with pytest.raises(Exception, match="device"):
        parse_macro_options("device=gpu", fields)


def _run_body(command: str, imp, **overrides):
    """Execute a shipped script with its `#@` inputs injected as globals, as SciJava does.

    Values are the command's current defaults (a shipped copy may carry older ones) unless overridden.
    """
    text = (SCRIPTS / SCRIPT_FILES[command]).read_text(encoding="utf-8")
    defaults = {f.key: f.default for f in command_fields(command)}
    namespace = {"__name__": "__fiji_script__"}
    for p in parse_script_parameters(text):
        namespace[p.name] = defaults.get(p.name, p.attrs.get("value"))
    namespace.update(imp=imp, **overrides)
    exec(compile(text, SCRIPT_FILES[command], "exec"), namespace)
    return namespace


@pytest.mark.jvm
def test_threshold_script_body_segments_the_open_stack(ij):
    import labelfree.imagej as lij
    from labelfree.image import to_dataarray

    movie = np.zeros((2, 40, 40), np.uint16)
    movie[:, 5:12, 5:12] = 900
    movie[1, 20:30, 22:31] = 900
    imp = lij.xarray_to_imageplus(to_dataarray(movie, dims="TYX"), title="script-input")
    ns = _run_body("threshold", imp, min_size=5, rois="none", table=False)
    result = ns["result"]
    assert [int(result.labels[t].max()) for t in range(2)] == [1, 2]
    assert str(result.label_image.getTitle()) == "script-input-labels"


@pytest.mark.jvm
@pytest.mark.slow
def test_motion_script_body_gives_exactly_the_python_pipeline_result(ij):
    import labelfree.imagej as lij
    from labelfree.datasets import synthetic_movie
    from labelfree.motion import segment

    movie, _ = synthetic_movie(n_frames=4, shape=(96, 96), seed=1)
    imp = lij.xarray_to_imageplus(movie, title="motion-input")
    ns = _run_body("motion", imp, rois="none", table=False)
    np.testing.assert_array_equal(ns["result"].labels.values, segment(movie).values)


@pytest.mark.jvm
def test_drift_and_stitch_script_bodies_produce_images_and_tables(ij):
    import labelfree.imagej as lij
    from labelfree.image import to_dataarray

    rng = np.random.default_rng(4)
    scene = rng.random((80, 120)).astype(np.float32)
    from scipy import ndimage as ndi

    scene = ndi.gaussian_filter(scene, 2)
    frames = np.stack([scene[10:60, 10:90], scene[13:63, 8:88], scene[16:66, 6:86]])
    imp = lij.xarray_to_imageplus(to_dataarray(frames, dims="TYX"), title="drifting")
    ns = _run_body("drift", imp, backend="python", table=True)
    shifts = ns["result"].table
    np.testing.assert_allclose(shifts["dy"], [0, -3, -6], atol=0.25)
    np.testing.assert_allclose(shifts["dx"], [0, 2, 4], atol=0.25)
    tiles = np.stack([scene[:, :70], scene[:, 50:]])
    imp = lij.xarray_to_imageplus(to_dataarray(tiles, dims="ZYX"), title="tiles")
    ns = _run_body("stitch", imp, backend="python", rows=1, cols=2, overlap=0.25, table=True)
    assert ns["result"].label_image.getWidth() == 120
    assert str(ns["result"].label_image.getTitle()) == "tiles-stitched"


@pytest.mark.jvm
def test_doctor_script_logs_the_report(ij):
    from scyjava import jimport

    text = (SCRIPTS / SCRIPT_FILES["doctor"]).read_text(encoding="utf-8")
    exec(compile(text, "doctor", "exec"), {"log": None})
    assert "Java: Java" in str(jimport("ij.IJ").getLog())


@pytest.mark.parametrize("command", sorted(SCRIPT_FILES))
def test_shipped_script_is_exactly_the_rendered_one(command):
    """The copies in fiji_scripts/ carry the current defaults and help texts; refresh them with
    `python -m labelfree.imagej.scripts fiji_scripts` after changing a config."""
    shipped = (SCRIPTS / SCRIPT_FILES[command]).read_text(encoding="utf-8")
    assert shipped == render_script(command), f"fiji_scripts/{SCRIPT_FILES[command]} is stale"


def test_the_render_module_takes_help_for_help_not_for_a_folder(tmp_path, monkeypatch, capsys):
    """`python -m labelfree.imagej.scripts --help` wrote the seven scripts into a folder named --help."""
    from labelfree.imagej.scripts import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0 and "labelfree fiji install" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []
    assert main([str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(script_files().values())
