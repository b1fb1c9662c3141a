"""Regenerate the bundled sample movie used by `labelfree demo` (deterministic)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from labelfree.datasets import synthetic_movie

OUT = Path(__file__).resolve().parents[1] / "src" / "labelfree" / "data"
PIXEL_UM = 0.65
FRAME_S = 300.0


def main() -> None:
    movie, truth = synthetic_movie(
        n_frames=12, shape=(192, 192), n_cells=7, cell_radius=14, n_debris=6, seed=3
    )
    meta = {"axes": "TYX", "unit": "um", "finterval": FRAME_S, "Info": "LabelFree synthetic sample movie (seed 3)"}
    res = (1 / PIXEL_UM, 1 / PIXEL_UM)
    OUT.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(OUT / "sample_movie.tif", np.asarray(movie), imagej=True, resolution=res, metadata=meta,
                     compression="zlib")
    tifffile.imwrite(OUT / "sample_truth.tif", np.asarray(truth).astype(np.uint16), imagej=True, resolution=res,
                     metadata={"axes": "TYX", "unit": "um", "finterval": FRAME_S}, compression="zlib")
    print(f"wrote {OUT / 'sample_movie.tif'} and {OUT / 'sample_truth.tif'}")


if __name__ == "__main__":
    main()
