"""Annotated slices of 3-D Cell Tracking Challenge data: ``man_seg_TTT_ZZZ.tif``."""

from __future__ import annotations

import numpy as np
import tifffile

from labelfree.cli import main
from labelfree.io import read_ctc


def test_ctc_slice_files_are_found_under_their_challenge_name(tmp_path):
    root = tmp_path / "Fluo-N3DH-XX"
    (root / "01").mkdir(parents=True)
    (root / "01_GT" / "SEG").mkdir(parents=True)
    for t in range(3):
        tifffile.imwrite(root / "01" / f"t{t:03d}.tif", np.zeros((4, 6, 7), np.uint16), photometric="minisblack")
    tifffile.imwrite(root / "01_GT" / "SEG" / "man_seg_000_005.tif", np.full((6, 7), 3, np.uint16))
    tifffile.imwrite(root / "01_GT" / "SEG" / "man_seg_002_001.tif", np.full((6, 7), 4, np.uint16))
    tifffile.imwrite(root / "01_GT" / "SEG" / "man_seg001.tif", np.ones((4, 6, 7), np.uint16), photometric="minisblack")
    ds = read_ctc(root)
    assert list(ds.seg) == [(0, 5), 1, (2, 1)]
    assert ds.seg_frames == [0, 1, 2]
    assert ds.seg[(0, 5)].max() == 3 and ds.seg[(2, 1)].max() == 4
    assert read_ctc(root, frames=[2]).seg_frames == [2]


def test_eval_names_the_slice_files_it_does_not_score(tmp_path, capsys):
    seg = tmp_path / "SEG"
    seg.mkdir()
    tifffile.imwrite(seg / "man_seg_000_005.tif", np.ones((6, 7), np.uint16))
    tifffile.imwrite(tmp_path / "pred.tif", np.ones((6, 7), np.uint16))
    assert main(["eval", str(tmp_path / "pred.tif"), str(seg)]) != 0
    err = capsys.readouterr().err
    assert "man_seg_TTT_ZZZ.tif" in err and "does not score" in err
