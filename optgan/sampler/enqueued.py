"""Genotypes of enqueued trials (`study.enqueue_trial`): the user's params, completed if partial.

An enqueued trial belongs to the generation it is asked in and takes that slot (role
`enqueued`); its fixed params always win. When only some edges are fixed, the others are filled
from uniform draws (stream `STREAM_ENQUEUED` of its generation and slot, so the fill is
reproducible) until the whole is valid and within the caps; if no draw satisfies the caps the
first valid one is used (enqueued architectures are the user's choice, not proposals), and if
the fixed values themselves are invalid the genotype is None and the free edges get a plain
uniform draw, so every param still has a value (the evaluation then reports the invalid cell).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from optgan.errors import GenotypeError
from optgan.sampler.bookkeeping import Membership
from optgan.sampler.constrained import ConstrainedDraw
from optgan.sampler.seeding import STREAM_ENQUEUED, rng_for
from optgan.search_space.distributions import param_distributions
from optgan.search_space.genotype import Genotype
from optgan.search_space.random import random_genotype

__all__ = ["enqueued_genotype", "enqueued_params", "whole_genotype"]


def enqueued_genotype(
    fixed: Mapping[str, Any], where: Membership, *, net: str, seed: int, constrained: ConstrainedDraw
) -> Genotype | None:
    """The genotype an enqueued trial with `fixed` params will have (None if invalid)."""
    names = param_distributions(net)
    ours = {k: v for k, v in fixed.items() if k in names}
    if len(ours) == len(names):
        return whole_genotype(net, ours)
    rng = rng_for(seed, net, STREAM_ENQUEUED, where.generation, where.slot)
    first_valid = None
    for _ in range(constrained.max_tries):
        genotype = whole_genotype(net, {**random_genotype(net, rng).to_params(), **ours})
        if genotype is None:
            continue
        if constrained.feasible(genotype):
            return genotype
        first_valid = first_valid or genotype
    return first_valid


def whole_genotype(net: str, params: Mapping[str, Any]) -> Genotype | None:
    """The genotype of `params` (other keys ignored); None when they are partial or not valid."""
    try:
        return Genotype.from_params(net, params)
    except GenotypeError:
        return None


def enqueued_params(
    fixed: Mapping[str, Any], where: Membership, *, net: str, seed: int, constrained: ConstrainedDraw
) -> tuple[Genotype | None, dict[str, Any]]:
    """(genotype or None, a value for every edge param) of an enqueued trial."""
    genotype = enqueued_genotype(fixed, where, net=net, seed=seed, constrained=constrained)
    if genotype is not None:
        return genotype, genotype.to_params()
    rng = rng_for(seed, net, STREAM_ENQUEUED, where.generation, where.slot)
    return None, {**random_genotype(net, rng).to_params(), **fixed}
