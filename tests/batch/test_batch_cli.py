"""``labelfree batch`` on the command line: report, summary, exit codes, options."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from labelfree.cli import main


def _movie(path, value=1000):
    img = np.full((2, 40, 40), 10, np.uint16)
    img[:, 5:15, 5:15] = value
    img[:, 22:34, 20:36] = value
    tifffile.imwrite(path, img, imagej=True, metadata={"axes": "TYX"})


def test_cli_exit_codes_report_and_overrides(tmp_path, capsys):
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
    text = capsys.readouterr().out
    assert code == 1
    assert "2 skipped, 1 failed" in text and "FAILED" in text and "c.tif" in text


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
