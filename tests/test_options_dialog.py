"""The Fiji dialog shows and returns the value it was given: a channel given by name, a boolean left auto.

The dialog shows a channel option as a choice of the image's channels; a value given as a name (a
config file, a macro) used to match no item, so the dialog showed (and, on OK, returned) ``auto`` or
channel 0 instead. A boolean that may be automatic was a checkbox, which turned auto into false. These
build the real ImageJ dialog page and read it back, as a user pressing OK gets it.
"""
from __future__ import annotations

import pytest

from labelfree.errors import ConfigError
from labelfree.imagej.fields import command_fields

pytestmark = pytest.mark.jvm

CHANNELS = ["GFP", "DAPI", "RFP"]


def _ok(command: str, key: str, value):
    """The value a user gets back from the dialog page after pressing OK without a change."""
    from labelfree.imagej.dialog import build_page, read_page

    fields = [f for f in command_fields(command) if f.key == key]
    gd = build_page("LabelFree test", fields, values={key: value}, channels=CHANNELS)
    shown = str(gd.getChoices()[0].getSelectedItem())
    read, _ = read_page(gd, fields, values={key: value}, channels=CHANNELS)
    return shown, read[key]


@pytest.mark.parametrize("command, key, value, shown, back", [
    ("cutter", "nucleus_channel", "DAPI", "2: DAPI", 1),
    ("cutter", "nucleus_channel", "RFP", "3: RFP", 2),
    ("cutter", "nucleus_channel", 1, "2: DAPI", 1),
    ("cutter", "nucleus_channel", "2", "3: RFP", 2),
    ("cutter", "nucleus_channel", -1, "3: RFP", 2),
    ("cutter", "nucleus_channel", None, "auto", None),
    ("threshold", "channel", "RFP", "3: RFP", 2),
    ("threshold", "channel", 0, "1: GFP", 0),
    ("drift", "channel", "DAPI", "2: DAPI", 1),
])
def test_a_channel_given_by_name_or_index_is_the_one_the_dialog_shows_and_returns(ij, command, key, value, shown,
                                                                                 back):
    """The value is the pipelines' 0-based index or a name; the dialog's items count from 1, as ImageJ does."""
    assert _ok(command, key, value) == (shown, back)


@pytest.mark.parametrize("command, key, value, tail", [
    ("cutter", "nucleus_channel", "dapi", ", or auto."),
    ("cutter", "nucleus_channel", 3, ", or auto."),
    ("threshold", "channel", "Cy5", "."),
])
def test_a_channel_the_image_lacks_is_an_error_not_another_channel(ij, command, key, value, tail):
    with pytest.raises(ConfigError) as err:
        _ok(command, key, value)
    assert str(err.value) == (f"{key}={value!r} is no channel of this image; give the index or the name of one of "
                              f"its channels (0: GFP, 1: DAPI, 2: RFP){tail}")


@pytest.mark.parametrize("value, shown", [(None, "auto"), (True, "true"), (False, "false")])
def test_a_boolean_that_may_be_automatic_keeps_auto_in_the_dialog(ij, value, shown):
    """Cutter's mask_ridges is true, false or auto (None); a checkbox turned auto into false on OK."""
    from labelfree.imagej.dialog import build_page, read_page

    fields = [f for f in command_fields("cutter") if f.key == "mask_ridges"]
    gd = build_page("LabelFree test", fields, values={"mask_ridges": value})
    choice = gd.getChoices()[0]
    assert [str(choice.getItem(i)) for i in range(choice.getItemCount())] == ["auto", "true", "false"]
    assert str(choice.getSelectedItem()) == shown
    read, _ = read_page(gd, fields, values={"mask_ridges": value})
    assert read == {"mask_ridges": value}
    again = build_page("LabelFree test", fields, values={"mask_ridges": value})
    again.getChoices()[0].select("auto")  # the user picks auto
    assert read_page(again, fields, values={"mask_ridges": value})[0] == {"mask_ridges": None}


def test_the_dialog_counts_unnamed_channels_from_1_as_imagej(ij):
    """The items read "0: C0", "1: C1" where ImageJ's C slider shows 1 and 2; they are "1", "2" now."""
    from labelfree.imagej.dialog import build_page, read_page

    fields = [f for f in command_fields("threshold") if f.key == "channel"]
    gd = build_page("LabelFree test", fields, values={"channel": 1}, channels=["C0", "C1"])
    choice = gd.getChoices()[0]
    assert [str(choice.getItem(i)) for i in range(choice.getItemCount())] == ["1", "2"]
    assert str(choice.getSelectedItem()) == "2"
    assert read_page(gd, fields, values={"channel": 1}, channels=["C0", "C1"])[0] == {"channel": 1}
