"""Automatic marker detection in a dense field of nuclei.

Where nuclei cover much of the image (laptrack's example movie: 35-41 % of the pixels), they widen
the whole image's MAD far past the background's own noise (2.7-3.9 times). Measured in those units,
the nuclei of laptrack's frames 3-5 stood 4.7-4.9 "noise units" out of the background, and
detection warned that the image "seems to hold no nuclei, only noise", and left the dim nuclei
without a marker (no search for them on an image said to be noise). The noise of the background's
dark side (``lower_side_noise``) is the background's own: measured in it, the nuclei stand out, no
warning is given, and the nuclei left unmarked are searched and marked.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import ndimage as ndi

from labelfree.cutter import detect_markers
from labelfree.cutter.markers import AutoMarkerWarning, MarkerWarning
from labelfree.errors import InputError


def _dense_field(seed: int, size: int = 256, n_side: int = 9, radius: float = 10.0):
    """(image, truth): 81 nuclei of radius 10 px on a 9 x 9 jittered grid (39 % of the pixels), their
    brightness spread from 2 to 13 background noise units (60-400 grey levels over a background of 1000,
    noise 30), blurred by 1.5 px; uint16."""
    rng = np.random.default_rng(seed)
    signal = np.zeros((size, size))
    truth = np.zeros((size, size), np.int32)
    yy, xx = np.mgrid[:size, :size]
    step = size / n_side
    for k in range(n_side * n_side):
        i, j = divmod(k, n_side)
        cy, cx = (i + 0.5) * step + rng.uniform(-2, 2), (j + 0.5) * step + rng.uniform(-2, 2)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius * radius
        truth[disc] = k + 1
        signal[disc] = rng.uniform(60, 400)
    image = ndi.gaussian_filter(signal, 1.5) + 1000 + rng.normal(0, 30, signal.shape)
    return np.clip(image, 0, 65535).astype(np.uint16), truth


def test_half_sample_mode_finds_the_peak_of_a_skewed_sample():
    from labelfree.noise import half_sample_mode

    rng = np.random.default_rng(1)
    values = np.concatenate([rng.normal(10.0, 1.0, 6000), rng.uniform(15.0, 100.0, 4000)])
    assert abs(half_sample_mode(values) - 10.0) < 0.3
    assert np.median(values) > 10.8  # what the median gives instead
    assert half_sample_mode(np.array([1.0, 1.0, 1.0, 5.0, 9.0])) == 1.0
    assert half_sample_mode(np.array([7.0])) == 7.0
    with pytest.raises(InputError, match="at least one value"):
        half_sample_mode(np.array([]))


def test_the_dark_side_noise_is_the_backgrounds_own_however_dense_the_objects():
    from labelfree.cutter.graphcut import background_and_noise
    from labelfree.noise import lower_side_noise

    rng = np.random.default_rng(2)
    noise_only = rng.normal(1000.0, 30.0, (256, 256))
    level, noise = lower_side_noise(noise_only)
    assert abs(level - 1000.0) < 3.0 and abs(noise - 30.0) < 1.5
    dense = noise_only.copy()
    dense[:, :102] += rng.uniform(100.0, 1000.0, (256, 102))  # objects on 40 % of the pixels
    level, noise = lower_side_noise(dense)
    assert abs(level - 1000.0) < 10.0 and abs(noise - 30.0) < 3.0
    assert background_and_noise(dense)[1] > 1.5 * 30.0  # the whole image's MAD: widened by the objects


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_dense_field_of_nuclei_is_not_taken_for_noise_and_its_dim_nuclei_get_markers(seed):
    """Before: "the image seems to hold no nuclei, only noise" (4.5-5.0 noise units) on each of the four fields,
    and 38-46 of the 81 nuclei marked on each; now no warning and 57-69 marked, every marker in a nucleus of its
    own (one field: two in one nucleus)."""
    image, truth = _dense_field(seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pts = detect_markers(image)
    said = [str(w.message) for w in caught if issubclass(w.category, (AutoMarkerWarning, MarkerWarning))]
    assert not any("only noise" in text for text in said), said
    hit = truth[np.rint(pts[:, 0]).astype(int), np.rint(pts[:, 1]).astype(int)]
    found = len(np.unique(hit[hit > 0]))
    assert found >= 0.65 * truth.max()
    assert found >= 0.95 * len(pts) and np.all(hit > 0)


def test_pure_noise_is_still_said_to_be_noise():
    """The dark side's noise is the whole image's on pure noise: the warning stays."""
    noise = np.random.default_rng(5).normal(1000, 30, (256, 256)).astype(np.uint16)
    with pytest.warns(AutoMarkerWarning, match="only noise"):
        detect_markers(noise)


def test_unmarked_nuclei_of_a_dense_field_are_found_in_the_backgrounds_own_noise():
    """``unmarked_nuclei`` given every other nucleus of the four fields: before, 24 of the 164 unmarked ones found
    (10, 0, 6, 8); now 71 (14, 17, 13, 27), every region in a nucleus without a marker."""
    from labelfree.cutter.markers import unmarked_nuclei

    found = 0
    for seed in range(4):
        image, truth = _dense_field(seed)
        given = np.arange(2, truth.max() + 1, 2)
        markers = np.array(ndi.center_of_mass(truth > 0, truth, given))
        regions = np.rint(unmarked_nuclei(image, markers)).astype(int).reshape(-1, 2)
        hit = truth[regions[:, 0], regions[:, 1]]
        assert np.all(hit % 2 == 1), hit  # no region in the background (0) or in a marked nucleus
        assert len(np.unique(hit)) == len(hit)
        found += len(hit)
    assert found >= 60


@pytest.mark.parametrize("seed", [0, 3])
def test_the_foreground_mask_of_a_dense_field_holds_its_dim_nuclei(seed):
    """Cutter's mask (given a marker per nucleus) measured against the whole image's noise held 51-53 of the 81
    nuclei (more than half of each); against the noise of the background's dark side all 81, with 2.6-3.0 % of
    the background (0.2-0.4 % before)."""
    from labelfree.cutter.config import CutterConfig
    from labelfree.cutter.prepare import foreground_mask

    image, truth = _dense_field(seed)
    ids = np.arange(1, truth.max() + 1)
    markers = np.array(ndi.center_of_mass(truth > 0, truth, ids))
    mask = foreground_mask(image[None].astype(np.float64), CutterConfig(), markers=markers)
    covered = np.asarray(ndi.mean(mask, truth, ids))
    assert np.count_nonzero(covered > 0.5) >= 78
    assert mask[truth == 0].mean() < 0.06


def test_the_probabilities_measure_against_given_levels():
    from labelfree.cutter.graphcut import local_contrast_probability, snr_probability

    image = np.random.default_rng(3).normal(100.0, 10.0, (64, 64))
    p = snr_probability(image, threshold=2.0, levels=(100.0, 5.0))
    assert np.allclose(p, 1.0 / (1.0 + np.exp(-((image - 100.0) / 5.0 - 2.0))))
    q = local_contrast_probability(image, fraction=0.0, threshold=2.0, levels=(100.0, 5.0))
    assert np.allclose(q, 1.0 / (1.0 + np.exp(-(image - 110.0) / 5.0)))


def test_a_constant_channel_is_no_dense_field_and_its_mask_says_it_is_constant():
    """The dense-field check ran before the mask's own noise estimate and refused a constant channel as a "nucleus
    image" in which "no nuclei can be detected"; the mask's words are the ones that apply."""
    from labelfree.cutter.config import CutterConfig
    from labelfree.cutter.markers import is_dense_field
    from labelfree.cutter.prepare import foreground_mask
    from labelfree.errors import ConstantImageError

    constant = np.full((64, 64), 5.0)
    assert is_dense_field(constant) is False
    with pytest.raises(ConstantImageError, match="image used for the foreground mask is constant"):
        foreground_mask(constant[None], CutterConfig(mask_smoothing=2.0, mask_peak_window=9),
                        markers=np.array([[32.0, 32.0]]))


def test_a_movie_records_the_frames_masked_as_dense_fields_and_notes_them(caplog):
    """The provenance says which frames' masks were measured against the dark side's noise, and the run notes it
    (a note ImageJ's Log shows, frames counted from 1 there); a sparse frame is measured as before."""
    import logging

    from labelfree import cutter
    from labelfree._log_notes import is_log_note
    from labelfree.image import to_dataarray
    from labelfree.imagej.terms import note_line

    sparse, _ = _dense_field(1, n_side=4)  # 16 nuclei on 8 % of the pixels
    movie = np.stack([sparse, _dense_field(0)[0]])
    with caplog.at_level(logging.INFO, logger="labelfree.cutter.segment"):
        labels = cutter.segment(to_dataarray(movie, dims="TYX"), config={"n_steps": 2})
    assert labels.attrs["labelfree"]["mask"] == {"dense_field_frames": [1]}
    (said,) = [r for r in caplog.records if r.getMessage().startswith("Cutter: a dense field")]
    message = said.getMessage()
    assert "in 1 of the 2 frames (the first: frame 1 (0-based))" in message
    assert is_log_note(said.name, message)
    assert "frame 2 (the stack's frames, counted from 1)" in note_line("LabelFree Cutter", "movie", message)

    one = cutter.segment(sparse, config={"n_steps": 2})
    assert "mask" not in one.attrs["labelfree"]


def test_the_dense_field_check_is_made_once_per_image(monkeypatch):
    """Each mask of a frame asks whether it is a dense field (the automatic scale's probe, the window's choice,
    the run's mask): the check runs once per image content, and again for an image that differs by one pixel."""
    from labelfree.cutter import markers

    image, _ = _dense_field(5)
    runs = []
    real = markers._check_objects
    monkeypatch.setattr(markers, "_check_objects", lambda *a, **k: runs.append(1) or real(*a, **k))
    monkeypatch.setattr(markers, "_DENSE_VERDICTS", type(markers._DENSE_VERDICTS)())
    assert markers.is_dense_field(image) is True
    assert markers.is_dense_field(image.copy()) is True and len(runs) == 1
    changed = image.copy()
    changed[0, 0] += 1
    assert markers.is_dense_field(changed) is True and len(runs) == 2
    assert markers.is_dense_field(image.astype(np.float32)) is True and len(runs) == 2  # the same values
    for k in range(markers._DENSE_VERDICTS_KEPT + 2):  # a bounded memory: the oldest verdicts go
        markers.is_dense_field(np.full((8, 8), float(k)))
    assert len(markers._DENSE_VERDICTS) == markers._DENSE_VERDICTS_KEPT
