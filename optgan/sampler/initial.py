"""Generation 0: distinct architectures drawn uniformly among the valid ones within the caps.

SCGAN's constraint sampling (SPEC §4): draw uniformly (`random_genotype`), discard anything
outside the caps or already in the population, redraw — bounded by `sampler.max_tries`.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from optgan import keys
from optgan.sampler.constrained import ConstrainedDraw
from optgan.sampler.proposal import Proposal
from optgan.search_space.genotype import Genotype
from optgan.search_space.random import random_genotype

__all__ = ["InitialPopulationStrategy"]


class InitialPopulationStrategy:
    """Proposes one uniformly random, feasible, new architecture per call."""

    def __init__(self, net: str, constrained: ConstrainedDraw) -> None:
        self.net, self.constrained = net, constrained

    def __call__(self, taken: Collection[Genotype], rng: np.random.Generator, what: str) -> Proposal:
        genotype, _ = self.constrained(lambda: (random_genotype(self.net, rng), None), taken, what)
        return Proposal(genotype, keys.ROLE_INITIAL)
