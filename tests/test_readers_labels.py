"""as_label_image turns whole-number float labels into unsigned integers sized by the largest id."""

from __future__ import annotations

import numpy as np
import pytest

from labelfree.errors import DTypeError
from labelfree.image import to_dataarray
from labelfree.io.labels_tiff import as_label_image


@pytest.mark.parametrize(("top", "dtype"), [(3.0, np.uint16), (65535.0, np.uint16), (65536.0, np.uint32),
                                            (2.0**32 - 1, np.uint32), (2.0**32, np.uint64)])
def test_whole_number_floats_become_unsigned_integers(top: float, dtype: type) -> None:
    labels = np.array([[0.0, 1.0], [2.0, top]])
    da = as_label_image(labels)
    assert da.dtype == dtype
    assert da.values.tolist() == [[0, 1], [2, int(top)]]


def test_float_labels_keep_their_coords_and_dims() -> None:
    labels = to_dataarray(np.array([[[0, 1], [2, 2]], [[3, 0], [0, 1]]], np.float32), dims="TYX",
                          scale={"X": 0.5, "Y": 0.5, "T": 2.0}, units={"X": "µm", "Y": "µm", "T": "s"})
    da = as_label_image(labels)
    assert da.dtype == np.uint16 and da.dims == ("T", "Y", "X")
    assert da.coords["X"].values.tolist() == [0.0, 0.5] and da.coords["X"].attrs["units"] == "µm"
    assert da.coords["T"].values.tolist() == [0.0, 2.0]


def test_integer_labels_keep_their_type() -> None:
    assert as_label_image(np.array([[0, 7]], np.int32).reshape(1, 2)).dtype == np.int32


def test_float_labels_beyond_64_bit_integers_are_refused() -> None:
    with pytest.raises(DTypeError, match="beyond 64-bit integers"):
        as_label_image(np.array([[0.0, 2.0**64]]))
