"""The image inside its canvas: whole edge rows and columns of one value around the data.

A crop pasted into a larger frame (a stitched mosaic's empty margin, a registered image's black
border, an export padded to a size) carries a canvas that is not part of the image. The
pipelines find it with :func:`content_box` and take their statistics, and put their objects,
inside it only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["content_box", "stack_content_box"]


def content_box(plane: Any, /) -> tuple[slice, slice]:
    """The (Y, X) slices of a plane inside its padding: whole edge rows and columns of one value.

    A crop placed in a larger canvas (a black frame around a registered or stitched image) is
    padded with rows and columns that all hold the canvas value. They are not part of the image:
    an automatic threshold of the whole plane would count them as background (a black canvas 15
    times the crop's size pulls Otsu's threshold down into the cells' background). Edge lines are
    peeled while every pixel of one holds the same value as the lines peeled before. Without
    padding the whole plane is returned. Reads the edge lines only (a lazy zarr or dask plane
    stays lazy). Every line of the plane but one may be peeled (a single bright pixel on black):
    the automatic threshold then uses the whole plane.
    """
    data = plane.data if type(plane).__name__ == "DataArray" else plane
    height, width = (int(n) for n in data.shape[-2:])
    edges = [0, height, 0, width]  # top, bottom, left, right
    pad: list = []

    def peel(side: int) -> int:
        """Constant lines (of the padding's value) peeled from one side, read in blocks."""
        top, bottom, left, right = edges
        count, block = 0, 8
        if min(bottom - top, right - left) <= 1:  # one line left: each line across it is one pixel
            return 0
        while True:
            room = (bottom - top if side < 2 else right - left) - count - 1  # keep one line
            if room <= 0:
                return count
            n = min(block, room)
            if side == 0:
                lines = data[top + count:top + count + n, left:right]
            elif side == 1:
                lines = data[bottom - count - n:bottom - count, left:right][::-1]
            elif side == 2:
                lines = data[top:bottom, left + count:left + count + n].T
            else:
                lines = data[top:bottom, right - count - n:right - count].T[::-1]
            lines = np.asarray(lines.compute() if hasattr(lines, "compute") else lines)
            low, high = lines.min(axis=1), lines.max(axis=1)
            if not pad and low[0] == high[0]:
                pad.append(low[0])
            flat = (low == high) & (low == pad[0]) if pad else np.zeros(n, bool)
            run = n if flat.all() else int(np.argmin(flat))
            count += run
            if run < n:
                return count
            block *= 2

    changed = True
    while changed:
        changed = False
        for side in range(4):
            n = peel(side)
            if n:
                edges[side] += n if side in (0, 2) else -n
                changed = True
    top, bottom, left, right = edges
    return slice(top, bottom), slice(left, right)


def stack_content_box(stack: Any, /) -> tuple[slice, slice] | None:
    """The (Y, X) slices of the smallest box holding :func:`content_box` of every plane of a stack.

    ``stack`` is an array or DataArray whose last two axes are (Y, X); every plane over the
    leading axes (frames, channels, Z) is read in turn (a lazy stack stays lazy plane by plane).
    A blank plane (one value in every pixel: a dropped frame, an empty channel) has no box of its
    own and is left out, so one blank frame does not make a padded movie whole. None when every
    plane is blank.
    """
    data = stack.data if type(stack).__name__ == "DataArray" else stack
    lead = tuple(int(n) for n in data.shape[:-2])
    edges: list[int] | None = None
    for index in np.ndindex(*lead):
        ys, xs = content_box(data[index] if index else data)
        if ys.stop - ys.start <= 1 or xs.stop - xs.start <= 1:  # blank: every line but one peeled
            continue
        box = [ys.start, ys.stop, xs.start, xs.stop]
        edges = box if edges is None else [min(edges[0], box[0]), max(edges[1], box[1]),
                                           min(edges[2], box[2]), max(edges[3], box[3])]
    if edges is None:
        return None
    return slice(edges[0], edges[1]), slice(edges[2], edges[3])
