"""Label images that cannot belong where they are written are refused up front: NGFF label
images whose axes or sizes are not their image's, label ids beyond what an ImageJ label
image holds. Nothing is written on refusal."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from labelfree.errors import DimensionError, InputError
from labelfree.io import read_ngff, write_ngff, write_ngff_labels, write_outputs

pytest.importorskip("zarr")


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("version", ["0.4", "0.5"])
@pytest.mark.parametrize("dims, shape", [
    (("Y", "X"), (100, 50)),  # another size and no T
    (("T", "Y", "X"), (3, 64, 64)),  # 3 frames under a 6-frame image
    (("Y", "X"), (64, 64)),  # one plane under a time-lapse
    (("Z", "Y", "X"), (6, 64, 64)),  # the right sizes on another axis
])
def test_ngff_labels_must_have_the_image_axes_and_sizes(tmp_path, version, dims, shape):
    store = write_ngff(tmp_path / "img.ome.zarr", xr.DataArray(np.zeros((6, 64, 64), np.uint16), dims=("T", "Y", "X")),
                      version=version)
    before = _files(tmp_path)
    labels = xr.DataArray(np.ones(shape, np.uint16), dims=dims)
    with pytest.raises(DimensionError) as info:
        write_ngff_labels(store, labels, name="cells")
    message = str(info.value)
    for text in (str(shape), "".join(dims), "(6, 64, 64)", "dims TYX", "Give labels with dims TYX"):
        assert text in message, (text, message)
    assert _files(tmp_path) == before  # no labels/ group, nothing else


def test_ngff_labels_of_the_image_are_written(tmp_path):
    image = xr.DataArray(np.zeros((2, 3, 16, 24), np.uint16), dims=("T", "C", "Y", "X"))
    store = write_ngff(tmp_path / "img.ome.zarr", image)
    labels = xr.DataArray(np.arange(2 * 16 * 24, dtype=np.uint32).reshape(2, 16, 24), dims=("T", "Y", "X"))
    path = write_ngff_labels(store, labels, name="cells")  # the image's axes but C: fine
    np.testing.assert_array_equal(read_ngff(path).values, labels.values)


def test_largest_label_id_is_called_an_id(tmp_path):
    labels = np.zeros((8, 8), np.uint64)
    labels[2:4, 2:4] = 2**40
    with pytest.raises(InputError) as info:
        write_outputs(tmp_path / "out", labels, stem="x")
    message = str(info.value)
    assert "largest label id, 1099511627776," in message and "16,777,216" in message
    assert "1099511627776 labels" not in message  # was: "1099511627776 labels cannot be stored", a count
    assert not (tmp_path / "out").exists()
