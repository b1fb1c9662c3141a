"""Stitching benchmark: a 4x4 grid of 1024x1024 tiles with 20 % overlap and jittered positions.

Usage::

    python3 benchmarks/stitch.py
    python3 benchmarks/stitch.py subpixel   # sub-pixel positions recovered on real frames

The scene is a 4096x4096 mosaic of 16 real Fluo-N2DH-GOWT1 frames (../shared/data); tiles
are cut from it at jittered grid positions (up to ±15 px) and stitched back from their
nominal positions. Reference measured in the same run: the straightforward pairwise step,
``skimage.registration.phase_cross_correlation`` on each nominal overlap pair.
The CPU may be shared with other jobs, so read the ratio rather than the absolute times.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import tifffile

from labelfree.datasets import shared_data_root

DATA = shared_data_root() / "ctc" / "Fluo-N2DH-GOWT1" / "01"


def main() -> None:
    import cv2
    from skimage.registration import phase_cross_correlation

    from labelfree.registration import grid_positions, pairwise_links, stitch
    from labelfree.registration._fuse import fuse_tiles
    from labelfree.registration._optimize import optimize_positions
    from labelfree.registration.stitch import StitchConfig, _overlap_boxes

    cv2.setNumThreads(1)
    files = sorted(DATA.glob("t*.tif"))[::5][:16]
    if len(files) < 16:
        sys.exit(f"{DATA} is absent or short: this benchmark needs ../shared/data")
    frames = [tifffile.imread(f) for f in files]
    scene = np.block([[frames[4 * r + c] for c in range(4)] for r in range(4)])
    tile, jitter = (1024, 1024), 15
    nominal = grid_positions(tile, rows=4, cols=4, overlap=0.2)
    rng = np.random.default_rng(0)
    true = nominal + jitter + rng.integers(-jitter, jitter + 1, nominal.shape)
    tiles = [scene[int(y):int(y) + tile[0], int(x):int(x) + tile[1]] for y, x in true]

    # warm-up (one-time imports): two 200 px crops of one tile that overlap by 50 px
    stitch([tiles[0][:200, :200], tiles[0][:200, 150:350]], (1, 2), overlap=0.25, backend="python")
    t0 = time.perf_counter()
    fused, positions = stitch(tiles, (4, 4), overlap=0.2, backend="python")
    t_total = time.perf_counter() - t0
    placed = positions[["y", "x"]].to_numpy()
    error = np.abs((placed - placed[0]) - (true - true[0])).max()

    cfg = StitchConfig()
    images = [t.astype(np.float32) for t in tiles]
    t0 = time.perf_counter()
    links = pairwise_links(images, nominal, config=cfg)
    t_pairs = time.perf_counter() - t0
    t0 = time.perf_counter()
    solution = optimize_positions(nominal, links)
    t_opt = time.perf_counter() - t0
    t0 = time.perf_counter()
    fuse_tiles(tiles, np.round(solution.positions))
    t_fuse = time.perf_counter() - t0

    t0 = time.perf_counter()
    n_pairs = 0
    for i in range(16):
        for j in range(i + 1, 16):
            boxes = _overlap_boxes(nominal[i], nominal[j], tile, tile, cfg.min_overlap)
            if boxes is None:
                continue
            _, bi, bj = boxes
            phase_cross_correlation(images[i][bi], images[j][bj], upsample_factor=1)
            n_pairs += 1
    t_ref = time.perf_counter() - t0

    print(f"4x4 tiles of {tile[0]}x{tile[1]} uint8, 20 % overlap, jitter ±{jitter} px; fused {fused.shape}; "
          f"{len(solution.kept)} of {n_pairs} pairs kept; max position error {error:.1f} px")
    print("| step | seconds | ratio to reference |")
    print("|---|---:|---:|")
    print(f"| stitch() total (python backend) | {t_total:.2f} | {t_total / t_ref:.2f} |")
    print(f"| pairwise matching ({n_pairs} pairs, 5-peak NCC check + polish) | {t_pairs:.2f} | "
          f"{t_pairs / t_ref:.2f} |")
    print(f"| global optimisation | {t_opt:.3f} | {t_opt / t_ref:.3f} |")
    print(f"| linear-blending fusion | {t_fuse:.2f} | {t_fuse / t_ref:.2f} |")
    print(f"| reference: skimage phase_cross_correlation on the {n_pairs} overlaps | {t_ref:.2f} | 1.00 |")


def subpixel_accuracy() -> None:
    """2 x 2 tiles of 240 x 260 px at 25 % overlap cut at sub-pixel positions (jitter +-10 px, cubic
    interpolation) from the first frame of three sets, fresh noise of 2 % of the range per tile, four
    seeds: the error of the positions found with ``subpixel=True`` (relative to the first tile)."""
    from scipy import ndimage as ndi

    from labelfree.registration import grid_positions, stitch

    tile = (240, 260)
    print("| set | mean abs error px | largest px |")
    print("|---|---:|---:|")
    for name in ("Fluo-N2DH-GOWT1", "Fluo-C2DL-MSC", "Fluo-N2DH-SIM+"):
        frame = tifffile.imread(DATA.parents[1] / name / "01" / "t000.tif").astype(np.float32)
        errors = []
        for seed in range(4):
            rng = np.random.default_rng(seed)
            true = grid_positions(tile, rows=2, cols=2, overlap=0.25) + 20 + rng.uniform(-10, 10, (4, 2))
            tiles = []
            for y, x in true:
                iy, ix = int(np.floor(y)), int(np.floor(x))
                part = frame[iy - 4:iy + tile[0] + 4, ix - 4:ix + tile[1] + 4]
                moved = ndi.shift(part, (iy - y, ix - x), order=3, mode="nearest")[4:-4, 4:-4]
                tiles.append(moved + rng.normal(0, 0.02 * np.ptp(frame), moved.shape).astype(np.float32))
            _, positions = stitch(tiles, (2, 2), overlap=0.25, config={"subpixel": True}, backend="python")
            placed = positions[["y", "x"]].to_numpy()
            errors.append(np.abs((placed - placed[0]) - (true - true[0]))[1:])
        errors = np.concatenate(errors)
        print(f"| {name} | {errors.mean():.3f} | {errors.max():.3f} |")


if __name__ == "__main__":
    if sys.argv[1:] == ["subpixel"]:
        subpixel_accuracy()
    else:
        main()
