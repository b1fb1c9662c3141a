"""The Fiji commands count channels as ImageJ does (from 1, C1..Cn), refuse to segment their own label image by
accident, and refuse a selection too small to segment."""

from __future__ import annotations

import numpy as np
import pytest
from channel_images import disks

from labelfree.errors import ConfigError, InputError
from labelfree.image import to_dataarray
from labelfree.imagej.fields import command_fields


#: the first channel shows four objects, the second two
FIRST = disks([(20, 20), (20, 70), (70, 20), (70, 70)])
SECOND = disks([(45, 45), (80, 45)], seed=1)


# ---- without a JVM: the numbers as read -----------------------------------------------------------------------

def test_every_channel_key_of_the_commands_is_found():
    from labelfree.imagej.fields import channel_keys

    assert channel_keys(command_fields("threshold")) == {"channel": False}
    assert channel_keys(command_fields("motion")) == {"channel": False}
    assert channel_keys(command_fields("cutter")) == {"cell_channels": True, "nucleus_channel": False}
    assert channel_keys(command_fields("fusion")) == {"channels": True}
    assert channel_keys(command_fields("drift")) == {"channel": False}
    assert channel_keys(command_fields("stitch")) == {"channel": False}


def test_numbers_from_one_and_c1_become_indices_from_zero():
    from labelfree.imagej.fields import channels_from_imagej, channels_to_imagej

    keys = {"cell_channels": True, "nucleus_channel": False, "channels": True, "channel": False}
    names = ["C0", "C1", "C2"]
    read = channels_from_imagej({"cell_channels": (1, 2), "nucleus_channel": "C3", "channels": ("c2",),
                                 "channel": 3}, keys, names, named=False)
    assert read == {"cell_channels": (0, 1), "nucleus_channel": 2, "channels": (1,), "channel": 2}
    assert channels_to_imagej(read, keys) == {"cell_channels": (1, 2), "nucleus_channel": 3, "channels": (2,),
                                              "channel": 3}
    assert channels_from_imagej({"channel": None, "channels": ()}, keys, names, named=False) == {
        "channel": None, "channels": ()}


def test_named_channels_keep_their_names_and_numbers_count_from_one():
    from labelfree.imagej.fields import channels_from_imagej

    keys = {"channel": False, "channels": True}
    names = ["DAPI", "GFP", "C1"]
    assert channels_from_imagej({"channel": "gfp", "channels": ("DAPI", 2, "C1")}, keys, names, named=True) == {
        "channel": "gfp", "channels": ("DAPI", 1, "C1")}  # a channel named C1 is that channel
    assert channels_from_imagej({"channel": "C2"}, keys, ["DAPI", "GFP"], named=True) == {"channel": 1}
    with pytest.raises(InputError, match="'GPF' not found.*Did you mean 'GFP'"):
        channels_from_imagej({"channel": "GPF"}, keys, names, named=True)


def test_channel_zero_and_numbers_beyond_the_image_are_refused():
    from labelfree.imagej.fields import channels_from_imagej

    keys = {"channel": False, "cell_channels": True}
    with pytest.raises(ConfigError, match=r"channel=0 is no channel: ImageJ counts channels from 1 .*"
                                          r"the first channel is channel=1; this image has 2 channel\(s\): 1, 2"):
        channels_from_imagej({"channel": 0}, keys, ["C0", "C1"], named=False)
    with pytest.raises(ConfigError, match="cell_channels=C0 is no channel: ImageJ counts channels from 1"):
        channels_from_imagej({"cell_channels": ("C0",)}, keys, ["C0", "C1"], named=False)
    with pytest.raises(ConfigError, match=r"cell_channels=3 is out of range: this image has 2 channel\(s\), "
                                          r"numbered from 1 as ImageJ does: 1 \(DAPI\), 2 \(GFP\)"):
        channels_from_imagej({"cell_channels": (1, 3)}, keys, ["DAPI", "GFP"], named=True)
    with pytest.raises(ConfigError, match="channel='GFP' is no channel of this image: its 2 channel.s. have no "
                                          "names; give a number from 1 to 2 or C1 to C2"):
        channels_from_imagej({"channel": "GFP"}, keys, ["C0", "C1"], named=False)


# ---- through ImageJ's macro interpreter ---------------------------------------------------------------------------

def _show(image, title: str, *, dims: str, **kw):
    import labelfree.imagej as lij

    imp = lij.xarray_to_imageplus(to_dataarray(image, dims=dims, **kw), title=title)
    imp.show()
    return imp


def _log() -> str:
    from scyjava import jimport

    return str(jimport("ij.IJ").getLog() or "")


def _objects(title: str) -> int:
    import labelfree.imagej as lij
    from scyjava import jimport

    imp = jimport("ij.WindowManager").getImage(title)
    assert imp is not None, f"no image titled {title}"
    return int(np.unique(lij.imageplus_to_xarray(imp).values).size - 1)


@pytest.mark.jvm
@pytest.mark.parametrize("channel, objects", [("1", 4), ("2", 2), ("C1", 4), ("C2", 2)])
def test_a_macro_channel_counts_from_one_as_the_c_slider(clean, channel, objects):
    """Was: channel=1 and channel=C1 segmented the SECOND channel, silently."""
    import labelfree.imagej as lij

    _show(np.stack([FIRST, SECOND]), "merge", dims="CYX")
    lij.run_macro(f'selectImage("merge"); Stack.setChannel(1); '
                  f'run("LabelFree Threshold", "min_size=20 channel={channel} rois=none table=false");')
    assert _objects("merge-labels") == objects
    number = 1 if objects == 4 else 2
    assert f"LabelFree Threshold on merge: channel {number} of 2" in _log(), _log()


@pytest.mark.jvm
def test_channel_zero_in_a_macro_is_an_error_saying_imagej_counts_from_one(clean):
    import labelfree.imagej as lij

    _show(np.stack([FIRST, SECOND]), "merge", dims="CYX")
    with pytest.raises(ConfigError, match="channel=0 is no channel: ImageJ counts channels from 1"):
        lij.run_macro('selectImage("merge"); run("LabelFree Threshold", "min_size=20 channel=0 rois=none");')
    from scyjava import jimport

    assert [str(t) for t in jimport("ij.WindowManager").getImageTitles()] == ["merge"]


@pytest.mark.jvm
def test_the_channel_on_show_is_the_default_and_is_recorded_from_one(clean):
    import labelfree.imagej as lij

    imp = _show(np.stack([FIRST, SECOND]), "merge", dims="CYX")
    imp.setC(2)
    result = lij.run_command("threshold", imp, options="min_size=20 rois=none table=false")
    assert int(result.labels.max()) == 2
    assert "channel=2" in result.options.split(), result.options
    assert "LabelFree Threshold on merge: channel 2 of 2" in _log(), _log()
    again = lij.run_command("threshold", imp, options=result.options)  # the options string replays the run
    assert np.array_equal(again.labels.values, result.labels.values)


@pytest.mark.jvm
def test_named_channels_are_taken_by_name_or_number_and_logged_with_their_name(clean):
    import labelfree.imagej as lij

    _show(np.stack([SECOND, FIRST, SECOND]), "named", dims="CYX", channel_names=["DAPI", "GFP", "RFP"])
    lij.run_macro('selectImage("named"); run("LabelFree Threshold", "min_size=20 channel=GFP rois=none table=false");')
    assert _objects("named-labels") == 4
    lij.run_macro('selectImage("named"); run("LabelFree Threshold", "min_size=20 channel=2 rois=none table=false");')
    assert _objects("named-labels-1") == 4
    assert _log().count("LabelFree Threshold on named: channel 2 (GFP) of 3") == 2, _log()


@pytest.mark.jvm
def test_a_second_command_refuses_the_label_image_of_the_first(clean):
    """Was: the second run segmented 'cells-labels' (Otsu on label ids), silently."""
    import labelfree.imagej as lij

    _show(FIRST, "cells", dims="YX")
    lij.run_macro('selectImage("cells"); run("LabelFree Threshold", "min_size=20 rois=none table=false");')
    with pytest.raises(InputError, match=r"run on 'cells-labels', a LabelFree label image .*selectImage"):
        lij.run_macro('run("LabelFree Threshold", "min_size=20 rois=none table=false");')
    from scyjava import jimport

    assert [str(t) for t in jimport("ij.WindowManager").getImageTitles()] == ["cells", "cells-labels"]
    # named explicitly: segmented, with a warning in the Log
    lij.run_macro('run("LabelFree Threshold", "image=cells-labels min_size=20 rois=none table=false");')
    assert 0 < _objects("cells-labels-labels") <= 4  # Otsu on the ids: what was asked for
    assert "cells-labels is a LabelFree label image" in _log(), _log()


@pytest.mark.jvm
def test_a_selection_too_small_to_segment_is_refused_clearly(clean):
    """Was: 'LabelFree error: ValueError: zero-size array to reduction operation minimum' for a 3 x 3 selection."""
    import labelfree.imagej as lij

    _show(np.stack([FIRST] * 3), "movie", dims="TYX")
    with pytest.raises(InputError, match=r"selection on movie \(x=16, y=16, 3x3 pixels inside the image\) is too "
                                         r"small to segment: it needs at least 8x8 pixels"):
        lij.run_macro('selectImage("movie"); makeRectangle(16, 16, 3, 3); '
                      'run("LabelFree Threshold", "min_size=20 rois=none table=false");')
    lij.run_macro('selectImage("movie"); makeRectangle(8, 8, 24, 24); '
                  'run("LabelFree Threshold", "min_size=20 rois=none table=false");')
    assert _objects("movie-labels") == 1
