"""Screening data as a plate reader saves it: OME-Zarr HCS plates (NGFF 0.4 and 0.5 ``plate`` / ``well`` metadata,
plate/row/column/field), one file per position of a multi-file OME-TIFF (Micro-Manager), and channels saved as
files of their own (``A01_f00_w1.tif``, ``A01_f00_w2.tif``). The batch side is in tests/batch/test_plate_inputs.py."""

from __future__ import annotations

import logging
import uuid

import numpy as np
import pytest
import tifffile
import xarray as xr

from labelfree.cli import main
from labelfree.errors import InputError
from labelfree.image import scale_of, to_dataarray
from labelfree.io import output_stem, read_image, write_ngff

zarr = pytest.importorskip("zarr")

VERSIONS = ("0.4", "0.5")
#: the corners of the bright squares of a field (field k of a plate has k of them)
CORNERS = [(4 + 14 * (i // 3), 4 + 14 * (i % 3)) for i in range(9)]


def field_image(n: int) -> np.ndarray:
    """A 48 x 48 uint16 field of ``n`` bright 8 x 8 squares (1 to 9) on a dim, slightly noisy background."""
    img = np.random.default_rng(n).integers(90, 110, (48, 48)).astype(np.uint16)
    for y, x in CORNERS[:n]:
        img[y:y + 8, x:x + 8] = 1000
    return img


def write_plate(path, version: str, wells: dict[str, list[str]], *, missing: tuple[str, ...] = ()) -> dict[str, int]:
    """An HCS plate as the NGFF spec lays it out: ``path/<row>/<column>/<field>``, the ``plate`` metadata (rows,
    columns, wells with path, rowIndex, columnIndex) at the top and ``well`` metadata (images with path) in each
    well; NGFF 0.4 on zarr v2, 0.5 on zarr v3 (under ``ome``). ``wells`` maps a well's path (``"A/1"``) to the
    fields its metadata lists; the fields in ``missing`` (``"A/2/1"``) are listed but not written. Field number k
    (in the order written, from 1) holds k squares (:func:`field_image`); returns the squares of each field."""
    fmt = 2 if version == "0.4" else 3
    counts: dict[str, int] = {}
    for well, fields in wells.items():
        for field in fields:
            rel = f"{well}/{field}"
            if rel not in missing:
                counts[rel] = len(counts) + 1
                image = to_dataarray(xr.DataArray(field_image(counts[rel]), dims=("Y", "X")),
                                     scale={"Y": 0.5, "X": 0.5}, units={"Y": "µm", "X": "µm"})
                write_ngff(path / rel, image, version=version)
    rows = sorted({w.split("/")[0] for w in wells})
    columns = sorted({w.split("/")[1] for w in wells})
    plate = {"name": "screen", "field_count": max(len(f) for f in wells.values()),
             "rows": [{"name": r} for r in rows], "columns": [{"name": c} for c in columns],
             "wells": [{"path": w, "rowIndex": rows.index(w.split("/")[0]),
                        "columnIndex": columns.index(w.split("/")[1])} for w in wells]}

    def ome(key, value):
        return {key: {**value, "version": "0.4"}} if version == "0.4" else {"ome": {"version": "0.5", key: value}}

    zarr.open_group(str(path), mode="a", zarr_format=fmt).attrs.update(ome("plate", plate))
    for row in rows:
        zarr.open_group(str(path / row), mode="a", zarr_format=fmt)
    for well, fields in wells.items():
        images = {"images": [{"path": f, "acquisition": 0} for f in fields]}
        zarr.open_group(str(path / well), mode="a", zarr_format=fmt).attrs.update(ome("well", images))
    return counts


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("labelfree")]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_field_is_named_after_its_plate_row_column_and_field_on_the_command_line(tmp_path, version):
    """``labelfree threshold plate.zarr/A/2/0 -o out`` wrote ``0_labels.tif``, so field 0 of the next well into the
    same folder was refused: a field's outputs are ``plate_A_2_0_*``, named from the plate's own structure."""
    plate = tmp_path / "plate.zarr"
    counts = write_plate(plate, version, {"A/1": ["0"], "A/2": ["0", "1"]})
    assert output_stem(plate / "A" / "2" / "0") == "plate_A_2_0"
    assert output_stem(plate / "A" / "2" / "0" / "0") == "plate_A_2_0_0"  # the level-0 array of that field
    assert output_stem(plate / "A" / "2") == "2" and output_stem(plate) == "plate"  # not fields: as before
    out = tmp_path / "out"
    for field in ("A/1/0", "A/2/0", "A/2/1"):
        assert main(["threshold", str(plate / field), "-o", str(out), "-q"]) == 0
        labels = tifffile.imread(out / f"plate_{field.replace('/', '_')}_labels.tif")
        assert len(np.unique(labels)) - 1 == counts[field], field
    assert sorted(p.name for p in out.glob("*_labels.tif")) == [
        "plate_A_1_0_labels.tif", "plate_A_2_0_labels.tif", "plate_A_2_1_labels.tif"]


def test_stems_of_files_and_folders_that_are_no_fields_are_unchanged(tmp_path):
    tifffile.imwrite(tmp_path / "exp1.pos1.ome.tif", field_image(1))
    image = to_dataarray(xr.DataArray(field_image(2), dims=("Y", "X")))
    write_ngff(tmp_path / "big.ome.zarr", image, levels=2)
    write_ngff(tmp_path / "A" / "1" / "0", image)  # plate-like folders without plate and well metadata
    assert output_stem(tmp_path / "exp1.pos1.ome.tif") == "exp1.pos1"
    assert output_stem(tmp_path / "big.ome.zarr") == "big"
    assert output_stem(tmp_path / "big.ome.zarr" / "1") == "big_1"
    assert output_stem(tmp_path / "A" / "1" / "0") == "0"


@pytest.mark.parametrize("version", VERSIONS)
def test_series_for_a_plate_or_well_says_what_to_give_instead(tmp_path, version, capsys):
    """``labelfree threshold plate.zarr --series 0`` said "... is not one ... leave series out or give 0"
    although 0 was given: for a plate or well, no series is accepted; the message names a field to give."""
    plate = tmp_path / "plate.zarr"
    write_plate(plate, version, {"A/1": ["0", "1"], "B/3": ["0"]})
    for series in (0, 1):
        with pytest.raises(InputError) as caught:
            read_image(plate, series=series)
        text = str(caught.value)
        assert f"series={series} chooses an image series of a bioformats2raw container, but {plate} is an HCS plate " \
               "of 2 well(s) (A/1, B/3): series does not choose among its fields. Give one field's folder without " \
               f"series, e.g. {plate / 'A' / '1' / '0'}; or give the plate to labelfree batch" in text, text
        assert "leave series out or give 0" not in text
    with pytest.raises(InputError, match=r"is a well of an HCS plate with 2 field\(s\) \(0, 1\): series does not "
                                         r"choose among its fields.*e\.g\. .*A/1/0; or give the well to labelfree "
                                         r"batch"):
        read_image(plate / "A" / "1", series=0)
    capsys.readouterr()
    assert main(["threshold", str(plate), "--series", "0", "-o", str(tmp_path / "out"), "-q"]) != 0
    printed = capsys.readouterr().err
    assert "series=0 chooses an image series" in printed and "is an HCS plate of 2 well(s)" in printed, printed
    # an image takes series 0, and refuses another as before
    assert int(read_image(plate / "B" / "3" / "0", series=0).attrs["series"]) == 0
    with pytest.raises(InputError, match=r"an OME-Zarr image holds one image, series 0\): leave series out or give 0"):
        read_image(plate / "B" / "3" / "0", series=1)
    with pytest.raises(InputError, match=r"HCS plate of 2 well\(s\) \(A/1, B/3\).*e\.g\. .*A/1/0\. To segment every "
                                         r"field, give the plate to labelfree batch"):
        read_image(plate)


NS = "http://www.openmicroscopy.org/Schemas/OME/2016-06"


def write_multi_file(folder, positions: list[np.ndarray]) -> list[str]:
    """One file per position (``MMStack_PosN.ome.tif``, as Micro-Manager saves a multi-position acquisition), each
    (2, Y, X) with channels DAPI and GFP; every file's OME-XML lists every position with the file it is in."""
    names = [f"MMStack_Pos{k}.ome.tif" for k in range(len(positions))]
    ids = [f"urn:uuid:{uuid.uuid4()}" for _ in names]
    images = "".join(
        f'<Image ID="Image:{k}" Name="Pos{k}"><Pixels ID="Pixels:{k}" DimensionOrder="XYCZT" Type="uint16" '
        f'SizeX="{a.shape[2]}" SizeY="{a.shape[1]}" SizeC="2" SizeZ="1" SizeT="1" PhysicalSizeX="{0.1 * (k + 1):.1f}" '
        f'PhysicalSizeY="{0.1 * (k + 1):.1f}"><Channel ID="Channel:{k}:0" SamplesPerPixel="1" Name="DAPI"/>'
        f'<Channel ID="Channel:{k}:1" SamplesPerPixel="1" Name="GFP"/><TiffData IFD="0" FirstC="0" PlaneCount="2">'
        f'<UUID FileName="{names[k]}">{ids[k]}</UUID></TiffData></Pixels></Image>' for k, a in enumerate(positions))
    for k, array in enumerate(positions):
        xml = f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{NS}" UUID="{ids[k]}">{images}</OME>'
        tifffile.imwrite(folder / names[k], array, description=xml, photometric="minisblack", metadata=None)
    return names


def test_a_file_of_a_multi_file_ome_tiff_reads_its_own_position_without_a_warning(tmp_path, caplog):
    """Each file of a multi-file OME-TIFF was read right (its own position) but warned "holds 3 images ... reads
    only image 2 ... and ignores the others" (864 false warnings over a 96-well plate of 9 fields): the file's
    own position is no choice. A file that holds several positions itself still warns."""
    positions = [np.stack([field_image(k + 1), field_image(k + 1) // 2]) for k in range(3)]
    names = write_multi_file(tmp_path, positions)
    for k, name in enumerate(names):
        caplog.clear()
        with caplog.at_level(logging.INFO):
            image = read_image(tmp_path / name)
        np.testing.assert_array_equal(image.values, positions[k])
        assert list(image.coords["C"].values) == ["DAPI", "GFP"]
        assert scale_of(image, "X") == pytest.approx(0.1 * (k + 1))
        assert _warnings(caplog) == [], name
        notes = [r.getMessage() for r in caplog.records if "the one stored in this file" in r.getMessage()]
        assert len(notes) == 1 and f"reading image {k + 1} of the 3" in notes[0], notes
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # the command line: the same
        assert main(["threshold", str(tmp_path / names[1]), "--channel", "DAPI", "-o", str(tmp_path / "out"),
                     "-q"]) == 0
    assert _warnings(caplog) == []
    assert len(np.unique(tifffile.imread(tmp_path / "out" / "MMStack_Pos1_labels.tif"))) - 1 == 2
    one = tmp_path / "one.ome.tif"  # several positions in one file: reading the first is a choice, said
    with tifffile.TiffWriter(one, ome=True) as tw:
        for array in positions:
            tw.write(array, metadata={"axes": "CYX"}, photometric="minisblack")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        read_image(one)
    said = _warnings(caplog)
    assert len(said) == 1 and "holds 3 images" in said[0] and "ignores the others" in said[0], said


@pytest.mark.parametrize("names", [("A01_f00_w1.tif", "A01_f00_w2.tif"), ("cells_c0.tif", "cells_c1.tif"),
                                   ("field 3_ch1.tif", "field 3_ch2.tif"), ("C1-cells.tif", "C2-cells.tif"),
                                   ("img_channel000_position000_time000000000_z000.tif",
                                    "img_channel001_position000_time000000000_z000.tif")])
def test_channels_saved_as_files_are_read_as_frames_with_a_warning_saying_how_to_stack_them(tmp_path, caplog, names):
    """A folder of ``A01_f00_w1.tif`` and ``A01_f00_w2.tif`` (an HCS export, one file per channel) was read as a
    2-frame movie silently: it still is (what is read does not change), with one warning that says so and how to
    read them as channels."""
    planes = [field_image(3), field_image(3) // 2 + 7]
    for name, plane in zip(names, planes):
        tifffile.imwrite(tmp_path / name, plane)
    with caplog.at_level(logging.WARNING):
        movie = read_image(tmp_path)
    assert movie.dims == ("T", "Y", "X")
    np.testing.assert_array_equal(movie.values, np.stack(planes))
    said = _warnings(caplog)
    assert len(said) == 1, said
    assert f"The 2 image files of {tmp_path} differ only in a channel-like part of their names ({names[0]} to " \
           f"{names[1]}" in said[0] and "read as 2 time points, not as channels" in said[0], said
    assert "Image > Color > Merge Channels" in said[0] and "metadata={'axes': 'CYX'}" in said[0], said


@pytest.mark.parametrize("names", [("t000.tif", "t001.tif", "t002.tif"), ("cells1.tif", "cells2.tif"),
                                   ("img_channel000_position000_time000000000_z000.tif",
                                    "img_channel000_position000_time000000001_z000.tif")])
def test_frames_named_by_time_are_read_without_the_channel_warning(tmp_path, caplog, names):
    for k, name in enumerate(names):
        tifffile.imwrite(tmp_path / name, field_image(k + 1))
    with caplog.at_level(logging.WARNING):
        movie = read_image(tmp_path)
    assert movie.sizes["T"] == len(names) and _warnings(caplog) == []
