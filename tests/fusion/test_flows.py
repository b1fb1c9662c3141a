import numpy as np
import pytest
from skimage.draw import disk

from labelfree.errors import InputError
from labelfree.fusion import flow_average, integrate_flows
from labelfree.metrics import match_objects


def _known_mask():
    lab = np.zeros((96, 96), np.int32)
    for i, (y, x, r) in enumerate([(20, 20, 10), (20, 48, 9), (60, 30, 12), (70, 75, 11), (40, 80, 8)]):
        rr, cc = disk((y, x), r, shape=lab.shape)
        lab[rr, cc] = i + 1
    return lab


def _true_flows(lab):
    from cellpose import dynamics

    return 5 * dynamics.masks_to_flows(lab).astype(np.float32), np.where(lab > 0, 10.0, -10.0).astype(np.float32)


@pytest.mark.parametrize("space", ["logits", "probabilities"])
def test_flow_averaging_ground_truth_flows_returns_the_mask(space):
    lab = _known_mask()
    dP, cp = _true_flows(lab)
    out = integrate_flows(*flow_average([(dP, cp), (dP, cp), (dP, cp)], space=space), niter=200)
    matches = match_objects(out, lab, threshold=0.99)
    assert len(matches) == 5 and out.max() == 5
    mapping = {p: g for g, p, _ in matches}
    assert np.array_equal(np.vectorize(lambda v: mapping.get(v, 0))(out), lab)


def test_flow_average_recovers_object_missing_in_one_channel():
    lab = _known_mask()
    dP, cp = _true_flows(lab)
    weak = np.where(lab == 3, -2.0, cp).astype(np.float32)  # channel 2 barely misses object 3
    dP_weak = np.where(lab == 3, 0, dP).astype(np.float32)
    alone = integrate_flows(dP_weak, weak, niter=200)
    fused = integrate_flows(*flow_average([(dP, cp), (dP_weak, weak)]), niter=200)
    assert len(match_objects(alone, lab)) == 4
    assert len(match_objects(fused, lab)) == 5


def test_flow_average_logits_vs_probabilities():
    dP = np.zeros((2, 1, 2), np.float32)
    a = (dP, np.array([[10.0, 0.0]], np.float32))
    b = (dP, np.array([[-2.0, 0.0]], np.float32))
    _, logit_mean = flow_average([a, b], space="logits")
    _, prob_mean = flow_average([a, b], space="probabilities")
    assert logit_mean[0, 0] == pytest.approx(4.0)
    p = (1 / (1 + np.exp(-10)) + 1 / (1 + np.exp(2))) / 2
    assert prob_mean[0, 0] == pytest.approx(np.log(p / (1 - p)), rel=1e-4)
    assert prob_mean[0, 1] == pytest.approx(0.0, abs=1e-5)


def test_flow_average_rejects_bad_input():
    dP = np.zeros((2, 4, 4), np.float32)
    with pytest.raises(InputError, match="at least one channel"):
        flow_average([])
    with pytest.raises(InputError, match="different shapes"):
        flow_average([(dP, np.zeros((4, 4))), (np.zeros((2, 5, 4)), np.zeros((5, 4)))])
    with pytest.raises(InputError, match="logits' or 'probabilities"):
        flow_average([(dP, np.zeros((4, 4)))], space="mean")
    with pytest.raises(InputError, match=r"shape \(2, Y, X\)"):
        integrate_flows(np.zeros((4, 4)), np.zeros((4, 4)))
