"""A ``config_file``'s channels (counted from 0, as the command line's) are recorded in the options string of the
run as ImageJ counts them (from 1), so that the string alone replays the same channels.

Was: a config file's ``channel: C1`` (the pipelines' name of the SECOND channel of an unnamed image) was recorded
as ``channel=C1``, which a macro reads as the FIRST channel; ``channel: -1`` as ``channel=0``, which is refused;
an RGB movie's Drift on its brightness (channel 0) as ``channel=1``, which replays on its red.
"""

from __future__ import annotations

import doctest
import json

import numpy as np
import pytest
from channel_images import disks, drift_movie
from scipy import ndimage as ndi

from labelfree.image import channel_by_name, channel_index, to_dataarray


# ---- without a JVM ------------------------------------------------------------------------------------------------

UNNAMED = ["C0", "C1", "C2"]
NAMED = ["DAPI", "GFP", "RFP"]


def _replayed_index(value, names, *, named: bool) -> int:
    """The channel a macro reads from the recorded form of a config file's ``value`` (0-based index)."""
    from labelfree.imagej.fields import channels_from_config, channels_from_imagej, channels_to_imagej

    keys = {"channel": False}
    recorded = channels_to_imagej(channels_from_config({"channel": value}, keys, names, named=named), keys)
    read = channels_from_imagej(recorded, keys, names, named=named)["channel"]
    return channel_by_name(names, read) if isinstance(read, str) else read


@pytest.mark.parametrize("value", [0, 1, 2, -1, -3, "1", "-1", "C0", "C1", "C2", "c1"])
def test_a_config_channel_of_an_unnamed_image_replays_as_the_channel_the_command_line_reads(value):
    da = to_dataarray(np.zeros((3, 4, 4), np.uint8), dims="CYX")
    assert _replayed_index(value, UNNAMED, named=False) == channel_index(da, value)


@pytest.mark.parametrize("value", [0, 2, -1, "1", "GFP", "gfp", "RFP"])
def test_a_config_channel_of_a_named_image_replays_as_the_channel_the_command_line_reads(value):
    da = to_dataarray(np.zeros((3, 4, 4), np.uint8), dims="CYX", channel_names=NAMED)
    assert _replayed_index(value, NAMED, named=True) == channel_index(da, value)


def test_config_channels_become_indices_and_names_stay():
    from labelfree.imagej.fields import channels_from_config, channels_to_imagej

    keys = {"cell_channels": True, "nucleus_channel": False, "channels": True, "channel": False}
    unnamed = {"cell_channels": ("C0", -1), "nucleus_channel": "C1", "channels": ("2", "c0"), "channel": None}
    assert channels_from_config(unnamed, keys, UNNAMED, named=False) == {
        "cell_channels": (0, 2), "nucleus_channel": 1, "channels": (2, 0), "channel": None}
    assert channels_to_imagej(channels_from_config(unnamed, keys, UNNAMED, named=False), keys) == {
        "cell_channels": (1, 3), "nucleus_channel": 2, "channels": (3, 1), "channel": None}
    named = {"cell_channels": ("GFP", 0), "nucleus_channel": "dapi", "channels": (), "channel": -1}
    assert channels_from_config(named, keys, NAMED, named=True) == {
        "cell_channels": ("GFP", 0), "nucleus_channel": "dapi", "channels": (), "channel": 2}
    # no channel of the image: left as it is, for the run to say what is wrong
    assert channels_from_config({"channel": "C7", "channels": (5,)}, keys, UNNAMED, named=False) == {
        "channel": "C7", "channels": (5,)}


def test_counted_from_one_numbers_the_listed_columns_from_one_and_keeps_the_table():
    import pandas as pd

    from labelfree.imagej.tables import counted_from_one, objects_table_for_imagej

    table = pd.DataFrame({"frame": [0, 2], "z": [1, 0], "label": [1, 2], "dy": [0.5, 1.0]})
    table.attrs["units"] = {"dy": "px"}
    shown = counted_from_one(table, ("frame", "tile"))
    assert shown["frame"].tolist() == [1, 3] and shown["z"].tolist() == [1, 0] and shown["dy"].tolist() == [0.5, 1.0]
    assert table["frame"].tolist() == [0, 2] and shown.attrs == table.attrs
    imagej = objects_table_for_imagej(table, has_z=True)
    assert imagej["frame"].tolist() == [1, 3] and imagej["z"].tolist() == [2, 1]
    assert imagej["Label"].tolist()[0].startswith("t0001-z002-") and imagej.attrs == table.attrs


@pytest.mark.parametrize("module", ["labelfree.imagej.fields", "labelfree.imagej.tables"])
def test_doctests(module):
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


# ---- the commands, run and replayed from their options string -----------------------------------------------------

def _show(image, title: str, *, dims: str, **kw):
    import labelfree.imagej as lij

    imp = lij.xarray_to_imageplus(to_dataarray(image, dims=dims, **kw), title=title)
    imp.show()
    return imp


def _replay(command: str, imp, config: dict, tmp_path, options: str = ""):
    """Run ``command`` with ``config`` as its config file (and ``options``), then again from the recorded options
    string alone; the labels must be the same. Returns the first result."""
    import labelfree.imagej as lij

    path = tmp_path / "config.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    first = lij.run_command(command, imp, options=f"config_file=[{path}] {options}".strip())
    assert "config_file" not in first.options, first.options
    again = lij.run_command(command, imp, options=first.options)
    assert again.options == first.options
    assert np.array_equal(again.labels.values, first.labels.values), first.options
    return first


def _channel_option(options: str, key: str = "channel") -> str | None:
    return next((part[len(key) + 1:] for part in options.split() if part.startswith(f"{key}=")), None)


@pytest.mark.jvm
@pytest.mark.parametrize("named, config, recorded", [
    (False, {"channel": "C1"}, "2"), (False, {"channel": "c1"}, "2"), (False, {"channel": 1}, "2"),
    (False, {"channel": "1"}, "2"), (False, {"channel": -1}, "2"),
    (True, {"channel": "moving"}, "moving"), (True, {"channel": 1}, "2"), (True, {"channel": -1}, "2"),
])
def test_drift_replays_the_config_files_channel(clean, tmp_path, named, config, recorded):
    import labelfree.imagej as lij

    imp = _show(drift_movie(), "movie", dims="TCYX", **({"channel_names": ["still", "moving"]} if named else {}))
    moving = lij.run_command("drift", imp, options="channel=2 table=false")
    still = lij.run_command("drift", imp, options="channel=1 table=false")
    assert not np.array_equal(moving.labels.values, still.labels.values)
    first = _replay("drift", imp, {**config, "reference": "first"}, tmp_path, "table=false")
    assert _channel_option(first.options) == recorded and "reference=first" in first.options.split()
    # the channel it meant: the moving one, which a macro calls channel=2
    assert np.array_equal(first.labels.values, lij.run_command("drift", imp, options="channel=2 reference=first "
                                                                                      "table=false").labels.values)


@pytest.mark.jvm
def test_drift_macro_options_win_over_the_config_file_and_replay(clean, tmp_path):
    import labelfree.imagej as lij

    imp = _show(drift_movie(), "movie", dims="TCYX")
    first = _replay("drift", imp, {"channel": "C1", "reference": "first"}, tmp_path, "channel=1 table=false")
    assert _channel_option(first.options) == "1" and "reference=first" in first.options.split()
    still = lij.run_command("drift", imp, options="channel=1 reference=first table=false")
    assert np.array_equal(first.labels.values, still.labels.values)


@pytest.mark.jvm
@pytest.mark.parametrize("config, recorded", [({}, None), ({"channel": 0}, None), ({"channel": "0"}, None),
                                              ({"channel": 1}, "G"), ({"channel": "G"}, "G"), ({"channel": -1}, "B"),
                                              ({"channel": -3}, "R")])
def test_drift_of_an_rgb_movie_replays_its_brightness_or_the_colour_given(clean, tmp_path, config, recorded):
    """An RGB movie's Drift on channel 0 (the default) is measured on its brightness: recorded as channel=1, it
    replayed on the red."""
    imp = _show(drift_movie(np.uint8), "colour", dims="TCYX", channel_names=["R", "G", "B"])
    assert int(imp.getBitDepth()) == 24
    first = _replay("drift", imp, config, tmp_path, "table=false")
    assert _channel_option(first.options) == recorded, first.options


def _tiles(named: bool):
    """A Z C Y X stack of 2 x 2 tiles: channel 1 cut from one picture with 24 px overlaps, channel 0 from another
    with other overlaps, so that the stitch depends on the registration channel."""
    rng = np.random.default_rng(3)
    one = ndi.gaussian_filter(rng.random((168, 168)), 3) * 1000
    other = ndi.gaussian_filter(rng.random((200, 200)), 3) * 1000
    first = np.stack([other[y:y + 96, x:x + 96] for y in (0, 80) for x in (0, 64)])
    second = np.stack([one[y:y + 96, x:x + 96] for y in (0, 72) for x in (0, 72)])
    tiles = np.stack([first, second], axis=1).astype(np.float32)
    return _show(tiles, "tiles", dims="ZCYX", **({"channel_names": ["a", "b"]} if named else {}))


@pytest.mark.jvm
@pytest.mark.parametrize("named, config, recorded", [
    (False, {"channel": "C1"}, "2"), (False, {"channel": -1}, "2"), (False, {"channel": 1}, "2"),
    (True, {"channel": "b"}, "b"), (True, {"channel": 1}, "2"),
])
def test_stitch_replays_the_config_files_channel(clean, tmp_path, named, config, recorded):
    import labelfree.imagej as lij

    imp = _tiles(named)
    second = lij.run_command("stitch", imp, options="channel=2 rows=2 cols=2 table=false")
    assert second.labels.shape != lij.run_command("stitch", imp, options="channel=1 rows=2 cols=2 "
                                                                         "table=false").labels.shape
    first = _replay("stitch", imp, config, tmp_path, "rows=2 cols=2 table=false")
    assert _channel_option(first.options) == recorded
    assert np.array_equal(first.labels.values, second.labels.values)


#: the first channel shows four objects, the second two
TWO = np.stack([disks([(20, 20), (20, 70), (70, 20), (70, 70)]), disks([(45, 45), (80, 45)], seed=1)])


@pytest.mark.jvm
def test_threshold_config_file_and_macro_channel_replay_and_the_channel_on_show_is_recorded(clean, tmp_path):
    """Threshold's channel is no config setting: the macro's (or the channel on show) is recorded with the config
    file's values, defaults included, and replays the run."""
    imp = _show(TWO, "two", dims="CYX")
    first = _replay("threshold", imp, {"min_size": 500, "method": "li", "fill_holes": True}, tmp_path,
                    "min_size=20 channel=2 rois=none table=false")
    assert {"min_size=20", "method=li", "fill_holes=true", "channel=2"} <= set(first.options.split())
    assert int(first.labels.max()) == 2
    imp.setC(2)  # no channel given: the one on show, recorded, so that the replay needs no particular C slider
    shown = _replay("threshold", imp, {"min_size": 20, "method": "otsu"}, tmp_path, "rois=none table=false")
    assert {"min_size=20", "method=otsu", "channel=2"} <= set(shown.options.split())
    imp.setC(1)
    import labelfree.imagej as lij

    assert np.array_equal(lij.run_command("threshold", imp, options=shown.options).labels.values, shown.labels.values)


def _fake_fusion(seen: list):
    """A stand-in for Fusion's segment (no model zoo): labels of the mean of the channels Fusion would fuse
    (chosen by its own rule), which it notes in ``seen``."""
    from labelfree.fusion.segment import _channels_to_fuse
    from labelfree.image import labels_like

    def segment(image, /, *, config=None, progress=False, **_):
        _, chosen = _channels_to_fuse(image, config)
        seen.append(tuple(chosen))
        return labels_like(ndi.label(image.sel(C=chosen).mean("C").values > 50)[0], image)

    return segment


@pytest.mark.jvm
@pytest.mark.parametrize("named, config, recorded, used", [
    (False, {"channels": ["C1"]}, "2", ("C1",)), (False, {"channels": ["1"]}, "2", ("C1",)),
    (False, {"channels": [1, "C0"]}, "2,1", ("C1", "C0")), (False, {"channels": ["-1"]}, "2", ("C1",)),
    (True, {"channels": ["GFP"]}, "GFP", ("GFP",)), (True, {"channels": ["1", "DAPI"]}, "2,DAPI", ("GFP", "DAPI")),
])
def test_fusion_replays_the_config_files_channels(clean, tmp_path, monkeypatch, named, config, recorded, used):
    import importlib

    seen: list = []  # labelfree.fusion.segment is the function; its module, as the registry loads it:
    monkeypatch.setattr(importlib.import_module("labelfree.fusion.segment"), "segment", _fake_fusion(seen))
    imp = _show(TWO, "two", dims="CYX", **({"channel_names": ["DAPI", "GFP"]} if named else {}))
    first = _replay("fusion", imp, config, tmp_path, "rois=none table=false")
    assert _channel_option(first.options, "channels") == recorded, first.options
    assert seen == [used, used]


@pytest.mark.jvm
@pytest.mark.slow
def test_cutter_replays_the_config_files_nucleus_and_cell_channels(clean, tmp_path):
    import labelfree.imagej as lij

    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[:96, :96]
    image = rng.normal(10, 2, (2, 96, 96)).astype(np.float32)
    for cy, cx in [(25, 25), (25, 70), (70, 30), (68, 72)]:
        d2 = (yy - cy) ** 2 + (xx - cx) ** 2
        image[0][d2 < 14**2] += 40  # cells
        image[1][d2 < 5**2] += 60  # their nuclei
    quick = "n_steps=5 crop_size=32 area_size=96 rois=none table=false"
    imp = _show(image, "two", dims="CYX")
    by_name = _replay("cutter", imp, {"nucleus_channel": "C1", "cell_channels": ["C0"]}, tmp_path, quick)
    assert _channel_option(by_name.options, "nucleus_channel") == "2"
    assert _channel_option(by_name.options, "cell_channels") == "1"
    assert int(by_name.labels.max()) == 4
    (tmp_path / "from_end.json").write_text(json.dumps({"nucleus_channel": -1, "cell_channels": [0]}))
    from_end = lij.run_command("cutter", imp, options=f"config_file=[{tmp_path / 'from_end.json'}] {quick}")
    assert from_end.options == by_name.options
    assert np.array_equal(from_end.labels.values, by_name.labels.values)
    named_imp = _show(image, "named", dims="CYX", channel_names=["cells", "nuclei"])
    named = _replay("cutter", named_imp, {"nucleus_channel": "nuclei", "cell_channels": [-2]}, tmp_path, quick)
    assert _channel_option(named.options, "nucleus_channel") == "nuclei"
    assert _channel_option(named.options, "cell_channels") == "1"
    assert np.array_equal(named.labels.values, by_name.labels.values)
