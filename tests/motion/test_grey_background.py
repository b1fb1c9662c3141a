"""A phase-contrast movie of more than 8 bits (a camera's 12 or 16 bits) is mapped to 8 bits without clipping its
bright halos: its percentiles are chosen from its background, grey with darker and brighter parts of cells on it,
where a fluorescence movie's background is dark. Before, the C2C12 phase-contrast movie as 16-bit values (its 8-bit
values times 256, or a 12-bit camera's gain, bias and dither) was clipped at the 99.8th percentile: object F1 0.094
and 0.133 against 0.524 as 8 bits."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from labelfree import motion
from labelfree.metrics import evaluate
from labelfree.motion.flow import GREY_BACKGROUND_PERCENTILES, grey_background, grey_mapping


def _f1(movie, truth, config=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        labels = motion.segment(movie, config=config)
    return evaluate(labels.values[1:], truth[1:])["f1"], labels.attrs["labelfree"]


def test_a_phase_contrast_movie_in_16_bits_is_segmented_as_in_8(c2c12_movie):
    movie, truth = c2c12_movie
    as8, record8 = _f1(movie, truth)
    assert as8 > 0.5 and "scale_low_percentile" not in record8["auto"]  # 8 bits: its whole range, as before
    rng = np.random.default_rng(0)
    camera = (movie.astype(np.float64) * 13 + 400 + rng.uniform(0, 13, movie.shape)).astype(np.uint16)
    for name, sixteen in (("times 256", movie.astype(np.uint16) * 256), ("a 12-bit camera", camera)):
        f1, record = _f1(sixteen, truth)
        assert f1 > as8 - 0.05, name  # before: 0.094 and 0.133
        assert (record["auto"]["scale_low_percentile"], record["auto"]["scale_high_percentile"]) == \
            GREY_BACKGROUND_PERCENTILES, name
        # percentiles given are used as given (the dark background's clip the halos again)
        f1_given, given = _f1(sixteen, truth, {"scale_low_percentile": 0.5, "scale_high_percentile": 99.8})
        assert "scale_low_percentile" not in given["auto"] and f1_given < 0.3, name


def _field(kind: str, seed: int = 0) -> np.ndarray:
    """Frames (3, 256, 256) of 12-bit values: 'phase' dark cells with bright halos on a grey background, 'fluorescence'
    bright cells on a dark one, 'noise' the background alone."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:256, :256]
    frames = []
    for t in range(3):
        frame = np.full((256, 256), 1000.0 if kind != "fluorescence" else 300.0)
        for cy, cx in rng.uniform(20, 236, (25, 2)):
            d = np.hypot(yy - cy, xx - cx - 2 * t)
            if kind == "phase":
                frame[d < 14] = 200
                frame[(d >= 14) & (d < 17)] = 2500
            elif kind == "fluorescence":
                frame[d < 14] = 1500
        frames.append(frame + rng.normal(0, 60, frame.shape))  # more than 256 grey levels, even the noise
    return np.asarray(frames).clip(0, 4095).astype(np.uint16)


@pytest.mark.parametrize(("kind", "grey"), [("phase", True), ("fluorescence", False), ("noise", False)])
def test_the_background_decides_the_percentiles(kind, grey):
    """A grey background (the mode of the pixels well inside their range) with parts of cells more than 8 noise
    units darker is phase contrast; a dark one, or a field of noise alone (its mode is halfway too), is not."""
    frames = _field(kind)
    assert grey_background(frames[:, ::4, ::4].astype(np.float32)) is grey
    _, _, percentiles = grey_mapping(frames)
    assert percentiles == (GREY_BACKGROUND_PERCENTILES if grey else (0.5, 99.8))
    assert grey_mapping(frames, low=1, high=99)[2] == (1.0, 99.0)  # given: as given
    assert grey_mapping((frames // 16).astype(np.uint8))[2] is None  # 8 bits: its smallest and largest value
