"""A fixed threshold that leaves every plane without objects (1e9 on a 16-bit image) says so, as Motion and
Fusion do, with a NoObjectsWarning; one that finds objects somewhere says nothing."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import labelfree.threshold as T
from labelfree import to_dataarray
from labelfree.errors import NoObjectsWarning


def _image(dims="TYX"):
    img = np.full((2, 40, 40), 100, np.uint16)
    img[:, 5:15, 5:15] = 900
    return to_dataarray(img, dims=dims)


def test_a_fixed_threshold_above_every_value_warns_with_the_values_and_what_to_do():
    with pytest.warns(NoObjectsWarning) as seen:
        labels = T.segment(_image(), config={"threshold": 1e9})
    assert int(labels.max()) == 0
    message = str(seen[0].message)
    assert message == ("No objects found in any of its 2 planes: no pixel lies above the fixed threshold 1e+09 "
                       "(ThresholdConfig.threshold); its values are 100..900. Give a threshold within the image's "
                       "values (--set threshold=VALUE), or leave it automatic (null: the otsu threshold of each "
                       "plane).")


def test_a_fixed_threshold_that_finds_objects_says_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        labels = T.segment(_image(), config={"threshold": 500})
    assert int(labels[0].max()) == 1 and int(labels[1].max()) == 1


def test_a_z_stack_at_a_fixed_threshold_above_every_value_warns_too():
    with pytest.warns(NoObjectsWarning, match=r"no pixel lies above the fixed threshold 5000 \(ThresholdConfig"):
        labels = T.segment(_image("ZYX"), config={"threshold": 5000})
    assert int(labels.max()) == 0


def test_a_fixed_threshold_with_pixels_beyond_it_in_small_objects_says_nothing():
    """Pixels above the threshold, in objects below min_size: the user's threshold and min_size to judge."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        labels = T.segment(_image(), config={"threshold": 500, "min_size": 1000})
    assert int(labels.max()) == 0
