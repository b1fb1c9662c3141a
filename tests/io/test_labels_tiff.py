import os

import numpy as np
import pytest
import tifffile
from traced_memory import traced_peak

from labelfree.errors import DimensionError, DTypeError, OutputError
from labelfree.image import scale_of, to_dataarray, units_of
from labelfree.io import glasbey_lut, read_image, read_provenance, write_labels


def _meta(path):
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        tags = {code: page.tags[code].value for code in (282, 320) if code in page.tags}
        return tif.imagej_metadata, tif.series[0].axes, tags


def test_round_trip_calibration_and_values(tmp_path, calibrated_tzyx):
    path = write_labels(tmp_path / "l.tif", calibrated_tzyx)
    back = read_image(path)
    assert back.dims == ("T", "Z", "Y", "X") and back.dtype == np.uint16
    assert np.array_equal(back.values, calibrated_tzyx.values)
    for d in "TZYX":
        assert scale_of(back, d) == scale_of(calibrated_tzyx, d)
        assert units_of(back, d) == units_of(calibrated_tzyx, d)
        np.testing.assert_allclose(back[d].values, calibrated_tzyx[d].values, rtol=0, atol=1e-9)


def test_imagej_metadata_lut_range_and_colormap(tmp_path, calibrated_tzyx):
    path = write_labels(tmp_path / "l.tif", calibrated_tzyx)
    meta, axes, page = _meta(path)
    assert axes == "TZYX"
    assert meta["frames"] == 3 and meta["slices"] == 2 and meta["hyperstack"] is True
    assert meta["unit"] == "um" and meta["spacing"] == 2.0
    assert meta["finterval"] == 5.0 and meta["tunit"] == "min"
    assert (meta["min"], meta["max"]) == (0, 300)
    assert tuple(meta["Ranges"]) == (0.0, 300.0)
    lut = np.asarray(meta["LUTs"]).reshape(3, 256)
    assert lut[:, 0].tolist() == [0, 0, 0]
    assert np.array_equal(lut, glasbey_lut())
    # ImageJ 1.x takes a single-channel LUT from the ColorMap tag (high byte of 16-bit entries)
    cmap = np.asarray(page[320]).reshape(3, 256)
    assert np.array_equal(cmap >> 8, glasbey_lut())
    assert page[282] == (20, 13)  # 1/0.65 px per µm, exact rational


def test_provenance_in_info_and_properties(tmp_path, calibrated_tzyx):
    path = write_labels(tmp_path / "l.tif", calibrated_tzyx)
    assert read_provenance(path) == calibrated_tzyx.attrs["labelfree"]
    meta, _, _ = _meta(path)
    assert meta["Info"].startswith("labelfree={")
    given = {"pipeline": "motion", "config": {"x": [1, 2]}}
    write_labels(path, calibrated_tzyx, provenance=given)
    assert read_provenance(path) == given


def test_no_provenance(tmp_path):
    path = write_labels(tmp_path / "l.tif", np.array([[0, 1], [2, 2]], np.uint8))
    assert read_provenance(path) is None
    assert read_image(path).dtype == np.uint16


def test_input_not_modified(tmp_path, calibrated_tzyx):
    before = calibrated_tzyx.copy(deep=True)
    write_labels(tmp_path / "l.tif", calibrated_tzyx)
    assert calibrated_tzyx.identical(before)


def test_many_labels_become_float32_with_warning(tmp_path):
    lab = np.arange(70000, dtype=np.uint32).reshape(200, 350)
    with pytest.warns(UserWarning, match="32-bit float"):
        path = write_labels(tmp_path / "big.tif", lab)
    back = tifffile.imread(path)
    assert back.dtype == np.float32
    assert np.array_equal(back.astype(np.uint32), lab)
    meta, _, _ = _meta(path)
    assert meta["max"] == 69999


def test_bool_mask_and_integral_float(tmp_path):
    write_labels(tmp_path / "m.tif", np.eye(4, dtype=bool))
    assert tifffile.imread(tmp_path / "m.tif").tolist() == np.eye(4, dtype=np.uint16).tolist()
    write_labels(tmp_path / "f.tif", np.array([[0.0, 3.0]]))
    assert tifffile.imread(tmp_path / "f.tif").tolist() == [[0, 3]]


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (np.array([[0.5, 1.0]]), DTypeError, "non-integer"),
        (np.array([[-1, 1]]), DTypeError, "negative"),
        (np.array([["a", "b"]]), DTypeError, "not a label image"),
        (np.zeros((2, 3, 4), np.uint16), DimensionError, "to_dataarray"),
        (to_dataarray(np.zeros((2, 3, 4), np.uint16), dims="CYX"), DimensionError, "no C axis"),
        (np.zeros((0, 4), np.uint16), DimensionError, "empty"),
    ],
)
def test_not_a_label_image(tmp_path, bad, error, match):
    with pytest.raises(error, match=match):
        write_labels(tmp_path / "x.tif", bad)
    assert os.listdir(tmp_path) == []


def test_missing_output_folder(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        write_labels(tmp_path / "no" / "x.tif", np.zeros((2, 2), np.uint8))


def test_failure_mid_write_leaves_nothing_and_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "l.tif"
    write_labels(path, np.ones((4, 4), np.uint16))
    old = path.read_bytes()
    real = tifffile.imwrite

    def broken(file, *args, **kwargs):
        real(file, *args, **kwargs)  # the temp file is complete ...
        with open(file, "r+b") as fh:
            fh.truncate(100)  # ... then damaged, and the writer fails
        raise OSError("disk full")

    monkeypatch.setattr(tifffile, "imwrite", broken)
    with pytest.raises(OSError, match="disk full"):
        write_labels(path, np.full((4, 4), 2, np.uint16))
    assert os.listdir(tmp_path) == ["l.tif"]
    assert path.read_bytes() == old


@pytest.mark.parametrize("dtype", [np.uint32, np.uint8, np.int64])
def test_labels_of_another_type_are_converted_plane_by_plane_as_they_are_written(tmp_path, dtype):
    """A label movie that is not uint16 (a merged uint32 movie, uint8 labels) is written as the uint16 file of its
    values, byte for byte, without a converted copy of the whole movie in memory (it held one more movie)."""
    rng = np.random.default_rng(0)
    movie = rng.integers(0, 200, (12, 3, 256, 256)).astype(dtype)
    da = to_dataarray(movie, dims="TZYX")
    write_labels(tmp_path / "as_uint16.tif", to_dataarray(movie.astype(np.uint16), dims="TZYX"))
    _, peak = traced_peak(write_labels, tmp_path / "converted.tif", da)
    assert (tmp_path / "converted.tif").read_bytes() == (tmp_path / "as_uint16.tif").read_bytes()
    assert peak < movie.size * 2 / 4, (peak, movie.size * 2)  # a uint16 copy of the movie: movie.size * 2 bytes
    with tifffile.TiffFile(tmp_path / "converted.tif") as tif:
        assert tif.series[0].axes == "TZYX" and tif.series[0].dtype == np.uint16
        np.testing.assert_array_equal(tif.asarray(), movie)


def test_a_lazily_read_tiff_is_closed_when_its_array_goes(tmp_path):
    """tifffile's zarr view keeps the files it read open: they were closed only by the garbage collector, with an
    unclosed-file ResourceWarning, in whatever code ran then (a test recording its thread's warnings got it)."""
    import gc
    import warnings

    path = tmp_path / "movie.tif"
    tifffile.imwrite(path, np.arange(3 * 16 * 16, dtype=np.uint16).reshape(3, 16, 16), imagej=True,
                     metadata={"axes": "TYX"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = read_image(path, lazy=True)
        assert int(image[2].sum().compute()) == int(np.arange(2 * 256, 3 * 256).sum())
        del image
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
