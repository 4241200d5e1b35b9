"""The searched discriminator (SPEC §1.3): supernet with single-path forward, and standalone.

Fixed stem (AutoGAN's optimized block): ``avgpool2(SNconv3(ReLU(SNconv3(x)))) +
SNconv1(avgpool2(x))`` (3 → C, C = df_dim), then three searched down-cells, then
``SN-Linear(C → 1, no bias)`` on the spatial sum of ``ReLU(h)``. Spectral norm on every conv.
:class:`SuperNetD` holds every candidate op, :class:`StandaloneD` only its genotype's (a
``no_down`` cell builds no e6); both run :meth:`Discriminator.run` with the same module names.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from optgan.errors import GenotypeError
from optgan.search_space.genotype import Genotype
from optgan.search_space.ops import NUM_CELLS
from optgan.search_space.widths import Widths
from optgan.supernet.cells import DownCell, genotype_choices, supernet_choices
from optgan.supernet.init import init_weights, seeded
from optgan.supernet.ops import sn

__all__ = [
    "Stem", "Discriminator", "SuperNetD", "StandaloneD", "build_discriminator", "build_supernet_d",
]


class Stem(nn.Module):
    """The fixed first block: two SN 3×3 convs and avg-pool, plus an SN 1×1 shortcut."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.c1 = sn(nn.Conv2d(3, c, 3, 1, 1))
        self.c2 = sn(nn.Conv2d(c, c, 3, 1, 1))
        self.c_sc = sn(nn.Conv2d(3, c, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.avg_pool2d(self.c2(F.relu(self.c1(x))), 2)
        return h + self.c_sc(F.avg_pool2d(x, 2))


class Discriminator(nn.Module):
    """Shared body of the supernet and standalone D; `choices[cell][edge]` = op names."""

    def __init__(self, widths: Widths, choices: Sequence[Sequence[Sequence[str]]]) -> None:
        super().__init__()
        self.widths = widths
        self.channels_last = False
        c = widths.df_dim
        self.stem = Stem(c)
        self.cells = nn.ModuleList(DownCell(c, choices[k]) for k in range(NUM_CELLS))
        self.head = sn(nn.Linear(c, 1, bias=False))

    def run(self, x: torch.Tensor, cells: Sequence[Sequence[str]]) -> torch.Tensor:
        """Scores of shape (N, 1) for images `x` (N, 3, H, W) and ops `cells`."""
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        h = self.stem(x)
        for cell, ops in zip(self.cells, cells):
            h = cell(h, ops)
        return self.head(F.relu(h).sum(dim=(2, 3)))


class SuperNetD(Discriminator):
    """Weight-sharing discriminator with one module per (cell, edge, candidate op)."""

    def __init__(self, widths: Widths) -> None:
        choices = supernet_choices("disc")
        super().__init__(widths, (choices,) * NUM_CELLS)

    def forward(self, x: torch.Tensor, genotype: Genotype) -> torch.Tensor:
        """Single-path forward of the subnet `genotype`."""
        if genotype.net != "disc":
            raise GenotypeError(f"SuperNetD needs a disc genotype, got a {genotype.net} one")
        return self.run(x, genotype.cells)


class StandaloneD(Discriminator):
    """The discriminator of one genotype (only its ops are built)."""

    def __init__(self, genotype: Genotype, widths: Widths) -> None:
        if genotype.net != "disc":
            raise GenotypeError(f"a discriminator needs a disc genotype, got a {genotype.net} one")
        super().__init__(widths, [genotype_choices("disc", ops) for ops in genotype.cells])
        self.genotype = genotype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x, self.genotype.cells)


def build_discriminator(genotype: Genotype, widths: Widths, *,
                        generator: torch.Generator | None = None,
                        init: str = "xavier_uniform") -> StandaloneD:
    """Standalone D of `genotype`, initialised as the reference code (RNG from `generator`)."""
    with seeded(generator):
        net = StandaloneD(genotype, widths)
    return init_weights(net, init, generator)  # type: ignore[return-value]


def build_supernet_d(widths: Widths, *, generator: torch.Generator | None = None,
                     init: str = "xavier_uniform") -> SuperNetD:
    """SuperNet-D, initialised as the reference code (RNG from `generator`)."""
    with seeded(generator):
        net = SuperNetD(widths)
    return init_weights(net, init, generator)  # type: ignore[return-value]
