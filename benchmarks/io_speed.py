"""Speed of LabelFree's I/O against plain library calls measured in the same run.

Usage: python benchmarks/io_speed.py [--repeat N]

Prints one table: each row times a LabelFree function and a reference on the same
input, and their ratio (LabelFree / reference). Real data: the 18 annotated frames of
Fluo-C2DL-MSC (../shared/data); a synthetic 4,900-object image otherwise too.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def msc_seg():
    from labelfree.datasets import shared_data_root
    from labelfree.image import to_dataarray
    from labelfree.io import read_ctc

    root = shared_data_root() / "ctc" / "Fluo-C2DL-MSC"
    if not (root / "01").is_dir():
        return None, None
    ds = read_ctc(root)
    seg = np.stack([ds.seg[t] for t in ds.seg_frames]).astype(np.uint16)
    img = np.stack([ds.frame(t) for t in ds.seg_frames])
    return to_dataarray(seg, dims="TYX"), to_dataarray(img, dims="TYX")


def grid_objects(n_side=70, size=12):
    lab = np.zeros((n_side * size, n_side * size), np.uint16)
    yy, xx = np.mgrid[:size, :size]
    disc = (yy - size / 2 + 0.5) ** 2 + (xx - size / 2 + 0.5) ** 2 < (size / 2 - 1) ** 2
    for i in range(n_side):
        for j in range(n_side):
            lab[i * size:(i + 1) * size, j * size:(j + 1) * size][disc] = i * n_side + j + 1
    return lab


def main() -> None:
    import cv2
    import roifile
    import tifffile
    from skimage.measure import regionprops_table

    from labelfree.image import to_dataarray
    from labelfree.io import labels_to_rois, read_image, read_rois, rois_to_labels, write_labels, write_rois
    from labelfree.measure import measure_objects

    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    repeat = parser.parse_args().repeat
    cv2.setNumThreads(1)
    tmp = Path(tempfile.mkdtemp())
    rows = []

    def row(name, n, ours, ref, ref_name):
        rows.append((name, n, ours, ref, ours / ref, ref_name))

    seg, img = msc_seg()
    cases = [("grid 840x840", to_dataarray(grid_objects(), dims="YX"), None)]
    if seg is not None:
        cases.insert(0, ("MSC SEG 18x832x992", seg, img))
    for name, lab, image in cases:
        arr = lab.values
        n_obj = sum(len(np.unique(p)) - 1 for p in arr.reshape(-1, *arr.shape[-2:]))
        row(f"write_labels {name}", n_obj,
            best_of(lambda: write_labels(tmp / "l.tif", lab), repeat),
            best_of(lambda: tifffile.imwrite(tmp / "r.tif", arr), repeat), "tifffile.imwrite (no metadata)")
        rois = labels_to_rois(lab)
        row(f"write_rois {name}", len(rois),
            best_of(lambda: write_rois(tmp / "r.zip", lab), repeat),
            best_of(lambda: roifile.roiwrite(tmp / "ref.zip", rois, mode="w"), repeat),
            "roifile.roiwrite of the same ROIs")
        back = read_rois(tmp / "r.zip")
        assert np.array_equal(rois_to_labels(back, shape=arr.shape), arr)
        row(f"rois_to_labels {name}", len(back),
            best_of(lambda: rois_to_labels(back, shape=arr.shape), repeat),
            best_of(lambda: read_rois(tmp / "r.zip"), repeat), "read_rois (parsing only)")
        planes = arr.reshape(-1, *arr.shape[-2:])
        ipl = None if image is None else image.values.reshape(planes.shape)
        props = ("label", "area", "centroid", "bbox") + (() if ipl is None else ("intensity_mean",))
        row(f"measure_objects {name}", n_obj,
            best_of(lambda: measure_objects(lab, image=image), repeat),
            best_of(lambda: [regionprops_table(p, None if ipl is None else ipl[i], properties=props)
                             for i, p in enumerate(planes)], repeat),
            "skimage regionprops_table per plane")

    movie = np.random.default_rng(0).integers(0, 4096, (200, 512, 512), dtype=np.uint16)
    tifffile.imwrite(tmp / "movie.tif", movie, imagej=True, metadata={"axes": "TYX"})
    row("read_image(memmap=True) + 1 frame, 200x512x512", 1,
        best_of(lambda: np.asarray(read_image(tmp / "movie.tif", memmap=True)[100]), repeat),
        best_of(lambda: tifffile.imread(tmp / "movie.tif"), repeat), "tifffile.imread (whole movie)")

    print(f"{'operation':52s} {'objects':>8s} {'labelfree s':>12s} {'reference s':>12s} {'ratio':>7s}  reference")
    for name, n, ours, ref, ratio, ref_name in rows:
        print(f"{name:52s} {n:8d} {ours:12.4f} {ref:12.4f} {ratio:7.2f}  {ref_name}")


if __name__ == "__main__":
    main()
