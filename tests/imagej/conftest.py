"""Fixtures of the ImageJ bridge tests (the session's ImageJ, ``ij``, is in tests/conftest.py)."""

from __future__ import annotations

import pytest
from awt_events import empty_roi_manager


@pytest.fixture
def clean(ij):
    """No image, no dialog, an empty ROI Manager and Log; yields the ROI Manager."""
    from scyjava import jimport

    from labelfree.imagej.jvm import _close_imagej_windows, cancel_open_dialogs

    _close_imagej_windows()
    rm = jimport("ij.plugin.frame.RoiManager").getRoiManager()
    empty_roi_manager(rm)
    jimport("ij.IJ").log("\\Clear")
    yield rm
    empty_roi_manager(rm)
    cancel_open_dialogs()  # a test that failed with its dialog open leaves none for the next
    _close_imagej_windows()
