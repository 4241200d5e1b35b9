"""EAGAN's fixed stage-1 discriminator ``simple`` (SPEC §1.3), 921,920 parameters.

Reference: marsggbo/EAGAN ``archs/fully_super_network.py::simple_Discriminator``:
    Conv(3→64) BN LReLU(0.2) Conv(64→128) | Conv(128→128) BN LReLU Conv(128→128) |
    Conv(128→128) BN LReLU | spatial sum | SN-Linear(128 → 1, no bias)
Every conv is 4×4, stride 2, padding 1, with bias, without spectral norm (only the linear layer
is spectral-normed); there is no activation between the second and third convs (as in the
code). Widths are fixed (64/128) whatever ``df_dim`` is. The five stride-2 convs need a 32×32
input to keep a 1×1 map; for smaller images optgan pads a conv whose input is 1×1 by 2 instead
of 1 (output 1×1; no effect on the parameter count nor on 32×32 / 48×48 inputs).
"""

from __future__ import annotations

import torch
from torch import nn

from optgan.search_space.widths import Widths
from optgan.supernet.init import init_weights, seeded

__all__ = ["SimpleDiscriminator", "build_simple_discriminator"]

_CHANNELS = (3, 64, 128, 128, 128, 128)
_BN_AFTER = (0, 2, 4)  # conv indices followed by BatchNorm + LeakyReLU(0.2)


def _conv_paddings(img_size: int) -> list[int]:
    pads, side = [], img_size
    for _ in range(len(_CHANNELS) - 1):
        pad = 1 if side >= 2 else 2
        pads.append(pad)
        side = (side + 2 * pad - 4) // 2 + 1
    return pads


class SimpleDiscriminator(nn.Module):
    """The DCGAN-style fixed D of EAGAN's generator search (scores of shape (N, 1))."""

    def __init__(self, img_size: int = 32) -> None:
        super().__init__()
        self.img_size = img_size
        self.channels_last = False
        layers: list[nn.Module] = []
        for i, pad in enumerate(_conv_paddings(img_size)):
            layers.append(nn.Conv2d(_CHANNELS[i], _CHANNELS[i + 1], 4, 2, pad))
            if i in _BN_AFTER:
                layers += [nn.BatchNorm2d(_CHANNELS[i + 1]), nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*layers)
        self.head = nn.utils.spectral_norm(nn.Linear(_CHANNELS[-1], 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.head(self.body(x).sum(dim=(2, 3)))


def build_simple_discriminator(widths: Widths, *, generator: torch.Generator | None = None,
                               init: str = "xavier_uniform") -> SimpleDiscriminator:
    """The `simple` D for images of ``widths.img_size``, initialised as the reference code."""
    with seeded(generator):
        net = SimpleDiscriminator(widths.img_size)
    return init_weights(net, init, generator)  # type: ignore[return-value]
