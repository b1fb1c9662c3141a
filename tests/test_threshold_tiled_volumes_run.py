"""The memory of a tiled Threshold run of a time-lapse of z-stacks (TZYX), through run_pipeline: the planes held at
2 bytes a pixel (labelfree.tiling.plane_labels_out / store_plane, as labelfree.run.run_tiled uses them) and finished
volume by volume. Measured with tracemalloc (NumPy reports its buffers to it): a peak, not a time."""

from __future__ import annotations

import numpy as np
import xarray as xr
from test_threshold_tiled_volumes import _tzyx
from traced_memory import traced_peak

from labelfree.run import run_pipeline


def test_tiled_tzyx_run_holds_its_labels_once_at_two_bytes_a_voxel():
    """A tiled TZYX run's peak, beside the image: the labels (uint16, 2 bytes a voxel) and one volume's working
    arrays. Before, the planes were assembled as uint32 (4 bytes) and copied to uint16 (2 more) at the end."""
    image = xr.DataArray(_tzyx(t=12, z=6, y=192, x=192), dims=("T", "Z", "Y", "X"))
    run_pipeline("threshold", image[:1, :2, :48, :48], tile=32, tile_overlap=8)  # imports, caches
    tiled, peak = traced_peak(run_pipeline, "threshold", image, tile=64, tile_overlap=24)
    np.testing.assert_array_equal(tiled.values, run_pipeline("threshold", image).values)
    # measured: 3.6 bytes a voxel (2 the labels, the rest one volume's arrays: 1 of 12); before: 6.1
    assert peak < 4.8 * image.size, peak / image.size
