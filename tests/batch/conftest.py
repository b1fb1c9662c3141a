"""Real-data crops for the batch tests, cut at test time from ../shared/data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

#: dataset -> (pixel size in µm, crop windows as (first frame, y0, x0)), crops are 3 frames x 160 x 160
CROPS = {
    "Fluo-N2DH-SIM+": (0.125, [(0, 0, 0), (2, 200, 150), (4, 400, 300), (6, 100, 400), (8, 480, 40),
                               (10, 250, 460), (12, 40, 250), (14, 350, 200)]),
    "Fluo-C2DL-MSC": (0.3, [(0, 300, 300), (3, 100, 500), (6, 500, 100), (9, 400, 700), (12, 600, 450), (15, 200, 200)]),
    "Fluo-N2DH-GOWT1": (0.24, [(0, 300, 300), (3, 500, 500), (6, 200, 600), (9, 600, 200), (12, 400, 100),
                               (15, 700, 700)]),
}
SIZE, FRAMES = 160, 3


@pytest.fixture(scope="session")
def real_crops(shared_data: Path, tmp_path_factory) -> dict:
    """20 small real time-lapse crops (ImageJ TIFF, calibrated) and, for SIM+, their ground truth.

    Returns dict with ``dir`` (folder of the 20 crops) and ``truth`` (stem -> TYX labels).
    """
    out = tmp_path_factory.mktemp("real_crops")
    truth = {}
    for name, (pixel, windows) in CROPS.items():
        seq = shared_data / "ctc" / name / "01"
        if not seq.is_dir():
            pytest.skip(f"{seq} is absent")
        short = name.split("-")[-1].replace("+", "plus")
        for t0, y0, x0 in windows:
            box = (slice(y0, y0 + SIZE), slice(x0, x0 + SIZE))
            frames = np.stack([tifffile.imread(seq / f"t{t:03d}.tif")[box] for t in range(t0, t0 + FRAMES)])
            stem = f"{short}_t{t0:03d}_y{y0}_x{x0}"
            tifffile.imwrite(out / f"{stem}.tif", frames, imagej=True, resolution=(1 / pixel, 1 / pixel),
                             metadata={"axes": "TYX", "unit": "um"})
            gt_dir = seq.parent / "01_GT" / "SEG"
            if name == "Fluo-N2DH-SIM+":
                truth[stem] = np.stack([tifffile.imread(gt_dir / f"man_seg{t:03d}.tif")[box] for t in range(t0, t0 + FRAMES)])
    assert len(list(out.glob("*.tif"))) == 20
    return {"dir": out, "truth": truth}
