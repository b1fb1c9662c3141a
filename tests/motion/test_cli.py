"""``labelfree motion IN.tif -o OUT/`` writes the four outputs."""

from __future__ import annotations

import json

import numpy as np
import tifffile

from labelfree import datasets
from labelfree.cli import main


def test_cli_writes_labels_rois_table_provenance(tmp_path, capsys):
    movie, _ = datasets.synthetic_movie(n_frames=4, cell_radius=20, shape=(224, 224), seed=0)
    src = tmp_path / "movie.tif"
    tifffile.imwrite(src, movie.values, imagej=True, metadata={"axes": "TYX"})
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"declump": False}))
    out = tmp_path / "out"
    assert main(["motion", str(src), "-o", str(out), "--config", str(cfg), "--flow-out"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["movie_flow.tif", "movie_labels.tif", "movie_provenance.json", "movie_rois.zip", "movie_table.csv"]
    labels = tifffile.imread(out / "movie_labels.tif")
    assert labels.shape[0] == 4 and labels.max() >= 4
    prov = json.loads((out / "movie_provenance.json").read_text())
    assert prov["pipeline"] == "motion" and prov["config"]["declump"] is False
    assert tifffile.imread(out / "movie_flow.tif").shape[0] == 4
    out_text = capsys.readouterr().out
    assert "20 objects over 4 frames" in out_text or "objects over 4 frames" in out_text
    assert "movie_labels.tif" in out_text and "movie_flow.tif" in out_text


def test_cli_reports_a_one_frame_input(tmp_path, capsys):
    src = tmp_path / "one.tif"
    tifffile.imwrite(src, np.random.default_rng(0).integers(0, 255, (32, 32), dtype=np.uint8))
    assert main(["motion", str(src), "-o", str(tmp_path / "out"), "-q"]) == 1
    assert "2 frames" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
