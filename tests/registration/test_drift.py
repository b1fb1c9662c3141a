"""Drift correction: known synthetic drift on real time-lapses, canvases, re-applying shifts, errors."""


import numpy as np
import pandas as pd
import pytest
import tifffile
import xarray as xr
from scipy import ndimage as ndi

from labelfree.errors import ConfigError, DimensionError, FijiPluginMissingError, InputError
from labelfree.image import to_dataarray
from labelfree.registration import DriftConfig, apply_shifts, correct_drift, estimate_drift

MARGIN = 34


def _drifted(frames, drift):
    """Frames whose content moves by ``drift`` (T, 2) px, cut from inside the originals."""
    h, w = frames.shape[1:]
    moved = [ndi.shift(f.astype(np.float32), d, order=3, mode="nearest") for f, d in zip(frames, drift)]
    return np.stack(moved)[:, MARGIN:h - MARGIN, MARGIN:w - MARGIN]


def _random_drift(n, seed, *, integer):
    """A steady slide to about (27, -24) px plus random jitter of up to 3 px."""
    rng = np.random.default_rng(seed)
    drift = np.linspace(0, 1, n)[:, None] * np.array([27.0, -24.0]) + rng.uniform(-3, 3, (n, 2))
    drift = np.clip(drift - drift[0], -30, 30)
    return np.round(drift) if integer else drift


def _rms(a, b):
    return float(np.sqrt(np.mean(np.sum((np.asarray(a) - np.asarray(b)) ** 2, axis=1))))


@pytest.fixture(scope="module")
def gowt1(shared_data):
    folder = shared_data / "ctc" / "Fluo-N2DH-GOWT1" / "01"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    files = sorted(folder.glob("t*.tif"))[:10]
    return np.stack([tifffile.imread(f)[200:712, 200:712] for f in files])


@pytest.mark.slow
@pytest.mark.parametrize("integer", [True, False])
@pytest.mark.parametrize("reference", ["previous", "first"])
def test_recovers_known_drift_on_real_timelapse(gowt1, integer, reference):
    """The drift added to a real movie is recovered within 0.5 px RMS.

    The real nuclei move on their own, so the added drift is what the estimate on the
    drifted movie adds to the estimate on the original one.
    """
    drift = _random_drift(len(gowt1), 7 + integer, integer=integer)
    assert np.abs(drift).max() > 20
    cfg = {"reference": reference}
    base = estimate_drift(to_dataarray(_drifted(gowt1, np.zeros_like(drift)), dims="TYX"), config=cfg)
    moved = estimate_drift(to_dataarray(_drifted(gowt1, drift), dims="TYX"), config=cfg)
    recovered = moved[["dy", "dx"]].to_numpy() - base[["dy", "dx"]].to_numpy()
    error = _rms(recovered, drift)
    assert error < 0.5, error


def test_recovers_drift_of_a_still_real_scene_with_fresh_noise(msc_dir):
    """A real frame drifted by up to 30 px, with new camera-like noise per frame: direct RMS < 0.5 px."""
    frame = tifffile.imread(msc_dir / "01" / "t000.tif")[100:500, 100:550].astype(np.float32)
    drift = _random_drift(8, 3, integer=False)
    rng = np.random.default_rng(0)
    movie = _drifted(np.repeat(frame[None], len(drift), 0), drift)
    movie = movie + rng.normal(0, 150, movie.shape).astype(np.float32)
    shifts = estimate_drift(to_dataarray(movie, dims="TYX"))
    assert _rms(shifts[["dy", "dx"]], drift) < 0.5
    assert shifts["ncc"].iloc[1:].min() > 0.3


@pytest.mark.parametrize("reference", ["previous", "first"])
def test_subpixel_estimate_of_whole_pixel_drift_is_exact(reference):
    """A 96 px view of a still scene moved by whole pixels. Was: 0.05-0.25 px short with sub-pixel on
    (the whole frames' correlation peak pulled towards zero), exact only with it off."""
    big = ndi.gaussian_filter(np.random.default_rng(0).random((140, 140)), 3.0)
    drift = np.array([[0, 0], [2, 3], [4, -1], [6, 2], [5, 5]])
    movie = np.stack([big[20 - dy:116 - dy, 20 - dx:116 - dx] for dy, dx in drift]).astype(np.float32)
    shifts = estimate_drift(to_dataarray(movie, dims="TYX"), config={"reference": reference})
    np.testing.assert_allclose(shifts[["dy", "dx"]].to_numpy(), drift, atol=0.03)


def _still_movie(n=4, c=2):
    rng = np.random.default_rng(1)
    scene = ndi.gaussian_filter(rng.random((c, 120, 140)), (0, 2, 2))
    drift = np.array([[0, 0], [3, -5], [-4, 2], [6, 7]])[:n]
    frames = np.stack([
        np.stack([np.roll(scene[k], tuple(d), axis=(0, 1)) for k in range(c)]) for d in drift
    ])
    frames = (frames * 1000).astype(np.uint16)
    return to_dataarray(frames, dims="TCYX", scale={"X": 0.5, "Y": 0.5}, units={"X": "µm", "Y": "µm"}), drift


@pytest.mark.parametrize("canvas, size", [("grow", (130, 152)), ("crop", (110, 128)), ("same", (120, 140))])
def test_canvas_sizes_and_alignment_of_all_channels(canvas, size):
    movie, drift = _still_movie()
    corrected, shifts = correct_drift(movie, backend="python", canvas=canvas, subpixel=False)
    np.testing.assert_array_equal(shifts[["dy", "dx"]].to_numpy(), drift)
    assert corrected.shape == (4, 2) + size and corrected.dtype == np.uint16
    # in the field every frame covers, all frames and both channels are identical to frame 0
    y0 = float(np.ceil(-drift[:, 0].min())) * 0.5
    x0 = float(np.ceil(-drift[:, 1].min())) * 0.5
    inner = corrected.sel(Y=slice(y0 + 1, y0 + 20), X=slice(x0 + 1, x0 + 20))
    assert inner.sizes["Y"] > 10
    for t in range(1, 4):
        np.testing.assert_array_equal(inner.isel(T=t).values, inner.isel(T=0).values)
    assert corrected.X.attrs["units"] == "µm" and float(corrected.X[1] - corrected.X[0]) == 0.5
    np.testing.assert_allclose(shifts["dx_cal"], drift[:, 1] * 0.5)


def test_grown_canvas_is_zero_filled_like_fiji():
    movie, drift = _still_movie(c=1)
    corrected, _ = correct_drift(movie, backend="python", subpixel=False)
    # frame 0 is placed at (max dy, max dx) = (6, 7): the rows above are empty
    assert corrected.isel(T=0, C=0).values[:6].max() == 0
    assert float(corrected.Y[0]) == -6 * 0.5
    assert corrected.isel(T=0, C=0).values[6:].max() > 0


def test_saved_shifts_reapply_exactly(tmp_path):
    movie, _ = _still_movie()
    corrected, shifts = correct_drift(movie, backend="python", canvas="crop")
    path = tmp_path / "shifts.csv"
    shifts.to_csv(path, index=False)
    again = apply_shifts(movie, path, canvas="crop")
    np.testing.assert_array_equal(again.values, corrected.values)
    assert movie.values.sum() == _still_movie()[0].values.sum()  # input untouched


def test_subpixel_shifts_are_interpolated():
    rng = np.random.default_rng(2)
    scene = ndi.gaussian_filter(rng.random((100, 100)), 3).astype(np.float32)
    frames = np.stack([scene, ndi.shift(scene, (2.5, -1.5), order=1, mode="nearest")])
    shifts = pd.DataFrame({"frame": [0, 1], "dy": [0.0, 2.5], "dx": [0.0, -1.5]})
    out = apply_shifts(to_dataarray(frames, dims="TYX"), shifts, canvas="crop")
    np.testing.assert_allclose(out.values[1][5:-5, 5:-5], out.values[0][5:-5, 5:-5], atol=0.02)


def test_bad_inputs_give_clear_errors(tmp_path):
    movie, _ = _still_movie()
    with pytest.raises(DimensionError, match="at least 2 frames"):
        correct_drift(movie.isel(T=slice(0, 1)), backend="python")
    with pytest.raises(DimensionError, match="dims YX"):
        correct_drift(np.zeros((5, 5)) + np.eye(5), backend="python")
    with pytest.raises(ConfigError, match="canvas must be one of"):
        correct_drift(movie, backend="python", canvas="huge")
    with pytest.raises(ConfigError, match="backend must be one of"):
        correct_drift(movie, backend="gpu")
    with pytest.raises(ConfigError, match="reference must be"):
        DriftConfig(reference="last")
    with pytest.raises(InputError, match="one row per frame"):
        apply_shifts(movie, np.zeros((3, 2)))
    with pytest.raises(InputError, match="does not exist"):
        apply_shifts(movie, tmp_path / "nope.csv")
    with pytest.raises(InputError, match="no field of view common"):  # each within the frame, not all together
        apply_shifts(movie, np.array([[0, 0], [70, 0], [-70, 0], [0, 0]]), canvas="crop")
    with pytest.raises(InputError, match=r"shift of frame 1 \(0-based\) is dy, dx = 200, 0 px, larger than the frame"):
        apply_shifts(movie, np.array([[0, 0], [200, 0], [0, 0], [0, 0]]), canvas="crop")


def test_fiji_backend_without_fiji_names_the_plugin():
    import jpype

    from labelfree.errors import FijiError

    movie, _ = _still_movie()
    if jpype.isJVMStarted():  # ImageJ 1.x running (the JVM tests ran first): Fiji's plugin is what is missing
        with pytest.raises(FijiPluginMissingError, match="Correct 3D drift"):
            correct_drift(movie, backend="fiji")
    else:
        with pytest.raises(FijiError, match="needs a running Fiji"):
            correct_drift(movie, backend="fiji")


def test_auto_backend_says_it_uses_python(caplog):
    movie, _ = _still_movie()
    with caplog.at_level("INFO", logger="labelfree.registration"):
        correct_drift(movie, backend="auto")
    assert "using the Python implementation" in caplog.text


def test_z_stacks_get_three_d_or_xy_only_shifts():
    rng = np.random.default_rng(4)
    volume = ndi.gaussian_filter(rng.random((30, 70, 80)), 2)
    drift = np.array([[0, 0, 0], [2, -3, 4], [-1, 5, -2]])
    movie = to_dataarray(np.stack([np.roll(volume, tuple(d), axis=(0, 1, 2)) for d in drift]).astype(np.float32),
                         dims="TZYX")
    corrected, shifts = correct_drift(movie, backend="python", subpixel=False, canvas="same")
    np.testing.assert_array_equal(shifts[["dz", "dy", "dx"]].to_numpy(), drift)
    np.testing.assert_array_equal(corrected.values[2, 3:-3, 6:-6, 6:-6], corrected.values[0, 3:-3, 6:-6, 6:-6])
    _, flat = correct_drift(movie, backend="python", subpixel=False, config={"xy_only": True})
    assert "dz" not in flat.columns
    np.testing.assert_allclose(flat[["dy", "dx"]].to_numpy(), drift[:, 1:], atol=1)


@pytest.mark.parametrize("canvas", ["crop", "same"])
def test_fiji_grown_canvas_is_cut_like_the_python_canvases(canvas):
    """The Fiji backend receives a grown canvas and cuts it; the cut equals the Python canvas."""
    from labelfree.imagej.registration import window_from_grown

    movie, drift = _still_movie()
    grown, _ = correct_drift(movie, backend="python", canvas="grow", subpixel=False)
    direct, _ = correct_drift(movie, backend="python", canvas=canvas, subpixel=False)
    cut = window_from_grown(grown.values, drift.astype(float), [120, 140], canvas)
    np.testing.assert_array_equal(cut, direct.values)


def test_drift_measured_in_a_region_follows_the_still_structure_and_ignores_the_rest():
    """As Correct 3D Drift's ROI: the stage drift of the structure inside the box, not the motion outside it."""
    from labelfree.registration import estimate_drift_in_region

    movie, drift = _still_movie()
    frames = movie.values.copy()
    for t in range(1, len(frames)):  # the right part (most of the frame) moves on its own: another motion
        frames[t, :, :, 50:] = np.roll(frames[0, :, :, 50:], (11 * t, -9 * t), axis=(1, 2))
    moving = movie.copy(data=frames)
    whole = estimate_drift(moving, config={"subpixel": False})
    assert whole[["dy", "dx"]].to_numpy()[-1].tolist() == [33, -27]  # the whole frame follows the moving part
    box = (8, 20, 32, 80)  # x, y, width, height: in the still part at every frame of the drift
    shifts = estimate_drift_in_region(moving, box, config={"subpixel": False})
    np.testing.assert_array_equal(shifts[["dy", "dx"]].to_numpy(), drift)
    assert list(shifts.columns) == list(whole.columns)


def _msc_movie(msc_dir, shifts, size=256):
    """Frames cut from a real MSC frame whose content moves by ``shifts`` (whole px), fresh noise in each."""
    frame = tifffile.imread(msc_dir / "01" / "t005.tif").astype(np.float32)
    rng = np.random.default_rng(1)
    cuts = [frame[300 - dy:300 - dy + size, 300 - dx:300 - dx + size] + rng.normal(0, 3, (size, size))
            for dy, dx in shifts]
    return np.clip(np.stack(cuts), 0, 65535).astype(np.uint16)


@pytest.mark.parametrize("subpixel", [True, False])
def test_a_blank_frame_keeps_the_drift_before_it_and_is_not_a_reference(msc_dir, caplog, subpixel):
    """A dropped (all-zero) frame got an 84 px shift, and with reference="previous" every later frame too."""
    movie = _msc_movie(msc_dir, [(0, 0), (3, 4), (6, 8), (-4, 10)])
    movie[2] = 0
    with caplog.at_level("WARNING", logger="labelfree.registration"):
        corrected, shifts = correct_drift(to_dataarray(movie, dims="TYX"), backend="python", subpixel=subpixel)
    np.testing.assert_allclose(shifts[["dy", "dx"]].to_numpy(), [[0, 0], [3, 4], [3, 4], [-4, 10]], atol=0.05)
    assert corrected.shape == (4, 256 + 7, 256 + 10)  # dy from -4 to 3, dx from 0 to 10
    assert ("for frame 2 (0-based): it keeps the drift of the frame before and is not used as reference; check that "
            "frame.") in caplog.text


def test_frames_of_pure_noise_are_not_moved(caplog):
    """Four frames of independent noise: the best correlation is no better than chance (it gave 30-41 px)."""
    noise = np.random.default_rng(1).normal(1000, 50, (4, 128, 128)).astype(np.uint16)
    with caplog.at_level("WARNING", logger="labelfree.registration"):
        _, shifts = correct_drift(to_dataarray(noise, dims="TYX"), backend="python")
    assert (shifts[["dy", "dx"]].to_numpy() == 0).all()
    assert "no usable match" in caplog.text and "for frames [1, 2, 3] (0-based)" in caplog.text


def test_a_constant_movie_has_nothing_to_register():
    from labelfree.errors import ConstantImageError

    with pytest.raises(ConstantImageError, match="nothing to register") as info:
        correct_drift(to_dataarray(np.full((3, 64, 64), 500, np.uint16), dims="TYX"), backend="python")
    assert "segment" not in str(info.value)


def test_a_selection_with_a_blank_frame_or_noise_is_not_moved_by_chance(msc_dir, caplog):
    """Drift measured inside a selection (the Fiji command with an area selection) took any match, as the
    whole-frame estimate did: a dropped frame moved by tens of pixels, and every later frame with it."""
    from labelfree.registration import estimate_drift_in_region

    movie = _msc_movie(msc_dir, [(0, 0), (3, 4), (6, 8), (-4, 10)])
    movie[2] = 0
    box = (40, 40, 160, 160)  # x, y, width, height
    with caplog.at_level("WARNING", logger="labelfree.registration"):
        shifts = estimate_drift_in_region(to_dataarray(movie, dims="TYX"), box, config={"subpixel": False})
    np.testing.assert_array_equal(shifts[["dy", "dx"]].to_numpy(), [[0, 0], [3, 4], [3, 4], [-4, 10]])
    assert ("drift: no usable match inside the selection (no content, or a correlation no better than chance) for "
            "frame 2 (0-based): it keeps the drift of the frame before; check that frame.") in caplog.text
    noise = np.random.default_rng(1).normal(1000, 50, (4, 128, 128)).astype(np.uint16)
    shifts = estimate_drift_in_region(to_dataarray(noise, dims="TYX"), (10, 10, 100, 100), config={})
    assert (shifts[["dy", "dx"]].to_numpy() == 0).all()


def test_identical_z_slices_do_not_walk_in_z():
    """A stack whose slices are all alike matches itself at every dz: the drift is 0 in Z (it walked by -1 per
    frame, the first of the equal maxima), and the XY drift is found."""
    base = ndi.gaussian_filter(np.random.default_rng(0).random((64, 64)), 2.0)
    frames = [np.repeat(np.roll(base, (t, 2 * t), axis=(0, 1))[None], 5, axis=0) for t in range(4)]
    table = estimate_drift(xr.DataArray(np.stack(frames), dims=("T", "Z", "Y", "X")))
    np.testing.assert_array_equal(table[["dz", "dy", "dx"]].to_numpy(), [[0, 0, 0], [0, 1, 2], [0, 2, 4], [0, 3, 6]])
