"""The training loop on a cellpose network, with on-the-fly augmentation and early stopping.

cellpose's ``train_seg`` has no augmentation hook and no early stopping, so LabelFree trains
``model.net`` itself with cellpose's loss: ``MSE(flows_pred, 5 * flows_true) / 2 +
BCEWithLogits(cellprob_logit, label > 0)``, flows from ``cellpose.dynamics.masks_to_flows``
computed on each augmented crop. Every epoch ends with the loss on fixed validation crops;
the weights with the lowest validation loss are kept, and training stops after ``patience``
epochs without improvement.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
from typing import Any, Sequence

import cv2
import numpy as np

from labelfree._deps import require
from labelfree._progress import Progress
from labelfree.errors import InputError
from labelfree.fusion.augment import augment_sample, random_crop
from labelfree.fusion.config import FinetuneConfig

__all__ = ["TrainingHistory", "normalize_image", "mean_diameter", "train_network"]

log = logging.getLogger(__name__)


@dataclasses.dataclass
class TrainingHistory:
    """What happened during training (losses per epoch, best epoch, timing)."""

    train_losses: list[float]
    val_losses: list[float]
    best_epoch: int
    epochs_run: int
    seconds_per_epoch: float
    stopped_early: bool


def normalize_image(image: np.ndarray, /) -> np.ndarray:
    """Cellpose's per-image normalisation: 1st percentile -> 0, 99th -> 1 (float32)."""
    img = np.asarray(image, np.float32)
    lo, hi = np.percentile(img, [1, 99])
    if hi <= lo:
        hi = lo + 1.0 if img.max() <= lo else float(img.max())
    return (img - lo) / (hi - lo)


def mean_diameter(labels: Sequence[np.ndarray], /) -> float:
    """Mean equivalent-circle diameter (pixels) of the objects of all label images."""
    areas = []
    for lab in labels:
        ids, counts = np.unique(np.asarray(lab), return_counts=True)
        areas.extend(counts[ids > 0].tolist())
    if not areas:
        raise InputError("The training labels contain no objects; give label images with cells in them.")
    return float(np.mean(2.0 * np.sqrt(np.asarray(areas) / np.pi)))


def _flows(labels: np.ndarray, device: Any) -> np.ndarray:
    """(3, Y, X) targets: cell mask, Y flow, X flow of one label crop."""
    dynamics = require("cellpose.dynamics", purpose="training cellpose networks")
    from skimage.segmentation import relabel_sequential

    lab = relabel_sequential(np.asarray(labels, np.int32))[0]
    out = np.zeros((3, *lab.shape), np.float32)
    out[0] = lab > 0
    if lab.max() > 0:
        out[1:] = dynamics.masks_to_flows(lab, device=device)
    return out


def _stack(pairs: list[tuple[np.ndarray, np.ndarray]], device: Any) -> tuple[Any, Any]:
    torch = require("torch")
    x = np.zeros((len(pairs), 2, *pairs[0][0].shape), np.float32)
    y = np.zeros((len(pairs), 3, *pairs[0][0].shape), np.float32)
    for i, (img, lab) in enumerate(pairs):
        x[i, 0] = img
        y[i] = _flows(lab, device)
    return torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)


def _loss(net: Any, x: Any, y: Any) -> Any:
    torch = require("torch")
    out = net(x)[0]
    flow_loss = torch.nn.functional.mse_loss(out[:, :2], 5.0 * y[:, 1:]) / 2.0
    prob_loss = torch.nn.functional.binary_cross_entropy_with_logits(out[:, 2], (y[:, 0] > 0.5).float())
    return flow_loss + prob_loss


def _validation_tiles(images: list[np.ndarray], labels: list[np.ndarray], scale: float, size: int):
    """Fixed, non-augmented crops covering the validation images at training scale."""
    pairs = []
    for img, lab in zip(images, labels):
        ly, lx = max(1, round(img.shape[0] * scale)), max(1, round(img.shape[1] * scale))
        img = cv2.resize(img, (lx, ly), interpolation=cv2.INTER_LINEAR)
        lab = cv2.resize(lab.astype(np.float32), (lx, ly), interpolation=cv2.INTER_NEAREST).astype(np.int32)
        for y0 in range(0, max(1, ly - size // 2), size):
            for x0 in range(0, max(1, lx - size // 2), size):
                ti, tl = img[y0:y0 + size, x0:x0 + size], lab[y0:y0 + size, x0:x0 + size]
                pad = ((0, size - ti.shape[0]), (0, size - ti.shape[1]))
                pairs.append((np.pad(ti, pad), np.pad(tl, pad)))
    return pairs


def _make_optimizer(net: Any, cfg: FinetuneConfig) -> Any:
    torch = require("torch")
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(net.parameters(), lr=cfg.learning_rate, momentum=0.9, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)


def train_network(
    model: Any,
    train: tuple[list[np.ndarray], list[np.ndarray]],
    /,
    *,
    validation: tuple[list[np.ndarray], list[np.ndarray]] | None,
    config: FinetuneConfig,
    progress: Any = False,
) -> TrainingHistory:
    """Train ``model.net`` in place on normalised 2-D images and their instance labels.

    Parameters
    ----------
    model : cellpose.models.CellposeModel
        Its ``net`` is trained; ``diam_labels`` is set to the training objects' mean diameter.
    train : (images, labels)
        Lists of (Y, X) images (already normalised) and (Y, X) instance labels.
    validation : (images, labels) or None
        Held-out pairs for early stopping; None stops on the training loss.
    config : FinetuneConfig
    progress : bool, tqdm-like or callable
    """
    torch = require("torch", purpose="training cellpose networks")
    images, labels = train
    cfg = config
    net, device = model.net, model.device
    diameter = mean_diameter(labels)
    scale = float(model.diam_mean) / diameter
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    val_pairs = _validation_tiles(*validation, scale, cfg.crop_size) if validation and validation[0] else []
    if not val_pairs:
        log.warning("no validation images: early stopping watches the training loss")
    n_per_epoch = max(cfg.samples_per_epoch or len(images), cfg.batch_size)
    n_batches = math.ceil(n_per_epoch / cfg.batch_size)
    opt = _make_optimizer(net, cfg)
    best, best_state, best_epoch, since_best = math.inf, copy.deepcopy(net.state_dict()), -1, 0
    train_losses: list[float] = []
    val_losses: list[float] = []
    t0 = time.perf_counter()
    with Progress(progress, total=cfg.n_epochs, desc="fine-tune") as bar:
        for epoch in range(cfg.n_epochs):
            for group in opt.param_groups:
                group["lr"] = cfg.learning_rate * min(1.0, (epoch + 1) / max(1, cfg.warmup_epochs))
            net.train()
            order = rng.permutation(np.resize(np.arange(len(images)), n_batches * cfg.batch_size))
            epoch_loss = 0.0
            for b in range(n_batches):
                pairs = []
                for i in order[b * cfg.batch_size:(b + 1) * cfg.batch_size]:
                    img, lab = augment_sample(images[i], labels[i], rng=rng, p=cfg.augment_p, base_scale=scale)
                    pairs.append(random_crop(img, lab, size=cfg.crop_size, rng=rng))
                x, y = _stack(pairs, device)
                loss = _loss(net, x, y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                epoch_loss += float(loss.detach()) / n_batches
            train_losses.append(epoch_loss)
            watched = epoch_loss
            if val_pairs:
                net.eval()
                with torch.no_grad():
                    vl = [float(_loss(net, *_stack(val_pairs[k:k + cfg.batch_size], device)))
                          * len(val_pairs[k:k + cfg.batch_size]) for k in range(0, len(val_pairs), cfg.batch_size)]
                watched = sum(vl) / len(val_pairs)
                val_losses.append(watched)
            if watched < best:
                best, best_state, best_epoch, since_best = watched, copy.deepcopy(net.state_dict()), epoch, 0
            else:
                since_best += 1
            bar.update(message=f"epoch {epoch + 1}: loss {epoch_loss:.3f}"
                               + (f", validation loss {watched:.3f}" if val_pairs else " (no validation images)"))
            if since_best >= cfg.patience:
                log.info("early stop at epoch %d (best %d, loss %.4f)", epoch + 1, best_epoch + 1, best)
                break
    net.load_state_dict(best_state)
    net.eval()
    model.diam_labels = diameter
    net.diam_labels.data[:] = diameter
    epochs = len(train_losses)
    return TrainingHistory(train_losses, val_losses, best_epoch, epochs,
                           (time.perf_counter() - t0) / max(1, epochs), epochs < cfg.n_epochs)
