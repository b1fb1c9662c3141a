"""TIFFs read as their pixels mean: palettes, MinIsWhite, invalid OME-XML, short ImageJ metadata, float16."""

import logging

import numpy as np
import pytest
import tifffile

from labelfree.errors import DimensionError, InputError
from labelfree.image import channel_names
from labelfree.io import read_image, read_labels

PIL = pytest.importorskip("PIL.Image")
LOG = "labelfree.io.tiff"


def _grey(shape=(40, 48), seed=0) -> np.ndarray:
    """A smooth 8-bit picture with a bright blob: quantizing it keeps its order of brightness."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    rng = np.random.default_rng(seed)
    img = 40 + 150 * np.exp(-((yy - 20) ** 2 + (xx - 22) ** 2) / 120.0) + rng.normal(0, 3, shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name == LOG]


def test_a_quantized_grey_palette_reads_as_its_grey_values_and_labels_keep_the_indices(tmp_path, caplog):
    g = _grey()
    path = tmp_path / "p16.tif"
    PIL.fromarray(g).quantize(16).save(path)  # Pillow writes PhotometricInterpretation 3 (palette)
    shown = np.asarray(PIL.open(path).convert("L"))
    indices = np.asarray(PIL.open(path))
    assert indices.max() <= 15 and np.corrcoef(indices.ravel(), g.ravel())[0, 1] < 0  # raw indices: no intensities
    with caplog.at_level(logging.INFO, logger=LOG):
        da = read_image(path)
    assert da.dims == ("Y", "X") and da.dtype == np.uint8
    assert np.array_equal(da.values, shown)
    assert np.corrcoef(da.values.ravel(), g.ravel())[0, 1] > 0.95
    said = _warnings(caplog)
    assert len(said) == 1 and "palette's grey values (uint8)" in said[0] and "read_labels" in said[0]
    assert np.array_equal(read_labels(path), indices)  # a label image keeps its indices


def test_a_colour_palette_reads_as_r_g_b_channels_also_lazily(tmp_path, caplog):
    g = _grey()
    rgb = np.stack([g, g // 2, 255 - g], -1)
    path = tmp_path / "pc.tif"
    PIL.fromarray(rgb).quantize(64).save(path)
    shown = np.moveaxis(np.asarray(PIL.open(path).convert("RGB")), -1, 0)
    with caplog.at_level(logging.WARNING, logger=LOG):
        da = read_image(path)
    assert da.dims == ("C", "Y", "X") and channel_names(da) == ["R", "G", "B"]
    assert np.array_equal(da.values, shown)
    assert "colours as channels R, G, B" in _warnings(caplog)[0]
    lazy = read_image(path, lazy=True)
    assert lazy.dims == ("C", "Y", "X") and np.array_equal(lazy.values, shown)
    assert np.array_equal(read_image(path, dims="YX").values, shown)  # dims name the stored axes
    assert np.array_equal(read_labels(path), np.asarray(PIL.open(path)))


def test_display_luts_keep_the_stored_values_as_fiji_shows_them(tmp_path, caplog):
    rng = np.random.default_rng(1)
    data = rng.integers(0, 200, (20, 24)).astype(np.uint8)
    green = np.zeros((3, 256), np.uint16)
    green[1] = np.arange(256) * 257  # ImageJ's Green LUT: a ramp
    tifffile.imwrite(tmp_path / "green.tif", data, photometric="palette", colormap=green)
    glasbey = rng.integers(0, 65536, (3, 256)).astype(np.uint16)  # no ramp, but saved by ImageJ: its values are data
    tifffile.imwrite(tmp_path / "ij.tif", data, imagej=True, photometric="palette", colormap=glasbey)
    with caplog.at_level(logging.WARNING, logger=LOG):
        for name in ("green.tif", "ij.tif"):
            da = read_image(tmp_path / name)
            assert da.dims == ("Y", "X") and np.array_equal(da.values, data)
    assert _warnings(caplog) == []


@pytest.mark.parametrize("how", ["miniswhite", "falling_palette"])
def test_an_image_stored_inverted_keeps_its_values_with_a_warning(tmp_path, caplog, how):
    data = np.random.default_rng(2).integers(0, 65535 if how == "miniswhite" else 255, (16, 18))
    data = data.astype(np.uint16 if how == "miniswhite" else np.uint8)
    path = tmp_path / f"{how}.tif"
    if how == "miniswhite":
        tifffile.imwrite(path, data, photometric="miniswhite")
    else:  # an 8-bit image with an inverting LUT, as ImageJ saves one
        falling = np.repeat(((255 - np.arange(256)) * 257)[None].astype(np.uint16), 3, axis=0)
        tifffile.imwrite(path, data, photometric="palette", colormap=falling)
    with caplog.at_level(logging.WARNING, logger=LOG):
        da = read_image(path)
    assert np.array_equal(da.values, data)  # the values Fiji shows and measures
    said = _warnings(caplog)
    assert len(said) == 1 and "stored inverted" in said[0] and "--set dark_objects=true" in said[0]
    assert "Edit > Invert" in said[0]


def _ome_movie(tmp_path):
    data = np.random.default_rng(3).integers(0, 255, (5, 12, 14)).astype(np.uint8)
    good = tmp_path / "ok.ome.tif"
    tifffile.imwrite(good, data, metadata={"axes": "TYX"})
    return data, good.read_bytes()


@pytest.mark.parametrize("damage", [(b"<Pixels", b"<Pixelz"), (b"</OME>", b"</OMX>")])
def test_invalid_ome_xml_is_read_as_a_plain_tiff_with_a_warning(tmp_path, caplog, damage):
    data, raw = _ome_movie(tmp_path)
    path = tmp_path / "broken.ome.tif"
    path.write_bytes(raw.replace(*damage, 1) if damage[0] == b"<Pixels" else raw.replace(*damage))
    with caplog.at_level(logging.WARNING, logger=LOG):
        da = read_image(path, dims="TYX")
    assert da.dims == ("T", "Y", "X") and np.array_equal(da.values, data)
    said = _warnings(caplog)
    assert len(said) == 1 and "OME metadata is invalid" in said[0] and "not well-formed" in said[0]
    with pytest.raises(DimensionError, match=r"--dims TYX.*OME metadata, which would record them, is invalid"):
        read_image(path)


def test_imagej_metadata_counting_fewer_images_than_pages_is_said_and_dims_read_all(tmp_path, caplog):
    data = np.random.default_rng(4).integers(0, 255, (5, 10, 12)).astype(np.uint8)
    good = tmp_path / "ok.tif"
    tifffile.imwrite(good, data, imagej=True, metadata={"axes": "TYX"})
    raw = good.read_bytes()
    assert b"images=5" in raw
    path = tmp_path / "short.tif"
    path.write_bytes(raw.replace(b"images=5", b"images=3").replace(b"frames=5", b"frames=3"))
    with caplog.at_level(logging.WARNING, logger=LOG):
        da = read_image(path)
    assert da.shape == (3, 10, 12) and np.array_equal(da.values, data[:3])  # as Fiji opens it
    said = _warnings(caplog)
    assert len(said) == 1 and "holds 3 images but the file has 5 pages" in said[0] and "--dims TYX" in said[0]
    for lazy in (False, True):
        every = read_image(path, dims="TYX", lazy=lazy)
        assert every.dims == ("T", "Y", "X") and np.array_equal(np.asarray(every.values), data)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOG):
        assert read_labels(path).shape == (3, 10, 12)  # a label file: said too, without --dims
    said = _warnings(caplog)
    assert len(said) == 1 and "holds 3 images but the file has 5 pages" in said[0] and "--dims" not in said[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOG):
        assert read_image(good).shape == (5, 10, 12)
    assert _warnings(caplog) == []


@pytest.mark.parametrize("kw", [{}, {"memmap": True}, {"lazy": True}])
def test_float16_is_read_as_float32_exactly(tmp_path, kw):
    data = (np.random.default_rng(5).standard_normal((2, 9, 11)) * 100).astype(np.float16)
    data[0, 0, 0] = np.float16(65504)  # the largest float16
    path = tmp_path / "h.tif"
    tifffile.imwrite(path, data, imagej=False, metadata={"axes": "TYX"})
    da = read_image(path, dims="TYX", **kw)
    assert da.dtype == np.float32
    assert np.array_equal(np.asarray(da.values), data.astype(np.float32))


def test_a_zarr_store_without_ngff_metadata_says_how_to_convert(tmp_path):
    zarr = pytest.importorskip("zarr")
    store = tmp_path / "plain.zarr"
    group = zarr.open_group(str(store), mode="w")
    make = group.create_array if hasattr(group, "create_array") else group.create_dataset  # zarr 3 / zarr 2
    make("arr", shape=(8, 8), dtype="u2")
    with pytest.raises(InputError, match="Zarr store without OME-Zarr metadata") as info:
        read_image(store)
    assert "bioformats2raw" in str(info.value) and "ome-zarr-py" in str(info.value) and "TIFF" in str(info.value)


def test_a_fire_like_display_lut_written_by_another_program_keeps_its_values(tmp_path):
    """A display LUT whose channels do not each rise (Fire: blue rises, falls and rises) but whose brightness
    never falls is a LUT of intensities, as Fiji shows it: the stored values, not R, G, B."""
    i = np.arange(256)
    blue = np.where(i < 64, 2 * i, np.where(i < 128, 127 - (i - 64), np.clip(63 + 1.5 * (i - 128), 0, 255)))
    fire = np.stack([np.minimum(255, 2 * i), np.clip(2 * i - 255, 0, 255), blue]).astype(np.int64)
    assert np.all(np.diff(fire.sum(axis=0)) >= 0) and np.any(np.diff(fire[2]) < 0)
    image = (np.arange(64 * 64).reshape(64, 64) % 251).astype(np.uint8)
    tifffile.imwrite(tmp_path / "fire.tif", image, photometric="palette", colormap=(fire * 257).astype(np.uint16))
    da = read_image(tmp_path / "fire.tif")
    assert da.dims == ("Y", "X") and np.array_equal(da.values, image)
