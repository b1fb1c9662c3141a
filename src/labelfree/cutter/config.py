"""Configuration of the Cutter pipeline (Din & Yu 2021, "cellcutter").

Each field is declared with :func:`labelfree._config.setting`: its help text, dialog
group, level (basic fields are in the first Fiji dialog) and range travel with it, so
the Fiji command "LabelFree Cutter", macros, the CLI and config files share them.
"""

from __future__ import annotations

import dataclasses
from typing import Literal, Optional, Union

from labelfree._config import PipelineConfig, setting
from labelfree.errors import ConfigError

__all__ = ["CutterConfig", "LOSS_PRESETS", "loss_parameters"]

#: (lam, beta, beta_in_lambda, lr) of the two published parameter sets.
#: "code": the authors' code @ 1403185 (lam 1, _BETA = -20 inside the lambda term,
#: Keras Adam default lr 1e-3). "paper": the values printed in the paper
#: (lam 3.32, beta 15 as a separate term, lr 5e-3).
LOSS_PRESETS: dict[str, tuple[float, float, bool, float]] = {
    "code": (1.0, 20.0, True, 1e-3),
    "paper": (3.32, 15.0, False, 5e-3),
}

Channel = Union[int, str]

_CHANNELS = "channels and markers"
_MASK = "foreground mask"
_NET = "network and training"
_INTEGRATION = "integration"
_RUN = "run"


@dataclasses.dataclass
class CutterConfig(PipelineConfig):
    """Options of :func:`labelfree.cutter.segment` (docs/options.md lists them).

    Each option's default, range and help are listed under Options below (as objects:
    ``labelfree.options.config_fields(CutterConfig)``, ``labelfree options cutter`` in a shell).
    """

    cell_channels: tuple[Channel, ...] = setting(
        (), group=_CHANNELS, basic=True,
        help="Channels fed to the network (indices or names); empty = every channel except the nucleus channel "
             "and blank (constant) ones.")
    nucleus_channel: Optional[Channel] = setting(
        None, group=_CHANNELS, basic=True,
        help="Channel showing nuclei, used to detect one marker per cell when no markers are given. Automatic "
             "(null): a one-channel image is its own nucleus image; on a multi-channel image, the channel whose "
             "objects lie inside a larger channel's (nuclei in their cells), else whose objects are clearly the "
             "most compact (an error gives every channel's figures when none stands out).")
    marker_method: Literal["auto", "blob", "threshold"] = setting(
        "auto", group=_CHANNELS, basic=True,
        help="How markers are detected in the nucleus image: 'auto' (Otsu on the log image, de-clumped nuclei "
             "centroids, sizes from the nuclei found), 'blob' (the authors' determinant-of-Hessian blobs) or "
             "'threshold' (Otsu, de-clumped nuclei centroids, sizes from marker_min_sigma); each also adds a "
             "marker at every bright region of nucleus size that holds none (dim nuclei).")
    marker_min_sigma: float = setting(5.0, group=_CHANNELS, gt=0,
                                      help="'blob' and 'threshold' marker detection: smallest blob sigma (px); "
                                           "'threshold' removes objects below pi sigma^2 px.")
    marker_max_sigma: float = setting(10.0, group=_CHANNELS, gt=0,
                                      help="'blob' marker detection: largest blob sigma (px).")
    marker_threshold: float = setting(0.1, group=_CHANNELS, gt=0,
                                      help="'blob' marker detection: threshold on the normalised nucleus image.")
    marker_log: bool = setting(False, group=_CHANNELS,
                               help="'blob' and 'threshold' marker detection: work on the logarithm of the "
                                    "nucleus image (dim nuclei; 'auto' always does).")
    mask_prior: Optional[float] = setting(
        None, group=_MASK, gt=0, lt=1,
        help="Prior alpha of the graph cut; automatic: from cell_fraction.")
    cell_fraction: Optional[float] = setting(
        None, group=_MASK, gt=0, lt=1,
        help="Fraction of the image covered by cells; automatic: a triangle-threshold estimate.")
    mask_max_weight: float = setting(2.0, group=_MASK, ge=0,
                                     help="Largest pairwise (boundary) weight of the graph cut.")
    mask_sigma: float = setting(0.1, group=_MASK, gt=0,
                                help="Intensity scale of the graph cut's boundary term (intensities in [0, 1]).")
    mask_smoothing: Optional[float] = setting(
        None, group=_MASK, ge=0,
        help="Gaussian sigma (px) applied to the cell channels before the graph cut (0 = none, as the authors' "
             "code); automatic: a fifteenth of the typical cell radius, 1 to 4 px.")
    mask_signal: Literal["local", "intensity", "snr"] = setting(
        "local", group=_MASK, basic=True,
        help="What the graph cut sees: 'local' (a threshold that follows the local peak brightness, with a noise "
             "floor), 'intensity' (the authors' min-max normalised intensity) or 'snr' (noise-normalised signal).")
    mask_snr_threshold: float = setting(
        1.5, group=_MASK,
        help="Noise floor: with mask_signal 'local' a cell pixel is at least this many noise units above the "
             "background; with 'snr' the level where a pixel is 50 % cell.")
    mask_peak_fraction: float = setting(
        0.4, group=_MASK, ge=0, lt=1,
        help="With mask_signal 'local': a cell pixel lies above this fraction of the way from the background up "
             "to the brightest pixel near it.")
    mask_peak_window: Optional[int] = setting(
        None, group=_MASK, ge=1,
        help="With mask_signal 'local': side (px) of the square searched for that brightest pixel. Automatic: 9, "
             "or 7, 5 or 3 where 9 leaves marked cells out of the foreground (cells small in pixels: a 9 px square "
             "reaches from a dim cell into a bright neighbour) and the smaller window adds those cells, not the "
             "glow around every cell (at most 4 cells' worth of pixels per marker it adds).")
    mask_keep_marked: bool = setting(
        True, group=_MASK, help="Keep only the mask's connected parts that hold a marker, holes filled.")
    mask_ridges: Optional[bool] = setting(
        None, group=_MASK,
        help="Also take into the mask the thin bright lines connected to it (faint protrusions: pixels on a "
             "ridge of the intensity, at the mask smoothing but at most 1/25 of the cell radius (not under 2 px), "
             "above the background). Automatic: on when the cells are not compact (median solidity of the marked "
             "cells in the mask below 0.9: whole cells with protrusions; nuclei lie at 0.94-0.98).")
    downscale: Optional[float] = setting(
        None, group=_NET, basic=True, gt=0,
        help="Reduce the image by this factor before cutting patches (below 1 enlarges); outputs are at full "
             "resolution. Automatic: from the typical cell size (markers and mask), so a cell fills the patch.")
    crop_size: int = setting(64, group=_NET, ge=16, help="Patch side in px (after downscale; a multiple of 16).")
    marker_sigma: Optional[float] = setting(
        None, group=_NET, gt=0,
        help="Sigma (px, after downscale) of the Gaussian channel that tells the network which cell is meant; "
             "automatic: half the typical cell radius (the paper used 15).")
    area_size: Optional[int] = setting(
        None, group=_NET, ge=16,
        help="Side (px, after downscale) of the training areas (one batch each). Automatic: 320 for cells that "
             "fill the patch, smaller in proportion for cells that stay smaller (about as many cells per step).")
    width: int = setting(16, group=_NET, ge=1, help="Channels of the first UNet level (paper 32).")
    n_steps: int = setting(1000, group=_NET, basic=True, ge=0, help="Adam steps at most.")
    stop_at_plateau: bool = setting(True, group=_NET, help="Stop training once the loss stops falling.")
    plateau_window: int = setting(25, group=_NET, ge=2, help="Steps over which the loss is averaged for the plateau rule.")
    plateau_tol: float = setting(
        0.01, group=_NET, ge=0, lt=1,
        help="Plateau: the averaged loss fell by at most this fraction of its total drop over the last window.")
    loss_preset: Literal["code", "paper"] = setting(
        "code", group=_NET, help="Loss weights and learning rate: the authors' code or the paper's printed values.")
    lam: Optional[float] = setting(None, group=_NET, ge=0,
                                   help="Weight of the overlap term; automatic: from loss_preset.")
    beta: Optional[float] = setting(None, group=_NET, ge=0,
                                    help="Weight of the outside-mask term; automatic: from loss_preset.")
    learning_rate: Optional[float] = setting(None, group=_NET, gt=0,
                                             help="Adam learning rate; automatic: from loss_preset.")
    augment: bool = setting(True, group=_NET, help="Random flips of the patches (inverted on the output).")
    augment_transpose: bool = setting(True, group=_NET, help="Random transposes of the patches too.")
    probability_threshold: float = setting(
        0.5, group=_INTEGRATION, gt=0, lt=1,
        help="Pixels whose highest patch probability is at most this are background.")
    restrict_to_mask: bool = setting(True, group=_INTEGRATION, help="Drop cell pixels outside the foreground mask.")
    keep_marker_component: bool = setting(
        True, group=_INTEGRATION, help="Keep only each cell's connected part that holds its marker.")
    fill_cell_holes: bool = setting(True, group=_INTEGRATION, help="Fill holes inside each cell.")
    grow_into_mask: Literal["none", "geodesic", "intensity"] = setting(
        "intensity", group=_INTEGRATION, basic=True,
        help="Give mask pixels no patch claimed to a cell: 'none', 'geodesic' (the nearest cell inside the mask) "
             "or 'intensity' (a watershed of the smoothed intensity seeded by the cells).")
    redraw_boundaries: float = setting(
        0.2, group=_INTEGRATION, ge=0, lt=1,
        help="Depth, as a fraction of each cell's radius, of the outer band that a watershed of the smoothed "
             "intensity re-decides after the argmax, so touching cells part at the intensity valley (0 = keep "
             "the network's lines).")
    seed: int = setting(0, group=_RUN, ge=0, help="Seed of the weights, batches and augmentations.")

    #: former settings that are arguments of :func:`labelfree.cutter.segment` now
    moved_keys = {
        "model_file": "pass --model-file (CLI), model_file= (macro, batch --input model_file=...) or "
                      "segment(model=...)",
        "save_model_file": "pass --save-model-file (CLI), save_model_file= (macro, batch --input "
                           "save_model_file=...) or segment(save_model=...)",
        "device": "pass --device (CLI), device= (macro) or segment(device=...) / fit(device=...)",
    }

    def __post_init__(self) -> None:
        if isinstance(self.cell_channels, (int, str)):
            self.cell_channels = (self.cell_channels,)
        for name in ("downscale", "marker_sigma", "mask_smoothing", "mask_ridges", "area_size"):  # "auto" is None
            value = getattr(self, name)
            if isinstance(value, str) and value.strip().lower() in ("auto", ""):
                setattr(self, name, None)
        super().__post_init__()

    def check(self) -> None:
        if self.crop_size % 16:
            raise ConfigError(f"crop_size must be a multiple of 16 (UNet with 4 poolings); got {self.crop_size}.")
        if self.area_size is not None and self.area_size < self.crop_size:
            raise ConfigError(f"area_size ({self.area_size}) must be at least crop_size ({self.crop_size}).")
        if self.marker_min_sigma > self.marker_max_sigma:
            raise ConfigError("marker_min_sigma must not exceed marker_max_sigma.")


def loss_parameters(config: CutterConfig) -> dict[str, float | bool]:
    """Resolve ``lam``, ``beta``, ``beta_in_lambda`` and ``lr`` from preset and overrides."""
    lam, beta, inside, lr = LOSS_PRESETS[config.loss_preset]
    return {
        "lam": lam if config.lam is None else float(config.lam),
        "beta": beta if config.beta is None else float(config.beta),
        "beta_in_lambda": inside,
        "lr": lr if config.learning_rate is None else float(config.learning_rate),
    }
