"""Outputs of an image past the limits of the classic TIFF and of the ImageJ ROI header: written, timed, read back.

Usage::

    python benchmarks/large_files.py [--folder DIR] [--frames 33] [--frame-size 8192] [--plane-size 47000]
                                     [--strip-width 70000] [--ij /usr/share/java/ij.jar]

Three parts, each on labels made in ``--folder`` (default: a temporary folder of the current one; the files take
about 9 GiB on disk, sparse where the system allows, and are removed at the end):

1. A label movie over 4 GiB whose planes fit a classic TIFF (``frames`` x ``frame-size``^2 uint16: 4.1 GiB by
   default), written by ``labelfree.io.write_labels``: ImageJ's own layout for such a file (the planes one after
   another, described by the first plane's tags). Read back whole by tifffile and compared; with ImageJ 1.x
   (``--ij``) opened as a virtual stack and its planes' pixels compared at sampled places.
2. One label plane over 4 GiB (``plane-size``^2 uint16: 4.1 GiB by default): a BigTIFF (a classic TIFF cannot hold
   it: tifffile failed with a struct error before). Read back by tifffile and compared.
3. The ROIs of a label strip wider than 65,535 px (``strip-width`` x 64 px, an object every 100 px): written by
   ``labelfree.io.write_rois``; with ImageJ 1.x, every ROI decoded by its RoiDecoder and its bounds compared with its
   object's; ``labelfree.io.rois_to_labels`` of the zip compared with the labels.

The reference of parts 1 and 2 is ``tifffile.imwrite(..., bigtiff=True)`` of the same array, timed in the same run.
Columns: the labels' GiB, seconds of the writer, of the reference, their ratio, the file's layout and the check.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np


def _sparse_labels(path: Path, shape: tuple[int, ...], step: int) -> np.ndarray:
    """A memory-mapped uint16 label array of ``shape`` (a file of zeros, sparse where the system allows) with one
    labelled pixel every ``step`` pixels of every plane, ids growing along the planes."""
    labels = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint16, shape=shape)
    planes = labels.reshape(-1, *shape[-2:])
    grid = planes[0, ::step, ::step].shape
    for index, plane in enumerate(planes):
        plane[::step, ::step] = (np.arange(grid[0] * grid[1]).reshape(grid) + index) % 65535 + 1
    labels.flush()
    return labels


def _timed(write, /) -> float:
    """Seconds of ``write()``; NaN where it fails (said, with the error)."""
    start = time.perf_counter()
    try:
        write()
    except Exception as exc:  # the code before failed on a plane over 4 GiB
        print(f"  failed: {type(exc).__name__}: {exc}")
        return float("nan")
    return time.perf_counter() - start


def _layout(path: Path, /) -> str:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        kind = "BigTIFF" if tif.is_bigtiff else "classic TIFF"
        return f"{kind}, {len(tif.pages)} IFD(s), ImageJ {'yes' if tif.is_imagej else 'no'}"


def _same(path: Path, labels: np.ndarray, /) -> bool:
    import tifffile

    read = tifffile.imread(path, out="memmap")
    return read.shape == labels.shape and all(np.array_equal(read[i], labels[i]) for i in range(len(labels)))


def _imagej(ij_jar: str | None, /):
    """ImageJ 1.x's IJ and RoiDecoder classes (a JVM started on ``ij_jar``), or None where there is none."""
    if not ij_jar or not Path(ij_jar).is_file():
        return None
    try:
        import scyjava
    except ImportError:
        return None
    scyjava.config.set_java_constraints(fetch="never")
    scyjava.config.add_classpath(ij_jar)
    scyjava.start_jvm()
    return scyjava.jimport("ij.IJ"), scyjava.jimport("ij.io.RoiDecoder")


def _imagej_movie_check(ij, path: Path, labels: np.ndarray, /) -> str:
    imp = ij[0].openVirtual(str(path))
    if imp is None:
        return "ImageJ cannot open it"
    stack = imp.getStack()
    places = [(0, 0), (labels.shape[1] - 1, labels.shape[2] - 1), (64, 128)]
    same = all(int(stack.getProcessor(t + 1).get(x, y)) == int(labels[t, y, x])
               for t in (0, len(labels) // 2, len(labels) - 1) for y, x in places)
    return f"ImageJ 1.x: {imp.getStackSize()} planes, pixels {'equal' if same else 'DIFFER'}"


def _roi_check(ij, path: Path, labels: np.ndarray, /) -> str:
    from scipy import ndimage as ndi

    from labelfree.io import read_rois, rois_to_labels

    said = []
    if ij is not None:
        boxes = ndi.find_objects(labels)
        wrong = beyond = 0
        with zipfile.ZipFile(path) as zipped:
            for name in zipped.namelist():
                roi = ij[1](zipped.read(name), name).getRoi()
                box = roi.getBounds()
                ys, xs = boxes[int(name.split("-L")[1].split(".")[0]) - 1]
                beyond += xs.stop > 60536
                wrong += (box.x, box.y, box.width, box.height) != (xs.start, ys.start, xs.stop - xs.start,
                                                                    ys.stop - ys.start)
        said.append(f"ImageJ 1.x: {wrong} of {len(zipped.namelist())} ROIs misplaced ({beyond} reach past 60,535 px)")
    back = rois_to_labels(read_rois(path), shape=labels.shape)
    said.append(f"rois_to_labels {'equal' if np.array_equal(back, labels) else 'DIFFERS'}")
    return "; ".join(said)


def _movie_part(folder: Path, args: argparse.Namespace, ij, /) -> tuple:
    import tifffile
    import xarray as xr

    from labelfree.io import write_labels

    movie = _sparse_labels(folder / "movie.npy", (args.frames, args.frame_size, args.frame_size), 64)
    path = folder / "movie_labels.tif"
    seconds = _timed(lambda: write_labels(path, xr.DataArray(movie, dims=("T", "Y", "X"))))
    reference = _timed(lambda: tifffile.imwrite(folder / "reference.tif", movie, bigtiff=True))
    (folder / "reference.tif").unlink()
    check = f"tifffile {'equal' if _same(path, movie) else 'DIFFERS'}"
    if ij is not None:
        check += "; " + _imagej_movie_check(ij, path, movie)
    row = (f"movie {args.frames} x {args.frame_size}^2", movie.nbytes, seconds, reference, _layout(path), check)
    path.unlink()
    return row


def _plane_part(folder: Path, args: argparse.Namespace, /) -> tuple:
    import tifffile
    import xarray as xr

    from labelfree.io import write_labels

    plane = _sparse_labels(folder / "plane.npy", (args.plane_size, args.plane_size), 500)
    path = folder / "plane_labels.tif"
    seconds = _timed(lambda: write_labels(path, xr.DataArray(plane, dims=("Y", "X"))))
    reference = _timed(lambda: tifffile.imwrite(folder / "reference.tif", plane, bigtiff=True))
    (folder / "reference.tif").unlink()
    layout, check = "no file", "-"
    if path.exists():
        read = tifffile.imread(path, out="memmap")
        same = read.shape == plane.shape and all(np.array_equal(read[y:y + 4096], plane[y:y + 4096])
                                                 for y in range(0, args.plane_size, 4096))
        layout, check = _layout(path), f"tifffile {'equal' if same else 'DIFFERS'}"
    return f"plane {args.plane_size}^2", plane.nbytes, seconds, reference, layout, check


def _roi_part(folder: Path, args: argparse.Namespace, ij, /) -> tuple:
    from labelfree.io import write_rois

    strip = np.zeros((64, args.strip_width), np.uint16)
    starts = np.arange(10, args.strip_width - 40, 100)
    for i, x in enumerate(starts):
        strip[12:52, x:x + 30] = i + 1
    seconds = _timed(lambda: write_rois(folder / "strip_rois.zip", strip))
    return (f"ROIs of 64 x {args.strip_width}", strip.nbytes, seconds, float("nan"), f"{len(starts)} ROIs",
            _roi_check(ij, folder / "strip_rois.zip", strip))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", default=None)
    parser.add_argument("--frames", type=int, default=33)
    parser.add_argument("--frame-size", type=int, default=8192)
    parser.add_argument("--plane-size", type=int, default=47000)
    parser.add_argument("--strip-width", type=int, default=70000)
    parser.add_argument("--ij", default="/usr/share/java/ij.jar", help="ImageJ 1.x's jar for its checks ('' for none)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="  log: %(message)s")

    ij = _imagej(args.ij)
    folder = Path(tempfile.mkdtemp(prefix="labelfree_large_", dir=args.folder))
    from labelfree.io import write_labels

    write_labels(folder / "warm_up.tif", np.ones((8, 8), np.uint16))  # imports, outside the timings
    try:
        rows = [_movie_part(folder, args, ij), _plane_part(folder, args), _roi_part(folder, args, ij)]
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    print(f"\n{'part':<24} {'GiB':>5} {'writer s':>9} {'reference s':>12} {'ratio':>6}  layout / check")
    for name, size, seconds, reference, layout, check in rows:
        ref, ratio = (f"{reference:12.1f}", f"{seconds / reference:6.2f}") if reference == reference else ("-", "-")
        print(f"{name:<24} {size / 2**30:5.2f} {seconds:9.1f} {ref:>12} {ratio:>6}  {layout}".replace(" nan", "  - "))
        print(f"{'':<62}{check}")


if __name__ == "__main__":
    main()
