"""Cutter from Python records its torch thread count, and a rerun from the record uses it (torch's sums, so
the labels, depend on the count: 10 and 126 of its 16,384 pixels differed between 1 and 2 threads)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
import torch

from labelfree.cutter import segment
from labelfree.errors import ConfigError

#: a small network and a short training: about 2 s on one thread
SMALL = dict(width=8, crop_size=48, n_steps=40)


@pytest.fixture(scope="module")
def crop(shared_data):
    """A 128 x 128 crop of the DSB 2018 nuclei image (8 nuclei)."""
    image = tifffile.imread(shared_data / "misc" / "stardist_dsb2018" / "img2d.tif")
    return np.ascontiguousarray(image[:128, :128])


@pytest.fixture
def torch_seen(monkeypatch):
    """torch's thread count when each training starts."""
    from labelfree.cutter import train

    seen, real = [], train.train_cutter

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(train, "train_cutter", spy)
    before = torch.get_num_threads()
    yield seen
    torch.set_num_threads(before)


def test_python_records_threads_and_a_rerun_from_the_record_uses_them(crop, torch_seen, tmp_path, monkeypatch):
    monkeypatch.delenv("LABELFREE_THREADS", raising=False)
    torch.set_num_threads(1)
    first = segment(crop, config=SMALL)
    record = first.attrs["labelfree"]
    # another count in this process (another machine's default): the record's count is used, labels repeat exactly
    torch.set_num_threads(2)
    again = segment(crop, config=record)
    np.testing.assert_array_equal(again.values, first.values)
    assert torch_seen == [1, 1]
    assert record.get("threads") == 1 and again.attrs["labelfree"].get("threads") == 1
    path = tmp_path / "crop_provenance.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    from_file = segment(crop, config=str(path))
    assert torch_seen == [1, 1, 1]
    np.testing.assert_array_equal(from_file.values, first.values)
    assert int(first.values.max()) >= 5
    assert torch.get_num_threads() == 2  # the user's count is given back


def test_a_record_with_a_bad_thread_count_is_refused(crop):
    record = {"pipeline": "cutter", "version": "0", "config": dict(SMALL), "threads": 0}
    with pytest.raises(ConfigError, match=r"threads=0; a thread count is a whole number >= 1"):
        segment(crop, config=record)
