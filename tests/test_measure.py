import numpy as np
import pandas as pd
import pytest
from skimage.measure import regionprops_table

from labelfree.errors import DimensionError, DTypeError
from labelfree.image import to_dataarray
from labelfree.measure import TABLE_COLUMNS, measure_objects


def test_values_against_regionprops():
    rng = np.random.default_rng(0)
    lab = np.zeros((50, 60), np.uint16)
    lab[5:20, 10:30] = 3
    lab[25:45, 5:15] = 1
    lab[30:48, 40:58] = 12
    lab[35:40, 45:50] = 0
    img = rng.random((50, 60))
    df = measure_objects(lab, image=img)
    properties = ("label", "area", "centroid", "bbox", "intensity_mean")
    ref = pd.DataFrame(regionprops_table(lab.astype(int), img, properties=properties))
    assert df.label.tolist() == ref.label.tolist() == [1, 3, 12]
    np.testing.assert_allclose(df.area, ref.area)
    np.testing.assert_allclose(df.centroid_x, ref["centroid-1"])
    np.testing.assert_allclose(df.centroid_y, ref["centroid-0"])
    np.testing.assert_array_equal(df.bbox_x, ref["bbox-1"])
    np.testing.assert_array_equal(df.bbox_y, ref["bbox-0"])
    np.testing.assert_array_equal(df.bbox_width, ref["bbox-3"] - ref["bbox-1"])
    np.testing.assert_array_equal(df.bbox_height, ref["bbox-2"] - ref["bbox-0"])
    np.testing.assert_allclose(df.mean_intensity, ref.intensity_mean)
    assert list(df.columns) == list(TABLE_COLUMNS) + ["mean_intensity"]


def test_calibrated_area_and_centroid_with_origin():
    lab = np.zeros((10, 10), np.uint8)
    lab[2:4, 4:8] = 1  # 8 pixels, centroid col 5.5 row 2.5
    da = to_dataarray(lab, scale={"X": 0.5, "Y": 0.25}, units={"X": "µm", "Y": "µm"}, origin={"X": 100.0, "Y": -1.0})
    df = measure_objects(da)
    assert df.area.iloc[0] == pytest.approx(8 * 0.125)
    assert df.centroid_x.iloc[0] == pytest.approx(100 + 0.5 * 5.5)
    assert df.centroid_y.iloc[0] == pytest.approx(-1 + 0.25 * 2.5)
    assert df.attrs["units"]["area"] == "µm²" and df.attrs["units"]["centroid_x"] == "µm"


def test_frames_z_and_channels():
    lab = np.zeros((2, 3, 8, 8), np.uint32)
    lab[0, 1, 1:3, 1:3] = 5
    lab[1, 2, 4:8, 4:8] = 70000
    img = np.stack([np.full(lab.shape, 2.0), np.full(lab.shape, 7.0)], axis=1)  # T C Z Y X
    image = to_dataarray(img, dims="TCZYX", channel_names=["dna", "actin"])
    df = measure_objects(to_dataarray(lab, dims="TZYX"), image=image, per_plane=True)  # volumes: test_measure_volumes
    assert df[["label", "frame", "z", "area"]].values.tolist() == [[5, 0, 1, 4], [70000, 1, 2, 16]]
    assert df.mean_dna.tolist() == [2.0, 2.0] and df.mean_actin.tolist() == [7.0, 7.0]


def test_sparse_huge_label_ids():
    lab = np.zeros((4, 4), np.uint32)
    lab[0, 0] = 4_000_000_000
    lab[3, 3] = 7
    df = measure_objects(lab)
    assert df.label.tolist() == [7, 4_000_000_000]
    assert df.bbox_x.tolist() == [3, 0]


def test_empty_labels_give_empty_table_with_columns():
    df = measure_objects(np.zeros((5, 5), np.uint8))
    assert df.empty and list(df.columns) == list(TABLE_COLUMNS)


def test_bad_inputs():
    with pytest.raises(DimensionError, match="labels' T/Z/Y/X"):
        measure_objects(to_dataarray(np.ones((2, 4, 4), np.uint8), dims="TYX"),
                        image=to_dataarray(np.ones((3, 4, 4)), dims="TYX"))
    with pytest.raises(DimensionError, match="differs from labels shape"):
        measure_objects(np.ones((4, 4), np.uint8), image=np.ones((4, 5)))
    with pytest.raises(DTypeError, match="non-integer"):
        measure_objects(np.full((3, 3), 0.5))


def test_real_msc_seg_frame(msc_dir):
    from labelfree.io import read_ctc

    ds = read_ctc(msc_dir)
    t = ds.seg_frames[0]
    seg = ds.seg[t]
    df = measure_objects(seg, image=ds.frame(t))
    ids = np.unique(seg)[1:]
    assert df.label.tolist() == ids.tolist()
    assert df.area.sum() == np.count_nonzero(seg)


def test_channels_of_the_same_name_get_a_column_each():
    """Two channels named alike gave two `mean_GFP` columns that both held the second channel's means."""
    lab = np.zeros((6, 7), np.uint16)
    lab[1:3, 1:4] = 1
    lab[4:6, 5:7] = 2
    img = np.stack([np.full((6, 7), 10.0), np.full((6, 7), 20.0), np.full((6, 7), 30.0)])
    img[1, 4:6, 5:7] = 40.0
    image = to_dataarray(img, dims="CYX", channel_names=["GFP", "GFP", "DAPI"])
    df = measure_objects(lab, image=image)
    assert list(df.columns[len(TABLE_COLUMNS):]) == ["mean_GFP_c0", "mean_GFP_c1", "mean_DAPI"]
    assert df.mean_GFP_c0.tolist() == [10.0, 10.0]
    assert df.mean_GFP_c1.tolist() == [20.0, 40.0]
    assert df.mean_DAPI.tolist() == [30.0, 30.0]


def test_empty_table_keeps_the_column_types():
    """A label image without objects gave a table of float columns only (label, frame, z and the box too), so
    that joining it with the tables of other images turned the label ids and frame numbers into floats."""
    empty = measure_objects(np.zeros((5, 5), np.uint8), image=np.ones((5, 5), np.float32))
    full = measure_objects(np.eye(5, dtype=np.uint8), image=np.ones((5, 5), np.float32))
    assert empty.dtypes.to_dict() == full.dtypes.to_dict()
    assert pd.concat([empty, full]).dtypes.to_dict() == full.dtypes.to_dict()


def test_nan_pixels_are_left_out_of_the_mean():
    """NaN pixels made an object's mean NaN; ImageJ's Measure (tests/test_measure_vs_imagej.py) leaves them out."""
    lab = np.array([[1, 1, 2], [1, 0, 2]], np.uint8)
    img = np.array([[1.0, np.nan, np.nan], [4.0, 9.0, np.nan]], np.float32)
    df = measure_objects(lab, image=img)
    assert df.mean_intensity[0] == 2.5
    assert np.isnan(df.mean_intensity[1])
    assert df.area.tolist() == [3.0, 2.0]


def test_large_coordinates_keep_their_decimals_in_the_csv(tmp_path):
    """The CSV kept 6 significant digits only: in a wide calibrated image a centroid at 123,004.1 µm was written
    123004 and one at 163,965.15 µm 163965, so markers read back from the table moved (0.04 px)."""
    from labelfree.io import write_table
    from labelfree.io.markers import read_markers

    lab = np.zeros((2, 40000), np.uint8)
    lab[0, 30000:30003] = 1  # centroid x 30001 px
    lab[1, 39990:39994] = 2  # centroid x 39991.5 px
    scale = {"X": 4.1, "Y": 4.1}
    image = np.full(lab.shape, 28505.4651)
    table = measure_objects(to_dataarray(lab, scale=scale, units={"X": "µm", "Y": "µm"}), image=image)
    path = write_table(tmp_path / "wide_table.csv", table)
    back = pd.read_csv(path)
    np.testing.assert_allclose(back.centroid_x, [123004.1, 163965.15], rtol=0, atol=1e-9)
    assert back.mean_intensity.tolist() == [28505.465, 28505.465]
    assert back.area.tolist() == pytest.approx([3 * 4.1**2, 4 * 4.1**2], abs=5e-4)
    points = read_markers(path, image=to_dataarray(lab, scale=scale))
    np.testing.assert_allclose(points, [[0, 30001], [1, 39991.5]], atol=1e-3)
