"""Reading a stage study back: rounds, per-round statistics, Pareto sets and the chosen G*.

Values of different rounds were measured with different shared weights, so Pareto sets and
choices are always taken within one round (by default the last completed one).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from optgan import keys
from optgan.errors import StorageError
from optgan.sampler.pareto import nondominated_mask
from optgan.search_space import Genotype

__all__ = ["RoundSummary", "rounds_of", "completed_rounds", "round_summaries", "pareto_trials",
           "choose_best", "trial_by_number", "trial_genotype", "GenStar", "fixed_gen_star"]


@dataclass(frozen=True)
class RoundSummary:
    round: int
    n_complete: int
    n_failed: int
    best: dict[str, float]
    mean: dict[str, float]


def rounds_of(study: optuna.Study) -> dict[int, list[FrozenTrial]]:
    """Trials grouped by round (sampler generation), in slot order."""
    groups: dict[int, list[FrozenTrial]] = defaultdict(list)
    for t in study.get_trials(deepcopy=False):
        g = t.user_attrs.get(keys.GENERATION)
        if g is not None:
            groups[int(g)].append(t)
    for trials in groups.values():
        trials.sort(key=lambda t: t.user_attrs.get(keys.SLOT, t.number))
    return dict(sorted(groups.items()))


Rounds = dict[int, list[FrozenTrial]]  #: what :func:`rounds_of` returns; pass it on to read the trials once


def completed_rounds(study: optuna.Study, population_size: int, groups: Rounds | None = None) -> list[int]:
    """Rounds whose P trials are all finished (COMPLETE or FAIL)."""
    done = (TrialState.COMPLETE, TrialState.FAIL)
    return [g for g, ts in (rounds_of(study) if groups is None else groups).items()
            if len(ts) >= population_size and all(t.state in done for t in ts)]


def round_summaries(study: optuna.Study, objectives: Sequence[str], directions: Sequence[str],
                    groups: Rounds | None = None) -> list[RoundSummary]:
    """Best and mean of every objective, per round (COMPLETE trials only)."""
    out = []
    for g, trials in (rounds_of(study) if groups is None else groups).items():
        ok = [t for t in trials if t.state == TrialState.COMPLETE]
        best, mean = {}, {}
        if ok:
            values = np.array([t.values for t in ok], dtype=float)
            for j, (name, d) in enumerate(zip(objectives, directions)):
                best[name] = float(values[:, j].max() if d == "maximize" else values[:, j].min())
                mean[name] = float(values[:, j].mean())
        failed = sum(t.state == TrialState.FAIL for t in trials)
        out.append(RoundSummary(g, len(ok), failed, best, mean))
    return out


def pareto_trials(study: optuna.Study, round_: int | None = None, groups: Rounds | None = None) -> list[FrozenTrial]:
    """Non-dominated COMPLETE trials of one round (default: the last round with results)."""
    groups = rounds_of(study) if groups is None else groups
    rounds = [g for g, ts in groups.items() if any(t.state == TrialState.COMPLETE for t in ts)]
    if not rounds:
        return []
    g = rounds[-1] if round_ is None else round_
    trials = [t for t in groups.get(g, []) if t.state == TrialState.COMPLETE]
    if not trials:
        return []
    signs = np.array([-1.0 if d == optuna.study.StudyDirection.MAXIMIZE else 1.0 for d in study.directions])
    values = np.array([t.values for t in trials], dtype=float).reshape(len(trials), -1) * signs
    return [t for t, kept in zip(trials, nondominated_mask(values)) if kept]


def choose_best(study: optuna.Study, objectives: Sequence[str]) -> FrozenTrial:
    """The documented G*/D* rule: on the last round's Pareto front, the lowest FID.

    Without FID among the objectives, the best value of the first metric objective (IS, KID)
    is used, and without any metric objective the first objective's best.
    """
    front = pareto_trials(study)
    if not front:
        if study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):  # it ran: its last round all failed
            own = ", or give G* yourself with --gen-arch FILE" if study.study_name.endswith(":gen") else ""
            raise StorageError(f"no trial of study {study.study_name!r}'s last round completed (its failed trials "
                               f"say why: `optgan status`): nothing to choose from; start a new search with other "
                               f"settings{own}")
        raise StorageError(f"study {study.study_name!r} has no completed trial yet; run its stage first")
    names = list(objectives)
    key = next((o for o in ("FID", "KID", "IS") if o in names), names[0])
    j = names.index(key)
    sign = -1.0 if study.directions[j] == optuna.study.StudyDirection.MAXIMIZE else 1.0
    return min(front, key=lambda t: (sign * t.values[j], t.number))


def trial_by_number(study: optuna.Study, number: int) -> FrozenTrial | None:
    """Trial `number` of `study` (None when it has no such trial)."""
    return next((t for t in study.get_trials(deepcopy=False) if t.number == number), None)


@dataclass(frozen=True)
class GenStar:
    """The G* that stage `disc` pairs its candidates with, once fixed."""

    genotype: Genotype
    source: str  #: `trial N of NAME:gen` (the documented rule, or --gen-trial) or `user override`
    trial: int | None  #: N when G* is a trial of stage gen


def fixed_gen_star(disc_study: optuna.Study) -> GenStar | None:
    """G* as stage `disc` fixed it at its first run (None before): what `best`, `export` and the
    summary show for stage gen, so that a `--gen-arch` override is never shown as another G."""
    stored = disc_study.user_attrs.get(keys.GEN_STAR)
    if stored is None:
        return None
    source = str(disc_study.user_attrs.get(keys.GEN_STAR_SOURCE, "user override"))
    words = source.split()
    trial = int(words[1]) if len(words) > 1 and words[0] == "trial" and words[1].isdigit() else None
    return GenStar(Genotype.from_json(stored, "gen"), source, trial)


def trial_genotype(trial: FrozenTrial, net: str) -> Genotype:
    return Genotype.from_params(net, trial.params)


def trial_record(trial: FrozenTrial, net: str, objectives: Sequence[str]) -> dict[str, Any]:
    """A JSON-ready description of a trial: number, round (1-based, as `optgan status` prints it)
    and generation (0-based, as `optgan:generation` and `status --json`), values, sizes, genotype."""
    g = trial_genotype(trial, net)
    generation = trial.user_attrs.get(keys.GENERATION)
    values = {o: (v if v is None or math.isfinite(v) else None)
              for o, v in zip(objectives, trial.values or [None] * len(objectives))}
    return {
        "trial": trial.number,
        "round": None if generation is None else generation + 1,
        "generation": generation,
        "role": trial.user_attrs.get(keys.ROLE),
        "values": values,
        "params_M": trial.user_attrs.get(keys.PARAMS_M),
        "flops_M": trial.user_attrs.get(keys.FLOPS_M),
        "genotype": g.to_json_dict(),
    }
