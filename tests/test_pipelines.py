import numpy as np
import pytest
from skimage.draw import disk

import labelfree
from labelfree.errors import ConfigError, ConstantImageError, InputError
from labelfree.metrics import object_scores
from labelfree.pipelines import PIPELINES, ThresholdConfig, get_pipeline


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
    labels = get_pipeline("threshold").segment(da, config={"min_size": 10})
    assert labels.dims == ("T", "Y", "X") and labels.dtype == np.uint16
    assert labels.X.attrs["scale"] == 0.5
    assert labels.attrs["labelfree"]["config"]["min_size"] == 10
    s = object_scores(np.asarray(labels), truth)
    assert s["f1"] == 1.0 and s["mean_iou"] > 0.9


def test_threshold_pipeline_channel_and_dark_objects():
    img, truth = blobs(1)
    two = np.stack([np.random.default_rng(1).random((64, 64)), 1 - img[0]])
    da = labelfree.to_dataarray(two, dims="CYX")
    labels = get_pipeline("threshold").segment(da, config=ThresholdConfig(channel=1, dark_objects=True))
    assert object_scores(np.asarray(labels), truth[0])["f1"] == 1.0


def test_registry_and_errors():
    assert set(PIPELINES) >= {"threshold", "motion", "cutter", "fusion"}
    with pytest.raises(InputError, match="Unknown pipeline 'nope'"):
        get_pipeline("nope")
    with pytest.raises(ConfigError, match="Unknown ThresholdConfig option"):
        get_pipeline("threshold").segment(np.random.rand(8, 8), config={"bogus": 1})
    with pytest.raises(InputError, match="method must be"):
        ThresholdConfig(method="magic")
    with pytest.raises(ConstantImageError):
        get_pipeline("threshold").segment(np.zeros((8, 8)))


@pytest.mark.parametrize("name", ["motion", "cutter", "fusion"])
def test_every_registered_pipeline_resolves(name):
    p = get_pipeline(name)
    assert callable(p.segment) and p.config_class().to_dict()
