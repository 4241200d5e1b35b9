"""The generator (SPEC §1.2): supernet with single-path forward, and standalone networks.

z (``latent_dim``) is split into three chunks: ``l1(z1)`` is the C×bw×bw input of cell 1,
``l2(z2)`` (C×2bw×2bw) is added to cell 2's input and ``l3(z3)`` (C×4bw×4bw) to cell 3's.
Cells use skip-interpolation modes nearest / bilinear / nearest with 0 / 1 / 2 skip inputs.
Output: BN → ReLU → Conv3×3(C→3) → Tanh. :class:`SuperNetG` holds every candidate op;
:class:`StandaloneG` only its genotype's; both run :meth:`Generator.run` with the same module
names, so a subnet's state dict is a subset of the supernet's.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from optgan.errors import GenotypeError
from optgan.search_space.genotype import Genotype
from optgan.search_space.ops import NUM_CELLS
from optgan.search_space.widths import Widths
from optgan.supernet.cells import UpCell, genotype_choices, supernet_choices
from optgan.supernet.init import init_weights, seeded

__all__ = ["Generator", "SuperNetG", "StandaloneG", "build_generator", "build_supernet_g"]

SKIP_MODES = ("nearest", "bilinear", "nearest")


class Generator(nn.Module):
    """Shared body of the supernet and standalone generators; `choices[cell][edge]` = op names."""

    def __init__(self, widths: Widths, choices: Sequence[Sequence[Sequence[str]]]) -> None:
        super().__init__()
        self.widths = widths
        self.channels_last = False
        c, bw, chunk = widths.gf_dim, widths.bottom_width, widths.latent_chunk
        self.l1 = nn.Linear(chunk, bw * bw * c)
        self.l2 = nn.Linear(chunk, (2 * bw) ** 2 * c)
        self.l3 = nn.Linear(chunk, (4 * bw) ** 2 * c)
        self.cells = nn.ModuleList(
            UpCell(c, SKIP_MODES[k], k, choices[k]) for k in range(NUM_CELLS)
        )
        self.to_rgb = nn.Sequential(
            nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, 3, 3, 1, 1), nn.Tanh()
        )

    def _grid(self, h: torch.Tensor, side: int) -> torch.Tensor:
        h = h.view(-1, self.widths.gf_dim, side, side)
        return h.contiguous(memory_format=torch.channels_last) if self.channels_last else h

    def run(self, z: torch.Tensor, cells: Sequence[Sequence[str]]) -> torch.Tensor:
        """Images in [-1, 1] of shape (N, 3, 8bw, 8bw) for latents `z` (N × latent_dim) and ops `cells`."""
        chunk, bw = self.widths.latent_chunk, self.widths.bottom_width
        if z.ndim != 2 or z.shape[1] != 3 * chunk:  # a shape check on the host: no device sync
            raise ValueError(f"the generator takes latents of shape (N, {3 * chunk}) (latent_dim), "
                             f"got {tuple(z.shape)}")
        h = self._grid(self.l1(z[:, :chunk]), bw)
        n1 = self._grid(self.l2(z[:, chunk:2 * chunk]), 2 * bw)
        n2 = self._grid(self.l3(z[:, 2 * chunk:3 * chunk]), 4 * bw)
        c1, c2, c3 = self.cells
        h, s1 = c1(h, (), cells[0])
        h, s2 = c2(h + n1, (s1,), cells[1])
        h, _ = c3(h + n2, (s1, s2), cells[2])
        return self.to_rgb(h)


class SuperNetG(Generator):
    """Weight-sharing generator with one module per (cell, edge, candidate op)."""

    def __init__(self, widths: Widths) -> None:
        choices = supernet_choices("gen")
        super().__init__(widths, (choices,) * NUM_CELLS)

    def forward(self, z: torch.Tensor, genotype: Genotype) -> torch.Tensor:
        """Single-path forward of the subnet `genotype`."""
        if genotype.net != "gen":
            raise GenotypeError(f"SuperNetG needs a gen genotype, got a {genotype.net} one")
        return self.run(z, genotype.cells)


class StandaloneG(Generator):
    """The generator of one genotype (only its ops are built)."""

    def __init__(self, genotype: Genotype, widths: Widths) -> None:
        if genotype.net != "gen":
            raise GenotypeError(f"a generator needs a gen genotype, got a {genotype.net} one")
        super().__init__(widths, [genotype_choices("gen", ops) for ops in genotype.cells])
        self.genotype = genotype

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.run(z, self.genotype.cells)


def build_generator(genotype: Genotype, widths: Widths, *, generator: torch.Generator | None = None,
                    init: str = "xavier_uniform") -> StandaloneG:
    """Standalone G of `genotype`, initialised as the reference code (RNG from `generator`)."""
    with seeded(generator):
        net = StandaloneG(genotype, widths)
    return init_weights(net, init, generator)  # type: ignore[return-value]


def build_supernet_g(widths: Widths, *, generator: torch.Generator | None = None,
                     init: str = "xavier_uniform") -> SuperNetG:
    """SuperNet-G, initialised as the reference code (RNG from `generator`)."""
    with seeded(generator):
        net = SuperNetG(widths)
    return init_weights(net, init, generator)  # type: ignore[return-value]
