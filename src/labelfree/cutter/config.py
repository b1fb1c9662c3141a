"""Configuration of the Cutter pipeline (Din & Yu 2021, "cellcutter").

Every field is a simple JSON type so that the Fiji command "LabelFree Cutter"
can be generated from this dataclass and recorded in macros with stable keys.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Optional, Union

from labelfree._config import PipelineConfig
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


@dataclasses.dataclass
class CutterConfig(PipelineConfig):
    """Options of :func:`labelfree.cutter.segment`.

    Channels and markers
        ``cell_channels``: channels fed to the network (indices or names; empty =
        every channel except ``nucleus_channel``). ``nucleus_channel``: channel
        used to detect markers when none are given (``None`` = no nucleus image).
        ``marker_method``: ``"blob"`` (determinant-of-Hessian blobs, sigmas in
        pixels) or ``"threshold"`` (Otsu, de-clumped nuclei centroids);
        ``marker_log`` detects on the log of the nucleus image.
    Foreground mask
        Graph cut on the cell channels: ``mask_prior`` is the prior alpha; when
        ``None`` it is derived from ``cell_fraction`` (fraction of the image
        covered by cells; ``None`` = triangle-threshold estimate). ``mask_max_weight`` and
        ``mask_sigma`` set the pairwise (boundary) term on intensities
        normalised to [0, 1]; ``mask_smoothing`` Gaussian sigma (px) applied to
        the cell channels first (0 = none, as in the authors' code; ``None`` = automatic,
        from the typical cell size).
        ``mask_signal``: what the graph cut sees; ``"local"`` (the default: a cell
        probability against a threshold that follows the local peak brightness, with a
        noise floor, prior 0.5; see ``mask_peak_fraction``), ``"intensity"`` (the authors'
        min-max normalised intensity, prior from the cell fraction) or ``"snr"``
        (noise-normalised: ``z = (I - median) / (1.4826 MAD)`` of the smoothed
        channel, mapped to a cell probability ``1 / (1 + exp(-(z - mask_snr_threshold)))``,
        prior 0.5; for dim cells in noisy fluorescence). ``mask_keep_marked``: keep
        only the mask's connected parts that hold a marker, holes filled.
    Network and training
        ``crop_size`` patch side (px, after ``downscale``), ``marker_sigma`` of the
        Gaussian marker channel (px), ``area_size`` side of the training areas,
        ``width`` channels of the first UNet level (paper: 32), ``n_steps`` Adam
        steps at most, ``loss_preset`` ``"code"`` or ``"paper"``; ``lam``, ``beta``,
        ``learning_rate`` override the preset when not ``None``.
        ``stop_at_plateau``: stop once the loss, averaged over ``plateau_window``
        steps, fell by at most ``plateau_tol`` times its total drop over the last
        ``plateau_window`` steps (see :func:`labelfree.cutter.train.plateau_step`).
        ``downscale``: factor by which the image is reduced before the patches are
        cut (for cells larger than a patch; below 1 enlarges); outputs are returned
        at full resolution. ``downscale`` and ``marker_sigma`` ``None`` (the default,
        "auto"): chosen from the typical cell size measured on the markers and the
        mask (:mod:`labelfree.cutter.scale`) so that a cell fills the patch.
    Integration
        Argmax over patches, pixels with probability <= ``probability_threshold``
        are background (authors' code). Clean-up after it (not in the authors' code;
        on by default, set all three to False for the plain argmax):
        ``restrict_to_mask`` drops cell pixels outside the foreground mask,
        ``keep_marker_component`` keeps each cell's connected part holding its
        marker, ``fill_cell_holes`` fills holes per cell. ``grow_into_mask``
        (``"none"``) gives mask pixels that no patch claimed to a cell: ``"geodesic"``
        the nearest inside the mask, ``"intensity"`` by a watershed of the smoothed
        intensity seeded by the cells.
    Model files
        ``model_file``: apply this trained model instead of training.
        ``save_model_file``: save the model trained by ``segment`` there.

    Attributes
    ----------
    mask_peak_fraction : float
        With ``mask_signal="local"``: a pixel is a cell pixel above this fraction of the way
        from the background up to the brightest pixel near it (0.4), and at least
        ``mask_snr_threshold`` noise units above the background.
    mask_peak_window : int
        With ``mask_signal="local"``: side (px) of the square in which that brightest pixel is
        looked for.
    redraw_boundaries : float
        Depth, as a fraction of each cell's equivalent radius, of the outer band of every cell
        that a watershed of the smoothed intensity re-decides after the argmax (0.2; 0 keeps
        the network's lines between touching cells).
    """

    cell_channels: tuple = ()
    nucleus_channel: Optional[Channel] = None
    marker_method: str = "blob"
    marker_min_sigma: float = 5.0
    marker_max_sigma: float = 10.0
    marker_threshold: float = 0.1
    marker_log: bool = False
    mask_prior: Optional[float] = None
    cell_fraction: Optional[float] = None
    mask_max_weight: float = 2.0
    mask_sigma: float = 0.1
    mask_smoothing: Optional[float] = None
    mask_signal: str = "local"
    mask_snr_threshold: float = 1.5
    mask_keep_marked: bool = True
    downscale: Optional[float] = None
    crop_size: int = 64
    marker_sigma: Optional[float] = None
    area_size: int = 320
    width: int = 16
    n_steps: int = 1000
    stop_at_plateau: bool = True
    plateau_window: int = 25
    plateau_tol: float = 0.01
    loss_preset: str = "code"
    lam: Optional[float] = None
    beta: Optional[float] = None
    learning_rate: Optional[float] = None
    augment: bool = True
    augment_transpose: bool = True
    probability_threshold: float = 0.5
    restrict_to_mask: bool = True
    keep_marker_component: bool = True
    fill_cell_holes: bool = True
    grow_into_mask: str = "intensity"
    seed: int = 0
    device: str = "cpu"
    model_file: str = ""
    save_model_file: str = ""
    mask_peak_fraction: float = 0.4
    mask_peak_window: int = 9
    redraw_boundaries: float = 0.2

    def __post_init__(self) -> None:
        if isinstance(self.cell_channels, (list, int, str)):
            self.cell_channels = tuple(self.cell_channels) if isinstance(self.cell_channels, list) else (self.cell_channels,)
        if self.loss_preset not in LOSS_PRESETS:
            raise ConfigError(f"loss_preset must be one of {sorted(LOSS_PRESETS)}; got {self.loss_preset!r}.")
        if self.mask_signal not in ("local", "intensity", "snr"):
            raise ConfigError(f"mask_signal must be 'local', 'intensity' or 'snr'; got {self.mask_signal!r}.")
        if not 0.0 <= self.redraw_boundaries < 1.0:
            raise ConfigError(f"redraw_boundaries must lie in [0, 1); got {self.redraw_boundaries}.")
        if not 0.0 <= self.mask_peak_fraction < 1.0 or self.mask_peak_window < 1:
            raise ConfigError("mask_peak_fraction must lie in [0, 1) and mask_peak_window be >= 1 px.")
        if self.grow_into_mask not in ("none", "geodesic", "intensity"):
            raise ConfigError(f"grow_into_mask must be 'none', 'geodesic' or 'intensity'; got {self.grow_into_mask!r}.")
        if self.plateau_window < 2 or not 0.0 <= self.plateau_tol < 1.0:
            raise ConfigError("plateau_window must be >= 2 and plateau_tol in [0, 1).")
        if self.marker_method not in ("blob", "threshold"):
            raise ConfigError(f"marker_method must be 'blob' or 'threshold'; got {self.marker_method!r}.")
        if self.crop_size < 16 or self.crop_size % 16:
            raise ConfigError(f"crop_size must be a multiple of 16 (UNet with 4 poolings), >= 16; got {self.crop_size}.")
        for name in ("downscale", "marker_sigma", "mask_smoothing"):  # None or "auto": measured from the data
            value = getattr(self, name)
            if isinstance(value, str) and value.strip().lower() in ("auto", ""):
                setattr(self, name, value := None)
            low = 0.0 if name == "mask_smoothing" else 1e-9  # no smoothing (0) is the authors' choice
            if value is not None and not (isinstance(value, numbers.Real) and not isinstance(value, bool) and value >= low):
                raise ConfigError(f"{name} must be a positive number or None (automatic); got {value!r}.")
        if self.width < 1 or self.n_steps < 0 or self.area_size < self.crop_size:
            raise ConfigError("width must be >= 1, n_steps >= 0 and area_size >= crop_size.")
        if self.mask_prior is not None and not 0.0 < self.mask_prior < 1.0:
            raise ConfigError(f"mask_prior must lie in (0, 1); got {self.mask_prior}.")
        if self.cell_fraction is not None and not 0.0 < self.cell_fraction < 1.0:
            raise ConfigError(f"cell_fraction must lie in (0, 1); got {self.cell_fraction}.")
        if not 0.0 < self.probability_threshold < 1.0:
            raise ConfigError(f"probability_threshold must lie in (0, 1); got {self.probability_threshold}.")
        if self.device not in ("cpu", "cuda", "auto") and not str(self.device).startswith("cuda:"):
            raise ConfigError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto'; got {self.device!r}.")


def loss_parameters(config: CutterConfig) -> dict[str, float | bool]:
    """Resolve ``lam``, ``beta``, ``beta_in_lambda`` and ``lr`` from preset and overrides."""
    lam, beta, inside, lr = LOSS_PRESETS[config.loss_preset]
    return {
        "lam": lam if config.lam is None else float(config.lam),
        "beta": beta if config.beta is None else float(config.beta),
        "beta_in_lambda": inside,
        "lr": lr if config.learning_rate is None else float(config.learning_rate),
    }
