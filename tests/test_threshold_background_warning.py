"""Threshold says when its object is the background: dark cells on a bright field (brightfield, phase contrast)
thresholded as bright ones gave one object covering the whole frame, with no word about it."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tifffile

import labelfree.threshold as threshold
from labelfree.image import to_dataarray
from labelfree.threshold.segment import BackgroundObjectWarning


@pytest.fixture
def gowt1(shared_data):
    path = shared_data / "ctc" / "Fluo-N2DH-GOWT1" / "01" / "t000.tif"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return tifffile.imread(path)[:512, :512]


def _said(image, **config):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        labels = threshold.segment(image, config=config or None)
    return labels, [w for w in caught if issubclass(w.category, BackgroundObjectWarning)]


def test_dark_cells_thresholded_as_bright_ones_are_said_to_be_the_background(gowt1):
    inverted = gowt1.max() - gowt1
    labels, said = _said(inverted)
    assert int(labels.max()) == 1 and len(said) == 1  # the background is the one object
    text = str(said[0].message)
    assert "covers 100% of the plane and touches all four edges" in text
    assert "dark_objects set to true (--set dark_objects=true)" in text
    labels, said = _said(inverted, dark_objects=True)  # the advice works: the nuclei, no warning
    assert int(labels.max()) > 5 and not said


def test_bright_nuclei_and_a_movie_say_which_planes(gowt1):
    assert not _said(gowt1)[1]
    inverted = gowt1.max() - gowt1
    movie = to_dataarray(np.stack([gowt1, inverted, inverted]), dims="TYX")
    (warning,) = _said(movie)[1]
    assert str(warning.message).startswith("In 2 of 3 planes; in plane 1 (0-based), one object covers")
    from labelfree.imagej.terms import in_imagej_terms

    assert in_imagej_terms(str(warning.message)).startswith(
        "In 2 of 3 planes; in plane 2 (the stack's planes, counted from 1), one object covers")
    assert "dark_objects set to true (dark_objects=true)" in in_imagej_terms(str(warning.message))
