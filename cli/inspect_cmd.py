"""`optgan status|best|export`: read a search back from storage."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from optgan_cli.options import check_output_folder, stage_option, storage_option

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial


def register(group: click.Group) -> None:
    for cmd in (status, best, export):
        group.add_command(cmd)


@click.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@storage_option
def status(name: str, as_json: bool, storage: str | None) -> None:
    """Rounds done per stage, per-round best and mean of each objective, current Pareto set."""
    from optgan.study.lease import run_state
    from optgan.study.move import moved_to
    from optgan.study.search import STAGES, load_search
    from optgan.study.summary import stage_status

    search = load_search(name, storage)
    run, stages = run_state(search.storage.engine, name), [stage_status(search, s) for s in STAGES]
    moved = moved_to(search.storage, name)
    if as_json:
        click.echo(json.dumps({"search": name, "objectives": search.labels, "run": run, "moved_to": moved,
                               "stages": stages}))
        return
    click.echo(_describe_run(name, run))
    if moved:
        click.echo(f"moved to {moved} (`optgan study move`): read-only here, run it there with --storage URL")
    running = run["state"] == "running"  # its checkpoint trails its tells for a moment each round
    for st in stages:
        pace = ""
        if st["seconds_per_round"] is not None:
            pace = f", {st['seconds_per_round']:.1f} s/round"
            pace += f", about {_duration(st['eta_seconds'])} left" if st["eta_seconds"] else ""
        behind = "" if running else _behind(st)
        click.echo(f"stage {st['stage']}: {st['rounds_done']}/{st['rounds_total']} rounds{pace}{behind}")
        doing = st["in_progress"]
        for r in st["rounds"]:
            best = "  ".join(f"{k}={v:.4g}" for k, v in r["best"].items())
            mean = "  ".join(f"{k}={v:.4g}" for k, v in r["mean"].items())
            took = f" | {r['seconds']['total']:.1f} s" if r["seconds"] else ""
            head = f"  round {r['generation'] + 1:>3}: "
            if doing and r["generation"] == doing["generation"]:
                so_far = f" | so far: best {best} | mean {mean}" if r["complete"] else ""
                click.echo(f"{head}in progress, {doing['told']}/{doing['asked']} asked trials told{so_far}")
                continue
            click.echo(f"{head}{r['complete']} ok, {r['failed']} failed | best {best} | mean {mean}{took}")
        for p in st["pareto"]:
            vals = "  ".join(f"{k}={v:.4g}" for k, v in p["values"].items() if v is not None)
            click.echo(f"  pareto: trial {p['trial']:>4}  {vals}")
        if st["waiting"]:
            numbers = ", ".join(str(w["trial"]) for w in st["waiting"])
            click.echo(f"  waiting: {len(st['waiting'])} enqueued architecture(s) for the next round(s), "
                       f"trial{'s' * (len(st['waiting']) > 1)} {numbers}")


def _behind(st: dict) -> str:
    """A checkpoint behind the study: the rounds the next run retrains (without telling them again)."""
    saved, done = st["rounds_checkpointed"], st["rounds_done"]
    if saved is not None and saved > done:
        return (f" (the checkpoint holds {saved}, more than the study: a database older than the run directory? "
                "the next run refuses it)")
    if saved is None or saved == done:
        return ""
    which = f"round {done}" if done - saved == 1 else f"rounds {saved + 1}-{done}"
    return (f" (the checkpoint holds {saved}: the next run retrains {which} from the stored trials, "
            "without telling them again)")


def _describe_run(name: str, run: dict) -> str:
    if run["state"] == "idle":
        return f"search {name}: not running"
    if run["state"] == "unknown":
        return f"search {name}: running or not (the run leases cannot be read here)"
    who = f"PID {run['pid']} on host {run['host']}"
    if run["state"] == "stale":
        return (f"search {name}: not running ({who} stopped without releasing its lease, heartbeat "
                f"{_duration(run['heartbeat_age_s'])} ago; the next `optgan run {name}` takes it over)")
    return (f"search {name}: running, {who} for {_duration(run['running_for_s'])} "
            f"(heartbeat {_duration(run['heartbeat_age_s'])} ago)")


@click.command()
@click.argument("name")
@stage_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@storage_option
def best(name: str, stage: str, as_json: bool, storage: str | None) -> None:
    """The last round's Pareto set of a stage, with genotypes."""
    from optgan.search_space import Genotype
    from optgan.study.results import choose_best, fixed_gen_star, pareto_trials, trial_record
    from optgan.study.search import load_search

    search = load_search(name, storage)
    study = search.study(stage)
    net = "gen" if stage == "gen" else "disc"
    front = [trial_record(t, net, search.labels) for t in pareto_trials(study)]
    chosen = choose_best(study, search.config.objectives).number if front else None
    star = fixed_gen_star(search.study("disc")) if stage == "gen" else None
    if star is not None:  # what stage disc runs with wins over the rule
        chosen = star.trial
    if as_json:
        out: dict[str, Any] = {"search": name, "stage": stage, "chosen": chosen, "pareto": front}
        if star is not None:
            out["gen_star"] = {"source": star.source, "trial": star.trial, "genotype": star.genotype.to_json_dict()}
        click.echo(json.dumps(out))
        return
    if not front:
        click.echo(f"stage {stage} has no completed trial yet")
    if star is not None and star.trial not in [p["trial"] for p in front]:
        click.echo(f"G* of stage disc ({star.source}), not on this front:")
        click.echo(f"    {star.genotype}")
    for p in front:
        mark = "*" if p["trial"] == chosen else " "
        vals = "  ".join(f"{k}={v:.4g}" for k, v in p["values"].items() if v is not None)
        click.echo(f"{mark} trial {p['trial']:>4}  {vals}")
        click.echo(f"    {Genotype.from_json(p['genotype'])}")


@click.command()
@click.argument("name")
@stage_option
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Architecture JSON to write.")
@click.option("--trial", "trial_number", type=int, default=None,
              help="Export this trial (default: stage gen: the G* stage disc runs with, once fixed; otherwise "
                   "the lowest FID on the last round's Pareto front).")
@storage_option
def export(name: str, stage: str, output: str, trial_number: int | None, storage: str | None) -> None:
    """Write a stage's chosen architecture as JSON (accepted by `arch info` and `train`)."""
    from optgan.config.base import to_dict
    from optgan.errors import OptganError
    from optgan.study.results import choose_best, fixed_gen_star, trial_by_number, trial_record
    from optgan.study.search import load_search
    from optgan.trainer.checkpoint import atomic_write_bytes

    check_output_folder(output)
    search = load_search(name, storage)
    study = search.study(stage)
    net = "gen" if stage == "gen" else "disc"
    star = fixed_gen_star(search.study("disc")) if stage == "gen" and trial_number is None else None
    source: dict[str, Any]
    if star is not None and star.trial is None:  # stage disc runs with a G* from outside stage gen
        genotype, source = star.genotype.to_json_dict(), {"search": name, "stage": stage, "gen_star": star.source}
        what = f"G* of stage disc ({star.source})"
    else:
        if star is not None:
            trial_number = star.trial
        trial: FrozenTrial | None
        if trial_number is None:
            trial = choose_best(study, search.config.objectives)
        else:
            trial = trial_by_number(study, trial_number)
            if trial is None:
                raise OptganError(f"--trial {trial_number}: no such trial in study {study.study_name}")
            if not trial.params:
                raise OptganError(f"--trial {trial_number} of study {study.study_name} has no architecture (no "
                                  f"params: a {trial.state.name} trial added from outside the search?)")
        record = trial_record(trial, net, search.labels)
        state = trial.state.name
        if state != "COMPLETE":
            click.echo(f"warning: trial {trial.number} is {state}: its architecture is exported without scores",
                       err=True)
        genotype = record["genotype"]
        source = {"search": name, "stage": stage, "trial": trial.number, "state": state,
                  "values": record["values"], "params_M": record["params_M"]}
        what = f"{net} architecture of trial {trial.number}"
    doc = {**genotype, "source": source, "widths": to_dict(search.config.widths)}
    atomic_write_bytes(output, (json.dumps(doc, indent=2) + "\n").encode())
    click.echo(f"wrote {what} to {output}")


def _duration(seconds: float) -> str:
    """`42 s`, `7 min`, `3.5 h`."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
