"""UNet4 of the Cutter method (PyTorch).

Encoder levels ``w, 2w, 4w, 8w, 8w`` (paper: w = 32, so 32-64-128-256-256: the
bottleneck keeps 8w channels instead of doubling), each a 3x3 conv + ReLU, a
3x3 conv + ReLU and then BatchNorm (BN after both convs, as in the authors'
code); 2x2 max-pooling between levels; decoder with nearest-neighbour x2
upsampling, skip concatenation, the same conv-conv-BN block; a 1x1 conv to
one logit. Input sides must be multiples of 16.
"""

from __future__ import annotations

from labelfree._deps import require

__all__ = ["build_unet"]


def build_unet(in_channels: int, /, *, width: int = 32, batch_norm: bool = True):
    """Build the UNet4 module.

    Parameters
    ----------
    in_channels : int
        Number of input channels (image channels + 1 marker channel for Cutter).
    width : int
        Channels of the first level (paper: 32).
    batch_norm : bool
        BatchNorm after the two convs of each block.

    Returns
    -------
    torch.nn.Module
        Maps (N, in_channels, H, W) to (N, 1, H, W) logits; H, W multiples of 16.
    """
    torch = require("torch", purpose="the Cutter network")
    nn = torch.nn

    def block(cin: int, cout: int) -> nn.Sequential:
        layers = [
            nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU(inplace=True),
        ]
        if batch_norm:
            layers.append(nn.BatchNorm2d(cout))
        return nn.Sequential(*layers)

    class UNet4(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            chans = [width, 2 * width, 4 * width, 8 * width, 8 * width]
            self.down = nn.ModuleList()
            cin = in_channels
            for c in chans:
                self.down.append(block(cin, c))
                cin = c
            self.up = nn.ModuleList()
            for skip in reversed(chans[:-1]):
                self.up.append(block(cin + skip, skip))
                cin = skip
            self.head = nn.Conv2d(cin, 1, 1)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                    nn.init.zeros_(m.bias)

        def forward(self, x):
            skips = []
            for i, level in enumerate(self.down):
                if i:
                    x = nn.functional.max_pool2d(x, 2)
                x = level(x)
                skips.append(x)
            for level, skip in zip(self.up, reversed(skips[:-1])):
                x = nn.functional.interpolate(x, scale_factor=2, mode="nearest")
                x = level(torch.cat([x, skip], dim=1))
            return self.head(x)

    return UNet4()
