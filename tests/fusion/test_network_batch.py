"""Fusion runs its networks one tile at a time on the CPU unless told otherwise (``batch_size`` 0, the default: 8
tiles on a GPU, cellpose's batch), which there is the faster and takes a quarter of the memory of 8 tiles with a
network of cellpose's widths; the choice is recorded. Once its networks are read, a run counts their pass over a batch
of tiles for what it is (before: the least seen, 128 MiB, whatever the network and batch; a network of cellpose's
widths in batches of 8 took 824 MiB of work at 1024 px) and refuses a batch that cannot fit, saying that one tile at
a time does."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import numpy as np
import pytest

from labelfree.errors import InputError
from labelfree.fusion import segment
from labelfree.fusion.flows import batch_for, pass_bytes, run_network
from labelfree.fusion.models import new_model
from labelfree.fusion.spec import SPEC

segment_module = importlib.import_module("labelfree.fusion.segment")  # (labelfree.fusion.segment: the function)


def _passes(model, monkeypatch):
    """The number of tiles in each pass of ``model``'s network, as it runs."""
    seen = []
    forward = model.net.forward
    monkeypatch.setattr(model.net, "forward", lambda x, *a, **k: seen.append(int(x.shape[0])) or forward(x, *a, **k))
    return seen


def test_the_networks_run_one_tile_at_a_time_on_the_cpu_and_the_run_records_it(model, monkeypatch):
    from fusion_data import synthetic_pair

    image = np.concatenate([synthetic_pair(s, size=480)[0] for s in (1, 2)], axis=2)  # 480 x 960 px
    seen = _passes(model, monkeypatch)
    labels = segment(image, models=model, config={"diameter": 14})
    n_tiles = len(seen)  # both channels' networks: 3 x 6 tiles each at the network's scale
    assert n_tiles == 36 and seen == [1] * n_tiles, seen
    assert labels.attrs["labelfree"]["auto"] == {"batch_size": 1}
    assert labels.attrs["labelfree"]["config"]["batch_size"] == 0  # repeated from the record: chosen again
    seen.clear()
    given = segment(image, models=model, config={"diameter": 14, "batch_size": 8})
    assert seen == [8, 8, 2] * 2, seen  # each channel's 18 tiles in batches of 8
    assert "batch_size" not in given.attrs["labelfree"]["auto"]
    assert labels.max() > 5 and (np.asarray(given) > 0).sum() == pytest.approx((np.asarray(labels) > 0).sum(), rel=0.01)


def test_batch_for_and_what_a_pass_is_counted():
    assert batch_for("cpu") == 1 and batch_for("cuda:0") == 8 and batch_for("cpu", 3) == 3 and batch_for("cuda", 2) == 2
    wide = new_model(nbase=(32, 64, 128, 256), device="cpu")
    tiny = new_model(nbase=(8, 16, 32, 64), device="cpu")
    one, eight = pass_bytes(wide, 1), pass_bytes(wide, 8)
    # measured at 1024 px (1 and 2 threads, with 60-90 MiB of the plane's own arrays): 172-178 MiB for one tile,
    # 701-782 in batches of 8 (docs/benchmarks.md "Fusion's networks one tile at a time on the CPU")
    assert 90 * 2**20 < one < 130 * 2**20 and 600 * 2**20 < eight < 720 * 2**20
    assert pass_bytes(tiny, 1) < 40 * 2**20 < pass_bytes(tiny, 8)
    assert pass_bytes(wide, 8, plane=(200, 200)) == one  # a plane of one tile fills no larger batch
    assert pass_bytes(wide, 8, plane=(300, 300)) == pass_bytes(wide, 4) < eight  # 2 x 2 tiles
    assert pass_bytes(SimpleNamespace(device="cuda:0"), 8) == 0  # on a GPU the pass is in the GPU's memory


def _wide_model_file(tmp_path):
    from labelfree.fusion.models import save_model

    return str(save_model(new_model(nbase=(32, 64, 128, 256), diam_mean=30.0, device="cpu"), tmp_path / "wide.pt"))


def test_a_batch_of_tiles_that_cannot_fit_is_refused_saying_one_tile_at_a_time_does(tmp_path, monkeypatch):
    from labelfree._label_memory import run_bytes
    from labelfree.fusion.models import load_model

    wide = _wide_model_file(tmp_path)
    net = load_model(wide, device="cpu")
    plane = np.random.default_rng(0).integers(100, 200, (1024, 1024), dtype=np.uint16)
    labels, work = run_bytes({"Y": 1024, "X": 1024}, SPEC)
    one, eight = (segment_module._network_extra([net], b, plane.shape) for b in (1, 8))
    assert 0 <= one < eight  # counted beyond the spec's count (the larger phase of the two, not their sum)
    left = labels + work + one + 2**20  # one tile's pass fits beside the rest, 8 tiles' do not
    monkeypatch.setattr("labelfree._threads.available_memory", lambda *a: left)
    ran = []
    monkeypatch.setattr("labelfree.fusion.flows.run_network", lambda *a, **k: ran.append(k))
    with pytest.raises(InputError) as refused:
        segment(plane, models=wide, config={"batch_size": 8, "diameter": 30})
    said = str(refused.value)
    assert not ran  # before any pass
    assert f"Fusion's networks take {pass_bytes(net, 8) / 2**20:.0f} MiB for their pass over a batch of 8 tiles" in said
    assert "Run them one tile at a time, which fits and is faster on the CPU: batch_size=1" in said, said
    assert "--set batch_size=1" in said, said
    segment_module._require_network_memory({"Y": 1024, "X": 1024}, [net], 0)  # the default: one tile fits
    segment_module._require_network_memory({"Y": 1024, "X": 1024}, [net], 1)


def test_a_pass_of_one_tile_that_cannot_fit_is_refused_as_at_the_start(tmp_path, monkeypatch):
    """Where not even one tile's pass fits beside the labels and the plane's work, the refusal is the start's, with
    the pass counted: the tile whose work fits beside it."""
    from labelfree._label_memory import run_bytes
    from labelfree.fusion.models import load_model

    net = load_model(_wide_model_file(tmp_path), device="cpu")
    sizes = {"Y": 4096, "X": 4096}
    labels, work = run_bytes(sizes, SPEC)
    monkeypatch.setattr("labelfree._threads.available_memory", lambda *a: labels + work + 2**20)  # start: fits
    with pytest.raises(InputError) as refused:
        segment_module._require_network_memory(sizes, [net], 0)
    said = str(refused.value)
    extra = segment_module._network_extra([net], 0, (4096, 4096))
    assert extra > 0 and f"and {(work + extra) / 2**30:.1f} GiB for its work on one plane" in said, said
    assert "tile=2048" in said, said  # a 2048 px tile's work (2304 px with its overlaps) and the pass fit


def test_run_network_gives_the_same_flows_one_tile_at_a_time_to_float_rounding(model):
    image = np.random.default_rng(3).normal(size=(500, 700)).astype(np.float32)
    one, eight = run_network(model, image), run_network(model, image, batch_size=8)
    assert np.abs(one - eight).max() < 1e-5 * max(1.0, float(np.abs(eight).max()))


def test_a_tiled_run_measures_its_diameter_on_a_centre_whose_work_fits(model, tmp_path, monkeypatch):
    """A tiled run measures its diameter once, on the planes' centres of at most 1024 px: where the memory left cannot
    hold that much work (a run tiled for want of memory), on the largest centre that fits (before: 1024 px whatever
    the memory, and a 1024 px plane tiled in 450 MiB was killed measuring it); with memory to spare, as before."""
    from labelfree.fusion.models import save_model
    from fusion_data import synthetic_pair

    from labelfree.fusion.segment import whole_image_config

    image = np.tile(synthetic_pair(4, size=300)[0], (1, 4, 4))  # 2 channels of 1200 x 1200 px
    file = str(save_model(model, tmp_path / "tiny.pt"))
    seen = []
    choose = segment_module.choose_diameter

    def measured_on(frames, *args, **kwargs):
        seen.append(next(iter(frames[0].values())).shape)  # the first plane's first channel
        return choose(frames, *args, **kwargs)

    monkeypatch.setattr(segment_module, "choose_diameter", measured_on)
    plenty = whole_image_config(image, {}, {"models": file, "device": "cpu"})
    assert seen == [(1024, 1024)] and plenty.batch_size == 1 and plenty.diameter > 0
    labels = 2 * 1200 * 1200
    left = labels + SPEC.work_bytes(512 * 512) + 2**20  # a 512 px centre's work fits, 768 px's does not
    assert labels + SPEC.work_bytes(768 * 768) > left
    monkeypatch.setattr("labelfree._threads.available_memory", lambda *a: left)
    whole_image_config(image, {}, {"models": file, "device": "cpu"})
    assert seen[1:] == [(512, 512)], seen
    monkeypatch.setattr("labelfree._threads.available_memory", lambda *a: 2**20)  # none fits: the smallest
    whole_image_config(image, {}, {"models": file, "device": "cpu"})
    assert seen[2:] == [(256, 256)], seen


def test_a_plane_the_networks_see_enlarged_is_counted_at_their_scale(model, monkeypatch):
    """A diameter below the networks' training diameter enlarges the plane for them (``diam_mean / diameter`` per
    side): their tiles and outputs grow with the enlarged plane (measured: 1104 MiB of work for a 2048 px plane seen
    2 x 2, where the spec counts 432; docs/benchmarks.md). The run counts it once it knows the diameter, and refuses
    before any pass, saying why, where it cannot fit (before, the system killed it); the tile it offers is counted at
    that scale too."""
    from fusion_data import synthetic_pair

    from labelfree._label_memory import label_bytes
    from labelfree.fusion.flows import network_zoom, zoomed_bytes

    image = np.concatenate([synthetic_pair(s, size=480)[0] for s in (1, 2)], axis=2)  # 480 x 960 px
    pixels = 480 * 960
    assert model.diam_mean == 15 and network_zoom([model], 5.0) == 3.0 and network_zoom([model], 30.0) == 0.5
    assert segment_module._network_extra([model], 0, (480, 960), zoom=0.5) == 0  # a smaller plane: the spec's
    enlarged = zoomed_bytes(pixels, 3.0)
    assert enlarged > 1.8 * SPEC.work_bytes(pixels)  # 230 MiB against 120
    left = label_bytes({"Y": 480, "X": 960}) + SPEC.work_bytes(pixels) + 20 * 2**20  # the start's check passes
    monkeypatch.setattr("labelfree._threads.available_memory", lambda *a: left)
    ran = []
    monkeypatch.setattr("labelfree.fusion.flows.run_network", lambda *a, **k: ran.append(k))
    with pytest.raises(InputError) as refused:
        segment(image, models=model, config={"diameter": 5})
    said = str(refused.value)
    assert not ran  # before any pass
    assert f"and {enlarged / 2**20:.0f} MiB for its work on one plane" in said, said
    assert "(the networks see the plane enlarged 3.0 x 3.0: objects of 5.0 px, networks trained at 15)" in said, said
    segment_module._require_network_memory({"C": 2, "Y": 480, "X": 960}, [model], 0, diameter=15)  # 1 x 1: fits

    sizes = {"Y": 4096, "X": 4096}  # the spec's count fits, the plane seen 2 x 2 (3.3 GiB) does not: 2048 px tiles do
    left = label_bytes(sizes) + SPEC.work_bytes(4096**2) + 100 * 2**20
    assert label_bytes(sizes) + zoomed_bytes(2304**2, 2.0) < left < zoomed_bytes(4096**2, 2.0)
    monkeypatch.setattr("labelfree._threads.available_memory", lambda *a: left)
    with pytest.raises(InputError) as refused:
        segment_module._require_network_memory(sizes, [model], 0, diameter=7.5)
    assert "tile=2048" in str(refused.value) and refused.value.tile == 2048, str(refused.value)


def test_the_diameter_search_does_not_try_a_scale_whose_work_cannot_fit(model, monkeypatch, caplog):
    """The search runs the networks at diameters down to a quarter of their training diameter, on planes of up to
    1024 px: seen 4 x 4, 1 GiB of work. Where the memory left cannot hold a diameter's enlarged plane, the search
    does not try it (it climbed on to it before, and the system killed the run), and says so."""
    import cv2

    from fusion_data import synthetic_pair

    from labelfree.fusion.diameter import estimate_diameter
    from labelfree.fusion.flows import zoomed_bytes

    pair = synthetic_pair(5, size=480)[0]  # cells of 10-16 px shown at half their size
    small = np.stack([cv2.resize(c.astype(np.float32), (240, 240), interpolation=cv2.INTER_AREA) for c in pair])
    frames = [{"a": small[0], "b": small[1]}]
    nets = {"a": model, "b": model}
    free = estimate_diameter(frames, nets)
    assert min(free.scores) < 15 / 1.5, free.scores  # tried at scales above 1.5 x 1.5
    monkeypatch.setattr("labelfree._threads.available_memory", lambda *a: zoomed_bytes(240 * 240, 1.5))
    with caplog.at_level("WARNING", logger="labelfree"):
        short = estimate_diameter(frames, nets)
    assert min(short.scores) >= 10 and short.diameter >= 10, short.scores  # scales above 1.5 x 1.5 not tried
    assert "the diameter search did not try" in caplog.text and "Give the diameter (diameter=, px)" in caplog.text
