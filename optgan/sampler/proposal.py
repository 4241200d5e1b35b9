"""One entry of a generation's plan: the genotype to propose and where it came from."""

from __future__ import annotations

from dataclasses import dataclass

from optgan.search_space.genotype import Genotype

__all__ = ["Proposal"]


@dataclass(frozen=True)
class Proposal:
    """A genotype with its lineage (`role` is one of `optgan.keys.ROLES`)."""

    genotype: Genotype
    role: str
    #: trial numbers of the parents (a survivor's parent is its own previous trial)
    parents: tuple[int, ...] = ()
    #: variation applied to a child: "crossover", "mutation", "crossover+mutation" or ""
    operators: str = ""
