"""Options of the threshold pipeline."""

from __future__ import annotations

import dataclasses
from typing import Literal

from labelfree._config import PipelineConfig, setting

__all__ = ["ThresholdConfig"]


@dataclasses.dataclass
class ThresholdConfig(PipelineConfig):
    """Options of :func:`labelfree.threshold.segment`.

    Each option's default, range and help are listed under Options below (as objects:
    ``labelfree.options.config_fields(ThresholdConfig)``, ``labelfree options threshold`` in a shell).

    Examples
    --------
    >>> from labelfree.options import config_fields
    >>> [(f.key, f.default) for f in config_fields(ThresholdConfig)][:3]
    [('method', 'otsu'), ('dark_objects', False), ('min_size', 20)]
    >>> ThresholdConfig(min_size=50).replace(method="li").min_size
    50
    """

    method: Literal["otsu", "li", "triangle"] = setting(
        "otsu", basic=True,
        help="Automatic threshold, computed per plane (per frame of a time-lapse; per volume of a z-stack).")
    dark_objects: bool = setting(False, basic=True,
                                 help="Objects are darker than the background (e.g. phase contrast).")
    min_size: int = setting(20, basic=True, ge=0,
                            help="Objects smaller than this many pixels (voxels of a z-stack) are removed.")
    fill_holes: bool = setting(True, basic=True, help="Fill holes inside objects.")
    split_touching: bool = setting(False, basic=True,
                                   help="Split touching objects by a distance-transform watershed.")
    threshold: float | None = setting(
        None, help="Fixed intensity threshold for every plane; automatic: the method's threshold. Give the whole "
                   "image's value when the image is segmented in tiles (one threshold for all).")
