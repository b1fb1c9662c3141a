import numpy as np
import pytest
from skimage.draw import disk

import labelfree
from labelfree.errors import ConfigError, ConstantImageError, DimensionError, InputError
from labelfree.metrics import object_scores
from labelfree.pipelines import get_pipeline, pipelines
from labelfree.run import run_pipeline
from labelfree.threshold import ThresholdConfig


def blobs(n_frames=3, seed=0):
    rng = np.random.default_rng(seed)
    img = np.zeros((n_frames, 64, 64), np.float32)
    truth = np.zeros(img.shape, np.uint16)
    for t in range(n_frames):
        for i, (y, x) in enumerate([(15, 15), (15, 45), (45, 30)], start=1):
            rr, cc = disk((y + t, x), 8)
            img[t, rr, cc] = 1.0
            truth[t, rr, cc] = i
    return img + rng.normal(0, 0.1, img.shape).astype(np.float32), truth


def test_threshold_pipeline_finds_the_objects():
    img, truth = blobs()
    da = labelfree.to_dataarray(img, dims="TYX", scale={"X": 0.5, "Y": 0.5})
    labels = get_pipeline("threshold").segment_function(da, config={"min_size": 10})
    assert labels.dims == ("T", "Y", "X") and labels.dtype == np.uint16
    assert labels.X.attrs["scale"] == 0.5
    assert labels.attrs["labelfree"]["config"]["min_size"] == 10
    s = object_scores(np.asarray(labels), truth)
    assert s["f1"] == 1.0 and s["mean_iou"] > 0.9


def test_threshold_pipeline_channel_and_dark_objects():
    img, truth = blobs(1)
    two = np.stack([np.random.default_rng(1).random((64, 64)), 1 - img[0]])
    da = labelfree.to_dataarray(two, dims="CYX")
    labels = run_pipeline("threshold", da, channel=1, config=ThresholdConfig(dark_objects=True))
    assert object_scores(np.asarray(labels), truth[0])["f1"] == 1.0
    assert labels.attrs["labelfree"]["channels"] == ["C1"]
    with pytest.raises(DimensionError, match="segments one channel, but the image has 2"):
        run_pipeline("threshold", da)  # two channels and none chosen: never a silent pick
    with pytest.raises(InputError, match="out of range"):
        run_pipeline("threshold", da, channel=2)
    one = labelfree.to_dataarray(1 - img[0], dims="YX")
    with pytest.raises(DimensionError, match="one channel only"):
        run_pipeline("threshold", one, channel=1, config={"dark_objects": True})


def test_registry_and_errors():
    assert set(pipelines()) >= {"threshold", "motion", "cutter", "fusion"}
    with pytest.raises(InputError, match="Unknown pipeline 'nope'"):
        get_pipeline("nope")
    with pytest.raises(ConfigError, match="Unknown ThresholdConfig option"):
        get_pipeline("threshold").segment_function(np.random.rand(8, 8), config={"bogus": 1})
    with pytest.raises(InputError, match="method must be one of 'otsu', 'li', 'triangle'"):
        ThresholdConfig(method="magic")
    with pytest.raises(ConstantImageError):
        get_pipeline("threshold").segment_function(np.zeros((8, 8)))


@pytest.mark.parametrize("name", ["motion", "cutter", "fusion"])
def test_every_registered_pipeline_resolves(name):
    p = get_pipeline(name)
    assert callable(p.segment_function) and p.config_class().to_dict()
    assert p.frame_overlap in (None, 0, 1)


def test_frame_overlap_is_declared_by_each_spec():
    assert get_pipeline("threshold").frame_overlap == 0 and get_pipeline("motion").frame_overlap == 1
    assert get_pipeline("cutter").frame_overlap is None and get_pipeline("fusion").frame_overlap is None
