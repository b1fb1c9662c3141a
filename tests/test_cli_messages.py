"""What the command line prints when the disk is full, when a command warns, and when its arguments are
empty or unknown: one line a user can act on, never a Python traceback or source line."""

from __future__ import annotations

import errno
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile

from labelfree.cli import main


@pytest.fixture
def image(tmp_path) -> Path:
    path = tmp_path / "one.tif"
    tifffile.imwrite(path, (np.random.default_rng(0).random((64, 64)) * 1000).astype(np.uint16))
    return path


@pytest.fixture
def movie(tmp_path) -> Path:
    path = tmp_path / "movie.tif"
    data = (np.random.default_rng(1).random((4, 64, 64)) * 1000).astype(np.uint16)
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "TYX"})
    return path


def _left_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# -- a full disk (or a folder that cannot be written) while writing outputs ---------------------------------------

@pytest.mark.parametrize("code, words", [
    (errno.ENOSPC, ["No space left on device (errno 28)", "Free space on that disk"]),
    (errno.EDQUOT, ["(errno 122)", "raise your quota"]),
    (errno.EROFS, ["Read-only file system (errno 30)", "a folder you may write to"]),
    (errno.EACCES, ["Permission denied (errno 13)", "a folder you may write to"]),
    (errno.EIO, ["Input/output error (errno 5)", "Free space on that disk"]),
])
def test_a_write_error_of_a_pipeline_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch, image, code,
                                                                    words):
    import os
    import zipfile

    def full(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(zipfile.ZipFile, "writestr", full)
    out = tmp_path / "out"
    assert main(["threshold", str(image), "-o", str(out), "-q"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith(f"labelfree: error: cannot write the outputs (-o {out}): ")
    assert all(w in err for w in words), err
    assert _left_in(tmp_path) == ["one.tif"]  # no half-written output, no output folder it created


def test_a_short_write_of_tifffile_names_the_output_and_leaves_nothing(tmp_path, capsys, monkeypatch, movie):
    import tifffile as tf

    def short(path, *args, **kwargs):
        Path(path).write_bytes(b"II*\x00" + bytes(100))  # part of the file, then the disk is full
        raise OSError("353760 requested and 43616 written")

    monkeypatch.setattr(tf, "imwrite", short)
    shifts = tmp_path / "s.csv"
    shifts.write_text("frame,dy,dx\n0,0,0\n1,1,0\n2,0,1\n3,1,1\n")
    out = tmp_path / "new" / "c.tif"
    assert main(["drift", str(movie), "-o", str(out), "--apply", str(shifts), "-q"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert f"cannot write the outputs (-o {out}): the disk took only part of the data (353760 requested and " \
           "43616 written); it is probably full" in err
    assert _left_in(tmp_path) == ["movie.tif", "s.csv"]


def test_a_write_error_that_names_its_temporary_file_names_the_output(tmp_path, capsys, monkeypatch, image):
    import labelfree.io as lio

    def denied(out, labels, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(out.path / ".one_labels.tif.k3j_x9ab.part"))

    monkeypatch.setattr(lio, "write_outputs", denied)
    assert main(["threshold", str(image), "-o", str(tmp_path / "out"), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"labelfree: error: cannot write {tmp_path / 'out' / 'one_labels.tif'}: Permission denied")


def test_other_os_errors_keep_their_traceback(tmp_path, monkeypatch, image):
    """An OSError that is not the disk's or a permission's is a bug to report, with its traceback."""
    import labelfree.io as lio

    def broken(*args, **kwargs):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "somewhere")

    monkeypatch.setattr(lio, "write_outputs", broken)
    with pytest.raises(FileNotFoundError):
        main(["threshold", str(image), "-o", str(tmp_path / "out"), "-q"])


# -- warnings ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("verbose", [[], ["-v"]])
def test_a_warning_of_a_command_is_one_labelfree_line_without_source(tmp_path, capsys, monkeypatch, image, verbose):
    from labelfree import run

    pipeline = run.run_pipeline

    def warning_pipeline(*args, **kwargs):
        warnings.warn(UserWarning("No motion found in 2 of 2 frames; they are left empty."), stacklevel=1)
        return pipeline(*args, **kwargs)

    monkeypatch.setattr(run, "run_pipeline", warning_pipeline)
    before = warnings.showwarning
    assert main([*verbose, "threshold", str(image), "-o", str(tmp_path / "out"), "-q"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("labelfree: warning: No motion found in 2 of 2 frames; they are left empty.")
    assert err.count("\n") == 1 and "warnings.warn" not in err, err
    assert ("test_cli_messages.py:" in err) == bool(verbose)  # -v says where it came from
    assert warnings.showwarning is before  # library users and other tests keep Python's display


# -- empty paths (an unset shell variable) -----------------------------------------------------------------------

@pytest.mark.parametrize("args, expected", [
    (["threshold", "{image}", "-o", ""], "argument -o/--out: the output folder (-o) is empty: give a folder"),
    (["threshold", "", "-o", "out"], "argument input: the input path is empty: give an image file"),
    (["batch", "{image}", "-p", "threshold", "-o", ""], "the output folder (-o) is empty"),
    (["batch", "", "-p", "threshold", "-o", "out"], "argument INPUT: the INPUT is empty"),
    (["drift", "{image}", "-o", ""], "the output file (-o) is empty"),
    (["drift", "", "-o", "c.tif"], "the input path is empty"),
    (["drift", "{image}", "-o", "c.tif", "--apply", ""], "argument --apply: the CSV path is empty"),
    (["stitch", "", "-o", "f.tif"], "the input path (TILES) is empty"),
    (["stitch", "tiles", "-o", ""], "the output file (-o) is empty"),
    (["eval", "", "{image}"], "the prediction path is empty"),
    (["eval", "{image}", ""], "the ground-truth path is empty"),
    (["demo", "-o", ""], "the output folder (-o) is empty"),
])
def test_an_empty_path_is_a_usage_error_that_writes_nothing(tmp_path, capsys, monkeypatch, image, args, expected):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    with pytest.raises(SystemExit) as exit_:
        main([a.format(image=image) for a in args])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: labelfree {args[0]} ") and "Traceback" not in err
    assert f"labelfree {args[0]}: error: " in err and expected in err, err
    assert "unset shell variable" in err
    assert _left_in(work) == []


# -- unknown arguments -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, prog", [
    (["eval", "a.tif", "b.tif", "--dims", "TYX"], "labelfree eval"),
    (["threshold", "a.tif", "-o", "out", "--bogus"], "labelfree threshold"),
    (["cutter", "a.tif", "-o", "out", "--bogus", "4"], "labelfree cutter"),  # an unknown option and its value
    (["fusion", "train", "a.tif", "--labels", "b.tif", "--zoo", "z", "--bogus"], "labelfree fusion train"),
])
def test_unknown_arguments_show_the_command_s_own_usage(capsys, args, prog):
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: {prog} ") and "COMMAND ..." not in err, err
    given = args[-2:] if args[0] == "eval" or args[-1] == "4" else args[-1:]
    assert f"{prog}: error: unrecognized arguments: {' '.join(given)}" in err


def _frames(folder: Path, n: int = 3) -> list[Path]:
    folder.mkdir()
    files = [folder / f"t{i:03d}.tif" for i in range(n)]
    for i, f in enumerate(files):
        tifffile.imwrite(f, np.full((32, 32), i, np.uint16))
    return files


def test_the_files_of_an_unquoted_pattern_given_as_input_get_the_folder_and_batch_commands(tmp_path, capsys):
    """``labelfree motion frames/t*.tif -o out``: the shell gives every file; said as one usage error that names the
    folder (read as one movie) and batch (each file), not 'unrecognized arguments: t001.tif t002.tif'."""
    files = _frames(tmp_path / "my frames")
    with pytest.raises(SystemExit) as exit_:
        main(["motion", *map(str, files), "-o", str(tmp_path / "out")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: labelfree motion ") and "Traceback" not in err and "unrecognized" not in err
    assert f"INPUT is one image, not a list of files; got 3 files ({files[0]}, {files[1]}, ...)" in err
    assert f"labelfree motion '{tmp_path / 'my frames'}' -o OUT" in err  # quoted: the folder's name has a space
    assert f"labelfree batch '{tmp_path / 'my frames'}/*.tif' --pipeline motion -o OUT" in err
    assert not (tmp_path / "out").exists()


def test_a_left_over_word_names_the_input_and_the_output_folder(tmp_path, capsys, image):
    with pytest.raises(SystemExit) as exit_:
        main(["threshold", str(image), "results", "-o", str(tmp_path / "out")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert (f"unrecognized argument: results (INPUT is the one image {image}, and the outputs go to -o "
            f"{tmp_path / 'out'}; options start with '-')") in err


def test_a_second_image_given_as_a_word_points_to_the_pipeline_s_options(tmp_path, capsys, image):
    """``labelfree cutter cells.tif nuclei.tif -o out``: the nuclei go with --markers."""
    nuclei = tmp_path / "nuclei.tif"
    nuclei.write_bytes(image.read_bytes())
    with pytest.raises(SystemExit):
        main(["cutter", str(image), str(nuclei), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert f"got 2 files ({image}, {nuclei})" in err
    assert err.rstrip().endswith("A second input of the pipeline (markers, a model) goes with its option: see "
                                 "labelfree cutter --help.")


@pytest.mark.parametrize("pattern, count, expected", [
    ("t*.tif", 3, "labelfree batch '{folder}/t*.tif' --pipeline threshold -o OUT"),
    ("t00[0].tif", 1, "Give that file: labelfree threshold {folder}/t000.tif -o OUT."),
])
def test_a_quoted_pattern_given_as_input_is_refused_with_what_to_give(tmp_path, capsys, pattern, count, expected):
    folder = tmp_path / "frames"
    _frames(folder)
    assert main(["threshold", str(folder / pattern), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"labelfree: error: {folder / pattern} is a pattern that names {count} file") and \
        err.count("\n") == 1, err
    assert expected.format(folder=folder) in err
    assert not (tmp_path / "out").exists()


def test_a_pattern_that_names_no_file_is_a_missing_file(tmp_path, capsys):
    assert main(["threshold", str(tmp_path / "x*.tif"), "-o", str(tmp_path / "out")]) == 1
    assert "does not exist; check the path" in capsys.readouterr().err


def test_a_repeated_channel_option_lists_every_channel():
    """``--channel A --channel B`` kept B alone (a fusion of one channel, no warning); it lists both,
    as ``--channel A,B`` does. For a one-channel pipeline the two are refused alike."""
    from labelfree.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["fusion", "img.tif", "-o", "out", "--channel", "A", "--channel", "B"])
    assert args.channel == "A,B"
    assert parser.parse_args(["fusion", "img.tif", "-o", "out", "--channel", "A,C"]).channel == "A,C"
    batch = parser.parse_args(["batch", "x", "-p", "fusion", "-o", "out", "--channel", "0", "--channel", "2"])
    assert batch.channel == "0,2"


@pytest.mark.parametrize("verbose, line", [(0, "labelfree: warning: no validation images"),
                                           (1, "WARNING labelfree.fusion.training: no validation images")])
def test_a_logged_warning_is_a_labelfree_warning_line(verbose, line):
    """A warning the pipelines log (Fusion training without validation images) printed as
    'WARNING labelfree.fusion.training: ...', unlike the documented 'labelfree: warning: ...'."""
    import subprocess
    import sys

    code = ("import logging; from labelfree.cli import _configure_logging; "
            f"_configure_logging({verbose}); "
            "logging.getLogger('labelfree.fusion.training').warning('no validation images')")
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stderr
    assert err.strip() == line


@pytest.mark.parametrize("command", [["motion", "{image}"], ["batch", "{image}", "-p", "threshold"],
                                     ["fusion", "{image}", "--zoo", "zoo"]])
@pytest.mark.parametrize("names", ["", "  "])
def test_empty_channel_names_are_a_usage_error(tmp_path, capsys, monkeypatch, image, command, names):
    """``--channel-names ""`` (an unset shell variable) was ignored: the file's names were used, rc 0."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    with pytest.raises(SystemExit) as exit_:
        main([a.format(image=image) for a in command] + ["-o", "out", "--channel-names", names, "--channel", "0"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: labelfree {command[0]} ") and "Traceback" not in err, err
    assert "argument --channel-names: the channel names are empty: give one name per channel" in err, err
    assert _left_in(work) == []


def test_config_given_twice_is_refused_and_an_unknown_set_key_gets_a_hint(tmp_path, capsys, image):
    """``--config a.yaml --config b.yaml`` ran with b.yaml alone (a.yaml ignored without a word); ``--set`` of a
    typo or of another command's option listed the valid keys only."""
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text("min_size: 3\n")
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as stop:
        main(["threshold", str(image), "-o", str(out), "--config", str(tmp_path / "a.yaml"),
              "-c", str(tmp_path / "b.yaml")])
    assert stop.value.code == 2
    assert "-c was given twice" in capsys.readouterr().err and not out.exists()
    assert main(["threshold", str(image), "-o", str(out), "--set", "min_sise=4"]) == 1
    assert "Unknown option 'min_sise' (did you mean min_size?) for --set" in capsys.readouterr().err
    assert main(["threshold", str(image), "-o", str(out), "--set", "winsize=4"]) == 1
    assert "Unknown option 'winsize' (an option of labelfree motion) for --set" in capsys.readouterr().err
    assert not out.exists()
