"""Damaged chunks of an OME-Zarr image (and of a compressed TIFF read lazily) are one CorruptFileError
that names the store and the chunk, in eager reads, lazy reads and ``labelfree threshold``; a missing
chunk file is zarr's fill value, not an error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from labelfree.cli import main
from labelfree.errors import CorruptFileError
from labelfree.image import to_dataarray
from labelfree.io import read_image, read_ngff, write_ngff

pytest.importorskip("zarr")
pytest.importorskip("dask.array")


def _movie(n: int = 3) -> np.ndarray:
    img = np.full((n, 32, 32), 10, np.uint16)
    img[:, 4:12, 4:12] = 1000
    img[:, 18:28, 14:26] = 1000
    return img


def _chunk_file(store: Path, frame: int) -> Path:
    """The chunk file of frame ``frame`` of level 0 (one chunk per frame), NGFF 0.4 or 0.5."""
    found = [f for f in (store / "0").rglob("*") if f.is_file() and not f.name.startswith((".", "zarr"))
             and f.relative_to(store / "0").parts[-3] == str(frame)]
    assert len(found) == 1, found
    return found[0]


@pytest.fixture(params=["0.4", "0.5"])
def damaged(request, tmp_path):
    """An OME-Zarr movie whose frame-1 chunk holds garbage (as if overwritten)."""
    store = write_ngff(tmp_path / "bad.ome.zarr", to_dataarray(_movie(), dims="TYX"), version=request.param,
                       chunks=(1, 32, 32))
    chunk = _chunk_file(store, 1)
    chunk.write_bytes(b"garbage\n")
    return store, chunk


def _says_damaged(exc: BaseException, store: Path, chunk: Path) -> None:
    text = str(exc)
    assert isinstance(exc, CorruptFileError)
    assert str(store) in text and "truncated or damaged" in text and "Copy or export the file again" in text
    assert chunk.relative_to(store).as_posix() in text  # the chunk file, as a path inside the store


def test_a_damaged_chunk_is_a_corrupt_file_error_eager_and_lazy(damaged):
    store, chunk = damaged
    with pytest.raises(CorruptFileError) as eager:
        np.asarray(read_image(store))
    _says_damaged(eager.value, store, chunk)
    lazy = read_ngff(store)
    assert lazy[0].values.max() == 1000  # undamaged chunks still read
    with pytest.raises(CorruptFileError) as computed:
        lazy.data.compute(scheduler="threads")
    _says_damaged(computed.value, store, chunk)


def test_labelfree_threshold_on_a_damaged_chunk_is_one_error(damaged, tmp_path, capsys):
    store, _ = damaged
    code = main(["threshold", str(store), "-o", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert "truncated or damaged" in err and "bad.ome.zarr" in err and "Traceback" not in err


def test_a_missing_chunk_reads_as_the_fill_value(tmp_path):
    store = write_ngff(tmp_path / "miss.ome.zarr", to_dataarray(_movie(), dims="TYX"), chunks=(1, 32, 32))
    _chunk_file(store, 2).unlink()
    data = read_ngff(store).values
    assert data[1].max() == 1000 and not data[2].any()  # zarr's rule: an absent chunk is all fill value (0)


def test_a_damaged_page_of_a_compressed_tiff_read_lazily_is_a_corrupt_file_error(tmp_path):
    good = tmp_path / "good.tif"
    tifffile.imwrite(good, _movie(), compression="zlib", photometric="minisblack", metadata={"axes": "TYX"})
    with tifffile.TiffFile(good) as tif:
        offset, count = tif.pages[1].dataoffsets[0], tif.pages[1].databytecounts[0]  # frame 1
    raw = bytearray(good.read_bytes())
    raw[offset:offset + count] = b"\x07" * count
    bad = tmp_path / "bad.tif"
    bad.write_bytes(bytes(raw))
    assert np.array_equal(read_image(good, lazy=True).values, _movie())
    with pytest.raises(CorruptFileError, match="truncated or damaged") as info:
        np.asarray(read_image(bad, lazy=True))
    assert str(bad) in str(info.value) and "(1, 0, 0)" in str(info.value)
