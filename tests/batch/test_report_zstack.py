"""The batch report's thumbnail of a z-stack shows the plane an overlay of its labels shows (the one with the most
labelled pixels), not plane 0, which in a confocal stack is often out of focus and empty of objects."""

from __future__ import annotations

import numpy as np
import tifffile
from PIL import Image

from labelfree.batch.report import _thumbnail
from labelfree.overlay import overlay_rgb


def test_the_thumbnail_of_a_z_stack_shows_its_plane_with_the_most_objects(tmp_path):
    stack = np.full((6, 40, 40), 100, np.uint16)
    stack[0] += np.arange(40, dtype=np.uint16)[None, :]  # plane 0: no objects, only a ramp
    stack[4, 10:30, 8:20] = 900
    stack[4, 12:18, 24:34] = 900
    tifffile.imwrite(tmp_path / "z.tif", stack, imagej=True, metadata={"axes": "ZYX"})
    labels = np.zeros(stack.shape, np.uint16)
    labels[4, 10:30, 8:20] = 1
    labels[4, 12:18, 24:34] = 2
    labels[3, 20:22, 10:12] = 1
    tifffile.imwrite(tmp_path / "z_labels.tif", labels, imagej=True, metadata={"axes": "ZYX"})
    row = {"stem": "z", "labels": str(tmp_path / "z_labels.tif"), "input": str(tmp_path / "z.tif"), "drift": ""}
    out = tmp_path / "out"
    out.mkdir()
    shown = np.asarray(Image.open(out / _thumbnail(row, out, 256)).convert("RGB"))
    np.testing.assert_array_equal(shown, overlay_rgb(stack[4], labels[4]))
    assert not np.array_equal(shown, overlay_rgb(stack[0], labels[0]))
