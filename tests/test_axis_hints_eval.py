"""Axis hints on real files: Motion's advice for a z-stack without T, eval's error for label images of other
axes, and the channel name Fusion takes from a multi-image OME-TIFF."""

import json
import uuid

import numpy as np
import pytest
import tifffile

from labelfree.cli import main
from labelfree.errors import DimensionError
from labelfree.fusion.channels import file_channel_name, with_channel_axis
from labelfree.image import _extra_dims_hint
from labelfree.io import read_image
from labelfree.motion.movie import as_movie

NS = "http://www.openmicroscopy.org/Schemas/OME/2016-06"


def _stack(shape, seed=0):
    return np.random.default_rng(seed).integers(1, 200, shape, dtype=np.uint8)


def _motion_error(image):
    with pytest.raises(DimensionError, match="Motion needs a time-lapse: got a Z-stack") as caught:
        as_movie(image)
    return str(caught.value)


def test_a_one_frame_hyperstack_with_channels_is_not_told_to_read_it_as_tyx(tmp_path, capsys):
    """A Fiji z-stack of 2 channels (T=1) was told 'read it with dims=TYX (CLI --dims TYX)', which its 4 axes
    refuse; a plain z-stack keeps that hint, which works on it."""
    hyper = tmp_path / "zc_stack.tif"
    tifffile.imwrite(hyper, _stack((5, 2, 24, 24)), imagej=True, metadata={"axes": "ZCYX"})
    with pytest.raises(DimensionError, match="names 3 axes"):  # the old advice fails on this file
        read_image(hyper, dims="TYX")
    for image in (read_image(hyper), read_image(hyper).isel(C=1)):  # both channels, or one chosen
        text = _motion_error(image)
        assert "--dims TYX" not in text and "dims='TYX'" not in text, text
        assert "of axes CZYX" in text and "naming that axis T instead of Z" in text and "Frames instead of" in text
    assert main(["motion", str(hyper), "-o", str(tmp_path / "o"), "--channel", "1", "--no-progress", "-q"]) != 0
    err = capsys.readouterr().err
    assert "naming that axis T instead of Z" in err and "--dims TYX" not in err and "Traceback" not in err, err

    for name, data, meta in (("z.tif", _stack((5, 24, 24)), {"imagej": True, "metadata": {"axes": "ZYX"}}),
                             ("c1z.ome.tif", _stack((1, 5, 24, 24)), {"ome": True, "metadata": {"axes": "CZYX"}})):
        tifffile.imwrite(tmp_path / name, data, **meta)
        assert "read it with dims='TYX' (CLI --dims TYX" in _motion_error(read_image(tmp_path / name)), name
        movie = as_movie(read_image(tmp_path / name, dims="TYX"))  # the advice works: 5 frames
        assert movie.sizes["T"] == 5 and np.array_equal(movie.values, data.reshape(5, 24, 24)), name


@pytest.mark.parametrize("dims", ["ZYX", "CZYX", "ZCYX"])
def test_motion_offers_tyx_where_validate_image_does(dims):
    """Motion's hint follows the rule of image._extra_dims_hint: --dims TYX for a plain ZYX image only."""
    import xarray as xr

    da = xr.DataArray(_stack((2,) * (len(dims) - 2) + (8, 8)), dims=tuple(dims))
    assert ("--dims TYX" in _motion_error(da)) == ("--dims TYX" in _extra_dims_hint(["Z"], "TCYX", da.dims))
    assert ("--dims TYX" in _motion_error(da)) == (dims == "ZYX")


def _labels(n_frames, size=16):
    lab = np.zeros((n_frames, size, size), np.uint16)
    for t in range(n_frames):
        lab[t, 2 + t:7 + t, 3:9] = 1
        lab[t, 10:14, 9 + t:13 + t] = 2
    return lab


def _eval_error(capsys, pred, gt):
    assert main(["eval", str(pred), str(gt)]) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return err


def test_eval_of_a_tyx_prediction_against_tzyx_truth_names_both_files_axes(tmp_path, capsys):
    pred, truth = tmp_path / "pred.tif", tmp_path / "truth.ome.tif"
    tifffile.imwrite(pred, _labels(3), imagej=True, metadata={"axes": "TYX"})
    gt = np.stack([_labels(3)] * 4, axis=1)  # (T, Z, Y, X)
    gt[:, 2] = np.roll(gt[:, 2], 8, axis=-1)  # plane 2: no object where predicted
    tifffile.imwrite(truth, gt, ome=True, metadata={"axes": "TZYX"})
    err = _eval_error(capsys, pred, truth)
    assert "pred.tif has axes T=3, Y=16, X=16, but truth.ome.tif has axes T=3, Z=4, Y=16, X=16" in err, err
    assert "Z Project" in err and "isel(Z=k)" in err and "--dims" in err, err
    plane = tmp_path / "truth_z2.tif"  # the advice: one plane of the ground truth, saved as TIFF
    tifffile.imwrite(plane, read_image(truth).isel(Z=2).values, imagej=True, metadata={"axes": "TYX"})
    assert main(["eval", str(pred), str(plane), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["n_frames"], result["tp"], result["fp"], result["fn"]) == (3, 0, 6, 6)
    tifffile.imwrite(plane, gt[:, 0], imagej=True, metadata={"axes": "TYX"})
    assert main(["eval", str(pred), str(plane), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["f1"] == 1.0


def test_eval_says_how_the_axes_differ(tmp_path, capsys):
    lab = _labels(3)
    files = {"tyx.tif": (lab, {"imagej": True, "metadata": {"axes": "TYX"}}),
             "t5.tif": (np.concatenate([lab, lab[:2]]), {"imagej": True, "metadata": {"axes": "TYX"}}),
             "yx.tif": (lab[0], {"imagej": True}),
             "small.tif": (lab[:, :12, :10], {"imagej": True, "metadata": {"axes": "TYX"}}),
             "zyx.tif": (np.concatenate([lab, lab[:1]]), {"imagej": True, "metadata": {"axes": "ZYX"}}),
             "tzyx.tif": (np.stack([lab] * 4, 1), {"imagej": True, "metadata": {"axes": "TZYX"}}),
             "ztyx.ome.tif": (np.stack([lab] * 4, 0), {"ome": True, "metadata": {"axes": "ZTYX"}}),
             "plain.tif": (np.stack([lab] * 2, 1), {})}
    for name, (data, how) in files.items():
        tifffile.imwrite(tmp_path / name, data, **how)
    cases = [("tyx.tif", "yx.tif", "yx.tif has axes Y=16, X=16. The ground truth is one frame"),
             ("yx.tif", "tyx.tif", "The prediction is one frame"),
             ("tyx.tif", "t5.tif", "number of frames (3 and 5)"),
             ("tyx.tif", "small.tif", "small.tif has axes T=3, Y=12, X=10. They differ in Y, X"),
             ("tzyx.tif", "tyx.tif", "The prediction has Z planes and the ground truth has none"),
             ("tyx.tif", "zyx.tif", "If the ground truth's planes are really time points"),
             ("ztyx.ome.tif", "tzyx.tif", "but tzyx.tif has axes T=3, Z=4, Y=16, X=16. The files store these axes in"),
             ("plain.tif", "tzyx.tif", "plain.tif has shape (3, 2, 16, 16) with no axes recorded")]
    for pred, gt, said in cases:
        err = _eval_error(capsys, tmp_path / pred, tmp_path / gt)
        assert said in err, (pred, gt, err)


def _write_positions(folder, names):
    """A multi-file OME-TIFF (one file per position, as Micro-Manager saves one), each position one channel of its
    own name; every file carries the OME-XML of all positions."""
    ids = {f"Pos{k}.ome.tif": f"urn:uuid:{uuid.uuid4()}" for k in range(len(names))}
    body = "".join(
        f'<Image ID="Image:{k}" Name="Pos{k}"><Pixels ID="Pixels:{k}" DimensionOrder="XYCZT" Type="uint8" '
        f'SizeX="24" SizeY="24" SizeC="1" SizeZ="1" SizeT="2"><Channel ID="Channel:{k}:0" Name="{name}" '
        f'SamplesPerPixel="1"/><TiffData FirstT="0" IFD="0" PlaneCount="2"><UUID FileName="Pos{k}.ome.tif">'
        f'{ids[f"Pos{k}.ome.tif"]}</UUID></TiffData></Pixels></Image>' for k, name in enumerate(names))
    for k, (file, own) in enumerate(ids.items()):
        xml = f'<?xml version="1.0" encoding="UTF-8"?><OME xmlns="{NS}" UUID="{own}">{body}</OME>'
        tifffile.imwrite(folder / file, _stack((2, 24, 24), k), description=xml, metadata=None,
                         photometric="minisblack")


def test_a_multi_position_ome_tiff_names_the_channel_of_the_image_read(tmp_path):
    """Each image of the file has one channel: the name is the read image's, not None for 'two channels'."""
    one_file = tmp_path / "positions.ome.tif"
    with tifffile.TiffWriter(one_file, ome=True) as tif:
        for k, name in enumerate(["DAPI", "GFP"]):
            tif.write(_stack((2, 24, 24), k), metadata={"axes": "TYX", "Name": f"Pos{k}", "Channel": {"Name": name}})
    assert file_channel_name(one_file) == "DAPI"  # the first image is the one read
    da = with_channel_axis(read_image(one_file))
    assert da.dims == ("T", "C", "Y", "X") and list(da.coords["C"].values) == ["DAPI"]
    assert np.array_equal(da.values[:, 0], _stack((2, 24, 24), 0))
    _write_positions(tmp_path, ["DAPI", "GFP"])
    for k, name in enumerate(["DAPI", "GFP"]):  # a position's file reads its own position and its channel's name
        da = with_channel_axis(read_image(tmp_path / f"Pos{k}.ome.tif"))
        assert np.array_equal(da.values[:, 0], _stack((2, 24, 24), k)) and list(da.coords["C"].values) == [name]
    two = tmp_path / "two_channels.ome.tif"  # one image of two channels: no single name (its C axis is kept)
    tifffile.imwrite(two, _stack((2, 24, 24)), ome=True, metadata={"axes": "CYX", "Channel": {"Name": ["A", "B"]}})
    assert file_channel_name(two) is None and list(with_channel_axis(read_image(two)).coords["C"].values) == ["A", "B"]
