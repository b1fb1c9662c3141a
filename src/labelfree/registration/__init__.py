"""Drift correction and stitching: Fiji plugins when a Fiji runs, pure Python otherwise.

>>> from labelfree.registration import correct_drift, stitch     # doctest: +SKIP
>>> corrected, shifts = correct_drift(movie, backend="python")   # doctest: +SKIP
>>> fused, positions = stitch(tiles, (3, 3), overlap=0.2)        # doctest: +SKIP

Importing this package never starts Java and does not import ``labelfree.imagej``.
"""

from labelfree.registration.drift import (
    DriftConfig,
    apply_shifts,
    correct_drift,
    estimate_drift,
    estimate_drift_in_region,
    read_shifts,
)
from labelfree.registration.stitch import StitchConfig, pairwise_links, stitch
from labelfree.registration.tiles import (
    GRID_ORDERS,
    grid_positions,
    read_tile_configuration,
    write_tile_configuration,
)

__all__ = [
    "DriftConfig",
    "correct_drift",
    "estimate_drift",
    "estimate_drift_in_region",
    "apply_shifts",
    "read_shifts",
    "StitchConfig",
    "stitch",
    "pairwise_links",
    "GRID_ORDERS",
    "grid_positions",
    "read_tile_configuration",
    "write_tile_configuration",
]
