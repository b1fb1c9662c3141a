"""Fusion's provenance says where its networks ran (``device``), as Cutter's does: torch's sums, and so the
labels, can differ between a CPU and a GPU."""

from __future__ import annotations

import warnings

from fusion_data import synthetic_pair

from labelfree.image import to_dataarray


def test_fusion_records_the_device_its_networks_ran_on_with_auto_resolved():
    from labelfree.fusion import new_model, segment
    from labelfree.fusion.models import torch_device

    image, _ = synthetic_pair(0)
    plane = to_dataarray(image, dims="CYX", channel_names=["actin", "tubulin"])
    untrained = new_model(nbase=(8, 16, 32, 64), diam_mean=15.0, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an untrained model finds nothing: said, not the point here
        record = segment(plane, models=untrained, config={"diameter": 12}, device="cpu").attrs["labelfree"]
    assert record["device"] == "cpu"
    auto = new_model(nbase=(8, 16, 32, 64), diam_mean=15.0, device="auto")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        record = segment(plane, models=auto, config={"diameter": 12}).attrs["labelfree"]
    assert record["device"] == str(torch_device("auto")) and record["device"] != "auto"
