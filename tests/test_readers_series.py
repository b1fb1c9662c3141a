"""Which image of a TIFF is read: OME-TIFFs of several images or files, pyramids, thumbnails, multi-sample pixels."""

import logging
import uuid

import numpy as np
import pytest
import tifffile

from labelfree.errors import CorruptFileError, DimensionError
from labelfree.image import channel_names, scale_of, validate_image
from labelfree.io import read_image
from labelfree.io.tiff import read_array

NS = "http://www.openmicroscopy.org/Schemas/OME/2016-06"


def _image_xml(index, name, size, planes, scale):
    """One OME Image of (T, 32, 32) uint16 planes; ``planes``: (file name, uuid, first T, count) per TiffData."""
    blocks = "".join(f'<TiffData FirstT="{t}" IFD="0" PlaneCount="{n}"><UUID FileName="{f}">{u}</UUID></TiffData>'
                     for f, u, t, n in planes)
    return (f'<Image ID="Image:{index}" Name="{name}"><Pixels ID="Pixels:{index}" DimensionOrder="XYCZT" '
            f'Type="uint16" SizeX="32" SizeY="32" SizeC="1" SizeZ="1" SizeT="{size}" PhysicalSizeX="{scale}" '
            f'PhysicalSizeY="{scale}"><Channel ID="Channel:{index}:0" SamplesPerPixel="1"/>{blocks}</Pixels></Image>')


def _write_multi_file(folder, files, images):
    """Write a multi-file OME-TIFF: ``files`` maps a file name to its (T, 32, 32) planes, ``images`` lists
    (name, size T, scale, [(file name, first T, count), ...]); every file carries the whole OME-XML."""
    ids = {name: f"urn:uuid:{uuid.uuid4()}" for name in files}
    body = "".join(_image_xml(k, name, size, [(f, ids[f], t, n) for f, t, n in parts], scale)
                   for k, (name, size, scale, parts) in enumerate(images))
    for name, planes in files.items():
        xml = f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{NS}" UUID="{ids[name]}">{body}</OME>'
        tifffile.imwrite(folder / name, planes, description=xml, metadata=None, photometric="minisblack")


def _movie(n, seed, offset=0):
    return np.random.default_rng(seed).integers(1, 1000, (n, 32, 32), dtype=np.uint16) + offset


def test_a_position_file_of_a_multi_file_ome_tiff_reads_its_own_position(tmp_path, caplog):
    """One file per position (as Micro-Manager saves a multi-position acquisition), each with the OME-XML of
    all positions: the second position's file was read with the first position's calibration (0.1 µm, not
    0.2), and lazily as the first position's pixels."""
    first, second = _movie(3, 0), _movie(3, 1, 2000)
    _write_multi_file(tmp_path, {"Pos0.ome.tif": first, "Pos1.ome.tif": second},
                      [("Pos0", 3, 0.1, [("Pos0.ome.tif", 0, 3)]), ("Pos1", 3, 0.2, [("Pos1.ome.tif", 0, 3)])])
    for name, pixels, scale in (("Pos0.ome.tif", first, 0.1), ("Pos1.ome.tif", second, 0.2)):
        for how in ({}, {"memmap": True}, {"lazy": True}):
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="labelfree.io.tiff"):
                da = read_image(tmp_path / name, **how)
            np.testing.assert_array_equal(np.asarray(da.values), pixels)
            assert da.dims == ("T", "Y", "X") and scale_of(da, "X") == pytest.approx(scale), (name, how)
            notes = [r.getMessage() for r in caplog.records]
            assert notes == [], notes  # a file's own position is no choice: no warning (INFO says which it is)
        np.testing.assert_array_equal(read_array(tmp_path / name), pixels)
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "Pos1.ome.tif").write_bytes((tmp_path / "Pos1.ome.tif").read_bytes())  # Pos0.ome.tif not there
    da = read_image(alone / "Pos1.ome.tif")
    np.testing.assert_array_equal(da.values, second)
    assert scale_of(da, "X") == pytest.approx(0.2)  # was 0.1, the absent first position's


def test_a_time_lapse_split_over_files_is_read_whole_or_refused_naming_the_missing_file(tmp_path):
    """A time-lapse saved in two files (as Micro-Manager splits long ones) lost its second file: the missing
    frames were read as black frames, said only by tifffile's log line."""
    movie = _movie(6, 2)
    whole = tmp_path / "whole"
    whole.mkdir()
    files = {"run_MMStack.ome.tif": movie[:3], "run_MMStack_1.ome.tif": movie[3:]}
    _write_multi_file(whole, files, [("Pos0", 6, 0.4, [("run_MMStack.ome.tif", 0, 3),
                                                       ("run_MMStack_1.ome.tif", 3, 3)])])
    for name in files:
        for how in ({}, {"memmap": True}, {"lazy": True}):
            da = read_image(whole / name, **how)
            np.testing.assert_array_equal(np.asarray(da.values), movie)
            assert scale_of(da, "X") == pytest.approx(0.4)
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "run_MMStack.ome.tif").write_bytes((whole / "run_MMStack.ome.tif").read_bytes())
    for how in ({}, {"memmap": True}, {"lazy": True}):
        with pytest.raises(CorruptFileError, match=r"multi-file OME-TIFF: 3 of the 6 planes of its image are in "
                                                   r"run_MMStack_1\.ome\.tif, which is not in .*cut\. Put all the "):
            read_image(cut / "run_MMStack.ome.tif", **how)
    with pytest.raises(CorruptFileError, match="run_MMStack_1.ome.tif"):
        read_array(cut / "run_MMStack.ome.tif")


def test_the_planes_of_a_multi_file_series_are_checked_against_their_own_file(tmp_path):
    """A frame stored in a larger partner file was called 'truncated: its image data runs past the end of
    the file' (its offsets were compared with the size of the file given)."""
    movie = _movie(12, 3)
    files = {"a.ome.tif": movie[:1], "b.ome.tif": movie[1:]}
    _write_multi_file(tmp_path, files, [("Pos0", 12, 0.5, [("a.ome.tif", 0, 1), ("b.ome.tif", 1, 11)])])
    np.testing.assert_array_equal(read_image(tmp_path / "a.ome.tif").values, movie)


def test_ome_planes_that_no_file_holds_are_an_error_not_black_frames(tmp_path):
    """An OME-TIFF announcing 5 frames that holds 3 (an acquisition stopped early) was read as 5 frames, the
    last 2 black: Motion then saw everything move between frames 3 and 4."""
    xml = (f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{NS}"><Image ID="Image:0" Name="t"><Pixels '
           'ID="Pixels:0" DimensionOrder="XYCZT" Type="uint16" SizeX="32" SizeY="32" SizeC="1" SizeZ="1" SizeT="5">'
           '<Channel ID="Channel:0:0" SamplesPerPixel="1"/><TiffData IFD="0" PlaneCount="3"/></Pixels></Image></OME>')
    path = tmp_path / "stopped.ome.tif"
    tifffile.imwrite(path, _movie(3, 4), description=xml, metadata=None, photometric="minisblack")
    for how in ({}, {"lazy": True}):
        with pytest.raises(CorruptFileError, match=r"announces 5 planes for its image but 2 of them are in no file"):
            read_image(path, **how)


def test_the_samples_of_a_pixel_are_channels_without_dims(tmp_path):
    """Multi-sample pixels that are not RGB (an OME-TIFF whose SizeC=5 are the 5 samples of each pixel, a
    2-sample plain TIFF) were refused: 'axes YXS are not recorded in the file; say what they are'."""
    movie = np.random.default_rng(5).integers(0, 4000, (4, 16, 20, 5), dtype=np.uint16)
    ome = tmp_path / "five.ome.tif"
    tifffile.imwrite(ome, movie, photometric="minisblack", planarconfig="contig", metadata={"axes": "TYXS"})
    da = read_image(ome)
    assert da.dims == ("T", "C", "Y", "X") and channel_names(da) == ["C0", "C1", "C2", "C3", "C4"]
    np.testing.assert_array_equal(da.values, movie.transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(read_image(ome, lazy=True).values, movie.transpose(0, 3, 1, 2))
    plain = tmp_path / "two.tif"
    tifffile.imwrite(plain, movie[0, ..., :2], photometric="minisblack", planarconfig="contig")
    da = read_image(plain)
    assert da.dims == ("C", "Y", "X") and "planar_rgb" not in da.attrs
    np.testing.assert_array_equal(da.sel(C="C1").values, movie[0, ..., 1])


def test_a_thumbnail_stored_before_the_image_is_not_what_is_read(tmp_path, caplog):
    """A TIFF whose first page is a reduced-resolution preview was read as that 32 x 32 preview."""
    image = np.random.default_rng(6).integers(0, 1000, (256, 256), dtype=np.uint16)
    path = tmp_path / "preview_first.tif"
    with tifffile.TiffWriter(path) as tw:
        tw.write(image[::8, ::8], subfiletype=1, photometric="minisblack")
        tw.write(image, photometric="minisblack")
    with caplog.at_level(logging.WARNING, logger="labelfree.io.tiff"):
        da = read_image(path)
    np.testing.assert_array_equal(da.values, image)
    notes = [r.getMessage() for r in caplog.records]
    assert len(notes) == 1 and "only image 2 (the images before it are reduced-resolution copies)" in notes[0]
    assert "1: YX (32, 32), reduced resolution" in notes[0], notes


def test_a_pyramid_reads_its_full_resolution_and_says_so(tmp_path, caplog):
    """A pyramidal OME-TIFF (sub-resolutions in SubIFDs, as tifffile, bioformats2raw + raw2ometiff and QuPath
    write them) is one image: its full resolution, with its calibration and channel names, no warning."""
    image = np.random.default_rng(7).integers(0, 1000, (2, 256, 256), dtype=np.uint16)
    path = tmp_path / "pyramid.ome.tif"
    with tifffile.TiffWriter(path, ome=True) as tw:
        tw.write(image, subifds=2, tile=(64, 64), metadata={"axes": "CYX", "PhysicalSizeX": 0.3, "PhysicalSizeY": 0.3,
                                                            "Channel": {"Name": ["DAPI", "GFP"]}})
        tw.write(image[:, ::2, ::2], subfiletype=1, tile=(64, 64))
        tw.write(image[:, ::4, ::4], subfiletype=1, tile=(64, 64))
    for how in ({}, {"lazy": True}):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="labelfree.io.tiff"):
            da = read_image(path, **how)
        np.testing.assert_array_equal(np.asarray(da.values), image)
        assert channel_names(da) == ["DAPI", "GFP"] and scale_of(da, "Y") == pytest.approx(0.3)
        assert [r.levelno for r in caplog.records] == [logging.INFO]
        assert "a pyramid of 3 resolutions (256x256, 128x128, 64x64); LabelFree reads the full resolution" in \
            caplog.records[0].getMessage()


def test_a_binary_only_ome_tiff_names_the_file_that_holds_its_metadata(tmp_path):
    """A binary-only OME-TIFF (its OME-XML in a companion file, as bfconvert writes with a .companion.ome)
    was refused as a file whose axes 'are not recorded', without a word of where they are."""
    xml = (f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{NS}" UUID="urn:uuid:{uuid.uuid4()}">'
           f'<BinaryOnly MetadataFile="run.companion.ome" UUID="urn:uuid:{uuid.uuid4()}"/></OME>')
    path = tmp_path / "run_0.ome.tif"
    tifffile.imwrite(path, _movie(3, 8), description=xml, metadata=None, photometric="minisblack")
    with pytest.raises(DimensionError, match=r"--dims TYX .* OME metadata \(axes, pixel size, channel names\) is kept "
                                             r"in run\.companion\.ome, which LabelFree does not read: open that file"):
        read_image(path)
    np.testing.assert_array_equal(read_image(path, dims="TYX").values, _movie(3, 8))


def test_slice_labels_that_name_planes_are_not_channel_names(tmp_path):
    """Fiji keeps the Bio-Formats importer's slice labels ('c:1/2; z:1/4; t:1/3 - exp.czi #1') and an image
    sequence's file names when it saves a hyperstack: they became the channel names, so --channel 'GFP' or a
    zoo's channel names could never match; an RGB movie's frame labels ('0.0 s', ...) replaced R, G, B."""
    data = np.zeros((3, 4, 2, 8, 10), np.uint16)
    data[:, :, 1] = 5
    bio_formats = [f"c:{c + 1}/2; z:{z + 1}/4; t:{t + 1}/3 - exp.czi #1" for t in range(3) for z in range(4)
                   for c in range(2)]
    files = [f"img_{t:03d}_{ch}.tif" for t in range(3) for z in range(4) for ch in ("DAPI", "GFP")]
    for name, labels in (("bf.tif", bio_formats), ("sequence.tif", files)):
        tifffile.imwrite(tmp_path / name, data, imagej=True, metadata={"axes": "TZCYX", "Labels": labels})
        da = read_image(tmp_path / name)
        assert channel_names(da) == ["C0", "C1"], name
        assert int(da.sel(C="C1").min()) == 5
    tifffile.imwrite(tmp_path / "bf_c.tif", data[0, 0], imagej=True,
                     metadata={"axes": "CYX", "Labels": ["c:1/2 - exp.czi #1", "c:2/2 - exp.czi #1"]})
    assert channel_names(read_image(tmp_path / "bf_c.tif")) == ["C0", "C1"]
    named = ["DAPI\nexposure 20 ms", "GFP", "DAPI", ""] * 12  # one name per channel in every plane (some empty)
    tifffile.imwrite(tmp_path / "named.tif", data, imagej=True, metadata={"axes": "TZCYX", "Labels": named[:24]})
    assert channel_names(read_image(tmp_path / "named.tif")) == ["DAPI", "GFP"]
    rgb = np.zeros((5, 8, 10, 3), np.uint8)
    rgb[..., 1] = 9
    movie = tmp_path / "rgb_movie.tif"
    tifffile.imwrite(movie, rgb, imagej=True, photometric="rgb",
                     metadata={"axes": "TYXS", "Labels": [f"{5.0 * t} s" for t in range(5)]})
    da = read_image(movie)
    assert channel_names(da) == ["R", "G", "B"] and int(da.sel(C="G").min()) == 9


def test_a_time_lapse_of_z_stacks_is_not_told_to_read_its_planes_as_time(tmp_path, capsys):
    """A TZYX time-lapse given to Cutter was told 'If the planes are really time points, read the file with
    --dims TYX': the file has T already, and --dims TYX on its 4 axes fails."""
    from labelfree.cli import main

    movie = np.stack([_movie(3, 9)] * 2, axis=1)  # (T, Z, Y, X)
    path = tmp_path / "tzyx.tif"
    tifffile.imwrite(path, movie, imagej=True, metadata={"axes": "TZYX"})
    assert main(["cutter", str(path), "-o", str(tmp_path / "o"), "--no-progress", "-q"]) != 0
    err = capsys.readouterr().err
    assert "unexpected Z" in err and "Z Project" in err and "time points" not in err, err
    stack = tmp_path / "czyx.tif"
    tifffile.imwrite(stack, np.stack([_movie(3, 9), _movie(3, 10)], axis=1), imagej=True, metadata={"axes": "ZCYX"})
    with pytest.raises(DimensionError, match="unexpected Z") as caught:
        validate_image(read_image(stack), allowed=("T", "C", "Y", "X"), name="Cutter input")
    assert "--dims TYX" not in str(caught.value) and "naming that axis T instead of Z" in str(caught.value)
    assert "--dims TYX" in _z_error(read_image(stack).isel(C=0))  # a plain z-stack: --dims TYX is right


def _z_error(image):
    with pytest.raises(DimensionError) as caught:
        validate_image(image, allowed=("T", "C", "Y", "X"), name="Cutter input")
    return str(caught.value)


def test_a_plain_tiff_of_few_planes_is_offered_as_channels_too(tmp_path):
    """A plain 2-plane TIFF (cells and nuclei saved by numpy) was offered --dims TYX or ZYX only; CYX is what it is."""
    from labelfree.errors import LabelFreeError
    from labelfree.io import read_image

    path = tmp_path / "two.tif"
    tifffile.imwrite(path, np.zeros((2, 32, 32), np.uint16))
    with pytest.raises(LabelFreeError, match=r"--dims ZYX for a z-stack, --dims CYX for channels \(e\.g\. cells and "):
        read_image(path)
    many = tmp_path / "many.tif"
    tifffile.imwrite(many, np.zeros((12, 32, 32), np.uint16))
    with pytest.raises(LabelFreeError) as err:
        read_image(many)
    assert "--dims CYX" not in str(err.value)  # twelve planes: a time-lapse or a z-stack, not channels
