"""The optgan sampler: one whole population per round through Optuna's ask/tell.

`OptganSampler` subclasses Optuna's public GA base (`BaseGASampler`) but replaces the parts
whose stock behaviour does not fit a NAS round (see `README 'The evolutionary sampler'`):
- the search space is fixed (`infer_relative_search_space` returns the 21 edge distributions
  from the first trial on; the stock intersection space is empty until trials complete),
- every architecture param comes from `sample_relative` — generation 0 included — and
  `sample_independent` never draws one at random,
- generations count asked trials of any state (the stock rule counts only COMPLETE ones, so
  FAIL trials would make a round spill into the old generation), and
- the survivors are selected from the previous generation only, once, and cached in the study
  under a pinned key.
Where each trial goes is decided in `before_trial` and written to its user attrs (lineage).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.samplers import BaseGASampler, RandomSampler
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from optgan import keys
from optgan.config.sampler import SamplerConfig
from optgan.errors import ConfigError, GenotypeError, OptganError
from optgan.optuna_support import warn_if_unsupported_optuna
from optgan.sampler.bookkeeping import (
    FIXED_PARAMS,
    GenerationInProgressError,
    Membership,
    generation_of,
    latest_generation,
    members,
    next_membership,
    running_numbers,
)
from optgan.sampler.child_generation import ChildGenerationStrategy, Parent
from optgan.sampler.constrained import ConstrainedDraw
from optgan.sampler.enqueued import enqueued_params
from optgan.sampler.initial import InitialPopulationStrategy
from optgan.sampler.pareto import to_losses
from optgan.sampler.population import GenerationPlan
from optgan.sampler.proposal import Proposal
from optgan.sampler.seeding import STREAM_INDEPENDENT, STREAM_SELECTION, rng_for, seed_for
from optgan.sampler.selection import make_selection
from optgan.search_space.constraints import Caps
from optgan.search_space.distributions import param_distributions
from optgan.search_space.genotype import Genotype
from optgan.search_space.widths import CIFAR10_WIDTHS, Widths

__all__ = ["OptganSampler"]

log = logging.getLogger(__name__)
_PLANS_KEPT = 4


class OptganSampler(BaseGASampler):
    """Evolutionary NAS sampler (EAGAN variation, SCGAN constraint sampling, pluggable selection).

    Args:
        net: `gen` or `disc` — which architecture space this study searches.
        config: population, variation and selection settings.
        widths: network widths at which the caps are checked.
        caps: size caps every proposal satisfies.
        seed: used when `config.seed` is None (the study's seed).
    """

    def __init__(
        self,
        *,
        net: str = "gen",
        config: SamplerConfig | None = None,
        widths: Widths = CIFAR10_WIDTHS,
        caps: Caps | None = None,
        seed: int = 0,
    ) -> None:
        if net not in ("gen", "disc"):
            raise ConfigError(f"sampler `net` = {net!r}; allowed: gen, disc")
        warn_if_unsupported_optuna()
        config = config or SamplerConfig()
        super().__init__(population_size=config.population_size)
        self.net, self.config, self.widths = net, config, widths
        self.caps = caps or Caps()
        self.seed = config.seed if config.seed is not None else seed
        if self.seed < 0:
            raise ConfigError(f"`seed` = {self.seed} must be ≥ 0 (it seeds every proposal)")
        self._distributions = param_distributions(net)
        self._selection = make_selection(config.selection, scgan_clusters=config.scgan_clusters)
        self._constrained: ConstrainedDraw = ConstrainedDraw(widths, self.caps, config.max_tries)
        self._initial = InitialPopulationStrategy(net, self._constrained)
        self._children = ChildGenerationStrategy(
            self._constrained, crossover_prob=config.crossover_prob, mutation_prob=config.mutation_prob
        )
        self._plans: OrderedDict[tuple[int, int, int], GenerationPlan] = OrderedDict()
        self._assigned: dict[int, tuple[Membership, dict[str, Any]]] = {}

    # ------------------------------------------------------------------ pinned storage keys
    @classmethod
    def _get_generation_key(cls) -> str:
        return keys.GENERATION

    @classmethod
    def _get_parent_cache_key_prefix(cls) -> str:
        return keys.SURVIVORS_PREFIX

    @property
    def distributions(self) -> dict[str, BaseDistribution]:
        """The 21 categorical edge distributions of `net` (what every trial suggests)."""
        return dict(self._distributions)

    # ------------------------------------------------------------------ Optuna sampler API
    def reseed_rng(self) -> None:
        """Nothing to reseed: every random stream is derived from (seed, generation, slot)."""

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return dict(self._distributions)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        if trial.user_attrs.get(keys.GENERATION) is not None:  # re-opened (resume): idempotent
            self._assigned[trial._trial_id] = self._reload(study, trial)
            return
        try:
            if len(study.directions) < 2:
                raise ConfigError(
                    f"study {study.study_name!r} has {len(study.directions)} objective; the "
                    "optgan sampler needs at least 2 (set `objectives`)"
                )
            self._assigned[trial._trial_id] = self._assign(study, trial)
        except OptganError:
            # give the just-created (or popped) trial back to the queue so that no untagged
            # RUNNING trial is left behind; the next ask() after the fix picks it up again
            study._storage.set_trial_state_values(trial._trial_id, TrialState.WAITING)
            raise

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        _, params = self._assignment(study, trial)
        return {name: value for name, value in params.items() if name in search_space}

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        if param_name in self._distributions:
            raise RuntimeError(
                f"optgan sampler: trial {trial.number} asked for `{param_name}` outside its "
                "proposal (was the trial created by this sampler?)"
            )
        membership, _ = self._assignment(study, trial)
        key = (membership.generation, membership.slot, param_name)
        sampler = RandomSampler(seed=seed_for(self.seed, self.net, STREAM_INDEPENDENT, *key))
        return sampler.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Any) -> None:
        self._assigned.pop(trial._trial_id, None)

    # ------------------------------------------------------------------ BaseGASampler API
    def select_parent(self, study: Study, generation: int) -> list[FrozenTrial]:
        """Survivors for `generation`: selected among the COMPLETE trials of `generation − 1`."""
        trials = study.get_trials(deepcopy=False)
        pool = [t for t in members(trials, generation - 1) if t.state == TrialState.COMPLETE]
        if not pool:
            return []
        maximize = [d == StudyDirection.MAXIMIZE for d in study.directions]
        losses = to_losses([t.values for t in pool], maximize)
        rng = rng_for(self.seed, self.net, STREAM_SELECTION, generation)
        chosen = self._selection(losses, self.config.survivors, rng)
        return sorted((pool[i] for i in chosen), key=lambda t: t.number)

    def get_trial_generation(self, study: Study, trial: FrozenTrial) -> int:
        g = generation_of(study._storage.get_trial(trial._trial_id))
        if g is None:
            raise ValueError(f"trial {trial.number} was not proposed by the optgan sampler")
        return g

    def get_population(self, study: Study, generation: int) -> list[FrozenTrial]:
        """COMPLETE trials of `generation`."""
        trials = study.get_trials(deepcopy=False)
        return [t for t in members(trials, generation) if t.state == TrialState.COMPLETE]

    def plan(self, study: Study, generation: int) -> GenerationPlan:
        """The (cached) deterministic plan of `generation` of `study`."""
        key = (id(study._storage), study._study_id, generation)
        if key in self._plans:
            self._plans.move_to_end(key)
            return self._plans[key]
        survivors = self._survivors(study, generation) if generation > 0 else []
        if generation > 0 and not survivors:
            log.warning("generation %d of %s has no COMPLETE trial; generation %d starts afresh",
                        generation - 1, study.study_name, generation)
        plan = GenerationPlan(net=self.net, seed=self.seed, generation=generation,
                              survivors=survivors, initial=self._initial, children=self._children)
        self._plans[key] = plan
        while len(self._plans) > _PLANS_KEPT:
            self._plans.popitem(last=False)
        return plan

    # ------------------------------------------------------------------ internals
    def _survivors(self, study: Study, generation: int) -> list[Parent]:
        out: list[Parent] = []
        seen: set[Genotype] = set()
        for t in sorted(self.get_parent_population(study, generation), key=lambda t: t.number):
            try:
                g = Genotype.from_params(self.net, t.params)
            except GenotypeError:
                log.warning("trial %d has no valid %s genotype; not used as a survivor", t.number, self.net)
                continue
            if g not in seen:
                seen.add(g)
                out.append((t.number, g))
        return out

    def _assignment(self, study: Study, trial: FrozenTrial) -> tuple[Membership, dict[str, Any]]:
        if trial._trial_id not in self._assigned:  # e.g. before_trial ran in another process
            fresh = study._storage.get_trial(trial._trial_id)
            if fresh.user_attrs.get(keys.GENERATION) is None:
                raise RuntimeError(f"optgan sampler: trial {trial.number} has no generation yet")
            self._assigned[trial._trial_id] = self._reload(study, fresh)
        return self._assigned[trial._trial_id]

    def _assign(self, study: Study, trial: FrozenTrial) -> tuple[Membership, dict[str, Any]]:
        latest = latest_generation(study.get_trials(deepcopy=False))
        where = next_membership(latest, self.config.population_size)
        same: tuple[FrozenTrial, ...] = latest.trials if where.slot else ()
        if where.slot == 0 and where.generation > 0:
            self._refuse_if_running(study, latest.trials, where.generation)
        fixed = trial.system_attrs.get(FIXED_PARAMS) or {}
        if any(name in self._distributions for name in fixed):
            self._tag(study, trial, where, None, keys.ROLE_ENQUEUED)
            return where, self._enqueued(fixed, where)[1]
        index, proposal = self._pick(study, same, where.generation)
        self._tag(study, trial, where, index, proposal.role, proposal.parents, proposal.operators)
        return where, proposal.genotype.to_params()

    def _pick(self, study: Study, same: Sequence[FrozenTrial], generation: int) -> tuple[int, Proposal]:
        """The first plan entry not used by `same` (the generation's trials so far) and not
        equal to an enqueued trial's genotype."""
        plan = self.plan(study, generation)
        used = {t.system_attrs[keys.PLAN_INDEX] for t in same if keys.PLAN_INDEX in t.system_attrs}
        enqueued = {self._enqueued_of(t) for t in same if t.user_attrs.get(keys.ROLE) == keys.ROLE_ENQUEUED}
        index = 0
        while index in used or plan[index].genotype in enqueued:
            index += 1
        return index, plan[index]

    def _enqueued(self, fixed: dict[str, Any], where: Membership) -> tuple[Genotype | None, dict[str, Any]]:
        return enqueued_params(fixed, where, net=self.net, seed=self.seed, constrained=self._constrained)

    def _enqueued_of(self, trial: FrozenTrial) -> Genotype | None:
        where = Membership(generation_of(trial) or 0, int(trial.user_attrs.get(keys.SLOT, 0)))
        return self._enqueued(trial.system_attrs.get(FIXED_PARAMS) or {}, where)[0]

    def _reload(self, study: Study, trial: FrozenTrial) -> tuple[Membership, dict[str, Any]]:
        where = Membership(int(trial.user_attrs[keys.GENERATION]), int(trial.user_attrs[keys.SLOT]))
        if keys.PLAN_INDEX not in trial.system_attrs:
            return where, self._enqueued(trial.system_attrs.get(FIXED_PARAMS) or {}, where)[1]
        proposal = self.plan(study, where.generation)[trial.system_attrs[keys.PLAN_INDEX]]
        return where, proposal.genotype.to_params()

    def _refuse_if_running(self, study: Study, previous: Sequence[FrozenTrial], generation: int) -> None:
        running = running_numbers(previous)
        if not running:
            return
        shown = ", ".join(map(str, running[:8])) + (" …" if len(running) > 8 else "")
        raise GenerationInProgressError(
            f"cannot start generation {generation} of study {study.study_name!r}: "
            f"{len(running)} trial(s) of generation {generation - 1} are still RUNNING ({shown}); "
            "tell them first (study.tell(number, values) or state=FAIL)"
        )

    def _tag(self, study: Study, trial: FrozenTrial, where: Membership, index: int | None,
             role: str, parents: tuple[int, ...] = (), operators: str = "") -> None:
        storage, tid = study._storage, trial._trial_id
        if index is not None:
            storage.set_trial_system_attr(tid, keys.PLAN_INDEX, index)
        storage.set_trial_user_attr(tid, keys.SLOT, where.slot)
        storage.set_trial_user_attr(tid, keys.ROLE, role)
        storage.set_trial_user_attr(tid, keys.PARENTS, list(parents))
        if operators:
            storage.set_trial_user_attr(tid, keys.OPERATORS, operators)
        storage.set_trial_user_attr(tid, keys.GENERATION, where.generation)  # last: marks it tagged
