"""Fusion in spatial tiles: the model zoo, the device and the channel names reach every tile."""

from __future__ import annotations

import numpy as np
import pytest

from labelfree.errors import InputError
from labelfree.image import to_dataarray


@pytest.fixture(scope="module")
def zoo_and_image(trained, synthetic_set, tmp_path_factory):
    from labelfree.fusion.zoo import ModelZoo

    zoo = ModelZoo(tmp_path_factory.mktemp("zoo") / "zoo", create=True)
    for name in ("actin", "tubulin"):  # the tiny model filed as a channel-wise model of each channel, by name
        zoo.add(trained.model, object="cyto", channels=[name])
    images, truths = synthetic_set
    tiles = [np.concatenate(images[8 + r * 2: 10 + r * 2], axis=-1) for r in range(2)]  # 2 x 2 images
    image = to_dataarray(np.concatenate(tiles, axis=-2), dims="CYX", channel_names=["actin", "tubulin"])
    truth = np.concatenate([np.concatenate([truths[8 + r * 2], truths[9 + r * 2] + 1000 * (truths[9 + r * 2] > 0)],
                                           axis=-1) for r in range(2)], axis=-2)
    return zoo.root, image, truth


def test_tiled_fusion_takes_the_zoo_and_device_and_matches_the_whole_run(zoo_and_image):
    from labelfree.metrics import evaluate
    from labelfree.run import run_pipeline

    zoo, image, truth = zoo_and_image
    inputs = {"zoo": str(zoo), "device": "cpu"}
    whole = run_pipeline("fusion", image, inputs=inputs)
    diameter = whole.attrs["labelfree"]["diameter"]  # measured on the whole image: every tile uses it
    tiled = run_pipeline("fusion", image, config={"diameter": diameter}, inputs=inputs, tile=96, tile_overlap=48)
    assert tiled.shape == whole.shape == image.shape[-2:]
    assert tiled.attrs["labelfree"]["tiles"]["tile"] == 96
    # the models that served the channels, with their hashes, as the whole run records them (were absent)
    for key in ("channels", "models"):
        assert tiled.attrs["labelfree"][key] == whole.attrs["labelfree"][key]
    assert all(m["sha256"] for m in tiled.attrs["labelfree"]["models"].values())
    n_whole, n_tiled = len(np.unique(whole.values)) - 1, len(np.unique(tiled.values)) - 1
    assert n_whole >= 10 and abs(n_tiled - n_whole) <= 2
    # measured: F1 0.255 both ways (this tiny two-channel model sees each channel alone here)
    assert abs(evaluate(tiled.values, truth)["f1"] - evaluate(whole.values, truth)["f1"]) <= 0.05
    # no diameter given: measured once on the plane (this one is smaller than the crop: the whole
    # run's value) and used by every tile, recorded under auto (each tile measured its own)
    auto = run_pipeline("fusion", image, inputs=inputs, tile=96, tile_overlap=48)
    assert auto.attrs["labelfree"]["auto"]["diameter"] == pytest.approx(diameter, abs=0.01)
    assert np.array_equal(auto.values, tiled.values)
    # the networks' batch chosen once for every tile (one tile at a time on the CPU), recorded as a whole run's
    assert auto.attrs["labelfree"]["auto"]["batch_size"] == whole.attrs["labelfree"]["auto"]["batch_size"] == 1
    assert auto.attrs["labelfree"]["config"]["batch_size"] == 0


def test_tiled_time_lapse_measures_one_diameter_for_every_frame(zoo_and_image, monkeypatch):
    import importlib

    import xarray as xr

    from labelfree.run import run_pipeline

    fusion_segment = importlib.import_module("labelfree.fusion.segment")  # the module, not the function
    zoo, image, _ = zoo_and_image
    measured = []
    choose = fusion_segment.choose_diameter

    def spy(frames, *args, **kw):  # every tile calls it too, with the diameter fixed
        if not kw["config"].diameter:
            measured.append(len(frames))
        return choose(frames, *args, **kw)

    monkeypatch.setattr(fusion_segment, "choose_diameter", spy)
    movie = xr.concat([image] * 2, dim="T").transpose("T", "C", "Y", "X")
    tiled = run_pipeline("fusion", movie, inputs={"zoo": str(zoo), "device": "cpu"}, tile=96, tile_overlap=48)
    # measured once for the run on both frames, as a whole run measures it, and recorded as one
    # value (before: measured per frame, the models loaded per frame, and recorded as a list)
    assert measured == [2]
    assert isinstance(tiled.attrs["labelfree"]["auto"]["diameter"], float)
    assert np.array_equal(tiled.values[0], tiled.values[1]) and tiled.values[0].max() >= 10


def test_tiled_runs_refuse_per_pixel_inputs():
    from labelfree.run import run_pipeline

    image = to_dataarray(np.zeros((2, 64, 64), np.float32), dims="CYX", channel_names=["nuclei", "cells"])
    with pytest.raises(InputError, match="Tiled runs take no per-pixel inputs such as markers"):
        run_pipeline("cutter", image, inputs={"markers": np.array([[10, 10]])}, tile=32)


def _with_blank(image, channel, value=0):
    blank = image.copy()
    blank.loc[dict(C=channel)] = value
    return blank


def test_a_blank_channel_is_left_out_of_the_fusion_with_a_warning(zoo_and_image):
    from labelfree.fusion import BlankChannelWarning
    from labelfree.run import run_pipeline

    zoo, image, _ = zoo_and_image
    inputs = {"zoo": str(zoo), "device": "cpu"}
    alone = run_pipeline("fusion", image, config={"channels": ["actin"]}, inputs=inputs)
    assert alone.attrs["labelfree"]["channels"] == ["actin"]  # the channels fused (was: all the image's)
    with pytest.warns(BlankChannelWarning, match="tubulin .*left out of the fusion; fusing actin"):
        fused = run_pipeline("fusion", _with_blank(image, "tubulin"), inputs=inputs)
    # the same objects as fusing the channel with contrast alone (before: the blank channel's empty
    # prediction was averaged in, and the fusion lost objects without a word)
    assert fused.attrs["labelfree"]["channels"] == ["actin"]
    assert np.array_equal(fused.values, alone.values) and fused.values.max() >= 10


def test_a_tiled_run_decides_blank_channels_once_for_the_image(zoo_and_image, recwarn):
    from labelfree.fusion import BlankChannelWarning
    from labelfree.run import run_pipeline

    zoo, image, _ = zoo_and_image
    inputs = {"zoo": str(zoo), "device": "cpu"}
    blank = _with_blank(image, "tubulin", 7)
    tiled = run_pipeline("fusion", blank, inputs=inputs, tile=96, tile_overlap=48)
    said = [w for w in recwarn if issubclass(w.category, BlankChannelWarning)]
    assert len(said) == 1 and "tubulin" in str(said[0].message)  # once for the image, not per tile
    record = tiled.attrs["labelfree"]
    assert record["channels"] == ["actin"] and list(record["models"]) == ["actin"]
    assert tiled.values.max() >= 10


def test_every_chosen_channel_blank_is_one_error(zoo_and_image):
    from labelfree.errors import ConstantImageError
    from labelfree.run import run_pipeline

    zoo, image, _ = zoo_and_image
    blank = _with_blank(_with_blank(image, "tubulin", 0), "actin", 5)  # the image is not constant as a whole
    with pytest.raises(ConstantImageError, match="Every channel chosen for Fusion \\(actin, tubulin\\)"):
        run_pipeline("fusion", blank, inputs={"zoo": str(zoo), "device": "cpu"})


def test_a_tile_whose_work_cannot_fit_is_refused_as_a_tile_with_the_tile_that_fits(model, tmp_path, monkeypatch):
    """Tiles given too large for the memory left: the run's check (the labels, and what does not grow with a tile)
    passes, the first tile's own check refuses. The refusal speaks of the tile and offers the smaller tile that fits
    (before: "the image (2 C x 2176 Y x 2176 X) ... Segment a part of it at a time"), or says that none does."""
    import xarray as xr

    from labelfree._label_memory import label_bytes, require_label_memory, tile_bytes
    from labelfree.errors import MemoryLeftError
    from labelfree.fusion.models import save_model
    from labelfree.fusion.spec import SPEC
    from labelfree.run import run_pipeline
    from fusion_data import synthetic_pair

    image = xr.DataArray(np.tile(synthetic_pair(4, size=300)[0], (1, 8, 8)), dims=("C", "Y", "X"))  # 2400 px
    inputs, cfg = {"models": str(save_model(model, tmp_path / "tiny.pt"))}, {"diameter": 14}
    whole = label_bytes({"Y": 2400, "X": 2400})
    left = whole + tile_bytes(SPEC, 1024) + 16 * 2**20  # a tile of 1024 px (1280 with its overlap) and its labels
    monkeypatch.setattr("labelfree._threads.available_memory", lambda *a: left)
    with pytest.raises(MemoryLeftError) as refused:
        run_pipeline("fusion", image, config=cfg, inputs=inputs, tile=2048)
    said = str(refused.value)
    assert said.startswith("Fusion cannot segment a tile of 2176 x 2176 px (its 2048 x 2048 px and the overlap) in "
                           f"the memory left: its work takes {SPEC.work_bytes(2176**2) / 2**20:.0f} MiB"), said
    assert "Segment in smaller tiles: tile=1024 (run_pipeline(..., tile=1024); --tile 1024 on the command line" in said
    assert "the image (" not in said and refused.value.tile == 1024
    require_label_memory({"C": 2, "Y": 1024 + 128, "X": 1024 + 128}, SPEC)  # the tile offered passes its check

    monkeypatch.setattr("labelfree._threads.available_memory", lambda *a: whole + 60 * 2**20)
    with pytest.raises(MemoryLeftError) as refused:
        run_pipeline("fusion", image, config=cfg, inputs=inputs, tile=1024)
    said = str(refused.value)
    assert "cannot segment a tile of 1152 x 1152 px (its 1024 x 1024 px and the overlap)" in said, said
    assert "No smaller tile of those offered (4096, 2048, 1024 and 512 px) fits: run where more memory is free" in said


def test_the_command_line_tiles_a_plane_whose_enlarged_work_cannot_fit_once_the_run_knows_it(model, tmp_path,
                                                                                               monkeypatch, caplog,
                                                                                               capsys):
    """The command line chooses tiles from Fusion's spec before the run; the networks' work on a plane they see
    enlarged (objects of 5 px, a network trained at 15: 3 x 3) is known once the run has read them. Where that cannot
    fit whole, the run is segmented again in the tile that does, and the log says why (measured with a 2048 px plane
    in a 1200 MiB cgroup: killed before, 775 MiB in tiles of 1024 px now; docs/benchmarks.md). A tile given is kept:
    the refusal is the run's."""
    import tifffile

    from labelfree._label_memory import label_bytes
    from labelfree.cli import main
    from labelfree.fusion.flows import zoomed_bytes
    from labelfree.fusion.models import save_model
    from labelfree.fusion.spec import SPEC
    from fusion_data import synthetic_pair

    image = tmp_path / "plane.tif"
    tifffile.imwrite(image, np.tile(synthetic_pair(4, size=200)[0], (1, 4, 4)), imagej=True,
                     metadata={"axes": "CYX"})  # 2 channels of 800 x 800 px
    left = label_bytes({"Y": 800, "X": 800}) + 300 * 2**20
    # a 512 px tile fits (768 px with the overlap counted), the plane (310 MiB) does not; by the spec's count, it does
    assert zoomed_bytes(768**2, 3.0) < 299 * 2**20 < 300 * 2**20 < zoomed_bytes(800**2, 3.0)
    assert SPEC.work_bytes(800**2) < 300 * 2**20
    monkeypatch.setattr("labelfree._threads.available_memory", lambda *a: left)
    args = ["fusion", str(image), "--model-file", str(save_model(model, tmp_path / "tiny.pt")), "--set", "diameter=5"]
    with caplog.at_level("INFO", logger="labelfree"):
        assert main([*args, "-o", str(tmp_path / "out")]) == 0
    assert "in tiles of 512 px" in capsys.readouterr().out
    said = caplog.text
    assert "Fusion: its work on a whole plane takes" in said
    assert "(the networks see the plane enlarged 3.0 x 3.0" in said
    assert "segmented in tiles of 512 px (--tile PX to choose)" in said, said
    labels = tifffile.imread(next((tmp_path / "out").glob("*_labels.tif")))
    assert labels.shape == (800, 800) and labels.max() > 20

    assert main([*args, "--tile", "1024", "-o", str(tmp_path / "given")]) == 1  # given: refused, not changed
    said = capsys.readouterr().err
    assert "cannot segment a tile of 800 x 800 px (one tile, the whole plane) in the memory left" in said, said
    assert "Segment in smaller tiles: tile=512" in said, said

    # Python: run_pipeline's default tile="auto" does as the command line (before: refused, naming tile=512)
    from labelfree.io import read_image
    from labelfree.run import run_pipeline

    caplog.clear()
    with caplog.at_level("INFO", logger="labelfree"):
        python = run_pipeline("fusion", read_image(image), config={"diameter": 5},
                              inputs={"models": str(tmp_path / "tiny.pt")})
    assert "segmented in tiles of 512 px (tile= to choose)" in caplog.text, caplog.text
    assert python.attrs["labelfree"]["tiles"]["tile"] == 512
    np.testing.assert_array_equal(python.values, labels)
