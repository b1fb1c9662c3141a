"""OME-Zarr as users meet it: stores written by ome-zarr-py, bioformats2raw containers and HCS plates read
with :func:`read_ngff`; LabelFree's stores read by ome-zarr-py and validated by ome-zarr-models."""

from __future__ import annotations

import collections
import warnings

import numpy as np
import pytest
import xarray as xr

from labelfree.errors import InputError
from labelfree.image import to_dataarray
from labelfree.io import read_image
from labelfree.io.ngff import read_ngff, write_ngff, write_ngff_labels

zarr = pytest.importorskip("zarr")
ome_writer = pytest.importorskip("ome_zarr.writer")
ome_format = pytest.importorskip("ome_zarr.format")

VERSIONS = ("0.4", "0.5")


def _fmt(version):
    return ome_format.FormatV04() if version == "0.4" else ome_format.FormatV05()


def _group(path, version):
    return zarr.open_group(str(path), mode="w", zarr_format=2 if version == "0.4" else 3)


def _ome_image(group, data, version, **kwargs):
    """ome-zarr-py's ``write_image`` (its warnings about defaults it fills in are its own business)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ome_writer.write_image(data, group, fmt=_fmt(version), **kwargs)


def _omero(value):
    """The ``omero`` metadata as ome-zarr-py's ``write_image`` takes it: a dict before 0.20, its ``Omero`` model
    (ome-zarr-models) from 0.20 on, which refuses a dict."""
    try:
        from ome_zarr.classes.image import Omero
    except ImportError:
        return value
    return Omero.model_validate(value)


def _step(da, dim):
    return float(da.coords[dim].values[1] - da.coords[dim].values[0])


@pytest.mark.parametrize("version", VERSIONS)
def test_ome_zarr_py_tczyx_with_units_channels_levels_and_labels(tmp_path, version):
    rng = np.random.default_rng(1)
    data = rng.integers(0, 60000, (2, 3, 4, 64, 48), dtype=np.uint16)
    path = tmp_path / "image.zarr"
    group = _group(path, version)
    omero = {"channels": [{"label": n, "color": "FFFFFF", "window": {"start": 0, "end": 1, "min": 0, "max": 1}}
                          for n in ("DAPI", "GFP", "RFP")]}
    scale = {"t": 50.0, "z": 2.0, "y": 0.5, "x": 0.25}
    units = {"t": "millisecond", "z": "micrometer", "y": "micrometer", "x": "micrometer"}
    _ome_image(group, data, version, axes="tczyx", scale=scale, axes_units=units, scale_factors=[2, 4],
               storage_options={"chunks": (1, 1, 1, 32, 32)}, omero=_omero(omero))
    cells = (data[:, 0] > 30000).astype(np.uint32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ome_writer.write_labels(cells, group, name="cells", axes="tzyx", scale=scale, axes_units=units,
                                fmt=_fmt(version), scale_factors=[2])

    img = read_ngff(path)
    assert img.dims == ("T", "C", "Z", "Y", "X") and img.dtype == np.uint16
    np.testing.assert_array_equal(img.values, data)
    assert list(img.coords["C"].values) == ["DAPI", "GFP", "RFP"]
    for dim, step, unit in (("T", 50.0, "ms"), ("Z", 2.0, "µm"), ("Y", 0.5, "µm"), ("X", 0.25, "µm")):
        assert _step(img, dim) == pytest.approx(step) and img.coords[dim].attrs["units"] == unit
        assert float(img.coords[dim].values[0]) == 0.0
    low = read_ngff(path, level=2)  # ome-zarr-py: 4x coarser, its pixel centres shifted by 1.5 pixels
    assert low.shape == (2, 3, 4, 16, 12)
    assert _step(low, "Y") == pytest.approx(2.0) and float(low.coords["Y"].values[0]) == pytest.approx(0.75)
    lab = read_ngff(path / "labels" / "cells")
    assert lab.dims == ("T", "Z", "Y", "X") and lab.dtype == np.uint32
    np.testing.assert_array_equal(lab.values, cells)
    assert _step(lab, "X") == pytest.approx(0.25) and lab.coords["X"].attrs["units"] == "µm"


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.int64, np.float32, bool])
def test_ome_zarr_py_2d_dtypes_in_nanometer(tmp_path, version, dtype):
    data = (np.random.default_rng(2).random((40, 30)) * 200).astype(dtype)
    path = tmp_path / "yx.zarr"
    _ome_image(_group(path, version), data, version, axes="yx", scale={"y": 65.0, "x": 65.0},
               axes_units={"y": "nanometer", "x": "nanometer"}, scale_factors=[])
    img = read_ngff(path)
    assert img.dims == ("Y", "X") and img.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(img.values, data)
    assert _step(img, "Y") == 65.0 and img.coords["Y"].attrs["units"] == "nm"


@pytest.mark.parametrize("version", VERSIONS)
def test_ome_zarr_py_translation_and_seconds(tmp_path, version):
    data = np.arange(5 * 32 * 32, dtype=np.uint16).reshape(5, 32, 32)
    axes = [{"name": "t", "type": "time"}, {"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    # the units as axes_units: ome-zarr-py 0.20 leaves out a "unit" given in the axes' dicts (0.18 wrote it)
    units = {"t": "second", "y": "micrometer", "x": "micrometer"}
    transforms = [[{"type": "scale", "scale": [2.0, 0.3, 0.3]}, {"type": "translation", "translation": [10, 5, 7]}],
                  [{"type": "scale", "scale": [2.0, 0.6, 0.6]}, {"type": "translation", "translation": [10, 5, 7]}]]
    path = tmp_path / "tyx.zarr"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ome_writer.write_multiscale([data, data[:, ::2, ::2]], _group(path, version), axes=axes, axes_units=units,
                                    coordinate_transformations=transforms, fmt=_fmt(version))
    for level, step in ((0, 0.3), (1, 0.6)):
        img = read_ngff(path, level=level)
        np.testing.assert_array_equal(img.values, data[:, :: 2 ** level, :: 2 ** level])
        assert float(img.coords["T"].values[0]) == 10.0 and _step(img, "T") == 2.0
        assert img.coords["T"].attrs["units"] == "s"
        assert float(img.coords["Y"].values[0]) == 5.0 and float(img.coords["X"].values[0]) == 7.0
        assert img.coords["Y"].attrs["scale"] == pytest.approx(step)


def _bioformats2raw(path, version, n_series, *, list_series=True):
    """bioformats2raw's layout: ``bioformats2raw.layout: 3`` on the root, ``OME/`` with the OME-XML (and the
    series list), one multiscale image per series in ``0``, ``1``, ..."""
    root = _group(path, version)
    series = [str(i) for i in range(n_series)]

    def put(group, attrs):
        group.attrs.update(attrs if version == "0.4" else {"ome": {"version": "0.5", **attrs}})

    put(root, {"bioformats2raw.layout": 3})
    ome = root.require_group("OME")
    if list_series:
        put(ome, {"series": series})
    (path / "OME" / "METADATA.ome.xml").write_text('<?xml version="1.0"?><OME/>')
    for s in series:
        _ome_image(root.require_group(s), np.full((3, 20, 16), int(s) + 1, np.uint16), version, axes="zyx",
                   scale={"z": 1.5, "y": 0.2, "x": 0.2},
                   axes_units={"z": "micrometer", "y": "micrometer", "x": "micrometer"}, scale_factors=[2])


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("list_series", [True, False])
def test_bioformats2raw_single_series_reads_from_the_root(tmp_path, version, list_series):
    path = tmp_path / "scan.ome.zarr"
    _bioformats2raw(path, version, 1, list_series=list_series)
    for img in (read_ngff(path), read_image(path)):
        assert img.dims == ("Z", "Y", "X") and img.shape == (3, 20, 16)
        assert int(img.values.min()) == int(img.values.max()) == 1
        assert _step(img, "Z") == pytest.approx(1.5) and img.coords["Y"].attrs["units"] == "µm"
        assert img.attrs["source"] == str(path / "0")
    assert read_ngff(path, level=1).shape == (3, 10, 8)


@pytest.mark.parametrize("version", VERSIONS)
def test_bioformats2raw_several_series_name_one_to_give(tmp_path, version):
    path = tmp_path / "scan.ome.zarr"
    _bioformats2raw(path, version, 3)
    with pytest.raises(InputError, match=r"3 image series \(0, 1, 2\).*give one series, e\.g\. .*scan\.ome\.zarr/0"):
        read_ngff(path)
    series = read_ngff(path / "2")
    assert int(series.values.min()) == 3 and series.shape == (3, 20, 16)
    # or chosen by its index, as the series of a multi-position TIFF
    for chosen in (read_ngff(path, series=2), read_image(path, series=2)):
        assert int(chosen.values.min()) == 3 and chosen.attrs["series"] == 2
    with pytest.raises(InputError, match=r"has no series 3: it holds 3 image series \(0, 1, 2\), counted from 0"):
        read_image(path, series=3)
    with pytest.raises(InputError, match=r"series=1 chooses an image series of a bioformats2raw container, but "
                                         r".*scan\.ome\.zarr/1 is not one"):
        read_image(path / "1", series=1)
    one = read_image(path / "1", series=0)  # a series is one image: its series 0, as a TIFF of one image
    assert int(one.values.min()) == 2 and one.attrs["series"] == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_hcs_plate_and_well_name_a_field_to_give(tmp_path, version):
    path = tmp_path / "plate.zarr"
    root = _group(path, version)
    ome_writer.write_plate_metadata(root, ["A", "B"], ["1", "2"], ["A/2", "B/1"], fmt=_fmt(version))
    data = np.arange(2 * 16 * 16, dtype=np.uint8).reshape(2, 16, 16)
    for well_path in ("A/2", "B/1"):
        row, col = well_path.split("/")
        well = root.require_group(row).require_group(col)
        ome_writer.write_well_metadata(well, [{"path": "f0"}, {"path": "f1"}], fmt=_fmt(version))
        for field in ("f0", "f1"):
            _ome_image(well.require_group(field), data, version, axes="tyx", scale_factors=[])
    with pytest.raises(InputError, match=r"HCS plate of 2 well\(s\) \(A/2, B/1\).*e\.g\. .*plate\.zarr/A/2/f0\."):
        read_ngff(path)
    with pytest.raises(InputError, match=r"well of an HCS plate with 2 field\(s\) \(f0, f1\).*e\.g\. .*B/1/f0\."):
        read_ngff(path / "B" / "1")
    np.testing.assert_array_equal(read_ngff(path / "B" / "1" / "f1").values, data)


@pytest.mark.parametrize("version", VERSIONS)
def test_labels_group_names_a_label_image_to_give(tmp_path, version):
    image = to_dataarray(xr.DataArray(np.zeros((8, 8), np.uint8), dims=["Y", "X"]))
    write_ngff(tmp_path / "im.zarr", image, version=version)
    write_ngff_labels(tmp_path / "im.zarr", image.astype(np.uint16), name="nuclei")
    with pytest.raises(InputError, match=r"labels group .*\(nuclei\); give one label image, e\.g\. .*labels/nuclei"):
        read_ngff(tmp_path / "im.zarr" / "labels")


@pytest.mark.parametrize("version", VERSIONS)
def test_labelfree_store_reads_in_ome_zarr_py_and_validates(tmp_path, version):
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    rng = np.random.default_rng(3)
    calib = {"scale": {"T": 2.0, "Z": 1.5, "Y": 0.3, "X": 0.3}, "units": {"T": "s", "Z": "µm", "Y": "µm", "X": "µm"},
             "origin": {"Y": 10.0, "X": 5.0}}
    image = to_dataarray(xr.DataArray(rng.integers(0, 4000, (2, 2, 3, 40, 30), dtype=np.uint16), dims=list("TCZYX")),
                         channel_names=["DAPI", "GFP"], **calib)
    labels = to_dataarray(xr.DataArray(rng.integers(0, 5, (2, 3, 40, 30)).astype(np.int64), dims=list("TZYX")),
                          **calib)
    path = tmp_path / "cells.ome.zarr"
    write_ngff(path, image, version=version, levels=2)
    write_ngff_labels(path, labels, name="cells", levels=2)

    nodes = {str(node.zarr.path).rstrip("/").split("/")[-1]: node for node in Reader(parse_url(str(path)))()}
    top = nodes["cells.ome.zarr"]
    assert top.metadata["name"] == "cells"  # not "cells.ome"
    assert top.metadata["channel_names"] == ["DAPI", "GFP"]
    assert [a.get("unit") for a in top.metadata["axes"]] == ["second", None, "micrometer", "micrometer", "micrometer"]
    assert top.metadata["coordinateTransformations"][1] == [
        {"type": "scale", "scale": [2.0, 1.0, 1.5, 0.6, 0.6]}, {"type": "translation", "translation": [0, 0, 0, 10, 5]}]
    np.testing.assert_array_equal(np.asarray(top.data[0]), image.values)
    np.testing.assert_array_equal(np.asarray(top.data[1]), image.values[..., ::2, ::2])
    np.testing.assert_array_equal(np.asarray(nodes["cells"].data[0]), labels.values)

    models = pytest.importorskip("ome_zarr_models")
    kinds = {sub: type(models.open_ome_zarr(zarr.open_group(str(path / sub), mode="r"))).__name__
             for sub in (".", "labels", "labels/cells")}
    assert kinds == {".": "Image", "labels": "Labels", "labels/cells": "ImageLabel"}


@pytest.mark.parametrize("version", VERSIONS)
def test_one_frame_of_a_lazy_read_reads_only_its_chunks(tmp_path, version, monkeypatch):
    data = np.random.default_rng(4).integers(0, 4000, (6, 256, 256), dtype=np.uint16)
    path = tmp_path / "movie.zarr"
    write_ngff(path, to_dataarray(xr.DataArray(data, dims=list("TYX"))), version=version, chunks=(1, 128, 128))
    reads = collections.Counter()
    get = zarr.storage.LocalStore.get

    async def counted(self, key, *args, **kwargs):
        reads[key] += 1
        return await get(self, key, *args, **kwargs)

    monkeypatch.setattr(zarr.storage.LocalStore, "get", counted)
    movie = read_ngff(path)
    reads.clear()
    np.testing.assert_array_equal(movie.isel(T=4).values, data[4])
    chunks = sorted(k for k in reads if not k.endswith(("zarr.json", ".zarray", ".zattrs", ".zgroup")))
    sep = "/" if version == "0.4" else "/c/"
    assert chunks == [f"0{sep}4/{y}/{x}" for y in (0, 1) for x in (0, 1)]


@pytest.mark.parametrize("version", VERSIONS)
def test_labels_for_a_container_name_the_image_to_add_them_to(tmp_path, version):
    scan = tmp_path / "scan.ome.zarr"
    _bioformats2raw(scan, version, 1)
    labels = to_dataarray(xr.DataArray(np.ones((3, 20, 16), np.uint16), dims=list("ZYX")))
    with pytest.raises(InputError, match=r"bioformats2raw container; its image is the series .*scan\.ome\.zarr/0"):
        write_ngff_labels(scan, labels, name="cells")
    assert not (scan / "labels").exists()
    np.testing.assert_array_equal(read_ngff(write_ngff_labels(scan / "0", labels, name="cells")).values, 1)
    plate = tmp_path / "plate.zarr"
    ome_writer.write_plate_metadata(_group(plate, version), ["A"], ["1"], ["A/1"], fmt=_fmt(version))
    with pytest.raises(InputError, match=r"HCS plate of 1 well\(s\) \(A/1\).*e\.g\. .*plate\.zarr/A/1/<field>"):
        write_ngff_labels(plate, labels, name="cells")
    assert not (plate / "labels").exists()


@pytest.mark.parametrize("version", VERSIONS)
def test_write_ngff_never_writes_inside_a_plate_or_container(tmp_path, version):
    from labelfree.errors import InputOverwriteError

    scan = tmp_path / "scan.ome.zarr"
    _bioformats2raw(scan, version, 2)
    plate = tmp_path / "plate.zarr"
    ome_writer.write_plate_metadata(_group(plate, version), ["A"], ["1"], ["A/1"], fmt=_fmt(version))
    image = to_dataarray(xr.DataArray(np.ones((4, 4), np.uint8), dims=["Y", "X"]))
    for target in (scan / "seg.zarr", plate / "seg.zarr", plate / "A" / "seg.zarr"):
        with pytest.raises(InputOverwriteError, match=r"inside the OME-Zarr plate or bioformats2raw container"):
            write_ngff(target, image, version=version)
        assert not target.exists()
    with pytest.raises(InputOverwriteError, match=r"inside the OME-Zarr image .*scan\.ome\.zarr/1"):
        write_ngff(scan / "1" / "seg.zarr", image, version=version)
    assert read_ngff(write_ngff(tmp_path / "seg.zarr", image, version=version)).shape == (4, 4)
