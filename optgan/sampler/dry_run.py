"""A small ask/tell driver for the synthetic evaluation: a search dry run in seconds.

`run_synthetic_search(study, generations)` asks each generation's trials (all of them first,
as a real round does), evaluates them with :func:`~optgan.sampler.synthetic.synthetic_values`
and tells the results. It resumes: `generations` is the total wanted, tagged RUNNING trials left
by a killed run are adopted (re-opened, completed and told) before new ones are asked, and a
half-asked generation is completed first. The search driver (`optgan run`) replaces it for
real evaluations.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import optuna
from optuna.study import StudyDirection
from optuna.trial import TrialState

from optgan import keys
from optgan.errors import ConfigError, GenotypeError
from optgan.progress import progress_bar
from optgan.sampler.bookkeeping import generation_of
from optgan.sampler.sampler import OptganSampler
from optgan.sampler.synthetic import synthetic_values
from optgan.search_space.genotype import Genotype

__all__ = ["DryRunSummary", "run_synthetic_search", "DIRECTIONS"]

log = logging.getLogger(__name__)

#: direction of each objective (mirrors `optgan.config.study.OBJECTIVES`)
DIRECTIONS = {"IS": "maximize", "FID": "minimize", "KID": "minimize", "params_M": "minimize",
              "flops_M": "minimize"}


@dataclass(frozen=True)
class DryRunSummary:
    """What one call did: generations now in the study, trials told, FAIL among them, time."""

    generations: int
    told: int
    failed: int
    seconds: float


def run_synthetic_search(
    study: optuna.Study,
    generations: int,
    *,
    objectives: Sequence[str] = ("IS", "FID", "params_M"),
    fail: Callable[[optuna.Trial], bool] | None = None,
    progress: bool = False,
) -> DryRunSummary:
    """Drive `study` (whose sampler is an OptganSampler) until it has `generations` generations.

    `fail(trial)` returning True makes that trial end FAIL instead (for tests of bookkeeping).
    """
    sampler = _check(study, objectives)
    start, told, failed = time.perf_counter(), 0, 0
    population = sampler.config.population_size
    for trial in _adopt(study):
        failed += _finish(study, trial, sampler, objectives, fail)
        told += 1
    with progress_bar(total=generations, show=progress, desc="synthetic generations") as bar:
        while True:
            tagged = sum(generation_of(t) is not None for t in study.get_trials(deepcopy=False))
            bar.n = tagged // population
            bar.refresh()
            if tagged >= generations * population:
                break
            batch = [_ask(study, sampler) for _ in range(population - tagged % population)]
            for trial in batch:
                failed += _finish(study, trial, sampler, objectives, fail)
                told += 1
    return DryRunSummary(generations, told, failed, time.perf_counter() - start)


def _check(study: optuna.Study, objectives: Sequence[str]) -> OptganSampler:
    search = study.user_attrs.get(keys.SEARCH_NAME)
    if search is not None:  # its trials would mix with the search's, outside its lease and checkpoints
        raise ConfigError(f"study {study.study_name!r} belongs to the optgan search {search!r}: run that with "
                          f"`optgan run {search}`, and give run_synthetic_search a study of its own "
                          "(e.g. optuna.create_study(directions=…, sampler=make_sampler(config, net=…)))")
    if not isinstance(study.sampler, OptganSampler):
        raise ConfigError(f"study {study.study_name!r} does not use the optgan sampler; "
                          "build it with optgan.sampler.make_sampler")
    if len(objectives) != len(study.directions):
        raise ConfigError(f"{len(objectives)} objectives {list(objectives)} for a study with "
                          f"{len(study.directions)} directions")
    for name, direction in zip(objectives, study.directions):
        want = DIRECTIONS.get(name)
        if want is None:
            raise ConfigError(f"objective {name!r} is unknown; allowed: {', '.join(DIRECTIONS)}")
        if (direction == StudyDirection.MAXIMIZE) != (want == "maximize"):
            raise ConfigError(f"objective {name!r} must be {want}d, the study says {direction.name.lower()}")
    return study.sampler


def _ask(study: optuna.Study, sampler: OptganSampler) -> optuna.Trial:
    return study.ask(fixed_distributions=sampler.distributions)


def _adopt(study: optuna.Study) -> list[optuna.Trial]:
    """Tagged RUNNING trials (left by a killed run), re-opened with their params suggested."""
    out = []
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if frozen.user_attrs.get(keys.GENERATION) is None:
            continue
        trial = optuna.Trial(study, frozen._trial_id)
        for name, dist in cast(OptganSampler, study.sampler).distributions.items():
            trial.suggest_categorical(name, dist.choices)  # type: ignore[attr-defined]
        log.info("adopting RUNNING trial %d of generation %s", frozen.number, generation_of(frozen))
        out.append(trial)
    return out


def _finish(study: optuna.Study, trial: optuna.Trial, sampler: OptganSampler,
            objectives: Sequence[str], fail: Callable[[optuna.Trial], bool] | None) -> int:
    """Evaluate and tell one trial; returns 1 when it was told FAIL."""
    try:
        genotype = Genotype.from_params(sampler.net, trial.params)
    except GenotypeError as e:
        log.warning("trial %d: %s", trial.number, e)
        study.tell(trial, state=TrialState.FAIL)
        return 1
    if fail is not None and fail(trial):
        study.tell(trial, state=TrialState.FAIL)
        return 1
    study.tell(trial, synthetic_values(genotype, objectives, sampler.widths))
    return 0
