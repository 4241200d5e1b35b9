"""①→⑥ The whole search flow in one place: ask → train → evaluate → tell → checkpoint.

One round of a stage is one generation of the sampler: P trials are asked at its start and
told at its end, then the stage's engine writes an atomic checkpoint. A rerun restores the
last checkpoint and continues — an interrupted round is re-run with the same proposals
(its RUNNING trials are reused and told by number, missing asks are completed).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import optuna
from optuna.distributions import BaseDistribution
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from optgan import faults, keys
from optgan.backends import cpu_threads
from optgan.engines import Engine, Evaluation, make_engine
from optgan.engines.base import check_stage_ready, saved_rounds, stage_rounds
from optgan.errors import OptganError
from optgan.search_space import Genotype, count_flops, count_params, param_distributions
from optgan.study.gen_star import GenChoice, fix_gen_star
from optgan.study.round_artifacts import record_round, record_trial_artifacts
from optgan.study.round_timing import RoundTimer, save_round_seconds
from optgan.study.search import Search
from optgan.study.storage import make_durable

__all__ = ["StageResult", "run_stage", "run_search", "population_trials"]

log = logging.getLogger(__name__)

#: trial states that hold a slot of their generation (WAITING trials are reused by the sampler)
_TAKEN = (TrialState.RUNNING, TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)


@dataclass(frozen=True)
class StageResult:
    """Where a stage stands after a call: rounds done before it, after it, and in total."""

    stage: str
    rounds_before: int
    rounds_done: int
    rounds_total: int

    @property
    def finished(self) -> bool:
        return self.rounds_done >= self.rounds_total


def run_search(search: Search, stages: Sequence[str], max_rounds: int | None = None,
               gen_override: GenChoice | Genotype | None = None) -> list[StageResult]:
    """Run `stages` in order; `max_rounds` bounds the rounds run by this call over all stages."""
    faults.point("run")
    search.check_run_dir(adopt=True)  # under the lease: a folder found elsewhere becomes this database's
    results = []
    budget = max_rounds
    if list(stages) == ["gen", "disc"] and _gen_left_behind(search):
        stages = ["disc"]
    for stage in stages:
        if budget is not None and budget <= 0:
            break
        result = run_stage(search, stage, max_rounds=budget, gen_override=gen_override)
        results.append(result)
        if budget is not None:
            budget -= result.rounds_done - result.rounds_before
        if not result.finished:
            break
    if gen_override is not None and not any(r.stage == "disc" for r in results):
        log.warning("the G* given (--gen-trial/--gen-arch) was not used: stage disc did not start in this run "
                    "(stage gen has rounds left); give it again to the run that starts stage disc (e.g. with "
                    "--stage disc)")
    return results


def _gen_left_behind(search: Search) -> bool:
    """Whether stage disc already runs with a G* fixed early (`--gen-trial`/`--gen-arch`) while
    stage gen has rounds left: a run of both stages then skips them (they cannot change G*)."""
    from optgan.study.results import completed_rounds, fixed_gen_star

    star = fixed_gen_star(search.study("disc"))
    if star is None:
        return False
    total = stage_rounds(search.config, "gen")
    done = len(completed_rounds(search.study("gen"), search.config.sampler.population_size))
    if done >= total:
        return False
    from optgan.study.summary import storage_flag

    log.info("stage gen: its %d remaining rounds are skipped: stage disc already runs with G* = %s, which they "
             "cannot change (`optgan run %s --stage gen%s` runs them anyway)", total - done, star.source, search.name,
             storage_flag(search.storage_url)[0])
    return True


def run_stage(search: Search, stage: str, max_rounds: int | None = None,
              gen_override: GenChoice | Genotype | None = None) -> StageResult:
    """Run (or resume) one stage until its last round or `max_rounds` more rounds, on the
    search's `cpu_threads`."""
    with cpu_threads(search.config.cpu_threads):
        return _run_stage(search, stage, max_rounds, gen_override)


def _run_stage(search: Search, stage: str, max_rounds: int | None,
               gen_override: GenChoice | Genotype | None) -> StageResult:
    study = search.study(stage)
    check_stage_ready(search, stage)  # before G* is fixed: a refused stage stores nothing
    g_star = fix_gen_star(search, study, gen_override) if stage == "disc" else None
    if _finished(search, study, stage):  # skip loading the data, the networks and the extractor
        total = stage_rounds(search.config, stage)
        log.info("stage %s: all %d rounds done", stage, total)
        return StageResult(stage, total, total, total)
    engine = make_engine(search, stage, gen_star=g_star)
    total = engine.rounds_total
    start = engine.rounds_done
    _check_checkpoint_matches_study(study, stage, engine, search.config.sampler.population_size)
    stop = total if max_rounds is None else min(total, start + max_rounds)
    net = engine.net
    if start < stop:
        faults.point("warmup")
        engine.prepare()
    for rnd in range(start, stop):
        timer = RoundTimer()
        with timer.phase("ask"):
            trials = population_trials(study, rnd, search.config.sampler.population_size, net)
        population = [Genotype.from_params(net, t.params) for t in trials]
        log.info("stage %s round %d/%d: %s %d candidates", stage, rnd + 1, total,
                 "training" if search.config.evaluation.kind == "real" else "scoring (synthetic)", len(population))
        faults.point("train")
        with timer.phase("train"):
            engine.train(population)
        faults.point("evaluate")
        with timer.phase("evaluate"):
            evaluations = engine.evaluate(population)
        with timer.phase("tell"):
            _tell(study, trials, population, evaluations, search, engine)
        with timer.phase("pictures"):
            record_round(search, stage, study, rnd)
        with timer.phase("checkpoint"):
            make_durable(search.storage.engine)  # the checkpoint must never be newer than the durable study
            search.keep_run_dir_claimed()
            engine.end_round(population, evaluations)
            engine.save(rounds_done=rnd + 1)
        save_round_seconds(study, rnd, timer)
        log.info("stage %s round %d/%d done in %s", stage, rnd + 1, total, timer.describe())
    return StageResult(stage, start, max(start, stop), total)


def _finished(search: Search, study: optuna.Study, stage: str) -> bool:
    """Whether the stage's checkpoint and its study both hold every round (nothing left to run)."""
    from optgan.study.results import completed_rounds

    total = stage_rounds(search.config, stage)
    saved = saved_rounds(search, stage)
    return saved is not None and saved >= total and \
        set(range(total)) <= set(completed_rounds(study, search.config.sampler.population_size))


def _check_checkpoint_matches_study(study: optuna.Study, stage: str, engine: Engine, size: int) -> None:
    """The checkpoint may be ahead of nothing: every round it holds must be complete in the study.

    (The study may be one round ahead: a crash between the tells and the checkpoint.) A study
    behind its checkpoint is a database restored from an older backup; a study with rounds but no
    checkpoint is a run directory that lost its checkpoint, which a rerun rebuilds by retraining.
    """
    from optgan.study.results import completed_rounds

    rounds_done = engine.rounds_done
    done = set(completed_rounds(study, size))
    missing = sorted(set(range(rounds_done)) - done)
    if missing:
        raise OptganError(f"stage {stage}: the checkpoint holds {rounds_done} rounds but round {missing[0] + 1} "
                          f"is not complete in study {study.study_name!r} (a database older than the run "
                          "directory?); restore the matching database, or move the stage's checkpoint "
                          f"{engine.checkpoint_path} away and rerun to retrain from the start")
    if not engine.restored and done:
        log.warning("stage %s: no checkpoint, but the study holds %d completed rounds: retraining from the "
                    "start to rebuild the state (their trials are kept and not told again)", stage, len(done))


def population_trials(study: optuna.Study, generation: int, size: int, net: str) -> list[optuna.trial.FrozenTrial]:
    """The `size` trials of `generation`: existing ones (resume) first, the rest asked now."""
    dists: dict[str, BaseDistribution] = dict(param_distributions(net))
    _finish_interrupted_asks(study, generation, dists)
    mine = [t for t in study.get_trials(deepcopy=False)
            if t.user_attrs.get(keys.GENERATION) == generation]
    done_or_running = [t for t in mine if t.state in _TAKEN]
    if len(done_or_running) > size:
        raise OptganError(f"generation {generation} of study {study.study_name!r} has "
                          f"{len(done_or_running)} trials, more than the population size {size}")
    for _ in range(size - len(done_or_running)):
        study.ask(dists)
    trials = [t for t in study.get_trials(deepcopy=False)
              if t.user_attrs.get(keys.GENERATION) == generation and t.state in _TAKEN]
    trials.sort(key=lambda t: t.user_attrs.get(keys.SLOT, t.number))
    return trials


def _finish_interrupted_asks(study: optuna.Study, generation: int, dists: dict) -> None:
    """Repair asks a crash cut short, so that a resumed round has exactly the same trials.

    A RUNNING trial without a generation tag died before the sampler placed it: it goes back
    to the queue (WAITING), so the next ask reuses it under the same number. A tagged trial
    with missing params gets them now from its (deterministic) proposal.
    """
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if t.user_attrs.get(keys.GENERATION) is None:
            study._storage.set_trial_state_values(t._trial_id, TrialState.WAITING)
            log.info("trial %d was cut off while being asked; it is asked again", t.number)
        elif t.user_attrs.get(keys.GENERATION) == generation and len(t.params) < len(dists):
            live = optuna.Trial(study, t._trial_id)
            for name, dist in dists.items():
                live._suggest(name, dist)


def _tell(study: optuna.Study, trials: Sequence[optuna.trial.FrozenTrial], population: Sequence[Genotype],
          evaluations: Sequence[Evaluation], search: Search, engine: Engine) -> None:
    for trial, genotype, ev in zip(trials, population, evaluations):
        if trial.state != TrialState.RUNNING:
            continue  # told before an interruption: the re-run must not tell twice
        try:
            _tell_one(study, trial, genotype, ev, search, engine)
        except UpdateFinishedTrialError:  # e.g. a dashboard user failed it while the round trained
            state = study._storage.get_trial(trial._trial_id).state.name
            log.warning("trial %d was finished outside this run while its round ran (%s): kept as it is; "
                        "its scores of this round are not stored", trial.number, state)
        faults.point("between_tells")


def _tell_one(study: optuna.Study, trial: optuna.trial.FrozenTrial, genotype: Genotype, ev: Evaluation,
              search: Search, engine: Engine) -> None:
    objectives = search.config.objectives
    size = count_params(genotype, engine.widths)
    attrs = {
        keys.PARAMS_M: size.total / 1e6,
        keys.FLOPS_M: count_flops(genotype, engine.widths) / 1e6,
        keys.GENOTYPE: str(genotype),
        keys.GENOTYPE_ARRAY: genotype.to_array(),
        keys.EXTRACTOR: engine.extractor_label,
    }
    attrs.update(ev.attrs)
    values = [_objective(o, ev, attrs) for o in objectives]
    bad = [o for o, v in zip(objectives, values) if v is None or not math.isfinite(v)]
    live = optuna.Trial(study, trial._trial_id)
    for k, v in attrs.items():  # the first write to a trial finished elsewhere raises UpdateFinishedTrialError
        live.set_user_attr(k, v)
    record_trial_artifacts(search, study, trial, genotype, ev)  # before the tell: finished trials are frozen
    reason = ev.reason or (f"non-finite objective(s): {', '.join(bad)}" if bad else None)
    if reason:
        live.set_user_attr(keys.FAIL_REASON, reason)
    if study._storage.get_trial(trial._trial_id).state.is_finished():
        raise UpdateFinishedTrialError(f"trial {trial.number} was finished elsewhere")
    # (finished elsewhere in the last milliseconds: skipped, the told result kept)
    if reason:
        study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
        log.warning("trial %d failed: %s", trial.number, reason)
    else:
        study.tell(trial.number, cast(list[float], values), skip_if_finished=True)  # all finite: no reason


def _objective(name: str, ev: Evaluation, attrs: dict) -> float | None:
    if name == "params_M":
        return attrs[keys.PARAMS_M]
    if name == "flops_M":
        return attrs[keys.FLOPS_M]
    return ev.values.get(name)
