"""Crossover: a child is parent A with exactly one edge taken from parent B (EAGAN, SPEC §4).

Paper: G. Ying et al., "EAGAN: Efficient Two-stage Evolutionary Architecture Search for GANs",
ECCV 2022 — crossover picks one edge where the parents differ and copies B's op into A.
Unlike the reference code (which loops forever on identical parents), the edge is drawn among
the positions where the swap changes A *and* keeps every cell valid; when there is none the
operator returns None and the caller decides what to do.
"""

from __future__ import annotations

import abc

import numpy as np

from optgan.sampler._cells import cell_is_valid, is_ignored, positions
from optgan.search_space.genotype import Genotype

__all__ = ["BaseGenotypeCrossover", "OneEdgeCrossover"]


class BaseGenotypeCrossover(abc.ABC):
    """Combines two parents into one child (or None when no valid child exists)."""

    @abc.abstractmethod
    def crossover(self, a: Genotype, b: Genotype, rng: np.random.Generator) -> Genotype | None:
        """A child of `a` and `b`, or None when they admit no valid, different child."""


class OneEdgeCrossover(BaseGenotypeCrossover):
    """Child = A with one edge (uniform among the valid differing edges) copied from B."""

    def candidates(self, a: Genotype, b: Genotype) -> list[tuple[int, int]]:
        """(cell, edge) positions whose swap changes A and keeps the cell valid.

        A discriminator's e6 is skipped when either parent ignores it (e5 = `no_down`): the
        value has no meaning there, so copying it would be a change in name only.
        """
        out = []
        for c, e in positions():
            op = b.cells[c][e]
            if op == a.cells[c][e] or is_ignored(a, c, e) or is_ignored(b, c, e):
                continue
            ops = list(a.cells[c])
            ops[e] = op
            if cell_is_valid(a.net, ops):
                out.append((c, e))
        return out

    def crossover(self, a: Genotype, b: Genotype, rng: np.random.Generator) -> Genotype | None:
        if a.net != b.net:
            raise ValueError(f"cannot cross a {a.net} genotype with a {b.net} genotype")
        cands = self.candidates(a, b)
        if not cands:
            return None
        c, e = cands[int(rng.integers(len(cands)))]
        return a.with_op(c, e, b.cells[c][e])
