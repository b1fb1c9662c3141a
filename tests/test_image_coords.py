"""An in-memory image's coordinates are its calibration (labelfree.image.to_dataarray / scale_of).

xarray keeps a coordinate's attributes through ``da[:, ::2, ::2]`` and ``coarsen``: the ``scale`` attribute
then disagrees with the coordinates, and the coordinates win. Decreasing or unevenly spaced Y / X
coordinates are refused; durations and time stamps on T are a frame interval in seconds; a channel-last
colour array is named as such in the hint for dims.
"""

import logging

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from labelfree import image as I
from labelfree.errors import DimensionError, InputError


def _movie(n_t=4, n_y=40, n_x=48):
    """A calibrated TYX movie: 0.65 µm pixels, 300 s frames, one bright 10 x 12 pixel block per frame."""
    data = np.zeros((n_t, n_y, n_x), np.float32)
    data[:, 10:20, 12:24] = 100.0
    data += np.random.default_rng(0).normal(0, 1, data.shape).astype(np.float32)
    return I.to_dataarray(data, dims="TYX", scale={"Y": 0.65, "X": 0.65, "T": 300.0},
                          units={"Y": "µm", "X": "µm", "T": "s"}, attrs={"source": "movie.tif"})


def _stale_logs(caplog):
    return [r.getMessage() for r in caplog.records if "disagrees with their spacing" in r.getMessage()]


# -- 1. a stale scale attribute after subsampling ------------------------------------------------------

def test_subsampled_coords_give_the_pixel_size_and_say_so_once(caplog):
    mv = _movie()
    sub = mv[:, ::2, ::2]
    assert sub.X.attrs["scale"] == 0.65  # xarray keeps the old attribute
    with caplog.at_level(logging.WARNING, logger="labelfree.image"):
        da = I.to_dataarray(sub)
        again = I.to_dataarray(sub)  # the pipelines prepare an image more than once: one log line
    assert da.X.attrs["scale"] == pytest.approx(1.3, rel=1e-12)
    assert da.Y.attrs["scale"] == pytest.approx(1.3, rel=1e-12)
    assert again.X.attrs["scale"] == pytest.approx(1.3, rel=1e-12)
    assert da["T"].attrs["scale"] == 300.0  # T was not subsampled: the attribute agrees and is kept exactly
    np.testing.assert_array_equal(da.X.values, sub.X.values)  # the coordinates are kept as they are
    assert I.scale_of(sub, "X") == pytest.approx(1.3, rel=1e-12)  # also on the raw DataArray
    msgs = _stale_logs(caplog)
    assert len(msgs) == 1 and "X: scale 0.65, spacing 1.3: using 1.3" in msgs[0] and "Y:" in msgs[0]


def test_coarsen_and_every_other_frame():
    mv = _movie()
    co = mv.coarsen(Y=2, X=2).mean()
    assert I.to_dataarray(co).X.attrs["scale"] == pytest.approx(1.3)
    assert I.to_dataarray(co).X.values[0] == pytest.approx(0.325)  # the origin of the coarse grid is kept
    every_other = mv[::2]
    assert I.to_dataarray(every_other)["T"].attrs["scale"] == pytest.approx(600.0)
    assert I.scale_of(every_other, "T") == pytest.approx(600.0)


def test_agreeing_attribute_is_kept_exactly_and_silently(caplog):
    mv = _movie()
    crop = mv[:, 5:30, 7:40]
    with caplog.at_level(logging.INFO, logger="labelfree.image"):
        da = I.to_dataarray(crop)
    assert da.X.attrs["scale"] == 0.65 and I.scale_of(crop, "X") == 0.65
    assert da.X.values[0] == pytest.approx(7 * 0.65)
    one_row = I.to_dataarray(mv[:, 3:4, :])  # a length-1 axis has only the attribute to go by
    assert one_row.Y.attrs["scale"] == 0.65
    assert not _stale_logs(caplog)


def test_subsampled_movie_is_measured_and_written_with_the_new_pixel_size(tmp_path):
    import labelfree.threshold as threshold
    from labelfree.io import read_image, write_outputs

    sub = _movie()[:, ::2, ::2]
    labels = threshold.segment(sub)
    assert labels.X.attrs["scale"] == pytest.approx(1.3)
    paths = write_outputs(tmp_path / "out", labels, image=sub)
    back = read_image(paths["labels"])
    assert back.X.attrs["scale"] == pytest.approx(1.3) and back.Y.attrs["scale"] == pytest.approx(1.3)
    table = pd.read_csv(paths["table"])
    first = table[table["frame"] == 0] if "frame" in table else table
    pixels = int((np.asarray(labels[0]) == first["label"].iloc[0]).sum())
    assert pixels == 5 * 6  # the 10 x 12 block, every other pixel
    assert first["area"].iloc[0] == pytest.approx(pixels * 1.3 ** 2)


# -- 2. and 3. decreasing and uneven coordinates -----------------------------------------------------------

def _plane(y):
    data = np.random.default_rng(1).normal(0, 1, (y.size, 32)).astype(np.float32)
    return xr.DataArray(data, dims=("Y", "X"), coords={"Y": y, "X": np.arange(32) * 0.5})


def test_decreasing_coords_are_refused_with_the_flip_to_do():
    x = _plane(np.arange(32)[::-1] * 0.5)
    with pytest.raises(InputError, match=r"The Y coordinates decrease .*isel\(Y=slice\(None, None, -1\)\)"):
        I.to_dataarray(x)
    flipped = I.to_dataarray(x.isel(Y=slice(None, None, -1)))
    assert flipped.Y.attrs["scale"] == 0.5
    np.testing.assert_array_equal(flipped.values, x.values[::-1])


def test_decreasing_coords_never_reach_the_tiff_writer(tmp_path):
    from labelfree.io import write_labels

    labels = xr.DataArray(np.ones((8, 8), np.uint16), dims=("Y", "X"),
                          coords={"Y": np.arange(8)[::-1] * 0.5, "X": np.arange(8) * 0.5})
    with pytest.raises(InputError, match="The Y coordinates decrease"):  # was struct.error deep in tifffile
        write_labels(tmp_path / "l.tif", labels)
    assert not list(tmp_path.iterdir())


def test_uneven_coords_are_refused():
    y = np.r_[np.arange(16), np.arange(16) * 3 + 30].astype(float)
    with pytest.raises(InputError, match=r"Y coordinates are not evenly spaced .*15 to 30 at index 15.*"
                                         r"regular pixel grid.*drop_vars\('Y'\)"):
        I.to_dataarray(_plane(y))
    with pytest.raises(InputError, match="Y coordinates do not increase|Y coordinates are not evenly"):
        I.to_dataarray(_plane(np.zeros(32)))
    # rounding in the last digits is no unevenness
    rounded = I.to_dataarray(_plane(np.round(np.arange(32) * 0.65, 6)))
    assert rounded.Y.attrs["scale"] == pytest.approx(0.65)


def test_frames_picked_from_a_movie_keep_their_times():
    mv = _movie(n_t=6)
    picked = mv.isel(T=[0, 1, 5])  # T not evenly spaced: the frames keep their times, no error
    da = I.to_dataarray(picked)
    np.testing.assert_array_equal(da["T"].values, [0.0, 300.0, 1500.0])
    assert da["T"].attrs == {"units": "s", "scale": 300.0}


# -- 4. durations and time stamps on T ---------------------------------------------------------------------

def test_timedelta_T_is_a_frame_interval_in_seconds_and_round_trips(tmp_path):
    from labelfree.io import read_image, write_labels

    data = np.zeros((4, 8, 8), np.uint16)
    data[:, 2:5, 2:5] = 1
    t = pd.timedelta_range("10min", periods=4, freq="5min")
    labels = xr.DataArray(data, dims=("T", "Y", "X"), coords={"T": t})
    da = I.to_dataarray(labels)
    assert da["T"].attrs == {"units": "s", "scale": 300.0}
    np.testing.assert_array_equal(da["T"].values, [600.0, 900.0, 1200.0, 1500.0])  # the origin is kept
    assert I.scale_of(labels, "T") == 300.0 and I.units_of(labels, "T") == "s"
    back = read_image(write_labels(tmp_path / "l.tif", labels))
    assert back["T"].attrs == {"units": "s", "scale": 300.0}
    np.testing.assert_array_equal(back.values, data)


def test_datetime_T_counts_seconds_from_the_first_frame_and_round_trips(tmp_path):
    from labelfree.io import read_image, write_outputs

    data = np.zeros((3, 8, 8), np.uint16)
    data[:, 1:4, 1:4] = 2
    t = pd.date_range("2024-01-01 10:00", periods=3, freq="90s")
    labels = xr.DataArray(data, dims=("T", "Y", "X"), coords={"T": t})
    da = I.to_dataarray(labels)
    np.testing.assert_array_equal(da["T"].values, [0.0, 90.0, 180.0])  # was 0, 1, 2 frames
    assert da["T"].attrs == {"units": "s", "scale": 90.0, "start": "2024-01-01T10:00:00"}
    paths = write_outputs(tmp_path / "out", labels)
    back = read_image(paths["labels"])
    assert back["T"].attrs == {"units": "s", "scale": 90.0}
    np.testing.assert_array_equal(back["T"].values, [0.0, 90.0, 180.0])
    aware = labels.assign_coords(T=pd.date_range("2024-01-01 10:00", periods=3, freq="90s", tz="Europe/Paris"))
    assert I.to_dataarray(aware)["T"].attrs["start"] == "2024-01-01T10:00:00+01:00"


# -- 5. channel-last colour ----------------------------------------------------------------------------------

def test_no_dims_hint_names_channel_last_colour():
    rgb = np.zeros((64, 48, 3), np.uint8)
    with pytest.raises(DimensionError, match=r"channel-last colour .*dims='YXC'") as info:
        I.to_dataarray(rgb)
    assert "'TYX'" not in str(info.value)
    with pytest.raises(DimensionError, match=r"dims='TYXC' \(or 'ZYXC' for a z-stack\)"):
        I.to_dataarray(np.zeros((5, 64, 48, 4), np.uint8))
    with pytest.raises(DimensionError, match=r"e\.g\. dims='TYX' for a time-lapse") as info:
        I.to_dataarray(np.zeros((3, 64, 48), np.uint8))  # channel-first: the usual hint
    assert "looks like channel-last" not in str(info.value)


def test_channel_last_dims_are_accepted():
    rgb = np.arange(16 * 20 * 3, dtype=np.uint8).reshape(16, 20, 3)
    da = I.to_dataarray(rgb, dims="YXC")
    assert da.dims == ("C", "Y", "X")
    np.testing.assert_array_equal(da.isel(C=2).values, rgb[..., 2])
    movie = np.zeros((2, 16, 20, 4), np.uint8)
    movie[1, ..., 3] = 7
    da = I.to_dataarray(movie, dims="TYXC")
    assert da.dims == ("T", "C", "Y", "X") and int(da.isel(T=1, C=3).max()) == 7


def test_channel_last_array_named_as_planes_is_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="labelfree.image"):
        da = I.to_dataarray(np.zeros((64, 48, 3), np.uint8), dims="TYX")
    assert da.sizes["X"] == 3
    assert any("dims='YXC'" in r.getMessage() for r in caplog.records)


def test_threshold_on_rgb_points_to_YXC():
    import labelfree.threshold as threshold

    with pytest.raises(DimensionError, match="dims='YXC'"):
        threshold.segment(np.zeros((64, 48, 3), np.uint8))


def test_long_channel_lists_are_cut_short():
    many = I.to_dataarray(np.random.default_rng(2).integers(0, 9, (512, 8, 8)).astype(np.uint8), dims="CYX")
    with pytest.raises(DimensionError) as info:
        I.one_channel(many)
    text = str(info.value)
    assert "['C0', 'C1', 'C2', 'C3', 'C4', 'C5', ..., 'C511'] (512 in all)" in text and len(text) < 500
    with pytest.raises(InputError) as info:
        I.select_channel(many, "GFP")
    assert "(512 in all)" in str(info.value) and "C300" not in str(info.value)
    with pytest.raises(InputError) as info:
        I.select_channel(many, 600)
    assert "(512 in all)" in str(info.value) and "C300" not in str(info.value)


def test_calibrated_markers_on_a_subsampled_image_use_its_pixel_size(tmp_path):
    """A points CSV in microns placed markers with the attribute the subsampling left (0.5), not the spacing (1.0)."""
    from labelfree.io import read_markers

    image = I.to_dataarray(np.zeros((64, 64), np.uint16), scale=0.5, units="micron")
    sub = image[::2, ::2]
    table = tmp_path / "points.csv"
    table.write_text(" ,X,Y\n1,10.0,6.0\n")  # ImageJ's Results (calibrated): x 10 µm, y 6 µm
    assert np.asarray(read_markers(table, image=sub)).tolist() == [[6.0, 10.0]]  # 1 µm a pixel
    assert np.asarray(read_markers(table, image=image)).tolist() == [[12.0, 20.0]]  # 0.5 µm a pixel


def test_z_planes_given_to_a_channel_pipeline_are_offered_as_channels():
    """Cutter on a (Z, Y, X) image of two planes said to project or pick a plane; they may be its channels."""
    import labelfree.cutter

    two = I.to_dataarray(np.zeros((2, 32, 32), np.uint16), dims="ZYX")
    with pytest.raises(DimensionError, match=r"If the planes are channels .* --dims CYX \(Python: dims='CYX'"):
        labelfree.cutter.segment(two, markers=np.array([[16.0, 16.0]]))
