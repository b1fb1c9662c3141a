"""Tiles whose pixels all have one value: a tiled threshold run agrees with the untiled one inside a
large uniform object, and a fixed threshold decides a constant plane as it decides any other."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from labelfree.errors import ConstantImageError, NoObjectsWarning
from labelfree.threshold import ThresholdConfig
from labelfree.threshold import segment as threshold_segment
from labelfree.tiling import PipelineTileFunction, segment_tiled


def _square(value: int = 255, background: int = 0) -> np.ndarray:
    img = np.full((128, 128), background, np.uint8)
    img[16:112, 16:112] = value  # larger than a 32 px tile with its 8 px overlap: some tiles see only it
    return img


def _labels(out) -> np.ndarray:
    (path,) = out.glob("*_labels.tif")
    return tifffile.imread(path)


@pytest.mark.parametrize("options", [[], ["--set", "threshold=100"]])
def test_tiled_cli_run_has_no_holes_inside_a_large_uniform_object(tmp_path, options):
    from labelfree.cli import main

    tifffile.imwrite(tmp_path / "img.tif", _square())
    assert main(["threshold", str(tmp_path / "img.tif"), "-o", str(tmp_path / "whole"), *options]) == 0
    assert main(["threshold", str(tmp_path / "img.tif"), "-o", str(tmp_path / "tiled"), "--tile", "32",
                 "--tile-overlap", "8", *options]) == 0
    whole, tiled = _labels(tmp_path / "whole"), _labels(tmp_path / "tiled")
    assert int((whole > 0).sum()) == 96 * 96
    np.testing.assert_array_equal(tiled > 0, whole > 0)


def test_constant_tile_is_segmented_by_the_fixed_threshold():
    bright = np.full((48, 48), 255, np.uint8)
    dim = np.full((48, 48), 50, np.uint8)
    fixed = PipelineTileFunction("threshold", {"threshold": 100.0})
    np.testing.assert_array_equal(fixed(bright), np.ones((48, 48)))
    np.testing.assert_array_equal(fixed(dim), np.zeros((48, 48)))
    dark = PipelineTileFunction("threshold", {"threshold": 100.0, "dark_objects": True})
    np.testing.assert_array_equal(dark(dim), np.ones((48, 48)))
    np.testing.assert_array_equal(dark(bright), np.zeros((48, 48)))
    small = PipelineTileFunction("threshold", {"threshold": 100.0, "min_size": 48 * 48 + 1})
    assert not small(bright).any()  # the pipeline's own steps still apply
    one_channel = PipelineTileFunction("threshold", {"threshold": 100.0}, dims="CYX", channel_names=("GFP",))
    np.testing.assert_array_equal(one_channel(bright[None]), np.ones((48, 48)))
    # without a fixed threshold a constant tile has no objects (the short-circuit stays)
    assert not PipelineTileFunction("threshold", {})(bright).any()
    assert PipelineTileFunction("fusion", {})(np.full((48, 48), 3.0, np.float32)).shape == (48, 48)
    assert not PipelineTileFunction("fusion", {})(np.full((48, 48), 3.0, np.float32)).any()


def test_tiled_dark_objects_with_a_fixed_threshold_match_untiled():
    img = _square(value=10, background=200)
    cfg = ThresholdConfig(threshold=100.0, dark_objects=True)
    whole = np.asarray(threshold_segment(img, config=cfg).data)
    tiled = segment_tiled(img, PipelineTileFunction("threshold", cfg.to_dict()), tile=32, overlap=8).labels
    assert int((whole > 0).sum()) == 96 * 96
    np.testing.assert_array_equal(tiled > 0, whole > 0)


def test_fixed_threshold_applies_to_a_constant_plane_of_a_movie():
    from labelfree.image import to_dataarray

    movie = to_dataarray(np.stack([_square(), np.full((128, 128), 255, np.uint8), np.zeros((128, 128), np.uint8)]),
                         dims="TYX")
    fixed = threshold_segment(movie, config={"threshold": 100.0})
    assert fixed.dims == ("T", "Y", "X")
    assert int(fixed[0].max()) == 1 and int((fixed[0] > 0).sum()) == 96 * 96
    np.testing.assert_array_equal(fixed[1], np.ones((128, 128)))  # every pixel above the fixed threshold
    assert not fixed[2].any()
    with pytest.warns(NoObjectsWarning, match=r"in plane 1 \(0-based\): every pixel has the same value"):
        auto = threshold_segment(movie)
    assert not auto[1].any() and not auto[2].any()  # no automatic threshold on a constant plane
    assert auto.attrs["labelfree"]["auto"]["threshold"][1:] == [None, None]


def test_a_constant_whole_image_is_still_refused():
    with pytest.raises(ConstantImageError, match="constant"):
        threshold_segment(np.full((64, 64), 255, np.uint8), config={"threshold": 100.0})
