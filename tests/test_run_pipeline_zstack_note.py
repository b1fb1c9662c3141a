"""``run_pipeline`` on a plain 3-D array says, as each pipeline's ``segment`` does, which pipelines segment
z-stacks (it said only which dims to give)."""

from __future__ import annotations

import numpy as np
import pytest

from labelfree._axes import z_stacks_note
from labelfree.errors import DimensionError
from labelfree.run import run_pipeline


@pytest.mark.parametrize("pipeline", ["cutter", "threshold"])
def test_a_plain_3d_array_gets_the_z_stacks_sentence(pipeline):
    with pytest.raises(DimensionError) as caught:
        run_pipeline(pipeline, np.zeros((5, 30, 30), np.uint16))
    text = str(caught.value)
    assert "'ZYX' for a z-stack" in text and z_stacks_note() in text
