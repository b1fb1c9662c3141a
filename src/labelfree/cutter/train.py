"""Training loop of the Cutter network, and patch prediction with a trained model.

One optimisation step = one training area (every patch whose corner falls in a
random ``area_size`` square of one randomly chosen frame), one random flip /
transpose applied to all its patches and undone on the network output, the
Cutter loss, one Adam step (eps 1e-7 as in Keras). Training ends after ``n_steps``
or, with ``stop_at_plateau``, once the running-mean loss stops falling.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Sequence

import numpy as np

from labelfree._deps import require
from labelfree._progress import Progress
from labelfree.cutter.config import CutterConfig, loss_parameters
from labelfree.cutter.dataset import PatchSet, augment_patches, sample_area
from labelfree.cutter.loss import cutter_loss
from labelfree.cutter.model_io import CutterModel, resolve_device
from labelfree.cutter.scale import default_area_size
from labelfree.cutter.unet import build_unet
from labelfree.errors import ConfigError, InputError

__all__ = ["CutterModel", "resolve_device", "train_cutter", "predict_patches", "plateau_step", "PlateauDetector"]

log = logging.getLogger(__name__)


def train_cutter(
    patch_sets: Sequence[PatchSet],
    /,
    *,
    config: CutterConfig | None = None,
    progress: Any = False,
    device: str = "cpu",
) -> CutterModel:
    """Train a Cutter UNet on the marker patches of one or more frames.

    Parameters
    ----------
    patch_sets : sequence of PatchSet
        One per training frame (see :func:`labelfree.cutter.dataset.build_patch_set`);
        all must have the same number of channels and patch size.
    config : CutterConfig, optional
        ``n_steps`` (at most), ``width``, ``area_size``, loss preset / overrides,
        ``augment``, ``seed``; ``stop_at_plateau`` ends training once
        the loss plateaus (:class:`PlateauDetector`), keeping the weights of that step.
    progress : bool or tqdm-like or callable
        Progress sink; cancelling raises :class:`labelfree.errors.Cancelled`.
    device : {"cpu", "auto", "cuda", "cuda:N"}
        Where the network trains (see :func:`labelfree.cutter.model_io.resolve_device`).

    Returns
    -------
    CutterModel
    """
    torch = require("torch", purpose="the Cutter network")
    cfg = CutterConfig.coerce(config)
    if not patch_sets:
        raise InputError("train_cutter needs at least one frame with markers.")
    n_channels = {ps.image.shape[0] for ps in patch_sets}
    if len(n_channels) != 1:
        raise InputError(f"All training frames need the same number of channels; got {sorted(n_channels)}.")
    n_channels = n_channels.pop()
    device = resolve_device(device)
    params = loss_parameters(cfg)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    fmt = torch.channels_last  # ~10 % faster steps on CPU (benchmarks/cutter_speed.py profile)
    try:
        net = build_unet(n_channels + 1, width=cfg.width).to(device, memory_format=fmt)
    except (MemoryError, RuntimeError) as exc:  # torch reports a failed allocation as a RuntimeError
        if not isinstance(exc, MemoryError) and "memory" not in str(exc).lower():
            raise
        raise ConfigError(
            f"width {cfg.width}: the network's weights do not fit in the memory of {device} (its deepest layers "
            f"have {8 * cfg.width} channels). Use a smaller width (16 by default, 32 in the paper)."
        ) from None

    optim = torch.optim.Adam(net.parameters(), lr=params["lr"], eps=1e-7)
    model = CutterModel(net, cfg, n_channels)
    backgrounds = [torch.from_numpy(ps.background).to(device) for ps in patch_sets]
    n_codes = 8 if cfg.augment_transpose else 4
    plateau = PlateauDetector(window=cfg.plateau_window, tol=cfg.plateau_tol)
    area_size = default_area_size(cfg.crop_size) if cfg.area_size is None else int(cfg.area_size)  # None: see segment()
    start = time.perf_counter()
    lonely = 0
    net.train()
    with Progress(progress, total=cfg.n_steps, desc="Cutter training") as bar:
        for step in range(cfg.n_steps):
            k = int(rng.integers(len(patch_sets)))
            ps = patch_sets[k]
            index, corners, window = sample_area(ps, rng, area_size=area_size)
            code = int(rng.integers(n_codes)) if cfg.augment else 0
            if len(index) == 0:
                bar.update(message="empty area")
                continue
            if len(index) == 1 and ps.crop <= 16:  # its deepest level is one pixel: batch norm cannot learn from it
                lonely += 1
                bar.update(message="area of one 16-px patch")
                continue
            x = augment_patches(torch.from_numpy(ps.patches(index)).to(device), code).contiguous(memory_format=fmt)
            logits = augment_patches(net(x)[:, 0], code, inverse=True)
            loss = cutter_loss(
                logits,
                torch.from_numpy(corners).to(device),
                backgrounds[k][window],
                lam=params["lam"],
                beta=params["beta"],
                beta_in_lambda=params["beta_in_lambda"],
            )
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            value = float(loss.detach())
            model.history.append((time.perf_counter() - start, value))
            bar.update(message=f"loss {value:.1f}")
            if cfg.stop_at_plateau and plateau.update(value):
                log.info("Cutter loss plateau at step %d; training stopped", step)
                break
    if lonely and not model.history:
        raise ConfigError(
            f"No training step could be made: every training area held one patch, and a {cfg.crop_size}-px patch is "
            "too small to train on alone. Use crop_size 32 or more (or a larger area_size)."
        )
    log.info("Cutter trained %d steps in %.1f s", len(model.history), time.perf_counter() - start)
    net.eval()
    return model


def predict_patches(model: CutterModel, patch_set: PatchSet, /, *, batch_size: int = 64) -> np.ndarray:
    """Cell probability of every patch of ``patch_set`` (float32, shape (N, crop, crop))."""
    torch = require("torch", purpose="the Cutter network")
    if patch_set.image.shape[0] != model.n_channels:
        raise InputError(
            f"The model was trained on {model.n_channels} image channel(s) but the image has "
            f"{patch_set.image.shape[0]}; choose the same cell channels as for training."
        )
    device = next(model.net.parameters()).device
    model.net.eval()
    out = []
    with torch.no_grad():
        for lo in range(0, len(patch_set.corners), batch_size):
            x = torch.from_numpy(patch_set.patches(np.arange(lo, min(lo + batch_size, len(patch_set.corners)))))
            out.append(torch.sigmoid(model.net(x.to(device))[:, 0]).cpu().numpy())
    if not out:
        return np.zeros((0, patch_set.crop, patch_set.crop), np.float32)
    return np.concatenate(out).astype(np.float32, copy=False)


class PlateauDetector:
    """Online form of :func:`plateau_step`: ``update(loss)`` returns True once the loss plateaus.

    Checked every ``window // 5`` steps (cheap); the answer agrees with
    :func:`plateau_step` on the losses seen so far.
    """

    def __init__(self, *, window: int = 25, tol: float = 0.01) -> None:
        self.window, self.tol = int(window), float(tol)
        self.losses: list[float] = []

    def update(self, value: float) -> bool:
        self.losses.append(float(value))
        if len(self.losses) % max(1, self.window // 5):
            return False
        return plateau_step(self.losses, window=self.window, tol=self.tol) is not None


def plateau_step(losses: Sequence[float], /, *, window: int = 25, tol: float = 0.01) -> int | None:
    """First step after which the loss stops improving.

    The loss is smoothed by a running mean over ``window`` steps; the plateau is the
    first step ``s`` where the smoothed loss at ``s + window`` is not lower than at
    ``s`` by more than ``tol`` times the total drop so far. ``None`` if never reached.
    """
    x = np.asarray(losses, dtype=np.float64)
    if len(x) < 3 * window:
        return None
    smooth = np.convolve(x, np.ones(window) / window, mode="valid")
    total = smooth[0] - smooth.min()
    if total <= 0:  # never improved: no plateau to speak of (diverging or flat from the start)
        return None
    for s in range(len(smooth) - window):
        if smooth[s] - smooth[s + window] <= tol * total:
            return s + window - 1
    return None
