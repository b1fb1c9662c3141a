"""A tiled threshold run of a z-stack gives the untiled run's labels: one automatic threshold per volume (per time
point) fixed before the planes are cut, min_size in voxels and one id per 3-D object once the planes are assembled,
the same provenance and the same no-object warning."""

from __future__ import annotations

import warnings

import numpy as np

from labelfree.errors import NoObjectsWarning
from labelfree.image import to_dataarray
from labelfree.run import run_pipeline

TILED = {"tile": 48, "tile_overlap": 16}
# ellipsoids across tile borders (48) and one whose end planes hold pieces of a few pixels (below min_size=20 in 2-D)
CENTRES = ((2, 20, 20), (3, 47, 50), (2.05, 75, 30), (3, 30, 75), (2.5, 70, 72))


def _stack(*, seed=0, bright=300.0, shape=(6, 96, 96)) -> np.ndarray:
    """uint16 noise (100 +- 3) with bright ellipsoids about 5 planes deep (radius 9 px in Y, X)."""
    z, y, x = np.mgrid[: shape[0], : shape[1], : shape[2]]
    img = np.random.default_rng(seed).normal(100, 3, shape)
    for cz, cy, cx in CENTRES:
        img[9 * (z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 < 81] = bright
    return np.rint(img).astype(np.uint16)


def _run(image, **kwargs):
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        labels = run_pipeline("threshold", image, **kwargs)
    return labels, [(w.category, str(w.message)) for w in said]


def _same_run(image, *, cut=0, **config):
    whole, said_whole = _run(image, config=config or None)
    tiled, said_tiled = _run(image, config=config or None, **TILED)
    np.testing.assert_array_equal(tiled.values, whole.values)  # bit for bit: the same objects with the same ids
    assert tiled.dims == whole.dims
    record, tiled_record = whole.attrs["labelfree"], tiled.attrs["labelfree"]
    assert tiled_record.get("auto") == record.get("auto") and tiled_record["volumes"] == record["volumes"]
    assert tiled_record["tiles"]["tile"] == 48 and tiled_record["tiles"]["overlap"] == 16
    assert cut is None or tiled_record["tiles"]["objects_cut"] == cut
    assert said_tiled == said_whole
    return whole, tiled, said_tiled


def test_a_tiled_z_stack_gives_the_untiled_labels_with_small_end_pieces_kept():
    stack = _stack()
    whole, tiled, said = _same_run(to_dataarray(stack, dims="ZYX"))
    assert int(tiled.values.max()) == len(CENTRES) and not said
    assert isinstance(tiled.attrs["labelfree"]["auto"]["threshold"], float)  # one value for the one volume
    # an object's end plane holds fewer than min_size pixels: kept, as its 3-D object has many more voxels
    ends = [int(np.count_nonzero(tiled.values[z] == i)) for i in range(1, len(CENTRES) + 1) for z in range(6)]
    assert 0 < min(n for n in ends if n) < 20
    # ids of the 3-D objects: each spans several planes (linked across Z)
    assert all(np.count_nonzero(np.any(tiled.values == i, axis=(1, 2))) >= 3 for i in range(1, len(CENTRES) + 1))


def test_min_size_counts_voxels_of_the_3d_objects_in_a_tiled_run():
    stack = _stack()
    _, tiled, _ = _same_run(to_dataarray(stack, dims="ZYX"), min_size=980)
    sizes = np.bincount(tiled.values.ravel())[1:]
    assert len(sizes) >= 1 and sizes.min() >= 980
    assert len(sizes) == 2  # the others (965 voxels) are gone; every plane of an object holds fewer than 980 px


def test_each_time_point_of_a_tiled_run_has_its_own_threshold():
    stack = np.stack([_stack(seed=0), _stack(seed=3, bright=700.0)])
    _, tiled, _ = _same_run(to_dataarray(stack, dims="TZYX"))
    auto = tiled.attrs["labelfree"]["auto"]["threshold"]
    assert len(auto) == 2 and auto[0] != auto[1] and tiled.attrs["labelfree"]["volumes"] == 2
    assert tiled.dims == ("T", "Z", "Y", "X")


def test_a_constant_bright_plane_in_a_volume_keeps_no_objects_tiled_as_untiled():
    stack = _stack()
    stack[4] = 1000  # a saturated plane: above the threshold, but constant (left out, as padding)
    _, tiled, _ = _same_run(to_dataarray(stack, dims="ZYX"), cut=None)  # its tiles' objects: all cut, then dropped
    assert not tiled.values[4].any() and tiled.values.any()


def test_a_padded_z_stack_is_thresholded_inside_its_canvas_tiled_as_untiled():
    stack = np.full((6, 128, 128), 4000, np.uint16)  # a bright canvas around the crop
    stack[:, 16:112, 16:112] = _stack()
    _, tiled, _ = _same_run(to_dataarray(stack, dims="ZYX"))
    assert not tiled.values[:, :16].any() and int(tiled.values.max()) == len(CENTRES)


def test_an_empty_volume_warns_once_as_the_untiled_run_does():
    stack = np.stack([_stack(), np.full((6, 96, 96), 100, np.uint16)])  # the second volume: every plane constant
    _, tiled, said = _same_run(to_dataarray(stack, dims="TZYX"))
    assert len(said) == 1 and issubclass(said[0][0], NoObjectsWarning)
    assert said[0][1].startswith("No objects found in 1 of 2 volumes (6 planes each); in volume 1 (0-based): every "
                                 "plane has one value throughout")
    assert tiled.attrs["labelfree"]["auto"]["threshold"][1] is None and not tiled.values[1].any()


def test_a_fixed_threshold_tiled_z_stack_gives_the_untiled_labels_without_auto():
    whole, tiled, said = _same_run(to_dataarray(_stack(), dims="ZYX"), threshold=150.0)
    assert "auto" not in tiled.attrs["labelfree"] and not said and tiled.values.any()


def test_split_touching_tiled_z_stack_keeps_the_untiled_foreground():
    image = to_dataarray(_stack(), dims="ZYX")
    whole, _ = _run(image, config={"split_touching": True})
    tiled, _ = _run(image, config={"split_touching": True}, **TILED)
    np.testing.assert_array_equal(tiled.values > 0, whole.values > 0)
    assert tiled.attrs["labelfree"]["auto"] == whole.attrs["labelfree"]["auto"]

