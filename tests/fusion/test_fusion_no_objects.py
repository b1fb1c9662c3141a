"""Fusion with a model that finds nothing on an image with clear cells says so (it returned empty labels without
a word)."""

from __future__ import annotations

import numpy as np
import pytest
from fusion_data import synthetic_pair

from labelfree.image import to_dataarray


def _two_frames():
    image, truth = synthetic_pair(0)
    movie = np.stack([image, image[:, ::-1]])
    return to_dataarray(movie, dims="TCYX", channel_names=["actin", "tubulin"]), truth


def test_an_untrained_model_that_finds_no_cell_gives_a_warning_saying_what_to_check():
    from labelfree.fusion import new_model, segment
    from labelfree.fusion.segment import NoObjectsWarning

    movie, truth = _two_frames()
    assert truth.max() == 8  # eight clear cells in each frame
    untrained = new_model(nbase=(8, 16, 32, 64), diam_mean=15.0, device="cpu")
    with pytest.warns(NoObjectsWarning, match=r"Fusion found no object in any of the 2 frames \(channels actin, "
                                              r"tubulin; models: scratch; diameter 15\.0 px.*Check the models.*"
                                              r"untrained.*--set diameter=N.*--channel.*cellprob_threshold, now 0"):
        labels = segment(movie, models=untrained, device="cpu")
    assert labels.dims == ("T", "Y", "X") and int(labels.max()) == 0
    with pytest.warns(NoObjectsWarning, match=r"no object in the image \(channels actin; .*diameter 15\.0 px, "
                                              r"the models' training diameter: the search found no objects"):
        segment(movie.isel(T=0), models=untrained, channels="actin", device="cpu")


def test_a_given_diameter_that_finds_nothing_is_warned_of_too():
    """A tiled run merges its tiles' warnings (one for the image, only when no tile found a cell), so a given
    diameter (every tile's) is warned of as a measured one is, naming it."""
    from labelfree.fusion import new_model, segment
    from labelfree.fusion.segment import NoObjectsWarning

    movie, _ = _two_frames()
    untrained = new_model(nbase=(8, 16, 32, 64), diam_mean=15.0, device="cpu")
    with pytest.warns(NoObjectsWarning, match=r"diameter 12\.0 px, given"):
        labels = segment(movie, models=untrained, config={"diameter": 12}, device="cpu")
    assert int(labels.max()) == 0


def test_a_model_that_finds_cells_gives_no_warning(model, recwarn):
    from labelfree.fusion import segment
    from labelfree.fusion.segment import NoObjectsWarning

    movie, _ = _two_frames()
    labels = segment(movie, models=model, device="cpu")
    assert int(labels.isel(T=0).max()) >= 4 and int(labels.isel(T=1).max()) >= 4
    assert not [w for w in recwarn if issubclass(w.category, NoObjectsWarning)]
