"""A Fiji command's ``output=`` is checked against the files of its extra inputs (a zoo, model files, markers), as
the command line checks them, before any work."""

from __future__ import annotations

import numpy as np
import pytest

from labelfree.errors import InputOverwriteError
from labelfree.image import to_dataarray

pytestmark = pytest.mark.jvm


def test_an_output_folder_inside_the_zoo_is_refused_before_any_work(clean, tmp_path):
    """Before: only the image and the config file were inputs of the output folder: the run went on into the zoo
    (and failed on it as no zoo, having made its output folder there)."""
    import labelfree.imagej as lij

    zoo = tmp_path / "zoo"
    zoo.mkdir()
    noise = np.random.default_rng(0).integers(0, 200, (32, 32)).astype(np.uint8)
    lij.xarray_to_imageplus(to_dataarray(noise, dims="YX"), title="cells").show()
    with pytest.raises(InputOverwriteError) as caught:
        lij.run_macro(f'run("LabelFree Fusion", "image=cells rois=none table=false zoo=[{zoo}] '
                      f'output=[{zoo / "out"}]");')
    assert f"The output folder {zoo / 'out'} lies inside the zoo of this run ({zoo}, a folder)" in str(caught.value)
    assert list(zoo.iterdir()) == []  # the folder it made is gone again
