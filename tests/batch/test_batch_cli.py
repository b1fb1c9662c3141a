"""``labelfree batch`` on the command line: report, summary, exit codes, options."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import tifffile

from labelfree.cli import main


def _movie(path, value=1000):
    img = np.full((2, 40, 40), 10, np.uint16)
    img[:, 5:15, 5:15] = value
    img[:, 22:34, 20:36] = value
    tifffile.imwrite(path, img, imagej=True, metadata={"axes": "TYX"})


def test_cli_exit_codes_report_and_overrides(tmp_path, capsys, caplog):
    src = tmp_path / "in"
    src.mkdir()
    _movie(src / "a.tif")
    _movie(src / "b.tif")
    out = tmp_path / "out"
    code = main(["batch", str(src), "-p", "threshold", "-o", str(out), "--scheduler", "sync", "--no-progress",
                 "--set", "min_size=150"])
    text = capsys.readouterr().out
    assert code == 0 and "2 input(s): 2 ok" in text and "objects: 4 in 2" in text  # 100-px squares removed
    assert json.loads((out / "a_provenance.json").read_text())["config"]["min_size"] == 150

    (src / "c.tif").write_bytes(b"not a tiff at all")
    code = main(["batch", str(src), "-p", "threshold", "-o", str(out), "--scheduler", "sync", "--no-progress",
                 "--set", "min_size=150"])
    said = capsys.readouterr()
    text = said.out
    assert code == 1
    assert "2 skipped, 1 failed" in text and "FAILED" in text and "c.tif" in text
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "c.tif" in r.getMessage()]
    assert not warned  # said once, in the report (a log warning on the terminal said it again)


def test_cli_bad_arguments(tmp_path, capsys):
    _movie(tmp_path / "a.tif")
    with pytest.raises(SystemExit) as usage:  # a usage error: argparse lists the pipelines
        main(["batch", str(tmp_path), "-p", "nope", "-o", str(tmp_path / "o"), "--scheduler", "sync"])
    assert usage.value.code == 2 and "invalid choice: 'nope'" in capsys.readouterr().err
    assert main(["batch", str(tmp_path), "-p", "threshold", "-o", str(tmp_path / "o"), "--workers", "0"]) == 1
    assert "n_workers" in capsys.readouterr().err
    assert main(["batch", str(tmp_path), "-p", "threshold", "-o", str(tmp_path / "o"), "--set", "bogus=1"]) == 1
    assert "Unknown option 'bogus' for --set" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["batch", str(tmp_path), "-p", "threshold", "-o", str(tmp_path / "o"), "--set", "novalue"])


def test_unreachable_scheduler_is_a_clear_error(tmp_path, capsys):
    import distributed  # noqa: F401
    _movie(tmp_path / "a.tif")
    (tmp_path / "batch.json").write_text('{"scheduler_timeout": 1}')
    code = main(["batch", str(tmp_path), "-p", "threshold", "-o", str(tmp_path / "o"), "--no-progress",
                 "--scheduler", "tcp://127.0.0.1:1", "--batch-config", str(tmp_path / "batch.json")])
    assert code == 1 and "Cannot connect to the Dask scheduler" in capsys.readouterr().err


def _two_channels(path, bright):
    """A plain (C, Y, X) TIFF without axis metadata: channel ``bright`` holds two squares, the other none."""
    img = np.full((2, 40, 40), 10, np.uint16)
    img[bright, 5:15, 5:15] = 1000
    img[bright, 22:34, 20:36] = 1000
    img[1 - bright, 30:36, 2:8] = 1000  # one square in the other channel
    tifffile.imwrite(path, img, photometric="minisblack")


def test_dims_and_channel_names_for_every_input_and_per_manifest_row(tmp_path, capsys):
    _two_channels(tmp_path / "a.tif", bright=0)
    _two_channels(tmp_path / "b.tif", bright=1)
    (tmp_path / "m.csv").write_text("path,channel_names\na.tif,\nb.tif,GFP;DAPI\n")
    out = tmp_path / "out"
    code = main(["batch", str(tmp_path / "m.csv"), "-p", "threshold", "-o", str(out), "--scheduler", "sync",
                 "--no-progress", "--dims", "cyx", "--channel-names", "DAPI,GFP", "--channel", "DAPI"])
    assert code == 0 and "2 input(s): 2 ok" in capsys.readouterr().out
    for stem in ("a", "b"):  # b's row names its channels the other way round: DAPI is its channel 1
        assert len(np.unique(tifffile.imread(out / f"{stem}_labels.tif"))) == 3  # the two squares and background
        prov = json.loads((out / f"{stem}_provenance.json").read_text())
        assert prov["channels"] == ["DAPI"]
    # a rerun with other names is another result: the input is redone, not skipped
    code = main(["batch", str(tmp_path / "m.csv"), "-p", "threshold", "-o", str(out), "--scheduler", "sync",
                 "--no-progress", "--dims", "CYX", "--channel-names", "GFP,DAPI", "--channel", "DAPI", "--overwrite"])
    assert code == 0
    assert len(np.unique(tifffile.imread(out / "a_labels.tif"))) == 2  # a's DAPI is now its channel 1: one square
    assert "1 skipped" in capsys.readouterr().out  # b's own names did not change


def test_bad_channel_names_stop_a_batch_before_it_starts(tmp_path, capsys):
    _two_channels(tmp_path / "a.tif", bright=0)
    (tmp_path / "m.csv").write_text("path,channel_names\na.tif,GFP;GFP\n")
    code = main(["batch", str(tmp_path / "m.csv"), "-p", "threshold", "-o", str(tmp_path / "o"), "--scheduler",
                 "sync", "--no-progress", "--dims", "CYX"])
    assert code == 1
    err = capsys.readouterr().err
    assert "m.csv" in err and "channel_names: Channel names are one different, non-empty name per channel" in err
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").glob("a_*"))
    with pytest.raises(SystemExit):
        main(["batch", str(tmp_path), "-p", "threshold", "-o", str(tmp_path / "o"), "--channel-names", "A,,B"])


def test_run_batch_takes_one_channel_name_as_text(tmp_path):
    from labelfree.batch import run_batch

    _two_channels(tmp_path / "a.tif", bright=1)
    summary = run_batch(tmp_path / "a.tif", pipeline="threshold", out_dir=tmp_path / "o", scheduler="sync",
                        progress=False, dims="CYX", channel_names="GFP,DAPI", channels="DAPI")
    assert summary["status"][0] == "ok" and summary["n_objects"][0] == 2  # not the channels 'D', 'A', 'P', 'I'


def test_tiled_batch_gives_the_untiled_objects_and_a_whole_frame_pipeline_is_refused_up_front(tmp_path, capsys):
    rng = np.random.default_rng(3)
    img = np.full((2, 150, 170), 10, np.uint16)
    yy, xx = np.mgrid[:150, :170]
    for cy, cx in rng.integers(8, 142, size=(25, 2)):
        img[:, (yy - cy) ** 2 + (xx - cx) ** 2 < 25] = 1000
    tifffile.imwrite(tmp_path / "a.tif", img, imagej=True, metadata={"axes": "TYX"})
    whole, tiled = tmp_path / "whole", tmp_path / "tiled"
    assert main(["batch", str(tmp_path / "a.tif"), "-p", "threshold", "-o", str(whole), "--scheduler", "sync",
                 "--no-progress"]) == 0
    assert main(["batch", str(tmp_path / "a.tif"), "-p", "threshold", "-o", str(tiled), "--scheduler", "sync",
                 "--no-progress", "--tile", "64", "--tile-overlap", "24"]) == 0
    a, b = tifffile.imread(whole / "a_labels.tif"), tifffile.imread(tiled / "a_labels.tif")
    assert a.max() >= 15 and a.max() == b.max()  # the same objects, numbered tile after tile
    assert np.array_equal(a > 0, b > 0)
    pairs = np.unique(np.stack([a[a > 0], b[a > 0]]), axis=1)
    assert pairs.shape[1] == a.max() and len(np.unique(pairs[1])) == a.max()  # one tiled id per object
    assert json.loads((tiled / "a_provenance.json").read_text())["tiles"]["tile"] == 64
    capsys.readouterr()

    refused = tmp_path / "refused"
    assert main(["batch", str(tmp_path / "a.tif"), "-p", "motion", "-o", str(refused), "--scheduler", "sync",
                 "--no-progress", "--tile", "64"]) == 1
    err = capsys.readouterr().err
    assert "motion pipeline cannot run in tiles" in err and "threshold" in err and "without --tile" in err
    assert not refused.exists()
