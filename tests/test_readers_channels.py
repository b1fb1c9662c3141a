"""Channels by name: exact names first, then the one name equal ignoring case; near misses suggested."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from labelfree.errors import InputError
from labelfree.image import channel_index, select_channel, select_channels, to_dataarray
from labelfree.io.tiff import read_image


def _image(names: list[str]):
    data = np.arange(len(names) * 12, dtype=np.uint16).reshape(len(names), 3, 4)
    return to_dataarray(data, dims="CYX", channel_names=names)


def test_a_name_in_another_case_selects_the_channel_of_a_file(tmp_path) -> None:
    path = tmp_path / "two.tif"
    data = np.stack([np.full((4, 5), 1, np.uint16), np.full((4, 5), 2, np.uint16)])
    tifffile.imwrite(path, data, imagej=True, metadata={"axes": "CYX", "Labels": ["DAPI", "GFP"]})
    image = read_image(path)
    assert list(image.coords["C"].values) == ["DAPI", "GFP"]
    picked = select_channel(image, "gfp")
    assert str(picked.coords["C"].values) == "GFP" and int(picked.values.max()) == 2
    assert channel_index(image, "Dapi") == 0


def test_the_exact_name_has_priority_over_a_match_ignoring_case() -> None:
    image = _image(["gfp", "GFP"])
    assert channel_index(image, "GFP") == 1
    assert channel_index(image, "gfp") == 0


def test_two_names_equal_ignoring_case_are_not_guessed() -> None:
    with pytest.raises(InputError, match=r"Channel 'Gfp' not found; channels \['gfp', 'GFP'\] differ from it only "
                                         r"in upper and lower case"):
        channel_index(_image(["gfp", "GFP"]), "Gfp")


def test_a_near_miss_is_suggested() -> None:
    with pytest.raises(InputError, match=r"Channel 'DAP' not found; the image has channels \['DAPI', 'GFP'\] "
                                         r"\(names or 0-based indices\)\. Did you mean 'DAPI'\?$"):
        channel_index(_image(["DAPI", "GFP"]), "DAP")


def test_a_name_far_from_every_channel_gets_no_suggestion() -> None:
    with pytest.raises(InputError, match=r"the image has channels \['DAPI', 'GFP'\] \(names or 0-based indices\)\.$"):
        channel_index(_image(["DAPI", "GFP"]), "brightfield")


def test_several_channels_in_another_case() -> None:
    picked = select_channels(_image(["DAPI", "GFP", "RFP"]), "rfp,dapi")
    assert list(picked.coords["C"].values) == ["RFP", "DAPI"]
    with pytest.raises(InputError, match="Channel GFP is chosen more than once"):
        select_channels(_image(["DAPI", "GFP", "RFP"]), "gfp,GFP")


def test_the_name_of_a_one_channel_image_in_another_case() -> None:
    image = to_dataarray(np.zeros((3, 4), np.uint8), channel_names=["GFP"])
    assert select_channel(image, "gfp") is image


def test_fusion_and_fijis_drift_take_a_channel_name_in_another_case():
    """Fusion's --channels and the drift correction run by Fiji matched names exactly: 'gfp' was "not found"."""
    from labelfree.fusion.segment import _resolve_channels
    from labelfree.imagej.registration import _drift_options
    from labelfree.registration import DriftConfig

    assert _resolve_channels(["DAPI", "GFP"], ["gfp", 0]) == ["GFP", "DAPI"]
    with pytest.raises(InputError, match="Did you mean 'GFP'"):
        _resolve_channels(["DAPI", "GFP"], ["gpf"])
    sizes = {"T": 3, "C": 2, "Y": 32, "X": 32}
    assert _drift_options(DriftConfig(channel="gfp"), ["DAPI", "GFP"], sizes, 2) == _drift_options(
        DriftConfig(channel=1), ["DAPI", "GFP"], sizes, 2)
