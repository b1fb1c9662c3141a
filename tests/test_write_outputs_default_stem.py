"""write_outputs of an array image (no source file to name the set after) names the files image_labels.tif, ...,
not labels_labels.tif."""

from __future__ import annotations

import numpy as np

from labelfree.io import read_image, read_manifest, write_outputs


def test_an_array_image_names_the_set_image(tmp_path):
    lab = np.zeros((20, 24), np.uint16)
    lab[2:8, 3:9], lab[10:18, 12:20] = 1, 2
    img = (lab * 100).astype(np.uint16)
    paths = write_outputs(tmp_path / "out", lab, image=img)
    assert sorted(p.name for p in paths.values()) == [
        "image_labels.tif", "image_provenance.json", "image_rois.zip", "image_table.csv"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths.values())
    assert np.array_equal(read_image(paths["labels"]).values, lab)
    assert read_manifest(tmp_path / "out", "image") is not None
