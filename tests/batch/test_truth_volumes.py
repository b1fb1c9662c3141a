"""``labelfree batch --truth`` scores a z-stack's labels against a ground truth that records Z as volumes, as
``labelfree eval`` does: each 3-D object once (it scored plane by plane: one object over 4 planes counted 4)."""

from __future__ import annotations

import numpy as np
import tifffile

from labelfree.batch import run_batch


def test_batch_truth_counts_each_3d_object_once(tmp_path):
    stack = np.full((6, 48, 48), 100, np.uint16)
    truth = np.zeros(stack.shape, np.uint16)
    for k, (y, x) in enumerate([(8, 8), (8, 30), (30, 18)], start=1):
        stack[1:5, y:y + 12, x:x + 12] = 900
        truth[1:5, y:y + 12, x:x + 12] = k
    images, gt = tmp_path / "in", tmp_path / "gt"
    images.mkdir()
    gt.mkdir()
    tifffile.imwrite(images / "z.tif", stack, imagej=True, metadata={"axes": "ZYX"})
    tifffile.imwrite(gt / "z.tif", truth, imagej=True, metadata={"axes": "ZYX"})
    summary = run_batch(images, pipeline="threshold", out_dir=tmp_path / "out", scheduler="sync", progress=False,
                        truth=gt)
    row = summary.iloc[0]
    assert row["status"] == "ok" and int(row["n_objects"]) == 3
    assert (int(row["tp"]), int(row["fp"]), int(row["fn"])) == (3, 0, 0)
