"""Inputs of a batch run: folders, globs, CSV/YAML manifests, output stems."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from labelfree.batch import BatchConfig, collect_inputs, read_manifest
from labelfree.errors import ConfigError, InputError


def _tif(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, np.arange(16, dtype=np.uint8).reshape(4, 4))
    return path


def test_folder_lists_images_only_sorted(tmp_path):
    for name in ("b.tif", "a.ome.tif", "c.tiff", "notes.txt", ".hidden.tif"):
        (_tif(tmp_path / name) if name.endswith(("tif", "tiff")) else (tmp_path / name).write_text("x"))
    items = collect_inputs(tmp_path)
    assert [it.path.name for it in items] == ["a.ome.tif", "b.tif", "c.tiff"]
    assert [it.stem for it in items] == ["a", "b", "c"]
    assert all(it.path.is_absolute() for it in items)


def test_glob_recursive_and_clashing_stems_get_parent_names(tmp_path):
    _tif(tmp_path / "MSC" / "01" / "t000.tif")
    _tif(tmp_path / "GOWT1" / "01" / "t000.tif")
    _tif(tmp_path / "GOWT1" / "01" / "t001.tif")
    items = collect_inputs(str(tmp_path / "**" / "*.tif"))
    assert sorted(it.stem for it in items) == ["GOWT1_01_t000", "MSC_01_t000", "t001"]


def test_one_name_in_two_formats_gets_the_format_in_its_stem(tmp_path):
    """cells.tif and cells.ome.tif in one folder: no parent name can tell them apart (the run was
    refused with a stem made of the whole path, '..._cells', that names no output)."""
    _tif(tmp_path / "cells.tif")
    _tif(tmp_path / "cells.ome.tif")
    _tif(tmp_path / "other.tif")
    items = collect_inputs(tmp_path)
    assert sorted(it.stem for it in items) == ["cells_ome_tif", "cells_tif", "other"]


def test_csv_manifest_channels_options_and_relative_paths(tmp_path):
    _tif(tmp_path / "imgs" / "x.tif")
    _tif(tmp_path / "imgs" / "y.tif")
    (tmp_path / "m.csv").write_text(
        "path,name,channels,min_size,method,dims\n"
        "imgs/x.tif,first,0;2,50,li,\n"
        "imgs/y.tif,,GFP,,,yx\n"
    )
    a, b = collect_inputs(tmp_path / "m.csv")
    assert a.path == tmp_path / "imgs" / "x.tif" and a.stem == "first"
    assert a.channels == (0, 2) and a.options == {"min_size": 50, "method": "li"} and a.dims is None
    assert b.stem == "y" and b.channels == ("GFP",) and b.options == {} and b.dims == "YX"


def test_manifest_markers_and_zoo_reach_the_pipeline_or_fail_clearly(tmp_path):
    from labelfree.batch import run_batch

    img = np.zeros((40, 40), np.uint16)
    img[5:20, 5:20] = 900
    tifffile.imwrite(tmp_path / "x.tif", img)
    (tmp_path / "m.csv").write_text("path,markers,zoo\nx.tif,x.tif,models\n")
    (item,) = collect_inputs(tmp_path / "m.csv", input_names=("markers", "zoo"))
    assert item.inputs == {"markers": tmp_path / "x.tif", "zoo": tmp_path / "models"} and item.options == {}
    (item,) = collect_inputs(tmp_path / "m.csv")  # for a pipeline without such inputs they are options
    assert item.inputs == {} and item.options == {"markers": "x.tif", "zoo": "models"}
    summary = run_batch(tmp_path / "m.csv", pipeline="threshold", out_dir=tmp_path / "out", scheduler="sync",
                        progress=False)
    assert summary["status"][0] == "failed"
    assert "Unknown ThresholdConfig option(s): markers, zoo" in summary["error"][0]


def test_yaml_manifest_with_options_mapping(tmp_path):
    _tif(tmp_path / "x.tif")
    (tmp_path / "m.yaml").write_text(
        "inputs:\n  - x.tif\n  - path: x.tif\n    name: again\n    channels: [1]\n    options: {min_size: 5}\n"
    )
    a, b = read_manifest(tmp_path / "m.yaml")
    assert a.options == {} and b.options == {"min_size": 5} and b.channels == (1,) and b.stem == "again"


def test_yaml_manifest_numbers_are_read_as_config_files_read_them(tmp_path):
    """A YAML manifest read numbers by YAML 1.1 rules (``010`` was 8, ``1:30`` was 90), config files and --set
    by YAML 1.2 (``010`` is 10)."""
    _tif(tmp_path / "x.tif")
    (tmp_path / "m.yaml").write_text("- path: x.tif\n  options: {min_size: 010, threshold: 1:30}\n")
    (entry,) = read_manifest(tmp_path / "m.yaml")
    assert entry.options == {"min_size": 10, "threshold": "1:30"}


def test_manifest_errors_are_clear(tmp_path):
    (tmp_path / "bad.csv").write_text("file,name\nx.tif,a\n")
    with pytest.raises(ConfigError, match="'path' column"):
        collect_inputs(tmp_path / "bad.csv")
    (tmp_path / "bad.yaml").write_text("- path: x.tif\n  min_size: 3\n  options: {method: li}\n")
    with pytest.raises(ConfigError, match="under 'options:'"):
        collect_inputs(tmp_path / "bad.yaml")
    with pytest.raises(InputError, match="No image files"):
        collect_inputs(str(tmp_path / "*.tif"))
    with pytest.raises(InputError, match="holds no image files"):
        collect_inputs(tmp_path)
    (tmp_path / "dup.csv").write_text("path,name\na.tif,s\nb.tif,s\n")
    with pytest.raises(InputError, match="same outputs 's'"):
        collect_inputs(tmp_path / "dup.csv")


def test_batch_config_validates():
    with pytest.raises(ConfigError, match="n_workers"):
        BatchConfig(n_workers=0)
    with pytest.raises(ConfigError, match="chunk_frames"):
        BatchConfig(chunk_frames=1)
    with pytest.raises(ConfigError, match="Unknown BatchConfig option"):
        BatchConfig.from_dict({"workers": 3})
    assert BatchConfig.from_dict(BatchConfig(n_workers=3).to_dict()).n_workers == 3
