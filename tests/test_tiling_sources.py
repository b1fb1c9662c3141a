"""Tiles read from a memory-mapped movie: a plane or a band of rows of the map gives the labels of
those pixels, serial and on Dask, and a copy-on-write map is read as changed in memory."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import xarray as xr

from labelfree.tiling import (
    PipelineTileFunction,
    auto_threshold,
    segment_tiled,
    tiled_labels,
)


@pytest.fixture(scope="module")
def mapped_movie(shared_data, tmp_path_factory):
    """3 real SIM+ frames (each with other nuclei) as an uncompressed TYX TIFF, memory-mapped."""
    seq = shared_data / "ctc" / "Fluo-N2DH-SIM+" / "01"
    if not seq.is_dir():
        pytest.skip(f"{seq} is absent")
    movie = np.stack([tifffile.imread(seq / f"t{t:03d}.tif")[:300, :280] for t in (0, 30, 60)])
    path = tmp_path_factory.mktemp("mapped") / "movie.tif"
    tifffile.imwrite(path, movie, imagej=True, metadata={"axes": "TYX"})
    return movie, tifffile.memmap(path, mode="r")


def test_a_plane_or_band_of_a_memmap_is_read_where_it_lies(mapped_movie):
    """A view into a map keeps the map's ``offset``: every plane, and every band of rows, was read
    from the start of the map, so each frame got frame 0's labels."""
    movie, mapped = mapped_movie
    fn = PipelineTileFunction("threshold", {"threshold": auto_threshold(movie[0])})
    views = {"frame 1": (mapped[1], movie[1]), "frame 2": (mapped[2], movie[2]),
             "rows of frame 1": (mapped[1, 120:], movie[1, 120:]),
             "frame 2 of a DataArray": (xr.DataArray(mapped, dims=("T", "Y", "X")).isel(T=2), movie[2])}
    for what, (view, pixels) in views.items():
        want = segment_tiled(np.array(pixels), fn, tile=96, overlap=48).labels
        assert want.max() >= 3, what
        np.testing.assert_array_equal(segment_tiled(view, fn, tile=96, overlap=48).labels, want, err_msg=what)
        np.testing.assert_array_equal(tiled_labels(view, fn, tile=96, overlap=48).compute(scheduler="sync"), want,
                                      err_msg=what)
    assert not np.array_equal(segment_tiled(mapped[1], fn, tile=96, overlap=48).labels > 0,
                              segment_tiled(mapped[0], fn, tile=96, overlap=48).labels > 0)


def test_a_copy_on_write_map_is_read_as_changed(tmp_path):
    """Tiles re-opened the file behind a copy-on-write map and missed the changes made to it in memory."""
    np.save(tmp_path / "plane.npy", np.zeros((64, 64), np.uint8))
    plane = np.load(tmp_path / "plane.npy", mmap_mode="c")
    plane[10:20, 10:30] = 1  # in memory only
    res = segment_tiled(plane, _label, tile=32, overlap=24)
    assert res.n_objects == 1 and int((res.labels > 0).sum()) == 200
    lazy = tiled_labels(plane, _label, tile=32, overlap=24).compute(scheduler="sync")
    np.testing.assert_array_equal(lazy, res.labels)
    assert not np.load(tmp_path / "plane.npy").any()  # the file is unchanged


def _label(region: np.ndarray) -> np.ndarray:
    from scipy import ndimage as ndi

    return ndi.label(region > 0)[0]
