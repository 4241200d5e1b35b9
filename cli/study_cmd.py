"""`optgan study create|list|show|extend|enqueue|move|delete`: searches in a storage."""

from __future__ import annotations

import json

import click
import yaml

from optgan_cli.options import (inception_weights_option, path_override, storage_option, warn_device_elsewhere,
                                warn_unused_locations)


def register(group: click.Group) -> None:
    group.add_command(study)


@click.group()
def study() -> None:
    """Create, list, show, extend, enqueue into, move and delete searches (two linked Optuna studies each)."""


@study.command("create")
@click.argument("name")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="Study config YAML (see studies/).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config key, e.g. --set sampler.population_size=16 (repeatable).")
@click.option("--data-root", default=None, type=click.Path(file_okay=False),
              help="Folder holding the torchvision data set (same as --set data.root=DIR).")
@click.option("--run-dir", default=None, help="Checkpoints and artifacts (default: optgan-runs/NAME next to the database).")
@inception_weights_option
@click.option("--dry-run", is_flag=True, help="Resolve, validate and print the config; create nothing.")
@storage_option
def create(name: str, config_path: str, overrides: tuple[str, ...], data_root: str | None, run_dir: str | None,
           inception_weights: str | None, dry_run: bool, storage: str | None) -> None:
    """Resolve and validate a config, print it, and store it with a new search NAME."""
    from optgan.config.base import to_dict
    from optgan.config.study import load_study_config, with_absolute_paths
    from optgan.study.preflight import preflight
    from optgan.study.search import check_search_name
    from optgan.study.create import check_name_and_storage, check_new_search, create_search

    if data_root is not None:
        overrides = (*overrides, path_override("data.root", data_root))
    if inception_weights is not None:
        overrides = (*overrides, path_override("metrics.inception_weights", inception_weights))
    if run_dir is not None:  # the same as `--set run_dir=DIR`: printed and stored with the config
        overrides = (*overrides, path_override("run_dir", run_dir))
    check_search_name(name)
    config = with_absolute_paths(load_study_config(config_path, overrides))  # the stored search is cwd-free
    warn_unused_locations(config)
    warn_device_elsewhere(config, name)
    # the name and the storage first (read only), seconds before the data is loaded; the run directory,
    # which a concurrent or killed creator may hold, is `create_search`'s to judge under the lease
    check_name_and_storage(name, storage)
    images = preflight(config)
    resolved = yaml.safe_dump(to_dict(config), sort_keys=False).rstrip()
    if dry_run:
        root = check_new_search(name, config, storage)
        click.echo(resolved)
        click.echo(f"ready: search {name!r} would use run directory {root} (nothing stored: --dry-run)")
        return
    search = create_search(name, config, storage)  # storage and run directory problems: before any output
    click.echo(resolved)
    if images is not None:  # the data the search is defined on: later runs must find the same images
        from optgan.study.inputs import check_same_data, record_inputs

        record_inputs(search, check_same_data(search, images))
    click.echo(f"created search {name!r}: studies {name}:gen and {name}:disc, run directory {search.run_dir}")
    from optgan.study.summary import storage_flag

    flag, note = storage_flag(search.storage_url)
    click.echo(f"next: optgan run {name}{flag}{note}")


@study.command("list")
@click.option("--json", "as_json", is_flag=True)
@storage_option
def list_(as_json: bool, storage: str | None) -> None:
    """List the searches in the storage."""
    from optgan.study.listing import list_searches

    rows = list_searches(storage)
    if as_json:
        click.echo(json.dumps(rows))
    elif not rows:
        click.echo("no searches")
    for r in rows if not as_json else []:
        run = r["run"]
        state = {"idle": "", "unknown": "", "running": f"   running: PID {run.get('pid')} on {run.get('host')}",
                 "stale": f"   stopped without releasing its lease (PID {run.get('pid')} on {run.get('host')})"}
        broken = (f"   incomplete: {', '.join(r['missing'])} is gone (`optgan study delete {r['name']}` removes "
                  "the rest)") if r["missing"] else ""
        moved = f"   moved to {r['moved_to']} (read-only here)" if r["moved_to"] else ""
        click.echo(f"{r['name']:<24} gen trials {r['gen_trials']:>5}   disc trials {r['disc_trials']:>5}   "
                   f"started {r.get('started', '-')}{state[run['state']]}{broken}{moved}")


@study.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="One JSON object (config, run directory, recorded inputs, G*).")
@storage_option
def show(name: str, as_json: bool, storage: str | None) -> None:
    """The stored config of search NAME as YAML (a valid --config for a new search), headed by
    comment lines: storage, run directory, what its first real run loaded, G*."""
    from optgan.study.inputs import describe_data, short
    from optgan.study.listing import describe_search
    from optgan.study.search import load_search

    record = describe_search(load_search(name, storage))
    if as_json:
        click.echo(json.dumps(record))
        return
    header = [f"search {record['search']} in {record['storage']} (studies {', '.join(record['studies'])})",
              f"run directory: {record['run_dir']}"]
    if record["data_identity"]:
        header.append(f"data: {describe_data(record['data_identity'])}")
    if record["extractor_identity"]:
        header.append("extractor: " + ", ".join(f"{k}={short(v)}" for k, v in record["extractor_identity"].items()))
    if record["gen_star"]:
        header.append(f"G* ({record['gen_star_source']}): {json.dumps(record['gen_star'].get('array'))}")
    click.echo("\n".join(f"# {line}" for line in header))
    reusable = {**record["config"], "run_dir": None}  # a new search needs its own (default) run directory
    click.echo(yaml.safe_dump(reusable, sort_keys=False).rstrip())


@study.command("extend")
@click.argument("name")
@click.option("--gen-rounds", type=click.IntRange(min=1), default=None, metavar="N",
              help="Rounds stage gen runs in all (more to search on; fewer, down to those begun, to stop earlier).")
@click.option("--disc-rounds", type=click.IntRange(min=1), default=None, metavar="N", help="The same for stage disc.")
@storage_option
def extend(name: str, gen_rounds: int | None, disc_rounds: int | None, storage: str | None) -> None:
    """Set how many rounds the stages of search NAME run in all; `optgan run NAME` then goes on.

    The search follows the same course as one created with these numbers. Stage gen cannot
    change once stage disc has fixed G*.
    """
    from optgan.study.extend import extend_search
    from optgan.study.lease import hold_lease
    from optgan.study.search import load_search
    from optgan.study.storage import refuse_if_read_only

    rounds = {stage: n for stage, n in (("gen", gen_rounds), ("disc", disc_rounds)) if n is not None}
    if not rounds:
        raise click.UsageError("give --gen-rounds N and/or --disc-rounds N")
    search = load_search(name, storage)
    refuse_if_read_only(search.storage.engine, name)
    with hold_lease(search.storage.engine, name, force_unlock_flag=False):  # never under a running `optgan run`
        search.config = search.stored_config()  # another extend may have changed it before the lease was ours
        changes = extend_search(search, rounds)
    for stage, (old, new) in changes.items():
        click.echo(f"stage {stage}: {old} -> {new} rounds")
    from optgan.study.summary import storage_flag

    flag, note = storage_flag(search.storage_url)
    click.echo(f"go on with: optgan run {name}{flag}{note}")


@study.command("enqueue")
@click.argument("name")
@click.option("--arch", "archs", multiple=True, metavar="GENOTYPE",
              help="An architecture for the stage's next round: a JSON genotype (integer or named form) or a JSON "
                   "file, e.g. from `optgan export` (repeatable).")
@click.option("--front", "fronts", multiple=True, metavar="SEARCH",
              help="Every architecture on the last round's Pareto front of the same stage of SEARCH (e.g. a search "
                   "at smaller widths; SEARCH@URL: in storage URL), in trial order (repeatable).")
@click.option("--stage", type=click.Choice(["gen", "disc"]), default="gen", show_default=True,
              help="The stage whose population they join.")
@storage_option
def enqueue(name: str, archs: tuple[str, ...], fronts: tuple[str, ...], stage: str, storage: str | None) -> None:
    """Put known architectures (yours, or another search's front) into the next round(s) of NAME.

    Each takes a slot of the next round `optgan run NAME` asks (displacing a planned child), is
    trained and scored with the rest, and can survive like any member. Refused while the search
    runs, and for stage gen once stage disc has fixed G*.
    """
    from optgan.engines.base import stage_net, stage_rounds
    from optgan.search_space import load_genotype
    from optgan.study.enqueue import enqueue_architectures, front_architectures
    from optgan.study.lease import hold_lease
    from optgan.study.search import load_search, load_search_ref
    from optgan.study.summary import storage_flag
    from optgan.trainer.final_setup import warn_other_widths

    if not archs and not fronts:
        raise click.UsageError("give --arch GENOTYPE and/or --front SEARCH")
    search = load_search(name, storage)
    net = stage_net(stage)
    given = []
    for arch in archs:
        given.append((load_genotype(arch, net, what="--arch"), _source_of(arch)))
        warn_other_widths(arch, net, search.config.widths)  # e.g. exported from a search at other widths
    for other in fronts:
        given += front_architectures(load_search_ref(other, storage), stage, search)
    with hold_lease(search.storage.engine, name, force_unlock_flag=False):  # never under a running `optgan run`
        search.config = search.stored_config()  # an extend may have changed the rounds before the lease was ours
        done = enqueue_architectures(search, stage, given)
    total = stage_rounds(search.config, stage)
    for item in done:
        what = "already waiting as" if item.already_waiting else "enqueued:"
        click.echo(f"{what} trial {item.trial_number} of {name}:{stage}, round {item.round}/{total}: {item.genotype}")
    flag, note = storage_flag(search.storage_url)
    click.echo(f"go on with: optgan run {name}{flag}{note}")


def _source_of(arch: str) -> str:
    """How an `--arch` value is named in messages and in `optgan:enqueued_from`: a file by its
    absolute path, JSON given inline as `--arch JSON`."""
    import os

    return f"--arch {arch}" if arch.strip().startswith(("[", "{")) else os.path.abspath(arch.strip())


@study.command("move")
@click.argument("name")
@click.option("--to", "to_url", required=True, metavar="URL",
              help="Storage to move the search to, e.g. postgresql://USER:PASSWORD@HOST/DB or sqlite:///other.db.")
@storage_option
def move(name: str, to_url: str, storage: str | None) -> None:
    """Move search NAME (both stages, every trial, G*) to another storage; runs go on there.

    The source is kept, read-only (status, best, report still read it; run, extend and enqueue
    refuse it). Run it where the run directory is, so that its claim names the new database.
    Refused while the search runs. Stopped midway, the same command again finishes the move.
    """
    from optgan.study.move import move_search
    from optgan.study.search import load_search
    from optgan.study.storage_url import redact
    from optgan.study.summary import storage_flag

    search = load_search(name, storage)
    done = move_search(search, to_url)
    counts = ", ".join(f"{n} {stage} trials" for stage, n in done.trials.items())
    click.echo(f"moved search {name!r} to {redact(to_url)} ({counts})")
    if not done.claim_updated:
        click.echo(f"run directory {search.run_dir} left as it is (not on this machine, or another search's "
                   "search.json): the first run from the new storage takes over this search's folder")
    flag, note = storage_flag(to_url)
    click.echo(f"go on with: optgan run {name}{flag}{note}")
    flag, note = storage_flag(search.storage_url)
    click.echo(f"the copy in {redact(search.storage_url)} is kept read-only; once the new one is checked, remove it: "
               f"optgan study delete {name}{flag}{note}")


@study.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@storage_option
def delete(name: str, yes: bool, storage: str | None) -> None:
    """Delete both studies of search NAME (its run directory is left on disk)."""
    import optuna

    from optgan import keys
    from optgan.study.search import load_search, stage_studies_present
    from optgan.study.storage import refuse_if_read_only

    store, present = stage_studies_present(name, storage)
    if not present:
        load_search(name, storage)  # raises its "no search named …" error with the known names
    refuse_if_read_only(store.engine, name)  # before asking
    attrs = store.get_study_user_attrs(store.get_study_id_from_name(present[0]))
    run_dir, moved = attrs.get(keys.RUN_DIR), attrs.get(keys.MOVED_TO)
    if not yes and not _confirm(f"delete search {name!r} (studies {', '.join(present)})?"):
        click.echo("nothing deleted")
        return
    from optgan.study.lease import hold_lease

    with hold_lease(store.engine, name, force_unlock_flag=False):  # never under a running `optgan run`
        for study_name in present:
            optuna.delete_study(study_name=study_name, storage=store)
    if moved:  # this was the read-only copy left by `optgan study move`: the folder goes on with the search
        click.echo(f"deleted the copy of search {name!r} left behind by its move; its run directory {run_dir} "
                   f"serves the search in {moved}: keep it")
        return
    click.echo(f"deleted search {name!r}; run directory kept at {run_dir} "
               "(remove it before creating a search that would use it again)")


def _confirm(question: str) -> bool:
    """The user's yes/no; no answer (end of input) deletes nothing, in one line."""
    from optgan.errors import OptganError

    try:
        return click.confirm(question, default=False)
    except click.Abort as e:
        if isinstance(e.__context__, KeyboardInterrupt):  # Ctrl-C: stopped like any command (exit 130)
            raise
        raise OptganError("nothing deleted: the question got no answer (pass --yes to delete without asking)") from None
