"""Output stems of batch inputs: the format suffix that tells one name in two formats apart survives the cut of a
long name to the longest stem, and survives the parent folders added to break ties between folders."""

from __future__ import annotations

import numpy as np
import tifffile

from labelfree.batch.inputs import collect_inputs


def _image(path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.zeros((32, 32), np.uint8)
    img[5:20, 5:20] = 200
    tifffile.imwrite(path, img)


def test_format_suffix_survives_a_long_name(tmp_path):
    name = "a" * 198  # with "_tif" the stem would pass 200 bytes
    _image(tmp_path / f"{name}.tif")
    _image(tmp_path / f"{name}.tiff")
    stems = {it.path.name: it.stem for it in collect_inputs(tmp_path)}
    assert stems == {f"{name}.tif": "a" * 196 + "_tif", f"{name}.tiff": "a" * 195 + "_tiff"}


def test_format_suffix_survives_a_long_non_ascii_name(tmp_path):
    name = "é" * 99  # 198 bytes
    _image(tmp_path / f"{name}.tif")
    _image(tmp_path / f"{name}.ome.tif")
    stems = {it.path.name: it.stem for it in collect_inputs(tmp_path)}
    assert stems == {f"{name}.tif": "é" * 98 + "_tif", f"{name}.ome.tif": "é" * 96 + "_ome_tif"}
    assert all(len(s.encode()) <= 200 for s in stems.values())


def test_format_suffix_survives_parent_folders_added_to_break_ties(tmp_path):
    for folder in ("x", "y"):
        _image(tmp_path / folder / "cells.tif")
        _image(tmp_path / folder / "cells.tiff")
    stems = {str(it.path.relative_to(tmp_path)): it.stem for it in collect_inputs([tmp_path / "x", tmp_path / "y"])}
    assert stems == {"x/cells.tif": "x_cells_tif", "x/cells.tiff": "x_cells_tiff",
                     "y/cells.tif": "y_cells_tif", "y/cells.tiff": "y_cells_tiff"}


def test_long_name_in_two_folders_and_two_formats(tmp_path):
    name = "b" * 198
    for folder in ("x", "y"):
        _image(tmp_path / folder / f"{name}.tif")
        _image(tmp_path / folder / f"{name}.tiff")
    stems = {str(it.path.relative_to(tmp_path)): it.stem for it in collect_inputs([tmp_path / "x", tmp_path / "y"])}
    assert stems == {f"{d}/{name}.{ext}": f"{d}_" + "b" * (200 - 2 - len(ext) - 1) + f"_{ext}"
                     for d in ("x", "y") for ext in ("tif", "tiff")}


def test_batch_run_writes_both_long_named_inputs(tmp_path):
    from labelfree.cli import main

    name = "c" * 198
    _image(tmp_path / "in" / f"{name}.tif")
    _image(tmp_path / "in" / f"{name}.tiff")
    assert main(["batch", "--pipeline", "threshold", "-o", str(tmp_path / "out"), "--in-process",
                 str(tmp_path / "in")]) == 0
    written = sorted(p.name for p in (tmp_path / "out").glob("*_labels.tif"))
    assert written == ["c" * 195 + "_tiff_labels.tif", "c" * 196 + "_tif_labels.tif"]
