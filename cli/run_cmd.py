"""`optgan run NAME`: run or resume a search's stages."""

from __future__ import annotations

import click

from optgan_cli.options import inception_weights_option, path_override, storage_option, warn_unused_locations


def register(group: click.Group) -> None:
    group.add_command(run)


@click.command()
@click.argument("name")
@click.option("--stage", type=click.Choice(["gen", "disc"]), default=None,
              help="Run one stage only (default: gen, then disc).")
@click.option("--max-rounds", type=click.IntRange(min=1), default=None,
              help="Stop after this many more rounds; the search stays resumable.")
@click.option("--gen-trial", type=int, default=None,
              help="Stage disc: use this stage-gen trial's generator as G* (default: lowest FID on the last Pareto front).")
@click.option("--gen-arch", type=click.Path(dir_okay=False), default=None,
              help="Stage disc: use the generator genotype in this JSON file as G*.")
@click.option("--force-unlock", is_flag=True, default=False,
              help="Take the search's run lease even if another process seems to hold it. Only for a holder "
                   "that is surely dead on another host (a dead holder on this host is replaced "
                   "automatically); a live holder stops at its next storage write.")
@click.option("--data-root", default=None, type=click.Path(file_okay=False),
              help="Where the data set is on this machine (same as --set data.root=DIR).")
@click.option("--run-dir", default=None, type=click.Path(file_okay=False),
              help="Where the search's run directory is on this machine, when not at its stored path.")
@inception_weights_option
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Where things are on this machine, for this run only: device, cpu_threads, data.root, data.path, "
                   "data.download, metrics.cache_dir, metrics.inception_weights, metrics.inception_download "
                   "(repeatable; the rest of the config is fixed at `study create`).")
@storage_option
def run(name: str, stage: str | None, max_rounds: int | None, gen_trial: int | None,
        gen_arch: str | None, force_unlock: bool, data_root: str | None, run_dir: str | None,
        inception_weights: str | None,
        overrides: tuple[str, ...], storage: str | None) -> None:
    """Run (or resume after the last completed round) search NAME.

    One process runs a search at a time (a lease in the database); a crashed run is resumed
    by running this command again (see README 'Crashes and resuming'). On another machine,
    --data-root / --inception-weights / --set say where the data and caches are there; the
    data's content and the extractor's weights must be the ones the search began with.
    """
    from optgan.config.study import with_machine_settings
    from optgan.runner import run_search
    from optgan.study.gen_star import resolve_gen_override
    from optgan.study.lease import hold_lease
    from optgan.study.retry import guard_storage
    from optgan.study.search import load_search
    from optgan.study.summary import print_summary

    if gen_trial is not None and gen_arch is not None:
        raise click.UsageError("give at most one of --gen-trial and --gen-arch")
    if stage == "gen" and (gen_trial is not None or gen_arch is not None):
        raise click.UsageError("--gen-trial / --gen-arch choose G* for stage disc; they do nothing with --stage gen")
    if data_root is not None:
        overrides = (*overrides, path_override("data.root", data_root))
    if inception_weights is not None:
        overrides = (*overrides, path_override("metrics.inception_weights", inception_weights))
    search = load_search(name, storage)
    search.config = with_machine_settings(search.config, overrides)
    if overrides:
        warn_unused_locations(search.config)
    if run_dir is not None:
        search.use_run_dir(run_dir)
    with hold_lease(search.storage.engine, name, force=force_unlock) as lease:
        search.storage = guard_storage(search.storage, search.storage_url, lease=lease,
                                       hint=f"rerun `optgan run {name}` once the database is back")
        # read again now that no other command can change it (a `study extend` just before the lease)
        search.config = with_machine_settings(search.stored_config(), overrides)
        override = resolve_gen_override(search, gen_trial, gen_arch)
        stages = [stage] if stage else ["gen", "disc"]
        results = run_search(search, stages, max_rounds=max_rounds, gen_override=override)
    from optgan.study.results import completed_rounds

    for r in results:
        state = "finished" if r.finished else "paused (resumable)"
        told = len(completed_rounds(search.study(r.stage), search.config.sampler.population_size))
        rebuilding = (f" (its run directory is being rebuilt: the study already holds {told} rounds, "
                      "retrained from their stored trials)") if told > r.rounds_done else ""
        click.echo(f"stage {r.stage}: {r.rounds_done}/{r.rounds_total} rounds, {state}{rebuilding}")
    print_summary(search, click.echo)
