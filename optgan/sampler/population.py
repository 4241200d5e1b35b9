"""The plan of one generation: a deterministic, lazily extended list of proposals.

Entry i of generation g depends only on the seed, g, i, the survivors (trial numbers and
genotypes, fixed once g starts) and the entries before it — never on what this process did
earlier — so a restarted process rebuilds exactly the same plan. Survivors come first (re-
proposed with identical params so they are re-scored with the current shared weights), then
children; without survivors (generation 0, or a previous generation with no COMPLETE trial)
every entry is a fresh uniform draw within the caps. Entries past the population size are
spares, used only when an enqueued trial duplicates a planned one.
"""

from __future__ import annotations

from collections.abc import Sequence

from optgan import keys
from optgan.sampler.child_generation import ChildGenerationStrategy, Parent
from optgan.sampler.initial import InitialPopulationStrategy
from optgan.sampler.proposal import Proposal
from optgan.sampler.seeding import STREAM_PROPOSAL, rng_for

__all__ = ["GenerationPlan"]


class GenerationPlan:
    """Proposals of generation `generation`, computed on demand in index order."""

    def __init__(
        self,
        *,
        net: str,
        seed: int,
        generation: int,
        survivors: Sequence[Parent],
        initial: InitialPopulationStrategy,
        children: ChildGenerationStrategy,
    ) -> None:
        self.net, self.seed, self.generation = net, seed, generation
        self.survivors = tuple(survivors)
        self._initial, self._children = initial, children
        self._entries = [Proposal(g, keys.ROLE_SURVIVOR, (n,)) for n, g in self.survivors]
        self._taken = {p.genotype for p in self._entries}

    def __getitem__(self, index: int) -> Proposal:
        while len(self._entries) <= index:
            self._extend()
        return self._entries[index]

    def _extend(self) -> None:
        slot = len(self._entries)
        rng = rng_for(self.seed, self.net, STREAM_PROPOSAL, self.generation, slot)
        what = f"generation {self.generation}, slot {slot}"
        if self.survivors:
            proposal = self._children(self.survivors, self._taken, rng, what)
        else:
            proposal = self._initial(self._taken, rng, what)
        self._entries.append(proposal)
        self._taken.add(proposal.genotype)
