"""Children of the survivors: crossover and mutation with the EAGAN paper's probabilities.

Paper semantics (SPEC §4; G. Ying et al., "EAGAN", ECCV 2022): parents are the survivors;
with probability `crossover_prob` a child starts as a one-edge crossover of two distinct
survivors (otherwise as a copy of one survivor), then with probability `mutation_prob` one edge
is mutated. Each attempt draws both coins independently (the reference code instead applies
exactly one of the two, 50/50). A child equal to a survivor or to an earlier child, or outside
the caps, is rejected and redrawn by :class:`~optgan.sampler.constrained.ConstrainedDraw` —
so an attempt that applied neither operator is always redrawn.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from optgan import keys
from optgan.sampler.constrained import ConstrainedDraw
from optgan.sampler.crossover import BaseGenotypeCrossover, OneEdgeCrossover
from optgan.sampler.mutation import BaseGenotypeMutation, OneEdgeMutation
from optgan.sampler.proposal import Proposal
from optgan.search_space.genotype import Genotype

__all__ = ["ChildGenerationStrategy", "Parent"]

#: a survivor: (trial number, genotype)
Parent = tuple[int, Genotype]


class ChildGenerationStrategy:
    """Makes one new, feasible child of `parents` per call."""

    def __init__(
        self,
        constrained: ConstrainedDraw,
        *,
        crossover_prob: float = 0.3,
        mutation_prob: float = 0.5,
        crossover: BaseGenotypeCrossover | None = None,
        mutation: BaseGenotypeMutation | None = None,
    ) -> None:
        for name, p in (("crossover_prob", crossover_prob), ("mutation_prob", mutation_prob)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"`{name}` must be in [0, 1], got {p}")
        self.constrained = constrained
        self.crossover_prob, self.mutation_prob = crossover_prob, mutation_prob
        self.crossover = crossover or OneEdgeCrossover()
        self.mutation = mutation or OneEdgeMutation()

    def attempt(self, parents: Sequence[Parent], rng: np.random.Generator) -> Proposal:
        """One unfiltered attempt (may equal a parent); both coins are always drawn."""
        do_cross = rng.random() < self.crossover_prob
        child: Genotype | None = None
        used: tuple[int, ...] = ()
        ops: list[str] = []
        if do_cross and len(parents) >= 2:
            i, j = (int(x) for x in rng.choice(len(parents), size=2, replace=False))
            child = self.crossover.crossover(parents[i][1], parents[j][1], rng)
            used = (parents[i][0], parents[j][0])
            ops.append("crossover")
        if child is None:  # no crossover, or the two parents admit no valid one-edge swap
            i = int(rng.integers(len(parents)))
            child, used, ops = parents[i][1], (parents[i][0],), []
        if rng.random() < self.mutation_prob:
            child = self.mutation.mutate(child, rng)
            ops.append("mutation")
        return Proposal(child, keys.ROLE_CHILD, used, "+".join(ops))

    def __call__(
        self,
        parents: Sequence[Parent],
        taken: Collection[Genotype],
        rng: np.random.Generator,
        what: str,
    ) -> Proposal:
        """A child not in `taken` (survivors and earlier children) and within the caps."""
        if not parents:
            raise ValueError("children need at least one parent")

        def draw() -> tuple[Genotype, Proposal]:
            p = self.attempt(parents, rng)
            return p.genotype, p

        return self.constrained(draw, taken, what)[1]
