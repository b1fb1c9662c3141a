"""A stand-in for an ImagePlus: what LabelFree's refusals before a dialog read of one (no JVM needed)."""

from __future__ import annotations


class StackImagePlus:
    """An image titled ``stack`` of ``channels`` x ``slices`` x ``frames`` planes, as ImageJ counts them."""

    def __init__(self, channels: int, slices: int, frames: int) -> None:
        self.sizes = (channels, slices, frames)

    def getNChannels(self) -> int:  # noqa: N802 - ImageJ's names
        return self.sizes[0]

    def getNSlices(self) -> int:  # noqa: N802
        return self.sizes[1]

    def getNFrames(self) -> int:  # noqa: N802
        return self.sizes[2]

    def getTitle(self) -> str:  # noqa: N802
        return "stack"
