"""Settings at the edges of their range: one clear error or an honest warning, never a traceback or a hang."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from labelfree import datasets, motion
from labelfree.errors import ConfigError
from labelfree.metrics import pixel_scores
from labelfree.motion import NoMotionWarning
from labelfree.motion.selflabel import background_threshold, cell_threshold


def _small_movie():
    """Three cells of radius 10 moving in 64 x 64 frames: cells and their flow fill much of the field."""
    return datasets.synthetic_movie(n_frames=3, shape=(64, 64), n_cells=3, cell_radius=10, seed=1)


def test_the_papers_label_count_prior_is_not_taken_for_noise():
    """class_prior null (the paper's: the label counts) gave cell a prior of 0.78-0.92 here; the noise
    checks, measured at 0.5, then called every pair noise: empty labels, 'No cell motion found'."""
    movie, truth = _small_movie()
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoMotionWarning)
        labels = motion.segment(movie, config={"class_prior": None})
    assert pixel_scores(labels.values, truth.values)["f1"] > 0.35  # measured 0.458 (0.667 at prior 0.5)
    # a field of camera noise is still no cell motion at that prior
    rng = np.random.default_rng(3)
    noise = (7000 + rng.normal(0, 800, (5, 128, 160))).clip(0, 65535).astype(np.uint16)
    with pytest.warns(NoMotionWarning, match="No cell motion found in 5 of 5 frames"):
        assert motion.segment(noise, config={"class_prior": None}).values.max() == 0


@pytest.mark.parametrize("setting, says", [
    ({"cell_threshold": 0}, r"no pixel was left still enough for the background.*given cell_threshold=0\.0 decides"),
    ({"background_threshold": 0}, r"no pixel was left still enough.*given background_threshold=0\.0 decides"),
    ({"cell_threshold": 1e9}, (r"no object of at least min_size = \d+ px moved faster than the cell threshold.*"
                               r"cell threshold 1e\+09 px/frame.*given cell_threshold=1000000000\.0 decides")),
])
def test_thresholds_that_leave_a_class_without_labels_say_so(setting, says):
    """Before: 'No motion found ... for still images use another pipeline' on a movie whose cells move."""
    movie, _ = _small_movie()
    with pytest.warns(NoMotionWarning, match="No self-labelled motion found in 3 of 3 frames") as record:
        labels = motion.segment(movie, config=setting)
    assert labels.values.max() == 0
    text = str(record[0].message)
    assert "still images" not in text
    assert re.search(says, text)


def test_frames_too_small_for_the_flow_window_say_so():
    """One cell in 20 x 20 frames: the cell and the flow's halo fill the frame, nothing is left for the
    background. Before: 'No motion found ... for still images use another pipeline'."""
    movie, _ = datasets.synthetic_movie(n_frames=4, shape=(20, 20), n_cells=1, cell_radius=4, seed=1)
    with pytest.warns(NoMotionWarning, match=r"No self-labelled motion.*no pixel was left still enough.*"
                                             r"window: 15 px.*give frames larger than the cells"):
        motion.segment(movie)


def test_a_large_background_max_factor_is_bounded_by_the_data():
    """The histogram had max_factor x 400 bins: 1e9 asked numpy for 2.9 TiB (MemoryError)."""
    speed = np.linspace(0, 4, 64 * 64, dtype=np.float32).reshape(64, 64)
    entropy = np.ones_like(speed)
    hit = background_threshold(speed, entropy, start=2.0, target=1000.0, max_factor=1e9)
    assert hit == background_threshold(speed, entropy, start=2.0, target=1000.0, max_factor=2.0)
    assert 0.9 < hit < 1.1  # a quarter of the pixels (1024 bits) lie below 1 px/frame
    # no hit below the fastest pixel: the largest threshold allowed, as with a smaller factor
    assert background_threshold(speed, entropy, start=2.0, target=1e6, max_factor=1e9) == pytest.approx(2e9)
    movie, _ = _small_movie()
    labels = motion.segment(movie, config={"background_max_factor": 1e9})
    assert all(np.isfinite(r["background"]) for r in labels.attrs["labelfree"]["thresholds"])


def test_cell_threshold_search_matches_its_step_rule():
    """The search from the start downwards, vectorised: the highest step whose faster pixels hold
    ``extra`` more bits than at the start."""
    speed = np.linspace(0, 4, 64 * 64, dtype=np.float32).reshape(64, 64)
    entropy = np.ones_like(speed)
    found = cell_threshold(speed, entropy, start=2.0, step=0.01, extra=512.0)
    assert found == pytest.approx(1.5, abs=0.011)  # 512 more pixels above 1.5 than above 2
    assert cell_threshold(speed, entropy, start=2.0, step=0.01, extra=1e9) == pytest.approx(2.0 * 5e-4)


@pytest.mark.parametrize("key, value, says", [
    ("poly_sigma", 0.1, r"poly_sigma must be at least 0\.2 px; got 0\.1"),
    ("poly_sigma", 1e-9, r"poly_sigma must be at least 0\.2 px"),
    ("cell_step_factor", 1e-9, r"cell_step_factor must be at least 0\.0001"),
    ("min_size_fraction", 1e-300, r"min_size_fraction must be a finite number in \[0\.01, 1\]"),
])
def test_settings_that_crashed_or_hung_are_refused_naming_the_key(key, value, says):
    """Before: poly_sigma 0.1 raised ZeroDivisionError, 1e-9 LinAlgError (OpenCV's engine: zero flow);
    cell_step_factor 1e-9 searched 1e9 steps in a Python loop (a hang), 1e-300 raised OverflowError;
    min_size_fraction 1e-9 took 43 s for one object per frame (the typical area is min_size / it), 1e-300
    raised OverflowError."""
    movie, _ = _small_movie()
    with pytest.raises(ConfigError, match=says):
        motion.segment(movie, config={key: value})
    limit = {"poly_sigma": 0.2, "cell_step_factor": 1e-4, "min_size_fraction": 0.01}[key]
    assert motion.MotionConfig(**{key: limit})  # the limit itself


def test_a_flow_binning_larger_than_the_frames_is_refused():
    """flow_downsample 1000 on 64 x 64 frames binned them to 1 px: every pair was still, 'No motion found'."""
    movie, _ = _small_movie()
    for run in (motion.segment, motion.flow_magnitude_stack):
        with pytest.raises(ConfigError, match=r"flow_downsample=1000 bins the 64 x 64 px frames to 1 x 1 px.*"
                                              r"use at most 4 for these frames"):
            run(movie, config={"flow_downsample": 1000})
    with pytest.raises(ConfigError, match="flow_downsample=8"):
        motion.farneback_flow(movie.values[0], movie.values[1], config=motion.MotionConfig(flow_downsample=8))
    assert motion.flow_magnitude_stack(movie, config={"flow_downsample": 4}).values.max() > 0.5


@pytest.mark.parametrize("option", ["poly_sigma=0.1", "flow_downsample=1000"])
def test_the_command_line_reports_the_refused_setting_and_writes_nothing(tmp_path, capsys, option):
    """Before: a numpy LinAlgError traceback (poly_sigma), or empty labels written with 'No motion found'."""
    import tifffile

    from labelfree.cli import main

    movie, _ = _small_movie()
    src = tmp_path / "movie.tif"
    tifffile.imwrite(src, movie.values, imagej=True, metadata={"axes": "TYX"})
    out = tmp_path / "out"
    code = main(["motion", str(src), "-o", str(out), "-q", "--set", option])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    assert option.split("=")[0] in err
    assert not out.exists() or not any(out.iterdir())
