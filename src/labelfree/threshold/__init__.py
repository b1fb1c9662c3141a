"""The threshold pipeline: an automatic global threshold and connected components (the classical baseline).

Examples
--------
>>> import numpy as np
>>> from labelfree.threshold import segment
>>> image = np.zeros((32, 32), np.uint16)
>>> image[4:12, 4:12], image[20:28, 18:30] = 500, 800    # two bright objects
>>> labels = segment(image, config={"min_size": 10})
>>> labels.dims, labels.dtype.name, int(labels.max()), labels.attrs["labelfree"]["pipeline"]
(('Y', 'X'), 'uint16', 2, 'threshold')
"""

from labelfree.threshold.config import ThresholdConfig
from labelfree.threshold.segment import segment

__all__ = ["ThresholdConfig", "segment"]
