"""Run cellpose networks for their flows, average flows across channels, integrate once.

Flow Averaging (Zyss et al.): for each chosen channel ``c`` run its model with
``compute_masks=False`` at one common diameter, so every flow field is on the same pixel
grid; average the flow fields ``dP`` (2, Y, X) and the cell-probability maps; run
cellpose's flow integration (``cellpose.dynamics.resize_and_compute_masks``) once.

Cell probability comes out of the network as a **logit**. ``space="logits"`` (default)
averages the logits; ``space="probabilities"`` averages ``sigmoid(logit)`` and converts the
mean back to a logit, so that ``cellprob_threshold`` keeps its meaning (0 = p 0.5). The two
differ when channels disagree strongly: one very confident channel dominates a logit mean,
while the probability mean is bounded by 1/k per channel.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Sequence

import cv2
import numpy as np

from labelfree._deps import require
from labelfree.errors import InputError

__all__ = ["network_zoom", "zoomed_bytes",
           "run_network", "predict_flows", "flow_average", "integrate_flows", "default_niter", "common_diameter",
           "batch_for", "pass_bytes", "GPU_BATCH", "TILE"]

log = logging.getLogger(__name__)

#: tiles in one pass of a network on a GPU when ``batch_size`` is 0 (automatic): cellpose's own batch
GPU_BATCH = 8
#: the side of a network's tiles (px at the network's scale), cellpose's
TILE = 224


def batch_for(device: Any, batch_size: int = 0, /) -> int:
    """The tiles in one pass of a network on ``device`` (a torch device, or its name): ``batch_size``, or where it
    is 0 (automatic) :data:`GPU_BATCH` on a GPU and 1 on the CPU, where one tile at a time is the faster (a network
    of cellpose's widths on 2 threads: 5.2 s against 7.4 s for a 1024 px plane in batches of 8) and takes less than a
    quarter of the memory (178 against 782 MiB; ``benchmarks/fusion_batch.py``, docs/benchmarks.md "Fusion's
    networks one tile at a time on the CPU"). The outputs differ from a batch of 8's by float rounding (2e-7).

    Examples
    --------
    >>> batch_for("cpu"), batch_for("cuda:0"), batch_for("cpu", 4)
    (1, 8, 4)
    """
    if batch_size and int(batch_size) > 0:
        return int(batch_size)
    return GPU_BATCH if str(device).startswith("cuda") else 1


def pass_bytes(model: Any, batch_size: int = 0, /, *, plane: tuple[int, int] | None = None) -> int:
    """The memory (bytes) the pass of ``model``'s network over one batch of tiles takes on the CPU
    (:func:`batch_for`; a plane of ``plane`` (Y, X) px whose tiles are fewer fills no larger batch): 12 MiB and
    5.3 times its feature maps' bytes (each level's width over its share of a 224 px tile, 4 bytes a value) a
    tile, and a copy of its weights. Measured with one thread on networks of widths 8-64 to 48-384 in batches of
    1, 2, 4 and 8 tiles, drawn below each (``benchmarks/fusion_batch.py``); 0 on a GPU, whose
    pass is in the GPU's memory.

    Examples
    --------
    >>> from labelfree.fusion.models import new_model
    >>> round(pass_bytes(new_model(nbase=(32, 64, 128, 256), device="cpu")) / 2**20)  # cellpose's widths
    98
    """
    if str(model.device).startswith("cuda"):
        return 0
    batch = batch_for(model.device, batch_size)
    if plane is not None:  # cellpose's tiles of a plane (at the network's scale 1: a smaller image has fewer)
        ny, nx = (1 if n <= TILE else -(-int(1.2 * n) // TILE) for n in plane)
        batch = min(batch, ny * nx)
    widths = list(model.nbase)[1:]
    maps = sum(w * (TILE >> level) ** 2 * 4 for level, w in enumerate(widths))
    weights = sum(int(p.numel()) * p.element_size() for p in model.net.parameters())
    return int(batch * (12 * 2**20 + 5.3 * maps) + weights)


#: the least seen work of the networks on a plane they see enlarged (:func:`network_zoom` above 1): a part that does
#: not grow with the plane, and bytes a pixel of the enlarged plane (its tiles, their outputs and the flows averaged
#: from them, all at the networks' scale), drawn below the demo's network at zooms 2, 3 and 4 on 512 and 1024 px
#: planes and 2 on 2048 px (106-1104 MiB; ``benchmarks/plane_memory.py --rss-zoom``, docs/benchmarks.md)
ZOOM_FIXED, ZOOM_BYTES = 24 * 2**20, 52.0


def network_zoom(models: Sequence[Any], diameter: float, /) -> float:
    """How much the networks enlarge a plane whose objects are ``diameter`` px across, per side: the largest
    ``diam_mean / diameter`` of ``models`` (the channels run one after the other); 1 where none is known."""
    if not models or not diameter or diameter <= 0:
        return 1.0
    return max(float(m.diam_mean) / float(diameter) for m in models)


def zoomed_bytes(pixels: int, zoom: float, /) -> int:
    """The least work (bytes) of a network run over a plane of ``pixels`` that it sees enlarged ``zoom`` x ``zoom``
    (:data:`ZOOM_FIXED` and :data:`ZOOM_BYTES` a pixel of the enlarged plane); 0 at a zoom of 1 or less, whose
    work Fusion's spec counts.

    Examples
    --------
    >>> round(zoomed_bytes(1024 * 1024, 2.0) / 2**20)  # objects of 15 px, a network trained at 30 px
    232
    """
    if zoom <= 1:
        return 0
    return int(ZOOM_FIXED + ZOOM_BYTES * zoom * zoom * int(pixels))


def common_diameter(models: Sequence[Any], /, *, diameter: float = 0.0) -> float:
    """The diameter (pixels) every model runs at: ``diameter`` or the models' mean training diameter."""
    if diameter and diameter > 0:
        return float(diameter)
    return float(np.mean([float(m.diam_labels) for m in models]))


def default_niter(models: Sequence[Any], /, *, diameter: float) -> int:
    """cellpose's rule: 200 steps at the network's own scale, scaled to the image's pixels."""
    diam_mean = float(np.mean([float(m.diam_mean) for m in models]))
    return max(1, int(round(200 * diameter / diam_mean)))


def run_network(model: Any, image: np.ndarray, /, *, rescale: float = 1.0, batch_size: int = 0,
                tile: int = TILE) -> np.ndarray:
    """Network output on one normalised 2-D image, tiled like cellpose, on the image grid.

    Parameters
    ----------
    model : CellposeNet
    image : (Y, X) float array, already normalised
    rescale : float
        Zoom applied before the network (``diam_mean / diameter``); the output is
        resampled back to (Y, X).
    batch_size : int
        Tiles per forward pass; 0: :func:`batch_for` (8 on a GPU, 1 on the CPU).
    tile : int
        Tile side (pixels at network scale); tiles overlap by 10 % and are blended with
        cellpose's taper (``cellpose.transforms.make_tiles`` / ``average_tiles``).

    Returns
    -------
    (3, Y, X) float32: dY, dX (x5) and the cell-probability logit.
    """
    torch = require("torch", purpose="running cellpose networks")
    transforms = require("cellpose.transforms", purpose="running cellpose networks")
    ly0, lx0 = image.shape
    ly, lx = max(1, int(ly0 * rescale)), max(1, int(lx0 * rescale))
    img = cv2.resize(image, (lx, ly), interpolation=cv2.INTER_LINEAR) if (ly, lx) != (ly0, lx0) else image
    y1, y2, x1, x2 = transforms.get_pad_yx(ly, lx)
    x = np.zeros((2, ly + y1 + y2, lx + x1 + x2), np.float32)
    x[0, y1:y1 + ly, x1:x1 + lx] = img
    tiles, ysub, xsub, lyt, lxt = transforms.make_tiles(x, bsize=tile, augment=False, tile_overlap=0.1)
    ny, nx, nchan, tly, tlx = tiles.shape
    tiles = tiles.reshape(ny * nx, nchan, tly, tlx)
    out = np.zeros((ny * nx, 3, tly, tlx), np.float32)
    net = model.net
    net.eval()
    batch_size = batch_for(model.device, batch_size)
    with torch.no_grad():
        for k in range(0, len(tiles), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(tiles[k:k + batch_size])).to(model.device)
            out[k:k + batch_size] = net(batch)[0].float().cpu().numpy()
    y = transforms.average_tiles(out, ysub, xsub, lyt, lxt)[:, y1:y1 + ly, x1:x1 + lx]
    if (ly, lx) != (ly0, lx0):
        y = np.stack([cv2.resize(c, (lx0, ly0), interpolation=cv2.INTER_LINEAR) for c in y])
    return np.ascontiguousarray(y, np.float32)


def predict_flows(model: Any, image: np.ndarray, /, *, diameter: float,
                  batch_size: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Flows and cell-probability logit of one model on one 2-D channel (``compute_masks=False``).

    Parameters
    ----------
    model : CellposeNet
    image : (Y, X) array
        One fluorescence channel (any intensity unit; normalised 1-99 percentile inside).
    diameter : float
        Object diameter in pixels of ``image``; the image is rescaled by
        ``model.diam_mean / diameter`` for the network and the outputs resampled back.
    batch_size : int
        Tiles per network batch; 0: :func:`batch_for` (8 on a GPU, 1 on the CPU).

    Returns
    -------
    dP : (2, Y, X) float32
        Flow field (Y, X components, x5 as cellpose scales it).
    cellprob : (Y, X) float32
        Cell-probability logit.
    """
    from labelfree.fusion.training import normalize_image

    img = np.asarray(image)
    if img.ndim != 2:
        raise InputError(f"predict_flows takes one (Y, X) channel; got shape {img.shape}.")
    if not diameter or diameter <= 0:
        raise InputError(f"diameter must be a positive number of pixels; got {diameter}.")
    y = run_network(model, normalize_image(img), rescale=float(model.diam_mean) / float(diameter),
                    batch_size=batch_size)
    return y[:2], y[2]


def flow_average(
    flows: Sequence[tuple[np.ndarray, np.ndarray]], /, *, space: str = "logits"
) -> tuple[np.ndarray, np.ndarray]:
    """Average flow fields and cell-probability maps of several channels.

    Parameters
    ----------
    flows : sequence of (dP (2, Y, X), cellprob (Y, X)) pairs on the same pixel grid
    space : {"logits", "probabilities"}
        Average cell probability as logits, or as sigmoid probabilities (returned as the
        logit of the mean probability).

    Returns
    -------
    dP : (2, Y, X) float32, cellprob : (Y, X) float32 logit
    """
    if not flows:
        raise InputError("flow_average needs the flows of at least one channel.")
    shapes = {(tuple(d.shape), tuple(c.shape)) for d, c in flows}
    if len(shapes) != 1:
        raise InputError(f"Flows of different shapes cannot be averaged: {sorted(shapes)}; run every "
                         "channel at the same diameter.")
    dP = np.mean([np.asarray(d, np.float32) for d, _ in flows], axis=0)
    logits = np.stack([np.asarray(c, np.float32) for _, c in flows])
    if space == "logits":
        cellprob = logits.mean(axis=0)
    elif space == "probabilities":
        prob = np.mean(1.0 / (1.0 + np.exp(-np.clip(logits, -50, 50))), axis=0)
        prob = np.clip(prob, 1e-7, 1 - 1e-7)
        cellprob = np.log(prob / (1 - prob))
    else:
        raise InputError(f"space must be 'logits' or 'probabilities'; got {space!r}.")
    return dP.astype(np.float32), cellprob.astype(np.float32)


def integrate_flows(
    dP: np.ndarray,
    cellprob: np.ndarray,
    /,
    *,
    niter: int = 200,
    cellprob_threshold: float = 0.0,
    flow_threshold: float = 0.4,
    min_size: int = 15,
    device: Any = None,
) -> np.ndarray:
    """Cellpose's flow integration: follow dP from pixels with cellprob > threshold, cluster.

    Parameters
    ----------
    dP : (2, Y, X) float array
        Flow field as the network outputs it (x5).
    cellprob : (Y, X) float array
        Cell-probability logit.
    niter : int
        Integration steps (about 200 x diameter / 30 for pixel-size objects of that diameter).
    cellprob_threshold, flow_threshold, min_size
        As in cellpose: logit threshold, flow-error threshold (0 = keep all), smallest object (pixels).
    device : torch.device, optional

    Returns
    -------
    labels : (Y, X) uint16 instance labels, 0 = background
    """
    torch = require("torch", purpose="flow integration")
    dynamics = require("cellpose.dynamics", purpose="flow integration")
    dP = np.ascontiguousarray(dP, np.float32)
    cellprob = np.ascontiguousarray(cellprob, np.float32)
    if dP.shape != (2, *cellprob.shape):
        raise InputError(f"dP must have shape (2, Y, X) = {(2, *cellprob.shape)}; got {dP.shape}.")
    with warnings.catch_warnings():
        # torch's note that cellpose builds a sparse tensor without invariant checks: not ours to act on
        warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled",
                                category=UserWarning)
        labels = dynamics.resize_and_compute_masks(
            dP, cellprob, niter=int(niter), cellprob_threshold=float(cellprob_threshold),
            flow_threshold=float(flow_threshold), interp=True, min_size=int(min_size),
            max_size_fraction=0.4, device=device if device is not None else torch.device("cpu"),
        )
    return np.asarray(labels).astype(np.uint16, copy=False)
