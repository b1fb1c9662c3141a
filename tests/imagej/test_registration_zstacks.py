"""LabelFree Drift and Stitch on z-stacks, as ``labelfree drift`` and ``labelfree stitch`` take them.

Drift measures a time-lapse of z-stacks in 3-D (dz, dy, dx) or, with ``xy_only``, on each frame's Z average, and
shifts every slice; Fiji's Correct 3D Drift grows its canvas in Z too, which ``canvas=same`` and ``crop`` cut back.
Stitch stitches 2-D tiles (the slices or the frames of a stack): tiles that are z-stacks (slices and frames) and a
single plane are refused before its dialog opens, in ImageJ's words. Refusals name an image's size as ImageJ counts
it ("2 channels x 5 slices x 3 frames"), not as dims letters.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage as ndi
from test_imagej_robustness import _from_menu, _table
from test_zstack_refusals import _macro_without_dialog

from labelfree.errors import DimensionError
from labelfree.image import to_dataarray

pytestmark = pytest.mark.jvm

#: the drift (dz, dy, dx) of each frame of :func:`_movie`, in pixels
DRIFT = np.array([[0, 0, 0], [1, 2, -3], [2, -1, 1]])


def _volume(shape=(16, 48, 48)) -> np.ndarray:
    rng = np.random.default_rng(0)
    base = ndi.gaussian_filter(rng.random(shape), 2.5)
    return ((base - base.min()) / (base.max() - base.min()) * 200 + 20).astype(np.uint8)


def _movie() -> np.ndarray:
    """A TZYX movie: one smooth random volume drifted by DRIFT (content at p in frame 0 is at p + d in frame t)."""
    vol = _volume()
    return np.stack([np.roll(vol, tuple(d), axis=(0, 1, 2)) for d in DRIFT])


def _show(data: np.ndarray, dims: str, title: str):
    import labelfree.imagej as lij

    imp = lij.xarray_to_imageplus(to_dataarray(data, dims=dims), title=title)
    imp.show()
    return imp


def _image(title: str):
    from scyjava import jimport

    imp = jimport("ij.WindowManager").getImage(title)
    assert imp is not None, f"no image titled {title}"
    return imp


def test_drift_of_a_time_lapse_of_z_stacks_from_an_untouched_dialog_is_3d_as_on_the_command_line(clean):
    """The Drift dialog on a TZYX hyperstack, OK pressed: the drift in 3-D, every slice shifted, as correct_drift."""
    import labelfree.imagej as lij
    from labelfree.registration import correct_drift

    movie = _movie()
    _show(movie, "TZYX", "volumes")
    errors, dialogs = _from_menu("LabelFree Drift", "volumes")
    assert errors == [] and dialogs == ["LabelFree Drift"]
    table = _table("volumes-shifts")
    assert table[["frame", "dz", "dy", "dx"]].to_numpy().tolist() == [[t + 1, *d] for t, d in enumerate(DRIFT)]
    out = _image("volumes-drift-corrected")
    assert (out.getNSlices(), out.getNFrames()) == (16 + 2, 3)  # the canvas grows by the drift's range in Z too
    expected, _ = correct_drift(to_dataarray(movie, dims="TZYX"), backend="python")
    np.testing.assert_array_equal(lij.imageplus_to_xarray(out).values, expected.values)


def test_drift_xy_only_measures_on_the_z_average_and_shifts_every_slice(clean):
    import labelfree.imagej as lij

    movie = _movie()
    movie[:] = np.stack([np.roll(movie[0], tuple(d[1:]), axis=(1, 2)) for d in DRIFT])  # no drift in Z
    _show(movie, "TZYX", "flat")
    lij.run_macro('selectImage("flat"); run("LabelFree Drift", "xy_only=true canvas=same subpixel=false");')
    assert _table("flat-shifts")[["dy", "dx"]].to_numpy().tolist() == DRIFT[:, 1:].tolist()
    out = lij.imageplus_to_xarray(_image("flat-drift-corrected")).values
    assert out.shape == movie.shape
    inside = np.s_[:, 4:-4, 4:-4]  # each frame's slices, away from the zero-filled edges
    for t in range(3):
        np.testing.assert_array_equal(out[t][inside], movie[0][inside])


@pytest.mark.parametrize("canvas", ["same", "crop"])
@pytest.mark.parametrize("dims", ["TZYX", "TYX"])
def test_fijis_grown_z_is_cut_for_canvas_same_and_crop(clean, monkeypatch, canvas, dims):
    """Correct 3D Drift grows its canvas in X, Y and Z; canvas=same and crop were cut in X and Y only, so the
    corrected movie kept Fiji's extra slices (18 instead of 16 for same). Fiji's output is stood in for by the
    Python backend's grown canvas (the layout the cut assumes: the first frame at -max(drift)); a movie of 2-D
    frames is cut as before."""
    import labelfree.imagej as lij
    from labelfree.imagej import plugins
    from labelfree.imagej.registration import correct_drift_imageplus
    from labelfree.registration import DriftConfig, apply_shifts

    movie = to_dataarray(_movie() if dims == "TZYX" else _movie()[:, 0], dims=dims)
    drift = DRIFT if dims == "TZYX" else DRIFT[:, 1:]
    table = pd.DataFrame({"frame": range(3), **{f"d{ax.lower()}": drift[:, i] for i, ax in enumerate(dims[1:])}})

    def correct_3d_drift(imp, options):
        grown = apply_shifts(lij.imageplus_to_xarray(imp), table, canvas="grow", subpixel=False)
        xyz = np.zeros((3, 3))
        xyz[:, :drift.shape[1]] = drift[:, ::-1]
        return lij.xarray_to_imageplus(grown), xyz  # x, y, z as Fiji logs them

    monkeypatch.setattr(plugins, "run_correct_3d_drift", correct_3d_drift)
    imp = lij.xarray_to_imageplus(movie, title="volumes")
    result, shifts = correct_drift_imageplus(imp, DriftConfig(canvas=canvas, subpixel=False))
    expected = apply_shifts(movie, table, canvas=canvas, subpixel=False)
    assert (result.getNSlices() if dims == "TZYX" else 3, result.getHeight(), result.getWidth()) == \
        expected.shape[-3:]
    np.testing.assert_array_equal(lij.imageplus_to_xarray(result).values, expected.values)
    assert shifts[[f"d{ax.lower()}" for ax in dims[1:]]].to_numpy().tolist() == drift.tolist()


@pytest.mark.parametrize(("dims", "shape", "said"), [
    ("TZYX", (4, 3, 40, 40),
     ("LabelFree Stitch stitches 2-D tiles, the slices or the frames of a stack; tiles has 3 slices x 4 frames: "
      "tiles that are z-stacks, which it does not stitch. Make each tile one plane first: when the frames are the "
      "tiles, project each one (Image > Stacks > Z Project..., all time frames); when the slices are the tiles, pick "
      "one frame (Image > Duplicate... with one frame). Then run the command on that stack.")),
    ("YX", (40, 40),
     ("LabelFree Stitch stitches the planes of a stack (its slices or its frames) as the tiles of a grid; tiles has "
      "no slices or frames (one plane). Make a stack of the tiles first (Image > Stacks > Images to Stack), then "
      "run the command on that stack.")),
])
def test_stitch_refuses_what_it_cannot_stitch_before_its_dialog(clean, dims, shape, said):
    """Was: the dialog opened (a macro with "" options waited on it) and the image was refused after OK."""
    from scyjava import jimport

    _show(np.random.default_rng(1).integers(0, 200, shape).astype(np.uint8), dims, "tiles")
    outcome, dialogs = _macro_without_dialog('selectImage("tiles"); run("LabelFree Stitch", "");', "LabelFree Stitch")
    assert dialogs == 0, "the Stitch dialog opened before the refusal"
    assert isinstance(outcome.get("error"), DimensionError), outcome
    assert str(outcome["error"]) == said
    assert f"LabelFree error: {said}" in str(jimport("ij.IJ").getLog())
    assert jimport("ij.WindowManager").getImage("tiles-stitched") is None


def test_the_refusal_of_a_z_stack_says_its_size_in_imagejs_words(clean):
    """Was: "... is a z-stack of 5 slices in each of its 3 frames (dims TCZYX)"."""
    movie = np.stack([_movie()[:, :5]] * 2, axis=1)[:, :, :, :32, :32]
    _show(movie, "TCZYX", "zstack")
    outcome, dialogs = _macro_without_dialog('selectImage("zstack"); run("LabelFree Motion", "");',
                                             "LabelFree Motion")
    assert dialogs == 0
    text = str(outcome["error"])
    assert text.startswith("LabelFree Motion segments 2-D planes (one per frame); zstack is a z-stack of 2 channels "
                           "x 5 slices x 3 frames. LabelFree Threshold segments z-stacks. Segment one plane"), text
    assert "dims" not in text


def test_an_image_shape_refused_by_a_pipeline_is_said_in_channels_slices_and_frames():
    from labelfree.image import validate_image
    from labelfree.imagej.terms import in_imagej_terms

    with pytest.raises(DimensionError) as err:
        validate_image(np.zeros((6, 2, 3, 20, 30), np.uint8), allowed=("T", "C", "Y", "X"), dims="TCZYX",
                       name="Cutter input", allow_constant=True)
    said = in_imagej_terms(str(err.value))
    assert said.startswith("Cutter input has 2 channels x 3 slices x 6 frames of 30x20 pixels: the command takes "
                           "2-D planes with channels and frames, not slices. Segment one plane or a projection: "
                           "pick a plane (Image > Duplicate... with one slice)"), said
    assert "dims" not in said and "shape" not in said
