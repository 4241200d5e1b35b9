"""Optuna distributions of the search space: one categorical per edge, choices = op names."""

from __future__ import annotations

from optuna.distributions import CategoricalDistribution

from optgan.search_space.genotype import param_name
from optgan.search_space.ops import NUM_CELLS, edges_of

__all__ = ["param_distributions"]


def param_distributions(net: str) -> dict[str, CategoricalDistribution]:
    """``{"gen.c1.e0": CategoricalDistribution(UP_OPS), ...}`` for the 21 edges of `net`."""
    return {
        param_name(net, c, spec.index): CategoricalDistribution(spec.choices)
        for c in range(NUM_CELLS)
        for spec in edges_of(net)
    }
