"""The command line as users meet it: eval on the wrong kind of image or a CTC folder, option
listings that say which keys are Fiji's, model files that are not Cutter's, and what reaches the
terminal (Fiji install, batch)."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from labelfree.cli import main
from labelfree.metrics import evaluate

REPO = Path(__file__).resolve().parents[1]


def _cells(shape=(64, 64)) -> np.ndarray:
    labels = np.zeros(shape, np.uint16)
    labels[4:16, 4:16] = 1
    labels[20:34, 30:44] = 2
    labels[40:56, 8:20] = 3
    return labels


def _write(path: Path, labels: np.ndarray) -> None:
    tifffile.imwrite(path, labels, photometric="minisblack")  # 3- or 4-frame stacks are not RGB planes


def _eval(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["eval", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


# -- P5: eval warns when an input is not a label image; the scores stay the same ----------------------------------

def test_eval_warns_when_the_prediction_is_a_raw_intensity_image(tmp_path, capsys):
    gt = _cells()
    raw = (100 + 50 * (gt > 0) + np.arange(gt.size).reshape(gt.shape) % 7).astype(np.uint16)  # no 0 pixel
    tifffile.imwrite(tmp_path / "raw.tif", raw)
    tifffile.imwrite(tmp_path / "gt.tif", gt)
    code, out, err = _eval(capsys, tmp_path / "raw.tif", tmp_path / "gt.tif", "--json")
    assert code == 0
    assert "raw.tif has no background (0) pixels" in err and "is it a label image?" in err
    assert "gt.tif" not in err
    assert json.loads(out) == json.loads(json.dumps(evaluate(raw, gt)))  # the metric itself is unchanged


def test_eval_warns_when_the_truth_is_a_binary_mask_of_several_cells(tmp_path, capsys):
    gt = _cells()
    tifffile.imwrite(tmp_path / "pred.tif", gt)
    tifffile.imwrite(tmp_path / "mask.tif", gt > 0)  # a boolean mask, read as 0/1
    code, out, err = _eval(capsys, tmp_path / "pred.tif", tmp_path / "mask.tif")
    assert code == 0
    assert "mask.tif looks like a binary mask" in err and "3 separate regions" in err
    assert "ONE object" in err and "connected components" in err
    assert re.search(r"TP / FP / FN\s+0 /\s+3 /\s+1", out)  # scored as it always was: one truth object


def test_eval_of_real_label_images_warns_nothing(tmp_path, capsys):
    gt = _cells()
    one = np.zeros_like(gt)
    one[10:30, 10:30] = 1  # one object labelled 1 is a label image, not a mask
    one[0, 0] = 1  # a speck apart from it does not make it a mask
    for name, labels in (("gt.tif", gt), ("one.tif", one)):
        tifffile.imwrite(tmp_path / name, labels)
    code, out, err = _eval(capsys, tmp_path / "gt.tif", tmp_path / "gt.tif", "--json")
    assert code == 0 and err == "" and json.loads(out)["f1"] == 1.0
    code, _, err = _eval(capsys, tmp_path / "one.tif", tmp_path / "one.tif")
    assert code == 0 and err == ""


def test_label_image_problems_names_the_frames_of_a_stack():
    from labelfree.metrics import label_image_problems

    stack = np.stack([_cells(), _cells() + 1, _cells()])
    (problem,) = label_image_problems(stack, name="movie.tif")
    assert problem.startswith("movie.tif has no background (0) pixels in frame(s) 1 ")
    assert label_image_problems(np.stack([_cells()] * 2)) == []


# -- P6: eval against a Cell Tracking Challenge SEG folder -----------------------------------------------------------

@pytest.fixture
def seg_dir(tmp_path) -> Path:
    folder = tmp_path / "01_GT" / "SEG"
    folder.mkdir(parents=True)
    for t in (0, 1, 5):
        tifffile.imwrite(folder / f"man_seg{t:03d}.tif", np.roll(_cells(), 3 * t, axis=1))
    return folder


def test_eval_scores_the_frames_a_ctc_folder_and_the_prediction_both_have(seg_dir, tmp_path, capsys):
    pred = np.stack([np.roll(_cells(), 3 * t, axis=1) for t in range(4)])  # frames 0-3: 0 and 1 annotated
    _write(tmp_path / "pred.tif", pred)
    code, out, err = _eval(capsys, tmp_path / "pred.tif", seg_dir, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["frames"] == [0, 1] and result["frames_not_scored"] == [5]
    assert result["n_frames"] == 2 and result["f1"] == 1.0 and result["tp"] == 6
    code, out, _ = _eval(capsys, tmp_path / "pred.tif", seg_dir)
    assert code == 0
    assert "ground-truth frames scored: 0-1 (2 of the 3 annotated" in out
    assert "not scored, beyond the prediction's 4 frames: 5" in out


def test_eval_of_a_single_frame_against_a_ctc_folder_says_which_file_to_pass(seg_dir, tmp_path, capsys):
    tifffile.imwrite(tmp_path / "one.tif", _cells())
    code, _, err = _eval(capsys, tmp_path / "one.tif", seg_dir)
    assert code == 1
    assert "single frame" in err and "3 annotated frames (0-1, 5)" in err
    assert str(seg_dir / "man_seg000.tif") in err  # what to pass instead
    code, out, err = _eval(capsys, tmp_path / "one.tif", seg_dir / "man_seg000.tif", "--json")
    assert code == 0 and json.loads(out)["f1"] == 1.0
    single = tmp_path / "single"
    single.mkdir()
    (single / "man_seg005.tif").write_bytes((seg_dir / "man_seg005.tif").read_bytes())
    tifffile.imwrite(tmp_path / "five.tif", np.roll(_cells(), 15, axis=1))
    code, out, _ = _eval(capsys, tmp_path / "five.tif", single, "--json")
    assert code == 0 and json.loads(out)["frames"] == [5] and json.loads(out)["f1"] == 1.0


def test_eval_with_no_common_frame_lists_the_annotated_ones(seg_dir, tmp_path, capsys):
    for t in (0, 1):
        (seg_dir / f"man_seg{t:03d}.tif").unlink()
    _write(tmp_path / "pred.tif", np.stack([_cells()] * 3))
    code, _, err = _eval(capsys, tmp_path / "pred.tif", seg_dir)
    assert code == 1
    assert "None of the annotated frames" in err and "(5)" in err and "3 frames" in err
    assert "at least 6 frames" in err and "man_seg005.tif" in err


def test_eval_against_a_ctc_folder_of_another_size_is_a_shape_error(seg_dir, tmp_path, capsys):
    tifffile.imwrite(tmp_path / "pred.tif", np.zeros((2, 40, 50), np.uint16))  # too few frames AND another size
    code, _, err = _eval(capsys, tmp_path / "pred.tif", seg_dir)
    assert code == 1
    assert "(40, 50)" in err and "(64, 64)" in err and "must match" in err and "frame 5" not in err


# -- P7: option listings, --set and help texts -----------------------------------------------------------------------

def test_options_listing_marks_fiji_keys_and_writes_choices_as_typed(capsys):
    assert main(["options", "motion"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:] if line.strip()}
    for key, cli in (("output", "-o/--out"), ("channel", "--channel"), ("config_file", "--config"),
                     ("overwrite", "--overwrite"), ("rois", "_rois.zip"), ("table", "_table.csv"), ("image", "INPUT")):
        assert "[Fiji/macro key; CLI: " in lines[key] and cli in lines[key], lines[key]
    assert "Fiji/macro" not in lines["drift_correction"] and "Fiji/macro" not in lines["min_size"]
    assert re.search(r"drift_correction\s+false\s+false\|python\|fiji\|auto\s", lines["drift_correction"])
    assert "False" not in lines["drift_correction"].split("Correct")[0]
    assert "command line" in lines["channel"].lower().split("]", 1)[1]  # the help itself says what it means there


def test_an_unknown_command_or_a_folder_gets_the_command_line_s_words(tmp_path, capsys):
    """`options foo` listed Fiji menu titles only; a folder given as an image named a Python reader."""
    assert main(["options", "foo"]) == 1
    assert "available: threshold, motion, cutter, fusion, drift, stitch (or their Fiji menu titles" in \
        capsys.readouterr().err
    (tmp_path / "labels.zarr").mkdir()
    (tmp_path / "frames").mkdir()
    assert main(["eval", str(tmp_path / "labels.zarr"), str(tmp_path / "labels.zarr")]) == 1
    assert "labels.zarr is not a zarr group" in capsys.readouterr().err  # an empty folder named .zarr
    assert main(["threshold", str(tmp_path / "frames"), "-o", str(tmp_path / "out")]) == 1
    assert "frames is a folder, not an image file; give a TIFF file or an OME-Zarr image folder" in \
        capsys.readouterr().err


def test_options_markdown_marks_fiji_keys():
    from labelfree.cli_core import options_markdown

    text = options_markdown(["cutter"])
    row = next(line for line in text.splitlines() if line.startswith("| `output` |"))
    assert "**Fiji/macro key**; command line: `-o/--out DIR`" in row
    row = next(line for line in text.splitlines() if line.startswith("| `model_file` |"))
    assert "`--model-file FILE`" in row
    assert "| `nucleus_channel` |" in text and "Fiji/macro" not in next(
        line for line in text.splitlines() if line.startswith("| `nucleus_channel` |"))


@pytest.mark.parametrize("key, flag", [("output", "-o/--out"), ("overwrite", "--overwrite"),
                                       ("config_file", "--config"), ("channel", "--channel")])
def test_set_of_a_fiji_key_names_the_command_line_flag(tmp_path, capsys, key, flag):
    movie = np.zeros((3, 32, 32), np.uint16)
    tifffile.imwrite(tmp_path / "m.tif", movie, imagej=True, metadata={"axes": "TYX"})
    assert main(["motion", str(tmp_path / "m.tif"), "-o", str(tmp_path / "out"), "--set", f"{key}=x"]) == 1
    err = capsys.readouterr().err
    assert "Fiji dialog and macros" in err and flag in err and "valid keys are" not in err
    assert not (tmp_path / "out").exists()


def test_drift_correction_false_is_written_false_everywhere_and_old_macros_still_read():
    from labelfree.imagej.fields import command_fields
    from labelfree.imagej.scripts import parse_script_parameters, render_script
    from labelfree.options import (
        coerce_value,
        format_macro_options,
        parse_macro_options,
        value_text,
    )

    fields = {f.key: f for f in command_fields("motion")}
    field = fields["drift_correction"]
    assert field.choices == ("false", "python", "fiji", "auto")
    assert value_text(field, False) == "false" and value_text(field, "fiji") == "fiji"
    assert format_macro_options({"drift_correction": False}, [field]) == "drift_correction=false"
    (param,) = [p for p in parse_script_parameters(render_script("motion")) if p.name == "drift_correction"]
    assert param.attrs["choices"][0] == "false" and param.attrs["value"] == "false"
    for text in ("false", "False", "FALSE"):  # recorded macros of earlier versions wrote False
        assert coerce_value(field, text) is False
    assert parse_macro_options("drift_correction=python", [field]) == {"drift_correction": "python"}


def test_cutter_channel_help_says_how_it_relates_to_the_channel_options(capsys):
    with pytest.raises(SystemExit):
        main(["cutter", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    help_text = text.split("--channel C ", 1)[1].split("--overwrite", 1)[0]
    assert "nucleus_channel" in help_text and "cell_channels" in help_text and "within this selection" in help_text


# -- P8: model files, the Fiji install warning, batch terminal output, docs/batch.md ---------------------------------

def test_a_file_that_is_not_a_cutter_model_gets_one_clear_error(tmp_path):
    torch = pytest.importorskip("torch")
    from labelfree.cutter.model_io import load_model
    from labelfree.errors import ModelFileError

    garbage = tmp_path / "existing.pt"
    garbage.write_bytes(b"x\n")
    pickled = tmp_path / "pickled.pt"
    torch.save({"net": Path("not/allowed/by/weights_only")}, pickled)  # an object torch refuses to unpickle safely
    for path in (garbage, pickled):
        with pytest.raises(ModelFileError) as info:
            load_model(path)
        text = str(info.value)
        assert f"{path} is not a LabelFree Cutter model" in text and "--save-model-file" in text
        assert "weights_only" not in text and "file an issue" not in text.lower()
        assert info.value.__cause__ is None and info.value.__suppress_context__
    with pytest.raises(ModelFileError, match=r"does not exist.*labelfree cutter IMAGE -o OUT --save-model-file"):
        load_model(tmp_path / "absent.pt")


def test_fiji_install_without_jaunch_warns_to_switch_python_mode_by_hand(tmp_path, caplog, capsys):
    root = tmp_path / "Fiji.app"
    (root / "jars").mkdir(parents=True)
    (root / "jars" / "ij-1.54f.jar").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="labelfree"):
        assert main(["fiji", "install", str(root)]) == 0
    (record,) = [r for r in caplog.records if "Launch in Python mode" in r.getMessage()]
    assert record.levelno == logging.WARNING and "by hand" in record.getMessage()


def _truncated_tiff(path: Path) -> None:
    movie = np.zeros((6, 200, 200), np.uint16)
    movie[:, 50:90, 50:90] = 500
    tifffile.imwrite(path, movie, imagej=True, metadata={"axes": "TYX"})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


@pytest.mark.slow
def test_batch_terminal_shows_dask_and_tifffile_lines_only_with_verbose(tmp_path):
    pytest.importorskip("distributed")
    folder = tmp_path / "in"
    folder.mkdir()
    tifffile.imwrite(folder / "good.tif", _cells(), imagej=True)
    _truncated_tiff(folder / "trunc.tif")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}

    def run(*head: str, out: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "labelfree", *head, "batch", str(folder), "-p", "threshold", "-o",
               str(tmp_path / out), "--workers", "1", "--no-progress"]
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)

    quiet = run(out="q")
    assert quiet.returncode == 1, quiet.stderr  # trunc.tif fails, good.tif is done
    assert "CorruptFileError" in quiet.stdout
    assert "Dask dashboard" not in quiet.stderr and "INFO" not in quiet.stderr, quiet.stderr
    assert "<tifffile" not in quiet.stderr, quiet.stderr
    loud = run("-v", out="v")
    assert loud.returncode == 1
    assert "Dask dashboard at http" in loud.stderr, loud.stderr
    assert any("trunc.tif: <tifffile.TiffFile 'trunc.tif'>" in line and "INFO labelfree.io.tiff" in line
               for line in loud.stderr.splitlines()), loud.stderr  # tifffile's own lines, with the path


def test_batch_docs_list_only_files_a_batch_run_writes():
    from labelfree.io.outputs import EXTRA_SUFFIXES, OUTPUT_SUFFIXES

    text = (REPO / "docs" / "batch.md").read_text(encoding="utf-8")
    named = re.findall(r"^\| `<stem>(_[\w.]+)` \|", text, flags=re.MULTILINE)
    assert "_provenance.json" in named
    written = {*OUTPUT_SUFFIXES.values(), *EXTRA_SUFFIXES.values(), "_drift.csv"}
    assert set(named) <= written, set(named) - written
    assert "_batch.json" not in text


def test_a_reader_that_leaves_early_gets_no_traceback():
    """``labelfree options motion | head -1``: the reader is gone before the table is printed."""
    import os
    import subprocess
    import sys

    read, write = os.pipe()
    os.close(read)  # nobody reads: the first write fails, as after head has taken its line
    try:
        proc = subprocess.run([sys.executable, "-m", "labelfree", "options", "motion"], stdout=write,
                              stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(write)
    err = proc.stderr.decode()
    assert proc.returncode == 141 and "Traceback" not in err and "BrokenPipeError" not in err, err


def test_a_macro_key_given_twice_takes_its_first_value_as_imagej_does():
    # ImageJ's Macro.getValue("min_size=5 min_size=500", "min_size", ...) is "5", and a SciJava script's
    # parameters are filled that way; LabelFree read 500 (the last), so a macro that appends a key to a
    # defaults string ran with other values than the script's own parameters
    from labelfree.options import config_fields, parse_macro_options
    from labelfree.threshold.config import ThresholdConfig

    fields = config_fields(ThresholdConfig)
    assert parse_macro_options("min_size=5 min_size=500", fields)["min_size"] == 5
    assert parse_macro_options("min_size=[500] method=li min_size=5", fields) == {"min_size": 500, "method": "li"}


def test_a_file_input_given_as_a_folder_is_said_as_such(tmp_path, capsys):
    """``--model-file models`` with ``-o models/out`` was refused as "an output inside the model of this run (a
    folder)", which hid the mistake: the model is a file."""
    tifffile.imwrite(tmp_path / "cells.tif", np.zeros((32, 32), np.uint16))
    (tmp_path / "models").mkdir()
    assert main(["cutter", str(tmp_path / "cells.tif"), "-o", str(tmp_path / "models" / "out"), "--model-file",
                 str(tmp_path / "models")]) == 1
    err = capsys.readouterr().err
    assert f"--model-file {tmp_path / 'models'} is a folder, not a file; give the file itself." in err, err
    assert "lies inside" not in err
    # markers may be a folder (a CTC TRA folder): an output inside it is refused as inside an input
    assert main(["cutter", str(tmp_path / "cells.tif"), "-o", str(tmp_path / "models" / "out"), "--markers",
                 str(tmp_path / "models")]) == 1
    assert "lies inside the markers of this run" in capsys.readouterr().err
    assert not (tmp_path / "models" / "out").exists()
