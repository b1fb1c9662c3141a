"""Writing OME-Zarr safely: a lazy image written with other chunks keeps every pixel, the input
image is never changed or replaced by a write inside it, overwrite replaces only a zarr store,
bad options are refused before anything is written, and what is written validates as NGFF."""

from __future__ import annotations

import json

import numpy as np
import pytest

from labelfree.errors import (
    CorruptFileError,
    InputError,
    InputOverwriteError,
    OutputError,
    OutputExistsError,
)
from labelfree.image import to_dataarray
from labelfree.io import read_ngff, write_ngff, write_ngff_labels
from labelfree.io.ngff import ngff_fingerprint

zarr = pytest.importorskip("zarr")
dask = pytest.importorskip("dask")


def _ramp(n: int = 256) -> np.ndarray:
    return (np.arange(n * n).reshape(n, n) % 60000 + 1).astype(np.uint16)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_lazy_image_written_with_other_chunks_keeps_every_pixel(tmp_path, version):
    """Read chunks of 32 px, written in chunks of 256 (the default covers the plane): several dask
    tasks filled parts of one zarr chunk at once, each reading, changing and writing it back; about
    a third of the pixels came back as 0 (level 1 too)."""
    img = _ramp()
    source = write_ngff(tmp_path / "in.zarr", to_dataarray(img, scale=0.5, units="µm"), chunks=(32, 32),
                        version=version)
    lazy = read_ngff(source)
    with dask.config.set(scheduler="threads", num_workers=4):
        out = write_ngff(tmp_path / "copy.zarr", lazy, levels=2, version=version)
    for level in range(2):
        np.testing.assert_array_equal(read_ngff(out, level=level).values, img[::2 ** level, ::2 ** level])
    odd = write_ngff(tmp_path / "odd.zarr", lazy, chunks=(100, 70), version=version)  # chunks that do not divide
    np.testing.assert_array_equal(read_ngff(odd).values, img)


def test_overwrite_replaces_only_a_zarr_store(tmp_path):
    """overwrite=True deleted any folder at the path (with the user's files in it) and left a hidden
    '.name.old-...' copy of a file."""
    img = to_dataarray(np.ones((8, 8), np.uint8))
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match="is not a zarr store; overwrite=True replaces only"):
        write_ngff(folder, img, overwrite=True)
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]
    (tmp_path / "file.zarr").write_text("not a store")
    with pytest.raises(OutputError, match="is not a zarr store"):
        write_ngff(tmp_path / "file.zarr", img, overwrite=True)
    assert (tmp_path / "file.zarr").read_text() == "not a store"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.zarr", "results"]  # nothing left behind
    store = write_ngff(tmp_path / "a.zarr", img)
    write_ngff(store, to_dataarray(np.full((4, 4), 7, np.uint8)), overwrite=True)  # an earlier image: replaced
    assert read_ngff(store).shape == (4, 4) and int(read_ngff(store).max()) == 7


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_nothing_is_written_inside_an_ome_zarr_image(tmp_path, version):
    """write_ngff(image.zarr/0, ..., overwrite=True) replaced the image's level-0 array by a group (the
    image was lost, and reading it raised AttributeError); other paths inside it added folders to it."""
    movie = np.full((2, 40, 50), 10, np.uint16)
    movie[:, 5:15, 5:15] = 900
    image = write_ngff(tmp_path / "in.zarr", to_dataarray(movie, dims="TYX"), version=version, levels=2)
    labels = to_dataarray((movie > 100).astype(np.uint16), dims="TYX")
    before = ngff_fingerprint(image)
    for inside in ("0", "1", "labels", "labels/cells", "sub.zarr"):
        with pytest.raises(InputOverwriteError, match="lies inside the OME-Zarr image .* write_ngff_labels"):
            write_ngff(image / inside, labels, overwrite=True)
    assert ngff_fingerprint(image) == before
    np.testing.assert_array_equal(read_ngff(image).values, movie)
    cells = write_ngff_labels(image, labels, name="cells")  # the place for labels
    with pytest.raises(InputOverwriteError, match="inside the OME-Zarr image"):
        write_ngff(cells / "0", labels, overwrite=True)  # a label image is an image too
    np.testing.assert_array_equal(read_ngff(cells).values, labels.values)
    beside = write_ngff(tmp_path / "labels.zarr", labels)  # next to the input: fine
    np.testing.assert_array_equal(read_ngff(beside).values, labels.values)


def test_bad_levels_and_chunks_are_refused_before_anything_is_written(tmp_path):
    """levels=0 wrote a store that could not be read back; chunks of the wrong length were zarr's
    ValueError or cut short silently, a chunk of 0 a ZeroDivisionError."""
    img = to_dataarray(np.zeros((2, 30, 40), np.uint8), dims="CYX")
    for levels in (0, -1, 1.5):
        with pytest.raises(InputError, match="levels must be a whole number >= 1"):
            write_ngff(tmp_path / "a.zarr", img, levels=levels)
    for chunks in ((16, 16), (1, 16, 16, 16), (1, 0, 16)):
        with pytest.raises(InputError, match=r"chunks must give one size >= 1 per axis .*dims CYX"):
            write_ngff(tmp_path / "a.zarr", img, chunks=chunks)
    with pytest.raises(InputError, match="levels must be"):
        write_ngff_labels(write_ngff(tmp_path / "img.zarr", img), to_dataarray(np.zeros((30, 40), np.uint8)),
                          levels=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.zarr"]
    assert not (tmp_path / "img.zarr" / "labels").exists()


def test_failed_label_write_leaves_the_image_as_it_was(tmp_path):
    """Labels read lazily from a damaged store: the write failed but left an empty labels/ group in the
    image; an existing label name was refused only after all the labels had been written."""
    img = write_ngff(tmp_path / "img.zarr", to_dataarray(np.zeros((64, 64), np.uint8)))
    before = ngff_fingerprint(img)
    damaged = write_ngff(tmp_path / "damaged.zarr", to_dataarray(np.ones((64, 64), np.uint16)), chunks=(32, 32))
    (damaged / "0" / "1" / "1").write_bytes(b"garbage")
    with pytest.raises(CorruptFileError):
        write_ngff_labels(img, read_ngff(damaged), name="cells")
    assert not (img / "labels").exists() and ngff_fingerprint(img) == before
    good = to_dataarray(np.ones((64, 64), np.uint16))
    write_ngff_labels(img, good, name="cells")
    with pytest.raises(OutputExistsError, match="already exists"):
        write_ngff_labels(img, read_ngff(damaged), name="cells")  # refused before reading the labels


def test_a_missing_level_array_is_a_clear_error(tmp_path):
    """A level named by the metadata but absent from the store was a bare KeyError; a group in its
    place an AttributeError."""
    import shutil

    store = write_ngff(tmp_path / "a.zarr", to_dataarray(np.zeros((20, 20), np.uint8)), levels=2)
    shutil.rmtree(store / "1")
    with pytest.raises(CorruptFileError, match=r"names the array '1' for level 1, but the store has no such array"):
        read_ngff(store, level=1)
    shutil.rmtree(store / "0")
    zarr.open_group(str(store / "0"), mode="w", zarr_format=2)
    with pytest.raises(CorruptFileError, match="level-0 dataset '0' is a group, not an array"):
        read_ngff(store)


@pytest.mark.parametrize("version", ["0.4", "0.5"])
@pytest.mark.parametrize("dims", ["TCZYX", "CYX", "YX", "TYX"])
def test_written_images_and_labels_validate_as_ngff(tmp_path, version, dims):
    """The NGFF models (ome-zarr-models) refused every 0.4 image with channels: its omero channels
    had no colour and no window."""
    models = pytest.importorskip("ome_zarr_models")
    shape = {"T": 2, "C": 2, "Z": 3, "Y": 33, "X": 47}
    data = np.random.default_rng(0).integers(5, 900, [shape[d] for d in dims]).astype(np.uint16)
    img = to_dataarray(data, dims=dims, scale={d: 0.5 for d in dims if d != "C"},
                       units={d: ("s" if d == "T" else "µm") for d in dims if d != "C"},
                       channel_names=["dapi", "gfp"] if "C" in dims else None)
    path = write_ngff(tmp_path / "img.zarr", img, version=version, levels=2, chunks=[1 if d != "Y" and d != "X"
                                                                                      else 16 for d in dims])
    assert type(models.open_ome_zarr(zarr.open_group(str(path), mode="r"))).__name__ == "Image"
    plane_dims = "".join(d for d in dims if d != "C")
    labels = to_dataarray(np.zeros([shape[d] for d in plane_dims], np.uint32), dims=plane_dims)
    cells = write_ngff_labels(path, labels, name="cells", levels=2)
    assert type(models.open_ome_zarr(zarr.open_group(str(cells), mode="r"))).__name__ == "ImageLabel"
    assert type(models.open_ome_zarr(zarr.open_group(str(path / "labels"), mode="r"))).__name__ == "Labels"
    if "C" in dims:
        meta = json.loads((path / (".zattrs" if version == "0.4" else "zarr.json")).read_text())
        omero = meta["omero"] if version == "0.4" else meta["attributes"]["ome"]["omero"]
        first = data[(slice(None),) * dims.index("C") + (0,)]
        assert [c["label"] for c in omero["channels"]] == ["dapi", "gfp"]
        assert omero["channels"][0]["window"] == {"min": int(first.min()), "max": int(first.max()),
                                                  "start": int(first.min()), "end": int(first.max())}
