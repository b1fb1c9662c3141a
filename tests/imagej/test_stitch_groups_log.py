"""LabelFree Stitch in ImageJ: tiles that form groups no matched overlap joins are named in the Log, in ImageJ terms."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from test_imagej_robustness import _log, _show

import labelfree.imagej as lij
from labelfree.registration import grid_positions

pytestmark = pytest.mark.jvm


def test_a_stack_of_a_strip_with_a_gap_warns_in_the_log(clean, shared_data):
    """Was: no word; planes 3-4 (after the gap) were placed at the nominal strip's offset from planes 1-2."""
    path = shared_data / "ctc" / "Fluo-C2DL-MSC" / "01" / "t000.tif"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    frame = tifffile.imread(path)
    rng = np.random.default_rng(0)
    nominal = grid_positions((300, 200), rows=1, cols=5, overlap=0.2) + 8
    true = (nominal + rng.integers(-8, 9, nominal.shape)).astype(int)
    tiles = [np.clip(frame[y:y + 300, x:x + 200] + rng.normal(0, 60, (300, 200)), 0, 65535).astype(np.uint16)
             for y, x in true]
    _show(np.stack(tiles[:2] + tiles[3:]), "gapped", dims="ZYX")
    lij.run_macro('run("LabelFree Stitch", "image=gapped rows=1 cols=4 backend=python");')
    log = _log()
    assert ("LabelFree Stitch warning: the linked tiles form 2 groups that no matched overlap links to each "
            "other: group 1: tiles 1-2; group 2: tiles 3-4 (tiles: the stack's planes, counted from 1). Each group is "
            "placed by its overlaps, but where the groups lie relative to each other is the nominal grid's, not "
            "measured.") in log, log
    assert "check the tile order (order=), the overlap (overlap=) and the grid size (rows= and cols=)." in log
    assert "--grid" not in log and "--order" not in log
