"""Human summaries of a search: what `optgan run` prints at the end and `optgan status` shows."""

from __future__ import annotations

import dataclasses
import pathlib
import shlex
from collections.abc import Callable
from typing import Any

from optuna.trial import TrialState

from optgan import keys
from optgan.engines.base import saved_rounds
from optgan.study.results import (choose_best, completed_rounds, fixed_gen_star, pareto_trials, round_summaries,
                                  rounds_of, trial_by_number, trial_record)
from optgan.study.round_timing import round_seconds
from optgan.study.search import STAGES, Search
from optgan.study.storage_url import redact, resolve_storage_url

__all__ = ["stage_status", "print_summary"]


def stage_status(search: Search, stage: str) -> dict[str, Any]:
    """JSON-ready status of one stage: rounds, per-round best/mean, current Pareto set."""
    study = search.study(stage)
    cfg = search.config
    net = "gen" if stage == "gen" else "disc"
    total = (cfg.gen_stage if stage == "gen" else cfg.disc_stage).rounds
    started = rounds_of(study)  # the trials, read once
    done = completed_rounds(study, cfg.sampler.population_size, started)
    rounds = round_summaries(study, search.labels, cfg.directions, started)
    front = [trial_record(t, net, search.labels) for t in pareto_trials(study, groups=started)]
    seconds = round_seconds(study)
    doing = next((g for g, ts in started.items() if g not in done), None)  # begun, not all told
    recent = [v["total"] for v in list(seconds.values())[-3:]]
    saved = saved_rounds(search, stage)  # None: synthetic, or no (readable) checkpoint here
    per_round = sum(recent) / len(recent) if recent else None
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    return {
        "stage": stage,
        "study": study.study_name,
        "rounds_done": len(done),
        "rounds_total": total,
        #: rounds held by the stage's checkpoint in the run directory (real kind; None: none there);
        #: fewer than rounds_done after a stop between a round's tells and its checkpoint: the next
        #: run retrains those rounds from their stored trials without telling them again
        "rounds_checkpointed": saved,
        #: mean wall-clock seconds of the last (up to 3) timed rounds, and the rounds left at that pace
        "seconds_per_round": None if per_round is None else round(per_round, 3),
        "eta_seconds": None if per_round is None else round(per_round * max(0, total - len(done)), 1),
        "rounds": [{"generation": r.round, "complete": r.n_complete, "failed": r.n_failed,
                    "best": r.best, "mean": r.mean, "seconds": seconds.get(r.round)} for r in rounds],
        "pareto": front,
        #: the round begun but not complete (asked trials, told ones), e.g. the one a run works on now
        "in_progress": None if doing is None else {
            "generation": doing, "asked": len(started[doing]),
            "told": sum(t.state.is_finished() for t in started[doing])},
        #: trials enqueued (`optgan study enqueue`, `study.enqueue_trial`) that no round has asked yet
        "waiting": [{"trial": t.number, "source": t.user_attrs.get(keys.ENQUEUED_FROM)} for t in waiting],
    }


#: `studies/` of the optgan checkout (absent from a wheel install)
_PRESETS_DIR = pathlib.Path(__file__).resolve().parents[2] / "studies"
#: the final-training preset that fits a search's data set (README "Train the winner")
_TRAIN_PRESETS = {"digits": "train-quickstart.yaml", "cifar10": "train-cifar10.yaml", "stl10": "train-stl10.yaml"}


def print_summary(search: Search, echo: Callable[[str], Any]) -> None:
    """A few lines per stage: progress, the chosen architecture and the commands to go on with
    (export, train, dashboard), pointed at the search's storage."""
    cfg = search.config
    chosen = []
    for stage in STAGES:
        status = stage_status(search, stage)
        star = fixed_gen_star(search.study("disc")) if stage == "gen" else None
        if status["rounds"]:
            echo(f"[{stage}] {status['rounds_done']}/{status['rounds_total']} rounds, "
                 f"{len(status['pareto'])} architecture{'' if len(status['pareto']) == 1 else 's'} on the last "
                 "round's Pareto front")
        if star is not None and star.trial is None:  # stage disc runs with a G* from outside this stage
            echo(f"[gen] G* of stage disc ({star.source}): {star.genotype}")
            chosen.append(stage)
            continue
        if not status["rounds"]:
            continue
        if not status["pareto"]:
            echo(f"[{stage}] no completed trial yet")
            continue
        best = choose_best(search.study(stage), cfg.objectives)
        if star is not None and star.trial is not None:  # --gen-trial: G* need not be the rule's choice
            best = trial_by_number(search.study("gen"), star.trial) or best
        values = ", ".join(f"{o}={v:.4g}" for o, v in zip(search.labels, best.values or ()))
        echo(f"[{stage}] chosen: trial {best.number} ({values})")
        chosen.append(stage)
    flag, note = storage_flag(search.storage_url)
    if "gen" in chosen:
        echo(f"export:    optgan export {search.name} --stage gen -o {search.name}-g.json{flag}")
    if "disc" in chosen:
        echo(f"           optgan export {search.name} --stage disc -o {search.name}-d.json{flag}")
        preset = _TRAIN_PRESETS.get(cfg.data.name)
        config = _preset_path(preset) if preset else "TRAIN.yaml"
        hint = "" if preset else "   (TRAIN.yaml: a studies/train-*.yaml set to your data; README 'Train the winner')"
        widths = _widths_flags(cfg.widths, _PRESETS_DIR / preset) if preset else ""
        if cfg.evaluation.kind == "synthetic":
            hint += "   (a dry run: its scores are synthetic, its winners untrained guesses)"
        echo(f"train:     optgan train --gen-arch {search.name}-g.json --disc-arch {search.name}-d.json --config {config}{widths} "
             f"--out runs/{search.name}{hint}")
    seen_here = "" if search.run_dir == search.stored_run_dir() else f" --run-dir {shlex.quote(str(search.run_dir))}"
    echo(f"dashboard: optgan dashboard{flag}{seen_here}{note}")


def _widths_flags(searched: Any, preset_file: pathlib.Path) -> str:
    """` --set widths.K=V` for each width the preset trains differently from the search (the
    architecture is then trained as it was searched); empty when the preset is not installed."""
    if not preset_file.is_file():
        return ""
    from optgan.config.train import load_train_config

    trains = load_train_config(str(preset_file)).widths
    return "".join(f" --set widths.{f.name}={getattr(searched, f.name)}" for f in dataclasses.fields(searched)
                   if getattr(searched, f.name) != getattr(trains, f.name))


def _preset_path(preset: str) -> str:
    """The preset file as the user can pass it from here: relative below the working folder,
    else absolute (`studies/` of the optgan checkout); `studies/NAME` when it is not installed."""
    path = _PRESETS_DIR / preset
    if not path.is_file():
        return f"studies/{preset}"
    try:
        return shlex.quote(str(path.relative_to(pathlib.Path.cwd().resolve())))
    except ValueError:
        return shlex.quote(str(path))


def storage_flag(url: str) -> tuple[str, str]:
    """` --storage URL` (shell-quoted) unless a bare command finds the same storage, and a note
    when the URL's password is hidden (`***`)."""
    if url == resolve_storage_url(None):
        return "", ""
    shown = redact(url)
    note = "   (password hidden: put it back, or set OPTGAN_STORAGE)" if shown != url else ""
    return f" --storage {shlex.quote(shown)}", note
