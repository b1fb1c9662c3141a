"""LabelFree Drift and Stitch on the images Fiji users have: odd titles, reruns, selections, RGB, hyperstacks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from test_imagej_robustness import _log, _show, _table, _untouched_dialog

pytestmark = pytest.mark.jvm

#: the drift (dy, dx) of each frame of :func:`_movie`, in pixels
SHIFTS = [[0, 0], [2, 3], [4, -1], [6, 2], [5, 5]]


@pytest.fixture
def clean(ij):
    """No image and an empty Log."""
    from scyjava import jimport

    from labelfree.imagej.jvm import _close_imagej_windows

    _close_imagej_windows()
    jimport("ij.IJ").log("\\Clear")


def _texture(seed: int, shape=(96, 96)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = ndi.gaussian_filter(rng.random(shape), 3)
    return (base - base.min()) / (base.max() - base.min())


def _movie(dtype=np.uint8) -> np.ndarray:
    """5 frames of 96 x 96: a smooth random texture drifted by SHIFTS."""
    base = _texture(0)
    movie = np.stack([np.roll(base, tuple(s), axis=(0, 1)) for s in SHIFTS])
    if dtype == np.float32:
        return movie.astype(np.float32)
    return (movie * (200 if dtype == np.uint8 else 3000) + 20).astype(dtype)


def _shifts(title: str) -> list[list[float]]:
    return _table(title)[["dy", "dx"]].to_numpy().tolist()


def _image(title: str):
    from scyjava import jimport

    imp = jimport("ij.WindowManager").getImage(title)
    assert imp is not None, f"no image titled {title}"
    return imp


def test_a_rerun_on_a_bracketed_title_makes_a_new_window_and_table(clean):
    """Was: a second '<title>-drift-corrected' window and the first run's table overwritten."""
    import labelfree.imagej as lij

    _show(_movie(), "cells [1] (copy).tif", dims="TYX")
    line = 'run("LabelFree Drift", "image=[cells [1] (copy).tif] subpixel=false");'
    lij.run_macro(line)
    lij.run_macro(line + " print(getTitle());")
    from scyjava import jimport

    titles = [str(t) for t in jimport("ij.WindowManager").getImageTitles()]
    assert titles == ["cells [1] (copy).tif", "cells [1] (copy).tif-drift-corrected",
                      "cells [1] (copy).tif-drift-corrected-1"]
    assert _log().strip().endswith("cells [1] (copy).tif-drift-corrected-1")
    assert _shifts("cells [1] (copy).tif-shifts") == _shifts("cells [1] (copy).tif-shifts-1") == SHIFTS


def test_stitch_rerun_makes_a_new_window(clean):
    import labelfree.imagej as lij

    big = (_texture(3, (168, 168)) * 1000).astype(np.float32)
    tiles = np.stack([big[y:y + 96, x:x + 96] for y in (0, 72) for x in (0, 72)])
    _show(tiles, "tiles [a] b", dims="ZYX")
    for _ in range(2):
        lij.run_macro('run("LabelFree Stitch", "image=[tiles [a] b] rows=2 cols=2");')
    assert _image("tiles [a] b-stitched-1").getWidth() == 168
    assert _table("tiles [a] b-positions-1")[["y", "x"]].to_numpy().tolist() == [[0, 0], [0, 72], [72, 0], [72, 72]]


def test_a_selection_is_where_the_drift_is_measured_as_correct_3d_drift_does(clean):
    """Left half: the drifting specimen; right half: a still, brighter pattern (dirt on the camera).
    Was: the selection ignored and the still pattern pulling the drift to 0."""
    from scyjava import jimport

    drifting, still = _movie(), (_texture(7) * 250).astype(np.uint8)
    movie = drifting.copy()
    movie[:, :, 48:] = still[:, 48:]
    imp = _show(movie, "stage", dims="TYX", scale={"X": 0.5, "Y": 0.5}, units={"X": "µm", "Y": "µm"})
    imp.setRoi(jimport("ij.gui.Roi")(4, 10, 36, 70))
    _untouched_dialog("LabelFree Drift", "stage")
    assert np.allclose(_shifts("stage-shifts"), SHIFTS, atol=0.03)  # the dialog's default: sub-pixel
    out = _image("stage-drift-corrected")
    assert (out.getWidth(), out.getHeight(), out.getNFrames()) == (96 + 6, 96 + 6, 5)  # the whole movie
    assert out.getCalibration().pixelWidth == 0.5
    assert imp.getRoi() is not None  # the user's selection stays
    assert "measured the drift inside the selection (x=4, y=10, 36x70 pixels" in _log()


def test_an_rgb_movie_is_measured_on_its_brightness_and_keeps_its_colours(clean):
    """Structure only in green. Was: measured on R (flat), random shifts."""
    import labelfree.imagej as lij

    green = _movie()
    flat = np.full_like(green, 40)
    imp = _show(np.stack([flat, green, flat], axis=1), "colour", dims="TCYX", channel_names=["R", "G", "B"])
    assert imp.getBitDepth() == 24
    _untouched_dialog("LabelFree Drift", "colour")
    assert np.allclose(_shifts("colour-shifts"), SHIFTS, atol=0.03)  # the dialog's default: sub-pixel
    out = _image("colour-drift-corrected")
    assert out.getBitDepth() == 24
    rgb = lij.imageplus_to_xarray(out).transpose("T", "C", "Y", "X").values
    assert (rgb[:, 0, 12:90, 12:90] == 40).all()
    assert np.abs(rgb[4, 1, 12:90, 12:90].astype(int) - rgb[0, 1, 12:90, 12:90]).mean() < 10  # green registered
    assert "measured the drift on the RGB image's brightness" in _log()
    lij.run_macro('selectImage("colour"); run("LabelFree Drift", "channel=R subpixel=false table=true");')
    assert "no usable match" in _log()  # R is flat: the user is told in the Log


def test_frames_without_a_usable_match_are_written_to_the_log_counted_from_1(clean):
    """Was: only in Python's logging, invisible in Fiji. Frames of pure noise are not moved (no match
    better than chance), and the Log names them as ImageJ counts frames."""
    import labelfree.imagej as lij

    noise = np.random.default_rng(1).integers(0, 255, (5, 96, 96)).astype(np.uint8)
    _show(noise, "noise", dims="TYX")
    lij.run_macro('selectImage("noise"); run("LabelFree Drift", "subpixel=false");')
    log_text = _log()
    assert "LabelFree Drift warning: no usable match" in log_text and "warning: drift:" not in log_text
    assert "for frames 2, 3, 4, 5 (the stack's frames, counted from 1)" in log_text and "0-based" not in log_text
    assert _shifts("noise-shifts") == [[0, 0]] * 5


@pytest.mark.parametrize("dtype, bits", [(np.uint8, 8), (np.uint16, 16), (np.float32, 32)])
def test_grey_stacks_keep_their_type_and_calibration(clean, dtype, bits):
    import labelfree.imagej as lij

    _show(_movie(dtype), "grey", dims="TYX", scale={"X": 0.5, "Y": 0.5, "T": 2.0},
          units={"X": "µm", "Y": "µm", "T": "s"})
    lij.run_macro('selectImage("grey"); run("LabelFree Drift", "subpixel=false");')
    assert _shifts("grey-shifts") == SHIFTS
    assert np.allclose(_table("grey-shifts")["dx_cal"], [s[1] * 0.5 for s in SHIFTS])
    assert _table("grey-shifts")["frame"].tolist() == [1, 2, 3, 4, 5]  # as the stack slider counts (was 0..4)
    out = _image("grey-drift-corrected")
    cal = out.getCalibration()
    assert out.getBitDepth() == bits and (cal.pixelWidth, str(cal.getUnit()), cal.frameInterval) == (0.5, "µm", 2.0)
    assert (cal.xOrigin, cal.yOrigin) == (5.0, 6.0)  # the grown canvas starts at (-5, -6) px of the first frame


def test_a_hyperstack_is_measured_on_the_chosen_channel_and_every_channel_is_shifted(clean):
    import labelfree.imagej as lij

    structure = _movie()
    second = (255 - structure).astype(np.uint8)  # a second channel drifting with it
    noise = np.random.default_rng(1).integers(0, 255, structure.shape).astype(np.uint8)
    _show(np.stack([noise, structure, second], axis=1), "hyper", dims="TCYX")
    lij.run_macro('selectImage("hyper"); run("LabelFree Drift", "channel=2 subpixel=false");')  # ImageJ counts from 1
    assert _shifts("hyper-shifts") == SHIFTS
    out = lij.imageplus_to_xarray(_image("hyper-drift-corrected")).transpose("T", "C", "Y", "X").values
    assert out.shape == (5, 3, 102, 102)
    inner = (slice(None), slice(12, 90), slice(12, 90))  # seen in every frame, away from np.roll's wrap
    for c in (1, 2):
        assert all(np.array_equal(out[t, c][inner[1:]], out[0, c][inner[1:]]) for t in range(5))


def test_a_single_frame_is_refused_with_a_clear_error(clean):
    import labelfree.imagej as lij
    from labelfree.errors import DimensionError

    _show(_movie()[0], "one", dims="YX")
    with pytest.raises(DimensionError, match="needs a time-lapse .*one has 1 frame"):
        lij.run_macro('selectImage("one"); run("LabelFree Drift", "subpixel=false");')
    _show(_movie(), "slices", dims="ZYX")
    with pytest.raises(DimensionError, match="Re-order Hyperstack"):
        lij.run_macro('selectImage("slices"); run("LabelFree Drift", "subpixel=false");')
