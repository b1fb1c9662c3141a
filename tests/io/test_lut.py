import numpy as np

from labelfree.io import glasbey_lut
from labelfree.io.lut import srgb_to_lab


def test_lut_shape_black_background_and_distinct():
    lut = glasbey_lut()
    assert lut.shape == (3, 256) and lut.dtype == np.uint8
    assert lut[:, 0].tolist() == [0, 0, 0]
    assert len({tuple(c) for c in lut.T}) == 256


def test_lut_colours_far_apart():
    lab = srgb_to_lab(glasbey_lut().T / 255.0)
    d = np.sqrt(((lab[:, None] - lab[None]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    # the first 32 labels are clearly distinguishable (CIELAB distance), the rest distinct
    assert d[:32, :32].min() > 25
    assert d.min() > 5


def test_lut_is_deterministic():
    assert np.array_equal(glasbey_lut(), glasbey_lut())


def test_srgb_to_lab_reference_values():
    lab = srgb_to_lab(np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]))
    np.testing.assert_allclose(lab[0], [100, 0, 0], atol=0.05)
    np.testing.assert_allclose(lab[1], [0, 0, 0], atol=1e-9)
    np.testing.assert_allclose(lab[2], [53.24, 80.09, 67.20], atol=0.05)
