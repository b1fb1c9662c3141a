import numpy as np
import pytest
import tifffile

from labelfree.errors import InputError
from labelfree.io import read_ctc


def _fake_ctc(root, n=4, shape=(6, 7)):
    (root / "01").mkdir(parents=True)
    for sub in ("SEG", "TRA"):
        (root / "01_GT" / sub).mkdir(parents=True)
    for t in range(n):
        tifffile.imwrite(root / "01" / f"t{t:03d}.tif", np.full(shape, t, np.uint16))
        tifffile.imwrite(root / "01_GT" / "TRA" / f"man_track{t:03d}.tif", np.full(shape, 1, np.uint16))
    tifffile.imwrite(root / "01_GT" / "SEG" / "man_seg001.tif", np.ones(shape, np.uint16))
    tifffile.imwrite(root / "01_GT" / "SEG" / "man_seg003_002.tif", np.full(shape, 2, np.uint16))
    (root / "01_GT" / "TRA" / "man_track.txt").write_text("1 0 3 0\n2 2 3 1\n")
    return root


def test_layout_keys_slices_and_lineage(tmp_path):
    ds = read_ctc(_fake_ctc(tmp_path / "DS"))
    assert ds.frames == [0, 1, 2, 3]
    assert list(ds.seg) == [1, (3, 2)]  # whole frame 1, slice z=2 of frame 3
    assert ds.seg_frames == [1, 3]
    assert ds.seg[(3, 2)].max() == 2
    assert len(ds.tra) == 4
    assert ds.lineage.to_dict("list") == {"id": [1, 2], "start": [0, 2], "end": [3, 3], "parent": [0, 1]}
    movie = ds.movie
    assert movie.dims == ("T", "Y", "X") and movie.shape == (4, 6, 7)
    assert movie.values[:, 0, 0].tolist() == [0, 1, 2, 3]
    with pytest.raises(KeyError, match="not annotated"):
        ds.seg[0]


def test_frame_subset(tmp_path):
    ds = read_ctc(_fake_ctc(tmp_path / "DS"), frames=[1, 3])
    assert ds.movie["T"].values.tolist() == [1.0, 3.0]
    assert ds.movie["T"].attrs["units"] == "frame"
    assert ds.movie.values[:, 0, 0].tolist() == [1, 3]
    assert ds.seg_frames == [1, 3] and list(ds.tra) == [1, 3]
    with pytest.raises(InputError, match=r"Frames \[9\]"):
        read_ctc(tmp_path / "DS", frames=[9])


def test_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_ctc(tmp_path / "none")
    _fake_ctc(tmp_path / "DS")
    with pytest.raises(InputError, match="sequences found: \\['01'\\]"):
        read_ctc(tmp_path / "DS", sequence="02")
    (tmp_path / "E" / "01").mkdir(parents=True)
    with pytest.raises(InputError, match="No frames"):
        read_ctc(tmp_path / "E")


def test_no_ground_truth_gives_empty_mappings(tmp_path):
    (tmp_path / "D" / "01").mkdir(parents=True)
    tifffile.imwrite(tmp_path / "D" / "01" / "t000.tif", np.zeros((3, 3), np.uint8))
    ds = read_ctc(tmp_path / "D")
    assert len(ds.seg) == 0 and ds.seg_frames == [] and ds.lineage.empty


def test_real_msc(msc_dir):
    ds = read_ctc(msc_dir)
    assert len(ds.frames) == 48
    assert len(ds.seg_frames) == 18
    assert len(ds.tra) == 48
    seg = ds.seg[ds.seg_frames[0]]
    assert seg.shape == (832, 992) and seg.max() > 0
    assert ds.frame(0).shape == (832, 992)
    lineage = ds.lineage
    assert list(lineage.columns) == ["id", "start", "end", "parent"]
    assert (lineage.end >= lineage.start).all() and lineage.id.is_unique
    # every TRA marker id of a frame is a track alive in that frame
    t = 10
    ids = set(np.unique(ds.tra[t])) - {0}
    alive = set(lineage[(lineage.start <= t) & (lineage.end >= t)].id)
    assert ids <= alive and ids


def test_real_msc_movie_subset(msc_dir):
    ds = read_ctc(msc_dir, frames=range(3))
    assert ds.movie.shape == (3, 832, 992) and ds.movie.dtype == np.uint16
    assert ds.seg_frames == []  # first annotated frame is later
