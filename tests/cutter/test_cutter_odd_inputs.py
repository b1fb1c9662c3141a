"""Odd but plausible Cutter inputs and settings: read as meant, or one clear error naming what to change."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from cutter_synth import two_channel_cells

from labelfree.cutter.config import CutterConfig
from labelfree.cutter.segment import prepare
from labelfree.errors import ConfigError, DimensionError, InputError
from labelfree.image import to_dataarray
from labelfree.io.markers import read_markers

SIZE = 96
#: settings that spare the automatic measurements (each test looks at one input, not at the scale)
FIXED = {"downscale": 1.0, "marker_sigma": 10.0, "mask_smoothing": 1.0, "mask_peak_window": 9, "area_size": 128}


def _cells(seed: int = 0):
    image, truth, nuclei, centres = two_channel_cells(seed=seed, size=SIZE, n_cells=4)
    return image[0], truth, nuclei, centres


def _movie():
    frames = [_cells(seed) for seed in (0, 1)]
    movie = to_dataarray(np.stack([f[0] for f in frames]), dims="TYX")
    return movie, frames


def _markers(prepared) -> list[np.ndarray]:
    return [f.markers for f in prepared.frames]


def test_a_table_is_read_by_its_column_names_not_their_order(tmp_path):
    """A DataFrame with x before y (as a Results table read with pandas) was taken as (y, x) in column order:
    every marker transposed, the cells cut around the wrong points without a word."""
    image, _, _, centres = _cells()
    table = pd.DataFrame({"x": centres[:, 1], "y": centres[:, 0]})
    np.testing.assert_allclose(_markers(prepare(image, markers=table, config=FIXED))[0], centres)
    from labelfree.io.markers import points_from_table

    # ImageJ's Results table read with pandas: calibrated X, Y of an image of 0.5 um pixels
    calibrated = to_dataarray(image, dims="YX", scale=0.5)
    results = pd.DataFrame({" ": np.arange(1, 5), "X": centres[:, 1] * 0.5, "Y": centres[:, 0] * 0.5})
    np.testing.assert_allclose(points_from_table(results, image=calibrated), centres)
    with pytest.raises(InputError, match=r"needs columns named y and x"):
        prepare(image, markers=pd.DataFrame({"a": [1.0], "b": [2.0]}), config=FIXED)
    # the path of a marker file is read as read_markers reads it (it failed converting the text to a number)
    table.to_csv(tmp_path / "points.csv", index=False)
    np.testing.assert_allclose(_markers(prepare(image, markers=str(tmp_path / "points.csv"), config=FIXED))[0],
                               centres)


def test_a_list_of_t_y_x_points_is_one_set_of_points():
    """A plain list of (t, y, x) rows for a movie was taken as one entry per frame: "markers lists 8 entries
    for 2 frames"."""
    movie, frames = _movie()
    rows = [[t, *p] for t, f in enumerate(frames) for p in f[3]]
    got = _markers(prepare(movie, markers=rows, config=FIXED))
    for t, f in enumerate(frames):
        np.testing.assert_allclose(got[t], f[3])
    # a list of (y, x) points on one image, with a repeated point: kept once, as for an array
    image, _, _, centres = _cells()
    listed = [list(p) for p in centres] + [list(centres[0])]
    np.testing.assert_allclose(_markers(prepare(image, markers=listed, config=FIXED))[0], centres)


def test_per_frame_inputs_of_another_length_are_one_error():
    """A marker stack given as a DataArray, a mask stack or a scribble stack with fewer frames than the movie
    ended in an IndexError traceback half-way through the frames."""
    movie, frames = _movie()
    nuclei = xr.DataArray(np.stack([frames[0][2]]), dims=("T", "Y", "X"))
    with pytest.raises(DimensionError, match=r"marker image has 1 frame\(s\); the movie has 2"):
        prepare(movie, markers=nuclei, config=FIXED)
    rows = np.array([[t, *p] for t, f in enumerate(frames) for p in f[3]])
    one = np.stack([frames[0][1] > 0])
    with pytest.raises(DimensionError, match=r"The mask has 1 frame\(s\); the movie has 2.*one \(Y, X\) mask"):
        prepare(movie, markers=rows, mask=one, config=FIXED)
    scribbles = np.stack([np.where(frames[0][1] > 0, 2, 1)] * 3)
    with pytest.raises(DimensionError, match=r"The scribbles has 3 frame\(s\); the movie has 2"):
        prepare(movie, markers=rows, scribbles=scribbles, config=FIXED)
    # a (T, Y, X) DataArray of labels whose axes come in another order is read by their names
    stack = xr.DataArray(np.stack([f[2] for f in frames]).transpose(1, 2, 0), dims=("Y", "X", "T"))
    got = _markers(prepare(movie, markers=stack, config=FIXED))
    assert [len(m) for m in got] == [4, 4]


def test_a_mask_of_fractions_or_nan_is_refused():
    """A probability map or a mask with NaN on the background was read as bool: every such pixel (NaN included)
    foreground, so the cells filled the whole image."""
    image, truth, _, centres = _cells()
    with pytest.raises(InputError, match=r"mask holds fractions"):
        prepare(image, markers=centres, mask=(truth > 0) * 0.7 + 0.1, config=FIXED)
    with pytest.raises(InputError, match=r"mask holds \d+ NaN"):
        prepare(image, markers=centres, mask=np.where(truth > 0, 1.0, np.nan), config=FIXED)
    # whole numbers (ImageJ's 0 / 255 masks, labels) are foreground where non-zero
    prepared = prepare(image, markers=centres, mask=((truth > 0) * 255).astype(np.float32), config=FIXED)
    np.testing.assert_array_equal(prepared.frames[0].mask, truth > 0)


def test_cell_channels_of_a_one_channel_image_are_checked():
    """cell_channels naming a channel a one-channel image lacks were ignored without a word."""
    image, _, _, centres = _cells()
    with pytest.raises(DimensionError, match=r"Channel 2 was asked for, but the image has one channel only"):
        prepare(image, markers=centres, config={**FIXED, "cell_channels": (2,)})
    assert prepare(image, markers=centres, config={**FIXED, "cell_channels": (0,)}).frames[0].patch_set


def test_odd_scale_settings_give_one_error_naming_the_setting():
    """downscale 1e9 was refused as "marker_sigma must be > 0; got 0.0" (a setting the user had not given);
    mask_smoothing 1e9 ran out of memory building a Gaussian kernel (a traceback)."""
    image, _, _, centres = _cells()
    auto = {k: v for k, v in FIXED.items() if k not in ("downscale", "marker_sigma")}
    with pytest.raises(ConfigError, match=r"downscale 1e\+09 reduces the 96 x 96 image to 1 x 1 px, smaller than "
                                          r"one 64 x 64 patch .*choose downscale 1.5 or less"):
        prepare(image, markers=centres, config={**auto, "downscale": 1e9})
    with pytest.raises(ConfigError, match=r"downscale 3 reduces the 96 x 96 image to 32 x 32 px"):
        prepare(image, markers=centres, config={**FIXED, "downscale": 3})
    with pytest.raises(ConfigError, match=r"mask_smoothing 1e\+09 px is larger than the image"):
        prepare(image, markers=centres, config={**FIXED, "mask_smoothing": 1e9})


def test_a_noise_floor_no_pixel_passes_gives_an_empty_mask_not_a_constant_image_error():
    """mask_snr_threshold so high that no pixel passes made every cell probability equal, and the run
    failed with "The image used for the foreground mask is constant", which it was not."""
    from labelfree.cutter.prepare import foreground_mask

    image = _cells()[0]
    for signal in ("local", "snr"):
        cfg = CutterConfig(**FIXED, mask_signal=signal, mask_snr_threshold=1e6)
        assert not foreground_mask(image[None], cfg).any()
    # every pixel far above a floor far below the background: every pixel is cell
    assert foreground_mask(image[None], CutterConfig(**FIXED, mask_signal="snr", mask_snr_threshold=-1e6)).all()


def test_a_huge_peak_window_is_the_whole_image():
    """mask_peak_window 1e9 built a maximum filter of 1e9 pixels: gigabytes of memory, and no end in sight.
    Run in a process with 2 GB of address space, so that the old behaviour fails at once."""
    code = textwrap.dedent("""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
        import numpy as np
        from labelfree.cutter.graphcut import local_contrast_probability
        x = np.random.default_rng(0).random((40, 50))
        x[10:20, 10:20] += 3
        huge = local_contrast_probability(x, window=10**9)
        np.testing.assert_array_equal(huge, local_contrast_probability(x, window=101))
    """)
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_network_too_wide_for_memory_is_a_config_error():
    """width 10^6 failed in torch with "DefaultCPUAllocator: can't allocate memory" and a traceback."""
    from labelfree.cutter.dataset import build_patch_set
    from labelfree.cutter.train import train_cutter

    image, _, _, centres = _cells()
    patches = build_patch_set(image[None], centres, crop=64, sigma=10.0)
    with pytest.raises(ConfigError, match=r"width 1000000: the network's weights do not fit in the memory of cpu"):
        train_cutter([patches], config=CutterConfig(width=10**6, n_steps=1))


def test_marker_tables_with_tabs_or_semicolons_are_read(tmp_path):
    """ImageJ saves its Results table as tab-separated .xls / .txt; spreadsheets of decimal-comma locales write
    semicolons. Both were refused ("needs columns named y and x ... it has ['y;x']")."""
    image = to_dataarray(np.zeros((60, 80), np.float32), dims="YX", scale=0.5)
    (tmp_path / "semicolons.csv").write_text("y;x\n10,5;20\n30;40,25\n", encoding="utf-8")
    np.testing.assert_allclose(read_markers(tmp_path / "semicolons.csv", image=image), [[10.5, 20], [30, 40.25]])
    (tmp_path / "tabs.csv").write_text("y\tx\n10\t20\n", encoding="utf-8")
    np.testing.assert_allclose(read_markers(tmp_path / "tabs.csv", image=image), [[10, 20]])
    (tmp_path / "Results.xls").write_text(" \tX\tY\tMean\n1\t10\t5\t200\n2\t20.5\t15\t180\n", encoding="utf-8")
    np.testing.assert_allclose(read_markers(tmp_path / "Results.xls", image=image), [[10, 20], [30, 41]])


def test_point_rois_outside_the_image_are_an_error(tmp_path):
    """Point ROIs of another (larger) image were dropped when painted: their cells vanished without a word."""
    import roifile

    def point(x: float, y: float) -> roifile.ImagejRoi:
        roi = roifile.ImagejRoi.frompoints(np.array([[x, y]], np.float32))
        roi.roitype = roifile.ROI_TYPE.POINT
        return roi

    roifile.roiwrite(tmp_path / "inside.zip", [point(10.5, 20.5), point(30.2, 40.7)])
    labels = read_markers(tmp_path / "inside.zip", shape=(60, 80))
    assert [tuple(np.argwhere(labels == k)[0]) for k in (1, 2)] == [(20, 10), (40, 30)]
    roifile.roiwrite(tmp_path / "outside.zip", [point(10.5, 20.5), point(30.2, 140.0)])
    with pytest.raises(InputError, match=r"1 of 2 point\(s\) lie outside the 60 x 80 image, e.g. \(x=30.2, y=140\)"):
        read_markers(tmp_path / "outside.zip", shape=(60, 80))
