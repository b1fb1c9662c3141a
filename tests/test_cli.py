import json
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from labelfree import __version__
from labelfree.cli import main


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and __version__ in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for cmd in ("demo", "eval", "motion", "cutter", "fusion", "batch", "doctor"):
        assert cmd in out


def test_console_script_runs_without_heavy_imports():
    code = (
        "import sys; from labelfree.cli import build_parser; build_parser(); "
        "bad = [m for m in ('torch', 'cellpose', 'jpype', 'imagej', 'dask') if m in sys.modules]; "
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_eval_prints_table_and_json(tmp_path, capsys):
    gt = np.zeros((2, 10, 10), np.uint16)
    gt[:, 1:5, 1:5] = 1
    pred = gt.copy()
    pred[1] = 0
    tifffile.imwrite(tmp_path / "gt.tif", gt)
    tifffile.imwrite(tmp_path / "pred.tif", pred)
    assert main(["eval", str(tmp_path / "pred.tif"), str(tmp_path / "gt.tif")]) == 0
    out = capsys.readouterr().out
    assert "object F1" in out and "0.6667" in out
    assert main(["eval", str(tmp_path / "pred.tif"), str(tmp_path / "gt.tif"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tp"] == 1


def test_eval_against_ctc_seg_folder(msc_dir, tmp_path, capsys):
    seg = msc_dir / "01_GT" / "SEG"
    gt5 = tifffile.imread(seg / "man_seg005.tif")
    pred = np.zeros((48,) + gt5.shape, np.uint16)
    for f in sorted(seg.glob("man_seg*.tif")):
        pred[int(f.stem[7:])] = tifffile.imread(f)
    tifffile.imwrite(tmp_path / "pred.tif", pred)
    assert main(["eval", str(tmp_path / "pred.tif"), str(seg), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["n_frames"] == 18 and r["seg"] == 1.0 and r["f1"] == 1.0


def test_eval_errors(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "missing.tif"), str(tmp_path / "gt.tif")]) == 1
    assert "does not exist" in capsys.readouterr().err
    tifffile.imwrite(tmp_path / "f.tif", np.full((4, 4), 0.5, np.float32))
    assert main(["eval", str(tmp_path / "f.tif"), str(tmp_path / "f.tif")]) == 1
    assert "not a label image" in capsys.readouterr().err


def test_option_tables_in_the_docs_are_generated_from_the_registry():
    """docs/options.md is `labelfree options --markdown`: refresh it after changing a config or a spec."""
    from pathlib import Path

    from labelfree.cli_core import options_markdown

    doc = Path(__file__).resolve().parents[1] / "docs" / "options.md"
    assert doc.read_text(encoding="utf-8") == options_markdown(), "docs/options.md is stale"


def test_every_pipeline_command_has_the_same_shape(capsys):
    from labelfree.pipelines import pipelines

    for name in pipelines():
        with pytest.raises(SystemExit):
            main([name, "--help"])
        text = capsys.readouterr().out
        for flag in ("-o OUT", "--config", "--set KEY=VALUE", "--channel", "--overwrite", "--progress",
                     "--no-progress", "--overlay"):
            assert flag.split()[0] in text, (name, flag)
