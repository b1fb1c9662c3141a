"""Choosing the image series of a TIFF that holds several (positions of a multi-position OME-TIFF, previews):
``read_image(path, series=N)``, ``read_array(path, series=N)`` and ``--series N``; and the reader's messages about
such files (tifffile's "Missing data are zeroed" line, the "holds N images" warning said once by ``eval``)."""

import json
import logging

import numpy as np
import pytest
import tifffile
from test_readers_series import _movie, _write_multi_file

from labelfree.cli import main
from labelfree.errors import InputError
from labelfree.image import channel_names, scale_of
from labelfree.io import read_image
from labelfree.io.tiff import read_array

HOWS = ({}, {"memmap": True}, {"lazy": True})


def _positions(path):
    """A multi-position OME-TIFF of one file (tifffile.TiffWriter, one write per position), each position of
    its own shape, pixel size and channels; returns the arrays written."""
    rng = np.random.default_rng(11)
    arrays = [rng.integers(0, 4000, (3, 2, 32, 40), dtype=np.uint16),   # T, C, Y, X
              rng.integers(0, 4000, (4, 24, 20), dtype=np.uint16),      # Z, Y, X
              rng.integers(0, 4000, (2, 3, 16, 16), dtype=np.uint16)]   # T, C, Y, X
    meta = [{"axes": "TCYX", "Name": "A1", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5,
             "Channel": {"Name": ["DAPI", "GFP"]}},
            {"axes": "ZYX", "Name": "B2", "PhysicalSizeX": 0.25, "PhysicalSizeY": 0.25, "PhysicalSizeZ": 2.0},
            {"axes": "TCYX", "Name": "C3", "PhysicalSizeX": 1.5, "PhysicalSizeY": 1.5,
             "Channel": {"Name": ["BF", "RFP", "CFP"]}}]
    with tifffile.TiffWriter(path, ome=True) as tw:
        for array, m in zip(arrays, meta):
            tw.write(array, metadata=m)
    return arrays


def _warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_series_reads_the_chosen_position_with_its_own_calibration_and_channel_names(tmp_path, caplog):
    """A multi-position OME-TIFF gave only its first position, with a warning saying to save the others from Fiji:
    series=N reads position N (values, axes, pixel size, Z step, channel names), silently, whichever way it is
    read; without series the first is read and the warning says how to choose another."""
    path = tmp_path / "plate.ome.tif"
    arrays = _positions(path)
    expected = [(("T", "C", "Y", "X"), 0.5, ["DAPI", "GFP"]), (("Z", "Y", "X"), 0.25, None),
                (("T", "C", "Y", "X"), 1.5, ["BF", "RFP", "CFP"])]
    for k, (dims, scale, names) in enumerate(expected):
        for how in HOWS:
            caplog.clear()
            with caplog.at_level(logging.INFO):
                da = read_image(path, series=k, **how)
            np.testing.assert_array_equal(np.asarray(da.values), arrays[k])
            assert da.dims == dims and scale_of(da, "X") == pytest.approx(scale), (k, how)
            assert (channel_names(da) if "C" in da.dims else None) == names, (k, how)
            assert da.attrs["series"] == k and da.attrs["source"] == str(path)
            assert _warnings(caplog) == [], (k, how)
        np.testing.assert_array_equal(read_array(path, series=k), arrays[k])
    assert scale_of(read_image(path, series=1), "Z") == pytest.approx(2.0)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        da = read_image(path)
    np.testing.assert_array_equal(da.values, arrays[0])
    said = _warnings(caplog)
    assert len(said) == 1 and "holds 3 images" in said[0] and "series" not in da.attrs
    assert "read_image(path, series=1), command line --series 1" in said[0], said


def test_any_position_of_a_multi_file_ome_tiff_is_read_from_any_of_its_files(tmp_path, caplog):
    """Position 1 asked of position 0's file is read from Pos1.ome.tif with its own calibration; memory-mapped,
    it is not position 0's file mapped at position 1's offsets (tifffile.memmap gives position 0's pixels)."""
    first, second = _movie(3, 20), _movie(3, 21, 2000)
    _write_multi_file(tmp_path, {"Pos0.ome.tif": first, "Pos1.ome.tif": second},
                      [("Pos0", 3, 0.1, [("Pos0.ome.tif", 0, 3)]), ("Pos1", 3, 0.2, [("Pos1.ome.tif", 0, 3)])])
    for name in ("Pos0.ome.tif", "Pos1.ome.tif"):
        for k, (pixels, scale) in enumerate(((first, 0.1), (second, 0.2))):
            for how in HOWS:
                caplog.clear()
                with caplog.at_level(logging.WARNING):
                    da = read_image(tmp_path / name, series=k, **how)
                np.testing.assert_array_equal(np.asarray(da.values), pixels, err_msg=f"{name} {k} {how}")
                assert scale_of(da, "X") == pytest.approx(scale) and _warnings(caplog) == []
            np.testing.assert_array_equal(read_array(tmp_path / name, series=k), pixels)


def test_a_series_the_file_does_not_hold_or_a_preview_is_an_error_listing_the_series(tmp_path):
    path = tmp_path / "plate.ome.tif"
    _positions(path)
    listing = (r"3 image series, counted from 0 \(index, name: axes, shape\): 0 'A1': TCYX \(3, 2, 32, 40\); "
               r"1 'B2': ZYX \(4, 24, 20\); 2 'C3': TCYX \(2, 3, 16, 16\)")
    for bad in (3, -1):
        for how in HOWS:
            with pytest.raises(InputError, match=rf"has no series {bad}: it holds {listing}\. Give a whole number "
                                                 r"from 0 to 2\."):
                read_image(path, series=bad, **how)
        with pytest.raises(InputError, match=listing):
            read_array(path, series=bad)
    for bad in (True, 1.5, "1"):
        with pytest.raises(InputError, match=rf"series={bad!r} is not the index of an image series: give a whole "
                                             rf"number from 0 to 2\. .*holds {listing}"):
            read_image(path, series=bad)
    assert read_image(path, series=np.int64(2)).attrs["series"] == 2  # a numpy integer is an index
    image = np.random.default_rng(12).integers(0, 1000, (128, 128), dtype=np.uint16)
    preview = tmp_path / "preview_first.tif"
    with tifffile.TiffWriter(preview) as tw:
        tw.write(image[::8, ::8], subfiletype=1, photometric="minisblack")
        tw.write(image, photometric="minisblack")
    with pytest.raises(InputError, match=r"Series 0 of .*preview_first\.tif is a reduced-resolution copy \(a preview "
                                         r"of another image\), not an image to segment: give a full-resolution "
                                         r"series \(1\)\. The file holds 2 image series, counted from 0 \(index, "
                                         r"name: axes, shape\): 0: YX \(16, 16\), reduced resolution; 1: YX"):
        read_image(preview, series=0)
    np.testing.assert_array_equal(read_image(preview, series=1).values, image)


def test_an_ome_zarr_image_is_series_0_and_holds_no_other(tmp_path):
    pytest.importorskip("zarr")
    from labelfree.io import write_ngff

    tiff = _one_image(tmp_path)
    write_ngff(tmp_path / "image.zarr", read_image(tiff))
    with pytest.raises(InputError, match=r"series=1 chooses an image series of a bioformats2raw container, but "
                                         r".*image\.zarr is not one \(an OME-Zarr image holds one image, series 0\)"):
        read_image(tmp_path / "image.zarr", series=1)
    with pytest.raises(InputError, match=r"series=True chooses an image series"):
        read_image(tmp_path / "image.zarr", series=True)
    assert read_image(tmp_path / "image.zarr").dims == ("Y", "X")
    # series 0 is the one image, as it is of a TIFF of one image (a batch run with --series 0 reads both)
    for path in (tmp_path / "image.zarr", tiff):
        chosen = read_image(path, series=0)
        assert chosen.attrs["series"] == 0 and chosen.dims == ("Y", "X")
        np.testing.assert_array_equal(chosen.values, read_image(tiff).values)


def _one_image(folder):
    path = folder / "one.tif"
    tifffile.imwrite(path, _movie(1, 13)[0], imagej=True)
    return path


def _three_positions_without_the_first(folder):
    """A multi-file OME-TIFF of three positions (one file each, pixel size 0.1, 0.2, 0.3) whose Pos0.ome.tif is gone."""
    movies = [_movie(3, 30 + k, 1000 * k) for k in range(3)]
    _write_multi_file(folder, {f"Pos{k}.ome.tif": m for k, m in enumerate(movies)},
                      [(f"Pos{k}", 3, 0.1 * (k + 1), [(f"Pos{k}.ome.tif", 0, 3)]) for k in range(3)])
    (folder / "Pos0.ome.tif").unlink()
    return movies


def test_a_missing_file_of_an_unused_position_is_said_by_labelfree_not_by_tifffile(tmp_path, caplog):
    """Position 1's file read without position 0's: tifffile's "OME series failed to read 'Pos0.ome.tif' ...
    Missing data are zeroed" came as a warning, although no plane of the image read is missing. Now LabelFree
    says that the images in Pos0.ome.tif are not read, at INFO (in the "holds N images" warning when it is given)."""
    caplog.set_level(logging.INFO, logger="tifffile")  # the command line quiets tifffile (an earlier test's main())
    movies = _three_positions_without_the_first(tmp_path)
    for how in HOWS:
        caplog.clear()
        with caplog.at_level(logging.INFO):
            da = read_image(tmp_path / "Pos1.ome.tif", **how)  # its own position, the first of the two series left
        np.testing.assert_array_equal(np.asarray(da.values), movies[1])
        assert scale_of(da, "X") == pytest.approx(0.2), how
        said = _warnings(caplog)
        assert said == [], said  # its own position: no choice, no warning
        infos = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
        assert "also describes images stored in Pos0.ome.tif, which is not in" in infos, infos
        assert "failed to read 'Pos0.ome.tif'" in infos and "Missing data are zeroed (tifffile)" in infos, infos
    (tmp_path / "alone").mkdir()
    (tmp_path / "alone" / "Pos1.ome.tif").write_bytes((tmp_path / "Pos1.ome.tif").read_bytes())
    for read in (read_image, read_array):
        caplog.clear()
        with caplog.at_level(logging.INFO):
            np.testing.assert_array_equal(np.asarray(read(tmp_path / "alone" / "Pos1.ome.tif")), movies[1])
        assert _warnings(caplog) == [], read
        infos = " ".join(r.getMessage() for r in caplog.records)
        assert "also describes images stored in Pos0.ome.tif, Pos2.ome.tif, which are not in" in infos, infos


def test_series_are_counted_without_the_images_whose_files_are_missing(tmp_path, caplog):
    movies = _three_positions_without_the_first(tmp_path)
    for k, name in enumerate(("Pos1.ome.tif", "Pos2.ome.tif")):
        for how in HOWS:
            caplog.clear()
            with caplog.at_level(logging.WARNING):
                da = read_image(tmp_path / name, series=1 - k, **how)  # the other position
            np.testing.assert_array_equal(np.asarray(da.values), movies[2 - k])
            assert scale_of(da, "X") == pytest.approx(0.3 - 0.1 * k) and _warnings(caplog) == [], (name, how)
    with pytest.raises(InputError, match=r"has no series 2: it holds 2 image series, counted from 0 \(index, name: "
                                         r"axes, shape\): 0 'Pos1': TYX \(3, 32, 32\); 1 'Pos2': TYX \(3, 32, 32\); "
                                         r"its OME metadata also describes images stored in Pos0\.ome\.tif, which "
                                         r"is not in .*: those images are not read, nor counted among its series\."):
        read_image(tmp_path / "Pos1.ome.tif", series=2)


def test_series_on_the_command_line_segments_that_position_into_its_own_outputs(tmp_path, capsys):
    """``labelfree threshold plate.ome.tif --series 1``: the second position, with its calibration, into
    plate_series1_*; its provenance records the command. A series the file lacks is an error listing them."""
    path = tmp_path / "plate.ome.tif"
    blobs = np.zeros((48, 48), np.uint16)
    blobs[5:15, 5:15], blobs[25:40, 20:35] = 900, 700
    with tifffile.TiffWriter(path, ome=True) as tw:
        tw.write(_movie(2, 14), metadata={"axes": "TYX", "Name": "Pos0", "PhysicalSizeX": 0.1, "PhysicalSizeY": 0.1})
        tw.write(blobs + 100, metadata={"axes": "YX", "Name": "Pos1", "PhysicalSizeX": 0.4, "PhysicalSizeY": 0.4})
    out = tmp_path / "out"
    assert main(["threshold", str(path), "--series", "1", "-o", str(out), "--no-progress", "-q"]) == 0
    err = capsys.readouterr().err
    assert "holds 2 images" not in err, err
    labels = read_image(out / "plate_series1_labels.tif")
    assert labels.dims == ("Y", "X") and scale_of(labels, "X") == pytest.approx(0.4)
    assert len(np.unique(labels.values)) == 3 and labels.values[10, 10] and labels.values[30, 25]
    record = json.loads((out / "plate_series1_provenance.json").read_text(encoding="utf-8"))
    assert "--series 1" in json.dumps(record), record
    before = sorted(p.name for p in out.iterdir())
    assert main(["threshold", str(path), "--series", "2", "-o", str(out), "--no-progress", "-q"]) == 1
    err = capsys.readouterr().err
    assert "has no series 2: it holds 2 image series, counted from 0 (index, name: axes, shape): 0 'Pos0': TYX " \
           "(2, 32, 32); 1 'Pos1': YX (48, 48). Give a whole number from 0 to 1." in err, err
    assert sorted(p.name for p in out.iterdir()) == before
    with pytest.raises(SystemExit) as exit_:
        main(["threshold", str(path), "--series", "-1", "-o", str(out)])
    assert exit_.value.code == 2
    assert "expected the index of an image series, a whole number from 0" in capsys.readouterr().err
    assert "--series N" in _help(["threshold"]) and "--series N" in _help(["fusion", "segment"])


def _help(words):
    import contextlib
    import io

    text = io.StringIO()
    with contextlib.redirect_stdout(text), contextlib.suppress(SystemExit):
        main([*words, "--help"])
    return text.getvalue()


def test_eval_warns_once_about_a_file_of_several_images(tmp_path, capsys, caplog):
    """``labelfree eval`` of a multi-position prediction against a ground truth of another size said "holds 2
    images" twice: once reading the labels, once more reading the file's axes for the error."""
    labels = np.zeros((2, 24, 24), np.uint8)
    labels[:, 2:8, 2:8], labels[:, 12:20, 12:20] = 1, 2
    pred = tmp_path / "positions.ome.tif"
    with tifffile.TiffWriter(pred, ome=True) as tw:
        for k in range(2):
            tw.write(labels, metadata={"axes": "TYX", "Name": f"Pos{k}"})
    gt = tmp_path / "gt.tif"
    tifffile.imwrite(gt, labels[:, :20], imagej=True, metadata={"axes": "TYX"})
    with caplog.at_level(logging.WARNING):
        assert main(["eval", str(pred), str(gt)]) == 1
    said = _warnings(caplog)
    assert len(said) == 1 and "positions.ome.tif holds 2 images" in said[0], said
    err = capsys.readouterr().err
    assert "positions.ome.tif has axes T=2, Y=24, X=24, but gt.tif has axes T=2, Y=20, X=24" in err, err


def test_fusion_names_the_one_channel_of_the_chosen_position(tmp_path):
    """Fusion names a one-channel image's channel from its file: the chosen position's name, not the first
    position's (read with series=1 it was called 'DAPI')."""
    from labelfree.fusion.channels import with_channel_axis

    path = tmp_path / "two.ome.tif"
    rng = np.random.default_rng(3)
    with tifffile.TiffWriter(path, ome=True) as tw:
        for name in ("DAPI", "GFP"):
            tw.write(rng.integers(0, 4000, (24, 20), dtype=np.uint16),
                     metadata={"axes": "YX", "Channel": {"Name": [name]}})
    named = [list(with_channel_axis(read_image(path, series=k)).coords["C"].values) for k in (0, 1)]
    assert named == [["DAPI"], ["GFP"]]
