"""Relative paths in a batch config file (``--batch-config``) are relative to the file's folder, as a manifest's.

Was: they were read relative to the current folder, so a ``batch.yaml`` kept beside ``models/`` and run from
elsewhere (a cluster job's folder, a Fiji macro) found nothing, or another folder of that name.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from batch_data import tiny_movie

from labelfree.batch import BatchConfig
from labelfree.cli import build_parser, main
from labelfree.errors import ConfigError


def _project(root: Path) -> Path:
    """``root/proj`` with a zoo folder, a Fiji folder, markers, two weights files and a ``batch.yaml`` naming
    them by relative paths; ``root/elsewhere`` an empty folder to run from."""
    proj = root / "proj"
    for folder in ("models", "Fiji.app", "out"):
        (proj / folder).mkdir(parents=True)
    for name in ("points.csv", "gfp.pt", "cy5.pt"):
        (proj / name).write_text("x\n", encoding="utf-8")
    (root / "shared").mkdir()
    (root / "elsewhere").mkdir()
    (proj / "batch.yaml").write_text(
        "zoo: models/\nfiji_dir: Fiji.app\n"
        "inputs:\n  markers: points.csv\n  save_model_file: out/cells.pt\n  model_file: GFP=gfp.pt,Cy5=cy5.pt\n"
        "  device: cpu\n", encoding="utf-8")
    return proj


def test_relative_paths_of_a_batch_config_file_are_read_against_its_folder(tmp_path, monkeypatch):
    proj = _project(tmp_path)
    monkeypatch.chdir(tmp_path / "elsewhere")
    cfg = BatchConfig.from_file(Path("..") / "proj" / "batch.yaml")  # a relative path to the file, too
    assert cfg.fiji_dir == str(proj / "Fiji.app")
    assert cfg.inputs == {"zoo": str(proj / "models"), "markers": str(proj / "points.csv"),
                          "save_model_file": str(proj / "out" / "cells.pt"),  # a file to write: need not exist
                          "model_file": f"GFP={proj / 'gfp.pt'},Cy5={proj / 'cy5.pt'}", "device": "cpu"}
    # the same config from the file's own folder (the paths as before), and through BatchConfig.coerce
    monkeypatch.chdir(proj)
    assert BatchConfig.coerce("batch.yaml").to_dict() == cfg.to_dict()


def test_paths_that_need_no_folder_stay_as_written(tmp_path, monkeypatch):
    """Absolute paths, ``~``, '..' (made plain), words that give no file, bare names that exist nowhere."""
    proj = _project(tmp_path)
    monkeypatch.chdir(tmp_path / "elsewhere")
    monkeypatch.setenv("HOME", str(tmp_path))
    (proj / "b.json").write_text(json.dumps({
        "fiji_dir": "~/proj/Fiji.app", "zoo": "../shared",
        "inputs": {"markers": "detect", "save_model_file": str(tmp_path / "m.pt"), "model_file": "nowhere_model",
                   "unknown_name": "x.tif"}}), encoding="utf-8")
    cfg = BatchConfig.from_file(proj / "b.json")
    assert cfg.fiji_dir == str(proj / "Fiji.app")
    assert cfg.inputs == {"zoo": str(tmp_path / "shared"), "markers": "detect",
                          "save_model_file": str(tmp_path / "m.pt"), "model_file": "nowhere_model",
                          "unknown_name": "x.tif"}


def test_a_path_found_only_relative_to_the_current_folder_is_refused_with_both_named(tmp_path, monkeypatch):
    """A user who relied on the old reading (batch.yaml in configs/, models/ beside the working folder) is told,
    never silently given another folder."""
    proj = tmp_path / "proj"
    (proj / "configs").mkdir(parents=True)
    (proj / "models").mkdir()
    path = proj / "configs" / "batch.yaml"
    path.write_text("zoo: models\n", encoding="utf-8")
    monkeypatch.chdir(proj)
    with pytest.raises(ConfigError) as err:
        BatchConfig.from_file(path)
    rule = ("Relative paths in a config file are read relative to the file's folder (as a manifest's), no longer "
            "relative to the current folder")
    assert str(err.value) == (
        f"Config file {path}: zoo 'models' names nothing relative to the config file's folder "
        f"({proj / 'configs' / 'models'} does not exist) but names {proj / 'models'} relative to the current folder. "
        f"{rule}: write the path relative to the file's folder (../models) or absolute ({proj / 'models'}).")
    path.write_text("zoo: ../models\n", encoding="utf-8")  # the advice works
    assert BatchConfig.from_file(path).inputs == {"zoo": str(proj / "models")}


def test_a_path_naming_two_folders_is_refused(tmp_path, monkeypatch):
    proj = _project(tmp_path)
    (tmp_path / "elsewhere" / "Fiji.app").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    with pytest.raises(ConfigError) as err:
        BatchConfig.from_file(proj / "batch.yaml")
    assert str(err.value).startswith(
        f"Config file {proj / 'batch.yaml'}: fiji_dir 'Fiji.app' names {proj / 'Fiji.app'} relative to the config "
        f"file's folder and another file or folder, {tmp_path / 'elsewhere' / 'Fiji.app'}, relative to the current "
        "folder. ")
    assert str(err.value).endswith(": write the one you mean as an absolute path.")
    # a file of one Fusion CHANNEL=FILE pair, in each place: the pair is named
    (tmp_path / "elsewhere" / "Fiji.app").rmdir()
    (tmp_path / "elsewhere" / "cy5.pt").write_text("other\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"model_file Cy5 'cy5\.pt' names .*proj/cy5\.pt relative to the config"):
        BatchConfig.from_file(proj / "batch.yaml")


def test_command_line_paths_stay_relative_to_the_current_folder(tmp_path, monkeypatch):
    """--zoo, --input and --fiji are read where the command was typed; the file's own paths by the file."""
    from labelfree.batch_cli import _batch_config

    proj = _project(tmp_path)
    here = tmp_path / "elsewhere"
    (here / "zoo2").mkdir()
    monkeypatch.chdir(here)
    args = build_parser().parse_args(["batch", "x.tif", "-p", "fusion", "-o", "out", "--zoo", "zoo2", "--fiji",
                                      "Fiji.app", "--batch-config", str(proj / "batch.yaml")])
    cfg = _batch_config(args)
    assert cfg.fiji_dir == str(here / "Fiji.app")  # absolute at once: a worker may run in another folder
    assert cfg.inputs["zoo"] == "zoo2" and cfg.inputs["markers"] == str(proj / "points.csv")


def test_a_rerun_from_another_folder_finds_the_results_done(tmp_path, monkeypatch, capsys):
    """Markers and a model file to save named relative to batch.yaml: the run and its rerun, typed in two other
    folders, read and write the same files, record them absolute, and the rerun skips the finished input."""
    proj = tmp_path / "proj"
    (proj / "in").mkdir(parents=True)
    (proj / "models").mkdir()
    tiny_movie(proj / "in" / "m0.tif", seed=0)
    (proj / "points.csv").write_text("t,y,x\n0,14,14\n0,34,34\n1,14,14\n1,34,34\n", encoding="utf-8")
    (proj / "fast.yaml").write_text("n_steps: 1\nwidth: 4\ncrop_size: 32\narea_size: 32\n", encoding="utf-8")
    (proj / "batch.yaml").write_text("inputs:\n  markers: points.csv\n  save_model_file: models/cells.pt\n",
                                     encoding="utf-8")
    out = tmp_path / "out"
    command = ["batch", str(proj / "in"), "-p", "cutter", "-c", "../proj/fast.yaml", "--batch-config",
               "../proj/batch.yaml", "-o", str(out), "--scheduler", "sync", "--no-progress"]
    for folder, said in (("a", "1 input(s): 1 ok"), ("b", "1 input(s): 1 skipped")):
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)
        assert main(command) == 0
        assert said in capsys.readouterr().out
        assert list((tmp_path / folder).iterdir()) == []  # nothing read or written where the command was typed
    record = json.loads((out / "m0_provenance.json").read_text(encoding="utf-8"))
    assert record["inputs"]["markers"]["path"] == str(proj / "points.csv")
    assert record["model_file"] == str(proj / "models" / "cells.pt")
    assert (proj / "models" / "cells.pt").is_file()


def test_a_relative_fiji_dir_given_in_python_is_made_absolute_as_the_run_starts(tmp_path, monkeypatch):
    """run_batch(batch={"fiji_dir": "Fiji.app"}): the Fiji subprocess of a worker may start in another folder."""
    from labelfree.batch.runner import _absolute_run_inputs
    from labelfree.pipelines import get_pipeline

    monkeypatch.chdir(tmp_path)
    cfg = _absolute_run_inputs(BatchConfig(fiji_dir="Fiji.app"), get_pipeline("motion"))
    assert cfg.fiji_dir == str(tmp_path / "Fiji.app")
    assert _absolute_run_inputs(BatchConfig(), get_pipeline("motion")).fiji_dir is None
