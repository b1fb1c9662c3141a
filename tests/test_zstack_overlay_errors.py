"""Z-stacks in the overlay picture and in the errors: the overlay shows the Z plane with the objects (not the
out-of-focus plane 0) and says which in the PNG; a 3-D array without dims is told about 'ZYX' and which pipelines
take Z; Fusion's dims error names Fusion; the Fiji commands refuse Z for the pipelines that refuse it."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from imagej_stand_in import StackImagePlus
import tifffile
from PIL import Image

from labelfree import overlay
from labelfree.errors import DimensionError
from labelfree.image import to_dataarray
from labelfree.io.lut import glasbey_lut


def _stack(n_z: int = 7, objects_in: tuple[int, ...] = (3, 4)) -> tuple[np.ndarray, np.ndarray]:
    """A (Z, 40, 40) image of noise in every plane and a bright square in ``objects_in``, and its labels
    (plane 4 holds the most labelled pixels: two squares there, one in plane 3)."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 100, (n_z, 40, 40)).astype(np.uint16)
    labels = np.zeros((n_z, 40, 40), np.uint16)
    for z in objects_in:
        image[z, 10:20, 10:20] = 1000
        labels[z, 10:20, 10:20] = 1
    if 4 in objects_in:
        image[4, 25:35, 25:35] = 1000
        labels[4, 25:35, 25:35] = 2
    return image, labels


def _png_text(png: bytes) -> dict:
    return dict(Image.open(io.BytesIO(png)).text)


def test_the_overlay_of_a_z_stack_shows_the_plane_with_the_most_labelled_pixels():
    """Was: plane 0, out-of-focus noise without any outline, and the PNG did not say which plane it was."""
    image, labels = _stack()
    img, lab = to_dataarray(image, dims="ZYX"), to_dataarray(labels, dims="ZYX")
    assert overlay.shown_plane(lab) == {"Z": 4}
    rgb = overlay.overlay_rgb(img, lab)
    lut = glasbey_lut().T
    assert tuple(rgb[10, 15]) == tuple(lut[1]) and tuple(rgb[25, 30]) == tuple(lut[2])  # both outlines of plane 4
    assert tuple(rgb[15, 15]) == (255, 255, 255) and tuple(rgb[30, 30]) == (255, 255, 255)  # plane 4's pixels
    np.testing.assert_array_equal(rgb, overlay.overlay_rgb(img.isel(Z=4), lab.isel(Z=4)))  # plane 4's own picture
    text = _png_text(overlay.overlay_png_bytes(img, lab))
    assert text == {"plane": "Z plane 4 of 7 (the plane with the most labelled pixels); counted from 0"}


def test_an_unlabelled_z_stack_shows_its_middle_plane_and_says_so():
    image, labels = _stack(objects_in=())
    lab = to_dataarray(labels, dims="ZYX")
    assert overlay.shown_plane(lab) == {"Z": 3}
    text = _png_text(overlay.overlay_png_bytes(to_dataarray(image, dims="ZYX"), lab))
    assert text == {"plane": "Z plane 3 of 7 (the middle plane: no plane has labels); counted from 0"}
    assert overlay.shown_plane(to_dataarray(labels[:4], dims="ZYX")) == {"Z": 1}  # 4 planes: (4 - 1) // 2


def test_a_time_lapse_of_z_stacks_shows_the_first_frames_best_plane_of_the_chosen_channel():
    image, labels = _stack()
    later = np.zeros_like(labels)
    later[6, :, :] = 3  # frame 1's most labelled plane is 6: not the one shown
    lab = to_dataarray(np.stack([labels, later]), dims="TZYX")
    img = to_dataarray(np.stack([np.stack([image, image // 2])] * 2), dims="TCZYX")
    assert overlay.shown_plane(lab) == {"T": 0, "Z": 4}
    np.testing.assert_array_equal(overlay.first_plane(img, z=4, channel=1), image[4] // 2)
    assert _png_text(overlay.overlay_png_bytes(img, lab)) == {
        "plane": "frame 0 of 2, Z plane 4 of 7 (the plane with the most labelled pixels); counted from 0"}
    np.testing.assert_array_equal(overlay.overlay_rgb(img, lab), overlay.overlay_rgb(image[4], labels[4]))


def test_a_single_plane_keeps_its_picture_and_gets_no_plane_text():
    image, labels = _stack()
    png = overlay.overlay_png_bytes(image[4], labels[4], text={"mine": 1})
    assert _png_text(png) == {"mine": "1"}
    lab = to_dataarray(labels, dims="ZYX")  # the user's own "plane" text wins
    assert _png_text(overlay.overlay_png_bytes(None, lab, text={"plane": "mine"})) == {"plane": "mine"}
    lazy = lab.chunk({"Z": 1})  # a lazy (dask) label stack: read plane by plane, same choice
    assert overlay.shown_plane(lazy) == {"Z": 4}


def test_cli_overlay_of_a_z_stack_shows_and_names_the_plane_with_the_objects(tmp_path, capsys):
    """Was: ``labelfree threshold zyx.tif --overlay`` drew plane 0 (noise, no object) of a confocal stack."""
    from labelfree.cli import main

    image, _ = _stack()
    path = tmp_path / "zyx.tif"
    tifffile.imwrite(path, image, imagej=True, metadata={"axes": "ZYX"})
    assert main(["threshold", str(path), "-o", str(tmp_path / "out"), "--overlay", "-q"]) == 0
    picture = Image.open(tmp_path / "out" / "zyx_overlay.png")
    assert picture.text["plane"] == "Z plane 4 of 7 (the plane with the most labelled pixels); counted from 0"
    rgb = np.asarray(picture.convert("RGB"))
    assert tuple(rgb[15, 15]) == (255, 255, 255) and tuple(rgb[30, 30]) == (255, 255, 255)  # plane 4's objects
    assert tuple(rgb[10, 15]) in {tuple(c) for c in glasbey_lut().T[1:]}  # outlined in a label's colour


@pytest.mark.parametrize(("shape", "suggested"), [((5, 30, 30), "'ZYX' for a z-stack"),
                                                  ((2, 5, 30, 30), "'TZYX' for a time-lapse of z-stacks")])
def test_an_array_without_dims_is_told_about_z_stacks_and_which_pipelines_take_them(shape, suggested):
    """Was: "e.g. dims='TYX' for a time-lapse, 'CYX' for channels, 'YXC' for channel-last colour)": no Z."""
    from labelfree.threshold.segment import segment

    with pytest.raises(DimensionError) as err:
        segment(np.zeros(shape, np.uint8))
    said = str(err.value)
    assert f"'YXC' for channel-last colour, {suggested}). Of the pipelines, threshold segments z-stacks; motion, " \
           "cutter and fusion take 2-D planes (project a z-stack first)." in said, said


def test_fusions_dims_error_names_fusion():
    """Was: "image has dims TZYX ...", unlike Cutter's "Cutter input has dims ..."."""
    from labelfree.fusion.segment import segment

    with pytest.raises(DimensionError, match=r"^Fusion input has dims ZYX \(shape \(3, 32, 32\)\): unexpected Z\."):
        segment(to_dataarray(np.arange(3 * 32 * 32, dtype=np.uint16).reshape(3, 32, 32), dims="ZYX"))


def test_the_specs_say_z_for_exactly_the_pipelines_that_take_it():
    """What each spec declares (``takes_z``: the Fiji commands refuse a z-stack by it before the dialog, the errors
    and docs list the pipelines by it) agrees with the pipelines themselves."""
    from labelfree.pipelines import pipelines

    stack = np.full((2, 3, 32, 32), 10, np.uint8)
    stack[:, 1:, 8:20, 8:20] = 200
    takes_z = []
    for name, spec in pipelines().items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                spec.segment_function(to_dataarray(stack, dims="TZYX"))
        except DimensionError as exc:
            assert "Z" in str(exc), (name, exc)
            continue
        takes_z.append(name)
    assert takes_z == [name for name, spec in pipelines().items() if spec.takes_z] == ["threshold"]


@pytest.mark.parametrize(("command", "sizes", "start"), [
    ("motion", (1, 12, 5), "LabelFree Motion segments 2-D planes (one per frame); stack is a z-stack of 12 slices x "
                           "5 frames. LabelFree Threshold segments z-stacks. Segment one"),
    ("fusion", (2, 12, 1), "LabelFree Fusion segments 2-D planes (one per frame); stack is a z-stack of 2 channels x "
                           "12 slices. LabelFree Threshold segments z-stacks. Segment one"),
])
def test_the_refusal_before_the_dialog_says_what_to_do_in_imagejs_menus(command, sizes, start):
    from labelfree.imagej.commands import _check_frames
    from labelfree.imagej.terms import in_imagej_terms
    from labelfree.pipelines import get_command

    with pytest.raises(DimensionError) as err:
        _check_frames(get_command(command), StackImagePlus(*sizes))
    said = in_imagej_terms(str(err.value))
    assert said.startswith(start) and "Image > Stacks > Z Project..." in said, said
    for fine in [("threshold", (1, 12, 5)), (command, (sizes[0], 1, sizes[2]))]:  # Threshold takes Z; one plane
        _check_frames(get_command(fine[0]), StackImagePlus(*fine[1]))
