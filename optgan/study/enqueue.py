"""Architectures of the user's put into a search's next rounds (`optgan study enqueue`).

An enqueued architecture waits in its stage study (an Optuna WAITING trial, `study.enqueue_trial`)
until `optgan run` asks the next trial; it then takes that round's next slot (role `enqueued`,
displacing the last planned child), is trained and scored with the rest of the round, and can
survive into later rounds like any member. Caps bind the sampler's own proposals, not these: an
architecture outside them joins with a warning. The seed still fixes everything else, so the same
search with the same architectures enqueued at the same points runs the same course.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
import optuna
from optuna.trial import TrialState

from optgan import keys
from optgan.engines.base import stage_net, stage_rounds
from optgan.errors import OptganError
from optgan.sampler.bookkeeping import FIXED_PARAMS
from optgan.sampler.enqueued import whole_genotype
from optgan.search_space import Genotype
from optgan.search_space.constraints import check_caps
from optgan.search_space.widths import other_widths
from optgan.study.results import fixed_gen_star, pareto_trials, rounds_of, trial_genotype
from optgan.study.search import Search
from optgan.study.storage_url import redact

__all__ = ["Enqueued", "enqueue_architectures", "front_architectures"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Enqueued:
    """One architecture given: its waiting trial, the round that will take it (1-based), and
    whether it was already waiting (nothing written for it then)."""

    genotype: Genotype
    trial_number: int
    round: int
    already_waiting: bool


def enqueue_architectures(search: Search, stage: str, given: Sequence[tuple[Genotype, str]]) -> list[Enqueued]:
    """Enqueue `(genotype, where it came from)` pairs into `stage` of `search`, in order.

    Everything is checked before anything is written. Refused (OptganError): a genotype of the
    other network, stage `gen` once stage `disc` has fixed G*, and an architecture that no round
    left would ask (`optgan study extend` gives the stage more). One identical to an architecture
    already waiting is reported, not enqueued twice. Call it under the search's run lease.
    """
    net, name = stage_net(stage), search.name
    unique: list[tuple[Genotype, str]] = []
    for genotype, source in given:
        if genotype.net != net:
            raise OptganError(f"{source} is a {genotype.net} genotype; stage {stage} searches {net} genotypes")
        if all(genotype != g for g, _ in unique):
            unique.append((genotype, source))
    if stage == "gen" and (star := fixed_gen_star(search.study("disc"))) is not None:
        raise OptganError(f"stage gen of {name!r} is over: stage disc runs with G* = {star.source}; enqueue "
                          "discriminators (--stage disc), or search anew")
    study = search.study(stage)
    population, total = search.config.sampler.population_size, stage_rounds(search.config, stage)
    waiting = sorted(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)), key=lambda t: t.number)
    waiting_genotypes = [whole_genotype(net, t.system_attrs.get(FIXED_PARAMS) or {}) for t in waiting]  # FIFO
    next_round, free = _next_slots(study, population)
    plan: list[tuple[Genotype, str, int | None, int]] = []  # genotype, source, waiting trial, 0-based round
    queued = len(waiting)
    for genotype, source in unique:
        if genotype in waiting_genotypes:
            at = waiting_genotypes.index(genotype)
            plan.append((genotype, source, waiting[at].number, _round_at(at, next_round, free, population)))
            continue
        round_ = _round_at(queued, next_round, free, population)
        if round_ >= total:
            ahead = f", after the {queued} architecture(s) waiting before it" if queued else ""
            raise OptganError(f"stage {stage} of {name!r} has no round left to train {source} in (it runs {total} "
                              f"round{'s' * (total != 1)} of {population}{ahead}); give it more rounds first: "
                              f"optgan study extend {name} --{stage}-rounds N")
        plan.append((genotype, source, None, round_))
        queued += 1
    caps = search.config.caps.for_net(net)
    for genotype, source, number, _ in plan:
        if number is None:
            violations = check_caps(genotype, search.config.widths, caps)
            if violations:
                log.warning("%s is outside the search's %s caps (%s): %s; it joins the population anyway (caps "
                            "bind the sampler's own proposals)", source, net, caps.describe(),
                            "; ".join(map(str, violations)))
            study.enqueue_trial(genotype.to_params(), user_attrs={keys.ENQUEUED_FROM: source}, skip_if_exists=False)
    # the trials just written, in the order written (the run lease keeps other writers out)
    known = {t.number for t in waiting}
    new = iter(sorted(t.number for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
                      if t.number not in known))
    return [Enqueued(genotype, next(new) if number is None else number, round_ + 1, already_waiting=number is not None)
            for genotype, _, number, round_ in plan]


def front_architectures(other: Search, stage: str, into: Search) -> list[tuple[Genotype, str]]:
    """`(genotype, source)` of every trial on the last round's Pareto front of `stage` of search
    `other` (trial order): how search `into` starts from what another one found (e.g. at smaller
    widths: said with a warning when `other` searched at other widths than `into`). The source
    names `other`'s storage (password hidden) when it is not that of `into`."""
    study = other.study(stage)
    where = "" if into.storage_url == other.storage_url else f" in {redact(other.storage_url)}"
    front = pareto_trials(study)
    if not front:
        raise OptganError(f"stage {stage} of {other.name!r} has no completed trial yet: no front to enqueue")
    shown = other_widths(vars(other.config.widths), stage_net(stage), into.config.widths)
    if shown:
        log.warning("search %r searched at other widths (%s): its front's sizes and scores differ here", other.name,
                    shown)
    return [(trial_genotype(t, stage_net(stage)), f"trial {t.number} of {study.study_name}{where} (Pareto front of "
             f"round {int(t.user_attrs[keys.GENERATION]) + 1})") for t in sorted(front, key=lambda t: t.number)]


def _next_slots(study: optuna.Study, population: int) -> tuple[int, int]:
    """(0-based round the next ask falls in, free slots left in it)."""
    groups = rounds_of(study)
    if not groups:
        return 0, population
    last = max(groups)
    asked = len(groups[last])
    return (last, population - asked) if asked < population else (last + 1, population)


def _round_at(position: int, next_round: int, free: int, population: int) -> int:
    """The 0-based round that takes the waiting trial at `position` (0 = asked next)."""
    return next_round if position < free else next_round + 1 + (position - free) // population

