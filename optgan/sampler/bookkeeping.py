"""Generation bookkeeping: which generation and slot each asked trial belongs to.

Rule: one round = one generation = exactly `population_size` asked trials, counted over every
trial the sampler has tagged (any state: a FAIL or PRUNED trial still used its slot, an
enqueued trial counts in the generation it is asked in). Trials the sampler never saw
(`study.add_trial`, other samplers) carry no tag and are ignored. The tags are user attrs under
the pinned keys of :mod:`optgan.keys`. One process should ask for a study at a time: slots are
counted from storage, not reserved atomically.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from optuna.trial import FrozenTrial, TrialState

from optgan import keys
from optgan.errors import OptganError

__all__ = ["GenerationInProgressError", "Membership", "Latest", "generation_of", "members",
           "latest_generation", "next_membership", "running_numbers", "FIXED_PARAMS"]

#: Optuna's system attr holding the params of an enqueued trial
FIXED_PARAMS = "fixed_params"


class GenerationInProgressError(OptganError, RuntimeError):
    """A new generation was asked for while trials of the previous one are still RUNNING."""


@dataclass(frozen=True)
class Membership:
    generation: int
    slot: int


def generation_of(trial: FrozenTrial) -> int | None:
    """The generation tag of `trial` (None when the sampler never tagged it)."""
    g = trial.user_attrs.get(keys.GENERATION)
    return None if g is None else int(g)


def members(trials: Iterable[FrozenTrial], generation: int) -> list[FrozenTrial]:
    """Tagged trials of `generation`, any state, by trial number."""
    return sorted((t for t in trials if generation_of(t) == generation), key=lambda t: t.number)


@dataclass(frozen=True)
class Latest:
    """The latest generation seen in storage and its tagged trials (by number); -1 = none."""

    generation: int
    trials: tuple[FrozenTrial, ...]


def latest_generation(trials: Iterable[FrozenTrial]) -> Latest:
    """One pass over `trials`: the highest generation tag and its members."""
    latest, found = -1, list[FrozenTrial]()
    for t in trials:
        g = generation_of(t)
        if g is None or g < latest:
            continue
        if g > latest:
            latest, found = g, []
        found.append(t)
    return Latest(latest, tuple(sorted(found, key=lambda t: t.number)))


def next_membership(latest: Latest, population_size: int) -> Membership:
    """Where the next asked trial goes: the latest generation if it has room, else a new one."""
    if latest.generation < 0:
        return Membership(0, 0)
    if len(latest.trials) < population_size:
        return Membership(latest.generation, len(latest.trials))
    return Membership(latest.generation + 1, 0)


def running_numbers(trials: Iterable[FrozenTrial]) -> list[int]:
    """Numbers of the RUNNING trials among `trials`."""
    return [t.number for t in trials if t.state == TrialState.RUNNING]
