"""A stand-in for the threshold pipeline's planes of a volume, shared by the z-stack tests."""

from __future__ import annotations

import numpy as np


class Planes:
    """The planes of a (Z, Y, X) array, with the planes' ``shape`` (Y, X) (as the pipeline reads them)."""

    def __init__(self, vol: np.ndarray) -> None:
        self.vol, self.shape = vol, vol.shape[1:]

    def __len__(self) -> int:
        return len(self.vol)

    def __getitem__(self, z: int) -> np.ndarray:
        return self.vol[z]
