"""Frame numbers of Cutter's and Motion's warnings as the ImageJ Log gives them: counted from 1, as ImageJ
counts a stack's frames (the Python messages count from 0)."""

from __future__ import annotations

import types
import warnings

import numpy as np

from labelfree.cutter.prepare import MarkerWarning, _warn_if_nothing_marked, warn_markers_on_background
from labelfree.imagej.terms import in_imagej_terms


def _caught(fn, *args, **kwargs) -> str:
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        fn(*args, **kwargs)
    (w,) = [w for w in seen if issubclass(w.category, MarkerWarning)]
    return str(w.message)


def test_cutter_frames_are_counted_from_1_in_the_imagej_log():
    """The Log said "(t=0, y=5, x=7)" and "of frame 2" for what ImageJ shows as frames 1 and 3."""
    mask = np.zeros((20, 20), bool)
    mask[8:16, 8:16] = True
    said = _caught(_warn_if_nothing_marked, mask, np.array([[2.0, 2.0]]), 2)
    assert "of frame 2 (0-based)" in said
    assert "of frame 3 (the stack's frames, counted from 1)" in in_imagej_terms(said)

    frames = [types.SimpleNamespace(mask=mask, markers=np.array([[10.0, 10.0], [2.0, 3.0]])),
              types.SimpleNamespace(mask=mask, markers=np.array([[12.0, 12.0], [18.0, 1.0]]))]
    said = _caught(warn_markers_on_background, frames, stacked=True)
    assert "(t=0, y=2, x=3), (t=1, y=18, x=1) (t: the 0-based frame)" in said
    logged = in_imagej_terms(said)
    assert "(frame 1, x=3, y=2), (frame 2, x=1, y=18) (frames counted from 1)" in logged and "t=" not in logged
    assert "(x=3, y=2)." in in_imagej_terms(_caught(warn_markers_on_background, frames[:1], stacked=False))
    single = _caught(warn_markers_on_background, frames[:1], stacked=False)
    assert "(y=2, x=3)." in single and "0-based" not in single


def test_motion_blank_frames_are_counted_from_1_in_the_imagej_log():
    said = "2 of 9 frames have one value in every pixel: frames [0, 4] (0-based) are left empty"
    assert "frames 1, 5 (the stack's frames, counted from 1) are left empty" in in_imagej_terms(said)


def test_the_fiji_markers_field_says_what_it_takes_there():
    """The Fiji field (and its macro key) takes detect or roi_manager; its help named a points CSV, a label
    TIFF and a ROI zip, the command line's files, which the field refuses."""
    from labelfree.imagej.fields import command_fields
    from labelfree.pipelines import get_pipeline

    field = next(f for f in command_fields("cutter") if f.key == "markers")
    assert field.choices == ("detect", "roi_manager")
    assert "roi_manager (the ROI Manager's point selections" in field.help and "CSV" not in field.help
    cli_help = next(i.help for i in get_pipeline("cutter").inputs if i.name == "markers")
    assert "points CSV" in cli_help  # the command line's --markers FILE keeps its own
