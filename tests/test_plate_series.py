"""``labelfree.io.image_series`` of an HCS plate or well: its fields are OME-Zarr images of their own (read by their
folders), not series that ``read_image(path, series=N)`` reads, so it lists them in its error and says what to give;
a field is an image of one series, as before."""

from __future__ import annotations

import pytest

from labelfree.errors import InputError
from labelfree.io import SeriesInfo, image_series, read_image

from test_hcs_plates import VERSIONS, write_plate

pytest.importorskip("zarr")


@pytest.mark.parametrize("version", VERSIONS)
def test_image_series_of_a_plate_lists_its_fields_and_says_what_to_give(tmp_path, version):
    """Was: "... is an HCS plate of 2 well(s) (A/1, B/3); LabelFree reads one image at a time: give one field", the
    read error, naming wells and not the fields there are, nor image_series."""
    plate = tmp_path / "plate.zarr"
    write_plate(plate, version, {"A/1": ["0", "1"], "B/3": ["0"], "C/2": ["0"]}, missing=("C/2/0",))
    with pytest.raises(InputError) as caught:
        image_series(plate)
    assert str(caught.value) == (
        f"{plate} is an HCS plate with 3 field(s) on disk (A/1/0, A/1/1, B/3/0). Each field is an OME-Zarr image "
        "of its own, read by its folder, not an image series of the plate: give a field's folder to image_series or "
        f"read_image (e.g. {plate / 'A' / '1' / '0'}); to segment every field, give the plate to labelfree batch "
        "(each field is an input).")
    with pytest.raises(InputError) as caught:
        image_series(plate / "A" / "1", own=True)
    assert str(caught.value).startswith(f"{plate / 'A' / '1'} is a well of an HCS plate with 2 field(s) on disk "
                                        "(0, 1). Each field is")
    assert f"(e.g. {plate / 'A' / '1' / '0'}); to segment every field, give the well to labelfree batch" \
        in str(caught.value)
    # each field listed is what image_series and read_image take
    for field, squares in (("A/1/0", 1), ("A/1/1", 2), ("B/3/0", 3)):
        assert image_series(plate / field) == [SeriesInfo(0, field.split("/")[-1], "YX", (48, 48))]
        assert int((read_image(plate / field).values == 1000).sum()) == 64 * squares


@pytest.mark.parametrize("version", VERSIONS)
def test_image_series_of_a_plate_without_fields_on_disk(tmp_path, version):
    plate = tmp_path / "plate.zarr"
    write_plate(plate, version, {"A/1": ["0"]}, missing=("A/1/0",))
    with pytest.raises(InputError) as caught:
        image_series(plate)
    assert str(caught.value).startswith(f"{plate} is an HCS plate with no field on disk. Each field is an OME-Zarr")
    assert f"(e.g. {plate / '<row>/<column>/<field>'})" in str(caught.value)
