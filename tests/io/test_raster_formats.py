"""PNG, JPEG, BMP, GIF and PGM pictures as inputs: read_image, read_array / read_labels, eval, batch, names."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from labelfree.batch import collect_inputs
from labelfree.cli import main
from labelfree.errors import CorruptFileError, DimensionError, InputError
from labelfree.image import channel_names, merge_identical_channels, scale_of, units_of
from labelfree.io import output_stem, read_image, read_labels, read_provenance
from labelfree.io.tiff import read_array

RNG = np.random.default_rng(7)
GREY8 = RNG.integers(0, 256, (12, 17), dtype=np.uint8)
GREY16 = RNG.integers(0, 65536, (12, 17), dtype=np.uint16)
RGB8 = RNG.integers(0, 256, (12, 17, 3), dtype=np.uint8)


def _dsb() -> tuple[np.ndarray, np.ndarray]:
    """A crop of the Data Science Bowl 2018 image (8-bit values stored in 16 bits) and its label image."""
    root = Path(os.environ.get("LABELFREE_SHARED_DATA", Path(__file__).parents[3] / "shared" / "data"))
    folder = root / "misc" / "stardist_dsb2018"
    if not (folder / "img2d.tif").is_file():
        pytest.skip(f"the Data Science Bowl sample is not in {folder} (set LABELFREE_SHARED_DATA)")
    img = tifffile.imread(folder / "img2d.tif")[:256, :256]
    mask = tifffile.imread(folder / "mask2d.tif")[:256, :256]
    assert img.max() < 256 and mask.max() > 20  # 8-bit values; many nuclei in the crop
    return img, mask


# -- the DSB / Cellpose layout: img.png + img_masks.png ------------------------------------------------------------

def test_png_image_and_16_bit_mask_give_the_results_of_the_tiffs(tmp_path, capsys):
    img, mask = _dsb()
    tifffile.imwrite(tmp_path / "cells.tif", img)
    tifffile.imwrite(tmp_path / "cells_masks.tif", mask)
    Image.fromarray(img.astype(np.uint8)).save(tmp_path / "cells.png")
    Image.fromarray(mask).save(tmp_path / "cells_masks.png")  # 16-bit grey, as Cellpose writes masks
    da = read_image(tmp_path / "cells.png")
    assert da.dims == ("Y", "X") and da.dtype == np.uint8 and np.array_equal(da.values, img)
    labels = read_labels(tmp_path / "cells_masks.png")
    assert labels.dtype == np.uint16 and np.array_equal(labels, mask)
    for source, out in (("cells.png", "png_out"), ("cells.tif", "tif_out")):
        assert main(["threshold", str(tmp_path / source), "-o", str(tmp_path / out)]) == 0
    capsys.readouterr()
    from_png = tifffile.imread(tmp_path / "png_out" / "cells_labels.tif")  # the stem without .png
    assert from_png.max() > 10 and np.array_equal(from_png, tifffile.imread(tmp_path / "tif_out" / "cells_labels.tif"))
    scores = []
    for truth in ("cells_masks.png", "cells_masks.tif"):
        assert main(["eval", str(tmp_path / "png_out" / "cells_labels.tif"), str(tmp_path / truth), "--json"]) == 0
        scores.append(json.loads(capsys.readouterr().out))
    assert scores[0] == scores[1] and scores[0]["tp"] > 5


# -- what each kind of picture reads as ----------------------------------------------------------------------------

def _save(path: Path, array: np.ndarray, mode: str | None = None, **kw) -> Path:
    Image.fromarray(array, mode=mode).save(path, **kw) if mode else Image.fromarray(array).save(path, **kw)
    return path


@pytest.mark.parametrize("name, data", [("g8.png", GREY8), ("g16.png", GREY16), ("g8.bmp", GREY8), ("g8.gif", GREY8),
                                        ("g16.pgm", GREY16), ("g8.pgm", GREY8)])
def test_grey_pictures_read_exactly_as_one_plane_in_pixels(tmp_path, name, data):
    da = read_image(_save(tmp_path / name, data))
    assert da.dims == ("Y", "X") and da.dtype == data.dtype and np.array_equal(da.values, data)
    assert scale_of(da, "X") == 1.0 and units_of(da, "X") == "pixel"
    assert np.array_equal(read_array(tmp_path / name), data)


@pytest.mark.parametrize("name", ["c.png", "c.bmp"])
def test_colour_pictures_are_channels_r_g_b(tmp_path, name):
    da = read_image(_save(tmp_path / name, RGB8))
    assert da.dims == ("C", "Y", "X") and channel_names(da) == ["R", "G", "B"]
    assert np.array_equal(da.values, RGB8.transpose(2, 0, 1))
    assert np.array_equal(read_array(tmp_path / name), RGB8)  # the stored samples, as for an RGB TIFF


def test_sixteen_bit_colour_png_is_read_exactly(tmp_path):
    import imagecodecs

    rgb = RNG.integers(0, 65536, (9, 11, 3), dtype=np.uint16)
    (tmp_path / "c16.png").write_bytes(imagecodecs.png_encode(rgb))
    da = read_image(tmp_path / "c16.png")
    assert da.dtype == np.uint16 and channel_names(da) == ["R", "G", "B"]
    assert np.array_equal(da.values, rgb.transpose(2, 0, 1))


def test_opaque_alpha_is_dropped_and_transparency_is_channel_a(tmp_path, caplog):
    opaque = np.dstack([RGB8, np.full(GREY8.shape, 255, np.uint8)])
    da = read_image(_save(tmp_path / "opaque.png", opaque))
    assert channel_names(da) == ["R", "G", "B"] and np.array_equal(da.values, RGB8.transpose(2, 0, 1))
    grey = read_image(_save(tmp_path / "la.png", np.dstack([GREY8, np.full(GREY8.shape, 255, np.uint8)]), "LA"))
    assert grey.dims == ("Y", "X") and np.array_equal(grey.values, GREY8)
    seen = np.dstack([RGB8, GREY8])
    with caplog.at_level(logging.INFO, logger="labelfree.io.raster"):
        da = read_image(_save(tmp_path / "seen.png", seen))
    assert channel_names(da) == ["R", "G", "B", "A"] and np.array_equal(da.values, seen.transpose(2, 0, 1))
    assert "not opaque" in caplog.text


def test_palette_pictures_grey_as_values_colour_as_rgb_and_indices_for_read_array(tmp_path):
    index = RNG.integers(0, 4, GREY8.shape, dtype=np.uint8)
    grey = Image.fromarray(index, mode="P")
    grey.putpalette([0, 0, 0, 60, 60, 60, 120, 120, 120, 250, 250, 250])
    grey.save(tmp_path / "grey.png")
    assert np.array_equal(read_image(tmp_path / "grey.png").values, np.array([0, 60, 120, 250])[index])
    colour = Image.fromarray(index, mode="P")
    colour.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])
    for name in ("colour.png", "colour.gif", "colour.bmp"):
        colour.save(tmp_path / name)
        da = read_image(tmp_path / name)
        assert channel_names(da) == ["R", "G", "B"]
        assert np.array_equal(da.sel(C="G").values, np.where(index == 2, 255, 0))
        assert np.array_equal(read_labels(tmp_path / name), index)  # an index image of labels
    labels = np.zeros((20, 20), np.uint8)
    labels[2:8, 2:8], labels[10:18, 9:19] = 7, 3
    coded = Image.fromarray(np.array([1, 0, 0, 2, 0, 0, 0, 0], np.uint8)[labels], mode="P")
    coded.putpalette([7, 7, 7, 0, 0, 0, 3, 3, 3])  # a grey palette whose index 0 is not the value 0
    for name in ("labels.gif", "labels.png"):
        coded.save(tmp_path / name)
        assert Image.open(tmp_path / name).getpixel((0, 0)) == 1
        assert np.array_equal(read_labels(tmp_path / name), labels)
        assert np.array_equal(read_image(tmp_path / name).values, labels)


def test_one_bit_picture_reads_as_fiji_shows_it_and_as_labels_0_1(tmp_path):
    mask = GREY8 > 128
    Image.fromarray(mask).save(tmp_path / "mask.png")
    assert np.array_equal(read_image(tmp_path / "mask.png").values, np.where(mask, 255, 0))
    labels = read_labels(tmp_path / "mask.png")
    assert labels.dtype == np.uint8 and np.array_equal(labels, mask)


@pytest.mark.parametrize("name", ["grey_rgb.png", "grey_rgb.jpg"])
def test_grey_saved_as_colour_is_merged_to_one_grey_channel(tmp_path, name, caplog):
    img, _ = _dsb()
    grey = img.astype(np.uint8)
    _save(tmp_path / name, np.dstack([grey] * 3), quality=95)
    with caplog.at_level(logging.INFO, logger="labelfree.io.raster"):
        da = read_image(tmp_path / name)
    assert channel_names(da) == ["R", "G", "B"]
    merged = merge_identical_channels(da)
    assert "C" not in merged.dims
    if name.endswith(".png"):
        assert np.array_equal(merged.values, grey)
    else:  # lossy: close to the grey image, and the log says so
        assert np.abs(merged.values.astype(int) - grey).mean() < 2
        assert "lossy" in caplog.text


def test_print_resolution_is_not_a_pixel_size(tmp_path):
    _save(tmp_path / "dpi.png", GREY8, dpi=(300, 300))
    _save(tmp_path / "dpi.jpg", GREY8, dpi=(300, 300))
    for name in ("dpi.png", "dpi.jpg"):
        da = read_image(tmp_path / name)
        assert [scale_of(da, d) for d in "YX"] == [1.0, 1.0] and units_of(da, "Y") == "pixel"


def test_dims_channel_names_series_memmap_and_lazy(tmp_path, caplog):
    path = _save(tmp_path / "c.png", RGB8)
    da = read_image(path, channel_names=["DAPI", "GFP", "RFP"])
    assert channel_names(da) == ["DAPI", "GFP", "RFP"]
    assert read_image(path, dims="YXS").equals(read_image(path))
    with pytest.raises(DimensionError, match="one letter per axis"):
        read_image(path, dims="YX")
    assert read_image(path, series=0).attrs["series"] == 0
    with pytest.raises(InputError, match="holds one image"):
        read_image(path, series=1)
    with pytest.raises(InputError, match="holds one image"):
        read_array(path, series=2)
    with caplog.at_level(logging.INFO, logger="labelfree.io.raster"):
        for kw in ({"memmap": True}, {"lazy": True}):
            da = read_image(path, **kw)
            assert isinstance(da.data, np.ndarray) and np.array_equal(da.values, RGB8.transpose(2, 0, 1))
    assert "decoded into memory" in caplog.text


# -- labels --------------------------------------------------------------------------------------------------------

def test_colour_or_jpeg_label_pictures_are_refused_grey_as_rgb_is_read(tmp_path, capsys):
    labels = np.zeros((20, 20), np.uint8)
    labels[2:8, 2:8], labels[10:18, 9:19] = 1, 2
    colours = np.array([[0, 0, 0], [255, 0, 0], [0, 200, 90]], np.uint8)[labels]
    _save(tmp_path / "colour.png", colours)
    with pytest.raises(InputError, match="colour .RGB. picture, not a label image"):
        read_labels(tmp_path / "colour.png")
    _save(tmp_path / "labels.jpg", labels)
    with pytest.raises(InputError, match="JPEG: lossy"):
        read_labels(tmp_path / "labels.jpg")
    _save(tmp_path / "grey_rgb.png", np.dstack([labels] * 3))
    assert np.array_equal(read_labels(tmp_path / "grey_rgb.png"), labels)
    tifffile.imwrite(tmp_path / "pred.tif", labels.astype(np.uint16))
    assert main(["eval", str(tmp_path / "pred.tif"), str(tmp_path / "colour.png")]) == 1
    assert "not a label image" in capsys.readouterr().err
    assert read_provenance(tmp_path / "grey_rgb.png") is None


# -- files that are not pictures -----------------------------------------------------------------------------------

def test_damaged_misnamed_and_unknown_files_are_one_clear_error(tmp_path):
    whole = _save(tmp_path / "whole.png", GREY16).read_bytes()
    (tmp_path / "cut.png").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(CorruptFileError, match="damaged or truncated"):
        read_image(tmp_path / "cut.png")
    (tmp_path / "notes.png").write_text("cell,area\n1,20\n")
    with pytest.raises(InputError, match="not a PNG file, though named like one .it is a text file"):
        read_image(tmp_path / "notes.png")
    (tmp_path / "table.csv").write_text("cell,area\n1,20\n")
    with pytest.raises(InputError, match="not an image file that LabelFree reads .it is a text file.*save it as TIFF"):
        read_labels(tmp_path / "table.csv")
    (tmp_path / "scan.czi").write_bytes(b"ZISRAWFILE" + bytes(100))
    with pytest.raises(InputError, match="Zeiss CZI.*OME-TIFF.*bfconvert scan.czi scan.ome.tif"):
        read_image(tmp_path / "scan.czi")
    (tmp_path / "png.tif").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))  # a PNG named .tif, damaged
    with pytest.raises(CorruptFileError, match="not a TIFF.*holds a PNG"):
        read_image(tmp_path / "png.tif")
    frames = [Image.fromarray(GREY8), Image.fromarray(255 - GREY8)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    with pytest.raises(InputError, match="holds 2 frames.*save the stack as TIFF"):
        read_image(tmp_path / "anim.gif")


def test_a_huge_picture_is_a_clear_error_before_it_is_decoded(tmp_path):
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)  # 400 million pixels, 8-bit grey
    data = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(20001))) + chunk(b"IEND", b"")
    (tmp_path / "huge.png").write_bytes(b"\x89PNG\r\n\x1a\n" + data)
    with pytest.raises(InputError, match="more than .* pixels.*save it as TIFF"):
        read_image(tmp_path / "huge.png")


def test_a_png_named_tif_is_read_by_its_content(tmp_path):
    _save(tmp_path / "renamed.tif", GREY16, format="PNG")
    assert np.array_equal(read_image(tmp_path / "renamed.tif").values, GREY16)


# -- names and batch -----------------------------------------------------------------------------------------------

def test_output_stems_and_batch_inputs_take_pictures(tmp_path):
    assert [output_stem(n) for n in ("img001.png", "a.b.JPEG", "x.jpg", "scan.bmp", "m.gif", "g.pgm")] == [
        "img001", "a.b", "x", "scan", "m", "g"]
    folder = tmp_path / "pngs"
    folder.mkdir()
    for name in ("img001.png", "img002.jpg", "img003.bmp"):
        _save(folder / name, GREY8)
    (folder / "notes.txt").write_text("x")
    items = collect_inputs(folder)
    assert [(it.path.name, it.stem) for it in items] == [
        ("img001.png", "img001"), ("img002.jpg", "img002"), ("img003.bmp", "img003")]
    assert [it.path.name for it in collect_inputs(str(folder / "*"))] == ["img001.png", "img002.jpg", "img003.bmp"]
    tifffile.imwrite(folder / "img001.tif", GREY8)  # one name in two formats: the format tells them apart
    assert sorted(it.stem for it in collect_inputs(folder)) == ["img001_png", "img001_tif", "img002", "img003"]


def test_batch_runs_a_folder_of_pngs_beside_earlier_outputs(tmp_path, capsys, caplog):
    img = np.full((40, 40), 10, np.uint8)
    img[5:15, 5:15] = img[22:34, 20:36] = 200
    folder = tmp_path / "in"
    folder.mkdir()
    _save(folder / "a.png", img)
    _save(folder / "b.jpg", img, quality=100)
    out = tmp_path / "out"
    with caplog.at_level(logging.INFO, logger="labelfree.batch.report"):
        assert main(["batch", str(folder), "-p", "threshold", "-o", str(out), "--scheduler", "sync",
                     "--no-progress"]) == 0
    assert "2 input(s): 2 ok" in capsys.readouterr().out
    # the report's thumbnails show the pictures under the labels (not the labels alone)
    assert sorted(p.name for p in (out / "report_files").iterdir()) == ["a.png", "b.png"]
    assert "not shown" not in caplog.text
    for stem in ("a", "b"):
        assert tifffile.imread(out / f"{stem}_labels.tif").max() == 2
    # the outputs of a run in the input folder, its overlay PNG among them, are not inputs of the next run
    digest = hashlib.sha256((folder / "a.png").read_bytes()).hexdigest()
    assert main(["threshold", str(folder / "a.png"), "-o", str(folder), "--overlay"]) == 0
    assert (folder / "a_overlay.png").is_file()
    assert [it.path.name for it in collect_inputs(folder)] == ["a.png", "b.jpg"]
    assert hashlib.sha256((folder / "a.png").read_bytes()).hexdigest() == digest


def test_help_names_the_picture_formats(capsys):
    with pytest.raises(SystemExit):
        main(["threshold", "--help"])
    assert "PNG, JPEG, BMP" in " ".join(capsys.readouterr().out.split())
