"""The threshold pipeline segments a z-stack as a volume: one automatic threshold from the stack's histogram
(per time point), objects connected in 3-D with one id each; an image without Z is segmented as before."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tifffile
from scipy import ndimage as ndi

from labelfree import tiling
from labelfree.errors import DimensionError, NoObjectsWarning
from labelfree.image import to_dataarray
from labelfree.threshold import ThresholdConfig, segment
from labelfree.threshold.segment import threshold_plane
from labelfree.tiling import threshold_of

CENTRES = ((4, 16, 16), (5, 44, 20), (3, 30, 46))


def _spheres(shape=(9, 64, 64), centres=CENTRES, *, seed=0, bright=300.0) -> np.ndarray:
    """uint16 noise (100 +- 3) with bright ellipsoids about 7 planes deep; the end planes hold noise only."""
    z, y, x = np.mgrid[: shape[0], : shape[1], : shape[2]]
    img = np.random.default_rng(seed).normal(100, 3, shape)
    for cz, cy, cx in centres:
        img[4 * (z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 < 64] = bright
    img[[0, -1]] = np.random.default_rng(seed + 1).normal(100, 3, (2,) + shape[1:])
    return np.rint(img).astype(np.uint16)


def _quiet_segment(image, **config):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning at all: neither empty planes nor a "background object"
        return segment(image, config=config or None)


def test_a_z_stack_is_one_volume_with_one_id_per_object():
    stack = _spheres()
    labels = _quiet_segment(to_dataarray(stack, dims="ZYX"))
    thr = threshold_of(stack)  # the method on every voxel of the stack
    assert labels.attrs["labelfree"]["auto"]["threshold"] == thr  # one value for the volume, exact
    expected = ndi.label(stack > thr)[0]  # 3-D connected components (6-neighbours), numbered as they appear
    np.testing.assert_array_equal(labels.values, expected)
    assert labels.dims == ("Z", "Y", "X") and sorted(np.unique(labels.values)) == [0, 1, 2, 3]
    assert [int(np.count_nonzero(np.any(labels.values == i, axis=(1, 2)))) for i in (1, 2, 3)] == [7, 6, 6]
    assert not labels.values[[0, -1]].any()  # the noise planes at the ends: no objects, no warning


def test_each_time_point_is_a_volume_of_its_own():
    first, second = _spheres(seed=0), _spheres(seed=5, bright=600.0)
    labels = _quiet_segment(to_dataarray(np.stack([first, second]), dims="TZYX"))
    assert labels.attrs["labelfree"]["auto"]["threshold"] == [threshold_of(first), threshold_of(second)]
    assert threshold_of(first) != threshold_of(second)
    for t, volume in enumerate((first, second)):
        np.testing.assert_array_equal(labels.values[t], ndi.label(volume > threshold_of(volume))[0])


def test_a_z_stack_with_channels_last_or_first_is_the_same_volume():
    stack = _spheres()
    whole = _quiet_segment(to_dataarray(stack, dims="ZYX"))
    zcyx = _quiet_segment(to_dataarray(stack[:, None], dims="ZCYX"))
    np.testing.assert_array_equal(zcyx.transpose("Z", "Y", "X").values, whole.values)


def test_min_size_counts_the_voxels_of_a_3d_object():
    stack = np.full((6, 32, 32), 100, np.uint16)
    stack[1:5, 10:13, 10:13] = 400  # 9 px in each of 4 planes: 36 voxels, kept at min_size=20
    stack[2, 25:28, 25:28] = 400  # 9 voxels in one plane: removed
    labels = _quiet_segment(to_dataarray(stack, dims="ZYX"))
    assert int(labels.values.max()) == 1 and int(np.count_nonzero(labels.values)) == 36
    with pytest.warns(NoObjectsWarning, match=r"45 voxel\(s\) lie above .* smaller than min_size=37 voxels"):
        assert not segment(to_dataarray(stack, dims="ZYX"), config={"min_size": 37}).values.any()


def test_a_volume_without_objects_warns_once_for_the_volume():
    stack = np.zeros((3, 32, 32), np.uint16)
    stack[1, 20, 20] = 100  # one voxel: smaller than min_size
    with pytest.warns(NoObjectsWarning) as record:
        labels = segment(to_dataarray(stack, dims="ZYX"))
    texts = [str(w.message) for w in record if issubclass(w.category, NoObjectsWarning)]
    assert len(texts) == 1, texts
    assert texts[0].startswith("No objects found in the volume (3 planes): 1 voxel(s) lie above the volume's "
                               "automatic otsu threshold"), texts[0]
    assert "3-D objects smaller than min_size=20 voxels" in texts[0]
    assert not labels.values.any()


def test_constant_planes_are_padding_of_the_stack():
    stack = _spheres(shape=(7, 64, 64), centres=((3, 20, 20),))
    padded = np.concatenate([np.full((1, 64, 64), 1000, np.uint16), stack, np.zeros((1, 64, 64), np.uint16)])
    labels = _quiet_segment(to_dataarray(padded, dims="ZYX"))
    thr = threshold_of(stack)  # the constant planes are left out of the histogram
    assert labels.attrs["labelfree"]["auto"]["threshold"] == thr
    assert not labels.values[0].any() and not labels.values[-1].any()  # a white plane is no object
    np.testing.assert_array_equal(labels.values[1:-1], ndi.label(stack > thr)[0])


def test_a_large_volume_is_thresholded_on_a_regular_subsample(monkeypatch):
    stack = _spheres(shape=(4, 64, 64), centres=((2, 20, 20), (1, 40, 44)))
    monkeypatch.setattr(tiling, "AUTO_THRESHOLD_MAX_PIXELS", 4 * 32 * 32)  # each plane: every second row/column
    labels = _quiet_segment(to_dataarray(stack, dims="ZYX"))
    thr = threshold_of(stack[:, ::2, ::2])
    assert labels.attrs["labelfree"]["auto"]["threshold"] == thr
    np.testing.assert_array_equal(labels.values, ndi.label(stack > thr)[0])


def test_a_lazy_z_stack_gives_the_same_labels():
    da = pytest.importorskip("dask.array")
    stack = _spheres()
    eager = _quiet_segment(to_dataarray(stack, dims="ZYX"))
    lazy = _quiet_segment(to_dataarray(da.from_array(stack, chunks=(1, 64, 64)), dims="ZYX"))
    np.testing.assert_array_equal(lazy.values, eager.values)


def test_a_fixed_threshold_links_the_planes_too():
    stack = _spheres()
    labels = _quiet_segment(to_dataarray(stack, dims="ZYX"), threshold=200)
    np.testing.assert_array_equal(labels.values, ndi.label(stack > 200)[0])
    assert "auto" not in labels.attrs["labelfree"] or not labels.attrs["labelfree"]["auto"]


def test_images_without_z_are_segmented_plane_by_plane_as_before():
    stack = _spheres()
    frames = _quiet_segment(to_dataarray(stack[1:-1], dims="TYX"))  # T planes: each its own threshold and ids
    for t, plane in enumerate(stack[1:-1]):
        np.testing.assert_array_equal(frames.values[t], threshold_plane(plane, ThresholdConfig()))
    assert len(frames.attrs["labelfree"]["auto"]["threshold"]) == len(stack) - 2
    one = _quiet_segment(to_dataarray(stack[4:5], dims="ZYX"))  # a single z plane is a plane
    np.testing.assert_array_equal(one.values[0], _quiet_segment(to_dataarray(stack[4], dims="YX")).values)



def test_the_cli_counts_each_object_of_the_volume_once(tmp_path, capsys):
    from labelfree.cli import main

    tifffile.imwrite(tmp_path / "stack.tif", _spheres(), imagej=True, metadata={"axes": "ZYX"})
    assert main(["threshold", str(tmp_path / "stack.tif"), "-o", str(tmp_path / "out")]) == 0
    assert "threshold: 3 objects in" in capsys.readouterr().out


def test_link_planes_joins_overlapping_objects_of_adjacent_planes():
    from labelfree.labels import link_planes

    planes = np.array([[[1, 0, 2]], [[3, 3, 0]], [[0, 4, 4]]])
    assert link_planes(planes)[:, 0].tolist() == [[1, 0, 2], [1, 1, 0], [0, 1, 1]]
    # ids in order of first appearance: by plane, then by the plane's id; huge ids cost nothing
    late = np.array([[[0, 0]], [[7, 0]], [[7, 2**40]]], np.uint64)
    assert link_planes(late)[:, 0].tolist() == [[0, 0], [1, 0], [1, 2]]
    mask = np.random.default_rng(1).random((5, 40, 40)) > 0.6
    linked = link_planes(mask)
    np.testing.assert_array_equal(linked, ndi.label(mask)[0])  # a mask: its 6-connected components
    assert linked.dtype == np.uint16
    assert link_planes(np.zeros((2, 3, 3), np.uint16)).tolist() == np.zeros((2, 3, 3)).tolist()
    with pytest.raises(DimensionError, match=r"needs a \(Z, Y, X\) stack of planes; got shape \(3, 3\)"):
        link_planes(np.zeros((3, 3), np.uint16))


def test_the_log_line_of_a_time_lapse_of_z_stacks_counts_volumes_not_planes():
    """``describe_automatic`` said "(2 planes)" of the two thresholds of a T=2 z-stack run: one per volume."""
    from labelfree._config import describe_automatic

    stack = np.zeros((2, 3, 24, 24), np.uint16)
    stack[0, :, 4:12, 4:12] = 500
    stack[1, :, 4:12, 4:12] = 900
    stack[:, :, 20, 20] = 50
    labels = segment(to_dataarray(stack, dims="TZYX"))
    record = labels.attrs["labelfree"]
    assert record["volumes"] == 2 and len(record["auto"]["threshold"]) == 2
    assert describe_automatic(record).endswith("2 volumes)") and "planes" not in describe_automatic(record)
