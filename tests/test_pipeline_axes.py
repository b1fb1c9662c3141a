"""Which pipelines take z-stacks is said once, by their specs (``PipelineSpec.takes_z``): the Fiji commands' refusal
before the dialog, the no-dims error of a pipeline given a plain array and docs/concepts.md follow it; the core's
``to_dataarray`` names no pipeline."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
from imagej_stand_in import StackImagePlus
import xarray as xr

from labelfree.errors import DimensionError

DOCS = Path(__file__).resolve().parents[1] / "docs"
NOTE = "Of the pipelines, threshold segments z-stacks; motion, cutter and fusion take 2-D planes (project a z-stack " \
       "first)."


@pytest.fixture
def cutter_takes_z(monkeypatch):
    """The registry as if Cutter declared ``takes_z=True``."""
    from labelfree import pipelines as registry

    specs = dict(registry.pipelines())
    specs["cutter"] = dataclasses.replace(specs["cutter"], takes_z=True)
    monkeypatch.setattr(registry, "pipelines", lambda: specs)
    return specs


def test_the_note_lists_the_pipelines_by_their_specs(cutter_takes_z):
    from labelfree._axes import z_stacks_note

    assert z_stacks_note() == "Of the pipelines, threshold and cutter segment z-stacks; motion and fusion take 2-D " \
                              "planes (project a z-stack first)."


def test_the_note_of_the_registry_as_it_is():
    from labelfree._axes import z_stacks_note

    assert z_stacks_note() == NOTE


@pytest.mark.parametrize("module", ["labelfree.threshold.segment", "labelfree.cutter.segment"])
def test_a_pipeline_given_a_plain_stack_without_dims_says_what_the_specs_say(module, cutter_takes_z):
    """Was: the words "threshold segments z-stacks; motion, cutter and fusion take 2-D planes" fixed in the core's
    message (labelfree.image), whatever the specs declared."""
    import importlib

    segment = importlib.import_module(module).segment
    with pytest.raises(DimensionError) as err:
        segment(np.zeros((5, 30, 30), np.uint8))
    assert "'ZYX' for a z-stack). Of the pipelines, threshold and cutter segment z-stacks; motion and fusion take " \
           "2-D planes (project a z-stack first). Where a function has no dims= parameter" in str(err.value)


def test_fusion_given_a_plain_5d_array_without_dims_says_it_too():
    from labelfree.fusion.segment import segment

    with pytest.raises(DimensionError) as err:
        segment(np.zeros((2, 2, 2, 30, 30), np.uint8))
    assert f"'TCZYX' for a time-lapse of z-stacks with channels). {NOTE} Where" in str(err.value)


def test_to_dataarray_names_no_pipeline():
    """The core serves every pipeline: its message suggests dims and no more (was: the pipelines' words, fixed)."""
    from labelfree.image import to_dataarray

    with pytest.raises(DimensionError) as err:
        to_dataarray(np.zeros((5, 30, 30), np.uint8))
    assert str(err.value) == (
        "A 3-D array needs dims=..., one letter per axis from T, C, Z, Y, X (shape (5, 30, 30); e.g. dims='TYX' for a "
        "time-lapse, 'CYX' for channels, 'YXC' for channel-last colour, 'ZYX' for a z-stack). Where a function has no "
        "dims= parameter, wrap it with labelfree.to_dataarray(array, dims='TYX') first.")


def test_validate_image_adds_the_callers_note_only_when_dims_are_missing():
    from labelfree.image import validate_image

    asked = []

    def note() -> str:
        asked.append(1)
        return "Caller's words."

    with pytest.raises(DimensionError) as err:
        validate_image(np.zeros((2, 3, 30, 30), np.uint8), no_dims_note=note)
    assert "'TZYX' for a time-lapse of z-stacks). Caller's words. Where a function" in str(err.value)
    with pytest.raises(DimensionError) as err:
        validate_image([np.zeros((30, 30)), np.ones((30, 30))], no_dims_note="A list's note.")
    said = str(err.value)
    assert "(shape (2, 30, 30); e.g." in said and "'ZYX' for a z-stack). A list's note. Where" in said
    assert asked == [1]
    image = np.arange(3 * 30 * 30, dtype=np.uint16).reshape(3, 30, 30)
    assert validate_image(image, dims="ZYX", no_dims_note=note).dims == ("Z", "Y", "X")
    assert validate_image(xr.DataArray(image, dims=("z", "y", "x")), no_dims_note=note).dims == ("Z", "Y", "X")
    assert validate_image(image[0], no_dims_note=note).dims == ("Y", "X")
    assert asked == [1]  # called only for the error
    with pytest.raises(DimensionError) as err:  # channel-last colour: its own message, dims='YXC'
        validate_image(np.zeros((30, 30, 3), np.uint8), no_dims_note=note)
    assert "dims='YXC'" in str(err.value) and "Caller's words" not in str(err.value) and asked == [1]


def test_the_fiji_refusal_before_the_dialog_follows_the_spec(cutter_takes_z):
    """Was: a list of names in labelfree.imagej.commands (Z_PIPELINES), apart from the specs."""
    from labelfree.imagej.commands import _check_frames

    _check_frames(cutter_takes_z["cutter"], StackImagePlus(1, 12, 1))  # declared: taken
    _check_frames(cutter_takes_z["threshold"], StackImagePlus(1, 12, 1))
    planes = dataclasses.replace(cutter_takes_z["threshold"], takes_z=False)
    with pytest.raises(DimensionError, match=r"^LabelFree Threshold segments 2-D planes .*is a z-stack of 12 slices"):
        _check_frames(planes, StackImagePlus(1, 12, 1))
    with pytest.raises(DimensionError, match=r"LabelFree Threshold and LabelFree Cutter segment"):
        _check_frames(cutter_takes_z["fusion"], StackImagePlus(1, 12, 1))


def test_the_concepts_page_says_what_the_specs_say():
    from labelfree._axes import z_stacks_note

    text = re.sub(r"\s+", " ", (DOCS / "concepts.md").read_text(encoding="utf-8"))
    assert z_stacks_note() in text, "docs/concepts.md: the z-stacks line disagrees with the pipelines' specs"
