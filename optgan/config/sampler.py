"""The `sampler:` section of a study config: population, variation and selection settings.

Defaults follow the EAGAN paper (SPEC §2, §4): P = 32, P/2 survivors, crossover 0.3,
mutation 0.5, NSGA-II selection; `eagan` and `scgan` select like the reference codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from optgan.config.base import check_range
from optgan.errors import ConfigError

__all__ = ["SamplerConfig", "SelectionName", "SELECTIONS"]

SelectionName = Literal["nsga2", "eagan", "scgan"]
SELECTIONS: tuple[str, ...] = ("nsga2", "eagan", "scgan")


#: the selection sorts the P trials of the previous generation by comparing every pair in memory: ≈ 200 MB at 4,096
MAX_POPULATION = 4096


@dataclass(frozen=True)
class SamplerConfig:
    """How each generation is proposed; validated on construction."""

    #: trials per generation (one round = one generation = exactly this many asks)
    population_size: int = 32
    #: survivors kept from the previous generation; None = population_size // 2
    num_survivors: int | None = None
    #: probability that a child starts as a one-edge crossover of two distinct survivors
    crossover_prob: float = 0.3
    #: probability that a child then gets one edge mutated
    mutation_prob: float = 0.5
    #: `nsga2` (default), `eagan` (CARS-style pooled sorts) or `scgan` (Tchebycheff + clusters)
    selection: SelectionName = "nsga2"
    #: k of SCGAN selection: survivors picked by clustering the next 2k ranked candidates
    scgan_clusters: int = 8
    #: draws allowed per proposal before giving up with an error naming the caps
    max_tries: int = 2000
    #: seed of every proposal; None = the study's `seed`
    seed: int | None = None

    def __post_init__(self) -> None:
        check_range("sampler.population_size", self.population_size, low=2, high=MAX_POPULATION)
        check_range("sampler.num_survivors", self.num_survivors, low=1, high=self.population_size - 1)
        check_range("sampler.crossover_prob", self.crossover_prob, low=0.0, high=1.0)
        check_range("sampler.mutation_prob", self.mutation_prob, low=0.0, high=1.0)
        check_range("sampler.scgan_clusters", self.scgan_clusters, low=1)
        check_range("sampler.max_tries", self.max_tries, low=1)
        check_range("sampler.seed", self.seed, low=0, high=2**63 - 1)
        if self.crossover_prob == 0 and self.mutation_prob == 0:
            raise ConfigError(
                "`sampler.crossover_prob` and `sampler.mutation_prob` are both 0: every child "
                "would copy a survivor; make at least one positive"
            )
        if self.mutation_prob == 0 and self.survivors < 2:
            raise ConfigError(
                "`sampler.mutation_prob` = 0 with 1 survivor: crossover needs two distinct survivors, so every "
                "child would copy the one; raise `sampler.num_survivors` or make `sampler.mutation_prob` positive"
            )
        if self.selection == "scgan" and self.scgan_clusters > self.survivors:
            raise ConfigError(
                f"`sampler.scgan_clusters` = {self.scgan_clusters} exceeds the {self.survivors} "
                "survivors; lower it or raise `sampler.num_survivors`"
            )

    @property
    def survivors(self) -> int:
        """Survivors per generation (`num_survivors`, default half the population)."""
        return self.num_survivors if self.num_survivors is not None else self.population_size // 2
