"""Reader for the Cell Tracking Challenge folder layout.

``<dataset>/<seq>/tNNN.tif`` (frames), ``<seq>_GT/SEG/man_segNNN.tif`` (instance masks
of annotated frames; ``man_seg_NNN_ZZZ.tif`` for single annotated slices of 3-D data),
``<seq>_GT/TRA/man_trackNNN.tif`` (one marker per cell, label = track id) and
``<seq>_GT/TRA/man_track.txt`` (``id start end parent``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pandas as pd
import xarray as xr

from labelfree.errors import InputError
from labelfree.image import to_dataarray
from labelfree.io.sequence import stack_frames

__all__ = ["read_ctc", "read_tra_markers", "seg_frame", "CTCDataset", "LazyFrames"]

_FRAME = re.compile(r"^t(\d+)\.tiff?$")
#: man_segTTT.tif (a whole frame); man_seg_TTT_ZZZ.tif (slice ZZZ of 3-D frame TTT, the CTC name) or man_segTTT_ZZZ.tif
_SEG = re.compile(r"^man_seg(?:(\d+)|_?(\d+)_(\d+))\.tiff?$")
_TRA = re.compile(r"^man_track(\d+)\.tiff?$")


def _read_plane(path: Path) -> np.ndarray:
    import tifffile

    try:
        return tifffile.imread(path)
    except Exception as exc:  # codec / corrupt-file errors vary
        raise InputError(f"Cannot read {path} ({type(exc).__name__}: {exc}).") from exc


def seg_frame(name: str, /) -> int | None:
    """The frame of a whole-frame SEG file name (``man_seg012.tif`` -> 12); None for any other name
    (an annotated slice ``man_seg_012_034.tif`` included)."""
    m = _SEG.match(name)
    return int(m.group(1)) if m and m.group(1) is not None else None


def _index(folder: Path, pattern: re.Pattern[str]) -> dict[Any, Path]:
    if not folder.is_dir():
        return {}
    found: dict[Any, Path] = {}
    for entry in os.scandir(folder):
        m = pattern.match(entry.name)
        if m:
            groups = [int(g) for g in m.groups() if g is not None]
            found[groups[0] if len(groups) == 1 else tuple(groups)] = Path(entry.path)
    return dict(sorted(found.items(), key=lambda kv: kv[0] if isinstance(kv[0], tuple) else (kv[0],)))


class LazyFrames(Mapping):
    """Read-only mapping key -> label array, each file read on first access and cached."""

    def __init__(self, files: Mapping[Any, Path]) -> None:
        self._files = dict(files)
        self._cache: dict[Any, np.ndarray] = {}

    def __getitem__(self, key: Any) -> np.ndarray:
        if key not in self._files:
            raise KeyError(f"{key!r} is not annotated; annotated keys: {list(self._files)[:20]}")
        if key not in self._cache:
            self._cache[key] = _read_plane(self._files[key])
        return self._cache[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)

    def path(self, key: Any) -> Path:
        """File behind ``key``."""
        return self._files[key]


class CTCDataset:
    """One sequence of a Cell Tracking Challenge dataset (see :func:`read_ctc`).

    Attributes
    ----------
    frames : list of int
        Frame indices of the sequence (all, or those requested).
    seg : LazyFrames
        Frame (or ``(frame, z)`` for annotated slices of 3-D data) -> instance labels.
    tra : LazyFrames
        Frame -> tracking markers (label = track id).
    seg_frames : list of int
        Sorted frames with a segmentation annotation.
    """

    def __init__(self, root: Path, sequence: str, frames: Iterable[int] | None) -> None:
        self.root, self.sequence = root, sequence
        self._frame_files = _index(root / sequence, _FRAME)
        if not self._frame_files:
            raise InputError(f"No frames tNNN.tif in {root / sequence}; expected the CTC layout <dataset>/<seq>/t000.tif.")
        available = list(self._frame_files)
        if frames is None:
            self.frames = available
        else:
            self.frames = [int(f) for f in frames]
            missing = [f for f in self.frames if f not in self._frame_files]
            if missing:
                raise InputError(f"Frames {missing[:10]} are not in {root / sequence} (it has frames {available[0]}..{available[-1]}).")
        wanted = set(self.frames)
        gt = root / f"{sequence}_GT"
        seg = {k: p for k, p in _index(gt / "SEG", _SEG).items() if (k[0] if isinstance(k, tuple) else k) in wanted}
        tra = {k: p for k, p in _index(gt / "TRA", _TRA).items() if k in wanted}
        self.seg, self.tra = LazyFrames(seg), LazyFrames(tra)
        self.seg_frames = sorted({k[0] if isinstance(k, tuple) else k for k in seg})
        self._lineage_path = gt / "TRA" / "man_track.txt"
        self._movie: xr.DataArray | None = None

    def __repr__(self) -> str:
        return (f"CTCDataset({self.root.name}/{self.sequence}: {len(self.frames)} frames, "
                f"{len(self.seg_frames)} SEG-annotated, {len(self.tra)} TRA)")

    def frame(self, index: int, /) -> np.ndarray:
        """One frame as a numpy array (read from disk, not cached)."""
        if index not in self._frame_files:
            raise InputError(f"Frame {index} is not in {self.root / self.sequence}.")
        return _read_plane(self._frame_files[index])

    @property
    def movie(self) -> xr.DataArray:
        """The frames stacked as a TYX (or TZYX) DataArray; read on first access, then cached.

        The T coordinate holds the frame indices (unit ``frame``).
        """
        if self._movie is None:
            # frames of another size or pixel type: an InputError naming the file (labelfree.io.sequence)
            stack = stack_frames([self._frame_files[f] for f in self.frames], _read_plane)
            dims = "TYX" if stack.ndim == 3 else "TZYX"
            da = to_dataarray(stack, dims=dims, attrs={"source": str(self.root / self.sequence)})
            da = da.assign_coords(T=xr.Variable("T", np.asarray(self.frames, np.float64), attrs=dict(da.coords["T"].attrs)))
            self._movie = da
        return self._movie

    def seg_labels(self) -> xr.DataArray:
        """The annotated frames' instance masks as a TYX DataArray (T coords = frame indices)."""
        keys = [k for k in self.seg if not isinstance(k, tuple)]
        if not keys:
            raise InputError(f"{self.root.name}/{self.sequence} has no whole-frame SEG annotations.")
        stack = np.stack([self.seg[k] for k in keys])
        da = to_dataarray(stack, dims="TYX" if stack.ndim == 3 else "TZYX")
        return da.assign_coords(T=xr.Variable("T", np.asarray(keys, np.float64), attrs=dict(da.coords["T"].attrs)))

    @property
    def lineage(self) -> pd.DataFrame:
        """Track table from ``man_track.txt``: columns id, start, end, parent (0 = none)."""
        cols = ["id", "start", "end", "parent"]
        if not self._lineage_path.is_file():
            return pd.DataFrame({c: pd.Series(dtype=np.int64) for c in cols})
        try:
            table = pd.read_csv(self._lineage_path, sep=r"\s+", header=None, names=cols, dtype=np.int64)
        except (ValueError, pd.errors.ParserError) as exc:
            raise InputError(f"{self._lineage_path} is not a CTC track file (id start end parent): {exc}") from exc
        return table


def read_ctc(
    dataset_dir: str | os.PathLike[str],
    /,
    *,
    sequence: str = "01",
    frames: Iterable[int] | None = None,
) -> CTCDataset:
    """Open one sequence of a Cell Tracking Challenge dataset.

    Parameters
    ----------
    dataset_dir : str or path-like
        The dataset folder, e.g. ``.../Fluo-C2DL-MSC`` (holding ``01/``, ``01_GT/``).
    sequence : str
        Sequence name (``"01"``, ``"02"``).
    frames : iterable of int, optional
        Restrict to these frame indices (default all).

    Returns
    -------
    CTCDataset
        ``.movie`` (TYX DataArray, stacked on first access), ``.frame(i)``, ``.seg`` and
        ``.tra`` (frame -> labels, read lazily), ``.seg_frames``, ``.lineage``.

    Examples
    --------
    >>> ds = read_ctc("../shared/data/ctc/Fluo-C2DL-MSC")  # doctest: +SKIP
    >>> ds.seg_frames[:3], ds.movie.shape  # doctest: +SKIP
    ([5, 7, 9], (48, 832, 992))
    """
    root = Path(dataset_dir)
    if not root.is_dir():
        raise InputError(f"CTC dataset folder {root} does not exist; give the folder holding '{sequence}/'.")
    if not (root / sequence).is_dir():
        seqs = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.endswith("_GT"))
        raise InputError(f"{root} has no sequence {sequence!r}; sequences found: {seqs or 'none'}.")
    return CTCDataset(root, sequence, frames)


def read_tra_markers(folder: str | os.PathLike[str], /, *, shape: tuple[int, ...]) -> np.ndarray:
    """The markers of a CTC ``TRA`` folder (``man_trackNNN.tif``, one per frame) as a (T, Y, X) label stack.

    Parameters
    ----------
    folder : str or path-like
        The ``<seq>_GT/TRA`` folder.
    shape : tuple of int
        (T, Y, X) of the movie the markers belong to (or (Y, X) for one frame): one file per frame of
        the movie, frames ``0 .. T - 1``, each of its Y, X size.

    Returns
    -------
    ndarray
        The markers, label = track id (ids kept, so Cutter's cells keep the track ids).
    """
    folder = Path(folder)
    files = _index(folder, _TRA)
    if not files:
        raise InputError(f"{folder} holds no CTC marker files man_trackNNN.tif; give the <seq>_GT/TRA folder of "
                         "the movie, a label .tif, a points .csv or a ROI .zip.")
    n_t = shape[0] if len(shape) == 3 else 1
    frames = list(files)
    if frames != list(range(n_t)):
        raise InputError(
            f"{folder} holds man_track files for frames {frames[0]}..{frames[-1]} ({len(frames)} file(s)), but the "
            f"image has {n_t} frame(s) (0..{n_t - 1}). Give the TRA folder of this movie (every frame from t000), "
            "or the movie the folder belongs to."
        )
    planes = [_read_plane(files[f]) for f in frames]
    wrong = next((f for f, p in zip(frames, planes) if p.shape != tuple(shape[-2:])), None)
    if wrong is not None:
        raise InputError(f"{files[wrong]} is {planes[frames.index(wrong)].shape} (Y, X), but the image is "
                         f"{tuple(shape[-2:])}: the markers belong to another (or uncropped) movie.")
    return np.stack(planes).reshape(shape)
