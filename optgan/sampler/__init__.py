"""② Which genotypes next: the Optuna sampler, crossover, mutation, selection (no torch).

`make_sampler(config, net=...)` is the one way to build the sampler of a study; see
`README 'The evolutionary sampler'` for the semantics (one round = one generation, survivors + children,
caps on every proposal, deterministic and resume-safe proposals, lineage attrs).
"""

from optgan.sampler.bookkeeping import GenerationInProgressError
from optgan.sampler.child_generation import ChildGenerationStrategy
from optgan.sampler.crossover import OneEdgeCrossover
from optgan.sampler.dry_run import DryRunSummary, run_synthetic_search
from optgan.sampler.factory import attach_sampler, make_sampler, sampler_for_study
from optgan.sampler.mutation import OneEdgeMutation
from optgan.sampler.sampler import OptganSampler
from optgan.sampler.selection import SelectionStrategy, make_selection
from optgan.sampler.synthetic import synthetic_values

__all__ = [
    "OptganSampler", "make_sampler", "sampler_for_study", "attach_sampler",
    "GenerationInProgressError", "ChildGenerationStrategy", "OneEdgeCrossover", "OneEdgeMutation",
    "SelectionStrategy", "make_selection", "synthetic_values", "run_synthetic_search",
    "DryRunSummary",
]
