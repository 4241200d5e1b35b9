"""`optgan run NAME`: run or resume a search's stages."""

from __future__ import annotations

import click

from optgan_cli.options import storage_option


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
@storage_option
def run(name: str, stage: str | None, max_rounds: int | None, gen_trial: int | None,
        gen_arch: str | None, storage: str | None) -> None:
    """Run (or resume after the last completed round) search NAME."""
    from optgan.runner import resolve_gen_override, run_search
    from optgan.study.search import load_search
    from optgan.study.summary import print_summary

    if gen_trial is not None and gen_arch is not None:
        raise click.UsageError("give at most one of --gen-trial and --gen-arch")
    search = load_search(name, storage)
    override = resolve_gen_override(search, gen_trial, gen_arch)
    stages = [stage] if stage else ["gen", "disc"]
    results = run_search(search, stages, max_rounds=max_rounds, gen_override=override)
    for r in results:
        state = "finished" if r.finished else "paused (resumable)"
        click.echo(f"stage {r.stage}: {r.rounds_done}/{r.rounds_total} rounds, {state}")
    print_summary(search, click.echo)
