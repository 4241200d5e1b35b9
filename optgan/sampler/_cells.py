"""Cheap edge-level helpers shared by the variation operators (no Genotype construction)."""

from __future__ import annotations

from collections.abc import Sequence

from optgan.search_space.genotype import Genotype
from optgan.search_space.ops import NO_DOWN, NUM_CELLS, NUM_EDGES, node_inputs_of

__all__ = ["cell_is_valid", "is_ignored", "positions"]


def cell_is_valid(net: str, ops: Sequence[str]) -> bool:
    """True when every intermediate node of the cell keeps a non-`none` input."""
    return all(any(ops[e] != "none" for e in feeding) for _, feeding in node_inputs_of(net))


def is_ignored(genotype: Genotype, cell: int, edge: int) -> bool:
    """A discriminator's e6 is meaningless (and stored canonically) when e5 is `no_down`."""
    return genotype.net == "disc" and edge == 6 and genotype.cells[cell][5] == NO_DOWN


def positions() -> list[tuple[int, int]]:
    """Every (cell, edge) position, cell-major."""
    return [(c, e) for c in range(NUM_CELLS) for e in range(NUM_EDGES)]
