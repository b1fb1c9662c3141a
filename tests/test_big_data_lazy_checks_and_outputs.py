"""A long lazy (dask / zarr) movie is checked and measured one frame at a time: labelfree.image.validate_image
computes its checks chunk by chunk, and write_outputs reads the intensities of its table plane by plane, with the
same errors, the same table and the same ROI zip as for the movie in memory."""
from pathlib import Path

import numpy as np
import pytest
import tifffile
from pandas.testing import assert_frame_equal
from scipy import ndimage as ndi
from traced_memory import traced_peak

from labelfree import to_dataarray
from labelfree.errors import ConstantImageError, InputError, NonFiniteError
from labelfree.image import validate_image
from labelfree.io import write_outputs
from labelfree.measure import measure_objects


def _zarr_movie(path: Path, movie: np.ndarray, **kwargs):
    """``movie`` stored as a zarr array of one chunk per frame, read back lazily (as an OME-Zarr store is read)."""
    import dask.array as dk
    import zarr

    store = zarr.open_array(str(path), mode="w", shape=movie.shape, chunks=(1,) + movie.shape[1:], dtype=movie.dtype)
    store[:] = movie
    return _lazy(dk.from_zarr(str(path)), "TYX", **kwargs)


def _lazy(data, dims: str, **kwargs):
    """A dask array as a DataArray that stays lazy (to_dataarray reads a bare array into memory)."""
    import xarray as xr

    out = to_dataarray(xr.DataArray(data, dims=tuple(dims)), **kwargs)
    assert hasattr(out.data, "dask")
    return out


def _movie(n: int = 60, size: int = 200, seed: int = 0) -> np.ndarray:
    """Frames of blobs on a noisy background (uint16)."""
    rng = np.random.default_rng(seed)
    frames = rng.normal(100, 5, (n, size, size))
    for t in range(n):
        for _ in range(12):
            y, x = rng.integers(10, size - 10, 2)
            frames[t, y - 6:y + 6, x - 6:x + 6] += 400 + 10 * t
    return frames.astype(np.uint16)


def _labels(movie: np.ndarray) -> np.ndarray:
    return np.stack([ndi.label(frame > 300)[0] for frame in movie]).astype(np.uint16)


def _peak(fn, warm_up):
    """The result of ``fn()`` and the most memory it held at once (after ``warm_up()``: the imports of a first
    read are not counted)."""
    warm_up()
    return traced_peak(fn)


def test_validate_image_checks_a_lazy_movie_chunk_by_chunk(tmp_path):
    """The checks of a lazy movie hold a few frames at a time, not the movie (old: np.asarray of all of it)."""
    movie = _movie(n=120, size=300)  # 21.6 MB
    image = _zarr_movie(tmp_path / "m.zarr", movie)
    small = _zarr_movie(tmp_path / "small.zarr", movie[:2, :50, :50])
    out, peak = _peak(lambda: validate_image(image, allowed=("T", "Y", "X")),
                      lambda: validate_image(small, allowed=("T", "Y", "X")))
    assert hasattr(out.data, "dask")  # still lazy
    assert out.shape == movie.shape
    # new: 3.5 MB on 2 cores (a chunk per dask thread and the graph); old: 44 MB (the movie, read twice over)
    assert peak < movie.nbytes / 2, (peak, movie.nbytes)


@pytest.mark.parametrize("case", ["nan", "inf", "constant", "constant_float", "float64_huge", "float64_close"])
def test_a_lazy_image_is_refused_with_the_words_of_one_in_memory(tmp_path, case):
    movie = np.zeros((6, 20, 30), np.float32)
    movie[:, 5, 5] = 1.5
    error = {"nan": NonFiniteError, "inf": NonFiniteError, "constant": ConstantImageError,
             "constant_float": ConstantImageError, "float64_huge": InputError, "float64_close": InputError}[case]
    if case == "nan":
        movie[4, 2:5, 7] = np.nan
        movie[0, 0, 0] = np.nan
    elif case == "inf":
        movie[5, 19, 29] = -np.inf
    elif case == "constant":
        movie = np.full((6, 20, 30), 7, np.uint16)
    elif case == "constant_float":
        movie = np.full((6, 20, 30), -2.25, np.float32)
    elif case == "float64_huge":
        movie = movie.astype(np.float64)
        movie[3, 1, 1] = 1e300
    else:
        movie = np.full((6, 20, 30), 1.0, np.float64)
        movie[2, 3, 4] = 1.0 + 1e-12
    with pytest.raises(error) as in_memory:
        validate_image(to_dataarray(movie, dims="TYX"), allowed=("T", "Y", "X"))
    with pytest.raises(error) as lazy:
        validate_image(_zarr_movie(tmp_path / "m.zarr", movie), allowed=("T", "Y", "X"))
    assert str(lazy.value) == str(in_memory.value)
    if case == "nan":
        assert "contains 4 NaN/inf pixel(s)" in str(lazy.value)
    if case == "constant":
        assert "every pixel is 7)" in str(lazy.value)
    if case == "constant_float":
        assert "every pixel is -2.25)" in str(lazy.value)


def test_a_constant_lazy_image_may_be_allowed(tmp_path):
    movie = np.full((3, 8, 8), 5, np.uint8)
    out = validate_image(_zarr_movie(tmp_path / "m.zarr", movie), allowed=("T", "Y", "X"), allow_constant=True)
    assert np.array_equal(out.values, movie)


def test_write_outputs_reads_a_lazy_movie_frame_by_frame(tmp_path):
    """The table's intensities are read one frame at a time (old: the whole movie as one array); the table and the
    ROI zip are those of the movie in memory, byte for byte."""
    movie = _movie(n=120, size=300)  # 21.6 MB
    labels = to_dataarray(_labels(movie), dims="TYX", scale=0.5, units="µm")
    image = _zarr_movie(tmp_path / "m.zarr", movie, scale=0.5, units="µm")
    small = _zarr_movie(tmp_path / "small.zarr", movie[:2, :50, :50])
    lazy, peak = _peak(lambda: write_outputs(tmp_path / "lazy", labels, image=image, stem="m"),
                       lambda: write_outputs(tmp_path / "small", labels[:2, :50, :50], image=small, stem="m"))
    eager = write_outputs(tmp_path / "eager", labels, image=to_dataarray(movie, dims="TYX", scale=0.5, units="µm"),
                          stem="m")
    # new: 2.7 MB (a frame and its object rows); old: 45 MB (the movie, read whole)
    assert peak < movie.nbytes / 3, (peak, movie.nbytes)
    for kind in ("table", "rois"):
        assert Path(lazy[kind]).read_bytes() == Path(eager[kind]).read_bytes(), kind
    table = Path(lazy["table"]).read_text().splitlines()
    assert table[0].endswith(",mean_intensity")
    assert len(table) - 1 == sum(int(frame.max()) for frame in labels.values)


def test_measure_objects_of_a_lazy_multichannel_movie(tmp_path):
    """A lazy T, C, Y, X image gives one mean column per channel, as the image in memory does."""
    import dask.array as dk

    movie = _movie(n=8, size=64)
    stack = np.stack([movie, movie[::-1] // 3], axis=1)
    labels = to_dataarray(_labels(movie), dims="TYX")
    lazy = _lazy(dk.from_array(stack, chunks=(1, 1, 64, 64)), "TCYX", channel_names=["GFP", "DAPI"])
    eager = to_dataarray(stack, dims="TCYX", channel_names=["GFP", "DAPI"])
    got = measure_objects(labels, image=lazy)
    assert list(got.columns[-2:]) == ["mean_GFP", "mean_DAPI"]
    assert_frame_equal(got, measure_objects(labels, image=eager), check_exact=True)
    bare = measure_objects(labels, image=dk.from_array(movie, chunks=(1, 64, 64)))  # a dask array, no DataArray
    assert_frame_equal(bare, measure_objects(labels, image=movie), check_exact=True)


def _msc(msc_dir: Path, n: int) -> np.ndarray:
    return np.stack([tifffile.imread(f) for f in sorted((msc_dir / "01").glob("t*.tif"))[:n]])


def test_msc_tables_are_the_same_lazy_or_in_memory(tmp_path, msc_dir):
    """MSC 01 as a TYX movie and as a multi-channel image (channels sharing a name): the same table, value for
    value, from the lazy image as from the image in memory."""
    from labelfree.threshold import segment

    movie = _msc(msc_dir, 6)
    labels = segment(to_dataarray(movie, dims="TYX"))
    lazy = _zarr_movie(tmp_path / "m.zarr", movie)
    got = measure_objects(labels, image=lazy)
    assert len(got) > 0 and set(got["frame"]) == set(range(6))
    assert_frame_equal(got, measure_objects(labels, image=to_dataarray(movie, dims="TYX")), check_exact=True)

    import dask.array as dk

    planes = np.stack([movie[0], movie[1], movie[2].astype(np.float32) / 7])
    names = ["a", "b", "a"]
    plane_labels = labels.isel(T=0, drop=True)
    got = measure_objects(plane_labels, image=_lazy(dk.from_array(planes, chunks=(1,) + planes.shape[1:]), "CYX",
                                                    channel_names=names))
    assert list(got.columns[-3:]) == ["mean_a_c0", "mean_b", "mean_a_c2"]
    assert_frame_equal(got, measure_objects(plane_labels, image=to_dataarray(planes, dims="CYX",
                                                                             channel_names=names)), check_exact=True)
