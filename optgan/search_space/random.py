"""Uniform sampling of valid genotypes with an injected `numpy.random.Generator`.

Each cell is drawn uniformly among the *distinct* valid cells: node-input rules by rejection,
and a discriminator's (e5, e6) pair among its 37 distinct values (36 down pairs + `no_down`),
so `no_down` is not over-weighted by the six e6 values it ignores.
"""

from __future__ import annotations

import numpy as np

from optgan.search_space.genotype import Genotype
from optgan.search_space.ops import (
    CANONICAL_IGNORED_DOWN,
    DOWN_OPS,
    NO_DOWN,
    NUM_CELLS,
    edges_of,
    node_inputs_of,
)

__all__ = ["random_genotype", "random_cell", "valid_cell_count"]


def random_cell(net: str, rng: np.random.Generator) -> tuple[str, ...]:
    """One valid cell of `net`, uniform over distinct valid cells."""
    specs = edges_of(net)
    groups = node_inputs_of(net)
    while True:
        ops = [spec.choices[int(rng.integers(len(spec.choices)))] for spec in specs]
        if all(any(ops[e] != "none" for e in feeding) for _, feeding in groups):
            break
    if net == "disc":
        k = int(rng.integers(len(DOWN_OPS) ** 2 + 1))
        if k == len(DOWN_OPS) ** 2:
            ops[5], ops[6] = NO_DOWN, CANONICAL_IGNORED_DOWN
        else:
            ops[5], ops[6] = DOWN_OPS[k // len(DOWN_OPS)], DOWN_OPS[k % len(DOWN_OPS)]
    return tuple(ops)


def random_genotype(net: str, rng: np.random.Generator) -> Genotype:
    """A genotype of `net` drawn uniformly among valid ones."""
    return Genotype(net, tuple(random_cell(net, rng) for _ in range(NUM_CELLS)))


def valid_cell_count(net: str) -> int:
    """Number of distinct valid cells (147,744 for G, SPEC §1.2)."""
    specs = edges_of(net)
    total = 1
    covered: set[int] = set()
    for _, feeding in node_inputs_of(net):
        sizes = [len(specs[e].choices) for e in feeding]
        total *= int(np.prod(sizes)) - 1  # all-`none` excluded
        covered.update(feeding)
    if net == "disc":
        total *= len(DOWN_OPS) ** 2 + 1
        covered.update((5, 6))
    for spec in specs:
        if spec.index not in covered:
            total *= len(spec.choices)
    return total
