"""The objects table of a z-stack: one row per 3-D object per frame (volume, voxels, 3-D centroid, z range,
mean over its voxels), as Fiji's 3D Objects Counter gives one row per object; 2-D and T-only tables unchanged."""

import json

import numpy as np
import pandas as pd
import pytest
from skimage.measure import regionprops_table

from labelfree.image import to_dataarray
from labelfree.measure import TABLE_COLUMNS, VOLUME_COLUMNS, measure_objects

SCALE = {"X": 0.5, "Y": 0.25, "Z": 2.0}
ORIGIN = {"X": 10.0, "Y": -3.0, "Z": 100.0}


def _stack(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(6, 40, 40) labels with 3 objects over several planes (one with a hole, one with a huge id) and an image."""
    lab = np.zeros((6, 40, 40), np.uint32)
    lab[1:4, 5:15, 5:12] = 2
    lab[2, 8:10, 7:9] = 0  # a hole
    lab[0:6, 20:24, 25:39] = 5
    lab[3:5, 30:38, 2:6] = 9
    lab[4, 30:33, 6:10] = 9  # wider in one plane
    image = np.random.default_rng(seed).random(lab.shape)
    return lab, image


def _reference(lab: np.ndarray, image: np.ndarray) -> pd.DataFrame:
    spacing = (SCALE["Z"], SCALE["Y"], SCALE["X"])
    return pd.DataFrame(regionprops_table(lab.astype(int), image, spacing=spacing, properties=(
        "label", "area", "num_pixels", "centroid", "bbox", "intensity_mean")))


def test_a_zstack_gives_one_row_per_3d_object_with_calibrated_volume_and_centroid():
    lab, image = _stack()
    da = to_dataarray(lab, dims="ZYX", scale=SCALE, origin=ORIGIN, units={"X": "µm", "Y": "µm", "Z": "µm"})
    df = measure_objects(da, image=image)
    ref = _reference(lab, image)
    assert list(df.columns) == list(VOLUME_COLUMNS) + ["mean_intensity"]
    assert df.label.tolist() == ref.label.tolist() == [2, 5, 9] and df.frame.tolist() == [0, 0, 0]
    assert df.voxels.tolist() == ref.num_pixels.tolist() == [3 * 70 - 4, 6 * 56, 2 * 32 + 12]
    np.testing.assert_allclose(df.volume, ref.area)  # voxels x 0.5 x 0.25 x 2 µm³
    np.testing.assert_allclose(df.centroid_x, ORIGIN["X"] + ref["centroid-2"])  # regionprops: scaled, no origin
    np.testing.assert_allclose(df.centroid_y, ORIGIN["Y"] + ref["centroid-1"])
    np.testing.assert_allclose(df.centroid_z, ORIGIN["Z"] + ref["centroid-0"])
    assert df.z_first.tolist() == ref["bbox-0"].tolist() == [1, 0, 3]
    assert df.z_last.tolist() == (ref["bbox-3"] - 1).tolist() == [3, 5, 4]
    assert df.bbox_x.tolist() == ref["bbox-2"].tolist() and df.bbox_y.tolist() == ref["bbox-1"].tolist()
    assert df.bbox_width.tolist() == (ref["bbox-5"] - ref["bbox-2"]).tolist() == [7, 14, 8]
    assert df.bbox_height.tolist() == (ref["bbox-4"] - ref["bbox-1"]).tolist() == [10, 4, 8]
    np.testing.assert_allclose(df.mean_intensity, ref.intensity_mean, rtol=1e-12)
    assert df.attrs["units"]["volume"] == "µm³" and df.attrs["units"]["centroid_z"] == "µm"
    assert "area" not in df and "z" not in df


def test_a_tzyx_movie_gives_one_row_per_object_per_frame_and_channel_means_leave_nan_out():
    lab, _ = _stack()
    movie = np.stack([lab, np.where(lab == 5, 0, lab)])  # object 5 is gone in frame 1
    img = np.stack([np.full(movie.shape, 2.0), np.full(movie.shape, 7.0)], axis=1)  # T C Z Y X
    img[1, 1, 3:5, 30:38, 2:6] = np.nan  # object 9 of frame 1: actin NaN in its 2 planes ...
    img[1, 1, 4, 30:33, 6:10] = 1.0  # ... but its 12 extra voxels
    image = to_dataarray(img, dims="TCZYX", channel_names=["dna", "actin"])
    df = measure_objects(to_dataarray(movie, dims="TZYX"), image=image)
    assert df[["frame", "label", "voxels"]].values.tolist() == [
        [0, 2, 206], [0, 5, 336], [0, 9, 76], [1, 2, 206], [1, 9, 76]]
    assert df.mean_dna.tolist() == [2.0] * 5 and df.mean_actin.tolist() == [7.0] * 4 + [1.0]
    assert df.volume.tolist() == df.voxels.tolist()  # uncalibrated: a voxel is 1 pixel³
    assert df.attrs["units"]["volume"] == "pixel³"
    np.testing.assert_allclose(df.centroid_z, [2.0, 2.5, 3 + 44 / 76, 2.0, 3 + 44 / 76])


def test_a_lazy_image_is_read_plane_by_plane_and_gives_the_same_table():
    dask = pytest.importorskip("dask.array")
    lab, image = _stack(1)
    da = to_dataarray(lab, dims="ZYX")
    eager = measure_objects(da, image=image)
    lazy = measure_objects(da, image=dask.from_array(image, chunks=(1, 40, 40)))
    pd.testing.assert_frame_equal(lazy, eager, check_exact=True)


def test_per_plane_gives_the_table_of_planes_and_2d_and_movies_keep_theirs():
    lab, image = _stack()
    per_plane = measure_objects(to_dataarray(lab, dims="ZYX"), image=image, per_plane=True)
    assert list(per_plane.columns) == list(TABLE_COLUMNS) + ["mean_intensity"]
    assert len(per_plane) == 3 + 6 + 2 and per_plane.area.sum() == np.count_nonzero(lab)
    movie = measure_objects(to_dataarray(lab, dims="TYX"), image=image)  # the same planes as frames
    assert list(movie.columns) == list(TABLE_COLUMNS) + ["mean_intensity"] and len(movie) == 11
    one = measure_objects(to_dataarray(lab[:1], dims="ZYX"))  # a single z plane: the plane table
    assert list(one.columns) == list(TABLE_COLUMNS) and one.z.tolist() == [0]


def test_no_object_in_a_zstack_gives_the_volume_columns_with_their_types():
    empty = measure_objects(to_dataarray(np.zeros((3, 8, 8), np.uint8), dims="ZYX"), image=np.ones((3, 8, 8)))
    full = measure_objects(to_dataarray(np.ones((3, 8, 8), np.uint8), dims="ZYX"), image=np.ones((3, 8, 8)))
    assert empty.empty and list(empty.columns) == list(VOLUME_COLUMNS) + ["mean_intensity"]
    assert empty.dtypes.to_dict() == full.dtypes.to_dict()
    assert full.voxels.tolist() == [192] and full.z_last.tolist() == [2]


def test_mixed_units_name_each_axis():
    lab, _ = _stack()
    da = to_dataarray(lab, dims="ZYX", scale={"X": 0.5, "Y": 0.5}, units={"X": "µm", "Y": "µm"})
    assert measure_objects(da).attrs["units"]["volume"] == "µm²·pixel"


def test_write_outputs_of_a_zstack_writes_the_volume_table_and_its_units(tmp_path):
    from labelfree.io import write_outputs

    lab, image = _stack()
    da = to_dataarray(lab, dims="ZYX", scale=SCALE, units={"X": "µm", "Y": "µm", "Z": "µm"})
    paths = write_outputs(tmp_path, da, image=image, stem="cells")
    table = pd.read_csv(paths["table"])
    assert list(table.columns) == list(VOLUME_COLUMNS) + ["mean_intensity"]
    assert table.label.tolist() == [2, 5, 9] and table.voxels.tolist() == [206, 336, 76]
    units = json.loads(paths["provenance"].read_text(encoding="utf-8"))["table_units"]
    assert units["volume"] == "µm³" and "area" not in units


def test_the_imagej_table_of_3d_objects_is_labelled_by_object_and_counts_planes_from_one():
    from labelfree.errors import InputError
    from labelfree.imagej.tables import objects_table_for_imagej
    from labelfree.io.rois import roi_name

    lab, _ = _stack()
    movie = to_dataarray(np.stack([lab, lab]), dims="TZYX")
    table = measure_objects(movie)
    planes = measure_objects(movie, per_plane=True)  # the ROIs the ROI Manager gets: one per object per plane
    rois = [roi_name(t, label, z=z) + "-1" for t, z, label in planes[["frame", "z", "label"]].values.tolist()]
    shown = objects_table_for_imagej(table, has_z=True, names=rois[::-1])
    assert shown["Label"].tolist() == [f"t000{t}-L0000{i}-1" for t in (1, 2) for i in (2, 5, 9)]
    assert shown.z_first.tolist() == [2, 1, 4] * 2 and shown.z_last.tolist() == [4, 6, 5] * 2
    assert shown.frame.tolist() == [1, 1, 1, 2, 2, 2] and table.frame.tolist() == [0, 0, 0, 1, 1, 1]
    np.testing.assert_allclose(shown.centroid_z, table.centroid_z + 1)  # slices counted from 1 in ImageJ
    pd.testing.assert_frame_equal(shown.drop(columns=["Label", "frame", "z_first", "z_last", "centroid_z"]),
                                  table.drop(columns=["frame", "z_first", "z_last", "centroid_z"]))
    assert objects_table_for_imagej(table, has_z=True)["Label"].tolist()[:2] == ["t0001-L00002", "t0001-L00005"]
    with pytest.raises(InputError, match=r"object t0002-L00009 has no ROI"):
        objects_table_for_imagej(table, has_z=True, names=[n for n in rois if not n.startswith("t0002-z004-L00009")
                                                           and not n.startswith("t0002-z005-L00009")])
    with pytest.raises(InputError, match=r"The ROI name t0001-L00002 names no plane"):
        objects_table_for_imagej(table, has_z=True, names=["t0001-L00002"])


def test_the_batch_report_plots_volumes_of_zstack_tables_apart_from_areas(tmp_path):
    from labelfree.batch.report import _plots, _sizes, _tables
    from labelfree.io import write_outputs

    lab, _ = _stack()
    units = {"X": "µm", "Y": "µm", "Z": "µm"}
    rows = []
    for stem, labels in (("stack", to_dataarray(lab, dims="ZYX", scale=SCALE, units=units)),
                         ("stack2", to_dataarray(lab, dims="ZYX", scale=SCALE, units=units)),
                         ("flat", to_dataarray(lab[3], dims="YX", scale=SCALE, units=units))):
        paths = write_outputs(tmp_path / stem, labels, stem=stem)
        rows.append({"stem": stem, "status": "ok", "table": str(paths["table"]),
                     "provenance": str(paths["provenance"])})
    tables = _tables(pd.DataFrame(rows))
    assert tables["stack"].attrs["volume_unit"] == "µm³" and tables["flat"].attrs["area_unit"] == "µm²"
    sizes, kind, unit, left_out = _sizes(tables)
    assert (kind, unit, left_out) == ("volume", "µm³", 3)  # 6 volumes plotted, the 3 areas of "flat" counted apart
    np.testing.assert_allclose(sorted(sizes), sorted([206 * 0.25, 336 * 0.25, 76 * 0.25] * 2))
    assert tables["stack"].groupby("frame").size().tolist() == [3]  # objects per frame: 3-D objects, not planes
    assert "<img class='plots'" in _plots(tables)
