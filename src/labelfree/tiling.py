"""Segment a large image in overlapping tiles and stitch the labels across the seams.

The YX plane is cut into a grid of *cores* (``tile`` × ``tile`` pixels, a partition of
the plane). Each tile reads its core grown by ``overlap`` pixels on every side (clipped
at the image border), runs any segment function on that region, and **keeps only the
objects whose centroid lies in its core**. Every object is therefore owned by exactly
one tile and gets exactly one id; ids are numbered tile after tile (row-major), so the
result is the same on every scheduler.

Why this is exact: an object of diameter ``d <= overlap`` that meets the core of tile
*i* lies whole inside tile *i*'s region, so tile *i* sees it whole and computes its true
centroid. An object that a tile sees cut by its region border lies, when
``d <= overlap``, entirely outside that tile's core, and its cut centroid does too, so
that tile drops it. Choose ``overlap`` at least the largest object diameter (2 × the
typical diameter is a safe default) plus the context the segment function needs
(filters, local thresholds). Objects still cut by a region border while owned are
counted in :attr:`TiledResult.n_cut` and logged: raise ``overlap`` when it is not 0.

Where two owned objects claim the same pixel (two tiles disagreed about a boundary),
the tile that comes first row-major keeps the pixel; an object all of whose pixels an
earlier tile's objects claim is dropped, so the ids stay 1..n with each id present, and
an object that those pixels cut in pieces keeps its largest piece, so each id is one
connected object.

Memory: a tile task holds its region and its labels; a stitch task holds one core and
the labels of the up to 9 tiles around it. Each task reads its own region from the
source: a zarr array or a ``numpy.memmap`` (a whole map, or a contiguous view into one
such as a plane of a mapped movie) is re-opened on the worker at the view's own place in
the file, a dask array is sliced (its graph reads only the chunks of the region), a plain
in-memory array (or a copy-on-write map) is cut on the caller's side so that each task
receives only its region.

Size: :func:`auto_tile` chooses the tile for a plane whose work would not fit whole beside its labels in the memory
left (the largest of 4096/2048/1024/512 px that fits; what the command line, a batch run and the Fiji commands use
when no tile is given).

Warnings: each tile records the warnings its segment function raises (per thread, on every
scheduler) and returns them with its labels; :func:`segment_tiled` says each kind once for the
image, naming the tiles where it arose, and a no-object warning only when no tile found an object
(:mod:`labelfree._tile_warnings`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import uuid
from typing import Any, Callable, Sequence

import numpy as np

from labelfree import _tile_warnings
from labelfree._label_memory import OFFERED_TILES, auto_tile, memory_text
from labelfree._progress import Progress
from labelfree.errors import DimensionError, DTypeError, InputError, MemoryLeftError

__all__ = [
    "auto_tile",
    "Tile",
    "TileLabels",
    "TiledResult",
    "plan_tiles",
    "read_region",
    "segment_tile",
    "stitch_core",
    "segment_tiled",
    "tiled_labels",
    "PipelineTileFunction",
    "hand_to_tiles",
    "handed",
    "VOLUME_PLANE",
    "log_cut",
    "plane_labels_out",
    "store_plane",
    "auto_threshold",
    "plane_sample",
    "threshold_of",
    "level_grid",
    "float_level_grid",
    "MAX_INTEGER_LEVELS",
]

log = logging.getLogger(__name__)

SegmentFn = Callable[[np.ndarray], Any]


@dataclasses.dataclass(frozen=True)
class Tile:
    """One tile: its core (a cell of the partition) and the region it reads.

    Attributes
    ----------
    index : int
        Row-major position in the grid (ids are numbered in this order).
    row, col : int
        Grid position.
    core : tuple of (start, stop) for Y and X
        Pixels this tile owns.
    region : tuple of (start, stop) for Y and X
        Pixels this tile reads: the core grown by the overlap, clipped at the border.
    """

    index: int
    row: int
    col: int
    core: tuple[tuple[int, int], tuple[int, int]]
    region: tuple[tuple[int, int], tuple[int, int]]

    def region_slices(self) -> tuple[slice, slice]:
        """``(slice_y, slice_x)`` of the region in image coordinates."""
        (y0, y1), (x0, x1) = self.region
        return slice(y0, y1), slice(x0, x1)

    def core_slices(self) -> tuple[slice, slice]:
        """``(slice_y, slice_x)`` of the core in image coordinates."""
        (y0, y1), (x0, x1) = self.core
        return slice(y0, y1), slice(x0, x1)


@dataclasses.dataclass
class TileLabels:
    """The objects one tile owns, as labels ``1..n`` on a crop of its region.

    ``labels`` covers ``box`` (image coordinates ``((y0, y1), (x0, x1))``), the bounding
    box of the owned objects (empty when ``n == 0``). ``warnings`` are those the segment
    function raised on this tile (recorded when :func:`segment_tile` is asked to), placed at the
    tile's region.
    """

    index: int
    box: tuple[tuple[int, int], tuple[int, int]]
    labels: np.ndarray
    n: int
    n_cut: int = 0
    warnings: tuple = ()


@dataclasses.dataclass
class TiledResult:
    """Labels of a tiled segmentation and what the stitching saw.

    ``warnings`` holds the warnings the tiles raised (:class:`labelfree._tile_warnings.TileWarning`,
    each placed at its tile's region), the no-object ones only when no tile found an object.
    """

    labels: np.ndarray
    tiles: list[Tile]
    n_objects: int
    n_cut: int
    warnings: list = dataclasses.field(default_factory=list)


def plan_tiles(shape: Sequence[int], /, *, tile: int | Sequence[int], overlap: int) -> list[Tile]:
    """Grid of tiles over a YX plane of ``shape`` (the last two entries are Y, X).

    Parameters
    ----------
    shape : sequence of int
        Image shape; only the last two axes (Y, X) are tiled.
    tile : int or (int, int)
        Core size in pixels (Y, X). The last row/column of cores may be smaller.
    overlap : int
        Pixels each region extends beyond its core on every side; at least the
        largest object diameter (see the module docstring).

    Examples
    --------
    >>> [t.region for t in plan_tiles((100, 150), tile=100, overlap=10)]
    [((0, 100), (0, 110)), ((0, 100), (90, 150))]
    """
    if len(shape) < 2:
        raise DimensionError(f"Tiling needs an image with Y and X axes; got shape {tuple(shape)}.")
    ny, nx = int(shape[-2]), int(shape[-1])
    ty, tx = (int(tile), int(tile)) if np.isscalar(tile) else (int(tile[0]), int(tile[1]))
    if ty < 1 or tx < 1 or overlap < 0:
        raise InputError(f"tile must be >= 1 pixel and overlap >= 0; got tile={tile}, overlap={overlap}.")
    tiles = []
    for row, y0 in enumerate(range(0, ny, ty)):
        for col, x0 in enumerate(range(0, nx, tx)):
            y1, x1 = min(y0 + ty, ny), min(x0 + tx, nx)
            region = ((max(0, y0 - overlap), min(ny, y1 + overlap)), (max(0, x0 - overlap), min(nx, x1 + overlap)))
            tiles.append(Tile(len(tiles), row, col, ((y0, y1), (x0, x1)), region))
    return tiles


@dataclasses.dataclass(frozen=True)
class _MemmapRef:
    """A numpy memmap by reference, so that a worker re-opens it instead of receiving it."""

    filename: str
    dtype: str
    shape: tuple[int, ...]
    offset: int
    order: str

    def open(self) -> np.ndarray:
        return np.memmap(self.filename, dtype=np.dtype(self.dtype), mode="r", shape=self.shape,
                         offset=self.offset, order=self.order)


def _base_memmap(arr: np.ndarray) -> _MemmapRef | None:
    """The file region behind a contiguous memmap (a whole map or a view into one: a plane of a
    mapped movie, a band of rows), else None: the worker re-opens exactly those bytes.

    A view keeps its parent's ``offset`` attribute; its own place in the file is the parent's
    offset plus how far its first byte lies from the parent's. A copy-on-write map (``mode="c"``)
    is not re-opened: changes made to it are not in the file.
    """
    if not isinstance(arr, np.memmap) or getattr(arr, "filename", None) is None or getattr(arr, "mode", "") == "c":
        return None
    if not (arr.flags.c_contiguous or arr.flags.f_contiguous):
        return None
    root: np.ndarray = arr
    while isinstance(root.base, np.ndarray):  # up to the map itself, whose base is the mmap
        root = root.base
    if not isinstance(root, np.memmap) or getattr(root, "offset", None) is None:
        return None
    delta = arr.__array_interface__["data"][0] - root.__array_interface__["data"][0]
    if delta < 0 or delta + arr.nbytes > root.nbytes:
        return None
    return _MemmapRef(str(arr.filename), arr.dtype.str, tuple(arr.shape), int(root.offset) + int(delta),
                      "F" if arr.flags.f_contiguous and not arr.flags.c_contiguous else "C")


def read_region(source: Any, tile: Tile, /) -> np.ndarray:
    """Read ``tile``'s region (every leading axis, the region's Y and X) as a numpy array.

    ``source`` may be a numpy array, a memmap reference, a zarr array, a dask array or
    an xarray DataArray over any of them; only the region's pixels are read.
    """
    if isinstance(source, _MemmapRef):
        source = source.open()
    data = getattr(source, "data", source) if type(source).__name__ == "DataArray" else source
    ys, xs = tile.region_slices()
    return np.asarray(data[(Ellipsis, ys, xs)])


def _centroids(labels: np.ndarray, n: int, counts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Each id's mean row and column (ids 0..n; NaN for the background, 0), summed over the objects' pixels only.

    The sums are of whole numbers, exact in float64 whatever their order: the centroids of every pixel, bit for bit.
    """
    idx = labels.ravel()
    if counts is None:
        counts = np.bincount(idx, minlength=n + 1)
    at = np.flatnonzero(idx)  # the background's centroid is never asked for
    ids = idx[at]
    rows, cols = np.divmod(at, labels.shape[1])
    cy = np.bincount(ids, weights=rows, minlength=n + 1)
    cx = np.bincount(ids, weights=cols, minlength=n + 1)
    counts = counts.astype(np.float64)
    counts[0] = np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        return cy / counts, cx / counts


def _sequential_counts(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``labels`` with ids 1..n (as :func:`skimage.segmentation.relabel_sequential` numbers them: in the order of
    the ids) and the pixel count of each id 0..n. Labels already 1..n (a pipeline's) are kept as they are, without
    the sort that numbers them."""
    if not labels.size:
        return labels, np.zeros(1, np.int64)
    if 0 <= labels.min() and labels.max() <= labels.size:  # counted by id, not sorted (sparse huge ids: sorted)
        counts = np.bincount(labels.ravel())
        if counts[1:].all():
            return labels, counts
    from skimage.segmentation import relabel_sequential

    labels = relabel_sequential(labels)[0]
    return labels, np.bincount(labels.ravel()) if labels.size else np.zeros(1, np.int64)


#: objects of a tile whose boxes :func:`_own_objects` reads (``ndi.find_objects``: its cost grows with the objects);
#: more, and every object's centroid is summed in one pass over the region
_BOXED_OBJECTS = 1024
#: objects on a core's border whose centroids :func:`_in_core` sums one by one (within their boxes) at most; more,
#: and every object's centroid is summed in one pass over the region (:func:`_centroids`)
_BORDER_OBJECTS = 256


def _boxes(labels: np.ndarray, n: int, /) -> np.ndarray:
    """The bounding box ``(y0, y1, x0, x1)`` (stops exclusive) of each id 0..n of labels numbered 1..n, each id
    present (row 0, the background's, is zeros)."""
    from scipy import ndimage as ndi

    boxes = np.zeros((n + 1, 4), np.int64)
    boxes[1:] = [(sy.start, sy.stop, sx.start, sx.stop) for sy, sx in ndi.find_objects(labels, max_label=n)]
    return boxes


def _in_core(labels: np.ndarray, counts: np.ndarray, boxes: np.ndarray, tile: Tile, /) -> np.ndarray:
    """Which ids 0..n of a tile's labels (numbered 1..n, with their ``boxes``) have their centroid in the tile's
    core (id 0: False).

    An object whose box lies in the core has its centroid there, one whose box misses the core's rows or columns
    has it outside; only the objects that the core's border crosses are summed (the sums of :func:`_centroids`,
    exact: the same centroids bit for bit), within their boxes when they are few.
    """
    (ry0, _), (rx0, _) = tile.region
    (cy0, cy1), (cx0, cx1) = tile.core
    y0, y1, x0, x1 = boxes.T
    inside = (y0 + ry0 >= cy0) & (y1 + ry0 <= cy1) & (x0 + rx0 >= cx0) & (x1 + rx0 <= cx1)
    outside = (y1 + ry0 <= cy0) | (y0 + ry0 >= cy1) | (x1 + rx0 <= cx0) | (x0 + rx0 >= cx1)
    inside[0], outside[0] = False, True
    border = np.flatnonzero(~(inside | outside))
    if not len(border):
        return inside
    if len(border) > _BORDER_OBJECTS or int(((y1 - y0) * (x1 - x0))[border].sum()) > labels.size:
        cy, cx = _centroids(labels, len(counts) - 1, counts)
        cy, cx = cy[border], cx[border]
    else:
        sums = np.zeros((len(border), 2), np.int64)
        for k, i in enumerate(border):
            rows, cols = np.nonzero(labels[y0[i]:y1[i], x0[i]:x1[i]] == i)
            sums[k] = int(rows.sum()) + int(y0[i]) * len(rows), int(cols.sum()) + int(x0[i]) * len(cols)
        n_pixels = counts[border].astype(np.float64)
        cy, cx = sums[:, 0].astype(np.float64) / n_pixels, sums[:, 1].astype(np.float64) / n_pixels
    cy, cx = cy + ry0, cx + rx0
    inside[border] = (cy >= cy0) & (cy < cy1) & (cx >= cx0) & (cx < cx1)
    return inside


def _own_objects(labels: np.ndarray, tile: Tile, shape: tuple[int, int]) -> TileLabels:
    """Keep the objects of a tile's labels whose centroid lies in its core; renumber 1..n.

    Up to :data:`_BOXED_OBJECTS` objects, their boxes (one pass over the labels) tell those whose centroid needs
    summing (:func:`_in_core`), the owned objects' box and those of them that touch a region edge, and the owned
    ids are written within that box only; more objects are summed, renumbered and boxed in passes over the region.
    """
    (ry0, ry1), (rx0, rx1) = tile.region
    (cy0, cy1), (cx0, cx1) = tile.core
    labels, counts = _sequential_counts(np.asarray(labels))
    n = len(counts) - 1
    if n == 0:
        return TileLabels(tile.index, ((ry0, ry0), (rx0, rx0)), np.zeros((0, 0), np.uint32), 0)
    if n <= _BOXED_OBJECTS:
        boxes = _boxes(labels, n)
        keep = _in_core(labels, counts, boxes, tile)
    else:
        cy, cx = _centroids(labels, n, counts)
        cy, cx = cy + ry0, cx + rx0
        keep = (cy >= cy0) & (cy < cy1) & (cx >= cx0) & (cx < cx1)
        keep[0] = False
    n_own = int(np.count_nonzero(keep))
    if n_own == 0:
        return TileLabels(tile.index, ((ry0, ry0), (rx0, rx0)), np.zeros((0, 0), np.uint32), 0)
    lut = np.zeros(n + 1, np.uint32)
    lut[keep] = np.arange(1, n_own + 1, dtype=np.uint32)
    height, width = labels.shape
    if n <= _BOXED_OBJECTS:
        y0, y1, x0, x1 = boxes[keep].T
        # owned objects that touch a region edge which is not the image border were cut
        cut = ((y0 == 0) & (ry0 > 0)) | ((y1 == height) & (ry1 < shape[0])) | ((x0 == 0) & (rx0 > 0)) \
            | ((x1 == width) & (rx1 < shape[1]))
        n_cut = int(np.count_nonzero(cut))
        by0, by1, bx0, bx1 = int(y0.min()), int(y1.max()), int(x0.min()), int(x1.max())
        owned = lut[labels[by0:by1, bx0:bx1]]
    else:
        owned = lut[labels]
        edges = [owned[0]] if ry0 > 0 else []
        edges += [owned[-1]] if ry1 < shape[0] else []
        edges += [owned[:, 0]] if rx0 > 0 else []
        edges += [owned[:, -1]] if rx1 < shape[1] else []
        n_cut = len(np.setdiff1d(np.unique(np.concatenate(edges)), [0])) if edges else 0
        rows, cols = np.flatnonzero(owned.any(axis=1)), np.flatnonzero(owned.any(axis=0))
        by0, by1, bx0, bx1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        owned = np.ascontiguousarray(owned[by0:by1, bx0:bx1])
    box = ((ry0 + by0, ry0 + by1), (rx0 + bx0, rx0 + bx1))
    return TileLabels(tile.index, box, owned, n_own, n_cut)


def segment_tile(source: Any, tile: Tile, segment_fn: SegmentFn, /, *, shape: tuple[int, int],
                 record: bool = False) -> TileLabels:
    """Read ``tile``'s region from ``source``, segment it and keep the objects it owns.

    Parameters
    ----------
    source : array-like
        What :func:`read_region` accepts; an array already cut to the region is used as is.
    tile : Tile
    segment_fn : callable
        ``f(region) -> labels``: region is ``(..., Y, X)``; labels are ``(Y, X)`` integers,
        0 = background (a DataArray is accepted).
    shape : (int, int)
        The whole image's (Y, X) size (to tell region edges from the image border).
    record : bool
        Record the warnings ``segment_fn`` raises (in this thread only) in the result's
        ``warnings`` instead of showing them, for :func:`segment_tiled` to say once per kind.
    """
    region = source.data if isinstance(source, _Region) else read_region(source, tile)
    try:
        if not record:
            return _owned_labels(segment_fn(region), tile, shape)
        with _tile_warnings.recording() as caught:
            labels = segment_fn(region)
    except MemoryLeftError as refused:  # said of the tile as the run's tile, not as a whole image
        raise _tile_refusal(refused, tile) from None
    part = _owned_labels(labels, tile, shape)
    return dataclasses.replace(part, warnings=tuple(dataclasses.replace(w, region=tile.region) for w in caught))


def _tile_refusal(refused: MemoryLeftError, tile: Tile, /) -> MemoryLeftError:
    """The refusal of a tile whose work cannot fit in the memory left (a pipeline's own check, which speaks of its
    input as a whole image) as a tiled run's: smaller tiles where they fit. A tile's work was counted when the run
    chose its tiles, or not at all where they were given (a run's check counts the labels and what does not grow
    with a tile)."""
    (ry0, ry1), (rx0, rx1) = tile.region
    (cy0, cy1), (cx0, cx1) = tile.core
    what = refused.title or "The segment function"
    core = ("one tile, the whole plane" if tile.core == tile.region
            else f"its {cy1 - cy0} x {cx1 - cx0} px and the overlap")
    said = (f"{what} cannot segment a tile of {ry1 - ry0} x {rx1 - rx0} px ({core}) in the memory left: its work takes "
            f"{memory_text(refused.work)}"
            f"{f' ({refused.note})' if refused.note else ''} beside its labels' "
            f"{memory_text(refused.labels)}, but only {memory_text(refused.left)} of memory is left. ")
    smaller = refused.tile if refused.tile and refused.tile < max(cy1 - cy0, cx1 - cx0) else None
    if smaller:
        said += (f"Segment in smaller tiles: tile={smaller} (run_pipeline(..., tile={smaller}); --tile {smaller} on "
                 f"the command line; tile={smaller} in a Fiji macro of LabelFree Segment File), or run where more "
                 "memory is free.")
    else:
        sizes = ", ".join(str(t) for t in OFFERED_TILES[:-1]) + f" and {OFFERED_TILES[-1]}"
        said += (f"No smaller tile of those offered ({sizes} px) fits: run where more memory is free, or segment a "
                 "binned copy.")
    return MemoryLeftError(said, title=refused.title, labels=refused.labels, work=refused.work, left=refused.left,
                           tile=smaller, note=refused.note)


def _owned_labels(labels: Any, tile: Tile, shape: tuple[int, int]) -> TileLabels:
    """The objects a tile owns, from the labels the segment function returned for its region."""
    (ry0, ry1), (rx0, rx1) = tile.region
    if type(labels).__name__ == "DataArray":
        labels = labels.data
    labels = np.asarray(labels)
    if labels.shape != (ry1 - ry0, rx1 - rx0):
        raise DimensionError(
            f"The segment function returned labels of shape {labels.shape} for a region of "
            f"{(ry1 - ry0, rx1 - rx0)} pixels; it must return one (Y, X) label plane per region."
        )
    if labels.dtype.kind not in "iub":
        raise DTypeError(f"The segment function returned {labels.dtype} labels; expected integers (0 = background).")
    if labels.dtype not in (np.uint8, np.uint16, np.uint32):  # signed (negative ids?), bool, uint64: as int64
        labels = labels.astype(np.int64)
    return _own_objects(labels, tile, shape)


class _Region:
    """An array already cut to one tile's region (what a task receives for in-memory images)."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data


def _neighbours(tiles: list[Tile], index: int) -> list[int]:
    """Indices of the tiles whose regions can reach into ``tiles[index]``'s core (itself included)."""
    (cy0, cy1), (cx0, cx1) = tiles[index].core
    out = []
    for t in tiles:
        (ry0, ry1), (rx0, rx1) = t.region
        if ry0 < cy1 and ry1 > cy0 and rx0 < cx1 and rx1 > cx0:
            out.append(t.index)
    return out


def _offsets(counts: Sequence[int]) -> list[int]:
    return [int(v) for v in np.concatenate([[0], np.cumsum(np.asarray(counts, np.int64))[:-1]])]


def _paint(out: np.ndarray, at: tuple[int, int], part: TileLabels, offset: int) -> None:
    """Paint ``part``'s objects (ids + offset) onto the zero pixels of ``out`` (placed at ``at``)."""
    if part.n == 0:
        return
    (by0, by1), (bx0, bx1) = part.box
    oy, ox = at
    y0, y1 = max(by0, oy), min(by1, oy + out.shape[0])
    x0, x1 = max(bx0, ox), min(bx1, ox + out.shape[1])
    if y0 >= y1 or x0 >= x1:
        return
    src = part.labels[y0 - by0:y1 - by0, x0 - bx0:x1 - bx0]
    dst = out[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
    free = (dst == 0) & (src != 0)
    np.copyto(dst, src.astype(out.dtype, copy=False) + out.dtype.type(offset), where=free)  # no gather, no scatter


def _drop_claimed(part: TileLabels, claimed: np.ndarray) -> TileLabels:
    """``part`` without the pixels that are ``claimed`` (a mask over ``part.box``), renumbered 1..n.

    An object all of whose pixels are claimed is dropped: it would get an id that no pixel carries
    (an earlier tile keeps contested pixels). An object that the claimed pixels cut in pieces keeps
    its largest piece: one id on several separate pieces is not one cell (the others become
    background, in every tile order and on every scheduler alike).
    """
    if part.n == 0:
        return part
    if not np.any(claimed & (part.labels != 0)):  # the usual case: no pixel of its objects claimed, nothing changes
        return part
    free = np.where(claimed, 0, part.labels)
    free = _largest_pieces(free, part.labels, part.n)
    alive = np.bincount(free.ravel(), minlength=part.n + 1) > 0
    alive[0] = False
    n = int(alive.sum())
    lut = np.zeros(part.n + 1, np.uint32)
    lut[alive] = np.arange(1, n + 1, dtype=np.uint32)
    return dataclasses.replace(part, labels=lut[free], n=n)


def _pieces_per_id(labels: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The connected pieces of each id (8-connected, one id per piece) and how many pieces each id has."""
    from skimage.measure import label

    pieces = label(labels, background=0, connectivity=2)
    owner = np.zeros(int(pieces.max()) + 1, np.int64)
    owner[pieces.ravel()] = labels.ravel()
    return pieces, np.bincount(owner[1:], minlength=n + 1)


def _largest_pieces(free: np.ndarray, whole: np.ndarray, n: int) -> np.ndarray:
    """``free`` with only the largest piece of each id that is in one piece in ``whole`` but not in ``free``."""
    pieces, count = _pieces_per_id(free, n)
    split = count > 1
    if not split.any():
        return free
    split &= _pieces_per_id(whole, n)[1] == 1
    if not split.any():
        return free
    size = np.bincount(pieces.ravel())
    owner = np.zeros(size.size, np.int64)
    owner[pieces.ravel()] = free.ravel()
    best = np.zeros(n + 1, np.int64)  # the largest piece of each id (ties: the first)
    order = np.lexsort((-np.arange(size.size), size))  # ascending size, the first piece of equal ones last
    best[owner[order]] = order
    keep = ~split[owner] | (best[owner] == np.arange(size.size))
    keep[0] = False
    return np.where(keep[pieces], free, 0)


_CUT_OFF = np.uint32(np.iinfo(np.uint32).max)  # serial run: pixels of an owned object dropped with a small piece


def _claimed_by(part: TileLabels, earlier: Sequence[TileLabels]) -> np.ndarray:
    """Mask over ``part.box`` of the pixels that the objects of ``earlier`` tiles cover."""
    claimed = np.zeros(part.labels.shape, bool)
    (by0, by1), (bx0, bx1) = part.box
    for other in earlier:
        if other.n == 0:
            continue
        (oy0, oy1), (ox0, ox1) = other.box
        y0, y1, x0, x1 = max(by0, oy0), min(by1, oy1), max(bx0, ox0), min(bx1, ox1)
        if y0 < y1 and x0 < x1:
            claimed[y0 - by0:y1 - by0, x0 - bx0:x1 - bx0] |= other.labels[y0 - oy0:y1 - oy0, x0 - ox0:x1 - ox0] != 0
    return claimed


def _keep_unclaimed(part: TileLabels, earlier: Sequence[TileLabels]) -> TileLabels:
    return _drop_claimed(part, _claimed_by(part, earlier))


def _earlier_overlapping(tiles: list[Tile], index: int) -> list[int]:
    """Indices of the tiles before ``tiles[index]`` whose regions meet its region.

    Only their objects can claim pixels of its objects.
    """
    (ay0, ay1), (ax0, ax1) = tiles[index].region
    out = []
    for t in tiles[:index]:
        (ry0, ry1), (rx0, rx1) = t.region
        if ry0 < ay1 and ry1 > ay0 and rx0 < ax1 and rx1 > ax0:
            out.append(t.index)
    return out


def stitch_core(tile: Tile, parts: Sequence[TileLabels], offsets: Sequence[int], /) -> np.ndarray:
    """Final labels of ``tile``'s core from the owned objects of the tiles around it.

    ``parts`` are the :class:`TileLabels` of the neighbouring tiles (any order);
    ``offsets[k]`` is the id offset of the tile with index ``parts[k].index``.
    """
    (cy0, cy1), (cx0, cx1) = tile.core
    out = np.zeros((cy1 - cy0, cx1 - cx0), np.uint32)
    for part, offset in sorted(zip(parts, offsets), key=lambda po: po[0].index):
        _paint(out, (cy0, cx0), part, int(offset))
    return out


def _core_from_counts(
    tile: Tile, parts: Sequence[TileLabels], counts: Sequence[int], order: Sequence[int]
) -> np.ndarray:
    starts = _offsets(counts)
    return stitch_core(tile, parts, [starts[i] for i in order])


def _box_slices(box: tuple[tuple[int, int], tuple[int, int]]) -> tuple[slice, slice]:
    (y0, y1), (x0, x1) = box
    return slice(y0, y1), slice(x0, x1)


def _count(part: TileLabels) -> tuple[int, int]:
    return part.n, part.n_cut


def _source_for_tasks(image: Any) -> Any:
    """What each tile task gets to read its region from (never the whole in-memory array)."""
    data = image.data if type(image).__name__ == "DataArray" else image
    ref = _base_memmap(data) if isinstance(data, np.ndarray) else None
    if ref is not None:
        return ref
    return data


def _check_plane(image: Any) -> tuple[int, int]:
    shape = tuple(getattr(image, "shape", ()))
    if len(shape) < 2:
        raise DimensionError(f"Tiled segmentation needs an image with Y and X as its last axes; got shape {shape}.")
    dims = getattr(image, "dims", None)
    if dims is not None and tuple(dims[-2:]) != ("Y", "X"):
        raise DimensionError(f"Tiled segmentation needs Y and X as the last dims; got {''.join(dims)}.")
    return int(shape[-2]), int(shape[-1])


def tiled_labels(
    image: Any, segment_fn: SegmentFn, /, *, tile: int = 2048, overlap: int = 128
) -> Any:
    """The stitched labels as a lazy ``dask.array`` (one chunk per tile core).

    Build the graph only: compute it with any scheduler, or store it chunk by chunk
    (``dask.array.to_zarr``; chunks never overlap, so concurrent writes do not collide).
    Tile tasks read their own regions; see :func:`segment_tiled` for the parameters.
    """
    return _tiled_graph(image, segment_fn, tile=tile, overlap=overlap)[0]


def _tiled_graph(image: Any, segment_fn: SegmentFn, /, *, tile: int, overlap: int,
                 record: bool = False) -> tuple[Any, Any, Any]:
    """The lazy labels, a delayed count of the owned objects cut by a region border and the delayed
    warnings of the tiles (recorded with ``record``, else shown where the tiles run: none recorded)."""
    import dask
    import dask.array as da

    if not isinstance(segment_fn, _HandedTo):  # its tiles know they are tiles (segment_tiled's have been told)
        segment_fn = _HandedTo(segment_fn, ((IN_TILE, True),))
    shape = _check_plane(image)
    tiles = plan_tiles(shape, tile=tile, overlap=overlap)
    source = _source_for_tasks(image)
    owned = []
    for t in tiles:
        if isinstance(source, np.ndarray):  # in memory: send each task its region only
            region = dask.delayed(read_region(source, t), name=f"labelfree-region-{t.index}-{uuid.uuid4().hex}")
            owned.append(dask.delayed(_segment_region)(region, t, segment_fn, shape, record))
        elif _is_dask(source):
            ys, xs = t.region_slices()
            owned.append(dask.delayed(_segment_region)(source[(Ellipsis, ys, xs)], t, segment_fn, shape, record))
        else:
            owned.append(dask.delayed(segment_tile)(source, t, segment_fn, shape=shape, record=record))
    # an object whose pixels the earlier tiles' objects all claim gets no id (as in the serial run)
    parts = [dask.delayed(_keep_unclaimed)(owned[t.index], [owned[j] for j in _earlier_overlapping(tiles, t.index)])
             for t in tiles]
    counts = [dask.delayed(_count)(p) for p in parts]
    ns = dask.delayed(_first_counts)(counts)
    n_cut = dask.delayed(sum)([c[1] for c in counts])
    rows = []
    n_rows = max(t.row for t in tiles) + 1
    for r in range(n_rows):
        row = []
        for t in (t for t in tiles if t.row == r):
            near = _neighbours(tiles, t.index)
            (cy0, cy1), (cx0, cx1) = t.core
            block = dask.delayed(_core_from_counts)(t, [parts[i] for i in near], ns, near)
            row.append(da.from_delayed(block, shape=(cy1 - cy0, cx1 - cx0), dtype=np.uint32))
        rows.append(row)
    return da.block(rows), n_cut, dask.delayed(_warnings_of)(owned)


def _is_dask(obj: Any) -> bool:
    return type(obj).__module__.startswith("dask") and hasattr(obj, "dask")


def _segment_region(region: np.ndarray, tile: Tile, segment_fn: SegmentFn, shape: tuple[int, int],
                    record: bool = False) -> TileLabels:
    return segment_tile(_Region(np.asarray(region)), tile, segment_fn, shape=shape, record=record)


def _warnings_of(parts: Sequence[TileLabels]) -> list:
    """The warnings the tiles recorded, tile after tile."""
    return [w for part in parts for w in part.warnings]


def _first_counts(counts: Sequence[tuple[int, int]]) -> list[int]:
    return [c[0] for c in counts]


_HANDED = threading.local()

#: the key under which :func:`labelfree.run.run_tiled` hands the tiles of each plane of a z-stack that it segments as
#: volumes (a spec with ``tile_volume_config``) the plane's Z index in its volume: a tile leaves what counts a
#: volume's objects (the threshold pipeline's ``min_size`` in voxels) to the spec's ``tile_finish``
VOLUME_PLANE = "tiling.volume_plane"
#: the key that every tile of :func:`segment_tiled` is handed (True): a segment function that says something of
#: a whole image (an empty result at the caller's fixed threshold) leaves it to the run inside a tile
IN_TILE = "tiling.in_tile"


def hand_to_tiles(key: str, value: Any, /) -> None:
    """Hand ``value`` to the tiles of the next :func:`segment_tiled` call in this thread.

    Inside each of its tiles the segment function reads it with :func:`handed`, on every scheduler
    (the values travel with the tile tasks); the call takes them, so later calls start without. A
    pipeline's ``tile_config`` hook hands what a tile cannot tell from its config alone: the
    threshold pipeline, that the tile's fixed threshold is its plane's automatic one (a tile without
    objects then says so, as an untiled run at its automatic threshold does).
    """
    _HANDED.pending = {**(getattr(_HANDED, "pending", None) or {}), key: value}


def handed(key: str, /, default: Any = None) -> Any:
    """Inside a tile of :func:`segment_tiled`, the value handed to its tiles under ``key``
    (:func:`hand_to_tiles`); elsewhere (or nothing handed under ``key``) ``default``."""
    return (getattr(_HANDED, "current", None) or {}).get(key, default)


@dataclasses.dataclass(frozen=True)
class _HandedTo:
    """A segment function and the values handed to its tiles (picklable: it travels to Dask workers)."""

    segment_fn: Any
    values: tuple

    def __call__(self, region: np.ndarray) -> Any:
        outer = getattr(_HANDED, "current", None)
        _HANDED.current = dict(self.values)
        try:
            return self.segment_fn(region)
        finally:
            _HANDED.current = outer


def segment_tiled(
    image: Any,
    segment_fn: SegmentFn,
    /,
    *,
    tile: int = 2048,
    overlap: int = 128,
    client: Any = None,
    progress: Any = False,
    warn: bool = True,
) -> TiledResult:
    """Segment ``image`` tile by tile and stitch the labels so each object has one id.

    Parameters
    ----------
    image : array-like (..., Y, X)
        numpy array, ``numpy.memmap``, zarr array, dask array, or a DataArray over one
        of them (dims ending in Y, X). Leading axes (e.g. C) go to ``segment_fn`` whole.
    segment_fn : callable
        ``f(region) -> labels`` with ``region`` of shape ``(..., y, x)`` and labels
        ``(y, x)`` (0 = background). Must be picklable for a distributed client (a
        top-level function or :class:`PipelineTileFunction`).
    tile : int
        Core size in pixels (Y and X); memory per task is about ``(tile + 2 overlap)²``
        pixels of input and labels.
    overlap : int
        Pixels read beyond each core on every side: at least the largest object diameter
        (about 2 × the typical diameter) plus the context ``segment_fn`` needs.
    client : None, "sync", "threads", "processes" or distributed.Client
        None: tile after tile in this process (no Dask). A scheduler name or a client:
        the tiles run as Dask tasks (:func:`tiled_labels`) there.
    progress : bool, tqdm-like or callable
        Progress over tiles (serial run only).
    warn : bool
        Issue the warnings the tiles raised when the run ends, each kind once, saying in how many
        tiles it arose and where (:mod:`labelfree._tile_warnings`); a no-object warning
        (``NoObjectsWarning``) only when no tile found an object, and log the objects cut by a tile
        border (:func:`log_cut`). False: leave them in the result's ``warnings`` and ``n_cut`` (a caller
        that merges several planes' runs says them once, as :func:`labelfree.run.run_tiled` does).

    Returns
    -------
    TiledResult
        ``labels`` (uint32, Y × X, ids 1..n numbered tile after tile, each present),
        the tiles, ``n_objects`` and ``n_cut`` (owned objects cut by a region border,
        serial or on Dask: raise ``overlap`` when not 0), and the tiles' ``warnings``.

    Examples
    --------
    >>> from scipy import ndimage as ndi
    >>> img = np.zeros((60, 60)); img[25:35, 5:55] = 1           # one object across 3 tiles
    >>> res = segment_tiled(img, lambda r: ndi.label(r > 0)[0], tile=20, overlap=50)
    >>> res.n_objects, np.unique(res.labels).tolist()
    (1, [0, 1])
    """
    pending = getattr(_HANDED, "pending", None)
    _HANDED.pending = None
    # values a hook handed to these tiles (hand_to_tiles), and that they are tiles: they go with the segment function
    segment_fn = _HandedTo(segment_fn, tuple({**(pending or {}), IN_TILE: True}.items()))
    shape = _check_plane(image)
    tiles = plan_tiles(shape, tile=tile, overlap=overlap)
    if client is None:
        source = _source_for_tasks(image)
        out = np.zeros(shape, np.uint32)
        next_id = 0
        n_cut = 0
        caught: list = []
        cut_off = False  # whether pixels were marked _CUT_OFF (to clear at the end)
        with Progress(progress, total=len(tiles), desc="tiles") as bar:
            for t in tiles:
                part = segment_tile(source, t, segment_fn, shape=shape, record=True)
                caught.extend(part.warnings)
                if part.n:
                    kept = _drop_claimed(part, out[_box_slices(part.box)] != 0)
                    if kept is not part:  # pieces cut off by an earlier tile's objects stay claimed, as on Dask
                        box = out[_box_slices(part.box)]
                        box[(part.labels != 0) & (kept.labels == 0) & (box == 0)] = _CUT_OFF
                        cut_off, part = True, kept
                _paint(out, (0, 0), part, next_id)
                next_id += part.n
                n_cut += part.n_cut
                bar.update(message=f"tile {t.index + 1}/{len(tiles)}")
        if cut_off:
            out[out == _CUT_OFF] = 0
        result = TiledResult(out, tiles, next_id, n_cut)
    else:
        import dask

        labels, cut, tile_warnings = _tiled_graph(image, segment_fn, tile=tile, overlap=overlap, record=True)
        if isinstance(client, str):
            arr, n_cut, caught = dask.compute(labels, cut, tile_warnings, scheduler=client)
        else:
            arr, n_cut, caught = client.gather(client.compute([labels, cut, tile_warnings]))
        n = int(arr.max()) if arr.size else 0
        result = TiledResult(np.asarray(arr), tiles, n, int(n_cut))
    result.warnings = _tile_warnings.without_found(caught, found=result.n_objects > 0)
    if warn:
        _tile_warnings.issue(result.warnings, n_tiles=len(tiles))
        log_cut(result.n_cut, overlap)
    log.info("tiled segmentation: %d tiles of %d px (overlap %d), %d objects", len(tiles), tile, overlap,
             result.n_objects)
    return result


def log_cut(n_cut: int, overlap: int, /, *, planes: Sequence[str] = (), n_planes: int = 1) -> None:
    """Log (a warning) that ``n_cut`` owned objects were cut by a tile border, once for a run; nothing when 0.

    Parameters
    ----------
    n_cut : int
        Objects cut, in all the run's planes.
    overlap : int
        The run's overlap in pixels.
    planes : sequence of str
        Names of the planes where objects were cut (``"T=2"``), for a run over several planes: the
        first three are named, then ``...``.
    n_planes : int
        Planes of the run.
    """
    if n_cut <= 0:
        return
    where = ""
    if planes and n_planes > 1:
        names = "; ".join(planes[:3]) + ("; ..." if len(planes) > 3 else "")
        where = f" in {len(planes)} of {n_planes} planes ({names})"
    log.warning("tiled segmentation: %d object(s) larger than the overlap (%d px) were cut by a tile border%s; "
                "raise overlap above the largest object diameter.", n_cut, overlap, where)


def plane_labels_out(shape: Sequence[int], /) -> np.ndarray:
    """The labels of a tiled run over several planes, to fill plane by plane with :func:`store_plane`.

    uint16, the type the run's labels end in (:func:`labelfree.image.labels_like`) unless a plane holds more
    than 65535 objects: the planes are held once, at 2 bytes a pixel, not as uint32 and then copied to uint16
    (:func:`labelfree.run.run_tiled`). Zeros not yet written take no memory.

    Parameters
    ----------
    shape : sequence of int
        ``(*lead, Y, X)``: the run's planes (e.g. T, Z) and their size.
    """
    return np.zeros(tuple(int(n) for n in shape), np.uint16)


def store_plane(out: np.ndarray, where: tuple, result: TiledResult, /) -> np.ndarray:
    """``out`` with the labels of one plane's tiled run written at ``where``.

    Parameters
    ----------
    out : uint16 or uint32 array
        The run's labels (:func:`plane_labels_out`).
    where : tuple
        The plane's index in ``out`` (its lead indices, then Y and X slices of the part that was tiled).
    result : TiledResult
        The plane's :func:`segment_tiled` result (ids 1..``n_objects``).

    Returns
    -------
    ndarray
        ``out``, or a uint32 copy of it from the first plane with more objects than uint16 ids: go on with it.
    """
    if result.n_objects > np.iinfo(out.dtype).max:
        out = out.astype(np.uint32)
    out[where] = result.labels
    return out


@dataclasses.dataclass(frozen=True)
class PipelineTileFunction:
    """A registered pipeline as a picklable per-region segment function.

    Parameters
    ----------
    pipeline : str
        A registered pipeline's name (:func:`labelfree.pipelines.pipelines`) that works on one
        plane, e.g. ``"threshold"``.
    config : dict or the pipeline's config object
        The pipeline's config (``cfg.to_dict()``, or ``cfg`` itself: kept as its dict, so that the
        function stays picklable). Checked when the function is built: a config the pipeline
        refuses raises its ``ConfigError`` here, not in the first tile.
    dims : str
        Dims of a region, e.g. ``"YX"`` or ``"CYX"``.
    scale : dict
        Pixel size per dim, so that size settings in physical units stay right.
    inputs : dict
        Extra inputs handed to the pipeline for every region (strings: a model folder, a device).
    channel_names : tuple of str
        Names of a region's channels (dims with ``C``), as the whole image has them: a pipeline
        that picks channels or models by name (Fusion's zoo) sees the same names in every tile.
    """

    pipeline: str
    config: dict = dataclasses.field(default_factory=dict)
    dims: str = "YX"
    scale: dict = dataclasses.field(default_factory=dict)
    inputs: dict = dataclasses.field(default_factory=dict)
    channel_names: tuple = ()

    def __post_init__(self) -> None:
        from labelfree.pipelines import get_pipeline

        pipe = get_pipeline(self.pipeline)
        if isinstance(self.config, pipe.config_class):  # kept as its dict: picklable, as every tile reads it
            object.__setattr__(self, "config", self.config.to_dict())
        # refused here as the pipeline refuses it (its ConfigError says what it expected), not in the first tile
        pipe.config_class.from_dict(self.config)

    def __call__(self, region: np.ndarray) -> np.ndarray:
        from labelfree.image import to_dataarray
        from labelfree.pipelines import get_pipeline

        region = np.asarray(region)
        pipe = get_pipeline(self.pipeline)
        if region.size and region.min() == region.max():  # an empty stretch of a scan, or inside a large object
            return self._constant_region(pipe, region)
        image = to_dataarray(region, dims=self.dims, scale=self.scale,
                             channel_names=list(self.channel_names) if self.channel_names else None)
        labels = pipe.segment_function(image, config=pipe.config_class.from_dict(self.config), progress=False,
                                       **self.inputs)
        if labels.ndim != 2:
            raise DimensionError(f"The {self.pipeline} pipeline returned {labels.ndim}-D labels for a region; "
                                 "tiling needs a pipeline that labels one plane.")
        return np.asarray(labels.data)

    def _constant_region(self, pipe: Any, region: np.ndarray) -> np.ndarray:
        """Labels of a region whose pixels all have one value, which a pipeline's ``segment`` refuses: the
        spec's ``tile_constant`` hook says what it holds (the threshold pipeline: its fixed threshold decides,
        as on the whole plane); without one, or on None, it has no objects."""
        from labelfree.spec import load

        labels = load(pipe.tile_constant)(region, pipe.config_class.from_dict(self.config)) \
            if pipe.tile_constant else None
        if labels is None:
            return np.zeros(region.shape[-2:], np.uint32)
        return np.asarray(labels)


#: integer images whose range spans more levels than this are thresholded on skimage's 256-bin
#: histogram of their values as float32, as before: with that many levels a bin holds one level
#: or more, and the thresholds of wide-range images (and every figure measured on them) stay
MAX_INTEGER_LEVELS = 255


def threshold_of(values: Any, /, *, method: str = "otsu") -> float:
    """The automatic threshold (``"otsu"``, ``"li"`` or ``"triangle"``) of an image's values.

    Integer images spanning at most :data:`MAX_INTEGER_LEVELS` levels are thresholded on
    their integer values, as skimage does (one histogram bin per integer level): a float
    copy would be binned in 256 bins whose centres fall between the levels of a dim image
    (values 0..12: Otsu 0.996 instead of 1, so every pixel of value 1 would be foreground).
    So are integer images whose values lie on a grid of at most that many steps
    (:func:`level_grid`: 8-bit data stored times 256 in 16-bit files, 12-bit data times 16),
    one bin per step: 256 bins of their range would hold 0, 1 or 2 of their levels, and Otsu
    would follow that pattern (and move with the range). Booleans are 0/1 integers. A float
    image whose values are whole numbers is thresholded as the integer image of those values;
    one whose values lie on an even grid of at most 256 levels (:func:`float_level_grid`: a
    quantised integer image divided by a number, ``m / m.max()`` or ``skimage.img_as_float(m)``)
    on one bin per level, as that integer image: a float copy of an image gives its labels. Other integer
    images and float images use skimage's 256-bin histogram of their values as float32.
    """
    from skimage import filters

    funcs = {"otsu": filters.threshold_otsu, "li": filters.threshold_li, "triangle": filters.threshold_triangle}
    if method not in funcs:
        raise InputError(f"method must be one of {sorted(funcs)}; got {method!r}.")
    x = np.asarray(values)
    if x.dtype.kind == "b":
        x = x.astype(np.uint8)
    if x.dtype.kind == "f" and x.size > 1:
        if _whole_numbers(x):  # an integer image stored as floats
            return threshold_of(x.astype(np.int64), method=method)
        float_grid = float_level_grid(x)
        if float_grid is not None:
            return _level_value(x, *float_grid, threshold_of(float_grid[2], method=method))
    grid = level_grid(x) if x.dtype.kind in "iu" else None
    if grid is not None:
        low, step, steps = grid
        return float(low + step * float(funcs[method](steps)))
    if x.dtype.kind not in "iu" or int(x.max()) - int(x.min()) > MAX_INTEGER_LEVELS:
        x = x.astype(np.float32, copy=False)
    return float(funcs[method](x))


def level_grid(values: Any, /) -> tuple[int, int, np.ndarray] | None:
    """An integer array's values as steps of a grid: ``(lowest value, step, steps)`` with
    ``values == lowest + step * steps``, when the step (the greatest common divisor of the values'
    differences) is above 1 and the range spans at most :data:`MAX_INTEGER_LEVELS` steps
    (``steps`` is uint8); None otherwise (a step of 1, a constant array, or more steps)."""
    x = np.asarray(values)
    if x.dtype.kind not in "iu" or x.size < 2:
        return None
    if not x.dtype.isnative:
        x = x.astype(x.dtype.newbyteorder("="))
    unsigned = np.dtype(f"u{x.dtype.itemsize}")
    low = x.min()
    # the differences from the lowest value, exact in the unsigned type of the same width (signed ones wrap back)
    offsets = x.view(unsigned).ravel() - np.asarray(low).view(unsigned)
    step = int(np.gcd.reduce(offsets[:4096]))  # most images: a step of 1 within the first pixels
    if step != 1:  # 0: the first pixels hold the lowest value alone
        step = int(np.gcd.reduce(offsets, initial=step))
    if step <= 1 or int(offsets.max()) // step > MAX_INTEGER_LEVELS:
        return None
    return int(low), step, (offsets // unsigned.type(step)).astype(np.uint8).reshape(x.shape)


def float_level_grid(values: Any, /) -> tuple[float, float, np.ndarray] | None:
    """A float array's values as steps of an even grid: ``(lowest value, step, steps)`` with
    ``values`` within a thousandth of a step of ``lowest + step * steps``, when they take at most
    :data:`MAX_INTEGER_LEVELS` + 1 levels of the grid (``steps`` is uint8), as a scaled copy of
    quantised data does (``uint8 / 255``, or 8-bit data stored times 256 divided by the maximum); None
    otherwise (more distinct values, values between the levels, a constant array, NaN or inf).

    Examples
    --------
    >>> low, step, steps = float_level_grid(np.array([0.5, 0.75, 1.5]))
    >>> low, step, steps.tolist()
    (0.5, 0.25, [0, 1, 4])
    """
    x = np.asarray(values)
    if x.dtype.kind != "f" or x.size < 2:
        return None
    flat = x.ravel()
    if flat.dtype.itemsize < 4:
        flat = flat.astype(np.float32)
    levels = MAX_INTEGER_LEVELS + 1
    head = np.unique(flat[:65536])  # most continuous images: more distinct values within the first pixels
    if len(head) > levels or not np.isfinite(head).all():
        return None
    low, high = flat.min(), flat.max()
    if not (np.isfinite(low) and np.isfinite(high)) or high == low:
        return None
    low, high = float(low), float(high)
    for distinct in (head, None):
        if distinct is None:  # the first pixels held no two neighbouring levels: every distinct value
            distinct = np.unique(flat)
            if len(distinct) > levels:
                return None
        gaps = np.diff(distinct.astype(np.float64))
        if not len(gaps):
            continue
        n_steps = round((high - low) / float(gaps.min()))
        if not 0 < n_steps <= MAX_INTEGER_LEVELS:
            continue
        step = (high - low) / n_steps
        steps = flat - flat.dtype.type(low)  # (in the image's float type: a level's error stays far below 1e-3)
        steps /= flat.dtype.type(step)
        nearest = np.rint(steps)
        np.subtract(steps, nearest, out=steps)
        if float(np.abs(steps).max()) <= 1e-3:
            return low, step, nearest.astype(np.uint8).reshape(x.shape)
    return None


def _whole_numbers(x: np.ndarray, /) -> bool:
    """Whether every value of a float array is a whole number that int64 holds exactly (below 2**53)."""
    flat = x.ravel()
    head = flat[:65536]
    if not np.array_equal(np.rint(head), head):  # most float images: fractions within the first pixels
        return False
    top = max(abs(float(flat.min())), abs(float(flat.max())))
    return top < 2.0 ** 53 and bool(np.array_equal(np.rint(flat), flat))


def _level_value(x: np.ndarray, low: float, step: float, steps: np.ndarray, threshold: float) -> float:
    """A threshold found on a grid's ``steps`` in ``x``'s values: a threshold on a level is that level's value
    in ``x`` itself (its pixels stay on the same side, as the integer image's do), one between levels is mapped
    linearly."""
    level = round(threshold)
    if abs(threshold - level) < 1e-9:
        on_level = x[steps == level]
        if on_level.size:
            return float(on_level.max())
    return low + step * threshold


AUTO_THRESHOLD_MAX_PIXELS = 16_000_000
"""Pixels an automatic threshold of one plane uses at most (a regular subsample above)."""


def auto_threshold(image: Any, /, *, method: str = "otsu", max_pixels: int | None = None) -> float:
    """An automatic threshold of the whole (Y, X) image, for every tile to share.

    Pipelines that take a statistic of the whole plane (the threshold pipeline's Otsu
    value, say) give another value on each tile; compute it once here and pass it in the
    config (``ThresholdConfig.threshold``). Images above ``max_pixels`` are subsampled
    on a regular grid (read lazily: a zarr or dask source is read chunk by chunk). The
    threshold of the sample is :func:`threshold_of`'s (integers on their own levels): the
    plain statistic of every pixel. The threshold pipeline's own value, which also leaves out
    a canvas's padding and isolated hot pixels, is
    :func:`labelfree.threshold.segment.whole_plane_config`'s (tiled and untiled runs use it).

    Parameters
    ----------
    image : array-like (Y, X)
    method : {"otsu", "li", "triangle"}
    max_pixels : int, optional
        Pixels used at most; default :data:`AUTO_THRESHOLD_MAX_PIXELS` (16 M).
    """
    if max_pixels is None:
        max_pixels = AUTO_THRESHOLD_MAX_PIXELS
    _check_plane(image)
    data = image.data if type(image).__name__ == "DataArray" else image
    if len(data.shape) != 2:
        raise DimensionError(f"auto_threshold takes one (Y, X) plane; got shape {tuple(data.shape)}.")
    return threshold_of(plane_sample(data, max_pixels), method=method)


def plane_sample(region: Any, max_pixels: int, /) -> np.ndarray:
    """Every pixel of a (Y, X) region, or a regular grid of at most ``max_pixels`` of them, as a NumPy
    array (a zarr or dask region is read lazily, only the grid's chunks)."""
    step = max(1, int(math.ceil(math.sqrt(region.shape[0] * region.shape[1] / float(max_pixels)))))
    sample = region[::step, ::step]
    return sample.compute() if _is_dask(sample) else np.asarray(sample)
