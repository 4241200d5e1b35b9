"""Mutation: one edge moves to a different op, keeping the cell valid (EAGAN, SPEC §4).

Paper: G. Ying et al., "EAGAN", ECCV 2022; like the reference code's `mutation`, the edge is
drawn first (uniform among the edges that have at least one valid alternative), then the new
op (uniform among that edge's valid alternatives). A discriminator's e6 is not mutable while
e5 is `no_down` (it is ignored there, so changing it would change nothing).
"""

from __future__ import annotations

import abc

import numpy as np

from optgan.sampler._cells import cell_is_valid, is_ignored, positions
from optgan.search_space.genotype import Genotype
from optgan.search_space.ops import edges_of

__all__ = ["BaseGenotypeMutation", "OneEdgeMutation"]


class BaseGenotypeMutation(abc.ABC):
    """Turns one genotype into a different, valid one."""

    @abc.abstractmethod
    def mutate(self, genotype: Genotype, rng: np.random.Generator) -> Genotype:
        """A valid genotype different from `genotype`."""


class OneEdgeMutation(BaseGenotypeMutation):
    """Exactly one edge changes op."""

    def alternatives(self, genotype: Genotype, cell: int, edge: int) -> list[str]:
        """Ops that may replace the op on (`cell`, `edge`) keeping the cell valid."""
        if is_ignored(genotype, cell, edge):
            return []
        current = genotype.cells[cell]
        out = []
        for op in edges_of(genotype.net)[edge].choices:
            if op == current[edge]:
                continue
            ops = list(current)
            ops[edge] = op
            if cell_is_valid(genotype.net, ops):
                out.append(op)
        return out

    def mutate(self, genotype: Genotype, rng: np.random.Generator) -> Genotype:
        options = [(c, e, alts) for c, e in positions() if (alts := self.alternatives(genotype, c, e))]
        c, e, alts = options[int(rng.integers(len(options)))]
        return genotype.with_op(c, e, alts[int(rng.integers(len(alts)))])
