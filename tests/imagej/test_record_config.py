"""A run's provenance record given to a Fiji command as ``config_file=`` repeats the run as the command line's
``--config`` does: its settings and the thread count it ran with."""

from __future__ import annotations

import json

import numpy as np
import pytest
from channel_images import disks

from labelfree.image import to_dataarray

pytestmark = pytest.mark.jvm


def test_a_provenance_record_as_config_file_repeats_the_runs_threads(ij, clean, tmp_path):
    import labelfree.imagej as lij
    from labelfree.imagej.commands import run_command
    from labelfree.run import run_pipeline

    image = to_dataarray(disks([(20, 20), (20, 70), (70, 20), (70, 70)]), dims="YX")
    first = run_pipeline("threshold", image, config={"min_size": 30}, threads=3)
    record = tmp_path / "x_provenance.json"
    record.write_text(json.dumps(first.attrs["labelfree"]))
    imp = lij.xarray_to_imageplus(image, title="disks")
    imp.show()
    result = run_command("threshold", imp, options=f"config_file=[{record}] rois=none table=false")
    assert result.labels.attrs["labelfree"]["threads"] == 3  # was the default count: the record's was left out
    assert result.labels.attrs["labelfree"]["config"]["min_size"] == 30
    assert np.array_equal(result.labels.values, first.values)
